"""Unit tests for btcflow_nb.indicators.open_interest: OI at the bar close, the chain-linked aggregate."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _indicator_helpers import NAN, T, assert_same, days
from btcflow_nb.indicators import aggregate_oi, oi_at_bar_close
from btcflow_nb.timeframes import bar_open


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


def _last_valid_per_bar_by_groupby(oi, bars, timeframe, col):
    """The definition, the slow way: per venue, the last non-missing sample of each bar."""
    out = {}
    for venue, rows in oi.groupby("venue", sort=False, observed=True):
        rows = rows.dropna(subset=[col])
        if len(rows):
            last = rows[col].groupby(bar_open(rows["time"], timeframe).to_numpy()).last()
            out[str(venue)] = last.reindex(bars).to_numpy()
    return out


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_oi_at_bar_close_same_bits_as_groupby_last_on_and_off_the_grid(data):
    """Samples on consecutive bar opens take a shortcut (each sample is its bar's close); gaps,
    duplicate or off-grid stamps, a grid with gaps or not on bar opens take the general path.
    Both must be bit for bit ``groupby(bar_open).last()`` of the non-missing samples."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    timeframe = data.draw(st.sampled_from(["1h", "4h", "1D"]))
    width = pd.Timedelta(timeframe)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    n_bars = data.draw(st.integers(1, 60))
    bars = pd.DatetimeIndex(start + width * np.arange(n_bars), name="time")
    grid = data.draw(st.sampled_from(["bars", "gaps", "shifted"]))
    if grid == "gaps":
        bars = bars[np.sort(rng.choice(n_bars, max(1, n_bars // 2), replace=False))]
    elif grid == "shifted":          # not bar opens of the timeframe: the shortcut must not run
        bars = bars + pd.Timedelta(minutes=30)
    parts = []
    for venue in ("a", "b", "c"):
        first = int(rng.integers(0, n_bars))
        fits = data.draw(st.booleans())          # ends inside the grid, or may run past it
        count = rng.integers(1, n_bars - first + 1) if fits else rng.integers(1, 70)
        times = pd.DatetimeIndex(start + width * np.arange(first, first + count))
        kind = data.draw(st.sampled_from(["on bars", "on the grid's stamps", "gaps", "duplicates",
                                          "off grid"]))
        if kind == "on the grid's stamps" and grid == "shifted":   # stamps, not bar opens
            times = times + pd.Timedelta(minutes=30)
        elif kind == "gaps":
            times = times[rng.random(len(times)) < 0.7]
        elif kind == "duplicates":
            times = times.repeat(rng.integers(1, 3, len(times)))
        elif kind == "off grid":
            times = times + pd.to_timedelta(rng.integers(0, 3, len(times)) * 20, "min")
        values = rng.normal(100, 10, len(times))
        values[rng.random(len(times)) < data.draw(st.sampled_from([0.0, 0.2, 1.0]))] = NAN
        parts.append(pd.DataFrame({"venue": venue, "time": times, "oi_btc": values,
                                   "oi_usd": values * 3e4}))
    oi = pd.concat(parts, ignore_index=True)
    oi["venue"] = oi["venue"].astype("category")
    got = oi_at_bar_close(oi, bars, timeframe)
    want = _last_valid_per_bar_by_groupby(oi, bars, timeframe, "oi_btc")
    assert list(got.columns) == list(want) and got.index.equals(bars)
    for venue, values in want.items():
        assert got[venue].to_numpy().tobytes() == values.tobytes(), venue


def test_oi_at_bar_close_shortcut_only_for_samples_on_consecutive_bar_opens(monkeypatch):
    """The general path (last valid sample per bar) is skipped exactly when a venue's samples
    are consecutive bar opens of the grid; a sample off a bar open, or a grid that is not made
    of bar opens, goes the general way."""
    from btcflow_nb.indicators import open_interest as module

    calls = []
    general = module.last_valid_per_bar
    monkeypatch.setattr(module, "last_valid_per_bar", lambda *a: calls.append(1) or general(*a))
    bars = pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC", name="time")
    on_bars = pd.DataFrame({"venue": "a", "time": bars[1:4], "oi_btc": [1.0, NAN, 3.0],
                            "oi_usd": 1.0})
    assert_same(oi_at_bar_close(on_bars, bars, "1h")["a"], [NAN, 1.0, NAN, 3.0, NAN])
    assert calls == []
    off = on_bars.assign(time=bars[1:4] + pd.Timedelta(minutes=1))
    assert_same(oi_at_bar_close(off, bars, "1h")["a"], [NAN, 1.0, NAN, 3.0, NAN])
    assert calls == [1]
    assert_same(oi_at_bar_close(on_bars, bars + pd.Timedelta(minutes=1), "1h")["a"],
                [NAN] * 5)   # bars labelled off their open: no sample's bar is among them
    assert calls == [1, 1]


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_aggregate_oi_links_the_same_bits_as_summing_zeros_for_absent_venues(data):
    """The sums of the venues present at both bars skip the absent ones instead of adding 0.0:
    bit for bit the same chain (zeros, -0.0, negative and infinite values, gaps)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n, k = data.draw(st.integers(0, 50)), data.draw(st.integers(1, 4))
    values = rng.choice([0.0, -0.0, 1.0, 2.5, 1e5, -3.0, np.inf, NAN, NAN], (n, k))
    values[:, 0] = np.where(rng.random(n) < 0.5, rng.normal(100, 5, n), values[:, 0])
    oi = pd.DataFrame(values, index=pd.RangeIndex(n))
    rows = np.flatnonzero(~np.isnan(values).all(axis=1))
    want = np.full(n, np.nan)
    if len(rows) == 1:
        want[rows] = np.nansum(values[rows[-1]])
    elif len(rows) > 1:
        cols = values[rows]
        den, num = np.zeros(len(rows) - 1), np.zeros(len(rows) - 1)
        common = ~np.isnan(cols[:-1]) & ~np.isnan(cols[1:])
        for j in range(k):
            den += np.where(common[:, j], cols[:-1, j], 0.0)
            num += np.where(common[:, j], cols[1:, j], 0.0)
        ok = common.any(axis=1) & (den > 0) & (num > 0)
        with np.errstate(all="ignore"):      # infinite OI: inf/inf, log(0), inf - inf
            growth = np.where(ok, np.log(num / np.where(ok, den, 1.0)), 0.0)
            level = np.concatenate([[0.0], np.cumsum(growth)])
            anchor = float(sum(v for v in values[rows[-1]] if not np.isnan(v)))
            want[rows] = anchor * np.exp(level - level[-1])
    with np.errstate(all="ignore"):
        got = aggregate_oi(oi).to_numpy()
    assert got.tobytes() == want.tobytes()
