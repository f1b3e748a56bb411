"""Live exchange data: concurrent ccxt fetching into the Parquet cache, as a MarketData.

>>> md = btcflow_nb.fetch(since="2024-01-01")                 # doctest: +SKIP
>>> md.coverage()                                             # doctest: +SKIP

How a fetch works
-----------------
1. Venues come from `btcflow_nb.venues` (defaults, plus the configuration file, plus any
   `Venue` you pass).  The USDT/USD and USDC/USD series (Kraken spot closes) are added when a
   selected venue is quoted in USDT / USDC.
2. One ccxt *async* exchange per ccxt id (``enableRateLimit`` on: every request waits for the
   exchange's rate limit, paced from request start by `_Pacer`: ``rateLimit`` x the endpoint's
   ccxt cost after the previous request started); all venues run concurrently
   (``asyncio.gather``); the series of one venue run one after another.
3. Each series is paged with our own loop -- not ccxt's ``paginate`` (10 pages at most) -- from
   the first missing time to `until`: a page of up to the venue's page size (its real maximum,
   declared in the registry); the next page starts after the last row received.  A page at
   least two rows short of the page size holds everything up to the end of the window asked,
   so a short page whose last row is within one step of `until` ends the series without
   another request (a refresh costs one request per series); one ending earlier is followed
   by one more request, so a venue serving smaller pages than declared loses no rows.  A full page whose first row is more than one step after the requested
   start (a venue returning the *newest* rows of a window) makes the skipped part be requested
   too; an empty page is asked once more before the window is taken as empty.
4. Failed requests (network errors, timeouts, 429 -- honouring Retry-After --, 5xx, malformed
   bodies) are retried with exponential backoff (`btcflow_nb.config.RetryPolicy`).  What still
   fails is reported per venue in ``meta["errors"]``; rows fetched before the failure are kept.
   Only when every venue fails does `fetch` raise (`FetchError`, listing every reason).
5. New rows are merged into the cache (atomic writes) as soon as a venue is done, while slower
   venues still fetch; the venue's current open interest is recorded as a snapshot so OI
   history grows locally, and the MarketData is assembled from the cache for [since, until]
   while the exchanges close.

Units (see `btcflow_nb.venues` for per-venue semantics): closes in the venue's quote, converted
to USD by `MarketData.from_frames` with the fx series; funding as (fraction per interval,
interval hours); OI in BTC and USD (`btcflow_nb.parse.oi_to_btc_usd`).

API keys are never needed.  If exchange objects carry keys, the keys are redacted from every
error message, log line and ``meta`` entry, and they never reach the cache.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from . import parse
from .cache import (CacheError, cache_root, foreign_files, merge, read_series, series_path,
                    write_series)
from .config import RetryPolicy, load_config, point_exchange_at
from .venue import Venue
from .venues import registry, resolve_venues

log = logging.getLogger("btcflow_nb.fetch")

#: timeframes `fetch` asks venues for (coarser bars: fetch "1d", then ``md.resample("1W")``)
FETCH_TIMEFRAMES = ("1h", "4h", "1d")
_TF_MS = {"1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}
_DEFAULT_HISTORY_DAYS = 365
_SECRET_ATTRS = ("apiKey", "secret", "password", "uid", "privateKey", "walletAddress", "token",
                 "login", "twofa")
_MAX_PAGES = 100_000


class FetchError(RuntimeError):
    """Every selected venue failed; `errors` maps each venue to its reason."""

    def __init__(self, errors: dict):
        self.errors = dict(errors)
        lines = "; ".join(f"{k}: {v}" for k, v in self.errors.items())
        super().__init__(f"every venue failed ({len(self.errors)}): {lines} (data cached "
                         "earlier is still there: btcflow_nb.from_cache())")


# --------------------------------------------------------------------------------------------
# arguments
# --------------------------------------------------------------------------------------------


def _to_ms(value, what: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (pd.Timedelta, _dt.timedelta)):
        return int(time.time() * 1000) - int(pd.Timedelta(value).total_seconds() * 1000)
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        try:   # a duration ("90D", "12 hours"): that long before now
            return int(time.time() * 1000) - int(pd.Timedelta(value).total_seconds() * 1000)
        except (TypeError, ValueError):
            pass
        raise ValueError(f"{what}={value!r} is not a date/time (e.g. '2024-01-01', a "
                         "pandas Timestamp, epoch milliseconds, or a duration before now "
                         "such as '90D')") from None
    if ts is pd.NaT:
        raise ValueError(f"{what}={value!r} is not a date/time")
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.tz_convert("UTC").value // 1_000_000)


def _check_timeframe(timeframe: str) -> str:
    tf = {"1D": "1d", "1H": "1h", "4H": "4h"}.get(timeframe, timeframe)
    if tf not in FETCH_TIMEFRAMES:
        raise ValueError(
            f"fetch timeframe {timeframe!r} is not supported; valid choices: "
            f"{list(FETCH_TIMEFRAMES)} (for 3D/1W/1M bars fetch '1d' and use md.resample(...))")
    return tf


def _redactor(exchanges):
    secrets = set()
    for ex in exchanges:
        for attr in _SECRET_ATTRS:
            v = getattr(ex, attr, None)
            if isinstance(v, str) and len(v) >= 4:
                secrets.add(v)

    def redact(text) -> str:
        text = str(text)
        for s in sorted(secrets, key=len, reverse=True):
            text = text.replace(s, "***")
        return text

    return redact


# --------------------------------------------------------------------------------------------
# exchange objects
# --------------------------------------------------------------------------------------------


def _make_exchange(exchange_id: str, cfg):
    import ccxt.async_support as ccxt_async

    cls = getattr(ccxt_async, exchange_id, None)
    if cls is None:
        raise ValueError(f"ccxt has no exchange {exchange_id!r}")
    options = {"enableRateLimit": True}
    options.update(cfg.exchanges.get(exchange_id, {}))
    ex = cls(options)
    if cfg.api_base:
        point_exchange_at(ex, cfg.api_base)
    return ex


def _prepare_exchange(ex, venues) -> None:
    """Data-only tweaks, applied before markets are loaded: skip the currencies request and
    load only the product families the selected venues need; wrap `fetch` to detect malformed
    bodies and to capture Retry-After."""
    import ccxt.async_support as ccxt_async

    if getattr(ex, "_btcflow_prepared", False):
        return
    if not ex.markets:
        ex.has = dict(ex.has, fetchCurrencies=False)
        if "fetchMargins" in ex.options:   # Binance: margin pairs are private and not needed
            ex.options["fetchMargins"] = False
        types = [t for v in venues for t in v.market_types]
        if types:
            current = ex.options.get("fetchMarkets")
            if isinstance(current, dict) and isinstance(current.get("types"), dict):
                new_types = {k: (k in types) for k in current["types"]}
            else:
                new_types = list(dict.fromkeys(types))
            if isinstance(current, dict):
                ex.options["fetchMarkets"] = dict(current, types=new_types)
            else:
                ex.options["fetchMarkets"] = {"types": new_types}
    original = ex.fetch

    async def fetch(url, method="GET", headers=None, body=None):
        try:
            response = await original(url, method, headers, body)
        except ccxt_async.BaseError as exc:
            headers_seen = getattr(ex, "last_response_headers", None) or {}
            retry_after = headers_seen.get("Retry-After") or headers_seen.get("retry-after")
            if retry_after is not None:
                try:
                    exc.retry_after = float(retry_after)
                except ValueError:
                    pass
            raise
        if isinstance(response, (str, bytes, bytearray)) and len(response):
            raise ccxt_async.BadResponse(f"{ex.id} returned a malformed (non-JSON) body for "
                                         f"{method} {url.split('?')[0]}")
        return response

    ex.fetch = fetch
    if getattr(ex, "ssl_context", None) is None and ex.verify is True \
            and not ex.safe_bool(ex.options, "include_OS_certificates", False):
        # what ccxt's open() would build for each exchange, built once (~25 ms each)
        ex.ssl_context = _shared_ssl_context(ex.cafile)
    if getattr(ex, "enableRateLimit", False):
        ex.throttle = _Pacer(float(ex.rateLimit), label=ex.id)
    ex._btcflow_prepared = True


@functools.lru_cache(maxsize=None)
def _shared_ssl_context(cafile):
    import ssl

    return ssl.create_default_context(cafile=cafile)


class _Pacer:
    """Rate-limit spacing counted from request *start*, in place of ccxt's throttler.

    ccxt calls ``await exchange.throttle(cost)`` before every request (``enableRateLimit``),
    with ``cost`` the endpoint's weight in units of ``rateLimit`` (Hyperliquid's ``info`` costs
    10, a Binance klines page of 1000 rows costs 5, most endpoints 1).  ccxt's token bucket
    refills only while a request is queued, so a request issued after the previous one's reply
    waits a further ``cost x rateLimit``: sequential pages cost ``latency + spacing`` each.
    Here request k+1 may start at ``start_k + cost_k x rateLimit / 1000`` seconds -- the same
    spacing ccxt enforces between queued requests, never closer -- so sequential pages cost
    ``max(latency, spacing)``.  Callers are served in arrival order (each reserves the next
    slot before it sleeps).

    rate_limit_ms: the exchange's ``rateLimit`` (ms per unit of cost).
    label: the exchange id (for logs and benchmarks).
    clock / sleep: injectable for tests (default: the event loop's clock, ``asyncio.sleep``).
    """

    def __init__(self, rate_limit_ms: float, clock=None, sleep=None, label: str = ""):
        self.rate_limit_s = max(0.0, float(rate_limit_ms)) / 1000.0
        self.label = label
        self._clock = clock
        self._sleep = sleep or asyncio.sleep
        self._next_start = None

    async def __call__(self, cost=None):
        now = self._clock() if self._clock else asyncio.get_running_loop().time()
        cost = 1.0 if cost is None else float(cost)
        start = now if self._next_start is None else max(now, self._next_start)
        self._next_start = start + cost * self.rate_limit_s
        if start > now:
            await self._sleep(start - now)


# --------------------------------------------------------------------------------------------
# retries and paging
# --------------------------------------------------------------------------------------------


def _retryable():
    import ccxt

    return (ccxt.NetworkError, ccxt.BadResponse)


async def _with_retry(call, policy: RetryPolicy, what: str):
    retryable = _retryable()
    for attempt in range(1, policy.attempts + 1):
        try:
            return await call()
        except retryable as exc:
            if attempt >= policy.attempts:
                raise
            delay = getattr(exc, "retry_after", None)
            delay = policy.delay(attempt) if delay is None else min(float(delay), policy.max_delay)
            log.info("%s: %s, retry %d in %.2fs", what, type(exc).__name__, attempt, delay)
            await asyncio.sleep(delay)


@dataclass
class _Pager:
    """Pages one series from `lo` to `hi` (epoch ms, inclusive)."""

    call: object              # async (since, limit, until_or_None) -> list of raw rows
    time_of: object           # raw row -> epoch ms (or None)
    limit: int
    step_ms: int
    use_until: bool
    policy: RetryPolicy
    what: str
    last_possible: Optional[int] = None   # no row can be later than this (OHLCV: last bar)
    on_page: object = None
    requests: int = 0
    rows: list = field(default_factory=list)

    async def run(self, lo: int, hi: int) -> list:
        stack = [(lo, hi)]
        while stack:
            a, b = stack.pop()
            await self._forward(a, b, stack)
        return self.rows

    async def _forward(self, a, b, stack):
        """Page [a, b] forwards; each page goes on from the last row received.

        A *short* page -- at least two rows fewer than `limit`, the venue's page size (what it
        returns when more rows exist) -- holds everything the venue has in the window asked,
        so when that window reaches `b` and its last row is within one step of `b`, the series
        is complete without another request.  Two, not one: a venue that takes the start in
        seconds repeats the row at the cursor's second and ccxt drops it (it is before
        `since`), so a full page can arrive one short.  A short page ending earlier is followed
        by one more request from its last row (no rows are lost if a venue serves smaller pages
        than declared; an empty answer then ends the window at once, without the retry).
        Without `until` the window is the venue's (or ccxt's: Kraken Futures' candles are asked
        for ``limit`` bars from `since`), so there the last-row rule is the only one.
        A full page whose first row lies more than one `step_ms` after the cursor (a venue that
        returned the *newest* rows of the window) makes the skipped part be asked too.  An
        empty page is asked once more before the window counts as empty."""
        cursor = a
        empty_retried = False
        after_short = False
        while cursor <= b:
            if self.requests >= _MAX_PAGES:
                raise RuntimeError(f"{self.what}: more than {_MAX_PAGES} pages; stopping")
            window_end = min(b, cursor + self.limit * self.step_ms - 1) if self.use_until else b
            until = window_end if self.use_until else None
            page = await _with_retry(lambda: self.call(cursor, self.limit, until), self.policy,
                                     self.what)
            self.requests += 1
            page = page or []
            times = [self.time_of(r) for r in page]
            inside = [(t, r) for t, r in zip(times, page) if t is not None and a <= t <= b]
            inside = [(t, r) for t, r in inside if t >= cursor]
            if self.on_page:
                self.on_page(len(inside))
            if not inside:
                if not empty_retried and not after_short:
                    empty_retried = True   # one more try: an empty page may be transient
                    await asyncio.sleep(self.policy.delay(1))
                    continue
                empty_retried = False
                if not self.use_until:
                    return            # nothing at or after `cursor`
                cursor = window_end + 1
                continue
            empty_retried = False
            self.rows.extend(r for _, r in inside)
            first, last = min(t for t, _ in inside), max(t for t, _ in inside)
            if len(page) >= self.limit and first - cursor > self.step_ms:
                stack.append((cursor, first - 1))   # the venue kept the newest rows: go back
            if self.last_possible is not None and last >= self.last_possible:
                return
            short = len(page) <= self.limit - 2
            if short and last + self.step_ms > b and (window_end >= b or not self.use_until):
                return     # a short page that reaches `b`: nothing more to ask for
            after_short = short
            cursor = last + 1


# --------------------------------------------------------------------------------------------
# one venue
# --------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    timeframe: str
    since: int
    until: int
    explicit_since: bool


@dataclass
class _VenueResult:
    venue: Venue
    new: dict = field(default_factory=dict)     # series -> raw frame
    covered: dict = field(default_factory=dict)  # series -> earliest time fully asked for
    error: Optional[str] = None
    notes: list = field(default_factory=list)
    requests: int = 0


def _ranges(cached: pd.DataFrame, plan: _Plan, reopen_last: bool, default_start: int,
            covered_from: Optional[int] = None):
    """Missing ranges for a series given its cache: before the first cached row (when `since`
    asks for older data than was ever asked for -- `covered_from`, kept in the file's metadata)
    and after the last cached row (from the last row itself when `reopen_last`, i.e. an OHLCV
    bar that may have been open)."""
    if len(cached) == 0:
        return [(plan.since if plan.explicit_since else default_start, plan.until)]
    t = pd.DatetimeIndex(cached["time"]).as_unit("ms").asi8
    first, last = int(t[0]), int(t[-1])
    known_from = first if covered_from is None else min(first, int(covered_from))
    out = []
    if plan.explicit_since and plan.since < known_from:
        out.append((plan.since, known_from - 1))
    start = last if reopen_last else last + 1
    if start <= plan.until:
        out.append((start, plan.until))
    return out


async def _fetch_venue(venue: Venue, ex, plan: _Plan, root, policy: RetryPolicy, bar,
                       redact) -> _VenueResult:
    """Fetch one venue's series one after another.  A series that fails is reported (its rows
    fetched so far are kept) and the venue's other series are still fetched."""
    import ccxt

    result = _VenueResult(venue)
    counted = []
    failures = []

    def tick(n_rows):
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"{sum(counted) + n_rows} rows", refresh=False)
        counted.append(n_rows)

    async def guarded(series, step):
        try:
            await step()
        except (ccxt.BaseError, ValueError, RuntimeError, OSError, KeyError, TypeError,
                asyncio.TimeoutError) as exc:
            failures.append(f"{series}: {type(exc).__name__}: {exc}")

    try:
        await _with_retry(lambda: ex.load_markets(), policy, f"{venue.name} load_markets")
        if venue.symbol not in ex.markets:
            btc = sorted(s for s in ex.markets if s.startswith("BTC/"))
            raise ValueError(f"unknown symbol {venue.symbol!r} at {ex.id}; BTC symbols there: "
                             f"{btc[:30]}")
    except (ccxt.BaseError, ValueError, RuntimeError, OSError, KeyError, TypeError,
            asyncio.TimeoutError) as exc:
        failures.append(f"{type(exc).__name__}: {exc}")
    else:
        market = ex.market(venue.symbol)
        tf_ms = _TF_MS[plan.timeframe]
        default_start = plan.until - _DEFAULT_HISTORY_DAYS * 86_400_000
        use_until = lambda series: series in venue.until_param  # noqa: E731
        funding_rows: list = []
        oi_frames: list = []

        async def page_missing(pager, cached, covered, series, reopen_last=False):
            """Page every range the cache misses; note how far back the series is now asked
            for, and count the requests (also when a page fails)."""
            try:
                ranges = _ranges(cached, plan, reopen_last, default_start, covered)
                for lo, hi in ranges:
                    await pager.run(lo, hi)
                result.covered[series] = min([lo for lo, _ in ranges], default=None)
            finally:
                result.requests += pager.requests

        async def prices():
            path = series_path(root, "ohlcv", venue, plan.timeframe)
            cached, covered = _read_or_reset(path, "ohlcv", venue, plan.timeframe, result)
            pager = _Pager(
                call=_page_call(ex, venue, "ohlcv", plan.timeframe),
                time_of=lambda r: None if not r or r[0] is None else int(r[0]),
                limit=venue.ohlcv_page_limit, step_ms=tf_ms, use_until=use_until("ohlcv"),
                policy=policy, what=f"{venue.name} ohlcv",
                last_possible=(plan.until // tf_ms) * tf_ms, on_page=tick)
            try:
                await page_missing(pager, cached, covered, "ohlcv", reopen_last=True)
            finally:
                result.new["ohlcv"] = parse.ohlcv_frame(pager.rows)

        async def funding():
            if not ex.has.get("fetchFundingRateHistory"):
                result.notes.append(f"{venue.name}: ccxt {ex.id} has no fetchFundingRateHistory")
                return
            path = series_path(root, "funding", venue)
            cached, covered = _read_or_reset(path, "funding", venue, None, result)
            step_h = venue.funding_interval_hours or _market_interval(venue, market) or 8.0
            pager = _Pager(
                call=_page_call(ex, venue, "funding"),
                time_of=lambda r: r.get("timestamp"), limit=venue.funding_page_limit,
                step_ms=int(step_h * 3_600_000), use_until=use_until("funding"), policy=policy,
                what=f"{venue.name} funding", on_page=tick)
            try:
                await page_missing(pager, cached, covered, "funding")
            finally:
                funding_rows.extend(pager.rows)
                result.new["funding"] = parse.funding_frame(
                    pager.rows, venue, market_interval_hours=_market_interval(venue, market))

        async def oi_history():
            if venue.oi_history_source == "funding_info":
                oi_frames.append(parse.oi_from_info_rows(funding_rows, venue.oi_info_index))
                return
            if not ex.has.get("fetchOpenInterestHistory"):
                result.notes.append(f"{venue.name}: ccxt {ex.id} has no fetchOpenInterestHistory")
                return
            path = series_path(root, "open_interest", venue)
            cached, covered = _read_or_reset(path, "open_interest", venue, None, result)
            hist = cached[cached["kind"] == "history"] if len(cached) else cached
            oi_tf = _oi_timeframe(venue, plan.timeframe)
            pager = _Pager(
                call=_page_call(ex, venue, "oi_history", oi_tf),
                time_of=lambda r: r.get("timestamp"), limit=venue.oi_page_limit,
                step_ms=_TF_MS[oi_tf], use_until=use_until("oi_history"), policy=policy,
                what=f"{venue.name} open interest", on_page=tick)
            try:
                await page_missing(pager, hist, covered, "open_interest")
            finally:
                oi_frames.append(parse.oi_frame(pager.rows, venue, market.get("contractSize"),
                                                 kind="history"))

        async def oi_snapshot():
            if not ex.has.get("fetchOpenInterest"):
                result.notes.append(f"{venue.name}: ccxt {ex.id} has no fetchOpenInterest")
                return
            result.requests += 1
            snap = await _with_retry(lambda: ex.fetch_open_interest(venue.symbol), policy,
                                     f"{venue.name} open interest snapshot")
            tick(1)
            if snap:
                snap = dict(snap)
                if snap.get("timestamp") is None:   # e.g. Hyperliquid: stamp it ourselves
                    snap["timestamp"] = int(time.time() * 1000)
                oi_frames.append(parse.oi_frame([snap], venue, market.get("contractSize"),
                                                 kind="snapshot",
                                                 amount_unit=venue.oi_snapshot_amount))

        await guarded("ohlcv", prices)
        if venue.funding_history:
            await guarded("funding", funding)
        if venue.oi_history:
            await guarded("open interest history", oi_history)
        if venue.oi_snapshot:
            await guarded("open interest snapshot", oi_snapshot)
        frames = [f for f in oi_frames if len(f)]
        if frames:
            result.new["open_interest"] = parse.dedupe_by_time(
                pd.concat(frames, ignore_index=True))
    if failures:
        result.error = redact("; ".join(failures))[:800]
        log.warning("%s failed: %s", venue.name, result.error)
    return result


def _page_call(ex, venue: Venue, series: str, timeframe: Optional[str] = None):
    """The request for one page of `series` ("ohlcv", "funding", "oi_history") at `venue`:
    an async ``call(since_ms, page_size, until_ms_or_None) -> list`` of ccxt rows.  The page
    size is sent only for series in ``venue.limit_param`` and `until` only for series in
    ``venue.until_param`` (the pager passes None otherwise)."""
    def limit(n):
        return n if series in venue.limit_param else None

    def params(until):
        return {} if until is None else {"until": until}

    if series == "ohlcv":
        return lambda s, n, u: ex.fetch_ohlcv(venue.symbol, timeframe, since=s, limit=limit(n),
                                              params=params(u))
    if series == "funding":
        return lambda s, n, u: ex.fetch_funding_rate_history(venue.symbol, since=s,
                                                             limit=limit(n), params=params(u))
    if series == "oi_history":
        return lambda s, n, u: ex.fetch_open_interest_history(
            venue.symbol, timeframe, since=s, limit=limit(n), params=params(u))
    raise ValueError(f"series {series!r} is not paged; valid: ohlcv, funding, oi_history")


def _read_or_reset(path, series, venue, timeframe, result):
    """(cached frame, covered_from ms or None); a bad file is set aside and noted."""
    try:
        frame, meta = read_series(path, series, venue, timeframe)
        return frame, (meta or {}).get("covered_from")
    except CacheError as exc:
        result.notes.append(str(exc))
        return parse.empty_frame(_parse_columns(series)), None


def _parse_columns(series):
    return {"ohlcv": parse.OHLCV_COLUMNS, "funding": parse.FUNDING_COLUMNS,
            "open_interest": parse.OI_RAW_COLUMNS}[series]


def _market_interval(venue: Venue, market) -> Optional[float]:
    if venue.funding_interval_source != "market":
        return None
    raw = (market.get("info") or {}).get(venue.funding_interval_field)
    try:
        hours = float(raw) / venue.funding_interval_units_per_hour
    except (TypeError, ValueError):
        return None
    return hours if hours > 0 else None


def _oi_timeframe(venue: Venue, timeframe: str) -> str:
    order = list(FETCH_TIMEFRAMES)
    usable = [tf for tf in venue.oi_timeframes if order.index(tf) <= order.index(timeframe)]
    return usable[-1] if usable else venue.oi_timeframes[0]


# --------------------------------------------------------------------------------------------
# the public entry point
# --------------------------------------------------------------------------------------------


def fetch(venues=None, since=None, until=None, timeframe: str = "1d", cache_dir=None,
          exchanges=None, progress: bool = True):
    """Fetch live data from the venues (concurrently, via ccxt), update the cache, return a
    `MarketData` (``meta["source"] == "live"``).

    venues: None (every spot and perp venue of the registry) or a list of venue names
        ("spot:binance", "perp:kucoin"), bare keys ("binance" = spot and perp), "spot", "perp",
        or `btcflow_nb.venues.Venue` objects (your own venues / symbols).
    since, until: dates ("2024-01-01"), Timestamps, epoch ms, or durations before now ("90D");
        naive times are UTC.  since=None
        resumes from the cache (or fetches the last 365 days when nothing is cached);
        until=None means now.  The result covers [since, until] from the cache.
    timeframe: bar size asked from the venues: "1h", "4h" or "1d" (build coarser bars with
        ``md.resample``).
    cache_dir: cache directory (default: see `btcflow_nb.cache`); ``False`` disables the cache
        (nothing read or written; OI snapshots are then not kept).
    exchanges: {ccxt exchange id or venue name: ready ``ccxt.async_support`` exchange} to use
        instead of building one -- proxies, keys, options, a test server.  Exchanges built here
        use the configuration (``BTCFLOW_NB_CONFIG``, ``BTCFLOW_NB_API_BASE``).
    progress: a tqdm progress bar per venue (``tqdm.auto``: Jupyter widget or terminal).

    Returns the MarketData; ``meta["errors"]`` names each failed venue with its reason (its rows
    fetched before the failure are kept).  Raises `FetchError` when every venue fails, and
    ValueError for bad arguments (unknown venue or symbol, since after until, a timeframe the
    venue does not serve).
    """
    tf = _check_timeframe(timeframe)
    since_ms, until_ms = _to_ms(since, "since"), _to_ms(until, "until")
    now_ms = int(time.time() * 1000)
    until_ms = now_ms if until_ms is None else until_ms
    if since_ms is not None and since_ms > until_ms:
        raise ValueError(f"since ({pd.Timestamp(since_ms, unit='ms', tz='UTC')}) is after until "
                         f"({pd.Timestamp(until_ms, unit='ms', tz='UTC')})")
    explicit_venues = venues is not None
    chosen = resolve_venues(venues)
    chosen = _with_fx(chosen)
    cfg = load_config()
    built, objects = {}, {}
    exchanges = dict(exchanges or {})
    valid_keys = {v.exchange_id for v in chosen} | {v.name for v in chosen}
    unknown = sorted(k for k in exchanges if k not in valid_keys)
    if unknown:
        raise ValueError(f"exchanges= has key(s) {unknown} matching no selected venue; valid "
                         f"keys: {sorted(valid_keys)}")
    for v in chosen:
        ex = exchanges.get(v.name) or exchanges.get(v.exchange_id)
        if ex is None:
            ex = built.get(v.exchange_id) or _make_exchange(v.exchange_id, cfg)
            built[v.exchange_id] = ex
        elif not hasattr(ex, "close") or not asyncio.iscoroutinefunction(ex.load_markets):
            raise ValueError(f"exchanges[{v.name!r}] must be a ccxt.async_support exchange, got "
                             f"{type(ex).__module__}.{type(ex).__name__}")
        objects[v.name] = ex
    # timeframe support, checked against the exchange classes (no network)
    problems = {}
    for v in chosen:
        tfs = objects[v.name].timeframes or {}
        if tf not in tfs:
            problems[v.name] = (f"timeframe {tf!r} is not served by {v.exchange_id}; it serves "
                                f"{sorted(tfs)}")
    if problems and explicit_venues:
        raise ValueError("; ".join(problems.values()))
    plan = _Plan(tf, since_ms if since_ms is not None else 0, until_ms, since_ms is not None)
    use_cache = cache_dir is not False
    root = cache_root(None if cache_dir in (None, False) else cache_dir)
    if not use_cache:
        import tempfile
        tmpdir = tempfile.TemporaryDirectory(prefix="btcflow-nocache-")
        root = cache_root(tmpdir.name)
    try:
        return _fetch_into(root, chosen, objects, problems, plan, cfg, progress, since_ms,
                           until_ms, until, tf, use_cache)
    finally:
        if not use_cache:
            tmpdir.cleanup()


def _fetch_into(root, chosen, objects, problems, plan, cfg, progress, since_ms, until_ms, until,
                tf, use_cache):
    redact = _redactor(set(objects.values()))
    fetched_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    to_fetch = [v for v in chosen if v.name not in problems]
    venue_notes = {}

    def store(r: _VenueResult) -> None:
        """Merge one venue's new rows into the cache (run as soon as the venue is done, while
        slower venues still wait on their rate limits)."""
        notes_here = [redact(n) for n in r.notes]
        for series, frame in r.new.items():
            _store(root, series, r.venue, tf, frame, fetched_at, notes_here,
                   r.covered.get(series))
        venue_notes[r.venue.name] = notes_here

    def finish(results):
        """The MarketData from the cache (runs while the exchanges close)."""
        errors = {name: reason for name, reason in problems.items()}
        notes = []
        for r in results:
            if r.error:
                errors[r.venue.name] = r.error
            notes.extend(venue_notes.get(r.venue.name, ()))
        if errors and len(errors) == len(chosen) and not any(
                len(f) for r in results for f in r.new.values()):
            raise FetchError(errors)
        # "up to now": include what was stamped during the fetch (snapshots)
        end_ms = int(time.time() * 1000) if until is None else until_ms
        return _assemble(chosen, tf, root, since_ms, end_ms, source="live",
                         fetched_at=fetched_at, errors=errors, notes=notes,
                         extra={"requests": {r.venue.name: r.requests for r in results},
                                "cache_dir": None if not use_cache else str(root.parent)})

    return _run(_fetch_all(to_fetch, objects, plan, root, cfg.retry, progress, redact, store,
                           finish))


def _with_fx(chosen):
    quotes = {v.quote for v in chosen if v.kind in ("spot", "perp")}
    known = {v.name: v for v in registry()}
    out = list(chosen)
    names = {v.name for v in out}
    for currency in ("USDT", "USDC"):
        name = f"fx:{currency.lower()}"
        if currency in quotes and name not in names and name in known:
            out.append(known[name])
    return out


def _store(root, series, venue, tf, frame, fetched_at, notes, covered_from=None):
    if len(frame) == 0 and covered_from is None:
        return
    path = series_path(root, series, venue, tf if series == "ohlcv" else None)
    try:
        cached, meta = read_series(path, series, venue, tf if series == "ohlcv" else None)
    except CacheError as exc:
        notes.append(str(exc))
        cached, meta = parse.empty_frame(_parse_columns(series)), {}
    if len(frame) == 0 and len(cached) == 0:
        return
    old = (meta or {}).get("covered_from")
    covered = min([c for c in (old, covered_from) if c is not None], default=None)
    write_series(path, merge(cached, frame), series, venue,
                 tf if series == "ohlcv" else None, fetched_at, covered_from=covered)


async def _fetch_all(venues, objects, plan, root, policy, progress, redact, store=None,
                     finish=None):
    """Fetch every venue concurrently; `store(result)` runs in a worker thread as soon as each
    venue is done (cache writes overlap the other venues' network time).  Returns the list of
    `_VenueResult`, or ``finish(results)`` -- run in a worker thread while the exchanges close
    (ccxt's close() sleeps 250 ms to let TLS connections shut down)."""
    from tqdm.auto import tqdm

    bars = {}
    for i, v in enumerate(venues):
        bars[v.name] = tqdm(total=None, desc=f"{v.name:<20}", unit="req", position=i,
                            leave=True, disable=not progress, dynamic_ncols=True)
    for ex in dict.fromkeys(objects[v.name] for v in venues):
        _prepare_exchange(ex, [v for v in venues if objects[v.name] is ex])
    # ccxt logs request headers (API keys included) at DEBUG: redact them while we fetch
    redacting = _RedactingFilter(redact)
    loggers = {log} | {getattr(ex, "logger", None) for ex in objects.values()} - {None}
    for lg in loggers:
        lg.addFilter(redacting)
    closing = None
    try:
        async def one(v):
            result = await _fetch_venue(v, objects[v.name], plan, root, policy, bars[v.name],
                                        redact)
            if store is not None:
                await asyncio.to_thread(store, result)
            return result

        results = await asyncio.gather(*(one(v) for v in venues))
        for b in bars.values():
            b.close()
        closing = asyncio.gather(*(ex.close() for ex in dict.fromkeys(objects.values())),
                                 return_exceptions=True)
        if finish is None:
            await closing
            return results
        return await asyncio.to_thread(finish, results)
    finally:
        for b in bars.values():
            b.close()
        if closing is None:
            closing = asyncio.gather(*(ex.close() for ex in dict.fromkeys(objects.values())),
                                     return_exceptions=True)
        await closing
        for lg in loggers:
            lg.removeFilter(redacting)


class _RedactingFilter(logging.Filter):
    def __init__(self, redact):
        super().__init__()
        self.redact = redact

    def filter(self, record):
        record.msg = self.redact(record.getMessage())
        record.args = ()
        return True


def _run(coro):
    """Run a coroutine to completion, also from inside a running event loop (Jupyter): then in a
    worker thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box = {}

    def worker():
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=worker, name="btcflow-fetch")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


# --------------------------------------------------------------------------------------------
# assembling a MarketData from the cache
# --------------------------------------------------------------------------------------------


def _clip(frame, since_ms, until_ms):
    if len(frame) == 0:
        return frame
    t = pd.DatetimeIndex(frame["time"]).as_unit("ms").asi8
    keep = np.ones(len(t), dtype=bool)
    if since_ms is not None:
        keep &= t >= since_ms
    if until_ms is not None:
        keep &= t <= until_ms
    return frame[keep]


def _assemble(venues, tf, root, since_ms, until_ms, *, source, fetched_at, errors, notes,
              extra=None):
    from ..marketdata import MarketData

    closes = {"spot": {}, "perp": {}, "fx": {}}
    raw_closes = {}
    quotes = {"spot": {}, "perp": {}}
    funding, oi_raw = [], {}
    errors = dict(errors)
    for v in venues:
        try:
            ohlcv, _ = read_series(series_path(root, "ohlcv", v, tf), "ohlcv", v, tf)
        except CacheError as exc:
            errors[v.name] = str(exc)
            continue
        # indexed by bar CLOSE time: the price known at a moment is the last completed bar's
        raw_closes[v.name] = pd.Series(
            ohlcv["close"].to_numpy(),
            index=pd.DatetimeIndex(ohlcv["time"]) + pd.Timedelta(milliseconds=_TF_MS[tf]))
        o = _clip(ohlcv, since_ms, until_ms)
        if len(o):
            s = pd.Series(o["close"].to_numpy(), index=pd.DatetimeIndex(o["time"], name="time"))
            closes[v.kind][v.key if v.kind != "fx" else v.key.upper()] = s
            if v.kind in quotes:
                quotes[v.kind][v.key] = v.quote
        if v.kind != "perp":
            continue
        if v.funding_history:
            try:
                f, _ = read_series(series_path(root, "funding", v), "funding", v)
            except CacheError as exc:
                errors[v.name] = str(exc)
                f = parse.empty_frame(parse.FUNDING_COLUMNS)
            if len(f):
                f = f.copy()
                f["interval_hours"] = parse.derive_intervals(
                    f["time"], f["interval_hours"]).to_numpy()
                if f["interval_hours"].isna().any():
                    f["interval_hours"] = f["interval_hours"].fillna(8.0)
                    notes.append(f"{v.name}: funding interval unknown for some events; 8h assumed")
                f = _clip(f, since_ms, until_ms)
                f.insert(0, "venue", v.key)
                funding.append(f)
        if v.oi_history or v.oi_snapshot:
            try:
                raw, _ = read_series(series_path(root, "open_interest", v), "open_interest", v)
            except CacheError as exc:
                errors[v.name] = str(exc)
                raw = parse.empty_frame(parse.OI_RAW_COLUMNS)
            oi_raw[v] = _clip(raw, since_ms, until_ms)
    fx_series = {k: s for k, s in closes["fx"].items()}
    fx_full = {v.key.upper(): raw_closes[v.name] for v in venues if v.kind == "fx"
               and v.name in raw_closes}
    oi_frames = []
    for v, raw in oi_raw.items():
        if len(raw) == 0:
            continue
        conv = parse.oi_to_btc_usd(raw, raw_closes.get(v.name), v.quote, fx_full)
        conv.insert(0, "venue", v.key)
        oi_frames.append(conv)

    def wide(d):
        if not d:
            return None
        frame = pd.concat(d, axis=1, sort=True)
        frame.index.name = "time"
        return frame

    def long(frames, columns):
        frames = [f[list(columns)] for f in frames if len(f)]
        if not frames:
            return None
        return pd.concat(frames, ignore_index=True)

    fx = wide(fx_series)
    meta = {"source": source, "synthetic": False, "fetched_at": fetched_at, "notes": notes,
            "errors": errors, "timeframe_fetched": tf}
    meta.update(extra or {})
    return MarketData.from_frames(
        spot=wide(closes["spot"]), perp=wide(closes["perp"]),
        funding=long(funding, ("venue", "time", "rate", "interval_hours")),
        open_interest=long(oi_frames, ("venue", "time", "oi_btc", "oi_usd")),
        fx=fx, spot_quotes=quotes["spot"] or None, perp_quotes=quotes["perp"] or None,
        meta=meta)


def assemble_from_cache(venues=None, *, timeframe="1d", since=None, until=None, cache_dir=None):
    """Implementation of `btcflow_nb.from_cache` (see there)."""
    tf = _check_timeframe(timeframe)
    since_ms, until_ms = _to_ms(since, "since"), _to_ms(until, "until")
    if since_ms is not None and until_ms is not None and since_ms > until_ms:
        raise ValueError(f"since ({pd.Timestamp(since_ms, unit='ms', tz='UTC')}) is after until "
                         f"({pd.Timestamp(until_ms, unit='ms', tz='UTC')})")
    chosen = _with_fx(resolve_venues(venues))
    root = cache_root(cache_dir)
    present = [v for v in chosen if series_path(root, "ohlcv", v, tf).exists()]
    if not present:
        raise ValueError(f"the cache holds no {tf} data for the selected venues (looked in "
                         f"{root.parent}); run btcflow_nb.fetch(...) or `btcflow-nb fetch` first")
    notes = [f"foreign file in the cache directory (ignored): {p}"
             for p in foreign_files(cache_dir)]
    fetched = _fetched_at(present, root, tf)
    return _assemble(present, tf, root, since_ms, until_ms, source="cache", fetched_at=fetched,
                     errors={}, notes=notes, extra={"cache_dir": str(root.parent)})


def _fetched_at(venues, root, tf) -> Optional[str]:
    import json

    import pyarrow.parquet as pq

    stamps = []
    for v in venues:
        try:
            md = pq.read_schema(series_path(root, "ohlcv", v, tf)).metadata or {}
            stamp = json.loads(md.get(b"btcflow_nb", b"{}")).get("fetched_at")
        except Exception:  # noqa: BLE001 - a bad file is reported when it is read
            stamp = None
        if stamp:
            stamps.append(stamp)
    return max(stamps) if stamps else None
