"""Small helpers the indicator tests share: UTC timestamps, daily bars, equal-with-NaN."""
from __future__ import annotations

import numpy as np
import pandas as pd

NAN = np.nan


def T(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def days(start: str, n: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="D", tz="UTC", name="time")


def assert_same(actual, expected, rtol=1e-12):
    """Equal values and equal NaN pattern."""
    a = np.asarray(actual, dtype=float)
    e = np.asarray(expected, dtype=float)
    assert a.shape == e.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e))
    np.testing.assert_allclose(a[~np.isnan(e)], e[~np.isnan(e)], rtol=rtol, atol=0)
