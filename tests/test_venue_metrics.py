"""Funding spend and per-venue open interest (issue 16) against hand computations on frames
built here: spend = (sum of the rates settled in the bar's hours) x OI in USD at the bar close,
per-venue OI = each venue's last sample in the bar, its change = the difference of those."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb import flow_metrics
from btcflow_nb.indicators import funding_spend as spend_of
from btcflow_nb.marketdata import MarketData
from btcflow_nb.venue_metrics import funding_spend, venue_open_interest

DAYS = pd.date_range("2024-03-01", periods=6, freq="D", tz="UTC", name="time")


def _events(venue, hours, rates, start):
    times = start + pd.to_timedelta(np.arange(1, len(rates) + 1) * hours, unit="h")
    return pd.DataFrame({"venue": venue, "time": times, "rate": rates,
                         "interval_hours": float(hours)})


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(3)
    t0 = DAYS[0]
    fund = pd.concat([
        _events("a", 8, rng.normal(1e-4, 5e-5, 6 * 3), t0),      # 3 settlements a day
        _events("b", 1, rng.normal(2e-5, 1e-5, 6 * 24), t0),     # hourly
        _events("c", 4, rng.normal(-5e-5, 2e-5, 6 * 6), t0),     # no OI: left out of totals
    ], ignore_index=True)
    # OI sampled every 6 h; venue b starts on day 2 (joins the aggregate there)
    times = pd.date_range(t0, periods=6 * 4, freq="6h", tz="UTC")
    oi = []
    for venue, start in (("a", 0), ("b", 8)):
        btc = rng.uniform(20_000, 40_000, len(times) - start)
        price = rng.uniform(60_000, 70_000, len(times) - start)
        oi.append(pd.DataFrame({"venue": venue, "time": times[start:], "oi_btc": btc,
                                "oi_usd": btc * price}))
    oi = pd.concat(oi, ignore_index=True)
    perp = pd.DataFrame({"a": 65_000.0, "b": 65_010.0, "c": 64_990.0}, index=DAYS)
    md = MarketData.from_frames(perp=perp, funding=fund, open_interest=oi)
    return md, fund, oi


def _last_per_day(oi, col):
    day = oi["time"].dt.floor("D")
    return oi.assign(day=day).groupby(["day", "venue"])[col].last().unstack() \
        .reindex(DAYS).rename_axis("time").rename_axis(None, axis=1)


def test_funding_spend_equals_a_hand_computation(case):
    md, fund, oi = case
    got = funding_spend(md, "1D")
    oi_usd = _last_per_day(oi, "oi_usd")
    for venue in ("a", "b"):
        g = fund[fund["venue"] == venue]
        # the events covering day D settle in (D, D + 1 day]: their rates summed are the day's
        # funding; with full coverage TWAP per hour x 24 is exactly that sum
        settle_day = (g["time"] - pd.Timedelta("1ns")).dt.floor("D")
        paid = g.groupby(settle_day)["rate"].sum().reindex(DAYS)
        want = paid * oi_usd[venue]
        np.testing.assert_allclose(got[venue].to_numpy(), want.to_numpy(), rtol=1e-10)
    assert got["c"].isna().all()                      # funding without OI: no spend
    both = got[["a", "b"]]
    np.testing.assert_allclose(got["total"], both.sum(axis=1, min_count=1), rtol=1e-15)
    assert got["venues"].tolist() == both.notna().sum(axis=1).tolist()
    assert got["venues"].tolist() == [1, 1, 2, 2, 2, 2]
    assert got.attrs["unit"] == "USD per day"


def test_funding_spend_sign_and_units_worked_example():
    """0.01 % per 8 h on 1 bn USD of OI: 300 000 USD a day from longs to shorts; -0.005 % per
    hour on 100 m USD: shorts pay 120 000 USD a day."""
    twap = pd.DataFrame({"x": [0.0001 / 8], "y": [-0.00005]})
    got = spend_of(twap, pd.DataFrame({"x": [1e9], "y": [1e8]}))
    assert got["x"].iloc[0] == pytest.approx(300_000.0, rel=1e-12)
    assert got["y"].iloc[0] == pytest.approx(-120_000.0, rel=1e-12)
    only_rate = spend_of(twap, pd.DataFrame({"x": [1e9]}))
    assert np.isnan(only_rate["y"].iloc[0])           # no OI: NaN, not 0


def test_weekly_spend_is_still_per_day(case):
    """A weekly bar: the per-hour TWAP over the hours its events cover (Mon 4 .. Wed 6 March
    here) x 24 x the week's last OI: the mean daily funding times the last OI, not a sum."""
    md, _, oi = case
    daily, weekly = funding_spend(md, "1D"), funding_spend(md, "1W")
    oi_usd = _last_per_day(oi, "oi_usd")["a"]
    week = slice("2024-03-04", "2024-03-06")
    paid_per_day = (daily["a"] / oi_usd).loc[week].mean()
    assert weekly.index[-1] == pd.Timestamp("2024-03-04", tz="UTC")
    assert weekly["a"].iloc[-1] == pytest.approx(paid_per_day * oi_usd.iloc[-1], rel=1e-10)


def test_venue_open_interest_is_the_last_sample_of_each_bar(case):
    md, _, oi = case
    for unit, col in (("btc", "oi_btc"), ("usd", "oi_usd")):
        got = venue_open_interest(md, "1D", unit=unit)
        want = _last_per_day(oi, col)
        pd.testing.assert_frame_equal(got[["a", "b"]], want[["a", "b"]], check_freq=False,
                                      check_names=False)
        change = venue_open_interest(md, "1D", unit=unit, change=True)
        pd.testing.assert_frame_equal(change[["a", "b"]], want[["a", "b"]].diff(),
                                      check_freq=False, check_names=False)
        assert np.isnan(change["b"].iloc[2])          # b joins: no change on its first bar
        assert got.attrs["unit"] == unit.upper()
    # the columns sum to the true total at the last bar, where the aggregate is anchored
    btc = venue_open_interest(md, "1D")
    assert flow_metrics(md, "1D", lookback=2)["oi_total"].iloc[-1] == \
        pytest.approx(btc.iloc[-1].sum(), rel=1e-12)


def test_selection_and_bad_input(case):
    md, _, _ = case
    assert list(venue_open_interest(md, perp_venues=["b"]).columns) == ["b"]
    with pytest.raises(ValueError, match=r"unknown perp venue\(s\) 'zz'; valid choices: 'a', "
                                         r"'b', 'c'"):
        funding_spend(md, perp_venues=["zz"])
    with pytest.raises(ValueError, match=r"unknown unit 'eth'; valid choices: 'btc', 'usd'"):
        venue_open_interest(md, unit="eth")
    with pytest.raises(ValueError, match=r"change must be True or False; got 'yes'"):
        venue_open_interest(md, change="yes")
    with pytest.raises(ValueError, match=r"md must be a MarketData"):
        funding_spend(pd.DataFrame())


def test_demo_spend_is_positive_in_a_bull_market(demo):
    """The demo's funding is mostly positive: longs pay; the total is the venues' sum."""
    s = funding_spend(demo, "1W")
    venues = [c for c in s.columns if c not in ("total", "venues")]
    assert (s["total"].dropna() > 0).mean() > 0.6
    np.testing.assert_allclose(s["total"], s[venues].sum(axis=1, min_count=1))
