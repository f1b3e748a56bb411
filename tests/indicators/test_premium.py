"""Unit tests for btcflow_nb.indicators.premium: the basket and the spot premium."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _indicator_helpers import NAN, assert_same, days
from btcflow_nb.indicators import basket, premium_abs, premium_pct


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
