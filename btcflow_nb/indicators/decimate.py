"""Viewport decimation: which points of a long series a chart needs to look exactly the same.

A chart ``W`` pixels wide cannot show more than about two values per horizontal pixel: within
one pixel column a line is drawn as a vertical stroke from its lowest to its highest value. So
the points to send are, for each pixel column (**bucket**) of the visible x range, the one
with the **minimum** and the one with the **maximum** ``y`` (the "min/max" or M4-without-ends
decimation, Jugel et al., *M4: A Visualization-Oriented Time Series Data Aggregation*, VLDB
2014). Everything a reader can see survives: every extreme, the sign of every bar of a bar
chart (a bucket holding a negative and a positive bar keeps both), and the line's breaks.

Rules (``minmax_indices``):

- **buckets**: ``buckets`` equal slices of ``[lo, hi]`` (the visible range, default the data's
  extent); point ``i`` is in bucket ``floor((x_i - lo) / (hi - lo) × buckets)`` (``x_i = hi``
  in the last one). Per bucket the first position of its minimum and of its maximum finite
  ``y`` are kept: at most **2 per bucket**.
- **gaps**: NaN ``y`` breaks a line. For every bucket, one NaN is kept in each stretch where
  NaNs lie before its first kept point, between its two kept points and after its last (an
  all-NaN bucket keeps one NaN): wherever the full series has a NaN between two kept points,
  the decimated one has one too, so a break stays a break (a bucket with a gap holds at most
  5 points, still one pixel wide).
- **outside the range**: the nearest point on each side of ``[lo, hi]`` (so a line runs on to
  the edge) and a coarse overview of ``outside`` buckets on each side (so a pan shows the
  shape at once, before the exact decimation of the new range arrives); the first and last
  point always (the scale's extent does not change).
- ``keep`` (e.g. signal onsets): kept whatever the buckets say.
- **identity when small**: when the visible range holds at most ``2 × buckets`` points it is
  kept whole (all its points, NaN included); so is the whole series when it has at most
  ``2 × buckets`` points.

``x`` must be sorted ascending (bar times are); datetime64 or numbers. ``y`` is one line
(shape ``(n,)``) or several sharing ``x`` (shape ``(k, n)``): the kept positions are then the
union over the lines. The result is sorted positions into ``x``: ``x[i], y[..., i]`` are the
exact original values, never averages.

Bars (``bar_indices``): a bar chart draws every bar from 0, so within one column the bar
reaching furthest on each side of zero covers the others of its sign: one bar per column where
its bars share a sign, two (the min and the max) where they do not.

Cost: O(n) NumPy passes (no Python loop over points); ~1 ms per 70k points.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_window

__all__ = ["minmax_indices", "bar_indices", "first_per_bucket", "decimated_size_bound"]


def _as_float_axis(values) -> np.ndarray:
    """x positions as float64: datetime64 as nanoseconds since the epoch, numbers as they are."""
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ns]").astype(np.int64).astype(np.float64)
    return arr.astype(np.float64)


def _scalar_position(value, like: np.ndarray) -> float:
    """A range end (datetime64, Timestamp, datetime, ISO string or number) on the float axis of
    ``like``; an aware time is taken in UTC (bqplot's times are naive UTC)."""
    if np.issubdtype(like.dtype, np.datetime64):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return float(stamp.as_unit("ns").value)
    return float(value)


def _first_per_group(positions: np.ndarray, group: np.ndarray) -> np.ndarray:
    """The first of ``positions`` of each run of equal ``group`` labels (groups sorted)."""
    if len(positions) == 0:
        return positions
    head = np.concatenate([[True], group[1:] != group[:-1]])
    return positions[head]


def _bucket_extremes(bucket: np.ndarray, y: np.ndarray, n_buckets: int) -> np.ndarray:
    """Positions (into ``y``) of each bucket's first minimum and first maximum finite value,
    and of the NaNs that keep its breaks (see the module rules). ``bucket``: non-decreasing
    integer labels in ``[0, n_buckets)``."""
    finite = np.isfinite(y)
    fin = np.flatnonzero(finite)
    kept = [np.empty(0, dtype=np.int64)]
    lo_pos = np.full(n_buckets, np.iinfo(np.int64).max)   # first kept point of each bucket
    hi_pos = np.full(n_buckets, np.iinfo(np.int64).max)
    if len(fin):
        b, v = bucket[fin], y[fin]
        starts = np.flatnonzero(np.concatenate([[True], b[1:] != b[:-1]]))
        counts = np.diff(np.append(starts, len(v)))
        group = np.repeat(np.arange(len(starts)), counts)
        mins = np.repeat(np.minimum.reduceat(v, starts), counts)
        maxs = np.repeat(np.maximum.reduceat(v, starts), counts)
        at_min = np.flatnonzero(v == mins)
        at_max = np.flatnonzero(v == maxs)
        first_min = fin[_first_per_group(at_min, group[at_min])]
        first_max = fin[_first_per_group(at_max, group[at_max])]
        kept += [first_min, first_max]
        heads = b[starts]
        lo_pos[heads] = np.minimum(first_min, first_max)
        hi_pos[heads] = np.maximum(first_min, first_max)
    nan = np.flatnonzero(~finite)
    if len(nan):
        nb = bucket[nan]
        stretch = np.where(nan < lo_pos[nb], 0, np.where(nan < hi_pos[nb], 1, 2))
        kept.append(_first_per_group(nan, nb * 3 + stretch))
    return np.concatenate(kept)


def _labels(pos: np.ndarray, lo: float, hi: float, n_buckets: int) -> np.ndarray:
    """Bucket of each position in ``[lo, hi]`` (all of ``pos`` must lie in it)."""
    if hi <= lo:
        return np.zeros(len(pos), dtype=np.int64)
    b = np.floor((pos - lo) / (hi - lo) * n_buckets).astype(np.int64)
    return np.clip(b, 0, n_buckets - 1)


def _extremes_in(pos, y2, idx, lo, hi, n_buckets) -> list[np.ndarray]:
    """Kept positions (into the full arrays) among ``idx`` (contiguous, inside [lo, hi])."""
    if len(idx) == 0:
        return []
    labels = _labels(pos[idx], lo, hi, n_buckets)
    return [idx[_bucket_extremes(labels, row[idx], n_buckets)] for row in y2]


def minmax_indices(x, y, buckets: int, lo=None, hi=None, *, keep=None,
                   outside: int | None = None) -> np.ndarray:
    """Sorted positions of the points of ``(x, y)`` a chart of ``buckets`` pixel columns
    showing ``lo..hi`` needs (min and max per column; rules in the module docstring).

    Parameters
    ----------
    x : array of datetime64 or numbers, shape (n,)
        Sorted ascending.
    y : array of floats, shape (n,) or (k, n)
        One line, or ``k`` lines sharing ``x`` (union of their kept points).
    buckets : int
        Pixel columns of the visible range (>= 1): at most 2 finite points each.
    lo, hi : scalar, optional
        Visible range, in ``x``'s units (datetime64, Timestamp or number); None = data extent.
    keep : array of bool (n,) or int positions, optional
        Points always kept (signal onsets).
    outside : int, optional
        Overview buckets on each side outside ``[lo, hi]`` (default ``max(1, buckets // 8)``).

    Returns
    -------
    ndarray of int64
        Sorted unique positions into ``x``.

    >>> x = np.arange(8.0)
    >>> minmax_indices(x, np.array([0, 5, 1, 2, 9, 3, 4, 8.0]), 2).tolist()
    [0, 1, 4, 5, 7]
    """
    return _minmax(x, y, buckets, lo, hi, keep=keep, outside=outside, whole=2)[0]


def _minmax(x, y, buckets, lo, hi, *, keep, outside, whole: int):
    """:func:`minmax_indices` with its identity threshold ``whole × buckets``; also returns
    what :func:`bar_indices` needs to group the kept points by column: ``(pos, lo, hi, a, b,
    side, fixed)`` (float axis, visible range, its positions ``a:b``, overview buckets per side,
    the positions always kept), or None when the series is kept whole."""
    buckets = check_window("buckets", buckets)
    x = np.asarray(x)
    y2 = np.atleast_2d(np.asarray(y, dtype=np.float64))
    n = len(x)
    if x.ndim != 1 or y2.ndim != 2 or y2.shape[1] != n:
        raise ValueError(f"x must be 1-d and y of shape (n,) or (k, n) with n = len(x) = {n}; "
                         f"got x {x.shape}, y {np.shape(y)}")
    if n <= whole * buckets:
        return np.arange(n, dtype=np.int64), None
    pos = _as_float_axis(x)
    lo_v = pos[0] if lo is None else max(_scalar_position(lo, x), pos[0])
    hi_v = pos[-1] if hi is None else min(_scalar_position(hi, x), pos[-1])
    if hi_v < lo_v:   # the visible range holds no data: only the context around it
        lo_v = hi_v = _scalar_position(lo, x) if lo is not None else pos[0]
    a, b = np.searchsorted(pos, lo_v, side="left"), np.searchsorted(pos, hi_v, side="right")
    fixed = [np.array([0, n - 1], dtype=np.int64)]
    if a > 0:
        fixed.append(np.array([a - 1], dtype=np.int64))
    if b < n:
        fixed.append(np.array([b], dtype=np.int64))
    if keep is not None:
        keep = np.asarray(keep)
        fixed.append(np.flatnonzero(keep) if keep.dtype == bool else keep.astype(np.int64))
    kept = list(fixed)
    inside = np.arange(a, b, dtype=np.int64)
    if len(inside) <= whole * buckets:
        kept.append(inside)
    else:
        kept += _extremes_in(pos, y2, inside, lo_v, hi_v, buckets)
    side = max(1, buckets // 8) if outside is None else int(outside)
    if side > 0:
        kept += _extremes_in(pos, y2, np.arange(0, a, dtype=np.int64), pos[0], lo_v, side)
        kept += _extremes_in(pos, y2, np.arange(b, n, dtype=np.int64), hi_v, pos[-1], side)
    return np.unique(np.concatenate(kept)), (pos, lo_v, hi_v, a, b, side,
                                             np.unique(np.concatenate(fixed)))


def bar_indices(x, y, buckets: int, lo=None, hi=None, *, outside: int | None = None) -> np.ndarray:
    """Sorted positions of the bars of a bar chart (bars from 0 to ``y``) that a chart of
    ``buckets`` pixel columns showing ``lo..hi`` needs: **one bar per pixel column** where the
    column's bars all have one sign, two where it holds both.

    Within one column every bar starts at 0, so the bar reaching furthest on each side of zero
    covers all the others of that sign: of :func:`minmax_indices`' min and max of a column the
    one of smaller magnitude is dropped when both have the same sign (it is drawn under the
    other). A column with a negative and a positive bar keeps both (every sign survives), and
    the rules of :func:`minmax_indices` hold otherwise (first/last point and the range's edge
    neighbours always, the overview columns outside the range thinned the same way); NaN bars
    draw nothing and are dropped. Kept whole when ``x`` holds at most ``buckets`` bars.

    >>> bar_indices(np.arange(8.0), np.array([1, 5, 2, -1, 3, 4, 2, 6.0]), 2).tolist()
    [0, 1, 3, 7]
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"bar_indices takes one series of bars, y of shape (n,); got {y.shape}")
    idx, ctx = _minmax(x, y, buckets, lo, hi, keep=None, outside=outside, whole=1)
    if ctx is None:
        return idx
    pos, lo_v, hi_v, a, b, side, fixed = ctx
    p = pos[idx]
    column = np.where(idx < a, _labels(np.minimum(p, lo_v), pos[0], lo_v, max(side, 1)) - side,
                      np.where(idx >= b, buckets + _labels(np.maximum(p, hi_v), hi_v, pos[-1],
                                                           max(side, 1)),
                               _labels(np.clip(p, lo_v, hi_v), lo_v, hi_v, buckets)))
    v = y[idx]
    is_fixed = np.isin(idx, fixed)
    finite = np.isfinite(v)
    keep = is_fixed.copy()
    g = np.flatnonzero(finite)
    if len(g):
        sign = (v[g] >= 0).astype(np.int64)
        # per (column, sign): the largest magnitude first (ties: the earlier bar)
        order = np.lexsort((g, -np.abs(v[g]), sign, column[g]))
        gs, col, sg = g[order], column[g][order], sign[order]
        head = np.concatenate([[True], (col[1:] != col[:-1]) | (sg[1:] != sg[:-1])])
        keep[gs[head]] = True
    return idx[keep]


def decimated_size_bound(buckets: int, outside: int | None = None, lines: int = 1) -> int:
    """Most points ``minmax_indices`` keeps for gap-free lines (``keep`` excluded): 2 per
    visible and per overview bucket and line, plus the first, last and two edge neighbours."""
    side = max(1, buckets // 8) if outside is None else int(outside)
    return 2 * lines * (buckets + 2 * side) + 4


def first_per_bucket(x, buckets: int, lo=None, hi=None) -> np.ndarray:
    """Sorted positions of the first point of ``x`` in each pixel column, for markers: pixel
    columns ``(hi - lo) / buckets`` wide, laid from ``lo`` over the whole axis (so points
    outside the visible range are thinned at the same scale). Markers drawn in one pixel
    column cover each other; the first one stands for them.

    >>> first_per_bucket(np.array([0.0, 0.1, 0.2, 5.0, 9.9]), 10, 0.0, 10.0).tolist()
    [0, 3, 4]
    """
    buckets = check_window("buckets", buckets)
    x = np.asarray(x)
    if len(x) <= 1:
        return np.arange(len(x), dtype=np.int64)
    pos = _as_float_axis(x)
    lo_v = pos[0] if lo is None else _scalar_position(lo, x)
    hi_v = pos[-1] if hi is None else _scalar_position(hi, x)
    width = (hi_v - lo_v) / buckets
    if not width > 0:
        return np.arange(len(x), dtype=np.int64)
    column = np.floor((pos - lo_v) / width).astype(np.int64)
    return np.flatnonzero(np.concatenate([[True], column[1:] != column[:-1]]))
