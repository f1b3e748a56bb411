"""History depth end to end: an early `since` costs a bounded number of requests, a venue that
serves less than asked is noted in meta, coin-margined OI equals the truth in BTC and USD."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.sources.venues import DEFAULT_VENUES
from btcflow_nb.testing.fake_exchange import DAY_MS, FakeExchange, Truth

from .conftest import fetch_from

COIN_M = ["perp:binance_coinm", "perp:bybit_inverse", "perp:okx_inverse"]


@pytest.fixture(scope="module")
def deep(tmp_path_factory):
    with FakeExchange(Truth.recent(40)) as fake:
        md = fetch_from(tmp_path_factory.mktemp("deep"), fake, venues=COIN_M + ["perp:binance"],
                    since="2019-01-01")
        yield fake, md


def test_a_venue_serving_less_oi_history_than_asked_is_noted(deep):
    fake, md = deep
    assert md.meta["errors"] == {}
    depth = md.meta["depth"]["perp:binance"]["open_interest"]
    assert depth["asked_from"] == "2019-01-01" and depth["rows"] > 0
    first = md.open_interest[(md.open_interest["venue"] == "binance")]["time"].min()
    assert depth["served_from"] == first.strftime("%Y-%m-%d")
    note = [n for n in md.meta["notes"] if n.startswith("perp:binance open interest")]
    assert note == [f"perp:binance open interest: asked from 2019-01-01, served from "
                    f"{depth['served_from']} (binanceusdm: the venue serves only the last 30 days)"]


@pytest.mark.parametrize("name", COIN_M)
def test_coin_margined_oi_equals_truth_in_btc_and_usd(deep, name):
    """Inverse contracts are worth USD: USD = contracts x size exactly; BTC as the venue
    reports it (Binance COIN-M, OKX: USD / the venue's price at the sample) or, for Bybit,
    USD / the last completed daily close known at the sample."""
    fake, md = deep
    key = name.split(":")[1]
    t, usd = fake.truth.oi_native(key)
    keep = (t % DAY_MS == 0) & (t <= fake.now_ms) & (t >= fake.now_ms - 29 * DAY_MS)
    t, usd = t[keep], usd[keep]
    times = pd.to_datetime(t, unit="ms", utc=True)
    got = md.open_interest[(md.open_interest["venue"] == key)].set_index("time")
    got = got.loc[got.index.isin(times)]
    assert len(got) == len(t)
    np.testing.assert_array_equal(got["oi_usd"].to_numpy(), usd)
    if key == "bybit_inverse":
        closes = fake.truth.closes(name, "1d", fake.now_ms)
        known = pd.Series(closes.to_numpy(), index=closes.index + pd.Timedelta(days=1))
        price = known.reindex(times, method="ffill").to_numpy()
        want_btc = usd / price
    else:
        want_btc = np.round(usd / fake.truth.close_at(name, t), 8)
    np.testing.assert_allclose(got["oi_btc"].to_numpy(), want_btc, rtol=1e-12)


@pytest.mark.parametrize("name", COIN_M)
def test_coin_margined_prices_and_funding_equal_truth(deep, name):
    fake, md = deep
    key = name.split(":")[1]
    want = fake.truth.closes(name, "1d", fake.now_ms)
    got = md.perp[key].dropna()
    assert got.index.equals(want.index)
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
    t, rate, hours = fake.truth.funding(key)
    f = md.funding[md.funding["venue"] == key]
    np.testing.assert_array_equal(f["rate"].to_numpy(), rate[t <= fake.now_ms])
    assert set(f["interval_hours"]) == {8.0}


def test_an_early_since_costs_no_more_requests_than_the_venues_first_bar(tmp_path):
    """since=1900 starts every series at its venue's first served time (the registry's):
    the same requests as since=2019 for venues listed after 2019, none over empty decades."""
    counts = {}
    for since in ("1900-01-01", "2019-01-01"):
        with FakeExchange(Truth.recent(10)) as fake:
            fetch_from(tmp_path / since, fake, venues=["perp:binance", "perp:okx", "spot:coinbase"],
                   since=since)
            log = fake.log()
            counts[since] = {(r.exchange_id, r.endpoint): 0 for r in log}
            for r in log:
                counts[since][(r.exchange_id, r.endpoint)] += 1
    assert counts["1900-01-01"][("binanceusdm", "ohlcv")] == \
        counts["2019-01-01"][("binanceusdm", "ohlcv")]
    assert counts["1900-01-01"][("okx", "ohlcv")] == counts["2019-01-01"][("okx", "ohlcv")]
    # bounded per series: OKX pages 100 days per request from its 2019-12 listing (each empty
    # window asked twice), Binance answers from its first row, OI history from 30 days back
    assert max(counts["1900-01-01"].values()) <= 2 * (8 * 366 // 100 + 2)
    assert counts["1900-01-01"][("binanceusdm", "oi_history")] <= 2


def test_first_served_reads_the_registry():
    v = {x.name: x for x in DEFAULT_VENUES}
    now = pd.Timestamp("2026-06-01", tz="UTC").value // 10**6
    binance = v["perp:binance"]
    assert binance.first_served("ohlcv", now, DAY_MS) == \
        pd.Timestamp("2019-09-08", tz="UTC").value // 10**6
    assert binance.first_served("oi_history", now, DAY_MS) == now - 37 * DAY_MS  # 30 + margin
    assert v["perp:htx"].first_served("oi_history", now, DAY_MS) == now - 207 * DAY_MS
    assert v["perp:gate"].first_served("oi_history", now, DAY_MS) is None    # unknown
    with pytest.raises(ValueError, match="listed='2019-13-45' is not an ISO date"):
        type(binance)(**{**binance.to_dict(), "listed": "2019-13-45"})


def test_kraken_futures_current_oi_is_recorded_on_everyfetch_from(tmp_path):
    """Kraken Futures serves no OI history; its ticker carries the current OI (BTC), recorded
    as a snapshot on every fetch, so two fetches at two times leave two samples in the cache,
    equal to the truth at those times."""
    from btcflow_nb.sources.cache import read_series, series_path

    venue = {v.name: v for v in DEFAULT_VENUES}["perp:krakenfutures"]
    with FakeExchange(Truth.recent(5)) as fake:
        times = [fake.now_ms - 30 * 3_600_000 - 123_000, fake.now_ms]
        for now in times:
            fake.set_now(now)
            md = fetch_from(tmp_path, fake, venues=["perp:krakenfutures"], since="2D")
            assert md.meta["errors"] == {}
        assert len(fake.log("krakenfutures", "oi")) == 2
        root = tmp_path / "cache" / "v1"
        cached, _ = read_series(series_path(root, "open_interest", venue), "open_interest",
                                venue)
        snaps = cached[cached["kind"] == "snapshot"]
        np.testing.assert_array_equal(pd.DatetimeIndex(snaps["time"]).as_unit("ms").asi8,
                                      times)
        t, btc = fake.truth.oi_native("krakenfutures")
        want = btc[np.searchsorted(t, times, side="right") - 1]
        np.testing.assert_array_equal(snaps["oi_base"].to_numpy(), want)
        got = md.open_interest[md.open_interest["venue"] == "krakenfutures"]
        np.testing.assert_array_equal(got["oi_btc"].to_numpy(), want)


def test_deribit_current_oi_is_recorded_on_everyfetch_from(tmp_path):
    """Deribit serves no OI history through ccxt: its current OI (fetch_open_interest, USD) is
    recorded on every fetch, so two fetches leave two samples, equal to the truth in USD."""
    from btcflow_nb.sources.cache import read_series, series_path

    venue = {v.name: v for v in DEFAULT_VENUES}["perp:deribit"]
    with FakeExchange(Truth.recent(5)) as fake:
        times = [fake.now_ms - 30 * 3_600_000 - 123_000, fake.now_ms]
        for now in times:
            fake.set_now(now)
            md = fetch_from(tmp_path, fake, venues=["perp:deribit"], since="2D")
            assert md.meta["errors"] == {}
        assert len(fake.log("deribit", "oi")) == 2
        cached, _ = read_series(series_path(tmp_path / "cache" / "v1", "open_interest", venue),
                                "open_interest", venue)
        t, usd = fake.truth.oi_native("deribit")
    snaps = cached[cached["kind"] == "snapshot"]
    assert len(snaps) == len(cached) == 2
    got = md.open_interest[md.open_interest["venue"] == "deribit"]
    np.testing.assert_array_equal(got["oi_usd"].to_numpy(),
                                  usd[np.searchsorted(t, times, side="right") - 1])
    np.testing.assert_array_equal(pd.DatetimeIndex(got["time"]).as_unit("ms").asi8, times)
