"""A MarketData from the cache: `from_cache` (no network), and what `fetch` returns.

Closes are read per venue and timeframe, clipped to [since, until]; funding intervals are
derived where the venue did not say (`btcflow_nb.sources.parse.derive_intervals`); OI is
converted to BTC and USD with the venue's closes and the USDT/USD and USDC/USD series
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
from .cache import CacheError, cache_root, foreign_files, read_series, series_path
from .plan import fetch_timeframe
from .venues import registry, resolve_venues


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
    closes = {"spot": {}, "perp": {}, "fx": {}}
    raw_closes = {}
    quotes = {"spot": {}, "perp": {}}
    funding, oi_raw = [], {}
    provenance = {"spot": {}, "perp": {}, "fx": {}, "funding": {}, "open_interest": {}}
    errors = dict(errors)
    rejected = {name: checks.Rejected(**r) for name, r in
                ((extra or {}).get("rejected") or {}).items()}

    def clean(frame, series, v):
        """Drop (and report) cached rows no venue could have served (`checks.check_cached`):
        one poisoned row never fails the load for every venue."""
        found = checks.Rejected()
        frame = checks.check_cached(frame, series, v, found)
        if found:
            notes.append(found.note(v.name).replace("not cached", "dropped from the cache "
                                                    "as read"))
            mine = rejected.setdefault(v.name, checks.Rejected())
            for k, n in found.counts.items():
                mine.add_count(*k.split(": ", 1), n)
                mine.examples[k] = found.examples[k]
        return frame

    def read_events(series, v, columns):
        """A perp's cached funding or OI rows, cleaned; a bad file is recorded in `errors` for
        the venue and reads as no rows (its prices still load)."""
        try:
            frame, _ = read_series(series_path(root, series, v), series, v)
        except CacheError as exc:
            errors[v.name] = str(exc)
            frame = parse.empty_frame(columns)
        return clean(frame, series, v)

    for v in venues:
        try:
            ohlcv, _ = read_series(series_path(root, "ohlcv", v, tf), "ohlcv", v, tf)
        except CacheError as exc:
            errors[v.name] = str(exc)
            continue
        ohlcv = clean(ohlcv, "ohlcv", v)
        # indexed by bar CLOSE time: the price known at a moment is the last completed bar's
        raw_closes[v.name] = pd.Series(
            ohlcv["close"].to_numpy(),
            index=pd.DatetimeIndex(ohlcv["time"]) + pd.Timedelta(milliseconds=bar_ms(tf)))
        o = _clip(ohlcv, since_ms, until_ms)
        if len(o):
            s = pd.Series(o["close"].to_numpy(), index=pd.DatetimeIndex(o["time"], name="time"))
            closes[v.kind][v.key if v.kind != "fx" else v.key.upper()] = s
            provenance[v.kind][v.key if v.kind != "fx" else v.key.upper()] = _spans(o)
            if v.kind in quotes:
                quotes[v.kind][v.key] = v.quote
        if v.kind != "perp":
            continue
        if v.funding_history:
            f = read_events("funding", v, parse.FUNDING_COLUMNS)
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
            oi_raw[v] = _clip(read_events("open_interest", v, parse.OI_RAW_COLUMNS), since_ms,
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
        conv["source"] = pd.Series(raw["source"].to_numpy(dtype=object), dtype=object)
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
        out = pd.concat([f[list(columns[1:])] for f in frames], ignore_index=True)
        if len(set(keys)) == len(keys):
            venue = pd.Categorical.from_codes(
                np.repeat(np.arange(len(keys)), [len(f) for f in frames]), categories=keys)
        else:
            venue = np.concatenate([f["venue"].to_numpy(dtype=object) for f in frames])
        out.insert(0, "venue", venue)
        return out

    fx = wide(fx_series)
    meta = {"source": source, "synthetic": False, "fetched_at": fetched_at, "notes": notes,
            "errors": errors, "timeframe_fetched": tf}
    meta["provenance"] = {k: d for k, d in provenance.items() if d}
    meta.update(extra or {})
    meta["rejected"] = {name: r.as_dict() for name, r in sorted(rejected.items()) if r}
    return MarketData.from_frames(
        spot=wide(closes["spot"]), perp=wide(closes["perp"]),
        funding=long(funding, ("venue", "time", "rate", "interval_hours", "source")),
        open_interest=long(oi_frames, ("venue", "time", "oi_btc", "oi_usd", "source")),
        fx=fx, spot_quotes=quotes["spot"] or None, perp_quotes=quotes["perp"] or None,
        meta=meta)


def _spans(frame) -> dict:
    """{source: {"first": ISO time, "last": ISO time, "rows": n}} of a cached frame's rows
    (rows without a source label are not counted)."""
    labels = frame["source"].to_numpy(dtype=object)
    if len(labels) and isinstance(labels[0], str) and (labels == labels[0]).all():
        codes, labels = np.zeros(len(labels), dtype=np.int64), [labels[0]]   # one source
    else:
        codes, labels = pd.factorize(labels, sort=True)
    times = pd.DatetimeIndex(frame["time"])
    t = times.asi8
    out = {}
    for code, label in enumerate(labels):
        at = np.flatnonzero(codes == code)
        out[str(label)] = {"first": times[at[np.argmin(t[at])]].isoformat(),
                           "last": times[at[np.argmax(t[at])]].isoformat(), "rows": int(len(at))}
    return out


def from_cache(venues=None, *, timeframe: str = "1d", since=None, until=None, cache_dir=None):
    """Load cached data into a MarketData (``meta["source"] == "cache"``), with no network.

    venues, timeframe, since, until: as for `btcflow_nb.fetch`.  Venues without cached data are
    simply absent (``md.coverage()`` shows what is there); a corrupt or foreign cache file is set
    aside and named in ``meta["errors"]``.  Raises ValueError if the cache holds nothing for the
    selection (naming the directory searched).
    """
    tf = fetch_timeframe(timeframe)
    since_ms, until_ms = to_ms(since, "since"), to_ms(until, "until")
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
