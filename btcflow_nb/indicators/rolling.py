"""Rolling-window indicators: moving average, standard deviation, z-score, Bollinger bands, and
Pine's cross events.

Conventions
-----------
- Windows are in bars and must be whole numbers >= 1.
- The lookback is called ``window`` in every function (``w`` in the formulas): the number of
  bars each value is computed over, the current bar included.
- A rolling value needs ``window`` valid values in its window: any NaN inside the window makes
  the result NaN (as TA-Lib does on a gap-free series, and as Pine's ``ta.sma`` does with ``na``).
  After a gap, values resume once ``window`` consecutive valid values exist again.
- ``stdev`` is the **population** standard deviation (divide by N), as Pine's ``ta.stdev`` and
  TA-Lib's ``STDDEV``. pandas' ``Series.std()`` defaults to the *sample* deviation (N - 1), which
  for a 20-bar Bollinger band is 2.6 % wider: a classic porting bug.
- Series in, Series out; the index is preserved.

References: TA-Lib (``SMA``, ``STDDEV``, ``BBANDS``); Pine Script v5 reference (``ta.sma``,
``ta.stdev``, ``ta.bb``, ``ta.crossover``, ``ta.crossunder``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_range, check_window
from ._kernel import _like, _rolling_moments, _series


def sma(x, window: int) -> pd.Series:
    r"""Simple moving average over ``window`` bars.

    .. math:: \mathrm{SMA}_t = \frac{1}{w}\sum_{i=0}^{w-1} x_{t-i}

    NaN until ``window`` values exist and wherever the window holds a NaN.

    >>> sma(pd.Series([1.0, 2.0, 3.0, 4.0]), 2).tolist()
    [nan, 1.5, 2.5, 3.5]
    """
    window = check_window("window", window)
    s = _series(x)
    return _like(_rolling_moments(s.to_numpy(), window, need_var=False)[0], s)


def stdev(x, window: int) -> pd.Series:
    r"""Population standard deviation over ``window`` bars (divide by N, not N - 1).

    .. math:: \sigma_t = \sqrt{\frac{1}{w}\sum_{i=0}^{w-1} (x_{t-i} - \mathrm{SMA}_t)^2}

    A window of identical values gives exactly 0. Same NaN rules as :func:`sma`.

    >>> stdev(pd.Series([1.0, 3.0]), 2).tolist()   # sample std would say 1.414
    [nan, 1.0]
    """
    window = check_window("window", window)
    s = _series(x)
    return _like(np.sqrt(_rolling_moments(s.to_numpy(), window)[1]), s)


def zscore(x, window: int) -> pd.Series:
    r"""Rolling z-score: how many (population) standard deviations ``x`` is from its mean.

    .. math:: z_t = \frac{x_t - \mathrm{SMA}(x, w)_t}{\sigma(x, w)_t}

    NaN until ``window`` values exist, and NaN — never ``inf`` — where the window has zero
    variance (the z-score is undefined there). A spread below ``1e-10`` of the window mean's
    magnitude counts as zero: it is floating-point rounding of a constant (e.g. an OI-weighted
    mean of venues all paying 0.01 % per 8 h), and its z-score would be noise of any size. Real
    variation is many orders of magnitude larger. The current bar is part of its own window, as
    in Pine (``(x - ta.sma(x, w)) / ta.stdev(x, w)``).
    """
    window = check_window("window", window)
    s = _series(x)
    return _like(_zscore_arrays(s.to_numpy(), window)[0], s)


def zscore_window(x, window: int) -> pd.DataFrame:
    r""":func:`zscore` with the numbers it is made of: columns ``z``, ``mean`` (the window's
    SMA) and ``std`` (its population standard deviation), so that
    ``z = (x - mean) / std`` wherever ``z`` is defined. ``std`` is reported even where ``z`` is
    NaN because the window is constant (``std`` 0 or rounding noise).
    """
    window = check_window("window", window)
    s = _series(x)
    z, mean, sd = _zscore_arrays(s.to_numpy(), window, keep_mean=True)
    return pd.DataFrame({"z": z, "mean": mean, "std": sd}, index=s.index, copy=False)


def _zscore_arrays(values: np.ndarray, window: int, keep_mean: bool = False):
    """``(z, mean, std)`` arrays of :func:`zscore` (``mean`` is overwritten unless
    ``keep_mean``)."""
    mean, sd = _rolling_moments(values, window)
    np.sqrt(sd, out=sd)
    z = np.subtract(values, mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        z /= sd
    rounding = np.abs(mean, out=None if keep_mean else mean)
    rounding *= _ROUNDING_SPREAD
    z[np.less_equal(sd, rounding)] = np.nan        # includes sd == 0; NaN windows stay NaN
    return z, mean, sd


#: Relative spread (std / |mean|) below which a window counts as constant in :func:`zscore`.
_ROUNDING_SPREAD = 1e-10


def bollinger(x, window: int = 20, mult: float = 2.0) -> pd.DataFrame:
    """Bollinger bands: basis ``SMA(x, window)``, upper/lower ``basis ± mult · stdev(x, window)``.

    ``stdev`` is the population deviation (TA-Lib ``BBANDS`` with ``matype=0``, Pine ``ta.bb``).

    Returns a DataFrame with columns ``basis, upper, lower``.
    """
    window = check_window("window", window)
    mult = check_range("mult", mult, 0, None)
    s = _series(x)
    bands = np.empty((3, len(s)))        # rows: basis, upper, lower (the frame's columns)
    basis, width = _rolling_moments(s.to_numpy(), window, out=bands[::2])
    np.sqrt(width, out=width)            # variance -> half-width, in the "lower" row
    width *= mult
    np.add(basis, width, out=bands[1])
    np.subtract(basis, width, out=width)
    return pd.DataFrame(bands.T, index=s.index, columns=["basis", "upper", "lower"], copy=False)


def _pair(a, b):
    a = _series(a, "a")
    if np.isscalar(b):
        b = pd.Series(float(b), index=a.index)
    else:
        b = _series(b, "b")
        if len(b) != len(a):
            raise ValueError(f"a and b must have the same length; got {len(a)} and {len(b)}")
        b = pd.Series(b.to_numpy(), index=a.index)
    return a.to_numpy(), b.to_numpy(), a.index


def crossover(a, b) -> pd.Series:
    """True at ``t`` iff ``a_t > b_t`` and ``a_{t-1} <= b_{t-1}`` (Pine ``ta.crossover``).

    Comparisons with NaN are False, so no cross is reported into or out of a gap. ``b`` may be a
    scalar (a fixed level).
    """
    av, bv, idx = _pair(a, b)
    out = np.zeros(len(av), dtype=bool)
    out[1:] = (av[1:] > bv[1:]) & (av[:-1] <= bv[:-1])
    return pd.Series(out, index=idx)


def crossunder(a, b) -> pd.Series:
    """True at ``t`` iff ``a_t < b_t`` and ``a_{t-1} >= b_{t-1}`` (Pine ``ta.crossunder``)."""
    av, bv, idx = _pair(a, b)
    out = np.zeros(len(av), dtype=bool)
    out[1:] = (av[1:] < bv[1:]) & (av[:-1] >= bv[:-1])
    return pd.Series(out, index=idx)
