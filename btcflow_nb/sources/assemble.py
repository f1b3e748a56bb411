"""A MarketData from the cache: `from_cache` (no network), and what `fetch` returns.

Closes are read per venue and timeframe, clipped to [since, until]; funding intervals are
derived where the venue did not say (`btcflow_nb.sources.parse.derive_intervals`); cached
dated futures (`btcflow_nb.sources.dated`) come along in ``md.futures``; OI is converted to
BTC and USD with the venue's closes and the USDT/USD and USDC/USD series
(`btcflow_nb.sources.parse.oi_to_btc_usd`), which `_with_fx` adds to any selection quoted in a
stablecoin.

Provenance: the long frames keep each cached row's ``source`` column; for every field the
MarketData's ``meta["provenance"]`` maps venue -> source -> ``{"first", "last", "rows"}`` (ISO
times), which is where the wide price frames' provenance lives (a wide frame has one column per
venue and no room for a per-row label).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from ..marketdata import MarketData
from ..timeframes import bar_ms, to_ms
from . import checks, parse
from .cache import (CacheError, CacheSalvaged, cache_root, foreign_files, purge_rows,
                    read_series, series_path)
from .config import check_cache_dir
from .dated import dated_selection, read_dated
from .plan import fetch_timeframe
from .venues import registry, resolve_venues


#: `_assemble`'s ``fetched_at`` for "the latest ``fetched_at`` of the OHLCV files read"
FROM_FILES = object()


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


def _clip(frame, since_ms, until_ms):
    """The rows of `frame` timed in [since_ms, until_ms] (None: unbounded); `frame` itself
    when that is every row."""
    if len(frame) == 0 or (since_ms is None and until_ms is None):
        return frame
    t = pd.DatetimeIndex(frame["time"]).as_unit("ms").asi8
    keep = np.ones(len(t), dtype=bool)
    if since_ms is not None:
        keep &= t >= since_ms
    if until_ms is not None:
        keep &= t <= until_ms
    return frame if keep.all() else frame[keep]


def _assemble(venues, tf, root, since_ms, until_ms, *, source, fetched_at, errors, notes,
              extra=None, dated=None):
    """The MarketData of the cached series of `venues` at timeframe `tf`.  fetched_at:
    the time to record, or `FROM_FILES`: the latest ``fetched_at`` of the OHLCV files read."""
    closes = {"spot": {}, "perp": {}, "fx": {}}
    raw_closes = {}
    quotes = {"spot": {}, "perp": {}}
    funding, oi_raw = [], {}
    provenance = {"spot": {}, "perp": {}, "fx": {}, "funding": {}, "open_interest": {}}
    errors = dict(errors)
    rejected = {name: checks.Rejected(**r) for name, r in
                ((extra or {}).get("rejected") or {}).items()}

    salvaged = {}
    stamps = []

    def read(series, v, columns, timeframe=None):
        """A venue's cached rows of `series`, cleaned (`clean`).  A corrupt file is set aside
        and its salvaged rows are used (the rows salvaged and lost in ``meta["salvaged"]``); a
        file that cannot be used is recorded in `errors` for the venue and reads as no rows."""
        path = series_path(root, series, v, timeframe)
        try:
            frame, meta = read_series(path, series, v, timeframe, categorical=True)
        except CacheSalvaged as exc:
            errors[v.name] = str(exc)
            salvaged.setdefault(v.name, []).append(exc.report)
            frame, meta = exc.frame, exc.meta
        except CacheError as exc:
            errors[v.name] = str(exc)
            return None if series == "ohlcv" else parse.empty_frame(columns)
        if series == "ohlcv" and (meta or {}).get("fetched_at"):
            stamps.append(meta["fetched_at"])
        return clean(frame, series, v, path, timeframe)

    def clean(frame, series, v, path, timeframe):
        """Drop (and report) cached rows no venue could have served (`checks.check_cached`):
        one poisoned row never fails the load for every venue.  The rows are moved out of the
        file into a ``.rejected-`` file beside it (`cache.purge_rows`), so the report comes
        once."""
        found = checks.Rejected()
        frame = checks.check_cached(frame, series, v, found)
        if found:
            moved = purge_rows(path, series, v, timeframe,
                               lambda f: checks.check_cached(f, series, v, checks.Rejected()))
            where = (f"; moved out of the file into {moved['set_aside_as']!r}"
                     if moved else "")
            notes.append(found.note(v.name).replace("not cached", "dropped from the cache "
                                                    "as read") + where)
            mine = rejected.setdefault(v.name, checks.Rejected())
            for k, n in found.counts.items():
                mine.add_count(*k.split(": ", 1), n)
                mine.examples[k] = found.examples[k]
        return frame

    for v in venues:
        ohlcv = read("ohlcv", v, parse.OHLCV_COLUMNS, tf)
        if ohlcv is None:
            continue
        # indexed by bar CLOSE time: the price known at a moment is the last completed bar's
        raw_closes[v.name] = pd.Series(
            ohlcv["close"].to_numpy(),
            index=(pd.DatetimeIndex(ohlcv["time"])
                   + pd.Timedelta(bar_ms(tf), unit="ms").as_unit("ms")).as_unit("ms"),
            copy=False)
        o = _clip(ohlcv, since_ms, until_ms)
        if len(o):
            s = pd.Series(o["close"].to_numpy(), index=pd.DatetimeIndex(o["time"], name="time"),
                          copy=False)
            closes[v.kind][v.key if v.kind != "fx" else v.key.upper()] = s
            provenance[v.kind][v.key if v.kind != "fx" else v.key.upper()] = _spans(o)
            if v.kind in quotes:
                quotes[v.kind][v.key] = v.quote
        if v.kind != "perp":
            continue
        if v.funding_history:
            f = read("funding", v, parse.FUNDING_COLUMNS)
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
                if len(f):
                    provenance["funding"][v.key] = _spans(f)
        if v.oi_history or v.oi_snapshot:
            oi_raw[v] = _clip(read("open_interest", v, parse.OI_RAW_COLUMNS), since_ms,
                              until_ms)
    fx_series = dict(closes["fx"])
    fx_full = {v.key.upper(): raw_closes[v.name] for v in venues if v.kind == "fx"
               and v.name in raw_closes}
    oi_frames = []
    for v, raw in oi_raw.items():
        if len(raw) == 0:
            continue
        conv = parse.oi_to_btc_usd(raw, raw_closes.get(v.name), v.quote, fx_full)
        conv.insert(0, "venue", v.key)
        conv["source"] = raw["source"].array      # by position (`raw` may be clipped)
        oi_frames.append(conv)
        provenance["open_interest"][v.key] = _spans(raw)

    def wide(d):
        if not d:
            return None
        frame = pd.concat(d, axis=1, sort=True)
        frame.index.name = "time"
        return frame

    def long(frames, columns):
        frames = [f for f in frames if len(f)]
        if not frames:
            return None
        # the venue as a categorical built from codes (one venue per frame): validation then
        # works on integer codes instead of hashing a string per row
        keys = [str(f["venue"].iloc[0]) for f in frames]
        if len(set(keys)) == len(keys):   # venues in name order: the stored order (venue,
            # time) already, so validation need not re-sort (take) every row
            keys, frames = map(list, zip(*sorted(zip(keys, frames), key=lambda kf: kf[0])))
        out = pd.concat([f[list(columns[1:])] for f in frames], ignore_index=True)
        if len(set(keys)) == len(keys):
            venue = pd.Categorical.from_codes(
                np.repeat(np.arange(len(keys)), [len(f) for f in frames]), categories=keys)
        else:
            venue = np.concatenate([f["venue"].to_numpy(dtype=object) for f in frames])
        out.insert(0, "venue", venue)
        return out

    fx = wide(fx_series)
    if fetched_at is FROM_FILES:
        fetched_at = max(stamps) if stamps else None
    meta = {"source": source, "synthetic": False, "fetched_at": fetched_at, "notes": notes,
            "errors": errors, "timeframe_fetched": tf}
    meta["provenance"] = {k: d for k, d in provenance.items() if d}
    meta.update(extra or {})
    meta["rejected"] = {name: r.as_dict() for name, r in sorted(rejected.items()) if r}
    if salvaged:
        meta["salvaged"] = dict(sorted(salvaged.items()))
    return MarketData.from_frames(
        spot=wide(closes["spot"]), perp=wide(closes["perp"]),
        funding=long(funding, ("venue", "time", "rate", "interval_hours", "source")),
        open_interest=long(oi_frames, ("venue", "time", "oi_btc", "oi_usd", "source")),
        fx=fx, spot_quotes=quotes["spot"] or None, perp_quotes=quotes["perp"] or None,
        meta=meta, futures=None if dated == [] else read_dated(root, tf, since_ms, until_ms,
                                                                venues=dated, errors=errors))


def _spans(frame) -> dict:
    """{source: {"first": ISO time, "last": ISO time, "rows": n}} of a cached frame's rows
    (rows without a source label are not counted)."""
    source = frame["source"]
    times = pd.DatetimeIndex(frame["time"])
    t = times.asi8
    if isinstance(source.dtype, pd.CategoricalDtype):   # labels by integer code
        codes, labels = source.array.codes, source.array.categories
        one = len(codes) and codes[0] >= 0 and (codes == codes[0]).all()
        first = labels[codes[0]] if one else None
    else:
        labels = source.to_numpy(dtype=object)
        one = len(labels) and isinstance(labels[0], str) and (labels == labels[0]).all()
        first = labels[0] if one else None
    if one:
        return {str(first): {"first": times[int(np.argmin(t))].isoformat(),   # one source
                             "last": times[int(np.argmax(t))].isoformat(), "rows": int(len(t))}}
    if not isinstance(source.dtype, pd.CategoricalDtype):
        codes, labels = pd.factorize(labels, sort=True)
    out = {}
    for code in sorted(range(len(labels)), key=lambda c: labels[c]):
        label = labels[code]
        at = np.flatnonzero(codes == code)
        if not len(at):
            continue
        out[str(label)] = {"first": times[at[np.argmin(t[at])]].isoformat(),
                           "last": times[at[np.argmax(t[at])]].isoformat(), "rows": int(len(at))}
    return out


def from_cache(venues=None, *, timeframe: str = "1d", since=None, until=None, cache_dir=None,
               dated=None):
    """Load cached data into a MarketData (``meta["source"] == "cache"``), with no network.

    venues, timeframe, since, until, dated: as for `btcflow_nb.fetch` (``dated``: which cached
    dated futures come along in ``md.futures``; None: all).  Venues without cached data are
    simply absent (``md.coverage()`` shows what is there); a corrupt or foreign cache file is set
    aside and named in ``meta["errors"]``.  Raises ValueError if the cache holds nothing for the
    selection (naming the directory searched).
    """
    tf = fetch_timeframe(timeframe)
    since_ms, until_ms = to_ms(since, "since"), to_ms(until, "until")
    check_cache_dir(cache_dir, must_exist=True)
    if since_ms is not None and until_ms is not None and since_ms > until_ms:
        raise ValueError(f"since ({pd.Timestamp(since_ms, unit='ms', tz='UTC')}) is after until "
                         f"({pd.Timestamp(until_ms, unit='ms', tz='UTC')})")
    chosen = _with_fx(resolve_venues(venues))
    dated_keys = [v.key for v in dated_selection(True if dated is None else dated)]
    root = cache_root(cache_dir)
    present = [v for v in chosen if series_path(root, "ohlcv", v, tf).exists()]
    if not present:
        raise ValueError(f"the cache holds no {tf} data for the selected venues (looked in "
                         f"{root.parent}); run btcflow_nb.fetch(...) or `btcflow-nb fetch` first")
    notes = [f"foreign file in the cache directory (ignored): {p}"
             for p in foreign_files(cache_dir)]
    return _assemble(present, tf, root, since_ms, until_ms, source="cache",
                     fetched_at=FROM_FILES, errors={}, notes=notes,
                     extra={"cache_dir": str(root.parent)}, dated=dated_keys)

