"""Golden tests: sma, stdev and bollinger equal TA-Lib's SMA, STDDEV and BBANDS (matype=0) to
1e-9 relative on long random series at BTC-like levels, including after NaN gaps.

Documented NaN rule (btcflow_nb.indicators): a window holding a NaN gives NaN, and values resume
once ``window`` consecutive valid values exist. TA-Lib has no such rule (a NaN poisons its running
sums for good), so the reference is TA-Lib run separately on each NaN-free segment.

Tolerance: TA-Lib computes the variance from one-pass running sums, so its own rounding error
is ~eps * level^2 / variance: where the window's deviation is below 2e-4 of the price level
(two nearly equal closes) TA-Lib itself drifts from the exact value by more than 1e-9 relative
(measured: 1.3e-9 at a deviation of 1.6e-5 of the level, where ours is exact to 3e-13). There the
comparison is absolute: within 2e-13 of the level (1e-9 of that floor). Our own accuracy in those windows is checked against exact rational
arithmetic in tests/indicators/test_kernel.py.
"""
from __future__ import annotations

import numpy as np
import pytest
import talib  # a test dependency (pyproject [test]); a missing TA-Lib must fail, not skip

from btcflow_nb.indicators import bollinger, sma, stdev

N = 100_000
LENGTHS = (2, 5, 20, 200)


def _random_walk(seed: int) -> np.ndarray:
    """Hourly-like geometric random walk from 30 000 USD (0.5 % per bar)."""
    rng = np.random.default_rng(seed)
    return 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.005, N)))


def _mean_reverting(seed: int) -> np.ndarray:
    """Daily-like volatility (2 % per bar) around 50 000 USD, log-OU so the level stays BTC-like."""
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, 0.02, N)
    log_dev = np.empty(N)
    acc = 0.0
    for i in range(N):
        acc = 0.995 * acc + e[i]
        log_dev[i] = acc
    return 50_000.0 * np.exp(log_dev)


def _with_gaps(x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = x.copy()
    starts = rng.choice(N - 60, 150, replace=False)
    for s, width in zip(starts, rng.integers(1, 40, len(starts))):
        y[s:s + width] = np.nan
    y[:3] = np.nan  # a leading gap too
    return y


SERIES = {
    "random_walk": _random_walk(1),
    "mean_reverting": _mean_reverting(2),
    "random_walk_with_gaps": _with_gaps(_random_walk(3), 4),
}


def _segmentwise(fn, x: np.ndarray, *args):
    """Apply a TA-Lib function to each NaN-free segment separately; NaN elsewhere."""
    outs = None
    valid = ~np.isnan(x)
    edges = np.flatnonzero(np.diff(np.r_[0, valid.astype(int), 0]))
    for a, b in zip(edges[::2], edges[1::2]):
        res = fn(x[a:b], *args)
        res = res if isinstance(res, tuple) else (res,)
        if outs is None:
            outs = [np.full(len(x), np.nan) for _ in res]
        for o, r in zip(outs, res):
            o[a:b] = r
    return outs if len(outs) > 1 else outs[0]


def _assert_close(ours: np.ndarray, ref: np.ndarray, floor: np.ndarray | float = 0.0, rtol=1e-9):
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg="NaN pattern differs")
    ok = ~np.isnan(ref)
    assert ok.sum() > 50_000  # many values compared
    scale = np.maximum(np.abs(ref[ok]), floor[ok] if np.ndim(floor) else floor)
    err = np.abs(ours[ok] - ref[ok]) / scale
    assert err.max() <= rtol, f"max relative error {err.max():.3g}"


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("length", LENGTHS)
def test_sma_equals_talib(name, length):
    x = SERIES[name]
    ref = _segmentwise(lambda seg: talib.SMA(seg, timeperiod=length), x)
    _assert_close(sma(x, length).to_numpy(), ref)


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("length", LENGTHS)
def test_stdev_equals_talib(name, length):
    x = SERIES[name]
    ref = _segmentwise(lambda seg: talib.STDDEV(seg, timeperiod=length, nbdev=1.0), x)
    level = _segmentwise(lambda seg: talib.SMA(seg, timeperiod=length), x)
    ours = stdev(x, length).to_numpy()
    _assert_close(ours, ref, floor=2e-4 * np.abs(level))
    # the floor only matters on a small fraction of the windows
    ok = ~np.isnan(ref)
    assert np.mean(ref[ok] < 2e-4 * level[ok]) < 0.07


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("length, mult", [(2, 2.0), (5, 1.0), (20, 2.0), (20, 2.5), (200, 3.0)])
def test_bollinger_equals_talib_bbands(name, length, mult):
    x = SERIES[name]
    upper, middle, lower = _segmentwise(
        lambda seg: talib.BBANDS(seg, timeperiod=length, nbdevup=mult, nbdevdn=mult, matype=0), x)
    bb = bollinger(x, length, mult)
    _assert_close(bb["basis"].to_numpy(), middle)
    _assert_close(bb["upper"].to_numpy(), upper)
    _assert_close(bb["lower"].to_numpy(), lower)


def test_zero_centred_series_premium_like():
    """A USD premium oscillates around zero: compare on the scale of the series."""
    rng = np.random.default_rng(9)
    x = np.convolve(rng.normal(0, 40, N + 9), np.ones(10) / 10, mode="valid")[:N]
    scale = np.std(x)
    for length in LENGTHS:
        _assert_close(sma(x, length).to_numpy(), talib.SMA(x, length), floor=scale)
        _assert_close(stdev(x, length).to_numpy(), talib.STDDEV(x, length, 1.0), floor=scale)


def test_gaps_follow_the_documented_rule():
    """Independent of TA-Lib: value at t iff the `length` values ending at t are all valid."""
    x = SERIES["random_walk_with_gaps"]
    for length in LENGTHS:
        valid = ~np.isnan(x)
        run = np.zeros(N, dtype=int)
        count = 0
        for i in range(N):
            count = count + 1 if valid[i] else 0
            run[i] = count
        expected_valid = run >= length
        np.testing.assert_array_equal(sma(x, length).notna().to_numpy(), expected_valid)
        np.testing.assert_array_equal(stdev(x, length).notna().to_numpy(), expected_valid)
