"""Unit tests for btcflow_nb.indicators.funding: annualising, bar TWAPs from events, the composite."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _indicator_helpers import NAN, T, assert_same, days
from btcflow_nb.indicators import annualize_funding, composite_funding, funding_twap, zscore
from btcflow_nb.indicators import funding


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


def _twap_every_bar(events, opens, closes, min_coverage):
    """funding_twap as first written: both integrals on every bar, the TWAP where covered, then
    the single-rate bars replaced by their rate (searchsorted counts)."""
    bo, bc = funding._hours_since_epoch(opens), funding._hours_since_epoch(closes)
    need = np.maximum(min_coverage * (bc - bo), 1e-9)
    out = {}
    for venue, (x, paid, cov, start, end, per_hour) in funding._funding_integrals(events).items():
        d_paid = np.interp(bc, x, paid) - np.interp(bo, x, paid)
        d_cov = np.interp(bc, x, cov) - np.interp(bo, x, cov)
        with np.errstate(invalid="ignore", divide="ignore"):
            twap = np.where(d_cov >= need, d_paid / d_cov, np.nan)
        first = np.searchsorted(end, bo, side="right")
        stop = np.searchsorted(start, bc, side="left")
        run = np.concatenate([[0], np.cumsum(per_hour[1:] != per_hour[:-1])])
        lo = np.minimum(first, len(per_hour) - 1)
        hi = np.clip(stop - 1, 0, len(per_hour) - 1)
        single_rate = (stop > first) & (run[lo] == run[hi]) & (d_cov >= need)
        out[venue] = np.where(single_rate, per_hour[lo], twap)
    return out


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_funding_twap_same_bits_per_venue_and_on_any_grid(data):
    """The per-bar work arrays are shared by the venues and the contiguous, regular grid has its
    own path (integrals once per edge, counts from arithmetic bins): each venue's TWAP must be
    bit for bit what it is computed alone, and each bar's what it is on a gappy grid of bars
    (interpolation at both ends, searchsorted counts) and what the first version, integrating
    every bar, gave. Events with stuck rates, interval
    changes, duplicate and off-grid times, zero and NaN rates."""
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    parts = []
    for venue in data.draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3,
                                    unique=True)):
        interval = float(data.draw(st.sampled_from([1, 4, 8])))
        n = data.draw(st.integers(1, 40))
        hours = np.sort(rng.choice(np.arange(0, 200, interval), n) + data.draw(
            st.sampled_from([0.0, 0.5])) * rng.integers(0, 2, n))          # off-grid stamps
        rates = rng.choice([1e-4, 1e-4, 0.0, -3e-5, 2e-4], n) * interval / 8
        rates[rng.random(n) < 0.05] = NAN
        parts.append(pd.DataFrame({"venue": venue, "time": start + pd.to_timedelta(hours, "h"),
                                   "rate": rates, "interval_hours": interval}))
    events = pd.concat(parts, ignore_index=True)
    width = pd.Timedelta(hours=data.draw(st.sampled_from([1, 4, 24])))
    opens = pd.DatetimeIndex(start + width * np.arange(-2, 220 * pd.Timedelta(hours=1) // width),
                             name="time")
    coverage = data.draw(st.sampled_from([0.0, 0.5, 1.0]))
    whole = funding_twap(events, opens, opens + width, coverage)
    reference = _twap_every_bar(events, opens, opens + width, coverage)
    assert list(whole.columns) == list(reference)
    for venue, values in reference.items():
        assert whole[venue].to_numpy().tobytes() == values.tobytes(), venue
    for venue, rows in events.groupby("venue", sort=False):
        alone = funding_twap(rows, opens, opens + width, coverage)[venue]
        assert whole[venue].to_numpy().tobytes() == alone.to_numpy().tobytes()
    keep = np.flatnonzero(rng.random(len(opens)) < 0.5)
    gappy = funding_twap(events, opens[keep], opens[keep] + width, coverage)
    assert gappy.to_numpy().tobytes() == whole.iloc[keep].to_numpy().tobytes()
    assert list(gappy.columns) == list(whole.columns)
