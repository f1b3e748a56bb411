"""One cache file on disk: its schema and identity, the series lock, atomic checksummed
writes, setting a bad file aside (the file format of `btcflow_nb.sources.cache`).

A cache file is Parquet with the columns `SERIES_COLUMNS` of its series, times as
``timestamp[ms, UTC]``, strings for `STRING_COLUMNS` and float64 for the rest; its identity
(series, venue, ccxt id, symbol, timeframe, fetched_at, covered_from, holes) is JSON under
`META_KEY` in the schema metadata; ``holes`` lists the ``[first, last]`` time ranges (epoch ms)
of rows the file lost -- purged or unsalvageable -- that a fetch asks again once.  Files are
written in row groups of `ROW_GROUP_ROWS` rows, each data page with a CRC, so a damaged file
loses at most the row groups the damage touches when it is salvaged
(`btcflow_nb.sources.repair`).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .._validate import SOURCE_COLUMN
from .parse import FUNDING_COLUMNS, OHLCV_COLUMNS, OI_RAW_COLUMNS, empty_frame

log = logging.getLogger("btcflow_nb.cache")

#: rows per Parquet row group: the unit a damaged file is salvaged in (~14 months of daily
#: bars, ~3 weeks of hourly ones; a few hundred bytes of footer per group)
ROW_GROUP_ROWS = 512
FORMAT_VERSION = 1
META_KEY = b"btcflow_nb"
LEGACY_COLUMNS = {"ohlcv": OHLCV_COLUMNS, "funding": FUNDING_COLUMNS,
                   "open_interest": OI_RAW_COLUMNS}
#: Columns of each cache file: what the venue said, plus the row's provenance.
SERIES_COLUMNS = {k: tuple(v) + (SOURCE_COLUMN,) for k, v in LEGACY_COLUMNS.items()}
STRING_COLUMNS = ("value_currency", "kind", SOURCE_COLUMN)
TIME_TYPE = pa.timestamp("ms", tz="UTC")


class CacheError(ValueError):
    """A cache file is corrupt or not ours (it has been set aside), or cannot be used now."""


class CacheUnreadable(CacheError):
    """A cache file could not be read (an I/O error that persisted): it is left in place."""



def identity(series, venue, timeframe):
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


#: How long `merge_into` waits for another process's lock on a series before giving up [s].
LOCK_TIMEOUT_S = 120.0


@contextlib.contextmanager
def series_lock(path: Path, timeout: float = LOCK_TIMEOUT_S):
    """Hold the cross-process advisory lock of one cache file (``.<name>.lock`` beside it).

    ``fcntl.flock`` locks belong to an open file description, so two threads of one process
    exclude each other as two processes do; the kernel drops the lock when its holder dies (a
    ``kill -9`` never leaves a stale lock). The holder writes its pid into the lock file, so a
    timeout can name it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(f".{path.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    raise CacheError(f"cache file {path.name!r} is locked by process {holder} "
                                     f"for more than {timeout:.0f} s; is another fetch stuck?")
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)   # releases the lock



def empty_series(series: str) -> pd.DataFrame:
    """An empty frame with the columns of a cache file of `series`."""
    frame = empty_frame(LEGACY_COLUMNS[series])
    frame[SOURCE_COLUMN] = pd.Series([], dtype="object")
    return frame


def with_source(frame: pd.DataFrame, series: str, default: Optional[str] = None) -> pd.DataFrame:
    """`frame` with the cache columns of `series`; a missing ``source`` becomes `default`, or
    the rule for rows that predate provenance: ``ccxt``, and ``snapshot`` for OI rows of kind
    ``snapshot``."""
    columns = list(SERIES_COLUMNS[series])
    if SOURCE_COLUMN in frame.columns:
        return frame if list(frame.columns) == columns else frame[columns]
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


def check_table(table, meta, series, venue, timeframe, schema=None) -> Optional[str]:
    """Why `table` (with its btcflow_nb metadata `meta`) is not a cache file of this series
    and venue -- identity, columns, types, missing or unordered times -- or None.  schema: the
    schema the file declares, when the table was decoded with other types (label columns as
    dictionaries, `btcflow_nb.sources.cache.read_bytes`): the types are judged by it."""
    columns = SERIES_COLUMNS[series]
    if not isinstance(meta, dict):
        return "is not a btcflow-nb cache file (no btcflow_nb metadata)"
    expected = identity(series, venue, timeframe)
    for k in ("format", "series", "venue", "exchange_id", "symbol", "timeframe"):
        if meta.get(k) != expected[k]:
            return f"belongs to {k}={meta.get(k)!r}, expected {expected[k]!r}"
    if tuple(table.column_names) == tuple(LEGACY_COLUMNS[series]):
        columns = LEGACY_COLUMNS[series]     # written before provenance: read as ccxt rows
    elif tuple(table.column_names) != tuple(columns):
        return f"has columns {table.column_names}, expected {list(columns)}"
    if SOURCE_COLUMN in columns and table.column(SOURCE_COLUMN).null_count:
        return f"has missing values in column {SOURCE_COLUMN!r}"
    declared = table.schema if schema is None else schema
    if tuple(declared.names) != tuple(table.column_names):
        return f"has columns {table.column_names}, declared as {declared.names}"
    for name in columns:
        typ = declared.field(name).type
        if name == "time":
            ok = typ == TIME_TYPE
        elif name in STRING_COLUMNS:
            ok = pa.types.is_string(typ) or pa.types.is_large_string(typ)
        else:
            ok = pa.types.is_float64(typ)
        if not ok:
            return f"has column {name!r} of type {typ}"
    t = table.column("time")
    if t.null_count:
        return "has missing times"
    if len(t) > 1:
        v = t.to_numpy().astype("datetime64[ms]", copy=False).view("int64")
        if not (v[1:] > v[:-1]).all():
            return "has times out of order or duplicated"
    return None


def write_series(path: Path, frame: pd.DataFrame, series: str, venue,
                 timeframe: Optional[str] = None, fetched_at: Optional[str] = None,
                 covered_from: Optional[int] = None, holes=()) -> None:
    """Write atomically: temp file in the same directory, fsync, then os.replace.
    covered_from: earliest time (epoch ms) ever asked for, so that a later fetch with the same
    `since` does not ask again for history the venue does not have; holes: ``[first, last]``
    ranges (epoch ms) of rows the file lost, to be asked again (`btcflow_nb.sources.cache.merge_into`)."""
    columns = list(SERIES_COLUMNS[series])
    frame = with_source(frame, series).copy()
    frame["time"] = pd.DatetimeIndex(frame["time"]).as_unit("ms")
    fields = []
    for c in columns:
        if c == "time":
            fields.append(pa.field(c, TIME_TYPE))
        elif c in STRING_COLUMNS:
            fields.append(pa.field(c, pa.string()))
        else:
            fields.append(pa.field(c, pa.float64()))
    meta = dict(identity(series, venue, timeframe), fetched_at=fetched_at,
                covered_from=None if covered_from is None else int(covered_from),
                holes=[[int(lo), int(hi)] for lo, hi in sorted(holes or ())])
    schema = pa.schema(fields, metadata={META_KEY: json.dumps(meta).encode()})
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphaned_temps(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh, write_page_checksum=True, row_group_size=ROW_GROUP_ROWS)
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


def _remove_orphaned_temps(path: Path) -> None:
    """Delete temporary files of `path` left by writers that died (``kill -9`` mid-write): a
    temp file is named ``.<name>.<pid>.<random>.tmp`` and is orphaned once its pid is gone."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            pid = int(tmp.name[len(path.name) + 2:].split(".")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                tmp.unlink()
        except (ValueError, PermissionError, OSError):
            continue   # not ours to judge, or a live process of another user


