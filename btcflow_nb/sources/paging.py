"""Paging one series: which ranges the cache misses (`_ranges`), the request for one page
(`_page_call`), and the loop that walks a range page by page (`_Pager`).

Each series is paged with our own loop -- not ccxt's ``paginate`` (10 pages at most) -- from
the first missing time to `until`: a page of up to the venue's page size (its real maximum,
declared in the registry, `btcflow_nb.sources.venues`); the next page starts after the last row
received.  The rules that end a series, go back over skipped rows or retry an empty page are in
`_Pager._forward`.
"""
from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Optional

import pandas as pd

from ..timeframes import bar_ms
from .config import RetryPolicy
from .exchanges import _with_retry
from .plan import _Plan
from .venue import Venue

_MAX_PAGES = 100_000
#: an empty window makes the next one twice as long (galloping), up to this many page spans:
#: a gap inside a series costs O(log(gap)) requests, not one per window
_MAX_GALLOP = 64
#: before a series' first row (discovery), each empty window makes the next one this many
#: times as long, without a cap: the empty decades before a listing cost ~2 log64(span)
#: requests (each empty window is asked twice; from 1900 to 2020 in 200-day pages: 5); the
#: first window holding rows is then read backwards page by page if the venue answers it with
#: its newest rows
_DISCOVERY_FACTOR = 64


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
    gallop: bool = False      # grow windows over empty spans (only where the venue and ccxt
    #                           honour any window asked: ccxt clamps OKX's statistics windows,
    #                           Binance COIN-M refuses kline windows over 200 days)
    on_page: object = None
    requests: int = 0
    rows: list = field(default_factory=list)

    async def run(self, lo: int, hi: int) -> list:
        stack = [(lo, hi, False)]
        while stack:
            a, b, backward = stack.pop()
            if backward:
                await self._backward(a, b)
            else:
                await self._forward(a, b, stack)
        return self.rows

    async def _page(self, since, until):
        if self.requests >= _MAX_PAGES:
            raise RuntimeError(f"{self.what}: more than {_MAX_PAGES} pages; stopping")
        page = await _with_retry(lambda: self.call(since, self.limit, until), self.policy,
                                 self.what)
        self.requests += 1
        return page or []

    async def _backward(self, a, b):
        """Page [a, b] backwards, for a venue that answers a window with its newest rows (only
        reached from a galloped window, i.e. where the venue honours any window asked): each
        page asks [a, first row received - 1]; a page that is not full, or reaches `a`, ends
        it (an empty one is asked once more)."""
        retried = False
        while a <= b:
            page = await self._page(a, b)
            inside = [(t, r) for t, r in ((self.time_of(r), r) for r in page)
                      if t is not None and a <= t <= b]
            if self.on_page:
                self.on_page(len(inside))
            if not inside:
                if retried:
                    return
                retried = True
                await asyncio.sleep(self.policy.delay(1))
                continue
            retried = False
            self.rows.extend(r for _, r in inside)
            first = min(t for t, _ in inside)
            if len(page) < self.limit or first - a <= self.step_ms:
                return
            b = first - 1

    async def _forward(self, a, b, stack):
        """Page [a, b] forwards; each page goes on from the last row received.

        A *short* page -- at least two rows fewer than `limit`, the venue's page size (what it
        returns when more rows exist) -- holds everything the venue has in the window asked,
        so when that window reaches `b` and its last row is within one step of `b`, the series
        is complete without another request.  Two, not one: a venue that takes the start in
        seconds repeats the row at the cursor's second and ccxt drops it (it is before
        `since`), so a full page can arrive one short.  A short page ending earlier is followed
        by one more request from its last row (no rows are lost if a venue serves smaller pages
        than declared; an empty answer then ends the window at once, without the retry), and so
        is an empty answer to a window shorter than one step (nothing was due in it: an
        incremental refresh costs one request per series).
        Without `until` the window is the venue's (or ccxt's: Kraken Futures' candles are asked
        for ``limit`` bars from `since`), so there the last-row rule is the only one.
        A full page whose first row lies more than one `step_ms` after the cursor (a venue that
        returned the *newest* rows of the window) makes the skipped part be asked too.  An
        empty page is asked once more before the window counts as empty.  With `gallop`, each window found empty before the range's first row makes
        the next one `_DISCOVERY_FACTOR` times as long (discovery: the empty decades before a
        listing cost a few requests), and after it twice as long up to `_MAX_GALLOP` page spans
        (gaps); a galloped window answered with its newest rows is read backwards
        (`_backward`: one request per page, no second discovery)."""
        cursor = a
        empty_retried = False
        after_short = False
        gallop = 1
        found = False             # a row received in this range (discovery is over)
        while cursor <= b:
            span = self.limit * self.step_ms * gallop
            window_end = min(b, cursor + span - 1) if self.use_until else b
            until = window_end if self.use_until else None
            page = await self._page(cursor, until)
            times = [self.time_of(r) for r in page]
            inside = [(t, r) for t, r in zip(times, page) if t is not None and a <= t <= b]
            inside = [(t, r) for t, r in inside if t >= cursor]
            if self.on_page:
                self.on_page(len(inside))
            if not inside:
                # a window shorter than one step (funding between two settlements, a refresh
                # at a bar close) is empty by schedule, not by a transient fault: no retry
                due = b - cursor >= self.step_ms
                if not empty_retried and not after_short and due:
                    empty_retried = True   # one more try: an empty page may be transient
                    await asyncio.sleep(self.policy.delay(1))
                    continue
                empty_retried = False
                if not self.use_until:
                    return            # nothing at or after `cursor`
                cursor = window_end + 1
                if self.gallop:
                    gallop = (gallop * _DISCOVERY_FACTOR if not found
                              else min(gallop * 2, _MAX_GALLOP))
                continue
            empty_retried = False
            self.rows.extend(r for _, r in inside)
            first, last = min(t for t, _ in inside), max(t for t, _ in inside)
            if len(page) >= self.limit and first - cursor > self.step_ms:
                # the venue kept the newest rows: go back (backwards, from a galloped window)
                stack.append((cursor, first - 1, gallop > 1))
            found, galloped, gallop = True, gallop > 1, 1
            if galloped and window_end >= b and last + self.step_ms > b:
                return         # a galloped window's rows reach `b`: nothing after them
            if self.last_possible is not None and last >= self.last_possible:
                return
            short = len(page) <= self.limit - 2
            if short and last + self.step_ms > b and (window_end >= b or not self.use_until):
                return     # a short page that reaches `b`: nothing more to ask for
            after_short = short
            cursor = last + 1


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


def _page_call(ex, venue: Venue, series: str, timeframe: Optional[str] = None):
    """The request for one page of `series` ("ohlcv", "funding", "oi_history") at `venue`:
    an async ``call(since_ms, page_size, until_ms_or_None) -> list`` of ccxt rows.  The page
    size is sent only for series in ``venue.limit_param`` (also as ``params={"limit": n}`` for
    series in ``venue.limit_in_params``, whose ccxt method drops it) and `until` only for
    series in ``venue.until_param`` (the pager passes None otherwise).

    For a series in ``venue.until_as_limit`` (ccxt derives the window's end from the page size:
    ``to = since + limit x bar``, and keeps the oldest ``limit`` rows) a window
    ``[since, until]`` holding ``k = (until - since) // bar + 1`` bar opens is sent as
    ``limit = k`` when ``k + 1`` bars still fit in one reply of the page size (a short window:
    every bar opened by `until` comes back), else as ``k - 1`` (ccxt's ``to`` stays within
    `until`, so a reply never holds more bars than the page; its last bar is then dropped by
    ccxt and asked again by the next page)."""
    if series in getattr(venue, "until_as_limit", ()):   # a Venue; other records: none
        if timeframe is None:
            raise ValueError(f"{venue.name}: until_as_limit needs a timeframe; {series!r} has "
                             "none (valid: ohlcv, oi_history)")
        plain = _page_call(ex, dataclasses.replace(venue, until_as_limit=(), until_param=(),
                                                   limit_param=(series,)), series, timeframe)
        step = bar_ms(timeframe)

        def windowed(s, n, u):
            if u is None:
                return plain(s, n, None)
            k = (u - s) // step + 1
            return plain(s, k if k + 1 <= n else max(1, k - 1), None)
        return windowed

    def limit(n):
        return n if series in venue.limit_param else None

    in_params = series in getattr(venue, "limit_in_params", ())   # a Venue; others: none

    def params(until, n):
        out = {} if until is None else {"until": until}
        if in_params and limit(n) is not None:
            out["limit"] = n       # the venue's own query parameter (ccxt drops its `limit`)
        return out

    if series == "ohlcv":
        return lambda s, n, u: ex.fetch_ohlcv(venue.symbol, timeframe, since=s, limit=limit(n),
                                              params=params(u, n))
    if series == "funding":
        return lambda s, n, u: ex.fetch_funding_rate_history(venue.symbol, since=s,
                                                             limit=limit(n), params=params(u, n))
    if series == "oi_history":
        return lambda s, n, u: ex.fetch_open_interest_history(
            venue.symbol, timeframe, since=s, limit=limit(n), params=params(u, n))
    raise ValueError(f"series {series!r} is not paged; valid: ohlcv, funding, oi_history")
