"""One venue's series, fetched one after another: OHLCV, funding, OI history, OI snapshot.

A series that fails is reported in the venue's `_VenueResult` (its rows fetched so far are kept)
and the venue's other series are still fetched.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Optional

import pandas as pd

from . import parse
from .cache import CacheError, read_series, series_path
from .config import RetryPolicy
from .exchanges import _with_retry
from .paging import _Pager, _page_call, _ranges
from .plan import _TF_MS, FETCH_TIMEFRAMES, _Plan
from .venue import Venue

log = logging.getLogger("btcflow_nb.fetch")

_DEFAULT_HISTORY_DAYS = 365


@dataclass
class _VenueResult:
    venue: Venue
    new: dict = field(default_factory=dict)     # series -> raw frame
    covered: dict = field(default_factory=dict)  # series -> earliest time fully asked for
    error: Optional[str] = None
    notes: list = field(default_factory=list)
    requests: int = 0


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
