"""Dated futures through the one loader: `bf.load()` / `bf.fetch()` on the default selection
fetch them beside the perps (sharing the exchange objects) into ``md.futures``, equal to the
truth; offline, the cache carries them; a refresh costs about one request per contract;
``dated=`` selects or excludes them (bad values name the choices); a failing dated venue is
named in ``meta["errors"]``; coverage, venues and the load summary list them; resample and
select keep them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import btcflow_nb as bf
from btcflow_nb.testing.fake_exchange import FakeExchange, Truth

DATED = ("deribit", "okx", "binance_coinm", "bybit_inverse")
DATED_EXCHANGES = {"deribit", "okx", "binancecoinm", "bybit"}


def _expiry(ms):
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


def _assert_listed_equal_truth(fake, md):
    for key in DATED:
        listed = fake.truth.dated_expiries(key, fake.now_ms)
        assert listed, key
        for expiry in listed:
            rows = md.futures[(md.futures["venue"] == key)
                              & (md.futures["expiry"] == _expiry(expiry))]
            want = fake.truth.closes(fake.truth.dated_series(key, expiry), "1d", fake.now_ms)
            got = pd.Series(rows["close"].to_numpy(), index=pd.DatetimeIndex(rows["time"]))
            assert got.index.equals(want.index), (key, expiry)
            np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """bf.load() (default selection) on an empty cache, a refresh, then offline."""
    tmp = tmp_path_factory.mktemp("dated_load")
    with pytest.MonkeyPatch.context() as mp:
        with FakeExchange(Truth.recent(40)) as fake:
            for k, v in fake.env(tmp).items():
                mp.setenv(k, v)
            mp.delenv("BTCFLOW_NB_SOURCE", raising=False)
            md = bf.load(progress=False)
            before = len(fake.requests)
            again = bf.load(progress=False)
            refresh = [r for r in fake.requests[before:]]
        # the fake is gone: the probe fails, the cache answers
        offline = bf.load(progress=False, timeout=0.5)
        yield fake, md, again, refresh, offline


def test_load_on_empty_cache_fetches_dated_futures_equal_to_truth(loaded):
    fake, md, *_ = loaded
    assert md.meta["load"]["source"] == "live"
    assert not [k for k in md.meta["errors"] if k.startswith("future:")], md.meta["errors"]
    _assert_listed_equal_truth(fake, md)
    assert set(md.futures["venue"]) == set(DATED)


def test_refresh_costs_about_one_request_per_contract(loaded):
    fake, md, again, refresh, _ = loaded
    _assert_listed_equal_truth(fake, again)
    contracts = sum(len(fake.truth.dated_expiries(k, fake.now_ms)) for k in DATED)
    dated_ohlcv = [r for r in refresh if r.exchange_id in DATED_EXCHANGES
                   and r.endpoint in ("ohlcv", "continuous")]
    # one page per listed contract, one per Binance continuous contract type, and one page per
    # perpetual of those exchanges (their ohlcv shares the endpoint kind); no history re-asked
    perps = [v for v in md.perp.columns if v in ("deribit", "okx", "bybit", "binance_coinm")]
    assert len(dated_ohlcv) <= contracts + 2 + 2 * len(perps), len(dated_ohlcv)


def test_offline_load_returns_the_cached_dated_futures(loaded):
    fake, md, _, _, offline = loaded
    assert offline.meta["load"]["source"] == "cache"
    assert "no network" in offline.meta["load"]["fallback"]
    _assert_listed_equal_truth(fake, offline)


def test_coverage_venues_and_summary_list_the_futures(loaded):
    _, md, *_ = loaded
    assert set(md.venues("futures")) == set(DATED)
    assert md.meta["venues"]["futures"] == md.venues("futures")
    cov = md.coverage()
    fut = cov[cov["field"] == "futures"]
    contracts = md.futures.groupby(["venue", "symbol"]).size()
    assert len(fut) == len(contracts)
    for (venue, symbol), n in contracts.items():
        row = fut[fut["venue"] == f"{venue} {symbol}"]
        assert int(row["rows"].iloc[0]) == n
    assert "dated futures at 4 venue(s)" in bf.load_summary(md)


def test_resample_and_select_keep_the_futures(loaded):
    _, md, *_ = loaded
    pd.testing.assert_frame_equal(md.resample("1W").futures, md.futures)
    pd.testing.assert_frame_equal(md.select(spot_venues=["coinbase"]).futures, md.futures)


@pytest.mark.parametrize("bad", [1, "kraken", ["deribit", 3], {"deribit": True}])
def test_bad_dated_selection_names_the_choices(bad, tmp_path, monkeypatch):
    monkeypatch.setenv("BTCFLOW_NB_CACHE_DIR", str(tmp_path))
    for call in (lambda: bf.fetch(dated=bad, progress=False),
                 lambda: bf.load("demo", dated=bad),
                 lambda: bf.from_cache(dated=bad)):
        with pytest.raises(ValueError, match=r"deribit.*okx|'deribit', 'okx'|valid"):
            call()


def test_dated_false_asks_nothing_of_dated_futures_and_a_failing_venue_is_reported(tmp_path):
    with FakeExchange(Truth.recent(20)) as fake, pytest.MonkeyPatch.context() as mp:
        for k, v in fake.env(tmp_path).items():
            mp.setenv(k, v)
        md = bf.fetch(venues=["spot:coinbase", "perp:deribit"], dated=False, progress=False)
        assert len(md.futures) == 0
        asked = {str(r.query.get("instrument_name")) for r in fake.log("deribit", "ohlcv")}
        assert asked and all("PERPETUAL" in a for a in asked), asked
        # explicit venues with dated="okx": OKX's futures only; their candles fail for good
        fake.inject("500", exchange_id="okx", endpoint="ohlcv", times=None)
        md = bf.fetch(venues=["spot:coinbase"], dated="okx", progress=False)
    assert set(md.meta["errors"]) == {"future:okx"}
    assert "500" in md.meta["errors"]["future:okx"] or "Exchange" in md.meta["errors"][
        "future:okx"]
    assert md.venues("spot") == ["coinbase"]


def test_coverage_chart_draws_the_contracts_and_filters_fields():
    from btcflow_nb.dashboard import CoverageChart

    demo = bf.load_demo()
    contracts = demo.futures.groupby(["venue", "symbol"]).ngroups
    assert contracts > 0
    chart = CoverageChart(demo)
    assert (chart.coverage["field"] == "futures").sum() == contracts
    drawn = [m for m in chart.figure.marks if "futures · " in " ".join(m.labels or [])]
    assert drawn, "the futures rows have a mark"
    only = CoverageChart(demo, fields=["spot", "perp"])
    assert set(only.coverage["field"]) == {"spot", "perp"}
    with pytest.raises(ValueError, match="futures"):
        CoverageChart(demo, fields=["spot", "options"])


def test_an_early_since_costs_about_a_page_per_contract(tmp_path):
    """since=1900 over a 400-day truth: each contract costs its pages plus at most two
    requests (no walk over the decades before its listing); Binance's continuous contracts
    their 200-day pages from the quarterlies' launch."""
    import math
    import time

    from btcflow_nb.sources.dated import DATED_VENUES
    from btcflow_nb.sources.dated_fetch import fetch_dated
    from btcflow_nb.testing.fake_exchange import DAY_MS, HOUR_MS

    now = int(time.time() * 1000)
    truth = Truth(now // DAY_MS * DAY_MS - 400 * DAY_MS, now // HOUR_MS * HOUR_MS + HOUR_MS)
    with FakeExchange(truth) as fake, pytest.MonkeyPatch.context() as mp:
        for k, v in fake.env(tmp_path).items():
            mp.setenv(k, v)
        frame = fetch_dated(since="1900-01-01")
        log = [r for r in fake.log() if r.endpoint == "ohlcv"]
    assert frame.attrs["errors"] == {}
    for v in DATED_VENUES:
        rows = frame[frame["venue"] == v.key].groupby("symbol").size()
        bound = sum(math.ceil(n / v.ohlcv_page_limit) + 2 for n in rows)
        if v.continuous:
            days = (now - pd.Timestamp(v.continuous_from, tz="UTC").value // 10**6) / DAY_MS
            bound += len(v.continuous) * (math.ceil(days / v.ohlcv_page_limit) + 2)
        asked = sum(1 for r in log if r.exchange_id == v.exchange_id)
        assert 0 < asked <= bound, (v.key, asked, bound)
