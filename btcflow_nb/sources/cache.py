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
  *set aside* (renamed to ``<name>.corrupt-<UTC time>``, never deleted) and reported;
* **salvaged**: the rows of a set-aside file that still parse -- every row group whose pages
  pass their checksums (`btcflow_nb.sources.repair`) -- are written back as the series' file,
  and the rows salvaged and lost are reported;
* **purged of rejected rows**: rows already cached that no venue could have served (a
  poisoned row from before validation) are moved out of the file once, under the lock, into
  ``<name>.rejected-<UTC time>`` beside it (`purge_rows`), so they are reported once;
* **holes remembered**: the time ranges of rows a file lost -- purged, or in a row group that
  could not be salvaged -- are kept in its metadata (``holes``); the next fetch asks the venue
  for each once (`holes_of`) and `merge_into` then forgets it (``filled``), whether the venue
  had the rows or not: a range the venue has no data for costs one request, once.

The file format itself (schema, identity, lock, atomic checksummed writes) is
`btcflow_nb.sources.cachefile`.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .config import default_cache_dir
from .._validate import SOURCE_COLUMN, source_rank
from .parse import (FUNDING_COLUMNS, OHLCV_COLUMNS, OI_RAW_COLUMNS, empty_frame,
                    settlement_times)
from .cachefile import (FORMAT_VERSION, LOCK_TIMEOUT_S, META_KEY, STRING_COLUMNS,  # noqa: F401
                        CacheError, CacheUnreadable, check_table, empty_series, series_lock,
                        set_aside, with_source, write_series)
from .repair import salvage

log = logging.getLogger("btcflow_nb.cache")

#: Attempts of a read before the file is called corrupt (parse errors) or unreadable (I/O).
READ_ATTEMPTS = 3


class CacheSalvaged(CacheError):
    """A corrupt cache file was set aside and the rows that still parsed were written back
    (`btcflow_nb.sources.repair`): ``frame`` / ``meta`` are the series as cached now (``frame``
    empty when nothing could be salvaged), ``report`` says what was salvaged and lost."""

    def __init__(self, message: str, frame: pd.DataFrame, meta: dict, report: dict):
        super().__init__(message)
        self.frame, self.meta, self.report = frame, meta, report

def cache_root(cache_dir=None) -> Path:
    base = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return base / f"v{FORMAT_VERSION}"


def series_path(root: Path, series: str, venue, timeframe: Optional[str] = None) -> Path:
    """Path of one venue's file for `series` ("ohlcv", "funding" or "open_interest")."""
    if series == "ohlcv":
        return root / "ohlcv" / timeframe / f"{venue.kind}-{venue.key}.parquet"
    return root / series / f"{venue.key}.parquet"


def read_series(path: Path, series: str, venue, timeframe: Optional[str] = None, *,
                locked: bool = False, categorical: bool = False):
    """Load a cached series; returns (frame, metadata dict).  A missing file gives an empty
    frame.

    The file's bytes are read through one descriptor and parsed (page checksums verified) up
    to `READ_ATTEMPTS` times.  An I/O error that persists raises `CacheUnreadable` and leaves
    the file in place (the disk, not the file, is at fault).  A file that fails to parse on
    every attempt is looked at once more under the series lock (`locked`: the caller holds it
    already) -- a writer may have replaced it meanwhile -- and if still corrupt it is set aside
    (``<name>.corrupt-<UTC time>``, never deleted), every row group that still parses is
    written back as the series' file, and `CacheSalvaged` is raised: it names the file and the
    reason, counts the rows salvaged and lost, and carries the salvaged series.
    categorical: label columns as pandas categoricals when the file stores them as strings (as
    decoded: no ``object`` per row), not ``object`` (`as_cached`)."""
    problem = io_error = None
    data = b""
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
            table, declared = read_bytes(data)
            meta = json.loads((declared.metadata or {}).get(META_KEY, b"null"))
            problem = check_table(table, meta, series, venue, timeframe, declared)
            if problem is None:
                return as_cached(table.to_pandas(), series, categorical), meta
        except Exception as exc:  # noqa: BLE001 - pyarrow/pandas parse failures of any kind
            problem = f"unreadable Parquet ({type(exc).__name__}: {exc})"
        time.sleep(0.01 * (attempt + 1))
    if problem is None and io_error is None:
        return empty_series(series), {}   # vanished on every look
    if io_error is not None:
        raise CacheUnreadable(f"cache file {path.name!r} ({series}, {venue.name}) could not "
                              f"be read ({io_error}); left in place")
    if not locked:
        with series_lock(path):
            return read_series(path, series, venue, timeframe, locked=True,
                               categorical=categorical)
    raise _set_aside_and_salvage(path, data, problem, series, venue, timeframe)


def read_bytes(data: bytes):
    """(the Arrow table of a cache file's bytes, every data page's CRC verified; the schema the
    file declares).

    ``ParquetFile.read``, not ``pq.read_table``: the same decoding without the dataset layer,
    which costs ~2.5x the decoding itself on a file of many small row groups.  The label
    columns the file declares as strings (`STRING_COLUMNS`) are decoded to Arrow dictionaries
    (Parquet stores them dictionary-encoded): one string per distinct label instead of one per
    row.  The declared schema is what `check_table` judges the types by."""
    plain = pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True)
    declared = plain.schema_arrow
    labels = [c for c in STRING_COLUMNS if declared.get_field_index(c) >= 0
              and pa.types.is_string(declared.field(c).type)]
    if not labels:
        return plain.read(), declared
    as_labels = pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True,
                               metadata=plain.metadata, read_dictionary=labels)
    return as_labels.read(), declared


def as_cached(frame: pd.DataFrame, series: str, categorical: bool = False) -> pd.DataFrame:
    """A frame read from a cache file, in the form `read_series` returns: the cache columns
    with ``source``, object strings, times as datetime64[ms, UTC].  Label columns that arrive
    as categoricals (`read_bytes`) become objects through their categories -- one ``str`` per
    distinct label, shared by its rows -- or stay categoricals (`categorical`)."""
    frame = frame.copy(deep=False)    # copy-on-write: columns replaced here only
    for c in STRING_COLUMNS:
        if c in frame.columns and not (categorical
                                       and isinstance(frame[c].dtype, pd.CategoricalDtype)):
            frame[c] = _objects(frame[c])
    frame["time"] = frame["time"].astype("datetime64[ms, UTC]")
    return with_source(frame, series)


def _objects(column: pd.Series) -> pd.Series:
    """A label column as ``object`` (a missing label stays missing, NaN)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.array.codes
        if not (codes < 0).any():
            labels = np.asarray(column.array.categories, dtype=object)
            return pd.Series(labels[codes], index=column.index, name=column.name, dtype=object,
                             copy=False)
    return column.astype(object)


def _set_aside_and_salvage(path, data, problem, series, venue, timeframe) -> CacheSalvaged:
    """Set a corrupt file aside, write back what `repair.salvage` recovers from its bytes
    (the caller holds the series lock); the `CacheSalvaged` to raise."""
    moved = set_aside(path)
    found = salvage(data, series, venue, timeframe)
    frame, meta = empty_series(series), {}
    if found.frame is not None and len(found.frame):
        frame = merge(empty_series(series), as_cached(found.frame, series), series)
        meta = dict(found.meta, holes=holes_of(found.meta) + found.lost_ranges)
        write_series(path, frame, series, venue, timeframe, meta.get("fetched_at"),
                     covered_from=meta.get("covered_from"), holes=meta["holes"])
    report = {"series": series, "file": path.name, "set_aside_as": moved.name,
              "rows_salvaged": found.rows, "rows_lost": found.lost}
    log.warning("cache file %s: %s", path.name, found.summary())
    return CacheSalvaged(f"cache file {path.name!r} ({series}, {venue.name}) {problem}; set "
                         f"aside as {moved.name!r}: {found.summary()}", frame, meta, report)


def merge_into(path: Path, frame: pd.DataFrame, series: str, venue,
               timeframe: Optional[str] = None, fetched_at: Optional[str] = None,
               covered_from: Optional[int] = None, *, notes: Optional[list] = None,
               filled=()):
    """Merge `frame` into the cached series under the series' cross-process lock; returns
    (the series as cached now, the metadata it had, the earliest time ever asked from).

    Read, `merge` and `write_series` happen while the lock is held, so concurrent writers of
    one file serialise and none loses the other's rows. A corrupt cached file is set aside
    (`read_series`) and the series restarts from `frame`, with the reason appended to `notes`.
    filled: holes (`holes_of`) asked of the venue for `frame`: forgotten once `frame` is in.
    Nothing is written when `frame` adds nothing and neither `covered_from` nor the holes move.
    """
    with series_lock(path):
        try:
            cached, meta = read_series(path, series, venue, timeframe, locked=True)
        except CacheUnreadable:
            raise   # unreadable, not corrupt: never overwrite what may be healthy
        except CacheSalvaged as exc:   # set aside; what parsed is the cache now
            if notes is not None:
                notes.append(str(exc))
            cached, meta = exc.frame, exc.meta
        old = (meta or {}).get("covered_from")
        covered = min([c for c in (old, covered_from) if c is not None], default=None)
        holes = holes_of(meta)
        left = [h for h in holes if h not in [tuple(f) for f in filled or ()]]
        if len(frame) == 0 and (covered == old or len(cached) == 0) and left == holes:
            return cached, meta or {}, covered
        merged = merge(cached, frame, series)
        write_series(path, merged, series, venue, timeframe, fetched_at, covered_from=covered,
                     holes=left)
        return merged, meta or {}, covered


def purge_rows(path: Path, series: str, venue, timeframe: Optional[str],
               keep: Callable[[pd.DataFrame], pd.DataFrame]) -> Optional[dict]:
    """Rewrite one cache file without the rows `keep` drops (e.g. a poisoned row written before
    rows were validated), under the series lock, so it is not dropped again on every read.

    keep: frame -> the rows to keep (a subset of the frame's rows, by time).  The removed rows
    are written to ``<name>.rejected-<UTC time>`` beside the file (a cache-format Parquet file:
    nothing is deleted).  Returns ``{"rows_removed", "set_aside_as"}``, or None when `keep`
    keeps every row (the file is then not touched)."""
    with series_lock(path):
        frame, meta = read_series(path, series, venue, timeframe, locked=True)
        kept = keep(frame)
        if len(kept) == len(frame):
            return None
        t = pd.DatetimeIndex(frame["time"]).as_unit("ms").asi8
        gone = ~np.isin(t, pd.DatetimeIndex(kept["time"]).as_unit("ms").asi8)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        aside = path.with_name(f"{path.name}.rejected-{stamp}")
        fetched_at, covered = meta.get("fetched_at"), meta.get("covered_from")
        write_series(aside, frame[gone], series, venue, timeframe, fetched_at, covered)
        write_series(path, frame[~gone], series, venue, timeframe, fetched_at, covered,
                     holes=holes_of(meta) + removed_ranges(t, gone))
        log.warning("cache file %s: %d rejected row(s) moved to %s", path.name, int(gone.sum()),
                    aside.name)
        return {"rows_removed": int(gone.sum()), "set_aside_as": aside.name}


def holes_of(meta) -> list:
    """The ``(first, last)`` time ranges (epoch ms) of rows a cache file lost (its metadata's
    ``holes``, see `merge_into`); [] for files that have none."""
    return [(int(lo), int(hi)) for lo, hi in ((meta or {}).get("holes") or ())]


def removed_ranges(times_ms, removed) -> list:
    """The ``(first, last)`` ranges of runs of consecutive removed rows: `times_ms` the file's
    sorted row times (epoch ms), `removed` a boolean mask over them."""
    out, run = [], None
    for t, gone in zip(np.asarray(times_ms, dtype="int64").tolist(), removed):
        if gone:
            run = (run[0], t) if run else (t, t)
        elif run:
            out.append(run)
            run = None
    return out + ([run] if run else [])


def read_or_reset(path: Path, series: str, venue, timeframe, notes: list):
    """(cached frame, metadata) of a series for a fetch: a corrupt file is set aside and what
    was salvaged is returned (`read_series`), an unreadable one gives an empty frame; either
    is noted in `notes`."""
    try:
        return read_series(path, series, venue, timeframe)
    except CacheSalvaged as exc:   # what still parsed is the cache now
        notes.append(str(exc))
        return exc.frame, exc.meta
    except CacheError as exc:
        notes.append(str(exc))
        return empty_series(series), {}


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
    if series == "funding":   # one settlement, one time (older caches kept ms offsets)
        both = both.assign(time=settlement_times(both["time"]))
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


def cached_closes(folder: Path, exclude=()) -> Optional[pd.DataFrame]:
    """Closes of the spot and perp OHLCV files in `folder` (``<root>/ohlcv/<timeframe>``)
    but those in `exclude`: a frame indexed by bar open time, one column per file (its stem),
    or None when there are none -- the peers a venue's new bars are checked against
    (`btcflow_nb.sources.checks`).  Read-only and lock-free: a file that cannot be read is
    skipped here (reading it as a series reports it)."""
    if not folder.exists():
        return None
    cols = {}
    for path in sorted(folder.glob("*.parquet")):
        if path in exclude or path.name.startswith("fx-"):
            continue
        try:
            with open(path, "rb") as fh:
                table = pq.read_table(pa.BufferReader(fh.read()), columns=["time", "close"])
            times = table.column("time").to_numpy().astype("datetime64[ms]").astype("int64")
            cols[path.stem] = pd.Series(table.column("close").to_numpy(),
                                        index=pd.to_datetime(times, unit="ms", utc=True))
        except Exception:  # noqa: BLE001 - a peer's bad file is not this venue's problem
            continue
    if not cols:
        return None
    return pd.concat({k: v[~v.index.duplicated()] for k, v in cols.items()}, axis=1, sort=True)


def foreign_files(cache_dir=None) -> list:
    """Files under the cache root that are not cache files (nor set-aside / temporary ones),
    as paths relative to the cache directory."""
    root = cache_root(cache_dir)
    if not root.exists():
        return []
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith(".") and ".corrupt-" not in p.name \
                and ".rejected-" not in p.name and p.suffix != ".parquet":
            out.append(str(p.relative_to(root.parent)))
    return out

