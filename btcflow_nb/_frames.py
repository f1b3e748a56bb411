"""Small NumPy/pandas helpers over frames: fast per-venue access to long frames (``venue, time,
...``) and the one "last valid value per bar" (:func:`last_valid_per_bar`, and
:func:`last_per_bar` on wide frames)."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from .timeframes import bar_open, bar_open_ns


def iter_venues(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """Yield ``(venue, rows)`` for each venue of a long frame, rows in their frame order.

    Frames built by :meth:`MarketData.from_frames` store ``venue`` as a categorical sorted by
    venue then time, so each venue is one contiguous slice found from integer codes — no string
    hashing or group sorting over millions of rows. Other frames fall back to ``groupby``.
    """
    if len(frame) == 0:
        return
    venue = frame["venue"]
    if isinstance(venue.dtype, pd.CategoricalDtype):
        codes = venue.cat.codes.to_numpy()
        if len(codes) and (codes[1:] >= codes[:-1]).all():
            starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
            stops = np.append(starts[1:], len(codes))
            cats = venue.cat.categories
            for a, b in zip(starts, stops):
                yield str(cats[codes[a]]), frame.iloc[a:b]
            return
    for v, g in frame.groupby("venue", sort=False, observed=True):
        yield str(v), g


def distinct(values) -> list:
    """The distinct values of a label column in order of first appearance (``pd.unique``),
    with a fast path for the usual case of one label repeated (one pointer-equal comparison
    per row instead of hashing every string); a categorical is judged by its integer codes
    (a missing value is NaN, as ``pd.unique`` gives it)."""
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        cat = values.array if isinstance(values, pd.Series) else values
        codes = cat.codes
        first = codes[:1] if len(codes) and (codes == codes[0]).all() else pd.unique(codes)
        return [cat.categories[c] if c >= 0 else np.nan for c in first]
    values = np.asarray(values, dtype=object)
    if len(values) and (values == values[0]).all():
        return [values[0]]
    return list(pd.unique(values))


def venues_of(frame: pd.DataFrame) -> list[str]:
    """Venues present in a long frame, in order of first appearance."""
    if len(frame) == 0:
        return []
    venue = frame["venue"]
    if isinstance(venue.dtype, pd.CategoricalDtype):
        codes = venue.cat.codes.to_numpy()
        starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
        order = dict.fromkeys(codes[starts].tolist())  # run heads, first appearance order
        return [str(venue.cat.categories[c]) for c in order if c >= 0]
    return [str(v) for v in pd.unique(venue)]


def last_valid_per_bar(values: np.ndarray, *labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bar close of every series: per bar, the last valid (non-NaN) value in the bar.

    ``values`` holds one row per sample (1-d, or 2-d with one column per series), in time order
    within each series; ``labels`` give each row its bar (the bar's open time, e.g. from
    :func:`~btcflow_nb.timeframes.bar_open_ns`) and, for a long frame sorted by venue then time,
    its venue (category codes). A bar is a run of consecutive rows with equal labels.

    Returns ``(ends, last)``: ``ends`` the position of each bar's last row (so
    ``labels[0][ends]`` are the bars, in order); ``last[i]`` (per column) the value of the bar's
    last row, or, where that one is missing, of the bar's last row that has one; NaN when no row
    of the bar has a value. The values are copied, not computed: bit for bit the samples'.
    This is "last valid value per bar" for :meth:`MarketData.resample` (prices and OI) and for
    :func:`~btcflow_nb.indicators.oi_at_bar_close`.
    """
    n = len(values)
    last_row = np.ones(n, dtype=bool)  # the next row starts another bar (or there is none)
    first, *others = labels
    np.not_equal(first[1:], first[:-1], out=last_row[:-1])
    for key in others:
        last_row[:-1] |= key[1:] != key[:-1]
    ends = np.flatnonzero(last_row)
    last = values[ends]
    if len(ends) == n or not np.isnan(last).any():  # one row per bar, or every bar's last row
        return ends, last                           # has its value: nothing to look back for
    columns = [last] if last.ndim == 1 else [last[:, j] for j in range(last.shape[1])]
    for j, close in enumerate(columns):
        miss = np.flatnonzero(np.isnan(close))  # bars whose last row has no value
        if len(miss) == 0:
            continue
        col = values if last.ndim == 1 else values[:, j]
        valid = np.flatnonzero(~np.isnan(col))  # rows that have one
        if len(valid) == 0:
            continue
        # per such bar, the latest row with a value up to its end; it counts if inside the bar
        latest = np.searchsorted(valid, ends[miss], side="right") - 1
        row = valid[np.maximum(latest, 0)]
        start = np.where(miss > 0, ends[miss - 1] + 1, 0)
        close[miss] = np.where((latest >= 0) & (row >= start), col[row], np.nan)
    return ends, last


def last_per_bar(frame: pd.DataFrame, tf: str) -> pd.DataFrame:
    """Wide frame re-barred to ``tf``: the last non-missing value per column in each bar (the
    bar's close), labelled with the bar's open time. A frame already on ``tf`` bars comes back
    as it is."""
    if len(frame) == 0:
        return frame
    ns = frame.index.as_unit("ns").asi8
    labels_ns = bar_open_ns(ns, tf)
    if np.array_equal(labels_ns, ns):  # already one row per bar of this timeframe
        return frame
    last, close = last_valid_per_bar(frame.to_numpy(), labels_ns)  # the index is sorted
    bars = pd.DatetimeIndex(bar_open(frame.index[last], tf), name="time")
    return pd.DataFrame(close, index=bars, columns=frame.columns)
