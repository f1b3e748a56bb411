"""Unit tests for btcflow_nb.indicators: hand-computed examples with exact expected numbers."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from btcflow_nb import indicators as ind
from btcflow_nb.indicators import (
    aggregate_oi,
    annualize_funding,
    basket,
    bollinger,
    composite_funding,
    crossover,
    crossunder,
    funding_twap,
    oi_at_bar_close,
    premium_abs,
    premium_pct,
    sma,
    stdev,
    zscore,
)
from btcflow_nb.indicators._kernel import _rolling_moments

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


# ---------------------------------------------------------------------------- sma / stdev


def test_sma_hand_example_and_index_preserved():
    idx = days("2024-01-01", 5)
    out = sma(pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=idx), 3)
    assert out.index.equals(idx)
    assert_same(out, [NAN, NAN, 2.0, 3.0, 4.0])


def test_sma_accepts_lists_and_arrays():
    assert_same(sma([1.0, 2.0, 3.0, 4.0], 2), [NAN, 1.5, 2.5, 3.5])
    assert_same(sma(np.array([1.0, 2.0, 3.0, 4.0]), 2), [NAN, 1.5, 2.5, 3.5])


def test_sma_length_one_is_identity_and_too_short_series_is_nan():
    assert_same(sma([3.0, NAN, 5.0], 1), [3.0, NAN, 5.0])
    assert_same(sma([3.0, 4.0], 5), [NAN, NAN])
    assert len(sma(pd.Series([], dtype=float), 3)) == 0


def test_sma_nan_gap_resumes_after_length_valid_values():
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


def test_stdev_length_one_is_zero_where_valid():
    assert_same(stdev([1.0, NAN, 7.0], 1), [0.0, NAN, 0.0])


def _exact_population_std(window) -> float:
    fr = [Fraction(float(v)) for v in window]
    mean = sum(fr) / len(fr)
    return math.sqrt(float(sum((v - mean) ** 2 for v in fr) / len(fr)))


def test_stdev_relative_accuracy_on_nearly_constant_windows():
    """Regression: with two nearly equal closes far from the block reference, S2/L - (S1/L)^2
    cancelled and the relative error reached ~5e-5 (docstring promises ~1e-12). The fix
    recomputes ill-conditioned windows two-pass; checked against exact rational arithmetic."""
    rng = np.random.default_rng(7)
    x = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.005, 20_000)))
    x[1000:1003] = [31_000.0, 31_000.0 + 1e-4, 31_000.0 - 2e-4]  # spreads ~1e-8 of the level
    # L = 2 has a closed form that is exact in binary floating point: |x1 - x0| / 2
    exact2 = np.r_[NAN, np.abs(np.diff(x)) / 2]
    got2 = stdev(x, 2).to_numpy()
    assert np.nanmax(np.abs(got2 - exact2) / exact2) < 1e-11
    for length in (3, 5, 20):
        got = stdev(x, length).to_numpy()
        ratio = got[length - 1:] / x[length - 1:]
        worst = np.argsort(ratio)[:60] + length - 1  # the most ill-conditioned windows
        for t in worst:
            exact = _exact_population_std(x[t - length + 1:t + 1])
            assert got[t] == pytest.approx(exact, rel=1e-11), (length, t)


def test_sma_mean_is_accurate_at_btc_levels_over_long_trending_series():
    rng = np.random.default_rng(3)
    x = 30_000 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, 50_000)))  # drifts over decades
    got = sma(x, 20).to_numpy()
    t = np.arange(19, len(x), 997)
    exact = np.array([float(sum(Fraction(float(v)) for v in x[i - 19:i + 1]) / 20) for i in t])
    np.testing.assert_allclose(got[t], exact, rtol=1e-13)


def _long_double_moments(x, length):
    """Two-pass mean and population variance of every full window in 80-bit long double."""
    w = np.lib.stride_tricks.sliding_window_view(np.asarray(x, dtype=np.longdouble), length)
    mean = w.mean(axis=1)
    return mean, ((w - mean[:, None]) ** 2).mean(axis=1)


@pytest.mark.parametrize("length", [1, 2, 7, 20, 33, 64, 365])
def test_rolling_moments_every_window_across_blocks_and_chunks(length):
    """The kernel re-centres each block of window ends on its own reference, moves the windows
    that reach back into the previous block onto it, and works in chunks of >= 32768 window
    ends: every window, at every block and chunk boundary, must match a two-pass long-double
    computation. A trending random walk at BTC levels with calm stretches (tiny spreads far
    from the block reference) and runs of identical values (variance exactly 0)."""
    rng = np.random.default_rng(length)
    n = 100_000
    steps = rng.normal(0, 0.01, n)
    steps[20_000:21_000] *= 1e-6                       # near-constant stretch
    x = 60_000 * np.exp(np.cumsum(steps))
    x[50_000:50_700] = x[50_000]                       # identical values over block boundaries
    mean, var = _rolling_moments(x, length)
    exact_mean, exact_var = _long_double_moments(x, length)
    assert np.isnan(mean[:length - 1]).all() and np.isnan(var[:length - 1]).all()
    np.testing.assert_allclose(mean[length - 1:], exact_mean.astype(float), rtol=1e-14)
    exact_var = exact_var.astype(float)
    zero = exact_var == 0
    assert (var[length - 1:][zero] == 0).all()
    np.testing.assert_allclose(var[length - 1:][~zero], exact_var[~zero], rtol=1e-12)


def test_rolling_moments_nan_windows_at_block_and_chunk_boundaries():
    """NaNs right at block (256 bars for L = 20) and chunk (32768) boundaries blank exactly the
    windows that hold them; every other window stays exact."""
    rng = np.random.default_rng(11)
    x = 1e5 + np.cumsum(rng.normal(0, 50, 70_000))
    holes = [0, 255, 256, 257, 32_767, 32_768, 32_787, 32_788, 65_555, 69_999]
    x[holes] = NAN
    x[40_000] = np.inf
    mean, var = _rolling_moments(x, 20)
    bad = ~np.isfinite(x)
    in_window = np.convolve(bad, np.ones(20), mode="full")[:len(x)] > 0  # window ending at i
    in_window[:19] = True
    np.testing.assert_array_equal(np.isnan(mean), in_window)
    np.testing.assert_array_equal(np.isnan(var), in_window)
    with np.errstate(invalid="ignore"):
        exact_mean, exact_var = _long_double_moments(x, 20)
    ok = ~in_window[19:]
    np.testing.assert_allclose(mean[19:][ok], exact_mean[ok].astype(float), rtol=1e-14)
    np.testing.assert_allclose(var[19:][ok], exact_var[ok].astype(float), rtol=1e-12)


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


# ---------------------------------------------------------------------------- premium


def test_premium_sign_conventions():
    # spot rich: positive (spot-led); futures rich: negative
    assert premium_abs([101.0], [100.0]).tolist() == [1.0]
    assert premium_abs([99.0], [100.0]).tolist() == [-1.0]
    assert premium_pct([101.0], [100.0]).tolist() == pytest.approx([1.0], rel=1e-12)
    assert premium_pct([99.0], [100.0]).tolist() == pytest.approx([-1.0], rel=1e-12)
    # the denominator is the perp basket, not spot: (100 - 125) / 125 = -20 %, (125 - 100) / 100 = +25 %
    assert premium_pct([100.0], [125.0]).tolist() == pytest.approx([-20.0], rel=1e-12)
    assert premium_pct([125.0], [100.0]).tolist() == pytest.approx([25.0], rel=1e-12)


def test_premium_nan_where_either_side_is_missing():
    assert_same(premium_pct([100.0, NAN, 100.0], [100.0, 100.0, NAN]), [0.0, NAN, NAN])
    assert_same(premium_abs([100.0, NAN, 100.0], [100.0, 100.0, NAN]), [0.0, NAN, NAN])


def test_premium_series_with_array_compares_bar_by_bar():
    """Regression: a Series against a plain array used to align a DatetimeIndex with a
    RangeIndex, returning 2n all-NaN rows."""
    idx = days("2024-01-01", 3)
    spot = pd.Series([101.0, 102.0, 103.0], index=idx)
    pct = premium_pct(spot, np.array([100.0, 100.0, 100.0]))
    assert pct.index.equals(idx)
    assert pct.tolist() == pytest.approx([1.0, 2.0, 3.0], rel=1e-12)
    absolute = premium_abs([101.0, 102.0, 103.0], pd.Series([100.0, 100.0, 100.0], index=idx))
    assert absolute.index.equals(idx)
    assert absolute.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="same length"):
        premium_abs(spot, [1.0, 2.0])


# ---------------------------------------------------------------------------- basket


def test_basket_mean_over_available_venues_and_one_venue_basket():
    idx = days("2024-01-01", 3)
    prices = pd.DataFrame({"a": [100.0, NAN, NAN], "b": [102.0, 104.0, NAN]}, index=idx)
    assert_same(basket(prices), [101.0, 104.0, NAN])
    assert_same(basket(prices[["b"]]), [102.0, 104.0, NAN])
    empty = basket(prices[[]])
    assert empty.index.equals(idx) and empty.isna().all()


def test_basket_weighted_ignores_missing_and_nonpositive_weights():
    idx = days("2024-01-01", 3)
    prices = pd.DataFrame({"a": [100.0, 100.0, 100.0], "b": [110.0, NAN, 110.0]}, index=idx)
    w = pd.DataFrame({"a": [1.0, 1.0, 0.0], "b": [3.0, 3.0, NAN]}, index=idx)
    # bar0: (100*1 + 110*3)/4 = 107.5; bar1: b has no price -> a alone; bar2: no usable weight
    assert_same(basket(prices, w), [107.5, 100.0, NAN])


# ---------------------------------------------------------------------------- funding


def test_annualize_funding_exact_numbers():
    assert annualize_funding(0.0001, 8) == 0.1095
    assert annualize_funding(0.0000125, 1) == pytest.approx(0.1095, rel=1e-12)
    assert annualize_funding(0.00005, 4) == pytest.approx(0.1095, rel=1e-12)
    np.testing.assert_allclose(annualize_funding(np.array([0.0001, -0.0002]), np.array([8, 4])),
                               [0.1095, -0.438], rtol=1e-12)
    with pytest.raises(ValueError, match="interval_hours must be > 0; got 0"):
        annualize_funding(0.0001, 0)


def _events(venue, times, rates, interval):
    return pd.DataFrame({"venue": venue, "time": pd.DatetimeIndex([T(t) for t in times]),
                         "rate": [float(r) for r in rates], "interval_hours": float(interval)})


def _day_bar(day: str):
    o = pd.DatetimeIndex([T(day)], name="time")
    return o, o + pd.Timedelta(days=1)


def test_funding_twap_8h_and_1h_venues_by_hand():
    eight = _events("eight", ["2024-01-01 08:00", "2024-01-01 16:00", "2024-01-02 00:00"],
                    [0.0008, 0.0016, 0.0024], 8)  # per hour: 1e-4, 2e-4, 3e-4 -> TWAP 2e-4
    hourly_times = [str(T("2024-01-01") + pd.Timedelta(hours=k)) for k in range(1, 25)]
    one = _events("one", hourly_times, [k * 1e-5 for k in range(1, 25)], 1)  # TWAP 12.5e-5
    opens, closes = _day_bar("2024-01-01")
    tw = funding_twap(pd.concat([eight, one], ignore_index=True), opens, closes)
    assert tw.loc[T("2024-01-01"), "eight"] == pytest.approx(2e-4, rel=1e-12)
    assert tw.loc[T("2024-01-01"), "one"] == pytest.approx(12.5e-5, rel=1e-12)
    comp = composite_funding(tw)
    assert comp.iloc[0] == pytest.approx(1.625e-4, rel=1e-12)
    # in display units: 1.625e-4 per hour = 0.13 % per 8 h = 142.35 % APR
    assert comp.iloc[0] * 8 * 100 == pytest.approx(0.13, rel=1e-12)
    assert annualize_funding(comp.iloc[0], 1) * 100 == pytest.approx(142.35, rel=1e-12)


def test_funding_twap_splits_an_event_across_bar_boundaries():
    # 8h venue settling at 04:00 / 12:00 / 20:00: the 04:00 event of Jan 2 covers 20:00-04:00,
    # so 4 of its hours fall in Jan 1
    ev = _events("v", ["2024-01-01 04:00", "2024-01-01 12:00", "2024-01-01 20:00",
                       "2024-01-02 04:00"], [0.0008, 0.0016, 0.0024, 0.0032], 8)
    opens = pd.DatetimeIndex([T("2024-01-01")], name="time")
    tw = funding_twap(ev, opens, opens + pd.Timedelta(days=1))
    # Jan 1 00-04: 1e-4 (4h); 04-12: 2e-4; 12-20: 3e-4; 20-24: 4e-4 (4h)
    expected = (4 * 1e-4 + 8 * 2e-4 + 8 * 3e-4 + 4 * 4e-4) / 24
    assert tw.iloc[0, 0] == pytest.approx(expected, rel=1e-12)


def test_funding_twap_partial_coverage_and_min_coverage():
    ev = _events("v", ["2024-01-01 08:00", "2024-01-01 16:00"], [0.0008, 0.0016], 8)
    opens, closes = _day_bar("2024-01-01")
    # only 16 of 24 hours covered: TWAP over the covered hours
    assert funding_twap(ev, opens, closes).iloc[0, 0] == pytest.approx(1.5e-4, rel=1e-12)
    assert funding_twap(ev, opens, closes, min_coverage=0.6).iloc[0, 0] == pytest.approx(1.5e-4)
    assert np.isnan(funding_twap(ev, opens, closes, min_coverage=0.7).iloc[0, 0])
    # a bar without events is NaN, not 0
    o2, c2 = _day_bar("2024-01-05")
    assert np.isnan(funding_twap(ev, o2, c2).iloc[0, 0])
    with pytest.raises(ValueError, match="min_coverage"):
        funding_twap(ev, opens, closes, min_coverage=1.5)


def test_funding_twap_interval_change_counts_every_hour_once():
    # a venue switching from 8h to 1h: the first 1h event after 08:00 covers 08:00-09:00 only;
    # an overlapping 8h-style event after a 1h one is clipped to start at the previous settlement
    ev = pd.concat([
        _events("v", ["2024-01-01 08:00"], [0.0008], 8),
        _events("v", [f"2024-01-01 {h:02d}:00" for h in range(9, 17)], [0.0002] * 8, 1),
        _events("v", ["2024-01-02 00:00"], [0.0032], 8),
    ], ignore_index=True)
    opens, closes = _day_bar("2024-01-01")
    expected = (8 * 1e-4 + 8 * 2e-4 + 8 * 4e-4) / 24
    assert funding_twap(ev, opens, closes).iloc[0, 0] == pytest.approx(expected, rel=1e-12)


def test_composite_funding_weighted_by_oi():
    idx = days("2024-01-01", 2)
    tw = pd.DataFrame({"a": [1e-5, 1e-5], "b": [4e-5, NAN]}, index=idx)
    w = pd.DataFrame({"a": [1e9, 1e9], "b": [2e9, 2e9]}, index=idx)
    assert_same(composite_funding(tw), [2.5e-5, 1e-5])
    assert_same(composite_funding(tw, w), [3e-5, 1e-5])


# ---------------------------------------------------------------------------- open interest


def test_oi_at_bar_close_takes_the_last_sample_in_each_bar():
    oi = pd.DataFrame({
        "venue": ["a", "a", "a", "b", "b"],
        "time": [T("2024-01-01 01:00"), T("2024-01-01 23:00"), T("2024-01-02 05:00"),
                 T("2024-01-01 12:00"), T("2024-01-01 22:00")],
        "oi_btc": [1.0, 2.0, 3.0, 10.0, NAN],
        "oi_usd": [100.0, 200.0, 300.0, 1000.0, 1100.0],
    })
    bars = days("2024-01-01", 3)
    btc = oi_at_bar_close(oi, bars, "1D")
    assert list(btc.columns) == ["a", "b"] and btc.index.equals(bars)
    assert_same(btc["a"], [2.0, 3.0, NAN])
    assert_same(btc["b"], [10.0, NAN, NAN])  # the NaN sample does not hide the earlier one
    usd = oi_at_bar_close(oi, bars, "1D", unit="usd")
    assert_same(usd["b"], [1100.0, NAN, NAN])
    with pytest.raises(ValueError, match=r"unknown oi unit 'eur'; valid choices: 'btc', 'usd'"):
        oi_at_bar_close(oi, bars, "1D", unit="eur")
    empty = oi_at_bar_close(oi.iloc[:0], bars, "1D")
    assert empty.shape == (3, 0)


def test_aggregate_oi_chain_link_three_bars_by_hand():
    # C joins at bar 1, B leaves at bar 2; every venue present grows 10 % per bar
    oi = pd.DataFrame({"A": [100.0, 110.0, 121.0], "B": [50.0, 55.0, NAN],
                       "C": [NAN, 40.0, 44.0]}, index=days("2024-01-01", 3))
    agg = aggregate_oi(oi)
    # level anchored to the true sum at the last bar: 121 + 44 = 165; growth (110+55)/(100+50) = 1.1
    # and (121+44)/(110+40) = 1.1, so 165 / 1.1 = 150 and 150 / 1.1 = 136.3636...
    assert agg.tolist() == pytest.approx([150.0 / 1.1, 150.0, 165.0], rel=1e-12)
    assert oi.sum(axis=1).tolist() == [150.0, 205.0, 165.0]  # the plain sum steps
    assert agg.name == "oi_total" and agg.index.equals(oi.index)


def test_aggregate_oi_gaps_single_venue_and_disjoint_links():
    idx = days("2024-01-01", 5)
    single = pd.DataFrame({"A": [10.0, NAN, 12.0, 15.0, NAN]}, index=idx)
    assert_same(aggregate_oi(single), [10.0, NAN, 12.0, 15.0, NAN])
    # disjoint consecutive bars share no venue: growth 1 (no step), anchored at the last bar
    disjoint = pd.DataFrame({"A": [10.0, NAN], "B": [NAN, 30.0]}, index=idx[:2])
    assert_same(aggregate_oi(disjoint), [30.0, 30.0])
    assert aggregate_oi(pd.DataFrame(index=idx[:2], dtype=float)).isna().all()


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


def test_public_surface_is_documented():
    for name in ind.__all__:
        fn = getattr(ind, name)
        assert fn.__doc__ and len(fn.__doc__) > 40, name


def test_funding_twap_of_a_stuck_rate_is_exact():
    """Regression: a venue paying exactly 0.01 % every 8 h got TWAPs differing in the last bits
    (differences of running integrals), so the z-score of 'constant' funding swung to +-7."""
    t = pd.date_range("2023-01-01 08:00", periods=3 * 400, freq="8h", tz="UTC")
    rate = np.full(len(t), 0.0001)
    rate[600:604] = 0.0004  # hot: all of day 200 and the first 8 h of day 201
    ev = pd.DataFrame({"venue": "binance", "time": t, "rate": rate, "interval_hours": 8.0})
    opens = pd.date_range("2023-01-01", periods=400, freq="D", tz="UTC", name="time")
    tw = funding_twap(ev, opens, opens + pd.Timedelta(days=1))["binance"]
    stuck = tw.drop(tw.index[200:202])
    assert (stuck == 0.0001 / 8).all()  # bit-exact, not merely close
    assert tw.iloc[200] == 0.0004 / 8
    assert tw.iloc[201] == pytest.approx((8 * 5e-5 + 16 * 1.25e-5) / 24, rel=1e-12)  # mixed bar
    assert zscore(stuck * 800, 52).isna().all()


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
    assert zscore(around_zero, 20).iloc[19:].notna().all()
