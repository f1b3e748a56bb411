"""Section 4 — fetching: full history and incremental refresh against the fake exchange.

Set-up: :class:`btcflow_nb.testing.fake_exchange.FakeExchange` on 127.0.0.1 with a ``Truth`` of
``DAYS`` days, 50 ms of latency injected on **every** request, and the fetch path users run:
``btcflow_nb.fetch(...)`` with ``BTCFLOW_NB_API_BASE`` pointing at the fake, so ccxt
exchange objects are built with ``enableRateLimit`` and each exchange's **real ccxt
rateLimit** (Kraken 1 s, Kraken Futures 0.6 s, Bitfinex 0.25 s, ...). Cache in a temporary
directory, daily bars (``fetch``'s default timeframe).

1. **Full history**: ``fetch(since=truth start, until=the fake's clock)``, every default venue
   (plus the USDT/USDC fx series the fetcher adds). The **lower bound** is
   ``max over exchanges of requests x max(latency, rate-limit spacing)`` with ``requests``
   counted per ccxt exchange id in the fake's request log (venues sharing an exchange id share
   its rate limiter, so the bound is per exchange, not per venue key). Target: wall time within
   1.3x of the bound.
2. **Incremental refresh**: the fake's clock moves ``REFRESH_DAYS`` ahead, then
   ``fetch()`` (resume from the cache). Target: one request per series (OHLCV, funding history,
   OI history, OI snapshot of each venue, as the registry declares them; and the dated futures
   ``fetch()`` carries by default: each contract still open at the first fetch, each continuous
   contract type); ``load_markets`` requests (and Deribit's expired-instruments listing, on the
   same endpoint) are counted apart (ccxt loads markets once per new exchange object). Its time
   is shown against the same kind of bound.

3. **Default deep history** (issue "Real history end to end"): ``fetch()`` with every default
   and nothing cached -- daily bars from 2019-01-01 (``fetch``'s default start) -- from a fake
   whose truth starts then (``DEEP_FROM``; tiny: ``DAYS`` days asked from the truth's start).
   Target: wall time within 1.3x of the **cost-aware bound**: per ccxt exchange id, its
   requests in the order they were paced, costs ``c_1 .. c_n`` (each request's weight as ccxt
   passes it to the throttle, recorded at `btcflow_nb.sources.exchanges._Pacer`), ``R`` its
   ``rateLimit``, ``L`` the latency:
   ``sum over i < n of max(L, c_i x R) + L``; the bound is the max over exchange ids.  Why not
   the cost-1 bound of 1. and 2.: ccxt's costs encode the venues' documented limits (Bitfinex's
   derivatives-status endpoints "90 reqs/min" = cost 2.7 x 250 ms; Hyperliquid's ``info`` 10 x
   50 ms), so a fetch that spaced those requests only ``rateLimit`` apart would break them:
   the deep history spends most of its requests on such endpoints (Hyperliquid's 63 pages of
   hourly funding alone take 63 x 0.5 s), and the cost-1 figure is unreachable by any fetch
   that keeps to the limits.  The cost-1 bound stays as an INFO row.

INFO rows next to the targets: for the full history, the same **cost-aware bound** (ccxt's
costs: e.g. Kraken's OHLC costs 1.2, Hyperliquid's ``info`` 10 and its candles 4; the issue's
bound counts every request as cost 1 and n spacings for n requests) -- and, for both the full
and the deep history, the network phase (first request at the fake -> last reply) and the wall
time outside it (before the first request reaches the fake, after the last reply left it).

``ccxt.async_support`` is imported before the clock starts (a one-time import cost belongs to
the ``startup`` section, not to fetching). A fetch that reports per-venue errors makes the
section fail: a timing of a partial fetch would be meaningless.
"""
from __future__ import annotations

import collections
import os
import tempfile
import time
from contextlib import contextmanager

from ._harness import Row, Target, Unavailable

NAME = "fetch"
TITLE = "Fetch from the fake exchange (50 ms latency, real ccxt rate limits)"
REQUIRES = ("btcflow_nb/sources/live.py", "btcflow_nb/sources/exchanges.py",
            "btcflow_nb/testing/fake_exchange/__init__.py")

LATENCY_S = 0.050
DAYS = {"tiny": 3, "full": 90}
REFRESH_DAYS = 2
#: tiny: two USD-quoted venues on fast exchanges (no fx series, no 1 s Kraken limiter)
VENUES = {"tiny": ["spot:coinbase", "perp:deribit"], "full": None}
BOUND_TARGET = 1.3
#: fetch's default start for daily bars with nothing cached (btcflow_nb.fetch docstring)
DEEP_FROM = "2019-01-01"


@contextmanager
def _pointed_at(url: str):
    """BTCFLOW_NB_API_BASE -> the fake; no user config file; restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("BTCFLOW_NB_API_BASE", "BTCFLOW_NB_CONFIG")}
    os.environ["BTCFLOW_NB_API_BASE"] = url
    os.environ.pop("BTCFLOW_NB_CONFIG", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _rate_limit_s(exchange_id: str) -> float:
    import ccxt

    return float(getattr(ccxt, exchange_id)().rateLimit) / 1000.0


def lower_bound(log, latency_s: float) -> tuple[float, dict]:
    """``max over exchange ids of requests x max(latency, rateLimit)`` from a request log."""
    by_exchange = collections.defaultdict(list)
    for r in log:
        by_exchange[r.exchange_id].append(r)
    per = {}
    for ex_id, recs in by_exchange.items():
        n = len(recs)
        spacing = _rate_limit_s(ex_id)
        starts = sorted(r.started for r in recs)
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        per[ex_id] = {"requests": n, "rate_limit_s": spacing,
                      "bound_s": n * max(latency_s, spacing),
                      # what actually happened at the server, to locate a gap to the bound
                      "span_s": max(r.finished for r in recs) - starts[0],
                      "mean_server_s": sum(r.finished - r.started for r in recs) / n,
                      "max_gap_between_starts_s": max(gaps, default=0.0),
                      "endpoints": dict(collections.Counter(r.endpoint for r in recs))}
    bound = max((p["bound_s"] for p in per.values()), default=0.0)
    return bound, per


def expected_series(venue_names) -> dict:
    """Series the registry declares for each venue: OHLCV, funding history, OI history (own
    endpoint), OI snapshot — each should cost one request on a refresh."""
    import ccxt

    from btcflow_nb.sources.venues import registry

    known = {v.name: v for v in registry()}
    out = {}
    for name in venue_names:
        v = known[name]
        has = getattr(ccxt, v.exchange_id)().has
        series = ["ohlcv"]
        if v.funding_history and has.get("fetchFundingRateHistory"):
            series.append("funding")
        if v.oi_history and getattr(v, "oi_history_source", None) != "funding_info" \
                and has.get("fetchOpenInterestHistory"):
            series.append("oi_history")
        if v.oi_snapshot and has.get("fetchOpenInterest"):
            series.append("oi")
        out[name] = series
    return out


def expected_dated_series(futures, open_at_ms: int) -> dict:
    """Dated-futures series a refresh asks, one request each: every contract that expires after
    `open_at_ms` (the first fetch's clock: its file then ended before the expiry, so it is not
    complete) and each continuous contract type of a venue that has them (Binance COIN-M).  A
    contract already complete at the first fetch costs nothing; Deribit's expired-instruments
    listing is a ``markets`` request, counted apart with ``load_markets``."""
    import pandas as pd

    from btcflow_nb.sources.dated import DATED_VENUES

    if futures is None or not len(futures):
        return {}
    continuous = {v.key: v.continuous for v in DATED_VENUES}
    out = {}
    for venue, group in futures.groupby("venue", observed=True):
        expiry = pd.DatetimeIndex(pd.to_datetime(group["expiry"], utc=True)).as_unit("ms").asi8
        open_then = sorted(set(group["symbol"].to_numpy()[expiry > open_at_ms]))
        out[f"future:{venue}"] = ([f"ohlcv {s}" for s in open_then]
                                  + [f"continuous {c}" for c in continuous.get(str(venue), ())])
    return out


def _network_span(log) -> float:
    return max(r.finished for r in log) - min(r.started for r in log) if log else 0.0


@contextmanager
def _recording_costs():
    """Record (exchange id, ccxt cost) of every paced request (see `_Pacer`)."""
    from btcflow_nb.sources.exchanges import _Pacer

    seen = []
    original = _Pacer.__call__

    async def call(self, cost=None):
        seen.append((self.label, 1.0 if cost is None else float(cost)))
        return await original(self, cost)

    _Pacer.__call__ = call
    try:
        yield seen
    finally:
        _Pacer.__call__ = original


def cost_aware_bound(costs, latency_s: float) -> tuple[float, dict]:
    """Per exchange id, its requests in the order they were paced: each but the last holds the
    next one back ``max(latency, rateLimit x its ccxt cost)``, the last takes one latency; the
    bound is the max over exchanges (a chain of n requests needs n - 1 spacings)."""
    chains = collections.defaultdict(list)
    for ex_id, cost in costs:
        chains[ex_id].append(cost)
    per = {ex_id: sum(max(latency_s, _rate_limit_s(ex_id) * c) for c in chain[:-1]) + latency_s
           for ex_id, chain in chains.items()}
    return max(per.values(), default=0.0), per


def run(size: str):
    try:
        from btcflow_nb import fetch
        from btcflow_nb.testing.fake_exchange import DAY_MS, FakeExchange, Truth
    except ImportError as exc:
        raise Unavailable(f"fetch / fake exchange not importable ({exc})") from None
    days, venues = DAYS[size], VENUES[size]
    truth = Truth.recent(days)
    rows, details = [], {"days": days, "timeframe": "1d", "latency_s": LATENCY_S,
                         "venues": venues or "all default venues"}
    with FakeExchange(truth, now_ms=truth.end - 1 - REFRESH_DAYS * DAY_MS) as fake, \
            tempfile.TemporaryDirectory(prefix="btcflow-bench-fetch-") as cache_dir, \
            _pointed_at(fake.url):
        fake.inject("latency", times=None, delay=LATENCY_S)
        import ccxt.async_support  # noqa: F401 - a one-time ~1 s import, not fetch time

        with _recording_costs() as costs:
            t0, m0 = time.perf_counter(), time.monotonic()
            md = fetch(venues, since=truth.start, until=fake.now_ms, cache_dir=cache_dir,
                       progress=False)
            full_s, m1 = time.perf_counter() - t0, time.monotonic()
        if md.meta.get("errors"):
            raise RuntimeError(f"full fetch reported errors: {md.meta['errors']}")
        full_log = fake.log()
        full_bound, full_per = lower_bound(full_log, LATENCY_S)
        cost_bound, cost_per = cost_aware_bound(costs, LATENCY_S)
        before_first = min(r.started for r in full_log) - m0
        after_last = m1 - max(r.finished for r in full_log)
        fetched_venues = sorted(md.meta.get("requests", {}))

        fake.clear_log()
        fake.set_now(truth.end - 1)
        t0 = time.perf_counter()
        md2 = fetch(venues, cache_dir=cache_dir, progress=False)
        refresh_s = time.perf_counter() - t0
        if md2.meta.get("errors"):
            raise RuntimeError(f"refresh reported errors: {md2.meta['errors']}")
        refresh_log = fake.log()
        refresh_bound, refresh_per = lower_bound(refresh_log, LATENCY_S)

    deep_rows, deep_details = _deep_default(size, fetch, Truth, FakeExchange)
    rows += deep_rows
    details["deep_default"] = deep_details
    series = expected_series(fetched_venues or sorted(md2.meta.get("requests", {})))
    series.update(expected_dated_series(md2.futures, truth.end - 1 - REFRESH_DAYS * DAY_MS))
    n_series = sum(len(s) for s in series.values())
    data_requests = [r for r in refresh_log if r.endpoint != "markets"]
    markets_requests = len(refresh_log) - len(data_requests)
    per_endpoint = collections.Counter(f"{r.exchange_id}/{r.endpoint}" for r in refresh_log)
    slowest = max(full_per.items(), key=lambda kv: kv[1]["bound_s"])[0] if full_per else "-"
    cost_slowest = max(cost_per.items(), key=lambda kv: kv[1])[0] if cost_per else "-"

    rows += [
        Row(f"full history: {len(fetched_venues)} venues incl. fx, {days} days of 1d bars",
            full_s, "s",
            reference=f"lower bound ({slowest})", reference_value=full_bound,
            note=f"{len(full_log)} requests"),
        Row("full history: wall / lower bound", full_s / full_bound, "x",
            target=Target("<=", BOUND_TARGET, f"<= {BOUND_TARGET}x bound")),
        Row("full history: wall against the cost-aware bound (requests x ccxt cost)",
            full_s, "s", reference=f"cost-aware bound ({cost_slowest})",
            reference_value=cost_bound, note=f"{len(costs)} paced requests"),
        Row("full history: network phase (first request -> last response)",
            _network_span(full_log), "s", reference="lower bound", reference_value=full_bound),
        Row("full history: before the first request + after the last reply",
            before_first + after_last, "s",
            note=f"{before_first:.2f} s before, {after_last:.2f} s after"),
        Row(f"refresh (+{REFRESH_DAYS} days): wall", refresh_s, "s",
            reference="lower bound", reference_value=refresh_bound,
            note=f"{len(refresh_log)} requests incl. {markets_requests} load_markets"),
        Row("refresh: data requests per series", len(data_requests) / n_series, "x",
            target=Target("<=", 1.0, "1 request per series"),
            note=f"{len(data_requests)} requests for {n_series} series"),
    ]
    details.update({
        "full": {"seconds": full_s, "bound_s": full_bound, "requests": len(full_log),
                 "per_exchange": full_per, "fetcher_requests": md.meta.get("requests"),
                 "cost_aware_bound_s": cost_bound, "cost_aware_per_exchange": cost_per,
                 "before_first_request_s": before_first, "after_last_reply_s": after_last},
        "refresh": {"seconds": refresh_s, "bound_s": refresh_bound, "requests": len(refresh_log),
                    "markets_requests": markets_requests, "data_requests": len(data_requests),
                    "per_exchange": refresh_per, "per_endpoint": dict(per_endpoint),
                    "series": series, "fetcher_requests": md2.meta.get("requests")},
    })
    return rows, details


def _deep_default(size: str, fetch, Truth, FakeExchange):
    """``fetch(venues)`` with an empty cache (the default start) against a truth from
    :data:`DEEP_FROM` to now: wall time against the cost-aware bound of the requests it made
    (judged) and against the cost-1 bound (INFO)."""
    import pandas as pd

    now = pd.Timestamp.now(tz="UTC")
    days = DAYS[size] if size != "full" else int((now - pd.Timestamp(DEEP_FROM, tz="UTC")).days)
    truth = Truth.recent(days)
    with FakeExchange(truth, now_ms=truth.end - 1) as fake, \
            tempfile.TemporaryDirectory(prefix="btcflow-bench-deep-") as cache_dir, \
            _pointed_at(fake.url):
        fake.inject("latency", times=None, delay=LATENCY_S)
        # tiny: from the truth's start (probing 7 empty years costs a minute, not a smoke test)
        since = None if size == "full" else truth.start
        with _recording_costs() as costs:
            t0, m0 = time.perf_counter(), time.monotonic()
            md = fetch(VENUES[size], since=since, cache_dir=cache_dir, progress=False)
            wall, m1 = time.perf_counter() - t0, time.monotonic()
        if md.meta.get("errors"):
            raise RuntimeError(f"deep default fetch reported errors: {md.meta['errors']}")
        log = fake.log()
    bound, per = lower_bound(log, LATENCY_S)
    cost_bound, cost_per = cost_aware_bound(costs, LATENCY_S)
    slowest = max(per.items(), key=lambda kv: kv[1]["bound_s"])[0] if per else "-"
    cost_slowest = max(cost_per.items(), key=lambda kv: kv[1])[0] if cost_per else "-"
    before_first = min(r.started for r in log) - m0
    after_last = m1 - max(r.finished for r in log)
    bars = len(md.spot.index.union(md.perp.index))
    rows = [
        Row(f"default deep history (since {DEEP_FROM}, empty cache): {bars} daily bars",
            wall, "s", reference=f"cost-aware bound ({cost_slowest})",
            reference_value=cost_bound, note=f"{len(log)} requests"),
        Row("default deep history: wall / cost-aware bound", wall / cost_bound, "x",
            target=Target("<=", BOUND_TARGET, f"<= {BOUND_TARGET}x bound")),
        Row("default deep history: wall against the cost-1 bound (requests x rateLimit)", wall,
            "s", reference=f"cost-1 bound ({slowest})", reference_value=bound,
            note="INFO: below what ccxt's costs allow"),
        Row("default deep history: network phase (first request -> last response)",
            _network_span(log), "s", reference="cost-aware bound", reference_value=cost_bound),
        Row("default deep history: before the first request + after the last reply",
            before_first + after_last, "s",
            note=f"{before_first:.2f} s before, {after_last:.2f} s after"),
    ]
    return rows, {"days": days, "seconds": wall, "bound_s": bound, "requests": len(log),
                  "cost_aware_bound_s": cost_bound, "cost_aware_per_exchange": cost_per,
                  "before_first_request_s": before_first, "after_last_reply_s": after_last,
                  "per_exchange": per, "bars": bars, "fetcher_requests": md.meta.get("requests")}
