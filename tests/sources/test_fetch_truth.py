"""End to end through ccxt and the fake exchange: fetched values equal the generated truth.

One fetch of every default venue (20 days of daily bars) against `FakeExchange`, then, per
venue and field, an exact comparison with values computed from `Truth` (not from our parser):
closes (USD venues as served; USDT/USDC venues times the truth fx close of the same bar),
funding events (rate per interval and interval hours, including Deribit's 8h-scaled hourly rows,
Kraken Futures' relative rate and Binance's 8h->4h schedule change), open-interest history and
the current-OI snapshot in BTC and USD.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.sources.venues import DEFAULT_VENUES
from btcflow_nb.testing.fake_exchange import DAY_MS, FakeExchange, Truth
from btcflow_nb.testing.fake_exchange.truth import _OI_NATIVE

SPOT = [v for v in DEFAULT_VENUES if v.kind == "spot"]
PERP = [v for v in DEFAULT_VENUES if v.kind == "perp"]
#: linear perpetuals (coin-margined OI is checked against the truth in test_fetch_depth.py)
LINEAR = [v for v in PERP if v.contract == "linear" or v.key == "deribit"]


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("truth")
    with FakeExchange(Truth.recent(20, funding_schedule_change=True)) as fake:
        mp = pytest.MonkeyPatch()
        for k, v in fake.env(tmp).items():
            mp.setenv(k, v)
        try:
            import btcflow_nb

            md = btcflow_nb.fetch(since=fake.truth.start, progress=False)
        finally:
            mp.undo()
        yield fake, md


def _utc(ms):
    return pd.to_datetime(np.asarray(ms, dtype="int64"), unit="ms", utc=True)


def _fx(fake, currency):
    if currency == "USD":
        return None
    return fake.truth.closes(f"fx:{currency.lower()}", "1d", fake.now_ms)


def test_no_errors_and_every_default_venue_present(fetched):
    fake, md = fetched
    assert md.meta["source"] == "live" and md.meta["errors"] == {}
    assert sorted(md.spot.columns) == sorted(v.key for v in SPOT)
    assert sorted(md.perp.columns) == sorted(v.key for v in PERP)
    assert sorted(md.venues("funding")) == sorted(v.key for v in PERP if v.funding_history)
    expected_oi = sorted(v.key for v in PERP if v.oi_history or v.oi_snapshot)
    assert sorted(md.venues("open_interest")) == expected_oi


def test_fx_equals_truth(fetched):
    fake, md = fetched
    for cur in ("USDT", "USDC"):
        want = _fx(fake, cur)
        got = md.fx[cur].dropna()
        pd.testing.assert_series_equal(got, want, check_names=False, check_freq=False,
                                       check_exact=True, check_index_type=False)


@pytest.mark.parametrize("venue", SPOT + PERP, ids=lambda v: v.name)
def test_closes_equal_truth(fetched, venue):
    fake, md = fetched
    frame = md.spot if venue.kind == "spot" else md.perp
    got = frame[venue.key].dropna()
    want = fake.truth.closes(venue.name, "1d", fake.now_ms)
    if venue.quote != "USD":
        fx = _fx(fake, venue.quote).reindex(want.index)
        want = want * fx.to_numpy()
    assert got.index.equals(want.index), f"{venue.name}: bar times differ"
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())


def test_truth_gap_is_a_gap_not_a_fill(fetched):
    fake, md = fetched
    (lo, _), = fake.truth.gaps["spot:bitstamp"]
    day = pd.Timestamp(lo, unit="ms", tz="UTC")
    assert np.isnan(md.spot.loc[day, "bitstamp"])
    assert md.spot.loc[day, "coinbase"] > 0


@pytest.mark.parametrize("venue", [v for v in PERP if v.funding_history], ids=lambda v: v.name)
def test_funding_equals_truth(fetched, venue):
    fake, md = fetched
    t, rate, hours = fake.truth.funding(venue.key)
    keep = t <= fake.now_ms
    got = md.funding[md.funding["venue"] == venue.key].reset_index(drop=True)
    assert list(got["time"]) == list(_utc(t[keep]))
    np.testing.assert_array_equal(got["rate"].to_numpy(), rate[keep])
    np.testing.assert_array_equal(got["interval_hours"].to_numpy(), hours[keep])


def test_funding_schedule_change_and_missing_event_are_handled(fetched):
    fake, md = fetched
    binance = md.funding[md.funding["venue"] == "binance"]
    assert set(binance["interval_hours"]) == {8.0, 4.0}
    htx = md.funding[md.funding["venue"] == "htx"]
    spacing = htx["time"].diff().dt.total_seconds().div(3600).dropna()
    assert spacing.max() == 16.0                       # one event missing at the venue ...
    assert set(htx["interval_hours"]) == {8.0}          # ... does not make a 16h interval


def _usd_price_known_at(fake, venue, times_ms):
    """Last completed daily close (quote) x last completed fx close, as of each time."""
    closes = fake.truth.closes(venue.name, "1d", fake.now_ms)
    known = pd.Series(closes.to_numpy(), index=closes.index + pd.Timedelta(days=1))
    t = _utc(times_ms)

    def asof(series):
        pos = np.searchsorted(series.index.asi8, t.asi8, side="right") - 1
        return np.where(pos >= 0, series.to_numpy()[np.clip(pos, 0, None)], np.nan)

    price = asof(known)
    fx = _fx(fake, venue.quote)
    if fx is not None:
        price = price * asof(pd.Series(fx.to_numpy(), index=fx.index + pd.Timedelta(days=1)))
    return price, asof


@pytest.mark.parametrize("venue", [v for v in LINEAR if v.oi_history], ids=lambda v: v.name)
def test_oi_history_equals_truth(fetched, venue):
    fake, md = fetched
    t, native = fake.truth.oi_native(venue.key)
    period = 8 * 3_600_000 if venue.key == "bitfinex" else DAY_MS   # bitfinex: status rows
    if venue.key == "bitfinex":
        t_f, _, _ = fake.truth.funding("bitfinex")
        pos = np.searchsorted(t, t_f, side="right") - 1
        t, native = t_f, native[pos]
    keep = (t % period == 0) & (t <= fake.now_ms) & (t >= fake.truth.start) & \
        (t >= fake.truth.oi_history_start(venue.key, fake.now_ms))
    t, native = t[keep], native[keep]
    got = md.open_interest[(md.open_interest["venue"] == venue.key)
                           & md.open_interest["time"].isin(_utc(t))].reset_index(drop=True)
    assert list(got["time"]) == list(_utc(t)), f"{venue.name}: OI sample times differ"
    unit, size = _OI_NATIVE[venue.key]
    btc = native * size if unit == "contracts" else native
    np.testing.assert_array_equal(got["oi_btc"].to_numpy(), btc)
    price, asof = _usd_price_known_at(fake, venue, t)
    if venue.oi_value is None:
        want_usd = btc * price
    else:   # the venue's reported value (as served by the fake), in USD
        served = {
            "binance": lambda: np.round(native * fake.truth.close_at("perp:binance", t), 2),
            "okx": lambda: np.round(btc * fake.truth.close_at("perp:okx", t), 2),
            "gate": lambda: np.round(native * size * fake.truth.close_at("perp:gate", t), 2),
            "htx": lambda: np.round(native * fake.truth.close_at("perp:htx", t), 2),
        }[venue.key]()
        want_usd = served.astype(float)
        if venue.oi_value == "quote" and venue.quote != "USD":
            fx = _fx(fake, venue.quote)
            want_usd = want_usd * asof(pd.Series(fx.to_numpy(), index=fx.index + pd.Timedelta(days=1)))
    np.testing.assert_array_equal(got["oi_usd"].to_numpy(), want_usd)


def test_oi_history_depth_is_the_venues(fetched):
    fake, md = fetched
    binance = md.open_interest[md.open_interest["venue"] == "binance"]
    start = pd.Timestamp(fake.truth.oi_history_start("binance", fake.now_ms), unit="ms", tz="UTC")
    assert binance["time"].min() >= start


@pytest.mark.parametrize("venue", [v for v in LINEAR if v.oi_snapshot], ids=lambda v: v.name)
def test_oi_snapshot_equals_truth_now(fetched, venue):
    fake, md = fetched
    t, native = fake.truth.oi_native(venue.key)
    i = np.searchsorted(t, fake.now_ms, side="right") - 1
    rows = md.open_interest[md.open_interest["venue"] == venue.key]
    snap = rows.iloc[[-1]]      # the newest row: the snapshot (Bybit stamps it with its last
    assert snap["time"].iloc[0] >= _utc([t[i]])[0]    # 5-minute sample, others with "now")
    unit, size = _OI_NATIVE[venue.key]
    if venue.key == "htx":                  # current OI in contracts of 0.001 BTC
        want_btc = float(round(native[i] / 0.001)) * 0.001
    elif unit == "contracts":
        want_btc = native[i] * size
    elif unit == "usd":                     # Deribit: USD value / USD price known now
        price, _ = _usd_price_known_at(fake, venue, [fake.now_ms])
        want_btc = native[i] / price[0]
    else:
        want_btc = native[i]
    assert snap["oi_btc"].iloc[0] == want_btc
    assert snap["oi_usd"].iloc[0] > 0


def test_funding_only_venues_have_no_oi_history(fetched):
    fake, md = fetched
    # the current OI only (Kraken Futures': from its ticker, issue 11)
    for key in ("deribit", "hyperliquid", "krakenfutures"):
        assert (md.open_interest["venue"] == key).sum() == 1        # the snapshot only


def test_quote_conversion_recorded(fetched):
    fake, md = fetched
    conv = md.meta["quote_conversion"]
    assert conv["spot:binance"].startswith("USDT converted")
    assert conv["perp:hyperliquid"].startswith("USDC converted")
    assert conv["spot:coinbase"] == "USD (as given)"


# --- the same truth, paged in tiny pages: every venue's paging semantics (time windows,
# --- newest-first pages, exclusive bounds, venues that ignore the page size) must still give
# --- every row exactly once

@pytest.fixture(scope="module")
def fetched_in_small_pages(tmp_path_factory):
    import dataclasses

    tmp = tmp_path_factory.mktemp("truth-small-pages")
    venues = [dataclasses.replace(v, ohlcv_page_limit=3, funding_page_limit=5, oi_page_limit=3)
              for v in DEFAULT_VENUES if v.kind in ("spot", "perp")]
    with FakeExchange(days=6) as fake:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in fake.env(tmp).items():
                mp.setenv(k, v)
            import btcflow_nb

            md = btcflow_nb.fetch(venues, since=fake.truth.start, progress=False)
        yield fake, md


def _assert_funding_is_the_truth(fake, md, venue):
    """Every funding event the fake has published so far, at its time, with its rate."""
    t, rate, _ = fake.truth.funding(venue.key)
    if venue.exchange_id in ("okx", "kucoinfutures"):     # the last 92 days only
        t, rate = t[t >= fake.now_ms - 92 * DAY_MS], rate[t >= fake.now_ms - 92 * DAY_MS]
    rows = md.funding[md.funding["venue"] == venue.key]
    assert list(rows["time"]) == list(_utc(t[t <= fake.now_ms]))
    np.testing.assert_array_equal(rows["rate"].to_numpy(), rate[t <= fake.now_ms])


@pytest.mark.parametrize("venue", SPOT + PERP, ids=lambda v: v.name)
def test_small_pages_give_the_same_truth(fetched_in_small_pages, venue):
    fake, md = fetched_in_small_pages
    assert venue.name not in md.meta["errors"]
    frame = md.spot if venue.kind == "spot" else md.perp
    want = fake.truth.closes(venue.name, "1d", fake.now_ms)
    got = frame[venue.key].dropna()
    assert list(got.index) == list(want.index)
    if venue.funding_history:
        _assert_funding_is_the_truth(fake, md, venue)
    if venue.oi_history and venue.oi_history_source == "ccxt":
        t, _ = fake.truth.oi_native(venue.key)
        keep = (t % DAY_MS == 0) & (t <= fake.now_ms)
        expected = _utc(t[keep])
        if venue.key == "htx":     # HTX serves only the newest `size` periods: one page deep
            expected = expected[-3:]
        rows = md.open_interest[md.open_interest["venue"] == venue.key]
        assert set(expected) <= set(rows["time"])


# --- hourly bars over 100 days with the registry's real page sizes: most series need several
# --- full pages (OKX 100-row pages, Gate's 1999-bar windows, Binance's 4h funding switch)

@pytest.fixture(scope="module")
def fetched_hourly(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("truth-hourly")
    with FakeExchange(Truth.recent(100, funding_schedule_change=True)) as fake:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in fake.env(tmp).items():
                mp.setenv(k, v)
            import btcflow_nb

            md = btcflow_nb.fetch(since=fake.truth.start, timeframe="1h", progress=False)
        yield fake, md


@pytest.mark.parametrize("venue", SPOT + PERP, ids=lambda v: v.name)
def test_hourly_history_in_real_page_sizes_equals_truth(fetched_hourly, venue):
    fake, md = fetched_hourly
    assert venue.name not in md.meta["errors"]
    frame = md.spot if venue.kind == "spot" else md.perp
    want = fake.truth.closes(venue.name, "1h", fake.now_ms)
    if venue.exchange_id == "kraken":      # Kraken serves the newest 720 bars only
        want = want.iloc[-720:]
    assert list(frame[venue.key].dropna().index) == list(want.index)
    if venue.funding_history:
        _assert_funding_is_the_truth(fake, md, venue)
    if venue.oi_history and venue.oi_history_source == "ccxt":
        t, _ = fake.truth.oi_native(venue.key)
        depth_key = "binance" if venue.exchange_id.startswith("binance") else venue.key
        keep = (t <= fake.now_ms) & (t >= fake.truth.oi_history_start(depth_key, fake.now_ms))
        expected = _utc(t[keep])
        if venue.key == "htx":     # HTX serves the newest 200 periods only
            expected = expected[-200:]
        if venue.exchange_id == "okx":     # OKX serves the latest 1,440 entries only
            expected = expected[-1440:]
        rows = md.open_interest[md.open_interest["venue"] == venue.key]
        assert set(expected) <= set(rows["time"])
        assert rows["time"].is_unique
