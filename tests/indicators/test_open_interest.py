"""Unit tests for btcflow_nb.indicators.open_interest: OI at the bar close, the chain-linked aggregate."""
from __future__ import annotations

import pandas as pd
import pytest

from _indicator_helpers import NAN, T, assert_same, days
from btcflow_nb.indicators import aggregate_oi, oi_at_bar_close


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
