"""Viewport decimation (btcflow_nb.indicators.decimate): the kept points draw the same chart.

Checked against a brute-force reference: for every pixel bucket of the visible range, its
minimum and maximum survive; the size bound holds; small data is untouched; a NaN gap between
two kept points is still there; datetime64 and numeric x behave alike; onsets are kept.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btcflow_nb.indicators.decimate import (bar_indices, decimated_size_bound,
                                            minmax_indices)

SETTINGS = settings(max_examples=80, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _buckets_of(x, lo, hi, n):
    """Brute-force bucket of each x inside [lo, hi] (-1 outside)."""
    out = np.full(len(x), -1)
    for i, v in enumerate(x):
        if lo <= v <= hi:
            out[i] = min(int(np.floor((v - lo) / (hi - lo) * n)), n - 1) if hi > lo else 0
    return out


def _check_extremes_kept(x, y, kept, lo, hi, n):
    b = _buckets_of(x, lo, hi, n)
    for k in range(n):
        members = np.flatnonzero((b == k) & np.isfinite(y))
        if len(members) == 0:
            continue
        ky = y[np.intersect1d(members, kept)]
        assert len(ky), f"bucket {k} lost all its points"
        assert ky.min() == y[members].min(), f"bucket {k} lost its minimum"
        assert ky.max() == y[members].max(), f"bucket {k} lost its maximum"


def _check_breaks_kept(y, kept):
    """Between consecutive kept finite points, a NaN in the full series <=> one kept."""
    fin = kept[np.isfinite(y[kept])]
    nan_full = np.cumsum(~np.isfinite(y))
    kept_nan = np.zeros(len(y), dtype=int)
    kept_nan[kept[~np.isfinite(y[kept])]] = 1
    kept_nan = np.cumsum(kept_nan)
    for p, q in zip(fin[:-1], fin[1:]):
        assert (nan_full[q] - nan_full[p] > 0) == (kept_nan[q] - kept_nan[p] > 0), (p, q)


series = st.integers(min_value=0, max_value=600).flatmap(
    lambda n: st.tuples(
        st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(np.nan)), min_size=n, max_size=n),
        st.integers(1, 60)))


@SETTINGS
@given(series, st.floats(0, 1), st.floats(0, 1))
def test_every_bucket_keeps_min_and_max_and_breaks(data, f_lo, f_hi):
    values, n_buckets = data
    y = np.array(values, dtype=float)
    x = np.arange(len(y), dtype=float) * 3.0
    if len(x) < 2:
        assert minmax_indices(x, y, n_buckets).tolist() == list(range(len(x)))
        return
    lo, hi = sorted((x[-1] * f_lo, x[-1] * f_hi))
    kept = minmax_indices(x, y, n_buckets, lo, hi)
    assert (np.diff(kept) > 0).all() and kept[0] == 0 and kept[-1] == len(x) - 1
    _check_breaks_kept(y, kept)
    inside = (x >= lo) & (x <= hi)
    if inside.sum() <= 2 * n_buckets:   # small range: every visible point kept
        assert set(np.flatnonzero(inside)) <= set(kept.tolist())
    elif hi > lo:
        _check_extremes_kept(x, y, kept, lo, hi, n_buckets)
        finite_inside = np.intersect1d(kept, np.flatnonzero(inside & np.isfinite(y)))
        assert len(finite_inside) <= 2 * n_buckets + 2   # + the edge neighbours at lo/hi


@SETTINGS
@given(st.lists(st.floats(-1e3, 1e3), min_size=0, max_size=500), st.integers(1, 40))
def test_size_bound_gap_free(values, n_buckets):
    y = np.array(values, dtype=float)
    kept = minmax_indices(np.arange(len(y)), y, n_buckets)
    assert len(kept) <= max(2 * n_buckets, decimated_size_bound(n_buckets))
    if len(y) > 2 * n_buckets:   # whole range visible: 2 per bucket + first and last
        assert len(kept) <= 2 * n_buckets + 2


def test_identity_when_small():
    y = np.array([1.0, np.nan, 3.0, -2.0])
    assert minmax_indices(np.arange(4), y, 2).tolist() == [0, 1, 2, 3]
    assert minmax_indices(np.arange(4), y, 100).tolist() == [0, 1, 2, 3]


def test_datetime_x_and_zoom_keep_exact_bars_in_view():
    n = 70_128
    t = np.datetime64("2018-01-01T00", "ns") + np.arange(n) * np.timedelta64(1, "h")
    rng = np.random.default_rng(0)
    y = np.cumsum(rng.normal(size=n))
    kept = minmax_indices(t, y, 1600)
    assert len(kept) <= 2 * 1600 + 2
    _check_extremes_kept(t.astype(np.int64).astype(float), y, kept,
                         float(t[0].astype(np.int64)), float(t[-1].astype(np.int64)), 1600)
    # zoom on 500 hours: fewer bars than 2 per pixel -> every one of them, exactly
    lo, hi = t[30_000], t[30_499]
    zoomed = minmax_indices(t, y, 1600, lo, hi)
    assert set(range(30_000, 30_500)) <= set(zoomed.tolist())
    assert 29_999 in zoomed and 30_500 in zoomed          # the line runs on to the edges
    assert len(zoomed) <= 500 + decimated_size_bound(1600) - 2 * 1600
    # a pandas Timestamp with a time zone is read in UTC, like bqplot's naive UTC times
    import pandas as pd
    aware = minmax_indices(t, y, 1600, pd.Timestamp(lo).tz_localize("UTC"),
                           pd.Timestamp(hi).tz_localize("UTC"))
    assert aware.tolist() == zoomed.tolist()


def test_several_lines_share_x_union_of_extremes():
    x = np.arange(10.0)
    y = np.array([[0, 9, 1, 1, 1, 1, 1, 1, 1, 0.5],
                  [5, 5, 5, 5, 5, -3, 5, 5, 5, 5.0]])
    kept = minmax_indices(x, y, 2)
    assert {1, 5} <= set(kept.tolist())   # each line's extreme


def test_onsets_kept_and_sign_of_bars_survives():
    y = np.full(1000, 1.0)
    y[500] = -0.01                      # one small negative bar among positives
    keep = np.zeros(1000, dtype=bool)
    keep[[123, 777]] = True
    kept = minmax_indices(np.arange(1000), y, 10, keep=keep)
    assert {123, 500, 777} <= set(kept.tolist())


def test_all_nan_run_keeps_one_break():
    y = np.arange(1000.0)
    y[200:800] = np.nan
    kept = minmax_indices(np.arange(1000), y, 20)
    assert np.isnan(y[kept]).any()
    _check_breaks_kept(y, kept)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="buckets"):
        minmax_indices(np.arange(3), np.arange(3.0), 0)
    with pytest.raises(ValueError, match="shape"):
        minmax_indices(np.arange(3), np.arange(4.0), 1)


@SETTINGS
@given(series, st.floats(0, 1), st.floats(0, 1))
def test_bars_one_per_column_and_sign_furthest_from_zero_kept(data, f_lo, f_hi):
    """Bars (from 0 to y): per visible column and sign the bar reaching furthest is kept (it
    covers the others of its sign), at most one per column and sign, NaN bars dropped."""
    values, n = data
    y = np.asarray(values, dtype=float)
    x = np.arange(len(y), dtype=float)
    if len(y) < 2:
        assert bar_indices(x, y, n).tolist() == list(range(len(y)))
        return
    lo, hi = sorted((f_lo * (len(y) - 1), f_hi * (len(y) - 1)))
    kept = bar_indices(x, y, n, lo, hi)
    assert np.all(np.diff(kept) > 0)
    if len(y) <= n:
        assert kept.tolist() == list(range(len(y)))
        return
    b = _buckets_of(x, lo, hi, n)
    always = {0, len(y) - 1, int(np.searchsorted(x, lo)) - 1, int(np.searchsorted(x, hi, "right"))}
    for k in range(n):
        for positive in (True, False):
            members = np.flatnonzero((b == k) & np.isfinite(y) & ((y >= 0) == positive))
            if len(members) == 0:
                continue
            mine = np.intersect1d(members, kept)
            assert np.abs(y[mine]).max() == np.abs(y[members]).max(), (k, positive)
            assert len(set(mine.tolist()) - always) <= 1, (k, positive, mine)
    assert not (~np.isfinite(y[kept]) & ~np.isin(kept, list(always))).any()


def test_bars_mixed_sign_column_keeps_both_and_one_sign_keeps_one():
    x = np.arange(8.0)
    y = np.array([1, 5, 2, -1, 3, 4, 2, 6.0])
    # column 0 (x 0..3) holds +5 and -1: both; column 1 (x 4..7): only the 6 (the last bar)
    assert bar_indices(x, y, 2).tolist() == [0, 1, 3, 7]
    # minmax keeps the 2 of column 1 as well: a bar hidden under the 6
    assert 6 in minmax_indices(x, y, 2).tolist()
    t = np.datetime64("2024-01-01T00") + np.arange(10_000) * np.timedelta64(1, "h")
    up = np.abs(np.random.default_rng(1).normal(size=10_000)) + 0.1
    assert len(bar_indices(t, up, 500)) <= 500 + 2 * (500 // 8) + 4      # one per column
    with pytest.raises(ValueError, match="one series"):
        bar_indices(x, np.vstack([y, y]), 2)
