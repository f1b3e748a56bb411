"""Property tests of issue 12 ("signals a user can trust"):

- a re-barred premium is the basket premium at the bar's last base bar (no stale close);
- a venue missing for a short gap barely moves the basket (it is carried with the others);
- any lookback or length on any data never raises (NaN and a note instead);
- raising a threshold only removes signal *states*; onsets are subtler (see below);
- no cycle signal where fewer than ``m`` metrics have data.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from btcflow_nb import flow_metrics
from btcflow_nb.marketdata import MarketData
from btcflow_nb.signals import confluence, extreme_cycle, onsets
from btcflow_nb.timeframes import bar_open

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _market(seed: int, n: int, n_spot: int, n_perp: int, hole_p: float, noise: float = 1e-3,
            start="2024-01-01"):
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, periods=n, freq="D", tz="UTC", name="time")
    walk = 50_000 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))

    def side(k, prefix):
        offsets = rng.choice([-1, 1], k) * rng.uniform(1e-3, 2e-2, k)
        cols = {f"{prefix}{j}": walk * np.exp(offsets[j] + rng.normal(0, noise, n))
                for j in range(k)}
        frame = pd.DataFrame(cols, index=days)
        return frame.mask(rng.random(frame.shape) < hole_p)

    return side(n_spot, "s"), side(n_perp, "p")


# ---------------------------------------------------------------------------- baskets


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(8, 80), n_spot=st.integers(1, 4),
       n_perp=st.integers(1, 3), hole_p=st.sampled_from([0.0, 0.1, 0.3, 0.6]),
       tf=st.sampled_from(["3D", "1W", "1M"]), max_gap=st.integers(0, 4))
def test_a_rebarred_premium_is_the_basket_premium_at_the_bars_last_base_bar(
        seed, n, n_spot, n_perp, hole_p, tf, max_gap):
    spot, perp = _market(seed, n, n_spot, n_perp, hole_p)
    md = MarketData.from_frames(spot=spot, perp=perp)
    assume(md.resolution == "1D")
    daily = flow_metrics(md, "1D", lookback=2, max_gap=max_gap)
    coarse = flow_metrics(md, tf, lookback=2, max_gap=max_gap)
    labels = bar_open(daily.index, tf)
    for col in ("premium_pct", "premium_abs", "spot", "perp_basket"):
        expected = daily[col].groupby(labels).last()     # last non-NaN daily value in the bar
        np.testing.assert_array_equal(coarse[col].to_numpy(), expected.to_numpy(), err_msg=col)
    # the venue counts are those of the base bar the spot basket comes from
    last_day = daily["spot"].groupby(labels).apply(lambda s: s.last_valid_index())
    for bar, day in last_day.items():
        if pd.notna(day):
            assert coarse.loc[bar, "spot_venues"] == daily.loc[day, "spot_venues"]


@SETTINGS
@given(seed=st.integers(0, 10_000), n_spot=st.integers(2, 4), n_perp=st.integers(2, 3),
       side=st.sampled_from(["spot", "perp"]), venue=st.integers(0, 3),
       row=st.integers(1, 35), gap=st.integers(1, 3))
def test_deleting_a_short_gap_of_one_venue_barely_moves_the_premium(
        seed, n_spot, n_perp, side, venue, row, gap):
    """Venues with a persistent offset to each other (the real situation: Kraken trades a few
    basis points away from Coinbase). Deleting ``gap <= max_gap`` base bars of one venue moves
    the premium at those bars by less than 1 % of what dropping the venue moves it (its offset
    to the others); without carrying (``max_gap=0``) it moves by all of it."""
    spot, perp = _market(seed, 40, n_spot, n_perp, 0.0, noise=1e-9)
    frame = spot if side == "spot" else perp
    col = frame.columns[venue % frame.shape[1]]
    holed = frame.copy()
    holed.iloc[row:row + gap, holed.columns.get_loc(col)] = np.nan
    parts = {"spot": spot, "perp": perp, side: holed}
    full = flow_metrics(MarketData.from_frames(spot=spot, perp=perp), "1D", lookback=2)
    md_holed = MarketData.from_frames(**parts)
    carried = flow_metrics(md_holed, "1D", lookback=2, max_gap=3)
    dropped = flow_metrics(md_holed, "1D", lookback=2, max_gap=0)
    at = full.index[row:row + gap]
    offset = (dropped.loc[at, "premium_pct"] - full.loc[at, "premium_pct"]).abs()
    moved = (carried.loc[at, "premium_pct"] - full.loc[at, "premium_pct"]).abs()
    assert (offset > 0).all()
    assert (moved < 0.01 * offset).all(), (moved.tolist(), offset.tolist())
    count = f"{side}_venues"
    assert (carried.loc[at, count] == full.loc[at, count]).all()        # carried: still in
    assert (dropped.loc[at, count] == full.loc[at, count] - 1).all()    # dropped: one fewer


def test_the_demo_kraken_weekend_no_longer_makes_the_largest_weekly_premium(demo):
    """Issue 12: Kraken's Thursday close (a weekend gap) made the week of 2019-02-25 show a
    -0.65 % premium, the largest weekly bar, while no daily bar of the week was below -0.25 %."""
    weekly = flow_metrics(demo, "1W")
    daily = flow_metrics(demo, "1D")
    week = pd.Timestamp("2019-02-25", tz="UTC")
    days = daily.loc[week:week + pd.Timedelta(days=6), "premium_pct"]
    assert weekly.loc[week, "premium_pct"] == days.iloc[-1]
    assert days.min() > -0.25 and abs(weekly.loc[week, "premium_pct"]) < 0.25
    assert weekly["premium_pct"].abs().max() < 0.65
    # and on 1D a one-day kraken hole moves nothing by its offset: counts stay 4 while carried
    assert (daily.loc["2019-03-01":"2019-03-03", "spot_venues"] == 4).all()
    assert daily.loc["2019-03-04", "spot_venues"] == 3   # beyond 3 days: dropped


# ---------------------------------------------------------------------------- lookbacks

LENGTHS = st.one_of(st.integers(1, 400), st.sampled_from(["1D", "10D", "365D", "52W", "12M",
                                                           "4Y", "3Y", "100W"]))


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(1, 40), hole_p=st.sampled_from([0.0, 0.5]),
       tf=st.sampled_from(["1D", "3D", "1W", "1M"]), lookback=LENGTHS, bb=LENGTHS,
       trend=LENGTHS, smooth=LENGTHS, with_oi=st.booleans())
def test_any_lookback_or_length_on_any_data_never_raises(seed, n, hole_p, tf, lookback, bb,
                                                          trend, smooth, with_oi):
    spot, perp = _market(seed, n, 2, 2, hole_p)
    oi = None
    if with_oi:
        oi = pd.DataFrame({"venue": "p0", "time": spot.index, "oi_btc": 1e4 + np.arange(n),
                           "oi_usd": 5e8 + np.arange(n)})
    md = MarketData.from_frames(spot=spot, perp=perp, open_interest=oi)
    kwargs = dict(lookback=lookback, bb_length=bb, trend_length=trend, funding_smoothing=smooth)
    try:
        m = flow_metrics(md, tf, **kwargs)
    except ValueError as e:
        # only a duration shorter than the bars it needs (e.g. "1D" on 1W) is bad input; never
        # the length of the data
        assert "shorter than the" in str(e) or "is too short" in str(e), e
        return
    assert len(m) >= 1 and isinstance(m.attrs["notes"], list)
    lb = m.attrs["params"]["lookback"]
    if lb > len(m) and m["premium_pct"].notna().any():
        assert any(note.startswith("premium_z: lookback") for note in m.attrs["notes"])


def test_flow_metrics_on_90_days_at_1w_no_longer_raises(demo):
    """Issue 12: ``flow_metrics(md, "1W")`` on 90 days raised ValueError (lookback 52 > 13)."""
    short = MarketData.from_frames(spot=demo.spot.iloc[-90:], perp=demo.perp.iloc[-90:],
                                   open_interest=demo.open_interest[
                                       demo.open_interest["time"] >= demo.spot.index[-90]])
    m = flow_metrics(short, "1W")
    assert len(m) == 14 and m["oi_z"].isna().all() and m["spot"].notna().all()
    assert "oi_z: lookback 52 bars > 14 bars of data (1W)" in m.attrs["notes"]


# ---------------------------------------------------------------------------- thresholds


def _runs(state: np.ndarray) -> np.ndarray:
    """Run id of each bar (0 where the state is off)."""
    on = state.astype(bool)
    starts = on & ~np.concatenate([[False], on[:-1]])
    return np.where(on, np.cumsum(starts), 0)


def assert_onsets_follow_states(loose: pd.Series, strict: pd.Series) -> None:
    """What raising a threshold does to a signal (``strict`` = the higher threshold):

    1. its state can only lose bars: ``strict`` implies ``loose``;
    2. so every onset of ``strict`` lies inside a run of ``loose``, at or after that run's
       onset: no strict onset is ever *entirely new*;
    3. at most one strict onset per loose run is the first of that run, so the strict signal
       has at most as many "first onsets" as the loose one has onsets.

    It is **not** true that strict onsets are a subset of loose onsets: removing bars from the
    middle of a loose run splits it, and the second part starts with a new onset (see
    :func:`test_raising_a_threshold_can_split_a_run_and_add_an_onset`).
    """
    lo, hi = loose.to_numpy(bool), strict.to_numpy(bool)
    assert not (hi & ~lo).any()                                           # 1
    run_of = _runs(lo)
    hi_on = onsets(strict).to_numpy()
    assert (run_of[hi_on] > 0).all()                                      # 2
    lo_on = onsets(loose).to_numpy()
    run_start = {r: i for i, r in zip(np.flatnonzero(lo_on), run_of[lo_on])}
    assert all(i >= run_start[run_of[i]] for i in np.flatnonzero(hi_on))
    first_in_run = set(run_of[hi_on].tolist())                           # 3
    assert len(first_in_run) <= int(lo_on.sum())


def _z(draw, n, scale):
    return pd.Series(draw(st.lists(st.one_of(st.floats(-scale, scale), st.just(np.nan)),
                                   min_size=n, max_size=n)), dtype="float64")


@pytest.mark.parametrize("name, low, high, signals", [
    ("premium_min", 0.0, 1.0, ["bullish", "bearish"]),
    ("oi_build_z", -4.0, 4.0, ["bearish"]),
    ("oi_hot_z", -4.0, 4.0, ["overleveraged"]),
    ("funding_hot", -0.1, 0.1, ["bearish", "overleveraged"]),
])
@SETTINGS
@given(data=st.data())
def test_raising_a_threshold_only_removes_state_bars_and_no_onset_is_new(name, low, high,
                                                                         signals, data):
    n = data.draw(st.integers(3, 60))
    p, oz, fu = _z(data.draw, n, 1.0), _z(data.draw, n, 4.0), _z(data.draw, n, 0.1)
    a, b = sorted(data.draw(st.tuples(st.floats(low, high), st.floats(low, high))))
    loose = confluence(p, oz, fu, trend_length=2, **{name: a})
    strict = confluence(p, oz, fu, trend_length=2, **{name: b})
    for s in signals:
        assert_onsets_follow_states(loose[s], strict[s])


@SETTINGS
@given(data=st.data())
def test_raising_cycle_k_or_m_only_removes_state_bars_and_no_onset_is_new(data):
    n = data.draw(st.integers(3, 60))
    pz, oz, fz = (_z(data.draw, n, 4.0) for _ in range(3))
    k1, k2 = sorted(data.draw(st.tuples(st.floats(0, 4), st.floats(0, 4))))
    m1, m2 = sorted(data.draw(st.tuples(st.integers(1, 3), st.integers(1, 3))))
    base = extreme_cycle(pz, oz, fz, cycle_k=k1, cycle_m=m1)
    for strict in (extreme_cycle(pz, oz, fz, cycle_k=k2, cycle_m=m1),
                   extreme_cycle(pz, oz, fz, cycle_k=k1, cycle_m=m2)):
        for s in ("cycle_top", "cycle_bottom"):
            assert_onsets_follow_states(base[s], strict[s])


def test_raising_a_threshold_can_split_a_run_and_add_an_onset():
    """The strict form "raising a threshold only removes onsets" is false, and the tests do
    not pretend otherwise: OI z of 2.5, 2.1, 2.6 is over-leveraged on 3 bars (one onset) at
    oi_hot_z = 2, and on bars 1 and 3 (two onsets) at oi_hot_z = 2.2."""
    oz = pd.Series([2.5, 2.1, 2.6])
    fu = pd.Series([0.05, 0.05, 0.05])
    p = pd.Series([0.0, 0.0, 0.0])
    loose = confluence(p, oz, fu, oi_hot_z=2.0)["overleveraged"]
    strict = confluence(p, oz, fu, oi_hot_z=2.2)["overleveraged"]
    assert onsets(loose).sum() == 1 and onsets(strict).sum() == 2
    assert_onsets_follow_states(loose, strict)


@pytest.mark.parametrize("name, lo, hi, signal", [
    ("oi_hot_z", 1.5, 2.5, "overleveraged"), ("funding_hot", 0.02, 0.04, "bearish"),
    ("cycle_k", 1.5, 2.5, "cycle_top"), ("premium_min", 0.0, 0.05, "bullish")])
def test_onset_columns_on_the_demo_follow_the_states(demo, name, lo, hi, signal):
    a = flow_metrics(demo, "1W", **{name: lo})
    b = flow_metrics(demo, "1W", **{name: hi})
    assert_onsets_follow_states(a[signal], b[signal])
    np.testing.assert_array_equal(b[f"{signal}_onset"], onsets(b[signal]))


# ---------------------------------------------------------------------------- cycle vote


@SETTINGS
@given(data=st.data(), m=st.integers(1, 3), k=st.floats(0, 3))
def test_no_cycle_signal_where_fewer_than_m_metrics_have_data(data, m, k):
    n = data.draw(st.integers(1, 40))
    pz, oz, fz = (_z(data.draw, n, 4.0) for _ in range(3))
    out = extreme_cycle(pz, oz, fz, cycle_k=k, cycle_m=m, votes=True)
    available = pz.notna().astype(int) + oz.notna() + fz.notna()
    few = (available < m).to_numpy()
    assert not out["cycle_top"].to_numpy()[few].any()
    assert not out["cycle_bottom"].to_numpy()[few].any()
    for col in ("cycle_top_votes", "cycle_bottom_votes"):   # no data, no vote
        votes = out[col].to_numpy()
        assert not (votes & 1)[pz.isna().to_numpy()].any()
        assert not (votes & 2)[oz.isna().to_numpy()].any()
        assert not (votes & 4)[fz.isna().to_numpy()].any()


def test_one_metric_never_fires_alone_on_the_demo(demo):
    """Issue 12: funding alone fired weekly tops when premium and OI had no data."""
    funding_only = MarketData.from_frames(funding=demo.funding)
    m = flow_metrics(funding_only, "1W")
    assert (m["funding_z"].abs() >= 2).any()     # funding alone would vote ...
    assert not m["cycle_top"].any() and not m["cycle_bottom"].any()   # ... but never fires
    assert flow_metrics(funding_only, "1W", cycle_m=1)["cycle_top"].any()
