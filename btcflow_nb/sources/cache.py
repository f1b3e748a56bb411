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
  ``os.replace`` -- a process killed mid-write leaves the previous complete file (and its
  orphaned temporary file is removed by the next write of that series);
* **locked across processes**: every read-merge-write of a series (`merge_into`) holds an
  advisory lock (``fcntl.flock`` on ``.<name>.lock`` beside the file), so two notebooks fetching
  into one cache never lose each other's rows; a lock held too long is reported with the
  holder's process id;
* **read through one open file**: a reader takes the file's bytes through one descriptor, so a
  writer replacing the file meanwhile cannot mix two versions; a failed read is retried, and an
  I/O error (``OSError``) never sets a file aside -- only a file that fails to parse twice is
  corrupt;
* **checksummed**: every data page carries a CRC, verified on read, so a flipped bit is a
  corrupt file, never a silently different value (files written before checksums still load);
* **schema-checked on load**: a file whose columns, types, identity or time order is wrong is
  *set aside* (renamed to ``<name>.corrupt-<UTC time>``, never deleted) and reported.
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

from .config import default_cache_dir
from .._validate import SOURCE_COLUMN, source_rank
from .parse import (FUNDING_COLUMNS, OHLCV_COLUMNS, OI_RAW_COLUMNS, empty_frame,
                    label_objects)

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
    """A cache file is corrupt or not ours (it has been set aside), or cannot be used now."""


class CacheUnreadable(CacheError):
    """A cache file could not be read (an I/O error that persisted): it is left in place."""


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


#: How long `merge_into` waits for another process's lock on a series before giving up [s].
LOCK_TIMEOUT_S = 120.0
#: Attempts of a read before the file is called corrupt (parse errors) or unreadable (I/O).
READ_ATTEMPTS = 3


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


def read_series(path: Path, series: str, venue, timeframe: Optional[str] = None):
    """Load a cached series; returns (frame, metadata dict).  A missing file gives an empty
    frame.  A file that fails to parse on every one of `READ_ATTEMPTS` reads is set aside and
    `CacheError` raised, naming the file and the reason; an I/O error that persists raises
    `CacheError` without setting the file aside (the disk, not the file, is at fault)."""
    problem = io_error = None
    for attempt in range(READ_ATTEMPTS):
        if not path.exists():
            return empty_series(series), {}
        try:   # the bytes through one descriptor: a concurrent os.replace cannot mix versions
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            continue   # replaced or set aside meanwhile: look again
        except OSError as exc:   # EIO, EMFILE, ...: transient or the disk's fault, not the file's
            io_error, problem = f"{type(exc).__name__}: {exc}", None
            time.sleep(0.05 * (attempt + 1))
            continue
        io_error = None
        try:   # parsing: any failure here (pyarrow raises OSError too) is the file's content
            table = pq.read_table(pa.BufferReader(data), page_checksum_verification=True)
            meta = json.loads((table.schema.metadata or {}).get(_META_KEY, b"null"))
            problem = _check(table, meta, series, venue, timeframe)
            if problem is None:
                frame = table.to_pandas()
                break
        except Exception as exc:  # noqa: BLE001 - pyarrow/pandas parse failures of any kind
            problem = f"unreadable Parquet ({type(exc).__name__}: {exc})"
        time.sleep(0.01 * (attempt + 1))
    else:
        if problem is None and io_error is None:
            return empty_series(series), {}   # vanished on every look
        if io_error is not None:
            raise CacheUnreadable(f"cache file {path.name!r} ({series}, {venue.name}) could not "
                                  f"be read ({io_error}); left in place")
        moved = set_aside(path)
        raise CacheError(f"cache file {path.name!r} ({series}, {venue.name}) {problem}; "
                         f"set aside as {moved.name!r} and will be re-fetched")
    for c in _STRING_COLUMNS:
        if c in frame.columns:
            frame[c] = label_objects(table.column(c), frame[c])
    frame["time"] = frame["time"].astype("datetime64[ms, UTC]")
    return with_source(frame, series), meta


def merge_into(path: Path, frame: pd.DataFrame, series: str, venue,
               timeframe: Optional[str] = None, fetched_at: Optional[str] = None,
               covered_from: Optional[int] = None, *, notes: Optional[list] = None):
    """Merge `frame` into the cached series under the series' cross-process lock; returns
    (the series as cached now, the metadata it had, the earliest time ever asked from).

    Read, `merge` and `write_series` happen while the lock is held, so concurrent writers of
    one file serialise and none loses the other's rows. A corrupt cached file is set aside
    (`read_series`) and the series restarts from `frame`, with the reason appended to `notes`.
    Nothing is written when `frame` adds nothing and `covered_from` does not move.
    """
    with series_lock(path):
        try:
            cached, meta = read_series(path, series, venue, timeframe)
        except CacheUnreadable:
            raise   # unreadable, not corrupt: never overwrite what may be healthy
        except CacheError as exc:
            if notes is not None:
                notes.append(str(exc))
            cached, meta = empty_series(series), {}
        old = (meta or {}).get("covered_from")
        covered = min([c for c in (old, covered_from) if c is not None], default=None)
        if len(frame) == 0 and (covered == old or len(cached) == 0):
            return cached, meta or {}, covered
        merged = merge(cached, frame, series)
        write_series(path, merged, series, venue, timeframe, fetched_at, covered_from=covered)
        return merged, meta or {}, covered


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
    _remove_orphaned_temps(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh, write_page_checksum=True)
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

