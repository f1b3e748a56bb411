"""The signal study (btcflow_nb.study): every number against a plain loop over onsets."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

import btcflow_nb as bf
from btcflow_nb import _study_stats as st
from btcflow_nb.study import (DIRECTIONS, GRID_PARAMS, SIGNALS, SYNTHETIC_NOTE, THRESHOLDS,
                              SignalStudy, sensitivity, study)


# ----------------------------------------------------------------------------- the reference
def loop_reference(spot, state, h, direction):
    """The study's numbers for one signal and horizon, by hand, one onset at a time."""
    spot, state = list(spot), list(state)
    n = len(spot)

    def fwd(t):
        if t + h >= n:
            return None
        a, b = spot[t], spot[t + h]
        if not (a > 0 and b > 0):  # NaN compares False
            return None
        return b / a - 1

    onset_bars = [t for t in range(n) if state[t] and (t == 0 or not state[t - 1])]
    rets = [fwd(t) for t in onset_bars if fwd(t) is not None]
    every = [fwd(t) for t in range(n) if fwd(t) is not None]
    hit = (lambda r: r > 0) if direction == "up" else (lambda r: r < 0)
    windows = [any(t <= o < t + h for o in onset_bars) for t in range(n - h + 1)]
    mean = sum(rets) / len(rets) if rets else math.nan
    all_mean = sum(every) / len(every) if every else math.nan
    return {
        "onset_bars": onset_bars, "n_onsets": len(onset_bars), "n": len(rets),
        "mean": 100 * mean, "median": 100 * float(np.median(rets)) if rets else math.nan,
        "all_bars": 100 * all_mean, "excess": 100 * (mean - all_mean),
        "hit_rate": 100 * sum(map(hit, rets)) / len(rets) if rets else math.nan,
        "hit_rate_all": 100 * sum(map(hit, every)) / len(every) if every else math.nan,
        "base_rate": 100 * sum(windows) / len(windows) if windows else math.nan,
        "fwd": [None if fwd(t) is None else 100 * fwd(t) for t in onset_bars],
    }


def assert_matches_loop(s: SignalStudy, m: pd.DataFrame) -> None:
    for _, row in s.summary.iterrows():
        ref = loop_reference(m["spot"], m[row["signal"]], row["horizon"], row["direction"])
        for key in ("n_onsets", "n", "mean", "median", "all_bars", "excess", "hit_rate",
                    "hit_rate_all", "base_rate"):
            assert row[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12, nan_ok=True), \
                (row["signal"], row["horizon"], key)
        ons = s.onsets[s.onsets["signal"] == row["signal"]]
        assert [m.index.get_loc(t) for t in ons["time"]] == ref["onset_bars"]
        got = ons[f"fwd_{row['horizon']}"].tolist()
        want = [np.nan if r is None else r for r in ref["fwd"]]
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.fixture(scope="module")
def weekly(demo):
    return bf.flow_metrics(demo, "1W")


@pytest.fixture(scope="module")
def weekly_study(weekly):
    return study(weekly, n_boot=300, seed=0)


# ----------------------------------------------------------------------------- the numbers
def test_every_number_equals_a_plain_loop_over_onsets_on_demo_weeks(weekly, weekly_study):
    s = weekly_study
    assert list(s.summary["signal"].unique()) == list(SIGNALS)
    assert s.horizons == (1, 4, 12) and s.n_bars == len(weekly)
    assert_matches_loop(s, weekly)


def test_a_study_of_the_marketdata_equals_the_study_of_its_metrics(demo, weekly, weekly_study):
    direct = study(demo, "1W", n_boot=300, seed=0)
    pd.testing.assert_frame_equal(direct.summary, weekly_study.summary)
    lb = study(demo, "1W", signals="cycle_top", horizons=[2], n_boot=0, lookback=26)
    assert_matches_loop(lb, bf.flow_metrics(demo, "1W", lookback=26))


def _frame(spot, states: dict) -> pd.DataFrame:
    idx = pd.date_range("2020-01-06", periods=len(spot), freq="7D", tz="UTC", name="time")
    m = pd.DataFrame({"spot": spot}, index=idx)
    for name in SIGNALS:
        m[name] = np.asarray(states.get(name, np.zeros(len(spot), bool)), dtype=bool)
    return m


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=hst.integers(0, 2**31 - 1), n=hst.integers(3, 80),
       h=hst.integers(1, 6), gaps=hst.booleans())
def test_property_loop_equality_with_gaps_and_runs(seed, n, h, gaps):
    rng = np.random.default_rng(seed)
    spot = 100 * np.exp(np.cumsum(rng.normal(0, 0.05, n)))
    if gaps:
        spot[rng.random(n) < 0.15] = np.nan
    state = rng.random(n) < rng.uniform(0.05, 0.7)
    m = _frame(spot, {"bullish": state, "cycle_top": state[::-1].copy()})
    s = study(m, signals=["bullish", "cycle_top"], horizons=[h], n_boot=0, min_onsets=0)
    assert_matches_loop(s, m)
    assert s.summary["ci_low"].isna().all()   # n_boot=0: no interval


def test_onset_bar_return_is_measured_from_its_close():
    spot = [100.0, 200.0, 220.0, 110.0, 121.0]   # the onset bar's own jump (100->200) is not counted
    m = _frame(spot, {"bullish": [False, True, True, False, False]})
    row = study(m, signals="bullish", horizons=[1, 2], n_boot=0).summary.set_index("horizon")
    assert row.loc[1, "mean"] == pytest.approx(10.0)        # 220 / 200 - 1
    assert row.loc[2, "mean"] == pytest.approx(-45.0)       # 110 / 200 - 1
    assert row.loc[1, "hit_rate"] == 100 and row.loc[2, "hit_rate"] == 0


def test_the_still_open_bar_feeds_no_onset_and_no_forward_return():
    spot = [100.0, 100.0, 110.0, 121.0, 200.0]     # the last close is provisional
    m = _frame(spot, {"bullish": [False, True, False, False, True]})
    closed = study(m, signals="bullish", horizons=[3], n_boot=0, min_onsets=0)
    m["open_bar"] = [False, False, False, False, True]
    provisional = study(m, signals="bullish", horizons=[3], n_boot=0, min_onsets=0)
    assert list(closed.onsets["time"]) == [m.index[1], m.index[4]]
    assert list(provisional.onsets["time"]) == [m.index[1]]
    assert closed.summary["mean"].iloc[0] == pytest.approx(100.0)       # 200 / 100 - 1
    assert provisional.summary["n"].iloc[0] == 0                         # 200 is not a close yet
    assert np.isnan(provisional.summary["mean"].iloc[0])


def test_paths_start_at_zero_and_agree_with_the_summary(weekly_study):
    p, s = weekly_study.paths, weekly_study.summary
    assert (p.loc[p["bars"] == 0, ["mean", "all_bars"]].dropna() == 0).all().all()
    for _, row in s.iterrows():
        at = p[(p["signal"] == row["signal"]) & (p["bars"] == row["horizon"])].iloc[0]
        assert at["n"] == row["n"]
        for a, b in (("mean", "mean"), ("low", "ci_low"), ("high", "ci_high"),
                     ("all_bars", "all_bars")):
            assert at[a] == pytest.approx(row[b], nan_ok=True)
    assert sorted(p["bars"].unique()) == list(range(13))


def test_expected_directions_are_documented_and_overridable(weekly):
    assert DIRECTIONS == {"bullish": "up", "bearish": "down", "overleveraged": "down",
                          "cycle_top": "down", "cycle_bottom": "up",
                          "alert_premium_high": "up", "alert_premium_low": "down"}
    flipped = study(weekly, signals="alert_premium_high", horizons=[4], n_boot=0,
                    directions={"alert_premium_high": "down"})
    assert flipped.summary["direction"].tolist() == ["down"]
    assert_matches_loop(flipped, weekly)


# ----------------------------------------------------------------------------- the bootstrap
def test_bootstrap_is_reproducible_with_its_seed_and_changes_with_another(weekly):
    a = study(weekly, signals=["bullish", "cycle_top"], n_boot=200, seed=7)
    b = study(weekly, signals=["bullish", "cycle_top"], n_boot=200, seed=7)
    c = study(weekly, signals=["bullish", "cycle_top"], n_boot=200, seed=8)
    cols = ["ci_low", "ci_high", "excess_low", "excess_high"]
    pd.testing.assert_frame_equal(a.summary, b.summary)
    pd.testing.assert_frame_equal(a.paths, b.paths)
    assert not np.allclose(a.summary[cols], c.summary[cols])
    pd.testing.assert_frame_equal(a.summary.drop(columns=cols), c.summary.drop(columns=cols))


def test_ci_contains_the_estimate_and_excludes_zero_on_a_clear_case():
    """A planted effect: the price jumps 3 % on the bar after each onset (every 15 bars) on top
    of a noisy random walk. The CI holds the mean; the excess CI is clearly above zero."""
    rng = np.random.default_rng(3)
    n = 600
    steps = rng.normal(0.0, 0.01, n)
    onset = np.zeros(n, bool)
    onset[5:n - 5:15] = True
    steps[1:][onset[:-1]] += 0.03
    m = _frame(100 * np.exp(np.cumsum(steps)), {"bullish": onset, "bearish": onset})
    s = study(m, signals=["bullish", "bearish"], horizons=[1, 4], n_boot=1000, seed=0)
    for _, row in s.summary.iterrows():
        assert row["ci_low"] <= row["mean"] <= row["ci_high"]
        assert row["excess_low"] <= row["excess"] <= row["excess_high"]
        assert row["excess_low"] > 0.5 and row["n"] >= 39
    hits = s.summary.set_index(["signal", "horizon"])["hit_rate"]
    assert hits[("bullish", 1)] == 100 and hits[("bearish", 1)] == 0   # up is a miss for bearish


def test_resample_weights_are_circular_blocks():
    starts = np.array([[8, 0, 5]])
    w = st.resample_weights(starts, 10, 4)   # bars 8 9 0 1 | 0 1 2 3 | 5 6 (cut at N=10)
    assert w.tolist() == [[2, 2, 1, 1, 0, 1, 1, 0, 1, 1]]
    many = st.resample_weights(st.block_starts(50, 7, 100, 1), 50, 7)
    assert (many.sum(axis=1) == 50).all()


def test_block_length_default_is_the_longest_horizon_or_the_cube_root(weekly_study):
    assert weekly_study.block_length == 12                    # max(12, ceil(418 ** (1/3)) = 8)
    assert st.default_block_length(2922, 1) == 15             # 2922 ** (1/3) = 14.3
    assert st.default_block_length(1000, 4) == 10
    assert st.default_block_length(5, 1) == 2


# ----------------------------------------------------------------------------- shown to people
def test_repr_says_synthetic_and_warns_about_few_onsets(weekly_study):
    text = repr(weekly_study)
    assert text.startswith(SYNTHETIC_NOTE)
    counts = weekly_study.summary.groupby("signal")["n"].min()
    for name, n in counts.items():
        assert (f"{name}: only {n} onsets (< 10)" in text) == (n < 10)
        rows = weekly_study.summary[weekly_study.summary["signal"] == name]
        assert ((rows["warning"] != "") == (rows["n"] < 10)).all()
    assert "block" in text and "seed 0" in text
    assert "<table" in weekly_study._repr_html_()


# ----------------------------------------------------------------------------- sensitivity
@pytest.mark.parametrize("signal, px, vx, py, vy", [
    ("cycle_top", "cycle_k", (1.5, 2.0, 3.0), "lookback", (26, 52)),
    ("overleveraged", "oi_hot_z", (1.0, 2.0), "funding_hot", (0.01, 0.03)),
])
def test_sensitivity_cells_equal_separate_study_runs(demo, signal, px, vx, py, vy):
    grid = sensitivity(demo, signal, param_x=px, values_x=vx, param_y=py, values_y=vy,
                       horizon=4)
    assert len(grid) == len(vx) * len(vy) and grid.attrs["notes"] == []
    for _, cell in grid.iterrows():
        s = study(demo, "1W", signal, [4], n_boot=0, **{px: cell[px], py: cell[py]})
        row = s.summary.iloc[0]
        m = bf.flow_metrics(demo, "1W", **{px: cell[px], py: cell[py]})
        assert cell["state_bars"] == m[signal].sum()
        for key in ("n_onsets", "n", "mean", "excess", "hit_rate", "base_rate"):
            assert cell[key] == pytest.approx(row[key], nan_ok=True), (cell[px], cell[py], key)


def test_sensitivity_state_bars_never_rise_with_a_threshold(demo):
    grid = sensitivity(demo, "bearish", param_x="oi_build_z", values_x=(0.0, 0.5, 1.0, 2.0),
                       param_y="premium_min", values_y=(0.0, 0.02, 0.05), horizon=1)
    assert set(THRESHOLDS) <= set(GRID_PARAMS)
    for _, g in grid.groupby("premium_min"):
        assert (np.diff(g.sort_values("oi_build_z")["state_bars"]) <= 0).all()
    for _, g in grid.groupby("oi_build_z"):
        assert (np.diff(g.sort_values("premium_min")["state_bars"]) <= 0).all()
    assert grid.attrs["notes"] == [] and grid.attrs["synthetic"] is True


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("horizons, shown", [
    (0, "0"), ([1, -4], "-4"), ((1, 2.5), "2.5"), (["4"], "'4'"), ([True], "True"), ([], "[]"),
])
def test_bad_horizons_name_the_value_and_what_is_valid(weekly, horizons, shown):
    with pytest.raises(ValueError, match="positive whole numbers") as err:
        study(weekly, horizons=horizons, n_boot=0)
    assert shown in str(err.value) and "(1, 4, 12)" in str(err.value)


def test_unknown_signal_lists_the_valid_ones(weekly, demo):
    for call in (lambda: study(weekly, signals=["bullish", "bulish"]),
                 lambda: sensitivity(demo, "tops")):
        with pytest.raises(ValueError, match="valid choices") as err:
            call()
        assert all(s in str(err.value) for s in SIGNALS)


def test_a_study_without_spot_prices_says_so(demo, weekly):
    no_spot = bf.MarketData.from_frames(perp=demo.perp, funding=demo.funding,
                                        open_interest=demo.open_interest)
    with pytest.raises(ValueError, match="no spot prices.*valid: data with at least one spot"):
        study(no_spot, "1W")
    with pytest.raises(ValueError, match="no spot prices"):
        study(weekly.assign(spot=np.nan))
    with pytest.raises(ValueError, match="no spot prices"):
        study(weekly.drop(columns="spot"))


@pytest.mark.parametrize("kwargs, needle", [
    (dict(n_boot=-1), "n_boot"), (dict(seed=1.5), "seed"), (dict(ci=1.5), "ci="),
    (dict(block_length=0), "block_length"), (dict(directions={"bullish": "sideways"}), "'up'"),
    (dict(directions={"moon": "up"}), "'bullish'"), (dict(lookback=26), "MarketData instead"),
])
def test_other_bad_arguments(weekly, kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        study(weekly, **kwargs)


def test_sensitivity_bad_parameters(demo, weekly):
    with pytest.raises(ValueError, match="valid choices: 'lookback'"):
        sensitivity(demo, "cycle_top", param_x="cycle_kk")
    with pytest.raises(ValueError, match="two different"):
        sensitivity(demo, "cycle_top", param_x="lookback")
    with pytest.raises(ValueError, match="needs a MarketData"):
        sensitivity(weekly, "cycle_top")
    with pytest.raises(ValueError, match="positive whole numbers"):
        sensitivity(demo, "cycle_top", horizon=0)
    with pytest.raises(ValueError, match="grid axes"):
        sensitivity(demo, "cycle_top", cycle_k=2.0)


def test_readme_names_the_study_api_that_exists():
    import re
    from pathlib import Path

    from btcflow_nb import dashboard, study as study_mod

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    row = re.search(r"\| `btcflow_nb.study` \| (.*?) \|\n", text).group(1)
    names = re.findall(r"`(\w+)`", row)
    assert names == ["study", "sensitivity"] and all(hasattr(study_mod, n) for n in names)
    assert "SignalStudyPanel" in re.search(r"\| `btcflow_nb.dashboard` \| (.*?) \|", text).group(1)
    assert hasattr(dashboard, "SignalStudyPanel")
    section = text.split("## Does a signal work?", 1)[1].split("\n## ", 1)[0]
    assert "mean nothing" in section and "05_do_the_signals_work.ipynb" in section
