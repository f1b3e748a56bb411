"""Unit tests for btcflow_nb.indicators.rolling: hand-computed examples with exact expected numbers."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from _indicator_helpers import NAN, assert_same, days
from btcflow_nb.indicators import bollinger, crossover, crossunder, sma, stdev, zscore


# ---------------------------------------------------------------------------- sma / stdev


def test_sma_hand_example_and_index_preserved():
    idx = days("2024-01-01", 5)
    out = sma(pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=idx), 3)
    assert out.index.equals(idx)
    assert_same(out, [NAN, NAN, 2.0, 3.0, 4.0])


def test_sma_accepts_lists_and_arrays():
    assert_same(sma([1.0, 2.0, 3.0, 4.0], 2), [NAN, 1.5, 2.5, 3.5])
    assert_same(sma(np.array([1.0, 2.0, 3.0, 4.0]), 2), [NAN, 1.5, 2.5, 3.5])


def test_sma_window_one_is_identity_and_too_short_series_is_nan():
    assert_same(sma([3.0, NAN, 5.0], 1), [3.0, NAN, 5.0])
    assert_same(sma([3.0, 4.0], 5), [NAN, NAN])
    assert len(sma(pd.Series([], dtype=float), 3)) == 0


def test_sma_nan_gap_resumes_after_window_valid_values():
    x = [1.0, 2.0, NAN, 4.0, 5.0, 6.0, 7.0]
    assert_same(sma(x, 2), [NAN, 1.5, NAN, NAN, 4.5, 5.5, 6.5])
    assert_same(sma(x, 3), [NAN, NAN, NAN, NAN, NAN, 5.0, 6.0])


def test_sma_infinite_value_poisons_its_windows_like_nan():
    assert_same(sma([1.0, np.inf, 3.0, 5.0], 2), [NAN, NAN, NAN, 4.0])


def test_stdev_is_population_not_sample():
    x = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
    assert stdev(x, 8).iloc[-1] == pytest.approx(2.0, rel=1e-14)  # sample std would be 2.138
    assert_same(stdev([1.0, 3.0], 2), [NAN, 1.0])
    assert pd.Series(x).std() != pytest.approx(2.0)  # pandas' default is the sample deviation


def test_stdev_nan_gap_and_constant_window_is_exactly_zero():
    assert_same(stdev([1.0, 3.0, NAN, 5.0, 5.0, 5.0], 2), [NAN, 1.0, NAN, NAN, 0.0, 0.0])
    s = stdev(np.full(40, 104_321.17), 20)
    assert (s.iloc[19:] == 0.0).all()


def test_stdev_window_one_is_zero_where_valid():
    assert_same(stdev([1.0, NAN, 7.0], 1), [0.0, NAN, 0.0])


# ---------------------------------------------------------------------------- zscore


def test_zscore_hand_example_population_std():
    z = zscore([1.0, 2.0, 3.0], 3)
    assert_same(z, [NAN, NAN, 1.0 / math.sqrt(2.0 / 3.0)])
    z = zscore([1.0, 1.0, 1.0, 2.0], 3)
    assert z.iloc[3] == pytest.approx((2 - 4 / 3) / math.sqrt(2 / 9), rel=1e-12)  # = sqrt(2)
    assert z.iloc[3] == pytest.approx(math.sqrt(2.0), rel=1e-12)


def test_zscore_zero_variance_window_is_nan_not_inf():
    z = zscore([5.0, 5.0, 5.0, 5.0, 6.0, 6.0, 6.0], 3)
    assert not np.isinf(z).any()
    assert_same(z, [NAN, NAN, NAN, NAN, 2 / 3 / math.sqrt(2 / 9), (6 - 17 / 3) / math.sqrt(2 / 9), NAN])
    # a constant at a BTC-like level must not produce a huge spurious z from rounding residue
    z = zscore(np.full(30, 104_321.17), 10)
    assert z.isna().all()


def test_zscore_nan_gap_and_window_validation():
    z = zscore([1.0, 2.0, 3.0, NAN, 1.0, 2.0, 3.0], 3)
    assert_same(z, [NAN, NAN, 1.0 / math.sqrt(2.0 / 3.0), NAN, NAN, NAN, 1.0 / math.sqrt(2.0 / 3.0)])
    with pytest.raises(ValueError, match="window"):
        zscore([1.0, 2.0], 0)


# ---------------------------------------------------------------------------- bollinger


def test_bollinger_columns_and_hand_values():
    idx = days("2024-03-01", 3)
    bb = bollinger(pd.Series([1.0, 3.0, 3.0], index=idx), window=2, mult=2.0)
    assert list(bb.columns) == ["basis", "upper", "lower"]
    assert bb.index.equals(idx)
    assert_same(bb["basis"], [NAN, 2.0, 3.0])
    assert_same(bb["upper"], [NAN, 4.0, 3.0])
    assert_same(bb["lower"], [NAN, 0.0, 3.0])


def test_bollinger_width_scales_with_mult_and_zero_mult_collapses():
    x = np.random.default_rng(0).normal(0, 50, 300)
    b1, b3 = bollinger(x, 20, 1.0), bollinger(x, 20, 3.0)
    np.testing.assert_allclose((b3["upper"] - b3["basis"]).dropna(),
                               3 * (b1["upper"] - b1["basis"]).dropna(), rtol=1e-12)
    b0 = bollinger(x, 20, 0.0)
    np.testing.assert_array_equal(b0["upper"].dropna(), b0["basis"].dropna())
    # default arguments are window 20, mult 2
    pd.testing.assert_frame_equal(bollinger(x), bollinger(x, 20, 2.0))


# ---------------------------------------------------------------------------- crosses


def test_crossover_crossunder_pine_semantics_with_touching():
    a = [1.0, 2.0, 3.0, 2.0, 1.0, 2.5]
    # a_t > 2 and a_{t-1} <= 2: bar 2 (3 > 2, 2 <= 2) and bar 5 (2.5 > 2, 1 <= 2)
    assert crossover(a, 2.0).tolist() == [False, False, True, False, False, True]
    # a_t < 2 and a_{t-1} >= 2: bar 4 only (bar 3 equals 2, which is not below)
    assert crossunder(a, 2.0).tolist() == [False, False, False, False, True, False]


def test_cross_series_vs_series_and_index_kept():
    idx = days("2024-01-01", 4)
    a = pd.Series([1.0, 3.0, 3.0, 1.0], index=idx)
    b = pd.Series([2.0, 2.0, 3.5, 0.5], index=idx)
    up, down = crossover(a, b), crossunder(a, b)
    assert up.index.equals(idx) and down.index.equals(idx)
    assert up.tolist() == [False, True, False, True]
    assert down.tolist() == [False, False, True, False]


def test_cross_never_fires_into_or_out_of_a_gap():
    assert crossover([1.0, NAN, 3.0, 1.0, 3.0], 2.0).tolist() == [False, False, False, False, True]
    assert crossunder([3.0, NAN, 1.0, 3.0, 1.0], 2.0).tolist() == [False, False, False, False, True]


def test_cross_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same length; got 3 and 2"):
        crossover([1.0, 2.0, 3.0], [1.0, 2.0])


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize("fn", [sma, stdev, zscore, bollinger])
@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "20"])
def test_windows_must_be_whole_numbers_of_bars(fn, bad):
    with pytest.raises(ValueError, match=r"whole number of bars >= 1; got " + repr(bad).replace(".", r"\.")):
        fn([1.0, 2.0, 3.0], bad)


def test_inputs_must_be_one_dimensional():
    with pytest.raises(ValueError, match="one-dimensional"):
        sma(np.ones((3, 2)), 2)
    with pytest.raises(ValueError, match="DataFrame"):
        sma(pd.DataFrame({"a": [1.0, 2.0]}), 2)


def test_zscore_of_rounding_noise_is_nan():
    """Regression: an OI-weighted mean of venues all paying the same funding differs from bar to
    bar only in its last bits; its z-score reached 2.7 (a cycle vote). A spread below 1e-10 of
    the level is rounding and gives NaN; a real spread, however small in practice, does not."""
    r = 0.0001 / 8
    w = np.linspace(1.0, 3.0, 200)
    noisy = (r * w + r * (4.0 - w)) / 4.0 * 800  # exactly 0.01 in real arithmetic
    assert len(np.unique(noisy)) > 1  # the noise is there
    assert zscore(noisy, 30).isna().all()
    real = 0.01 + np.random.default_rng(0).normal(0, 1e-8, 200)  # 1e-6 relative: real data
    assert zscore(real, 30).iloc[29:].notna().all()
    around_zero = np.random.default_rng(1).normal(0, 1e-9, 100)  # tiny values around 0 are fine
