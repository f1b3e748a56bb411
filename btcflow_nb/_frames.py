"""Fast per-venue access to long frames (``venue, time, ...``)."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd


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
