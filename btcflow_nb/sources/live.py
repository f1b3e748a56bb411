"""Live exchange data: concurrent ccxt fetching into the Parquet cache, as a MarketData.

>>> md = btcflow_nb.fetch(since="2024-01-01")                 # doctest: +SKIP
>>> md.coverage()                                             # doctest: +SKIP

How a fetch works
-----------------
1. Venues come from `btcflow_nb.sources.venues` (defaults, plus the configuration file, plus
   any `Venue` you pass).  The USDT/USD and USDC/USD series (Kraken spot closes) are added when
   a selected venue is quoted in USDT / USDC.
2. One ccxt *async* exchange per ccxt id (``enableRateLimit`` on: every request waits for the
   exchange's rate limit, paced from request start by `btcflow_nb.sources.exchanges._Pacer`:
   ``rateLimit`` x the endpoint's ccxt cost after the previous request started); all venues run
   concurrently (``asyncio.gather``); the series of one venue run one after another
   (`btcflow_nb.sources.series`).
3. Each series is paged with our own loop (`btcflow_nb.sources.paging`) -- not ccxt's
   ``paginate`` (10 pages at most) -- from the first missing time to `until`: a page of up to
   the venue's page size (its real maximum, declared in the registry); the next page starts
   after the last row received.  A page at least two rows short of the page size holds
   everything up to the end of the window asked, so a short page whose last row is within one
   step of `until` ends the series without another request (a refresh costs one request per
   series); one ending earlier is followed by one more request, so a venue serving smaller
   pages than declared loses no rows.  A full page whose first row is more than one step after
   the requested start (a venue returning the *newest* rows of a window) makes the skipped part
   be requested too; an empty page is asked once more before the window is taken as empty.
4. Failed requests (network errors, timeouts, 429 -- honouring Retry-After --, 5xx whatever
   ccxt class they map to, malformed bodies) are retried with exponential backoff.
   What still fails is reported per venue in ``meta["errors"]``; rows fetched before the
   failure are kept.  Only when every venue fails does `fetch` raise (`FetchError`, listing
   every reason).
5. New rows are merged into the cache (`btcflow_nb.sources.cache`, atomic writes) as soon as a
   venue is done (the bars of a venue with none cached wait for every venue, to be judged
   against them: `checks.check_first_fetch`); the venue's current open interest is
   recorded as a snapshot so OI history grows locally, and the MarketData is assembled from the
   cache for [since, until] (`btcflow_nb.sources.assemble`) while the exchanges close.

Units (see `btcflow_nb.sources.venue` for per-venue semantics): closes in the venue's quote,
converted to USD by `MarketData.from_frames` with the fx series; funding as (fraction per
interval, interval hours); OI in BTC and USD (`btcflow_nb.sources.parse.oi_to_btc_usd`).

API keys are never needed.  If exchange objects carry keys, the keys are redacted from every
error message, log line and ``meta`` entry, and they never reach the cache.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..timeframes import to_ms
from .assemble import _assemble, _with_fx
from . import checks
from .cache import CacheError, cache_root, cached_closes, merge_into, series_path
from .config import (RetryPolicy, check_cache_dir, check_exchanges, check_flag,
                     load_config)
from .dated import dated_selection
from .dated_fetch import dated_exchanges, fetch_dated_venues
from .exchanges import _make_exchange, _prepare_exchange, _redactor, _run
from .plan import _Plan, fetch_timeframe
from .series import _fetch_venue, _VenueResult
from .venue import Venue
from .venues import fetchable_venues, resolve_venues

log = logging.getLogger("btcflow_nb.fetch")


class FetchError(RuntimeError):
    """Every selected venue failed; `errors` maps each venue to its reason."""

    def __init__(self, errors: dict):
        self.errors = dict(errors)
        lines = "; ".join(f"{k}: {v}" for k, v in self.errors.items())
        super().__init__(f"every venue failed ({len(self.errors)}): {lines} (data cached "
                         "earlier is still there: btcflow_nb.from_cache())")


def fetch(venues=None, since=None, until=None, timeframe: str = "1d", cache_dir=None,
          exchanges=None, progress: bool = True, dated=None):
    """Fetch live data from the venues (concurrently, via ccxt), update the cache, return a
    `MarketData` (``meta["source"] == "live"``).

    venues: None (every spot and perp venue of the registry) or a list of venue names
        ("spot:binance", "perp:kucoin"), bare keys ("binance" = spot and perp), "spot", "perp",
        or `btcflow_nb.sources.Venue` objects (your own venues / symbols).
    since, until: dates ("2024-01-01"), Timestamps, epoch ms, or durations before now ("90D");
        naive times are UTC.  since=None resumes from the cache; a series with nothing cached
        starts at the later of its venue's first bar and 2019-01-01 for daily bars (365 days
        before `until` for 1h / 4h bars).  An early since costs no requests before the venue's
        first served time when the registry knows it, and a few (galloping over empty
        windows) when it does not.  until=None means now.  The result covers [since, until]
        from the cache; ``meta["depth"][venue][series]`` says what was asked and what the venue
        served (``asked_from``, ``served_from``, ``rows``), with a note in ``meta["notes"]``
        when a venue served less than asked.
    timeframe: bar size asked from the venues: "1h", "4h" or "1d" (build coarser bars with
        ``md.resample``).
    cache_dir: cache directory (default: see `btcflow_nb.sources.cache`); ``False`` disables the
        cache (nothing read or written; OI snapshots are then not kept).
    exchanges: {ccxt exchange id or venue name: ready ``ccxt.async_support`` exchange} to use
        instead of building one -- proxies, keys, options, a test server.  Exchanges built here
        use the configuration (``BTCFLOW_NB_CONFIG``, ``BTCFLOW_NB_API_BASE``).
    progress: a tqdm progress bar per venue (``tqdm.auto``: Jupyter widget or terminal).
    dated: the dated (expiring) BTC futures fetched beside the perps into ``md.futures``
        (`btcflow_nb.sources.dated.dated_selection`): True (every venue), False (none), or
        venue key(s) ("deribit"); None: every venue when `venues` is None, else none fetched
        (the cached ones still come along); they share the perps' exchange objects; a refresh costs about
        one request per contract; a failed venue is in ``meta["errors"]`` as future:<key>.

    Returns the MarketData; ``meta["errors"]`` names each failed venue with its reason (its rows
    fetched before the failure are kept).  Raises `FetchError` when every venue fails, and
    ValueError for bad arguments (unknown venue or symbol, since after until, a timeframe the
    venue does not serve).
    """
    tf = fetch_timeframe(timeframe)
    since_ms, until_ms = to_ms(since, "since"), to_ms(until, "until")
    progress, cache_dir = check_flag("progress", progress), check_cache_dir(cache_dir)
    now_ms = int(time.time() * 1000)
    until_ms = now_ms if until_ms is None else until_ms
    if since_ms is not None and since_ms > until_ms:
        raise ValueError(f"since ({pd.Timestamp(since_ms, unit='ms', tz='UTC')}) is after until "
                         f"({pd.Timestamp(until_ms, unit='ms', tz='UTC')})")
    explicit_venues = venues is not None
    chosen = _with_fx(fetchable_venues(resolve_venues(venues), venues))
    dated_venues = dated_selection(dated, venues)
    cfg = load_config()
    built, objects = {}, {}
    exchanges = check_exchanges(exchanges)
    valid_keys = {v.exchange_id for v in chosen + dated_venues} | {v.name for v in chosen} | {
        v.key for v in dated_venues}
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
    objects.update(dated_exchanges(dated_venues, exchanges, built, cfg))
    # timeframe support, checked against the exchange classes (no network)
    problems = {}
    for v in chosen + dated_venues:
        tfs = objects[v.name].timeframes or {}
        if tf not in tfs:
            problems[v.name] = (f"timeframe {tf!r} is not served by {v.exchange_id}; it serves "
                                f"{sorted(tfs)}")
    if problems and explicit_venues:
        raise ValueError("; ".join(problems.values()))
    plan = _Plan(tf, since_ms if since_ms is not None else 0, until_ms, since_ms is not None,
                 explicit_until=until is not None)
    use_cache = cache_dir is not False
    root = cache_root(None if cache_dir in (None, False) else cache_dir)
    if not use_cache:
        import tempfile
        tmpdir = tempfile.TemporaryDirectory(prefix="btcflow-nocache-")
        root = cache_root(tmpdir.name)
    try:
        return _fetch_into(_Request(plan, chosen, objects, problems, cfg.retry, progress, root,
                                    use_cache, [v for v in dated_venues
                                                if v.name not in problems],
                                    None if dated is None else [v.key for v in dated_venues]))
    finally:
        if not use_cache:
            tmpdir.cleanup()


@dataclass
class _Request:
    """One `fetch` call, its arguments checked: what to ask for (`plan`: the timeframe and the
    time range), from whom, and where the rows go."""

    plan: _Plan
    venues: list          # the selected venues, fx series included
    exchanges: dict       # venue name -> ccxt.async_support exchange
    problems: dict        # venue name -> why it is not fetched (timeframe not served)
    policy: RetryPolicy
    progress: bool        # tqdm bars
    root: Path            # the cache root (a temporary one when the cache is off)
    use_cache: bool
    dated: list = ()      # the dated-futures venues (`dated.DatedVenue`) fetched too
    dated_cached: list = None   # the dated venues (keys) in md.futures (None: all cached)

    @property
    def to_fetch(self) -> list:
        return [v for v in self.venues if v.name not in self.problems]



def _fetch_into(req: _Request):
    redact = _redactor(set(req.exchanges.values()))
    fetched_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    tf = req.plan.timeframe
    venue_notes, depth = {}, {}
    # venues with no cached bars yet: their OHLCV waits for the other venues (`_hold_check`)
    first_fetch = {v.name for v in req.to_fetch if v.kind in ("spot", "perp")
                   and not series_path(req.root, "ohlcv", v, tf).exists()}
    held = []

    def store(r: _VenueResult, only=None) -> None:
        """Merge one venue's new rows into the cache (run as soon as the venue is done, while
        slower venues still wait on their rate limits); note what each series was asked for and
        what the venue served.  A first-fetched venue's OHLCV is held (`only` then writes it)."""
        notes_here = venue_notes.setdefault(r.venue.name, [])
        if only is None:
            notes_here.extend(redact(n) for n in r.notes)
        for series, frame in r.new.items():
            if only is not None and series not in only:
                continue
            if only is None and series == "ohlcv" and r.venue.name in first_fetch:
                held.append(r)
                continue
            try:
                merged, covered = _store(req.root, series, r.venue, tf, frame, fetched_at,
                                         notes_here, r.covered.get(series), r.filled.get(series))
            except (CacheError, OSError) as exc:   # disk full, a lock held too long, ...
                failure = redact(f"cache write of {series} failed: {type(exc).__name__}: {exc}")
                r.error = f"{r.error}; {failure}" if r.error else failure
                log.warning("%s %s", r.venue.name, failure)
                continue
            entry = _depth_entry(r.venue, series, merged, covered, r.served_limit.get(series))
            if entry is not None:
                depth.setdefault(r.venue.name, {})[series] = entry[0]
                if entry[1]:
                    notes_here.append(entry[1])

    def release_held() -> None:
        """Check the held first-fetch OHLCV against every other venue's closes of the run
        (`checks.check_first_fetch`), then write what passed."""
        if not held:
            return
        folder = series_path(req.root, "ohlcv", held[0].venue, tf).parent
        own = tuple(series_path(req.root, "ohlcv", r.venue, tf) for r in held)
        found = {}
        kept = checks.check_first_fetch({r.venue.name: r.new["ohlcv"] for r in held},
                                        cached_closes(folder, exclude=own), found)
        for r in held:
            r.new["ohlcv"] = kept[r.venue.name]
            bad = found.get(r.venue.name)
            if bad:
                r.rejected.merge(bad)
                note = bad.note(r.venue.name)
                r.error = f"{r.error}; {note}" if r.error else note
                venue_notes[r.venue.name].append(note)
            store(r, only=("ohlcv",))

    def finish(results, dated_results):
        """The MarketData from the cache (runs while the exchanges close), once the held
        first-fetch bars are checked and written."""
        release_held()
        errors = {name: why for name, why in req.problems.items()
                  if not name.startswith("future:")}
        notes = []
        for r in results:
            if r.error:
                errors[r.venue.name] = r.error
            notes.extend(venue_notes.get(r.venue.name, ()))
        dated_errors = {f"future:{k}": redact(e) for k, (e, *_) in dated_results.items() if e}
        if errors and len(errors) == len(req.venues) and not any(
                len(f) for r in results for f in r.new.values()) and len(dated_errors) == len(
                    dated_results):
            raise FetchError({**errors, **dated_errors})
        errors.update(dated_errors)
        notes.extend(redact(n) for *_, extra in dated_results.values() for n in extra)
        errors.update({n: why for n, why in req.problems.items() if n.startswith("future:")})
        # "up to now": include what was stamped during the fetch (snapshots)
        end_ms = req.plan.until if req.plan.explicit_until else int(time.time() * 1000)
        return _assemble(req.venues, tf, req.root, req.plan.since_or_none, end_ms,
                         dated=req.dated_cached,
                         source="live", fetched_at=fetched_at, errors=errors, notes=notes,
                         extra={"requests": {r.venue.name: r.requests for r in results},
                                "rejected": {r.venue.name: r.rejected.as_dict() for r in results
                                             if r.rejected},
                                "depth": depth,
                                "cache_dir": str(req.root.parent) if req.use_cache else None})

    return _run(_fetch_all(req, redact, store, finish))


def _store(root, series, venue, tf, frame, fetched_at, notes, covered_from=None, filled=()):
    """Merge `frame` into the cached series under its cross-process lock (`cache.merge_into`);
    returns (the series as cached now, the earliest time it was ever asked from -- None when
    unknown)."""
    timeframe = tf if series == "ohlcv" else None
    merged, _meta, covered = merge_into(series_path(root, series, venue, timeframe), frame,
                                        series, venue, timeframe, fetched_at, covered_from,
                                        notes=notes, filled=filled)
    return merged, covered


#: series name in `meta["depth"]` -> (words in notes, the registry's series name)
_DEPTH_SERIES = {"ohlcv": ("ohlcv", "ohlcv"), "funding": ("funding", "funding"),
                 "open_interest": ("open interest", "oi_history")}
_DAY_MS = 86_400_000


def _depth_entry(venue, series, cached, asked_ms, served_limit=None):
    """(``{"asked_from", "served_from", "rows"}``, note or "") for one series after a fetch,
    or None when it was never asked for.

    asked_from: the earliest time the series was ever asked from (this fetch's `since`, or the
    default history, or an earlier fetch's); served_from: its first row in the cache (OI: the
    first history sample; snapshots do not count); rows: how many.  The note says when the
    venue served less than asked -- its first row more than a day (or a bar) after
    asked_from -- and why, when the registry knows (`Venue.depth_text`)."""
    if series not in _DEPTH_SERIES or asked_ms is None:
        return None
    if series == "open_interest" and len(cached):
        cached = cached[cached["kind"] == "history"]
    times = pd.DatetimeIndex(cached["time"]).as_unit("ms").asi8 if len(cached) else []
    served = int(times[0]) if len(times) else None
    entry = {"asked_from": _iso(asked_ms), "served_from": _iso(served), "rows": int(len(times))}
    words, registry_series = _DEPTH_SERIES[series]
    step = _DAY_MS if len(times) < 2 else max(_DAY_MS, int(times[1] - times[0]))
    if served is not None and served - asked_ms <= step:
        return entry, ""
    why = venue.depth_text(registry_series)
    if served is None:
        note = f"{venue.name} {words}: asked from {_iso(asked_ms)}, nothing served"
    else:
        note = (f"{venue.name} {words}: asked from {_iso(asked_ms)}, served from "
                f"{_iso(served)}")
    return entry, note + (f" ({venue.exchange_id}: {why})" if why else "")


def _iso(ms):
    """Epoch ms as an ISO date ("2019-01-01"), with the time when it is not midnight UTC."""
    if ms is None:
        return None
    ts = pd.Timestamp(int(ms), unit="ms", tz="UTC")
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M")


async def _fetch_all(req: _Request, redact, store=None, finish=None):
    """Fetch every venue of ``req.to_fetch`` concurrently; `store(result)` runs in a worker
    thread as soon as each venue is done (cache writes overlap the other venues' network time).
    Returns the list of `_VenueResult`, or ``finish(results)`` -- run in a worker thread while
    the exchanges close (ccxt's close() sleeps 250 ms to let TLS connections shut down)."""
    from tqdm.auto import tqdm

    venues, objects, progress = req.to_fetch, req.exchanges, req.progress
    bars = {}
    for i, v in enumerate(venues):
        bars[v.name] = tqdm(total=None, desc=f"{v.name:<20}", unit="req", position=i,
                            leave=True, disable=not progress, dynamic_ncols=True)
    everyone = list(venues) + list(req.dated)
    for ex in dict.fromkeys(objects[v.name] for v in everyone):
        _prepare_exchange(ex, [v for v in everyone if objects[v.name] is ex])
    # ccxt logs request headers (API keys included) at DEBUG: redact them while we fetch
    redacting = _RedactingFilter(redact)
    loggers = {log} | {getattr(ex, "logger", None) for ex in objects.values()} - {None}
    for lg in loggers:
        lg.addFilter(redacting)
    closing = None
    try:
        async def one(v):
            result = await _fetch_venue(v, objects[v.name], req.plan, req.root, req.policy,
                                        bars[v.name], redact)
            if store is not None:
                await asyncio.to_thread(store, result)
            return result

        results, dated_results = await asyncio.gather(
            asyncio.gather(*(one(v) for v in venues)),
            fetch_dated_venues(req.dated, objects, req.plan, req.root, req.policy))
        for b in bars.values():
            b.close()
        closing = asyncio.gather(*(ex.close() for ex in dict.fromkeys(objects.values())),
                                 return_exceptions=True)
        if finish is None:
            await closing
            return results
        return await asyncio.to_thread(finish, results, dated_results)
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
