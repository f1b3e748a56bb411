"""flow_metrics' ``oi_venues`` and ``oi_coverage``: how many venues, and what share of the
latest total OI, stand behind the chain-linked OI aggregate on each bar."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btcflow_nb import MarketData, flow_metrics
from btcflow_nb._metrics_base import oi_coverage

DAYS = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC", name="time")


def _md(oi_rows):
    prices = pd.DataFrame({"a": 100.0, "b": 100.0}, index=DAYS)
    oi = pd.DataFrame(oi_rows, columns=["venue", "time", "oi_btc", "oi_usd"])
    return MarketData.from_frames(spot=prices[["a"]].rename(columns={"a": "cb"}), perp=prices,
                                  open_interest=oi)


def _rows():
    """venue a: 10 BTC on every day; venue b: 30 BTC from day 3 on, missing on day 5;
    USD values chosen so that the USD shares differ from the BTC shares."""
    rows = [("a", t, 10.0, 1_000.0) for t in DAYS]
    rows += [("b", t, 30.0, 1_000.0) for i, t in enumerate(DAYS) if i >= 2 and i != 4]
    return rows


def test_hand_count_in_btc_and_usd():
    m = flow_metrics(_md(_rows()), "1D", lookback=2)
    assert m["oi_venues"].tolist() == [1, 1, 2, 2, 1, 2]
    # latest OI: a 10, b 30 (BTC) -> a alone is 10/40 = 0.25
    np.testing.assert_allclose(m["oi_coverage"], [0.25, 0.25, 1, 1, 0.25, 1])
    usd = flow_metrics(_md(_rows()), "1D", lookback=2, oi_unit="usd")
    np.testing.assert_allclose(usd["oi_coverage"], [0.5, 0.5, 1, 1, 0.5, 1])
    assert m["oi_venues"].dtype == "int64" and m["oi_coverage"].dtype == "float64"


def test_weekly_bars_count_the_venues_of_the_bar():
    rows = [("a", t, 10.0, 1_000.0) for t in pd.date_range("2024-01-01", periods=21, freq="D",
                                                          tz="UTC")]
    rows += [("b", pd.Timestamp("2024-01-20", tz="UTC"), 30.0, 3_000.0)]
    idx = pd.date_range("2024-01-01", periods=21, freq="D", tz="UTC", name="time")
    md = MarketData.from_frames(spot=pd.DataFrame({"cb": 1.0}, index=idx),
                                perp=pd.DataFrame({"p": 1.0}, index=idx),
                                open_interest=pd.DataFrame(
                                    rows, columns=["venue", "time", "oi_btc", "oi_usd"]))
    m = flow_metrics(md, "1W", lookback=2)
    assert m["oi_venues"].tolist() == [1, 1, 2]
    np.testing.assert_allclose(m["oi_coverage"], [0.25, 0.25, 1.0])


def test_no_oi_gives_zero_venues_and_nan_coverage():
    prices = pd.DataFrame({"a": 100.0}, index=DAYS)
    m = flow_metrics(MarketData.from_frames(spot=prices, perp=prices), "1D", lookback=2)
    assert (m["oi_venues"] == 0).all() and m["oi_coverage"].isna().all()


def test_demo_coverage_rises_when_late_venues_join(demo):
    m = flow_metrics(demo, "1W")
    assert m["oi_coverage"].iloc[-1] == pytest.approx(1.0)
    assert (m["oi_coverage"].dropna() <= 1 + 1e-12).all()
    early = m.loc[:"2020-12-31", "oi_venues"]
    late = m.loc["2024-01-01":, "oi_venues"]
    assert early.max() < late.min()           # the demo's OI histories start late on some venues
    assert m.loc[:"2020-12-31", "oi_coverage"].max() < 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.floats(1, 1e6)), min_size=3, max_size=3),
                min_size=1, max_size=30))
def test_coverage_is_a_share_and_counts_match(rows):
    frame = pd.DataFrame([[np.nan if v is None else v for v in r] for r in rows],
                         columns=["x", "y", "z"])
    count, share = oi_coverage(frame)
    assert count.tolist() == frame.notna().sum(axis=1).tolist()
    ok = ~np.isnan(share)
    assert (ok == (count > 0)).all() if frame.notna().any().any() else not ok.any()
    assert ((share[ok] > 0) & (share[ok] <= 1 + 1e-12)).all()
    full = frame.notna().all(axis=1).to_numpy()
    np.testing.assert_allclose(share[full], 1.0)
