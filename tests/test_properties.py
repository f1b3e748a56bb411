"""Property tests (hypothesis) for the rules DESIGN.md states:

- raising any threshold never adds a signal; lowering a bullish cap never adds a bullish signal;
- bullish and bearish never hold on the same bar;
- chain-linked OI shows no step when a venue joins or leaves;
- the funding TWAP of a constant per-hour rate is that rate whatever the mix of intervals;
- resampling funding re-TWAPs events (never a mean of means).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btcflow_nb import flow_metrics
from btcflow_nb.indicators import aggregate_oi, composite_funding, funding_twap
from btcflow_nb.marketdata import MarketData
from btcflow_nb.signals import confluence, extreme_cycle
from btcflow_nb.timeframes import TIMEFRAMES, bar_range, next_bar_open

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
NAN = np.nan

CONF_SIGNALS = ["bullish", "bearish", "overleveraged"]
CYCLE_SIGNALS = ["cycle_top", "cycle_bottom"]


def _series(draw, n, low, high):
    values = draw(st.lists(st.one_of(st.floats(low, high), st.just(NAN)), min_size=n, max_size=n))
    return pd.Series(values, dtype="float64")


@st.composite
def flow_inputs(draw):
    n = draw(st.integers(3, 60))
    return (_series(draw, n, -1.0, 1.0),      # premium %
            _series(draw, n, -4.0, 4.0),      # OI z
            _series(draw, n, -0.1, 0.1),      # funding % per 8h
            _series(draw, n, -4.0, 4.0))      # funding z


def _pair(low, high):
    return st.tuples(st.floats(low, high), st.floats(low, high)).map(sorted)


def _subset(fewer: pd.DataFrame, more: pd.DataFrame, columns):
    for c in columns:
        extra = fewer[c] & ~more[c]
        assert not extra.any(), f"{c}: raising the threshold added a signal at {list(extra[extra].index)}"


THRESHOLDS = {  # parameter: (range, signals it may only remove)
    "premium_min": ((0.0, 1.0), CONF_SIGNALS),
    "oi_build_z": ((-4.0, 4.0), CONF_SIGNALS),
    "oi_hot_z": ((-4.0, 4.0), CONF_SIGNALS),
    "funding_hot": ((-0.1, 0.1), CONF_SIGNALS),
}
CAPS = {"bull_oi_z_max": (-4.0, 4.0), "bull_funding_max": (-0.1, 0.1)}


@pytest.mark.parametrize("name", list(THRESHOLDS))
@SETTINGS
@given(data=flow_inputs(), st_data=st.data())
def test_raising_a_confluence_threshold_never_adds_a_signal(name, data, st_data):
    (low, high), columns = THRESHOLDS[name]
    lo, hi = st_data.draw(_pair(low, high))
    trend = st_data.draw(st.integers(1, 5))
    p, oz, fu, _ = data
    a = confluence(p, oz, fu, trend_length=trend, **{name: lo})
    b = confluence(p, oz, fu, trend_length=trend, **{name: hi})
    _subset(b, a, columns)
    assert not (a["bullish"] & a["bearish"]).any() and not (b["bullish"] & b["bearish"]).any()


@pytest.mark.parametrize("name", list(CAPS))
@SETTINGS
@given(data=flow_inputs(), st_data=st.data())
def test_lowering_a_bullish_cap_never_adds_a_bullish_signal(name, data, st_data):
    lo, hi = st_data.draw(_pair(*CAPS[name]))
    p, oz, fu, _ = data
    a = confluence(p, oz, fu, trend_length=2, **{name: lo})
    b = confluence(p, oz, fu, trend_length=2, **{name: hi})
    _subset(a, b, ["bullish"])
    pd.testing.assert_frame_equal(a[["bearish", "overleveraged"]], b[["bearish", "overleveraged"]])


@SETTINGS
@given(data=flow_inputs(), k=_pair(0.0, 4.0), m=st.tuples(st.integers(1, 3), st.integers(1, 3)).map(sorted))
def test_raising_cycle_k_or_cycle_m_never_adds_an_extreme(data, k, m):
    p, oz, _, fz = data
    pz = p * 4  # premium z on the z scale
    base = extreme_cycle(pz, oz, fz, cycle_k=k[0], cycle_m=m[0])
    _subset(extreme_cycle(pz, oz, fz, cycle_k=k[1], cycle_m=m[0]), base, CYCLE_SIGNALS)
    _subset(extreme_cycle(pz, oz, fz, cycle_k=k[0], cycle_m=m[1]), base, CYCLE_SIGNALS)


@SETTINGS
@given(data=flow_inputs(), params=st.fixed_dictionaries({
    "premium_min": st.floats(0, 1), "oi_build_z": st.floats(-4, 4), "oi_hot_z": st.floats(-4, 4),
    "funding_hot": st.floats(-0.1, 0.1), "bull_oi_z_max": st.floats(-4, 4),
    "bull_funding_max": st.floats(-0.1, 0.1), "trend_length": st.integers(1, 5)}))
def test_bullish_and_bearish_never_both_hold(data, params):
    p, oz, fu, _ = data
    out = confluence(p, oz, fu, **params)
    assert not (out["bullish"] & out["bearish"]).any()


# ---------------------------------------------------------------------------- on the demo data

DEMO_PAIRS = [
    ("premium_min", 0.0, 0.05, ["bullish", "bearish"]),
    ("oi_build_z", 0.5, 1.5, ["bearish"]),
    ("oi_hot_z", 1.5, 2.5, ["overleveraged"]),
    ("funding_hot", 0.02, 0.04, ["bearish", "overleveraged"]),
    ("cycle_k", 1.5, 2.5, ["cycle_top", "cycle_bottom"]),
    ("cycle_m", 1, 2, ["cycle_top", "cycle_bottom"]),
    ("cycle_m", 2, 3, ["cycle_top", "cycle_bottom"]),
]
SIGNALS = CONF_SIGNALS + CYCLE_SIGNALS


@pytest.mark.parametrize("tf", ["1D", "1W"])
@pytest.mark.parametrize("name, lo, hi, affected", DEMO_PAIRS)
def test_demo_raising_a_threshold_never_adds_a_signal(demo, tf, name, lo, hi, affected):
    lookback = 52 if tf == "1W" else 90
    a = flow_metrics(demo, tf, lookback=lookback, **{name: lo})
    b = flow_metrics(demo, tf, lookback=lookback, **{name: hi})
    _subset(b, a, SIGNALS)
    # not vacuous: the threshold matters somewhere
    assert sum(int(a[c].sum()) - int(b[c].sum()) for c in affected) > 0
    for m in (a, b):
        assert not (m["bullish"] & m["bearish"]).any()


@pytest.mark.parametrize("name, lo, hi", [("bull_oi_z_max", 1.0, 2.5), ("bull_funding_max", 0.01, 0.04)])
def test_demo_lowering_a_cap_never_adds_a_bullish_signal(demo, name, lo, hi):
    a = flow_metrics(demo, "1D", **{name: lo})
    b = flow_metrics(demo, "1D", **{name: hi})
    _subset(a, b, ["bullish"])
    assert a["bullish"].sum() < b["bullish"].sum()


@pytest.mark.parametrize("tf", ["1D", "3D", "1W", "1M"])
def test_demo_bullish_and_bearish_never_both(demo, tf):
    m = flow_metrics(demo, tf, lookback=24)
    assert m["bullish"].any() and m["bearish"].any()
    assert not (m["bullish"] & m["bearish"]).any()


# ---------------------------------------------------------------------------- chain-linked OI


@st.composite
def venue_histories(draw):
    n = draw(st.integers(2, 40))
    k = draw(st.integers(1, 5))
    growth = draw(st.sampled_from([1.0, 1.0, 1.01, 0.97, 1.2]))
    cols = {}
    for v in range(k):
        start = draw(st.integers(0, n - 1))
        stop = draw(st.integers(start + 1, n))
        base = draw(st.floats(1.0, 1e6))
        col = np.full(n, NAN)
        col[start:stop] = base * growth ** np.arange(start, stop)
        holes = draw(st.lists(st.integers(start, stop - 1), max_size=3))
        col[holes] = NAN
        cols[f"v{v}"] = col
    return pd.DataFrame(cols, index=pd.date_range("2024-01-01", periods=n, tz="UTC")), growth


@SETTINGS
@given(hist=venue_histories())
def test_chain_linked_oi_has_no_step_when_venues_join_or_leave(hist):
    oi, growth = hist
    agg = aggregate_oi(oi).to_numpy()
    has = oi.notna().to_numpy()
    rows = np.flatnonzero(has.any(axis=1))
    assert np.isnan(agg[~has.any(axis=1)]).all()
    if len(rows) == 0:
        return
    # level at the last bar with data is the true sum
    last = rows[-1]
    assert agg[last] == pytest.approx(np.nansum(oi.to_numpy()[last]), rel=1e-12)
    vals = oi.to_numpy()
    for prev, cur in zip(rows[:-1], rows[1:]):
        common = has[prev] & has[cur]
        if common.any():
            # aggregate growth is the growth of the venues present at both bars: the common growth
            expected = vals[cur, common].sum() / vals[prev, common].sum()
            assert agg[cur] / agg[prev] == pytest.approx(expected, rel=1e-9)
            assert agg[cur] / agg[prev] == pytest.approx(growth ** (cur - prev), rel=1e-9)
        else:
            assert agg[cur] == pytest.approx(agg[prev], rel=1e-12)  # no information, no step


@SETTINGS
@given(hist=venue_histories(), noise=st.lists(st.floats(0.5, 2.0), min_size=40, max_size=40))
def test_chain_linked_growth_equals_common_venues_growth_for_any_paths(hist, noise):
    oi, _ = hist
    oi = oi.mul(np.asarray(noise[:len(oi)]), axis=0) * pd.Series(
        np.linspace(1, 2, oi.shape[1]), index=oi.columns)
    agg = aggregate_oi(oi).to_numpy()
    vals, has = oi.to_numpy(), oi.notna().to_numpy()
    rows = np.flatnonzero(has.any(axis=1))
    for prev, cur in zip(rows[:-1], rows[1:]):
        common = has[prev] & has[cur]
        if common.any():
            assert agg[cur] / agg[prev] == pytest.approx(
                vals[cur, common].sum() / vals[prev, common].sum(), rel=1e-9)


# ---------------------------------------------------------------------------- funding TWAP


@st.composite
def constant_rate_events(draw):
    # per hour; |rate| <= 3e-4 keeps an 8h payment (<= 0.24 %) below from_frames' percent check
    rate = draw(st.floats(-3e-4, 3e-4).filter(lambda r: abs(r) > 1e-9))
    start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=draw(st.integers(0, 24 * 40)))
    frames = []
    for v in range(draw(st.integers(1, 4))):
        t = start + pd.Timedelta(hours=draw(st.integers(0, 48)))
        times, rates, hours = [], [], []
        for _ in range(draw(st.integers(1, 4))):  # segments with different intervals
            h = draw(st.sampled_from([1, 4, 8]))
            t = t + pd.Timedelta(hours=draw(st.integers(0, 7)))  # random phase / pause
            count = draw(st.integers(1, 120 // h + 1))
            for _ in range(count):
                t = t + pd.Timedelta(hours=h)
                times.append(t)
                rates.append(rate * h)
                hours.append(float(h))
        frames.append(pd.DataFrame({"venue": f"v{v}", "time": times, "rate": rates,
                                    "interval_hours": hours}))
    return rate, pd.concat(frames, ignore_index=True)


@SETTINGS
@given(ev=constant_rate_events(), tf=st.sampled_from(TIMEFRAMES))
def test_funding_twap_of_a_constant_hourly_rate_is_that_rate(ev, tf):
    rate, events = ev
    md = MarketData.from_frames(funding=events)
    bars = bar_range(events["time"].min() - pd.Timedelta(hours=8), events["time"].max(), tf)
    tw = funding_twap(md.funding, bars, next_bar_open(bars, tf))
    covered = tw.notna()
    assert covered.to_numpy().any()
    np.testing.assert_allclose(tw.to_numpy()[covered.to_numpy()], rate, rtol=1e-9)
    comp = composite_funding(tw).dropna()
    np.testing.assert_allclose(comp.to_numpy(), rate, rtol=1e-9)


def _direct_twap(events: pd.DataFrame, open_: pd.Timestamp, close: pd.Timestamp) -> float:
    """TWAP per hour of the events settled in (open, close] (they are aligned to the bar)."""
    inside = events[(events["time"] > open_) & (events["time"] <= close)]
    if len(inside) == 0:
        return np.nan  # no event in the bar: this venue does not vote
    return inside["rate"].sum() / inside["interval_hours"].sum()


@st.composite
def uneven_funding(draw):
    """Daily prices over 10 weeks from Monday 2024-01-01; one 8h and one 1h venue with random
    rates and random missing settlements (uneven coverage). The bulk randomness comes from a
    drawn seed to keep hypothesis' own input small."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    drop = draw(st.floats(0.0, 0.9))
    days = pd.date_range("2024-01-01", periods=70, freq="D", tz="UTC", name="time")
    spot = pd.DataFrame({"s": 100.0}, index=days)
    frames = []
    for venue, h in (("eight", 8), ("one", 1)):
        times = pd.date_range(days[0] + pd.Timedelta(hours=h), days[-1] + pd.Timedelta(days=1),
                              freq=f"{h}h", tz="UTC")
        keep = rng.random(len(times)) >= drop
        keep[:: 24 // h * 7] = True  # at least one event a week
        level = draw(st.floats(-3e-4, 3e-4))
        rates = level * h * (1 + rng.uniform(-0.9, 0.9, len(times)))
        frames.append(pd.DataFrame({"venue": venue, "time": times[keep], "rate": rates[keep],
                                    "interval_hours": float(h)}))
    return MarketData.from_frames(spot=spot, funding=pd.concat(frames, ignore_index=True))


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(md=uneven_funding(), tf=st.sampled_from(["3D", "1W", "1M"]))
def test_coarse_funding_is_the_twap_of_the_bar_events(md, tf):
    m = flow_metrics(md, tf, lookback=2)
    closes = next_bar_open(m.index, tf)
    for open_, close in zip(m.index, closes):
        per_venue = np.array([_direct_twap(g, open_, close)
                              for _, g in md.funding.groupby("venue", observed=True)])
        got = m.loc[open_, "funding"]
        if np.isnan(per_venue).all():
            assert np.isnan(got)
        else:
            assert got == pytest.approx(np.nanmean(per_venue) * 8 * 100, rel=1e-9, abs=1e-15)


def test_weekly_funding_is_not_a_mean_of_daily_means():
    """Monday..Sunday, one 8h venue paying 0.01 %/h except Tuesday, when only one settlement
    (08:00, 0.05 %/h) happened. The week's TWAP weighs Tuesday by its 8 covered hours."""
    days = pd.date_range("2024-01-01", periods=14, freq="D", tz="UTC", name="time")
    rows = []
    for d in days:
        if d == pd.Timestamp("2024-01-02", tz="UTC"):
            rows.append(("v", d + pd.Timedelta(hours=8), 0.0040, 8.0))
            continue
        rows += [("v", d + pd.Timedelta(hours=h), 0.0008, 8.0) for h in (8, 16, 24)]
    md = MarketData.from_frames(spot=pd.DataFrame({"s": 100.0}, index=days),
                                funding=pd.DataFrame(rows, columns=["venue", "time", "rate", "interval_hours"]))
    weekly = flow_metrics(md, "1W", lookback=2)["funding"]
    daily = flow_metrics(md, "1D", lookback=2)["funding"]
    week1 = (6 * 24 * 1e-4 + 8 * 5e-4) / (6 * 24 + 8)  # per hour: 1.2105e-4
    assert weekly.iloc[0] == pytest.approx(week1 * 800, rel=1e-12)
    assert daily.iloc[1] == pytest.approx(5e-4 * 800, rel=1e-12)
    mean_of_daily = daily.iloc[:7].mean()  # (6 * 0.08 + 0.4) / 7 = 0.1257 % per 8h
    assert mean_of_daily == pytest.approx((6 * 1e-4 + 5e-4) / 7 * 800, rel=1e-12)
    assert abs(weekly.iloc[0] - mean_of_daily) > 0.02  # 0.0968 vs 0.1257 % per 8h
    assert weekly.iloc[1] == pytest.approx(0.08, rel=1e-12)
