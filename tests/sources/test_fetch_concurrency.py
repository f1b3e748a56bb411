"""Venues are fetched concurrently, and each venue's requests respect its rate limit.

The request log of the fake exchange (arrival and completion times per request) shows venues
overlapping in time, and consecutive requests to one exchange spaced by at least its ccxt
``rateLimit`` (the endpoints used here cost 1 unit each in ccxt's throttler).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import btcflow_nb
from btcflow_nb.testing.fake_exchange import FakeExchange
from btcflow_nb.sources.venues import DEFAULT_VENUES

BY_NAME = {v.name: v for v in DEFAULT_VENUES}
#: venues whose endpoints cost exactly one throttler unit per request in ccxt
UNIT_COST = ["spot:bitstamp", "spot:kraken", "perp:binance", "perp:gate", "perp:deribit",
             "perp:krakenfutures"]


def _small_pages(names):
    return [dataclasses.replace(BY_NAME[n], ohlcv_page_limit=1, funding_page_limit=12,
                                oi_page_limit=1) for n in names]


@pytest.fixture(scope="module")
def fake():
    with FakeExchange(days=3) as f:
        yield f


def _run(fake, tmp_path, monkeypatch, rate_limit_ms, latency=0.0):
    fake.clear_log()
    fake.clear_faults()
    for k, v in fake.env(tmp_path, rate_limit_ms=rate_limit_ms).items():
        monkeypatch.setenv(k, v)
    if latency:
        fake.inject("latency", times=None, delay=latency)
    md = btcflow_nb.fetch(_small_pages(UNIT_COST), since=fake.truth.start, progress=False)
    fake.clear_faults()
    assert md.meta["errors"] == {}
    return fake.log()


def _slack(log, rate_limit_s):
    """Per exchange: min over request pairs i < j of (start_j - start_i) - (j - i - 1) x limit.

    ccxt's throttler is a token bucket holding at most one request's worth of tokens, so two
    requests may arrive closer than the limit after an idle moment, but any run of n requests
    spans at least (n - 2) limits.  A negative slack means the rate limit was exceeded."""
    out = {}
    for ex in {r.exchange_id for r in log}:
        starts = np.sort([r.started for r in log if r.exchange_id == ex])
        assert len(starts) >= 5, f"{ex}: too few requests to measure spacing"
        i, j = np.triu_indices(len(starts), k=1)
        out[ex] = float(np.min(starts[j] - starts[i] - (j - i - 1) * rate_limit_s))
    return out


def test_each_exchange_respects_its_rate_limit(fake, tmp_path, monkeypatch):
    slack = _slack(_run(fake, tmp_path, monkeypatch, rate_limit_ms=150), 0.15)
    # 50 ms for thread scheduling between the client's send and the server's log entry
    assert all(v >= -0.05 for v in slack.values()), slack


def test_spacing_check_can_fail_without_a_rate_limit(fake, tmp_path, monkeypatch):
    slack = _slack(_run(fake, tmp_path, monkeypatch, rate_limit_ms=1), 0.15)
    assert min(slack.values()) < -0.05


def test_venues_overlap_in_time(fake, tmp_path, monkeypatch):
    log = _run(fake, tmp_path, monkeypatch, rate_limit_ms=1, latency=0.1)
    events = sorted([(r.started, 1, r.exchange_id) for r in log] +
                    [(r.finished, -1, r.exchange_id) for r in log])
    in_flight, most = {}, 0
    for _, step, ex in events:
        in_flight[ex] = in_flight.get(ex, 0) + step
        most = max(most, sum(1 for n in in_flight.values() if n > 0))
    assert most >= 4, f"at most {most} exchanges had a request in flight at once"
    # and every exchange's activity overlaps every other's
    spans = {ex: (min(r.started for r in log if r.exchange_id == ex),
                  max(r.finished for r in log if r.exchange_id == ex))
             for ex in {r.exchange_id for r in log}}
    for a, (a0, a1) in spans.items():
        for b, (b0, b1) in spans.items():
            assert a0 < b1 and b0 < a1, (a, b)


# --- pacing from request start (btcflow_nb.sources.exchanges._Pacer replaces ccxt's throttler)

def test_pacer_counts_spacing_from_the_previous_request_start_times_its_cost():
    """rateLimit 300 ms: a request whose predecessor started 50 ms ago (its reply took 50 ms)
    waits the remaining 250 ms, not a further 300 ms as ccxt's queue-only refill does; a
    predecessor of cost 10 holds the next one 10 x 300 ms after its own start."""
    import asyncio

    from btcflow_nb.sources.exchanges import _Pacer

    clock = {"now": 0.0}
    slept = []

    async def sleep(seconds):
        slept.append(round(seconds, 9))
        clock["now"] += seconds

    pacer = _Pacer(300, clock=lambda: clock["now"], sleep=sleep)

    async def scenario():
        await pacer(1)             # starts at 0.0
        clock["now"] = 0.05        # its reply arrives
        await pacer(10)            # may start at 0.3
        clock["now"] = 1.0
        await pacer(None)          # 0.3 + 10 x 0.3 = 3.3
        clock["now"] = 5.0
        await pacer(1)             # idle long enough: no wait

    asyncio.run(scenario())
    assert slept == [0.25, 2.3]


def test_callers_arriving_together_are_spaced_in_arrival_order():
    import asyncio

    from btcflow_nb.sources.exchanges import _Pacer

    waits = {}

    async def one(pacer, i):
        async def sleep(seconds):
            waits[i] = round(seconds, 9)
        pacer._sleep = sleep
        await pacer(1)

    async def scenario():
        pacer = _Pacer(100, clock=lambda: 0.0)
        await asyncio.gather(*(one(pacer, i) for i in range(4)))

    asyncio.run(scenario())
    assert waits == {1: 0.1, 2: 0.2, 3: 0.3}     # the first one goes at once


def test_prepared_exchanges_pace_with_ccxts_cost_weights(fake):
    """The pacer replaces ccxt's throttle on exchanges `fetch` prepares, and receives ccxt's
    per-endpoint cost: Hyperliquid's ``info`` endpoint weighs 10 (candles 4)."""
    import asyncio

    from btcflow_nb.sources.exchanges import _Pacer, _prepare_exchange

    async def scenario():
        ex = fake.exchange("hyperliquid", enableRateLimit=True, rateLimit=1)
        try:
            _prepare_exchange(ex, [BY_NAME["perp:hyperliquid"]])
            assert isinstance(ex.throttle, _Pacer)
            costs = []
            pace = ex.throttle

            async def recording(cost=None):
                costs.append(cost)
                await pace(cost)

            ex.throttle = recording
            await ex.load_markets()
            await ex.fetch_funding_rate_history("BTC/USDC:USDC", since=fake.truth.start)
            await ex.fetch_ohlcv("BTC/USDC:USDC", "1d", since=fake.truth.start)
            return costs
        finally:
            await ex.close()

    costs = asyncio.run(scenario())
    assert costs[-2:] == [10, 4] and all(c == 10 for c in costs[:-2])


def test_cost_weighted_spacing_is_respected(fake, tmp_path, monkeypatch):
    """Hyperliquid's funding pages cost 10 units: with rateLimit 30 ms, consecutive requests
    start at least 0.3 s apart (counted at the fake; a lower bound, so load cannot fail it)."""
    fake.clear_log()
    fake.clear_faults()
    for k, v in fake.env(tmp_path, rate_limit_ms=30).items():
        monkeypatch.setenv(k, v)
    venue = dataclasses.replace(BY_NAME["perp:hyperliquid"], funding_page_limit=12)
    md = btcflow_nb.fetch([venue], since=fake.truth.start, progress=False, cache_dir=False)
    assert md.meta["errors"] == {}
    funding = sorted(r.started for r in fake.log("hyperliquid", "funding"))
    assert len(funding) >= 4
    gaps = np.diff(funding)
    assert gaps.min() >= 0.3 - 0.05, gaps


# --- work that overlaps the network phase --------------------------------------------------

def test_a_finished_venue_is_cached_while_others_still_fetch(fake, tmp_path, monkeypatch):
    """Coinbase's rows reach the cache before Bitstamp's fetch ends: Bitstamp's task waits
    (up to 20 s) for Coinbase's cache write, which happened only after every venue was done
    before the writes were moved into the fetch."""
    import asyncio

    import btcflow_nb.sources.live as fetch_module

    fake.clear_faults()
    for k, v in fake.env(tmp_path).items():
        monkeypatch.setenv(k, v)
    # a venue's first fetch into an empty cache holds its bars until every venue is in (they
    # are judged against each other, test_validation): the overlap is that of a refresh
    btcflow_nb.fetch(["spot:coinbase", "spot:bitstamp"], since=fake.truth.start, progress=False)
    written = []
    real_store, real_venue = fetch_module._store, fetch_module._fetch_venue
    def store(root, series, venue, *args, **kwargs):
        out = real_store(root, series, venue, *args, **kwargs)
        written.append(venue.name)
        return out

    monkeypatch.setattr(fetch_module, "_store", store)
    seen_before_end = {}

    async def venue_task(venue, *args):
        result = await real_venue(venue, *args)
        if venue.name == "spot:bitstamp":
            for _ in range(2000):
                if "spot:coinbase" in written:
                    break
                await asyncio.sleep(0.01)
            seen_before_end["coinbase"] = "spot:coinbase" in written
        return result

    monkeypatch.setattr(fetch_module, "_fetch_venue", venue_task)
    md = btcflow_nb.fetch(["spot:coinbase", "spot:bitstamp"], since=fake.truth.start,
                          progress=False)
    assert md.meta["errors"] == {}
    assert seen_before_end == {"coinbase": True}
    assert set(md.spot.columns) == {"coinbase", "bitstamp"}


def test_prepared_exchanges_share_one_tls_context(fake):
    """ccxt builds an identical default TLS context per exchange on its first request (~25 ms
    of CPU each, 14 exchanges); fetch hands them one, and leaves a caller's own alone."""
    import ssl

    from btcflow_nb.sources.exchanges import _prepare_exchange

    a, b = fake.exchange("kraken"), fake.exchange("deribit")
    own = fake.exchange("okx")
    mine = ssl.create_default_context()
    own.ssl_context = mine
    unverified = fake.exchange("bybit", verify=False)
    for ex, key in ((a, "spot:kraken"), (b, "perp:deribit"), (own, "perp:okx"),
                    (unverified, "perp:bybit")):
        _prepare_exchange(ex, [BY_NAME[key]])
    assert isinstance(a.ssl_context, ssl.SSLContext) and a.ssl_context is b.ssl_context
    assert own.ssl_context is mine
    assert unverified.ssl_context is None
