"""Unit tests for btcflow_nb.signals: confluence, extreme cycle, premium alerts (hand examples)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btcflow_nb import signals as sig
from btcflow_nb.indicators import bollinger
from btcflow_nb.signals import DEFAULTS, confluence, extreme_cycle, premium_alerts, vote_names

NAN = np.nan


def S(values, start="2024-01-01"):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), tz="UTC", name="time"),
                     dtype="float64")


def test_defaults_documented_values():
    assert DEFAULTS == {"trend_length": 10, "premium_min": 0.0, "oi_build_z": 1.0, "oi_hot_z": 2.0,
                        "funding_hot": 0.03, "bull_oi_z_max": 2.0, "bull_funding_max": 0.03,
                        "cycle_k": 2.0, "cycle_m": 2, "bb_length": 20, "bb_mult": 2.0}


# ---------------------------------------------------------------------------- confluence


def test_bullish_needs_positive_rising_premium_and_cool_leverage():
    p = S([0.1, 0.2, 0.3, 0.4, 0.5, 0.45])  # SMA(2): nan .15 .25 .35 .45 .475
    oz = S([0.0, 0.0, 2.0, 0.0, 1.99, 0.0])
    fu = S([0.01, 0.01, 0.01, 0.03, 0.029, 0.0])
    out = confluence(p, oz, fu, trend_length=2)
    assert list(out.columns) == ["bullish", "bearish", "overleveraged"]
    assert out.index.equals(p.index)
    # bar0: no trend yet; bar2: OI z at the cap 2.0; bar3: funding at the cap 0.03; bar5 falling
    assert out["bullish"].tolist() == [False, True, False, False, True, False]
    assert not out["bearish"].any()


def test_bullish_premium_min_and_caps_are_parameters():
    p, oz, fu = S([0.1, 0.2, 0.3]), S([2.5, 2.5, 2.5]), S([0.0, 0.0, 0.0])
    assert not confluence(p, oz, fu, trend_length=2)["bullish"].any()
    assert confluence(p, oz, fu, trend_length=2, bull_oi_z_max=3.0)["bullish"].tolist() == \
        [False, True, True]
    assert confluence(p, oz, fu, trend_length=2, bull_oi_z_max=3.0,
                      premium_min=0.25)["bullish"].tolist() == [False, False, True]


def test_bearish_needs_negative_falling_premium_while_leverage_builds():
    p = S([-0.1, -0.2, -0.3, -0.4, -0.35])  # SMA(2): nan -.15 -.25 -.35 -.375
    oz = S([5.0, 1.5, 0.5, 0.5, 5.0])
    fu = S([0.0, 0.0, 0.05, 0.03, 0.0])
    out = confluence(p, oz, fu, trend_length=2)
    # bar1: OI z > 1; bar2: funding > 0.03; bar3: neither (0.03 is not above 0.03); bar4 rising
    assert out["bearish"].tolist() == [False, True, True, False, False]
    assert not out["bullish"].any()
    assert confluence(p, oz, fu, trend_length=2, premium_min=0.25)["bearish"].tolist() == \
        [False, False, True, False, False]


def test_overleveraged_inclusive_thresholds():
    p = S([0.0, 0.0, 0.0, 0.0])
    out = confluence(p, S([2.0, 2.0, 1.99, 3.0]), S([0.03, 0.0299, 0.05, NAN]), trend_length=1)
    assert out["overleveraged"].tolist() == [True, False, False, False]


def test_nan_inputs_confirm_nothing():
    p = S([0.1, 0.2, 0.3, -0.1, -0.2, -0.3])
    oz = S([NAN] * 6)
    fu = S([0.0, 0.0, 0.0, 0.05, 0.05, 0.05])
    out = confluence(p, oz, fu, trend_length=2)
    assert not out["bullish"].any()  # a missing OI feed cannot confirm "not overheated"
    assert out["bearish"].tolist() == [False, False, False, True, True, True]  # funding alone builds
    assert not out["overleveraged"].any()
    out = confluence(S([NAN, NAN, NAN]), S([0, 0, 0]), S([0, 0, 0]), trend_length=1)
    assert not out.to_numpy().any()


def test_confluence_accepts_arrays():
    out = confluence(np.array([0.1, 0.2]), np.array([0.0, 0.0]), np.array([0.0, 0.0]), trend_length=1)
    assert out["bullish"].tolist() == [False, False]  # p > SMA(p, 1) = p is never true
    out = confluence([0.1, 0.2], [0.0, 0.0], [0.0, 0.0], trend_length=2)
    assert out["bullish"].tolist() == [False, True]


# ---------------------------------------------------------------------------- extreme cycle


def test_extreme_cycle_votes_by_hand():
    pz = S([-2.5, 0.0, 2.5, NAN, NAN, -1.0])
    oz = S([2.1, 2.5, -2.0, 3.0, NAN, 1.0])
    fz = S([0.0, 2.0, -3.0, NAN, NAN, 1.0])
    out = extreme_cycle(pz, oz, fz, cycle_k=2.0, cycle_m=2)
    assert list(out.columns) == ["cycle_top", "cycle_bottom"] and out.index.equals(pz.index)
    # bar3: only OI z available -> one vote, and m = 2 is an absolute count: no top
    # (issue 12: before, m counted among the available metrics and OI fired alone)
    assert out["cycle_top"].tolist() == [True, True, False, False, False, False]
    assert out["cycle_bottom"].tolist() == [False, False, True, False, False, False]
    out3 = extreme_cycle(pz, oz, fz, cycle_k=2.0, cycle_m=3)
    assert out3["cycle_top"].tolist() == [False, False, False, False, False, False]
    assert out3["cycle_bottom"].tolist() == [False, False, True, False, False, False]
    out1 = extreme_cycle(pz, oz, fz, cycle_k=1.0, cycle_m=1)
    assert out1["cycle_top"].tolist() == [True, True, False, True, False, True]
    assert out1["cycle_bottom"].tolist() == [False, False, True, False, False, False]
    with_votes = extreme_cycle(pz, oz, fz, cycle_k=2.0, cycle_m=2, votes=True)
    assert with_votes["cycle_top_votes"].tolist() == [1 + 2, 2 + 4, 0, 2, 0, 0]
    assert with_votes["cycle_bottom_votes"].tolist() == [0, 0, 1 + 2 + 4, 0, 0, 0]
    assert [vote_names(v) for v in with_votes["cycle_top_votes"]] == [
        "premium+oi", "oi+funding", "", "oi", "", ""]


def test_extreme_cycle_with_fewer_than_m_metrics_available_never_fires():
    out = extreme_cycle(S([-3.0, -3.0]), S([3.0, 0.0]), S([NAN, NAN]), cycle_k=2.0, cycle_m=3)
    assert out["cycle_top"].tolist() == [False, False]   # two metrics cannot make 3 votes
    assert extreme_cycle(S([-3.0]), S([3.0]), S([NAN]), cycle_m=2)["cycle_top"].tolist() == [True]


def test_vote_names_rejects_a_bad_mask():
    with pytest.raises(ValueError, match="vote mask 8 is out of range; valid range: 0..7"):
        vote_names(8)


# ---------------------------------------------------------------------------- premium alerts


def test_premium_alerts_hand_example():
    x = S([1.0, -1.0, 1.0, -1.0, 5.0, -6.0])
    out = premium_alerts(x, bb_length=3, bb_mult=1.0)
    assert list(out.columns) == ["bb_basis", "bb_upper", "bb_lower", "alert_premium_high",
                                 "alert_premium_low"]
    # bar4: window [1, -1, 5]: mean 5/3, population std sqrt(56/9), upper 4.16 < 5; bar3's upper
    # (window [-1, 1, -1]) is 0.61 >= -1: a cross above
    assert out["bb_upper"].iloc[4] == pytest.approx(5 / 3 + math.sqrt(56 / 9), rel=1e-12)
    assert out["alert_premium_high"].tolist() == [False, False, False, False, True, False]
    # bar5: window [-1, 5, -6]: mean -2/3, population std sqrt(546/27) = 4.50; lower -5.16 > -6
    # and bar4's 5 >= its lower band: a cross below
    assert out["bb_lower"].iloc[5] == pytest.approx(-2 / 3 - math.sqrt(546 / 27), rel=1e-12)
    assert out["alert_premium_low"].tolist() == [False, False, False, False, False, True]
    # wider bands (x1.5): upper 5/3 + 1.5 * 2.49 = 5.41 > 5 and lower -7.41 < -6: nothing fires
    wide = premium_alerts(x, bb_length=3, bb_mult=1.5)
    assert not wide["alert_premium_high"].any() and not wide["alert_premium_low"].any()


def test_premium_alerts_match_bands_and_pine_crosses_on_random_data():
    x = S(np.random.default_rng(5).normal(0, 30, 500))
    out = premium_alerts(x, bb_length=20, bb_mult=2.0)
    bb = bollinger(x, 20, 2.0)
    np.testing.assert_array_equal(out["bb_upper"].to_numpy(), bb["upper"].to_numpy())
    up = (x > bb["upper"]) & (x.shift(1) <= bb["upper"].shift(1))
    down = (x < bb["lower"]) & (x.shift(1) >= bb["lower"].shift(1))
    assert out["alert_premium_high"].tolist() == up.tolist()
    assert out["alert_premium_low"].tolist() == down.tolist()
    assert up.any() and down.any()


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize("kwargs, fragment", [
    ({"trend_length": 0}, "trend_length must be a whole number of bars >= 1; got 0"),
    ({"premium_min": -0.1}, "premium_min=-0.1 is out of range; valid range: [0, inf]"),
    ({"oi_build_z": 11}, "oi_build_z=11 is out of range; valid range: [-10, 10]"),
    ({"oi_hot_z": -11}, "oi_hot_z=-11 is out of range"),
    ({"bull_oi_z_max": float("nan")}, "bull_oi_z_max must be a number; got nan"),
    ({"funding_hot": 6}, "funding_hot=6 is out of range; valid range: [-5, 5]"),
    ({"bull_funding_max": "x"}, "bull_funding_max must be a number; got 'x'"),
])
def test_confluence_rejects_bad_parameters(kwargs, fragment):
    with pytest.raises(ValueError) as e:
        confluence(S([0.1, 0.2]), S([0.0, 0.0]), S([0.0, 0.0]), **kwargs)
    assert fragment in str(e.value)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"cycle_k": -1}, "cycle_k=-1 is out of range; valid range: [0, 10]"),
    ({"cycle_k": 10.5}, "cycle_k=10.5 is out of range"),
    ({"cycle_m": 0}, "cycle_m=0 is out of range; valid choices: 1, 2, 3"),
    ({"cycle_m": 4}, "cycle_m=4 is out of range; valid choices: 1, 2, 3"),
    ({"cycle_m": 2.5}, "cycle_m=2.5 is out of range; valid choices: 1, 2, 3"),
    ({"cycle_m": True}, "cycle_m=True is out of range; valid choices: 1, 2, 3"),
])
def test_extreme_cycle_rejects_bad_parameters(kwargs, fragment):
    with pytest.raises(ValueError) as e:
        extreme_cycle(S([0.0]), S([0.0]), S([0.0]), **kwargs)
    assert fragment in str(e.value)


def test_premium_alerts_reject_bad_band_parameters():
    with pytest.raises(ValueError, match="length must be a whole number of bars >= 1; got -5"):
        premium_alerts(S([1.0, 2.0]), bb_length=-5)
    with pytest.raises(ValueError, match=r"mult=-1 is out of range; valid range: \[0, inf\]"):
        premium_alerts(S([1.0, 2.0]), bb_mult=-1)


def test_inputs_must_be_bar_aligned():
    """Regression: a length-1 oi_z broadcast over every bar silently, and Series with different
    indexes were combined by position."""
    p = S([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="equal lengths; got premium_pct=3, oi_z=1, funding_8h=3"):
        confluence(p, S([0.0]), S([0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="equal lengths; got premium_z=3, oi_z=3, funding_z=2"):
        extreme_cycle(p, p, S([0.0, 0.0]))
    shifted = S([0.0, 0.0, 0.0], start="2024-02-01")
    with pytest.raises(ValueError, match=r"oi_z and premium_pct have different indexes.*reindex"):
        confluence(p, shifted, p)
    # plain arrays carry no index: combined by position
    assert len(confluence(p, np.zeros(3), np.zeros(3), trend_length=1)) == 3


# ------------------------------------------------------------------ onsets and run lengths


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([True, False, None]), max_size=60))
def test_onsets_and_run_lengths_equal_a_plain_loop(values):
    state = pd.Series(values, dtype="object")
    expected_on, expected_run, prev, run = [], [], False, 0
    for v in values:
        v = bool(v)
        expected_on.append(v and not prev)
        run = run + 1 if v else 0
        expected_run.append(run)
        prev = v
    assert sig.onsets(state).tolist() == expected_on
    assert sig.run_lengths(state).tolist() == expected_run
    assert int(sig.onsets(state).sum()) <= int(state.fillna(False).astype(bool).sum())
