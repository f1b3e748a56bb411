"""One venue's series, fetched one after another: OHLCV, funding, OI history, OI snapshot.

`_fetch_venue` loads the venue's market, then runs one step per series, each a module function
over a `_Run` (the venue, its exchange and market, the `_Plan`, the cache root, the retry policy,
the progress bar, the redactor, and the `_VenueResult` being filled).  Every step pages only
what the cache misses (`btcflow_nb.sources.paging`).  A series that fails -- or is asked for
and served nothing -- is reported in the result (its rows fetched so far are kept); the venue's
other series are still fetched.

The one order dependency is explicit: `_funding` returns the raw funding rows and `_oi_history`
takes them as an argument, because a ``"funding_info"`` venue's OI history is read from them.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pandas as pd

from ..timeframes import bar_ms
from . import checks, parse
from .cache import cached_closes, holes_of, read_or_reset, series_path
from .config import RetryPolicy
from .exchanges import _with_retry
from .paging import _Pager, _page_call, _ranges
from .plan import FETCH_TIMEFRAMES, _Plan
from .venue import Venue

log = logging.getLogger("btcflow_nb.fetch")

#: default history of daily bars when no `since` is given: from each venue's first bar or this
#: date, whichever is later (deep enough for weekly and monthly cycle reading)
DEEP_HISTORY_FROM = "2019-01-01"
_DEEP_HISTORY_MS = 1_546_300_800_000          # 2019-01-01T00:00:00Z
#: default history of 1h / 4h bars: the last 365 days (8760 hourly bars; the deep daily history
#: hourly would be ~65k bars per venue -- ask with an explicit `since` for that)
_DEFAULT_HISTORY_DAYS = 365


@dataclass
class _VenueResult:
    venue: Venue
    new: dict = field(default_factory=dict)     # series -> raw frame
    covered: dict = field(default_factory=dict)  # series -> earliest time fully asked for
    served_limit: dict = field(default_factory=dict)  # series -> first time the venue serves
    error: Optional[str] = None
    notes: list = field(default_factory=list)
    requests: int = 0
    rejected: checks.Rejected = field(default_factory=checks.Rejected)  # rows never cached
    holes: dict = field(default_factory=dict)   # series -> ranges the cache lost (to ask)
    filled: dict = field(default_factory=dict)  # series -> those of them asked of the venue


@dataclass
class _Run:
    """One venue's fetch in progress: what its steps read, and where they report.

    The steps -- `_prices`, `_funding`, `_oi_history`, `_oi_snapshot` -- are module functions
    over this object, run one after another by `_fetch_venue`.  They add rows to `result`,
    OI frames to `oi_frames`, pages to the progress `bar` (`_tick`) and failures to `failures`.
    """

    venue: Venue
    ex: object                    # the prepared ccxt.async_support exchange
    plan: _Plan                   # timeframe and [since, until]
    root: Path                    # the cache root (``<cache dir>/v1``)
    policy: RetryPolicy
    bar: object                   # tqdm progress bar, or None
    redact: Callable[[object], str]
    result: _VenueResult
    market: Optional[dict] = None  # ccxt's market for venue.symbol, once markets are loaded
    oi_frames: list = field(default_factory=list)   # OI history and snapshot frames
    counted: list = field(default_factory=list)     # rows received per page (progress)
    failures: list = field(default_factory=list)    # "series: Error: reason"
    cached_bars: Optional[pd.DataFrame] = None       # the OHLCV cached before this fetch

    @property
    def tf_ms(self) -> int:
        return bar_ms(self.plan.timeframe)

    @property
    def default_start(self) -> int:
        """Where a series with nothing cached starts when no `since` was given: 2019-01-01
        (`DEEP_HISTORY_FROM`) for daily bars, 365 days before `until` for 1h / 4h bars; each
        series then starts at the later of this and its venue's first served time."""
        if self.plan.timeframe == "1d":
            return min(_DEEP_HISTORY_MS, self.plan.until)
        return self.plan.until - _DEFAULT_HISTORY_DAYS * 86_400_000

    def first_served(self, series: str, step_ms: int):   # registry knowledge, or None
        return self.venue.first_served(series, int(time.time() * 1000), step_ms)

    def use_until(self, series: str) -> bool:
        return series in self.venue.until_param or series in self.venue.until_as_limit


async def _fetch_venue(venue: Venue, ex, plan: _Plan, root, policy: RetryPolicy, bar,
                       redact) -> _VenueResult:
    """Fetch one venue's series one after another.  A series that fails is reported (its rows
    fetched so far are kept) and the venue's other series are still fetched.

    Order matters once: the OI history of a ``"funding_info"`` venue (Bitfinex) is read from
    the funding rows, so `_funding` runs first and its rows are handed to `_oi_history`."""
    run = _Run(venue, ex, plan, root, policy, bar, redact, _VenueResult(venue))
    if await _load_market(run):
        await _guarded(run, "ohlcv", _prices)
        funding_rows = await _funding(run) if venue.funding_history else []
        if venue.oi_history:
            await _guarded(run, "open interest history", _oi_history, funding_rows)
        if venue.oi_snapshot:
            await _guarded(run, "open interest snapshot", _oi_snapshot)
        frames = [f for f in run.oi_frames if len(f)]
        if frames:
            run.result.new["open_interest"] = checks.check_oi(parse.dedupe_by_time(
                pd.concat(frames, ignore_index=True)), run.result.rejected)
    if run.result.rejected:   # reported twice: the venue's error and a note
        run.failures.append(run.result.rejected.note(venue.name))
        run.result.notes.append(run.result.rejected.note(venue.name))
    if run.failures:
        run.result.error = redact("; ".join(run.failures))[:800]
        log.warning("%s failed: %s", venue.name, run.result.error)
    return run.result


def _step_errors() -> tuple:
    """What fails one series (or a venue's markets) without stopping the fetch."""
    import ccxt

    return (ccxt.BaseError, ValueError, RuntimeError, OSError, KeyError, TypeError,
            asyncio.TimeoutError)


async def _load_market(run: _Run) -> bool:
    """Load the exchange's markets and set ``run.market``; False (the reason recorded in
    ``run.failures``) when they cannot be loaded or lack the venue's symbol."""
    venue, ex = run.venue, run.ex
    try:
        await _with_retry(lambda: ex.load_markets(), run.policy, f"{venue.name} load_markets")
        if venue.symbol not in ex.markets:
            btc = sorted(s for s in ex.markets if s.startswith("BTC/"))
            raise ValueError(f"unknown symbol {venue.symbol!r} at {ex.id}; BTC symbols there: "
                             f"{btc[:30]}")
    except _step_errors() as exc:
        run.failures.append(f"{type(exc).__name__}: {exc}")
        return False
    run.market = ex.market(venue.symbol)
    return True


async def _guarded(run: _Run, series: str, step, *args) -> None:
    """``await step(run, *args)``; a failure is recorded in ``run.failures`` under `series`."""
    try:
        await step(run, *args)
    except _step_errors() as exc:
        run.failures.append(f"{series}: {type(exc).__name__}: {exc}")


def _tick(run: _Run, n_rows: int) -> None:
    """One page received (`n_rows` rows in the window asked): advance the progress bar."""
    if run.bar is not None:
        run.bar.update(1)
        run.bar.set_postfix_str(f"{sum(run.counted) + n_rows} rows", refresh=False)
    run.counted.append(n_rows)


async def _page_missing(run: _Run, pager: _Pager, cached, covered, series: str,
                        reopen_last: bool = False, first_served=None) -> None:
    """Page every range the cache misses, each started no earlier than `first_served` (the
    venue's first served time, when the registry knows it: no request goes to a window the
    venue cannot fill); note how far back the series is now asked for -- the ranges as asked,
    before that clamp -- and count the requests (also when a page fails)."""
    holes = [h for h in run.result.holes.get(series, ()) if len(cached)]
    try:
        ranges = _ranges(cached, run.plan, reopen_last, run.default_start, covered)
        if first_served is not None:
            run.result.served_limit[series] = first_served
        asked = []
        for k, (lo0, hi) in enumerate(ranges + holes):   # a hole: asked once, then forgotten
            lo = lo0 if first_served is None else max(lo0, first_served)
            if lo <= min(hi, run.plan.until):
                asked.append(lo)
                await pager.run(lo, min(hi, run.plan.until))
            if k >= len(ranges) and (hi <= run.plan.until or lo > hi):
                run.result.filled.setdefault(series, []).append((lo0, hi))
        run.result.covered[series] = min([lo for lo, _ in ranges], default=None)
        if asked and not pager.rows and not len(cached):
            # silence is never success: history asked for and not one row served
            start = pd.Timestamp(min(asked), unit="ms", tz="UTC")
            run.failures.append(f"{series}: asked from {start:%Y-%m-%d %H:%M} in "
                                f"{pager.requests} request(s), the venue served nothing")
    finally:
        run.result.requests += pager.requests


async def _prices(run: _Run) -> None:
    """OHLCV bars into ``result.new["ohlcv"]`` (the last cached bar is asked again: it may
    have been open)."""
    venue, plan, tf_ms = run.venue, run.plan, run.tf_ms
    path = series_path(run.root, "ohlcv", venue, plan.timeframe)
    cached, covered = _read_or_reset(run, path, "ohlcv", plan.timeframe)
    run.cached_bars = cached
    pager = _Pager(
        call=_checked_call(run, "ohlcv", _page_call(run.ex, venue, "ohlcv", plan.timeframe),
                           venue.ohlcv_page_limit),
        time_of=lambda r: None if not r or r[0] is None else int(r[0]),
        limit=venue.ohlcv_page_limit, step_ms=tf_ms, use_until=run.use_until("ohlcv"),
        gallop="ohlcv" in venue.gallop_series,
        policy=run.policy, what=f"{venue.name} ohlcv",
        last_possible=(plan.until // tf_ms) * tf_ms, on_page=functools.partial(_tick, run))
    try:
        await _page_missing(run, pager, cached, covered, "ohlcv", reopen_last=True,
                            first_served=run.first_served("ohlcv", tf_ms))
    finally:
        new = checks.check_ohlcv(parse.ohlcv_frame(pager.rows), tf_ms, run.result.rejected,
                                 cached=cached, peers=_peer_closes(run),
                                 band=checks.FX_BAND if venue.kind == "fx" else None)
        run.result.new["ohlcv"] = new
        _silence(run, "ohlcv", cached, new, tf_ms)


async def _funding(run: _Run) -> list:
    """Funding events into ``result.new["funding"]``; returns the raw ccxt rows received --
    also those received before a failure (recorded like any series' failure).

    A ``"funding_info"`` venue's OI history is read from them (`_oi_history` runs after)."""
    rows: list = []
    await _guarded(run, "funding", _page_funding, rows)
    return rows


async def _page_funding(run: _Run, rows: list) -> None:
    """The funding step proper: pages what the cache misses; the raw rows go to `rows`."""
    venue, ex, market = run.venue, run.ex, run.market
    if not ex.has.get("fetchFundingRateHistory"):
        run.result.notes.append(f"{venue.name}: ccxt {ex.id} has no fetchFundingRateHistory")
        return
    path = series_path(run.root, "funding", venue)
    cached, covered = _read_or_reset(run, path, "funding")
    step_h = venue.funding_interval_hours or _market_interval(venue, market) or 8.0
    pager = _Pager(
        call=_checked_call(run, "funding", _page_call(ex, venue, "funding"),
                           venue.funding_page_limit),
        time_of=lambda r: r.get("timestamp"), limit=venue.funding_page_limit,
        step_ms=int(step_h * 3_600_000), use_until=run.use_until("funding"), policy=run.policy,
        gallop="funding" in venue.gallop_series,
        what=f"{venue.name} funding", on_page=functools.partial(_tick, run))
    try:
        await _page_missing(run, pager, cached, covered, "funding",
                            first_served=run.first_served("funding", int(step_h * 3_600_000)))
    finally:
        rows.extend(pager.rows)
        run.result.new["funding"] = checks.check_funding(parse.funding_frame(
            pager.rows, venue, market_interval_hours=_market_interval(venue, market)), venue,
            run.result.rejected)
        _silence(run, "funding", cached, run.result.new["funding"], int(step_h * 3_600_000),
                 f"{step_h:g} h funding interval")


async def _oi_history(run: _Run, funding_rows: list) -> None:
    """Open-interest history into ``run.oi_frames``: from the venue's OI-history endpoint, or,
    for a ``"funding_info"`` venue, from `funding_rows` (what `_funding` received)."""
    venue, ex = run.venue, run.ex
    if venue.oi_history_source == "funding_info":
        run.oi_frames.append(parse.oi_from_info_rows(funding_rows, venue.oi_info_index))
        return
    if not ex.has.get("fetchOpenInterestHistory"):
        run.result.notes.append(f"{venue.name}: ccxt {ex.id} has no fetchOpenInterestHistory")
        return
    path = series_path(run.root, "open_interest", venue)
    cached, covered = _read_or_reset(run, path, "open_interest")
    hist = cached[cached["kind"] == "history"] if len(cached) else cached
    oi_tf = _oi_timeframe(venue, run.plan.timeframe)
    pager = _Pager(
        call=_checked_call(run, "open interest", _page_call(ex, venue, "oi_history", oi_tf),
                           venue.oi_page_limit),
        time_of=lambda r: r.get("timestamp"), limit=venue.oi_page_limit,
        step_ms=bar_ms(oi_tf), use_until=run.use_until("oi_history"), policy=run.policy,
        gallop="oi_history" in venue.gallop_series,
        what=f"{venue.name} open interest", on_page=functools.partial(_tick, run))
    try:
        await _page_missing(run, pager, hist, covered, "open_interest",
                            first_served=run.first_served("oi_history", bar_ms(oi_tf)))
    finally:
        new = parse.oi_frame(pager.rows, venue, run.market.get("contractSize"), kind="history")
        run.oi_frames.append(new)
        _silence(run, "open interest", hist, new, bar_ms(oi_tf), f"{oi_tf} period")


async def _oi_snapshot(run: _Run) -> None:
    """The venue's current open interest into ``run.oi_frames`` (so OI history grows
    locally, one sample per fetch)."""
    venue, ex = run.venue, run.ex
    if venue.oi_ticker_field:        # the OI a ticker carries (Kraken Futures)
        run.result.requests += 1
        ticker = await _with_retry(lambda: ex.fetch_ticker(venue.symbol), run.policy,
                                   f"{venue.name} ticker")
        snap = parse.oi_from_ticker(venue.oi_ticker_field, ticker)
    elif not ex.has.get("fetchOpenInterest"):
        run.result.notes.append(f"{venue.name}: ccxt {ex.id} has no fetchOpenInterest")
        return
    else:
        run.result.requests += 1
        snap = await _with_retry(lambda: ex.fetch_open_interest(venue.symbol), run.policy,
                                 f"{venue.name} open interest snapshot")
    _tick(run, 1)
    if not snap or (snap.get("openInterestAmount") is None
                    and snap.get("openInterestValue") is None):
        run.failures.append(f"open interest snapshot: {venue.exchange_id} answered no open "
                            f"interest ({snap!r:.80}); no snapshot recorded")
    else:
        snap = dict(snap)
        if snap.get("timestamp") is None:   # e.g. Hyperliquid: stamp it ourselves
            snap["timestamp"] = int(time.time() * 1000)
        bars = [f for f in (run.result.new.get("ohlcv"), run.cached_bars) if f is not None]
        # bars up to the fetch's end only: a replay (until in the past) over a fuller cache
        # must not call the venue's answer at `until` stale
        newest = max((min(int(pd.DatetimeIndex(f["time"]).as_unit("ms").asi8.max()),
                          run.plan.until) for f in bars if len(f)), default=None)
        stale = checks.stale_snapshot(int(snap["timestamp"]), newest)
        if stale:                            # silence is never success: an old value repeated
            run.failures.append(f"open interest snapshot: {stale}; not stored")
            return
        run.oi_frames.append(parse.oi_frame([snap], venue, run.market.get("contractSize"),
                                            kind="snapshot",
                                            amount_unit=venue.oi_snapshot_amount))


def _checked_call(run: _Run, series: str, call, limit: int):
    """`call` with its reply checked: a page of more rows than asked -- `limit`, the venue's
    page size, when it is sent (`Venue.limit_param`), else `checks.MAX_PAGE_ROWS` (a venue
    that ignores page sizes may answer more than its declared page) -- is rejected whole
    (`checks.ReplyRejected`, which fails the series) and counted."""
    sent = {"open interest": "oi_history"}.get(series, series) in run.venue.limit_param

    async def checked(since, n, until):
        page = await call(since, n, until)
        try:
            cap = limit if sent else checks.MAX_PAGE_ROWS
            checks.check_page(len(page or ()), cap, f"{run.venue.name} {series}")
        except checks.ReplyRejected:
            run.result.rejected.add_count(series, "reply larger than the page asked",
                                          len(page), {"rows": len(page), "limit": cap})
            raise
        return page
    return checked


def _silence(run: _Run, series: str, cached, new, step_ms: int, unit: str = "bar") -> None:
    """Record a failure when the venue served nothing after its last cached row although at
    least three whole steps (bars, funding intervals, OI periods) have passed since (silence is
    never success)."""
    if not len(cached):
        return
    last = int(pd.DatetimeIndex(cached["time"]).as_unit("ms").asi8.max())
    fresh = len(new) and int(pd.DatetimeIndex(new["time"]).as_unit("ms").asi8.max()) > last
    if not fresh and last + 3 * step_ms <= run.plan.until:
        missed = (run.plan.until - last) // step_ms - 1
        run.failures.append(f"{series}: no new rows although {missed} {unit}(s) "
                            f"{'closed' if unit == 'bar' else 'passed'} since the last cached "
                            f"one ({pd.Timestamp(last, unit='ms', tz='UTC')}); the cache stays "
                            f"stale")


def _peer_closes(run: _Run):
    """Closes of the other spot and perp venues cached for this timeframe
    (`cache.cached_closes`), the reference of `checks.check_ohlcv`; None for fx series."""
    own = series_path(run.root, "ohlcv", run.venue, run.plan.timeframe)
    return None if run.venue.kind == "fx" else cached_closes(own.parent, exclude=(own,))

def _read_or_reset(run: _Run, path, series: str, timeframe=None):
    """(cached frame, covered_from ms or None) of `series` (`cache.read_or_reset`); the
    ranges the file lost go to ``run.result.holes`` (`_page_missing` asks them again)."""
    frame, meta = read_or_reset(path, series, run.venue, timeframe, run.result.notes)
    run.result.holes[series] = holes_of(meta)
    return frame, (meta or {}).get("covered_from")


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
