"""`fetch_dated`: dated BTC futures' candles via ccxt into the cache (see `dated`).

For each selected venue (concurrently): load the markets, take the listed dated futures
(`dated.listed_contracts`), and page each contract's OHLCV (``fetch_ohlcv`` by its ccxt symbol)
over what its cache file misses -- with the pager, retries and checks of the perpetuals
(`btcflow_nb.sources.paging`, `checks.check_ohlcv`).  A contract is asked from the later of
`since` (default: the perpetuals' default history) and its listing (ccxt's ``created``, else
`dated.LISTING_SPAN_DAYS` before expiry).  A venue with continuous contracts (Binance COIN-M)
also pages ``continuousKlines`` for each contract type (without `since`: from its last cached
bar); each bar (open time t) is given to the
quarterly that held the type at t (`dated.quarterly_expiry`), which is how expired quarters
get their history.  Binance COIN-M docs (``GET /dapi/v1/continuousKlines``): pair +
contractType (PERPETUAL, CURRENT_QUARTER, NEXT_QUARTER), startTime and endTime at most 200 days
apart, the `limit` rows closest to endTime; so a page is 200 bars asked with both ends.  Rows are merged into the contracts' cache files (``source = "ccxt"``).
"""
from __future__ import annotations

import asyncio
import time
import numpy as np
import pandas as pd

from ..timeframes import bar_ms, to_ms
from . import checks, parse
from .cache import cache_root, merge_into, read_series, series_path
from .config import load_config
from .dated import (DAY_MS, LISTING_SPAN_DAYS, DatedContract, contract_for, dated_root, listed_contracts,
                    quarterly_expiry, read_dated, resolve_dated)
from .exchanges import _make_exchange, _prepare_exchange, _run, _with_retry
from .paging import _Pager, _page_call, _ranges
from .plan import _Plan, fetch_timeframe
from .series import _DEEP_HISTORY_MS, _DEFAULT_HISTORY_DAYS


def fetch_dated(venues=None, since=None, until=None, timeframe: str = "1d", cache_dir=None,
                exchanges=None) -> pd.DataFrame:
    """Fetch dated BTC futures' candles into the cache; return them as the long frame of
    `MarketData.futures` (``venue, symbol, expiry, time, close, source``) for [since, until].

    venues: None (every venue of `dated.DATED_VENUES`), a key ("deribit", "okx",
        "binance_coinm", "bybit_inverse") or a list of them.
    since, until, timeframe, cache_dir: as `btcflow_nb.fetch` ("1h", "4h" or "1d").
    exchanges: {ccxt exchange id or venue key: ready ``ccxt.async_support`` exchange}.

    ``frame.attrs["errors"]`` names each failed venue with its reason (rows fetched before
    the failure are kept); ``frame.attrs["contracts"]`` lists the contracts listed now.
    Raises ValueError for bad arguments, RuntimeError when every venue fails.  Afterwards
    `btcflow_nb.from_cache` carries the dated futures in ``md.futures``.
    """
    tf = fetch_timeframe(timeframe)
    chosen = resolve_dated(venues)
    since_ms, until_ms = to_ms(since, "since"), to_ms(until, "until")
    until_ms = int(time.time() * 1000) if until_ms is None else until_ms
    if since_ms is not None and since_ms > until_ms:
        raise ValueError(f"since ({pd.Timestamp(since_ms, unit='ms', tz='UTC')}) is after until "
                         f"({pd.Timestamp(until_ms, unit='ms', tz='UTC')})")
    exchanges = dict(exchanges or {})
    valid = {v.exchange_id for v in chosen} | {v.key for v in chosen}
    unknown = sorted(k for k in exchanges if k not in valid)
    if unknown:
        raise ValueError(f"exchanges= has key(s) {unknown} matching no selected venue; valid "
                         f"keys: {sorted(valid)}")
    plan = _Plan(tf, since_ms or 0, until_ms, since_ms is not None)
    root = cache_root(cache_dir)
    cfg = load_config()
    built = {}
    objects = {}
    for v in chosen:
        ex = exchanges.get(v.key) or exchanges.get(v.exchange_id)
        if ex is None:
            ex = built.get(v.exchange_id) or _make_exchange(v.exchange_id, cfg)
            built[v.exchange_id] = ex
        objects[v.name] = ex
    results = _run(_fetch_all(chosen, objects, plan, root, cfg.retry, built))
    return _frame(root, tf, since_ms, until_ms, chosen, results)


def _frame(root, tf, since_ms, until_ms, chosen, results) -> pd.DataFrame:
    """The cached contracts of `chosen` for [since, until] with the fetch's errors / listings."""
    errors = {k: e for k, (e, *_) in results.items() if e}
    if len(errors) == len(chosen):
        raise RuntimeError("every dated-futures venue failed: " +
                           "; ".join(f"{k}: {e}" for k, e in errors.items()))
    frame = read_dated(root, tf, since_ms, until_ms, [v.key for v in chosen], errors)
    if frame is None:
        frame = pd.DataFrame({c: [] for c in ("venue", "symbol", "expiry", "time", "close",
                                               "source")})
    frame.attrs["errors"] = errors
    frame.attrs["contracts"] = sorted(s for _, listed, _ in results.values() for s in listed)
    frame.attrs["notes"] = [n for *_, notes in results.values() for n in notes]
    return frame


def dated_exchanges(chosen, exchanges, built, cfg) -> dict:
    """{``future:<key>``: exchange} for the dated venues `chosen`: the one given in `exchanges`
    (by venue key or ccxt id), else the one `built` for that ccxt id (the perps' own, so one
    rate limit and one ``load_markets`` serve both), else a new one (added to `built`)."""
    out = {}
    for v in chosen:
        ex = exchanges.get(v.key) or exchanges.get(v.exchange_id) or built.get(v.exchange_id)
        if ex is None:
            ex = built[v.exchange_id] = _make_exchange(v.exchange_id, cfg)
        out[v.name] = ex
    return out


async def fetch_dated_venues(chosen, objects, plan, root, policy) -> dict:
    """Fetch every venue of `chosen` concurrently with the ready exchanges `objects` (venue
    name ``future:<key>`` -> exchange; not closed here): {venue key: (error or None, symbols
    listed, notes)}."""
    done = await asyncio.gather(*(_one_venue(v, objects[v.name], plan, root, policy)
                                  for v in chosen))
    return {v.key: r for v, r in zip(chosen, done)}


async def _fetch_all(chosen, objects, plan, root, policy, built):
    try:
        for ex in dict.fromkeys(objects.values()):
            _prepare_exchange(ex, [v for v in chosen if objects[v.name] is ex])
        return await fetch_dated_venues(chosen, objects, plan, root, policy)
    finally:
        await asyncio.gather(*(ex.close() for ex in built.values()), return_exceptions=True)


async def _one_venue(venue, ex, plan, root, policy):
    """(error or None, symbols listed) for one venue; a contract that fails is reported and
    the venue's other contracts are still fetched."""
    import ccxt

    failures, listed, notes = [], [], []
    try:
        await _with_retry(lambda: ex.load_markets(), policy, f"{venue.name} load_markets")
        listed = listed_contracts(ex.markets, venue)
        if not listed:
            raise ValueError(f"no dated BTC futures listed at {ex.id}")
    except (ccxt.BaseError, ValueError, OSError, asyncio.TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}", [], []
    for contract in listed:
        try:
            await _contract(contract, ex, plan, root, policy)
        except (ccxt.BaseError, ValueError, RuntimeError, OSError) as exc:
            failures.append(f"{contract.symbol}: {type(exc).__name__}: {exc}")
    if venue.expired_instruments:
        try:
            await _expired(venue, ex, listed, plan, root, policy)
        except (ccxt.BaseError, ValueError, RuntimeError, OSError) as exc:
            failures.append(f"expired contracts: {type(exc).__name__}: {exc}")
    elif not venue.continuous:
        notes.append(f"{venue.name}: {venue.expired_text}")
    for contract_type in venue.continuous:
        try:
            await _continuous(venue, contract_type, listed, ex, plan, root, policy)
        except (ccxt.BaseError, ValueError, RuntimeError, OSError) as exc:
            failures.append(f"continuous {contract_type}: {type(exc).__name__}: {exc}")
    return ("; ".join(failures) or None), [c.symbol for c in listed], notes


def _default_start(plan) -> int:
    if plan.explicit_since:
        return plan.since
    if plan.timeframe == "1d":
        return min(_DEEP_HISTORY_MS, plan.until)
    return plan.until - _DEFAULT_HISTORY_DAYS * DAY_MS


async def _page(pager, cached, plan, covered, first):
    ranges = _ranges(cached, plan, True, _default_start(plan), covered)
    for lo, hi in ranges:
        lo = max(lo, first)
        if lo <= hi:
            await pager.run(lo, hi)
    return min([lo for lo, _ in ranges], default=None)


async def _contract(contract, ex, plan, root, policy, call=None) -> None:
    """Page one contract's OHLCV over what its cache file misses; merge it into the file.
    `call`: the page request (default: ccxt ``fetch_ohlcv`` of the contract's symbol)."""
    tf_ms = bar_ms(plan.timeframe)
    path = series_path(dated_root(root), "ohlcv", contract, plan.timeframe)
    cached, meta = read_series(path, "ohlcv", contract, plan.timeframe)
    if _complete(cached, meta, contract, tf_ms):
        return
    pager = _Pager(call=call or _page_call(ex, contract, "ohlcv", plan.timeframe),
                   time_of=lambda r: None if not r or r[0] is None else int(r[0]),
                   limit=contract.venue.ohlcv_page_limit, step_ms=tf_ms, use_until=True,
                   policy=policy, what=f"{contract.name} ohlcv",
                   last_possible=min(plan.until, contract.expiry_ms) // tf_ms * tf_ms)
    first = contract.listed_ms or contract.expiry_ms - LISTING_SPAN_DAYS * DAY_MS
    first = int(first) // tf_ms * tf_ms     # the bar holding the listing (a partial bar)
    plan_here = _Plan(plan.timeframe, plan.since, min(plan.until, contract.expiry_ms),
                      plan.explicit_since)
    covered = await _page(pager, cached, plan_here, (meta or {}).get("covered_from"),
                          int(first))
    # in a worker thread: a Parquet merge on the event loop held every venue's requests back
    await asyncio.to_thread(_store, path, contract, plan.timeframe,
                            parse.ohlcv_frame(pager.rows), tf_ms, covered)


def _complete(cached, meta, contract, tf_ms) -> bool:
    """True when an expired contract's file holds its last bar, fetched after the expiry
    (nothing left to ask)."""
    last_bar = (contract.expiry_ms - 1) // tf_ms * tf_ms
    fetched = (meta or {}).get("fetched_at")
    if cached is None or not len(cached) or not fetched:
        return False
    last = int(pd.DatetimeIndex(cached["time"]).as_unit("ms").asi8.max())
    return last >= last_bar and pd.Timestamp(fetched).value // 1_000_000 >= contract.expiry_ms


async def _expired(venue, ex, listed, plan, root, policy) -> int:
    """Deribit: the expired BTC futures (``public/get_instruments`` with ``expired=true``,
    Deribit's "recently expired" instruments) whose expiry falls after the history's start,
    each paged by instrument name from ``public/get_tradingview_chart_data`` (ccxt's implicit
    API: its markets hold live instruments only).  A contract whose file already ends at its
    expiry costs no request.  Returns how many expired contracts were found."""
    reply = await _with_retry(lambda: ex.publicGetGetInstruments(
        {"currency": "BTC", "kind": "future", "expired": "true"}), policy,
        f"{venue.name} expired instruments")
    tf_ms, start, found = bar_ms(plan.timeframe), _default_start(plan), 0
    for r in reply.get("result") or []:
        expiry = int(r.get("expiration_timestamp") or 0)
        if (r.get("base_currency") != "BTC" or r.get("quote_currency") != "USD"
                or r.get("settlement_currency") != "BTC" or expiry <= start
                or r.get("settlement_period") == "perpetual"):
            continue
        found += 1
        named = contract_for(venue, expiry, listed)
        contract = DatedContract(venue, named.symbol, expiry, r.get("creation_timestamp"))
        await _contract(contract, ex, plan, root, policy,
                        call=_chart_call(ex, r["instrument_name"], plan.timeframe, tf_ms))
    return found


def _chart_call(ex, instrument, timeframe, tf_ms):
    async def call(since, limit, until):
        end = until if until is not None else since + limit * tf_ms
        reply = await ex.publicGetGetTradingviewChartData({
            "instrument_name": instrument, "resolution": ex.timeframes[timeframe],
            "start_timestamp": since, "end_timestamp": end})
        res = reply.get("result") or {}
        cols = [res.get(k) or [] for k in ("ticks", "open", "high", "low", "close", "volume")]
        return [[int(t)] + [float(x) for x in rest] for t, *rest in zip(*cols)]
    return call


def _store(path, contract, timeframe, frame, tf_ms, covered=None) -> None:
    rejected = checks.Rejected()
    frame = checks.check_ohlcv(frame, tf_ms, rejected)
    if rejected:
        raise ValueError(rejected.note(contract.name))
    merge_into(path, frame, "ohlcv", contract, timeframe,
               pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"), covered)


async def _continuous(venue, contract_type, listed, ex, plan, root, policy) -> None:
    """Page the continuous contract `contract_type` and give each bar to its quarterly."""
    tf_ms = bar_ms(plan.timeframe)

    async def call(since, limit, until):
        request = {"pair": "BTCUSD", "contractType": contract_type,
                   "interval": plan.timeframe, "startTime": since, "limit": limit}
        if until is not None:
            request["endTime"] = until
        rows = await ex.dapiPublicGetContinuousKlines(request)
        return [[int(r[0])] + [float(x) for x in r[1:6]] for r in rows]

    pager = _Pager(call=call, time_of=lambda r: int(r[0]), limit=venue.ohlcv_page_limit,
                   step_ms=tf_ms, use_until=True, policy=policy,
                   what=f"{venue.name} continuous {contract_type}",
                   last_possible=plan.until // tf_ms * tf_ms)
    first = pd.Timestamp(venue.continuous_from, tz="UTC").value // 1_000_000
    lo = max(_default_start(plan), int(first))
    cached = None if plan.explicit_since else read_dated(root, plan.timeframe,
                                                         venues=[venue.key])
    if cached is not None and len(cached):   # resume: from the last cached bar (maybe open)
        lo = max(lo, int(pd.DatetimeIndex(cached["time"]).as_unit("ms").asi8.max()))
    await pager.run(lo, plan.until)
    bars = parse.ohlcv_frame(pager.rows)
    if not len(bars):
        return
    t = pd.DatetimeIndex(bars["time"]).as_unit("ms").asi8
    rank = venue.continuous.index(contract_type)
    owner = quarterly_expiry(t, rank)
    for expiry in np.unique(owner):
        contract = contract_for(venue, int(expiry), listed)
        path = series_path(dated_root(root), "ohlcv", contract, plan.timeframe)
        await asyncio.to_thread(_store, path, contract, plan.timeframe,
                                bars[owner == expiry].reset_index(drop=True), tf_ms)

