"""Live mode of the flow dashboard against the fake exchange, its clock moved by hand: the info
panel, the open bar and the marks follow each tick; a bar close refreshes the cache with one
request per series; a failing venue is named and asked again; ticks never overlap; memory stays
bounded over hours of simulated ticks."""
from __future__ import annotations

import asyncio
import collections
import gc
import re
import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import btcflow_nb as bf
from btcflow_nb.dashboard import FlowDashboard
from btcflow_nb.dashboard import live as live_module
from btcflow_nb.dashboard.live import as_of_text, parse_every
from btcflow_nb.testing.fake_exchange import DAY_MS, HOUR_MS, FakeExchange, Truth

VENUES = ["spot:coinbase", "spot:binance", "perp:binance", "perp:okx", "perp:deribit",
          "perp:bitfinex"]
#: the series a bar-close refresh asks: OHLCV of every venue and of the USDT/USD fx pair,
#: funding of every perp, OI history where the venue serves it through ccxt (Bitfinex's comes
#: with its funding rows)
HISTORY = ("ohlcv", "funding", "oi_history")
N_SERIES = 6 + 1 + 4 + 2
MINUTE = 60_000


@pytest.fixture(scope="module")
def fake():
    # a truth that ends in the past: the clock can move through many bar closes
    truth = Truth.recent(days=40, now_ms=int(time.time() * 1000) - 3 * DAY_MS)
    with FakeExchange(truth, now_ms=truth.end - 30 * HOUR_MS + 30 * MINUTE) as server:
        yield server


@pytest.fixture()
def md(fake, tmp_path, monkeypatch):
    """Hourly data fetched from the fake into a fresh cache; the clock put back afterwards."""
    start = fake.now_ms
    for var, value in fake.env(tmp_path).items():
        monkeypatch.setenv(var, value)
    data = bf.fetch(VENUES, since=fake.now_ms - 20 * DAY_MS, until=fake.now_ms,
                    timeframe="1h", progress=False)
    assert data.meta["errors"] == {}
    fake.clear_log()
    yield data
    fake.clear_faults()
    fake.set_now(start)


def _dash(md, fake, **options):
    return FlowDashboard(md, timeframe="1h", debounce_ms=0,
                         live=dict(options, clock=lambda: fake.now_ms))


def _series_requests(fake) -> collections.Counter:
    """History requests per series (exchange, endpoint, instrument, period) in the fake's log."""
    keys = ("symbol", "instId", "instrument_name", "pair", "interval", "period", "bar",
            "resolution", "granularity", "keys")
    out = collections.Counter()
    for r in fake.log():
        if r.endpoint in HISTORY:
            ident = tuple((k, r.query[k]) for k in keys if k in r.query)
            out[(r.exchange_id, r.endpoint, r.path if not ident else "", ident)] += 1
    return out


def _spot_usd(fake, now):
    t = fake.truth
    usdt = t.last_price("fx:usdt", now)
    return np.mean([t.last_price("spot:coinbase", now), t.last_price("spot:binance", now) * usdt])


def test_clock_through_bar_closes(md, fake):
    """Three bar closes, ticks every 20 minutes: each tick moves the open bar, the marks and the
    info panel; each close costs exactly one request per series, and nothing else between."""
    async def run():
        dash = _dash(md, fake)
        try:
            for k in range(10):
                if k:
                    fake.advance(20 * MINUTE)
                fake.clear_log()
                assert await dash.live.tick()
                now = fake.now_ms
                bar = pd.Timestamp(now // HOUR_MS * HOUR_MS, unit="ms", tz="UTC")
                closed = k and now // HOUR_MS != (now - 20 * MINUTE) // HOUR_MS
                series = _series_requests(fake)
                if closed:   # the refresh: one request per series
                    assert len(series) == N_SERIES and set(series.values()) == {1}, series
                else:
                    assert not series, series
                assert dash.live.refreshes == (k + 1) // 3
                m = dash.metrics
                assert m.index[-1] == bar and bool(m["open_bar"].iloc[-1])
                assert m["spot"].iloc[-1] == pytest.approx(_spot_usd(fake, now), rel=1e-9)
                stamp = as_of_text(now, now)
                assert stamp in dash.live_status.value and stamp in dash.info.value
                assert re.search(r"as of \d\d:\d\d:\d\d UTC \(0 s ago\)", dash.summary())
                spot = dash.marks["spot"]
                assert spot.x[-1] == np.datetime64(bar.tz_convert(None))
                assert spot.y[-1] == pytest.approx(m["spot"].iloc[-1])
                ring = dash.marks["open_bar"]
                assert ring.visible and ring.x[-1] == np.datetime64(bar.tz_convert(None))
                assert "provisional" in dash.summary()
                assert not dash.errors.outputs
        finally:
            await dash.live.close()
    asyncio.run(run())


def test_stale_data_is_refreshed_at_the_first_tick(md, fake):
    """Data that ends hours before the open bar (a cache from earlier) is refreshed at once:
    no bar is missing between the cached ones and the open one."""
    fake.advance(3 * HOUR_MS)

    async def run():
        dash = _dash(md, fake)
        try:
            await dash.live.tick()
            assert dash.live.refreshes == 1
            index = dash.metrics.index[-5:]
            assert (np.diff(index) == pd.Timedelta("1h")).all(), index
            assert index[-1] == pd.Timestamp(fake.now_ms // HOUR_MS * HOUR_MS, unit="ms",
                                             tz="UTC")
        finally:
            await dash.live.close()
    asyncio.run(run())


def test_funding_and_oi_of_the_open_bar_follow_the_poll(md, fake):
    """The open bar's OI is the polled OI, and each perp's current rate is a provisional event
    at its next settlement (the cached history is left as it was)."""
    async def run():
        dash = _dash(md, fake)
        try:
            await dash.live.tick()
            shown = dash.md
            now = pd.Timestamp(fake.now_ms, unit="ms", tz="UTC")
            live_oi = shown.open_interest[shown.open_interest["source"] == "live"]
            assert (live_oi["time"] == now).all()
            assert set(live_oi["venue"]) == {"binance", "okx", "deribit", "bitfinex"}
            okx = live_oi.set_index("venue").loc["okx", "oi_btc"]
            assert okx == pytest.approx(fake.truth.oi_now("okx", fake.now_ms) * 0.01)
            t1, r1, *_ = fake.truth.upcoming_funding("okx", fake.now_ms)
            ev = shown.funding[(shown.funding["venue"] == "okx")].iloc[-1]
            assert ev["time"] == pd.Timestamp(t1, unit="ms", tz="UTC")
            assert ev["rate"] == pytest.approx(r1)
            assert len(shown.funding) == len(md.funding) + 4     # one per perp, nothing lost
            assert len(shown.open_interest) == len(md.open_interest) + 4
        finally:
            await dash.live.close()
    asyncio.run(run())


def test_a_failing_venue_is_named_and_asked_again(md, fake):
    async def run():
        dash = _dash(md, fake)
        try:
            fake.inject("500", exchange_id="okx", endpoint="ticker", times=1)
            await dash.live.tick()
            assert "failed: perp:okx" in dash.live_status.value
            assert "live failed" in dash.info.value and "perp:okx" in dash.info.value
            fake.advance(MINUTE)
            await dash.live.tick()
            assert "failed" not in dash.live_status.value and "live failed" not in dash.info.value
            assert len(fake.log("okx", "ticker")) == 2          # asked again
            # every venue down at a bar close: the poll and the cache refresh fail, both are
            # said, the loop goes on, and the refresh is done at the next tick
            fake.inject("503", times=None)
            fake.advance(HOUR_MS)
            await dash.live.tick()
            assert dash.live.refreshes == 0
            assert "cache refresh failed" in dash.live_status.value
            assert "cache refresh failed" in dash.info.value and "FetchError" in dash.info.value
            assert all(f"failed: {v}" in dash.live_status.value or f"; {v}" in
                       dash.live_status.value for v in VENUES)
            fake.clear_faults()
            fake.advance(MINUTE)
            await dash.live.tick()
            assert dash.live.refreshes == 1 and "failed" not in dash.live_status.value
            assert dash.live.ticks == 4 and not dash.errors.outputs
        finally:
            await dash.live.close()
    asyncio.run(run())


def test_ticks_never_overlap(md, fake):
    """The fake answers Coinbase's ticker after 0.3 s while the loop asks every 0.05 s: each
    tick starts after the previous one ended; a tick asked for meanwhile is skipped."""
    async def run():
        dash = _dash(md, fake)
        spans = []
        original = dash.live.poller.poll

        async def timed():
            began = time.monotonic()
            out = await original()
            spans.append((began, time.monotonic()))
            return out

        dash.live.poller.poll = timed
        fake.inject("latency", exchange_id="coinbase", endpoint="ticker", times=None, delay=0.3)
        try:
            dash.start_live(every="50ms")
            assert dash.live.running and dash.live_toggle.value
            await asyncio.sleep(0.1)
            assert await dash.live.tick() is False           # one is under way: skipped
            for _ in range(200):                              # three ticks or 20 s
                if len(spans) >= 3:
                    break
                await asyncio.sleep(0.1)
            dash.stop_live()
            assert not dash.live.running and not dash.live_toggle.value
        finally:
            await dash.live.close()
        assert len(spans) >= 3 and dash.live.skipped >= 1
        for (_, end), (began, _) in zip(spans, spans[1:]):
            assert began >= end
        assert all(end - began >= 0.29 for began, end in spans)
    asyncio.run(run())


def test_toggle_starts_and_stops(md, fake, demo):
    async def run():
        dash = FlowDashboard(md, timeframe="1h", debounce_ms=0,
                             live={"clock": lambda: fake.now_ms, "start": False})
        assert dash.live is None and any(dash.live_toggle in getattr(w, "children", ())
                                          for w in dash.children)
        dash.live_toggle.value = True
        assert dash.live is not None and dash.live.running
        for _ in range(100):
            if dash.live.ticks:
                break
            await asyncio.sleep(0.1)
        assert as_of_text(fake.now_ms, fake.now_ms) in dash.live_status.value
        dash.live_toggle.value = False
        assert not dash.live.running
        await dash.live.close()
        # the demo cannot go live: the message says why and the toggle stays off
        on_demo = FlowDashboard(demo, debounce_ms=0)
        on_demo.live_toggle.value = True
        assert not on_demo.live_toggle.value and "synthetic demo" in on_demo.status.value
    asyncio.run(run())


@pytest.mark.slow
def test_memory_stays_bounded_over_hours(fake, tmp_path, monkeypatch, capsys):
    """Four simulated hours of ticks every 90 s (160 ticks, four bar closes, no real waiting),
    memory traced from the start: what is alive after the first hour and at the end differs
    by little (the data's own new bars and nothing else accumulates)."""
    start = fake.now_ms
    for var, value in fake.env(tmp_path).items():
        monkeypatch.setenv(var, value)
    data = bf.fetch(["spot:coinbase", "perp:okx"], since=start - 10 * DAY_MS, until=start,
                    timeframe="1h", progress=False)
    monkeypatch.setattr(live_module, "LOG_SIZE", 50)

    # the fake exchange serves from this process: what it allocates (its request log, cleared
    # at every tick, and its truth's caches) is not the dashboard's
    server_side = [tracemalloc.Filter(False, "*fake_exchange*")]

    def alive() -> int:
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(server_side)
        return sum(stat.size for stat in snapshot.statistics("filename"))

    async def run():
        dash = _dash(data, fake, every="90s")
        sizes = {}
        tracemalloc.start()
        try:
            for k in range(160):
                fake.advance(90_000)
                fake.clear_log()
                await dash.live.tick()
                if k in (39, 159):
                    sizes[k] = alive()
            sizes["peak"] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            await dash.live.close()
            fake.set_now(start)
        assert dash.live.refreshes == 4 and len(dash.live.log) == 50     # the log is bounded
        assert dash.live.ticks == 160 and not dash.errors.outputs
        return sizes

    sizes = asyncio.run(run())
    growth = sizes[159] - sizes[39]
    with capsys.disabled():
        print(f"\nlive mode, 160 ticks over 4 simulated hours: traced memory after hour 1 "
              f"{sizes[39] / 1e6:.2f} MB, after hour 4 {sizes[159] / 1e6:.2f} MB "
              f"(growth {growth / 1e6:+.3f} MB), peak {sizes['peak'] / 1e6:.2f} MB")
    assert growth < 1e6


def test_bad_input():
    assert parse_every("15s") == 15 and parse_every("500ms") == 0.5 and parse_every(2) == 2
    assert parse_every("1m") == 60
    for bad in ("soon", "0s", -1, "15 parsecs"):
        with pytest.raises(ValueError, match="every="):
            parse_every(bad)
