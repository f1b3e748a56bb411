"""Salvage of a corrupt cache file: every row that still parses is kept.

A cache file (`btcflow_nb.sources.cachefile`) is written in row groups of
``ROW_GROUP_ROWS`` rows whose data pages carry CRCs.  When a file fails to parse on every read
(`btcflow_nb.sources.cache.read_series`), it is set aside whole -- never deleted -- and
`salvage` reads it again **row group by row group**: a group whose pages all pass their
checksums and whose columns have the cache's types is kept; a group that fails is lost (and
counted).  So a bit flip in one row group of a multi-group file costs at most that group's
rows, and the rest is written back as the series' file.

Nothing is salvaged from a file whose footer cannot be read (the row groups cannot be found)
or that is not this series' file (its identity -- series, venue, ccxt id, symbol, timeframe --
differs, or its columns are not a cache file's): rows of another instrument are never merged.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .cachefile import META_KEY, check_table


@dataclass
class Salvage:
    """What `salvage` recovered from one damaged file.

    frame: the rows that parsed (a pandas frame as `pyarrow` gives it, sorted as written), or
        None when nothing could be read; total: rows the file's footer says it held (None when
        the footer is unreadable); meta: the file's btcflow_nb metadata ({} when unreadable);
    groups_lost: indices of the row groups that failed; lost_ranges: their ``(first, last)``
    times (epoch ms), from the footer's statistics of the time column, else the times of the
    neighbouring groups' rows (the holes a fetch asks again); why: the reason nothing was
    salvaged."""

    frame: Optional[pd.DataFrame] = None
    total: Optional[int] = None
    meta: dict = field(default_factory=dict)
    groups_lost: list = field(default_factory=list)
    lost_ranges: list = field(default_factory=list)   # (first, last) ms of each group lost
    why: str = ""

    @property
    def rows(self) -> int:
        return 0 if self.frame is None else int(len(self.frame))

    @property
    def lost(self) -> Optional[int]:
        """Rows lost for good (None: unknown, the footer was unreadable)."""
        return None if self.total is None else self.total - self.rows

    def summary(self) -> str:
        if self.total is None:
            return f"nothing salvaged ({self.why}); its row count is unknown"
        if self.frame is None and self.why:
            return f"nothing salvaged ({self.why}); {self.total} rows not merged back"
        if not self.rows:
            return f"nothing salvaged: all {self.total} rows lost (no row group readable)"
        lost = (f", {self.lost} lost (row group(s) {self.groups_lost} unreadable)"
                if self.lost else "")
        return f"{self.rows} of {self.total} rows salvaged and written back{lost}"


def salvage(data: bytes, series: str, venue, timeframe: Optional[str] = None) -> Salvage:
    """Read the bytes of a damaged cache file row group by row group (page checksums
    verified); return what parsed, see `Salvage`.  Pure: reads `data`, writes nothing."""
    try:
        pf = pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True)
        total = int(pf.metadata.num_rows)
        raw = (pf.schema_arrow.metadata or {}).get(META_KEY, b"null")
        meta = json.loads(raw)
    except Exception as exc:  # noqa: BLE001 - any failure: the footer is unreadable
        return Salvage(why=f"footer unreadable: {type(exc).__name__}")
    out = Salvage(total=total, meta=meta if isinstance(meta, dict) else {})
    empty = pf.schema_arrow.empty_table()
    problem = check_table(empty, meta, series, venue, timeframe)
    if problem is not None:
        out.why = f"the file {problem}"
        return out
    parts = []
    for i in range(pf.num_row_groups):
        try:
            group = pf.read_row_group(i)
            if check_table(group, meta, series, venue, timeframe) is not None:
                raise ValueError("row group fails the schema check")
            # the pandas metadata may be the damaged part: build columns from Arrow alone
            parts.append(group.replace_schema_metadata(None).to_pandas())
        except Exception:  # noqa: BLE001 - a damaged group: its rows are lost, the rest kept
            out.groups_lost.append(i)
    if parts:
        out.frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    out.lost_ranges = [_group_range(pf, i, out.frame, out.groups_lost) for i in out.groups_lost]
    return out


def _group_range(pf, i: int, kept, lost) -> tuple:
    """(first, last) time (epoch ms) of row group `i` of `pf`: its footer statistics, or,
    when they are missing, from just after the kept rows before it to just before the kept
    rows after it (`kept`: the salvaged frame, `lost`: the indices of the groups lost)."""
    stats = pf.metadata.row_group(i).column(0).statistics
    if stats is not None and stats.has_min_max:
        return tuple(int(pd.Timestamp(v).value // 1_000_000) for v in (stats.min, stats.max))
    t = [] if kept is None else pd.DatetimeIndex(kept["time"]).as_unit("ms").asi8
    before = sum(pf.metadata.row_group(j).num_rows for j in range(i) if j not in lost)
    return (int(t[before - 1]) + 1 if before else 0,
            int(t[before]) - 1 if before < len(t) else 2**62)
