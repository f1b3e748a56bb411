"""Dated futures end to end through ccxt and the fake exchange: every contract the venues list
(discovered from load_markets' expiries), its daily closes and Binance's expired quarterlies
(from continuousKlines) equal the truth; the cache carries them, with their expiries, into
`from_cache`; the annualised basis of the truth's futures is the truth's basis."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.testing.fake_exchange import DAY_MS, FakeExchange, Truth
from btcflow_nb.testing.fake_exchange.truth import DATED_BASIS

VENUES = ("deribit", "okx", "binance_coinm", "bybit_inverse")


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dated")
    # 120 days: at least one quarterly expiry (quarters are <= 92 days apart) lies inside
    with FakeExchange(Truth.recent(120)) as fake:
        mp = pytest.MonkeyPatch()
        for k, v in fake.env(tmp).items():
            mp.setenv(k, v)
        try:
            import btcflow_nb
            from btcflow_nb.sources.dated_fetch import fetch_dated

            frame = fetch_dated(since=fake.truth.start)
            requests = len(fake.requests)
            again = fetch_dated()
            refresh = len(fake.requests) - requests
            btcflow_nb.fetch(venues=["spot:coinbase"], since=fake.truth.start, progress=False)
            md = btcflow_nb.from_cache(venues=["spot:coinbase"], since=fake.truth.start)
            yield fake, frame, md, requests, refresh, again
        finally:
            mp.undo()


def _truth(fake, key, expiry):
    return fake.truth.closes(fake.truth.dated_series(key, expiry), "1d", fake.now_ms)


def _expiry(ms):
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


def _deribit_all(fake):
    """Deribit's listed contracts and those that expired inside the truth (fetched too)."""
    from btcflow_nb.testing.fake_exchange.truth import last_friday_expiries

    return (last_friday_expiries(fake.truth.start, fake.now_ms, range(1, 13))
            + fake.truth.dated_expiries("deribit", fake.now_ms))


def test_no_errors_and_every_listed_contract_found(fetched):
    fake, frame, md, *_ = fetched
    assert frame.attrs["errors"] == {}
    for key in VENUES:
        listed = fake.truth.dated_expiries(key, fake.now_ms)
        got = set(frame.loc[frame["venue"] == key, "expiry"])
        assert {_expiry(e) for e in listed} <= got, key


@pytest.mark.parametrize("key", VENUES)
def test_listed_contracts_closes_equal_truth(fetched, key):
    fake, _, md, *_ = fetched
    for expiry in fake.truth.dated_expiries(key, fake.now_ms):
        rows = md.futures[(md.futures["venue"] == key) & (md.futures["expiry"] == _expiry(expiry))]
        want = _truth(fake, key, expiry)
        want = want[want.index >= _expiry(fake.truth.start)]
        got = pd.Series(rows["close"].to_numpy(), index=pd.DatetimeIndex(rows["time"]))
        assert got.index.equals(want.index), key
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
        day = _expiry(expiry).strftime("%y%m%d")
        assert set(rows["symbol"]) == {f"BTC/USD:BTC-{day}"}


def test_expired_binance_quarterly_from_continuous_klines_equals_truth(fetched):
    fake, _, md, *_ = fetched
    listed = set(fake.truth.dated_expiries("binance_coinm", fake.now_ms))
    b = md.futures[md.futures["venue"] == "binance_coinm"]
    expired = sorted(set(b["expiry"]) - {_expiry(e) for e in listed})
    assert expired, "the 120-day truth holds an expired quarterly"
    for expiry in expired:
        rows = b[b["expiry"] == expiry]
        want = _truth(fake, "binance_coinm", int(expiry.value // 1_000_000))
        want = want[want.index >= _expiry(fake.truth.start)]
        np.testing.assert_array_equal(rows["close"].to_numpy(), want.to_numpy())
        assert pd.DatetimeIndex(rows["time"]).equals(want.index)
        assert (rows["time"] < expiry).all()


def test_cache_carries_expiry_and_refresh_is_incremental(fetched):
    fake, frame, md, first_requests, refresh_requests, again = fetched
    pd.testing.assert_frame_equal(
        frame.reset_index(drop=True)[["venue", "symbol", "close"]].sort_values(
            ["venue", "symbol"], kind="stable").reset_index(drop=True),
        md.futures[["venue", "symbol", "close"]].astype(object).sort_values(
            ["venue", "symbol"], kind="stable").reset_index(drop=True).astype(
            {"close": "float64"}), check_dtype=False)
    # a refresh: the markets (Bybit asks twice: listed and pre-launch), one page per listed contract (from its last
    # cached bar) and per continuous contract type -- no history asked again
    listed = sum(len(fake.truth.dated_expiries(k, fake.now_ms)) for k in VENUES)
    assert refresh_requests <= 2 * len(VENUES) + listed + 2
    assert again.attrs["errors"] == {}


@pytest.mark.parametrize("key", VENUES)
def test_annualized_basis_of_the_truth_is_its_basis(fetched, key):
    from btcflow_nb.basis import annualized_basis

    _, _, md, *_ = fetched
    b = annualized_basis(md, venues=key)
    closed = b["close_time"] <= pd.Timestamp(fetched[0].now_ms, unit="ms", tz="UTC")
    # >= 2 days: the 0.1 USD rounding moves the basis by up to 0.05/S x 365/d (1.5e-4 at d=2;
    # Deribit's expired monthlies bring bars close to expiry)
    usable = b[(b["days_to_expiry"] >= 2) & closed]
    assert len(usable) > 20
    # F = S (1 + r d / 365) rounded to 0.1 USD: the annualised basis is r to ~1e-5 (the open
    # bar's close is the latest price, not the day's close: its basis is provisional)
    np.testing.assert_allclose(usable["annualized"].to_numpy(), DATED_BASIS[key], atol=2e-4)


def test_unknown_dated_venue_names_the_valid_ones():
    from btcflow_nb.sources.dated_fetch import fetch_dated

    with pytest.raises(ValueError, match=r"unknown dated-futures venue 'kraken'.*deribit"):
        fetch_dated(venues="kraken")


def test_fake_continuous_contract_changes_hands_at_expiry():
    from btcflow_nb.sources.dated import quarterly_expiry

    expiry = int(pd.Timestamp("2026-09-25 08:00", tz="UTC").value // 1_000_000)
    t = np.array([expiry - DAY_MS, expiry - 1, expiry, expiry + DAY_MS])
    current = quarterly_expiry(t)
    assert list(current[:2]) == [expiry, expiry]
    assert (current[2:] == int(pd.Timestamp("2026-12-25 08:00", tz="UTC").value // 1_000_000)).all()
    assert (quarterly_expiry(t[:2], 1) == current[2]).all()


def test_an_expired_contract_leaves_the_markets_but_stays_in_the_cache(tmp_path):
    """OKX lists live contracts only: an expired one keeps the bars cached while it was listed
    (as the venue served them 5 days before expiry), and a note says so."""
    from btcflow_nb.sources.cache import cache_root
    from btcflow_nb.sources.dated import read_dated
    from btcflow_nb.sources.dated_fetch import fetch_dated

    with FakeExchange(Truth.recent(120)) as fake:
        mp = pytest.MonkeyPatch()
        for k, v in fake.env(tmp_path).items():
            mp.setenv(k, v)
        try:
            end = fake.now_ms
            # the OKX quarterly that expired most recently inside the truth
            expiry = max(e for e in fake.truth.dated_expiries("okx", fake.truth.start)
                         if e < end - 2 * DAY_MS)
            fake.set_now(expiry - 5 * DAY_MS)
            before = fetch_dated(venues="okx", since=fake.truth.start)
            assert _expiry(expiry) in set(before["expiry"])
            fake.set_now(end)
            after = fetch_dated(venues="okx")
            assert after.attrs["errors"] == {}
            assert f"BTC/USD:BTC-{_expiry(expiry):%y%m%d}" not in after.attrs["contracts"]
            assert any("future:okx: expired contracts' history is not fetched" in n
                       for n in after.attrs["notes"])
        finally:
            mp.undo()
        kept = read_dated(cache_root(tmp_path / "cache"), "1d", venues="okx")
        rows = kept[kept["expiry"] == _expiry(expiry)]
        want = fake.truth.closes(fake.truth.dated_series("okx", expiry), "1d",
                                 expiry - 5 * DAY_MS)
        want = want[want.index >= _expiry(fake.truth.start)]
        assert len(rows) == len(want) > 0
        np.testing.assert_array_equal(rows["close"].to_numpy(), want.to_numpy())


def test_deribit_expired_contracts_are_fetched_by_name_and_equal_truth(tmp_path):
    """Deribit lists its expired futures (get_instruments expired=true) and serves their chart
    data by instrument name: every contract that expired inside the history equals the truth
    up to its expiry -- also one cached while listed and completed after it expired; a refresh
    asks nothing more of a complete expired contract."""
    from btcflow_nb.sources.dated_fetch import fetch_dated
    from btcflow_nb.testing.fake_exchange.truth import last_friday_expiries

    with FakeExchange(Truth.recent(120)) as fake:
        mp = pytest.MonkeyPatch()
        for k, v in fake.env(tmp_path).items():
            mp.setenv(k, v)
        try:
            end = fake.now_ms
            expired = last_friday_expiries(fake.truth.start, end, range(1, 13))
            assert len(expired) >= 3
            fake.set_now(expired[-1] - 5 * DAY_MS)      # cached while listed, 5 days early
            fetch_dated(venues="deribit", since=fake.truth.start)
            fake.set_now(end)
            frame = fetch_dated(venues="deribit", since=fake.truth.start)
            before = len(fake.requests)
            again = fetch_dated(venues="deribit")
            refresh = fake.requests[before:]
        finally:
            mp.undo()
    assert frame.attrs["errors"] == {} and again.attrs["errors"] == {}
    for expiry in expired:
        rows = frame[frame["expiry"] == _expiry(expiry)]
        want = fake.truth.closes(fake.truth.dated_series("deribit", expiry), "1d", end)
        want = want[want.index >= _expiry(fake.truth.start)]
        assert pd.DatetimeIndex(rows["time"]).as_unit("us").equals(want.index.as_unit("us")), \
            _expiry(expiry)
        np.testing.assert_array_equal(rows["close"].to_numpy(), want.to_numpy())
        assert set(rows["symbol"]) == {f"BTC/USD:BTC-{_expiry(expiry):%y%m%d}"}
    charts = [r for r in refresh if r.endpoint == "ohlcv"]
    asked = {str(r.query.get("instrument_name")) for r in charts}
    listed = fake.truth.dated_expiries("deribit", end)
    assert len(charts) == len(listed), asked       # one page per listed contract, none expired


def test_faults_are_retried_and_a_failing_contract_is_reported_not_fatal(tmp_path):
    from btcflow_nb.sources.dated_fetch import fetch_dated

    with FakeExchange(Truth.recent(10)) as fake:
        mp = pytest.MonkeyPatch()
        for k, v in fake.env(tmp_path).items():
            mp.setenv(k, v)
        try:
            fake.inject("429", exchange_id="deribit", endpoint="ohlcv", times=2)
            fake.inject("500", exchange_id="okx", endpoint="ohlcv", after=1, times=None)
            frame = fetch_dated(venues=["deribit", "okx"], since=fake.truth.start)
        finally:
            mp.undo()
    errors = frame.attrs["errors"]
    assert list(errors) == ["okx"] and "BTC/USD:BTC-" in errors["okx"]
    deribit = frame[frame["venue"] == "deribit"]
    assert set(deribit["expiry"]) == {_expiry(e) for e in _deribit_all(fake)}
    # okx: its first contract came through before the fault; its rows are kept
    assert len(frame[frame["venue"] == "okx"]) > 0


def test_hourly_bars_of_every_contract_equal_truth(tmp_path):
    """1h bars: more than a page at OKX (100 candles), so paging is exercised too."""
    from btcflow_nb.sources.dated_fetch import fetch_dated

    with FakeExchange(Truth.recent(5)) as fake:
        mp = pytest.MonkeyPatch()
        for k, v in fake.env(tmp_path).items():
            mp.setenv(k, v)
        try:
            frame = fetch_dated(since=fake.truth.start, timeframe="1h")
        finally:
            mp.undo()
    assert frame.attrs["errors"] == {}
    groups = frame.groupby(["venue", "expiry"])
    assert len(groups) == sum(len(fake.truth.dated_expiries(k, fake.now_ms)) for k in VENUES) \
        + len(_deribit_all(fake)) - len(fake.truth.dated_expiries("deribit", fake.now_ms))
    frame = frame[frame["expiry"] > _expiry(fake.now_ms)]       # the listed ones: > 100 bars
    groups = frame.groupby(["venue", "expiry"])
    for (venue, expiry), rows in groups:
        want = fake.truth.closes(fake.truth.dated_series(venue, int(expiry.value // 1_000_000)),
                                 "1h", fake.now_ms)
        want = want[want.index >= _expiry(fake.truth.start)]
        assert len(want) > 100
        np.testing.assert_array_equal(rows["close"].to_numpy(), want.to_numpy())
