"""On-disk Parquet cache of fetched exchange data (read as a MarketData by `btcflow_nb.from_cache`).

Location: ``$BTCFLOW_NB_CACHE_DIR``, else ``cache_dir`` in the ``$BTCFLOW_NB_CONFIG`` file, else
``$XDG_CACHE_HOME/btcflow-nb`` (``~/.cache/btcflow-nb``).  Layout (one file per venue and
series; the format version is part of the path)::

    <cache dir>/v1/ohlcv/<timeframe>/<kind>-<key>.parquet   time, open, high, low, close, volume,
                                                             source
    <cache dir>/v1/funding/<key>.parquet                     time, rate, interval_hours, source
    <cache dir>/v1/open_interest/<key>.parquet               time, oi_base, oi_value,
                                                             value_currency, kind, source

``source`` is each row's provenance (``ccxt``, ``snapshot``, ``archive:<name>``,
``file:<name>``; `btcflow_nb.marketdata.source_rank`).  Files written before provenance existed
have no ``source`` column: they are read as ``ccxt`` rows (OI rows of kind ``snapshot`` as
``snapshot``) and rewritten with the column at their next merge -- old caches are never lost.

Each file carries its identity in the Parquet schema metadata (series, venue, ccxt exchange id,
symbol, timeframe, fetched_at).  Files are

* **incremental**: `fetch` asks only for bars after the last cached one (re-fetching that bar,
  which may still have been open) and for events after the last cached event;
* **de-duplicated by time, by precedence**: for one time the row whose ``source`` ranks higher
  wins (ccxt > archive > file > snapshot); within one rank the new row replaces the cached one
  (a re-fetched open bar); rows at other times are always kept;
* **written atomically**: a temporary file in the same directory, flushed and fsync'ed, then
  ``os.replace`` -- a process killed mid-write leaves the previous complete file;
* **schema-checked on load**: a file whose columns, types, identity or time order is wrong is
  *set aside* (renamed to ``<name>.corrupt-<UTC time>``, never deleted) and reported.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .config import default_cache_dir
from .._validate import SOURCE_COLUMN, source_rank
from .parse import FUNDING_COLUMNS, OHLCV_COLUMNS, OI_RAW_COLUMNS, empty_frame

log = logging.getLogger("btcflow_nb.cache")

FORMAT_VERSION = 1
_META_KEY = b"btcflow_nb"
_LEGACY_COLUMNS = {"ohlcv": OHLCV_COLUMNS, "funding": FUNDING_COLUMNS,
                   "open_interest": OI_RAW_COLUMNS}
#: Columns of each cache file: what the venue said, plus the row's provenance.
_SERIES_COLUMNS = {k: tuple(v) + (SOURCE_COLUMN,) for k, v in _LEGACY_COLUMNS.items()}
_STRING_COLUMNS = ("value_currency", "kind", SOURCE_COLUMN)
_TIME_TYPE = pa.timestamp("ms", tz="UTC")


class CacheError(ValueError):
    """A cache file is unreadable or not ours (it has been set aside)."""


def cache_root(cache_dir=None) -> Path:
    base = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return base / f"v{FORMAT_VERSION}"


def series_path(root: Path, series: str, venue, timeframe: Optional[str] = None) -> Path:
    """Path of one venue's file for `series` ("ohlcv", "funding" or "open_interest")."""
    if series == "ohlcv":
        return root / "ohlcv" / timeframe / f"{venue.kind}-{venue.key}.parquet"
    return root / series / f"{venue.key}.parquet"


def _identity(series, venue, timeframe):
    return {"format": FORMAT_VERSION, "series": series, "venue": venue.name,
            "exchange_id": venue.exchange_id, "symbol": venue.symbol,
            "timeframe": timeframe if series == "ohlcv" else None}


def set_aside(path: Path) -> Path:
    """Rename a bad file to ``<name>.corrupt-<UTC time>`` next to it; return the new path."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, target)
    log.warning("cache file %s set aside as %s", path.name, target.name)
    return target


def read_series(path: Path, series: str, venue, timeframe: Optional[str] = None):
    """Load a cached series; returns (frame, metadata dict).  A missing file gives an empty
    frame.  A bad file is set aside and `CacheError` raised, naming the file and the reason."""
    columns = _SERIES_COLUMNS[series]
    if not path.exists():
        return empty_series(series), {}
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(_META_KEY, b"null"))
        problem = _check(table, meta, series, venue, timeframe)
    except Exception as exc:  # noqa: BLE001 - any read failure means a corrupt file
        problem, meta = f"unreadable Parquet ({type(exc).__name__}: {exc})", None
    if problem:
        moved = set_aside(path)
        raise CacheError(f"cache file {path.name!r} ({series}, {venue.name}) {problem}; "
                         f"set aside as {moved.name!r} and will be re-fetched")
    frame = table.to_pandas()
    for c in _STRING_COLUMNS:
        if c in frame.columns:
            frame[c] = frame[c].astype(object)
    frame["time"] = frame["time"].astype("datetime64[ms, UTC]")
    return with_source(frame, series), meta


def empty_series(series: str) -> pd.DataFrame:
    """An empty frame with the columns of a cache file of `series`."""
    frame = empty_frame(_LEGACY_COLUMNS[series])
    frame[SOURCE_COLUMN] = pd.Series([], dtype="object")
    return frame


def with_source(frame: pd.DataFrame, series: str, default: Optional[str] = None) -> pd.DataFrame:
    """`frame` with the cache columns of `series`; a missing ``source`` becomes `default`, or
    the rule for rows that predate provenance: ``ccxt``, and ``snapshot`` for OI rows of kind
    ``snapshot``."""
    columns = list(_SERIES_COLUMNS[series])
    if SOURCE_COLUMN in frame.columns:
        return frame[columns]
    frame = frame.copy()
    if default is not None:
        frame[SOURCE_COLUMN] = default
    elif series == "open_interest" and "kind" in frame.columns:
        frame[SOURCE_COLUMN] = np.where(frame["kind"].to_numpy() == "snapshot", "snapshot",
                                        "ccxt")
    else:
        frame[SOURCE_COLUMN] = "ccxt"
    frame[SOURCE_COLUMN] = frame[SOURCE_COLUMN].astype(object)
    return frame[columns]


def _check(table, meta, series, venue, timeframe) -> Optional[str]:
    columns = _SERIES_COLUMNS[series]
    if not isinstance(meta, dict):
        return "is not a btcflow-nb cache file (no btcflow_nb metadata)"
    expected = _identity(series, venue, timeframe)
    for k in ("format", "series", "venue", "exchange_id", "symbol", "timeframe"):
        if meta.get(k) != expected[k]:
            return f"belongs to {k}={meta.get(k)!r}, expected {expected[k]!r}"
    if tuple(table.column_names) == tuple(_LEGACY_COLUMNS[series]):
        columns = _LEGACY_COLUMNS[series]     # written before provenance: read as ccxt rows
    elif tuple(table.column_names) != tuple(columns):
        return f"has columns {table.column_names}, expected {list(columns)}"
    if SOURCE_COLUMN in columns and table.column(SOURCE_COLUMN).null_count:
        return f"has missing values in column {SOURCE_COLUMN!r}"
    for name in columns:
        typ = table.schema.field(name).type
        if name == "time":
            ok = typ == _TIME_TYPE
        elif name in _STRING_COLUMNS:
            ok = pa.types.is_string(typ) or pa.types.is_large_string(typ)
        else:
            ok = pa.types.is_float64(typ)
        if not ok:
            return f"has column {name!r} of type {typ}"
    t = table.column("time")
    if t.null_count:
        return "has missing times"
    if len(t) > 1:
        import numpy as np

        v = t.to_numpy().astype("datetime64[ms]").astype("int64")
        if not (np.diff(v) > 0).all():
            return "has times out of order or duplicated"
    return None


def write_series(path: Path, frame: pd.DataFrame, series: str, venue,
                 timeframe: Optional[str] = None, fetched_at: Optional[str] = None,
                 covered_from: Optional[int] = None) -> None:
    """Write atomically: temp file in the same directory, fsync, then os.replace.
    covered_from: earliest time (epoch ms) ever asked for, so that a later fetch with the same
    `since` does not ask again for history the venue does not have."""
    columns = list(_SERIES_COLUMNS[series])
    frame = with_source(frame, series).copy()
    frame["time"] = pd.DatetimeIndex(frame["time"]).as_unit("ms")
    fields = []
    for c in columns:
        if c == "time":
            fields.append(pa.field(c, _TIME_TYPE))
        elif c in _STRING_COLUMNS:
            fields.append(pa.field(c, pa.string()))
        else:
            fields.append(pa.field(c, pa.float64()))
    meta = dict(_identity(series, venue, timeframe), fetched_at=fetched_at,
                covered_from=None if covered_from is None else int(covered_from))
    schema = pa.schema(fields, metadata={_META_KEY: json.dumps(meta).encode()})
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def merge(cached: pd.DataFrame, new: pd.DataFrame, series: Optional[str] = None) -> pd.DataFrame:
    """Cached rows plus new rows, one row per time, sorted by time.

    For a time present in both, the row whose ``source`` ranks higher wins
    (`btcflow_nb.marketdata.source_rank`: ccxt > archive > file > snapshot); at equal rank the
    new row wins (a re-fetched bar replaces the cached one).  Rows without a ``source`` are
    ``ccxt`` rows (``snapshot`` for OI snapshots), see `with_source`.  Nothing cached at a time
    the new rows do not have is dropped.
    """
    series = series or _series_of(cached if len(cached.columns) else new)
    new = with_source(new, series)
    cached = with_source(cached, series)
    if len(new) == 0:
        return cached.reset_index(drop=True)
    both = pd.concat([cached, new], ignore_index=True) if len(cached) else new
    labels = both[SOURCE_COLUMN].to_numpy()
    ranks = {label: source_rank(label) for label in pd.unique(labels)}
    rank = np.array([ranks[x] for x in labels])
    t = pd.DatetimeIndex(both["time"]).as_unit("ms").asi8
    # sort by time, then rank, then arrival (new rows after cached ones): the last row wins
    order = np.lexsort((np.arange(len(both)), rank, t))
    ordered = both.iloc[order]
    keep = np.r_[t[order][1:] != t[order][:-1], True]
    return ordered[keep].reset_index(drop=True)


def _series_of(frame: pd.DataFrame) -> str:
    cols = set(frame.columns)
    if "oi_base" in cols:
        return "open_interest"
    if "rate" in cols:
        return "funding"
    return "ohlcv"


def foreign_files(cache_dir=None) -> list:
    """Files under the cache root that are not cache files (nor set-aside / temporary ones),
    as paths relative to the cache directory."""
    root = cache_root(cache_dir)
    if not root.exists():
        return []
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith(".") and ".corrupt-" not in p.name \
                and p.suffix != ".parquet":
            out.append(str(p.relative_to(root.parent)))
    return out

