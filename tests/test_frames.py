"""btcflow_nb._frames.last_valid_per_bar: the one "last valid value per bar" that
MarketData.resample and indicators.oi_at_bar_close share."""
from __future__ import annotations

import numpy as np
import pandas as pd

from btcflow_nb._frames import last_valid_per_bar

NAN = np.nan


def test_last_valid_per_bar_by_hand():
    bars = np.array([0, 0, 0, 1, 1, 2, 3, 3])
    values = np.array([1.0, 2.0, NAN, NAN, NAN, 5.0, 6.0, NAN])
    ends, last = last_valid_per_bar(values, bars)
    assert ends.tolist() == [2, 4, 5, 7]
    np.testing.assert_array_equal(last, [2.0, NAN, 5.0, 6.0])  # a missing close falls back


def test_last_valid_per_bar_two_labels_and_columns():
    """A long frame sorted by venue then time: a new venue starts a new bar even at the same
    bar open; each column falls back on its own."""
    bars = np.array([0, 0, 0, 0])
    venue = np.array([0, 0, 1, 1])
    values = np.array([[1.0, 10.0], [NAN, 20.0], [3.0, NAN], [4.0, NAN]])
    ends, last = last_valid_per_bar(values, bars, venue)
    assert ends.tolist() == [1, 3]
    np.testing.assert_array_equal(last, [[1.0, 20.0], [4.0, NAN]])


def test_last_valid_per_bar_equals_groupby_last():
    """Random runs and holes (leading, trailing, whole bars, whole columns) against pandas'
    groupby().last(), which skips NaN; values are copied bit for bit."""
    rng = np.random.default_rng(0)
    for case in range(500):
        n, k = int(rng.integers(0, 40)), int(rng.integers(1, 4))
        bars, venue = np.sort(rng.integers(0, 8, n)), np.sort(rng.integers(0, 3, n))
        values = rng.normal(size=(n, k))
        values[rng.random((n, k)) < rng.random()] = NAN
        labels = (bars,) if case % 2 else (bars, venue)
        starts = np.zeros(n, dtype=bool)
        for key in labels:
            starts[1:] |= key[1:] != key[:-1]
        expected = pd.DataFrame(values).groupby(np.cumsum(starts)).last().to_numpy().reshape(-1, k)
        ends, last = last_valid_per_bar(values, *labels)
        run_ends = np.flatnonzero(np.append(starts[1:], True)) if n else []
        np.testing.assert_array_equal(ends, run_ends)
        np.testing.assert_array_equal(last, expected)
        np.testing.assert_array_equal(last_valid_per_bar(values[:, 0], *labels)[1], expected[:, 0])
