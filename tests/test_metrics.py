"""flow_metrics and venue_funding: columns, units, selection, weighting, slicing, missing fields."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb import flow_metrics, load_demo
from btcflow_nb.indicators import basket, bollinger, carry_gaps, sma, zscore
from btcflow_nb.marketdata import MarketData
from btcflow_nb.metrics import COLUMNS, SIGNAL_COLUMNS, venue_funding

BOOLS = ["bullish", "bearish", "overleveraged", "cycle_top", "cycle_bottom", "alert_premium_high",
         "alert_premium_low"]
CONTRACT_COLUMNS = [
    "spot", "perp_basket", "futures", "premium_abs", "premium_pct", "premium_z", "bb_basis",
    "bb_upper", "bb_lower", "oi_total", "oi_z", "funding", "funding_z", *BOOLS,
    # issue 12: venue counts, what explain() needs, which metrics voted, the open bar, onsets
    "spot_venues", "perp_venues", "premium_trend", "premium_z_mean", "premium_z_std",
    "oi_z_mean", "oi_z_std", "funding_z_mean", "funding_z_std", "cycle_top_votes",
    "cycle_bottom_votes", "open_bar",
    *(f"{b}_{what}" for b in BOOLS for what in ("onset", "run")),
    # issue 11: how many venues, and what share of today's OI, stand behind oi_total
    "oi_venues", "oi_coverage",
]
FLOATS = CONTRACT_COLUMNS[:13] + ["premium_trend", "premium_z_mean", "premium_z_std",
                                  "oi_z_mean", "oi_z_std", "funding_z_mean", "funding_z_std"]
DAY = pd.Timestamp("2024-06-10", tz="UTC")  # every demo venue has prices, funding and OI here


def test_columns_exactly_as_the_contract(demo_metrics_1d):
    m = demo_metrics_1d
    assert list(m.columns) == CONTRACT_COLUMNS == list(COLUMNS)
    assert list(SIGNAL_COLUMNS) == BOOLS
    for c in BOOLS + ["open_bar"] + [f"{b}_onset" for b in BOOLS]:
        assert m[c].dtype == bool, c
    for c in FLOATS:
        assert m[c].dtype == "float64", c
    assert m["oi_coverage"].dtype == "float64"
    for c in ["spot_venues", "perp_venues", "oi_venues"] + [f"{b}_run" for b in BOOLS]:
        assert m[c].dtype == "int64", c
    assert m["cycle_top_votes"].dtype == m["cycle_bottom_votes"].dtype == "int8"
    assert not m["open_bar"].any() and m.attrs["open_bar"] is False  # the demo is closed
    assert m.attrs["params"]["lookback"] == 365 and m.attrs["notes"] == []
    assert m.index.name == "time" and str(m.index.tz) == "UTC"
    assert m.index[0] == pd.Timestamp("2018-01-01", tz="UTC")
    assert m.index[-1] == pd.Timestamp("2025-12-31", tz="UTC")
    assert m.attrs["funding_unit"] == "% per 8h" and m.attrs["synthetic"] is True


def test_core_columns_follow_their_definitions(demo, demo_metrics_1d):
    m = demo_metrics_1d
    # a venue missing for up to 3 days is carried with the others (issue 12); elsewhere the
    # basket is the plain mean of the closes
    spot = basket(carry_gaps(demo.spot))
    perp = demo.perp.mean(axis=1)
    complete = demo.spot.notna().all(axis=1)
    assert (~complete).sum() > 20
    np.testing.assert_array_equal(spot[complete], demo.spot[complete].mean(axis=1))
    np.testing.assert_allclose(m["spot"], spot, rtol=1e-14)
    np.testing.assert_allclose(m["perp_basket"], perp, rtol=1e-14)
    np.testing.assert_array_equal(m["futures"], m["perp_basket"])
    np.testing.assert_allclose(m["premium_abs"], spot - perp, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(m["premium_pct"], (spot - perp) / perp * 100, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m["premium_z"], zscore(m["premium_pct"], 365), rtol=1e-12, atol=1e-12)
    bb = bollinger(m["premium_abs"], 20, 2.0)
    np.testing.assert_allclose(m["bb_upper"], bb["upper"], rtol=1e-12)
    np.testing.assert_allclose(m["bb_lower"], bb["lower"], rtol=1e-12)
    np.testing.assert_allclose(m["oi_z"], zscore(m["oi_total"], 365), rtol=1e-12)
    np.testing.assert_allclose(m["funding_z"], zscore(m["funding"], 365), rtol=1e-12)
    # the default lookback is one year: 365 daily bars
    assert m["premium_z"].iloc[:364].isna().all() and m["premium_z"].iloc[364:].notna().all()


def test_funding_is_the_composite_twap_in_percent_per_8h_by_hand(demo, demo_metrics_1d):
    # each demo venue settles at day + k * interval, so the events covering (DAY, DAY + 1d] are
    # exactly those settled in it, and each venue's daily TWAP per hour is their sum / 24
    f = demo.funding
    t = f["time"]
    day = f[(t > DAY) & (t <= DAY + pd.Timedelta(days=1))]
    per_venue = day.groupby("venue", observed=True)["rate"].sum() / 24
    assert len(per_venue) == 6 and set(day["interval_hours"]) == {1.0, 4.0, 8.0}
    assert demo_metrics_1d.loc[DAY, "funding"] == pytest.approx(per_venue.mean() * 8 * 100, rel=1e-12)
    vf = venue_funding(demo, "1D")
    for v, x in per_venue.items():
        assert vf.loc[DAY, v] == pytest.approx(x * 8 * 100, rel=1e-12)
    vf_apr = venue_funding(demo, "1D", apr=True)
    np.testing.assert_allclose(vf_apr.to_numpy(), vf.to_numpy() * 1095, rtol=1e-13)
    assert list(venue_funding(demo, "1D", perp_venues=["htx"]).columns) == ["htx"]


def test_apr_is_exactly_1095_times_per_8h_and_nothing_else_changes(demo, demo_metrics_1d):
    m_apr = flow_metrics(demo, "1D", apr=True)
    base = demo_metrics_1d
    ratio = (m_apr["funding"] / base["funding"]).dropna()
    assert len(ratio) > 2000
    np.testing.assert_allclose(ratio, 8760 / 8, rtol=1e-13)
    assert 8760 / 8 == 1095
    assert m_apr.attrs["funding_unit"] == "% APR"
    for c in CONTRACT_COLUMNS:
        if c not in ("funding", "funding_z_mean", "funding_z_std"):
            pd.testing.assert_series_equal(m_apr[c], base[c], obj=c)
    for c in ("funding", "funding_z_mean", "funding_z_std"):   # in the display unit, exactly
        np.testing.assert_array_equal(m_apr[c], base[c] * 1095)
    # thresholds stay in % per 8 h: the signals above are unchanged although funding is ~1000x


def test_funding_smoothing_is_an_sma_of_the_twap(demo, demo_metrics_1d):
    m3 = flow_metrics(demo, "1D", funding_smoothing=3)
    np.testing.assert_allclose(m3["funding"], sma(demo_metrics_1d["funding"], 3), rtol=1e-12)
    assert not m3["funding"].equals(demo_metrics_1d["funding"])


def test_start_end_slice_keeps_full_window_z_scores(demo, demo_metrics_1d):
    part = flow_metrics(demo, "1D", start="2024-01-01", end="2024-06-30")
    expected = demo_metrics_1d.loc["2024-01-01":"2024-06-30"]
    pd.testing.assert_frame_equal(part, expected)
    assert part.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert part.index[-1] == pd.Timestamp("2024-06-30", tz="UTC")
    assert part[["premium_z", "oi_z", "funding_z"]].iloc[0].notna().all()
    aware = flow_metrics(demo, "1D", start=pd.Timestamp("2024-01-01", tz="UTC"))
    assert aware.index[0] == pd.Timestamp("2024-01-01", tz="UTC") and aware.index[-1] == expected.index[-1] + pd.Timedelta(days=549)


def test_futures_venue_selection(demo):
    m = flow_metrics(demo, "1D", futures="deribit")
    np.testing.assert_array_equal(m["futures"], demo.perp["deribit"])
    np.testing.assert_allclose(m["premium_abs"], m["spot"] - demo.perp["deribit"], rtol=1e-12, atol=1e-9)
    # premium_pct stays against the basket
    np.testing.assert_allclose(m["premium_pct"], flow_metrics(demo, "1D")["premium_pct"], rtol=1e-14)
    # a USDT perp is in USD after conversion
    mb = flow_metrics(demo, "1D", futures="binance")
    assert mb.loc[DAY, "futures"] == demo.perp.loc[DAY, "binance"]
    assert np.isnan(mb.loc[pd.Timestamp("2019-01-01", tz="UTC"), "futures"])  # not listed yet


def test_oi_weighting_by_hand(demo):
    m = flow_metrics(demo, "1D", weighting="oi")
    oi = demo.open_interest
    sample = oi[oi["time"] == DAY + pd.Timedelta(hours=23)].set_index("venue")["oi_usd"]
    prices = demo.perp.loc[DAY]
    w = sample.reindex(prices.index)
    assert w.notna().all()
    assert m.loc[DAY, "perp_basket"] == pytest.approx((prices * w).sum() / w.sum(), rel=1e-12)
    f = demo.funding
    day = f[(f["time"] > DAY) & (f["time"] <= DAY + pd.Timedelta(days=1))]
    twap = day.groupby("venue", observed=True)["rate"].sum() / 24
    expected = (twap * w.reindex(twap.index)).sum() / w.reindex(twap.index).sum() * 800
    assert m.loc[DAY, "funding"] == pytest.approx(expected, rel=1e-12)
    assert m.loc[DAY, "perp_basket"] != pytest.approx(demo.perp.loc[DAY].mean(), rel=1e-9)


def test_oi_total_is_anchored_to_the_true_sum_in_btc_or_usd(demo, demo_metrics_1d):
    last = demo.open_interest.groupby("venue", observed=True).last()
    on_last_day = last[last["time"] == pd.Timestamp("2025-12-31 23:00", tz="UTC")]
    assert len(on_last_day) == 6
    assert demo_metrics_1d["oi_total"].iloc[-1] == pytest.approx(on_last_day["oi_btc"].sum(), rel=1e-12)
    m_usd = flow_metrics(demo, "1D", oi_unit="usd")
    assert m_usd["oi_total"].iloc[-1] == pytest.approx(on_last_day["oi_usd"].sum(), rel=1e-12)
    assert m_usd.attrs["oi_unit"] == "usd"


def test_extremes_false_turns_the_cycle_engine_off_only(demo, demo_metrics_1d):
    m = flow_metrics(demo, "1D", extremes=False)
    assert demo_metrics_1d["cycle_top"].any() and demo_metrics_1d["cycle_bottom"].any()
    assert not m["cycle_top"].any() and not m["cycle_bottom"].any()
    others = [c for c in CONTRACT_COLUMNS if not c.startswith(("cycle_top", "cycle_bottom"))]
    pd.testing.assert_frame_equal(m[others], demo_metrics_1d[others])


def test_venue_selection_and_one_venue_baskets(demo):
    m = flow_metrics(demo, "1D", spot_venues=["coinbase"], perp_venues=["bybit"])
    np.testing.assert_array_equal(m["spot"], demo.spot["coinbase"])
    np.testing.assert_array_equal(m["perp_basket"], demo.perp["bybit"])
    vf = venue_funding(demo, "1D")
    np.testing.assert_allclose(m["funding"], vf["bybit"], rtol=1e-13)
    oi = demo.open_interest
    bybit_oi = oi[oi["venue"] == "bybit"].set_index("time")["oi_btc"]
    np.testing.assert_allclose(m["oi_total"].to_numpy(), bybit_oi.to_numpy(), rtol=1e-12)
    two = flow_metrics(demo, "1D", spot_venues=["kraken", "bitstamp"], perp_venues="deribit")
    np.testing.assert_allclose(two["spot"], basket(carry_gaps(demo.spot[["kraken", "bitstamp"]])),
                               rtol=1e-14)
    # kraken's outage: carried with bitstamp for 3 days, then the spot price falls back to
    # bitstamp alone, nothing is dropped
    gap = pd.Timestamp("2019-03-10", tz="UTC")
    assert np.isnan(demo.spot.loc[gap, "kraken"])
    assert two.loc[gap, "spot"] == demo.spot.loc[gap, "bitstamp"]


def test_results_do_not_depend_on_call_history(demo):
    """flow_metrics memoises base series on the MarketData: a used object and a fresh one must
    agree for every parameter combination."""
    calls = [dict(weighting="oi"), dict(oi_unit="usd"), dict(perp_venues=["okx", "htx"]),
             dict(futures="okx"), dict(), dict(weighting="oi", oi_unit="usd")]
    used = [flow_metrics(demo, "1W", lookback=26, **kw) for kw in calls]
    fresh_md = load_demo()
    for kw, got in zip(reversed(calls), reversed(used)):
        pd.testing.assert_frame_equal(got, flow_metrics(fresh_md, "1W", lookback=26, **kw))


# ---------------------------------------------------------------------------- missing fields


def _small(demo, **drop):
    fields = dict(spot=demo.spot, perp=demo.perp, funding=demo.funding,
                  open_interest=demo.open_interest)
    fields.update(drop)
    return MarketData.from_frames(**fields)


def test_no_open_interest_gives_nan_oi_columns(demo):
    m = flow_metrics(_small(demo, open_interest=None), "1D")
    assert list(m.columns) == CONTRACT_COLUMNS
    assert m["oi_total"].isna().all() and m["oi_z"].isna().all()
    assert not m["overleveraged"].any() and not m["bullish"].any()  # nothing confirms "cool"
    assert m["funding"].notna().sum() > 2000 and m["premium_pct"].notna().all()
    assert m["bearish"].any()  # funding alone can still show leverage building
    assert m["cycle_top"].any()  # the other two metrics still vote
    w = flow_metrics(_small(demo, open_interest=None), "1D", weighting="oi")
    assert w["perp_basket"].isna().all() and w["funding"].isna().all()


def test_no_funding_gives_nan_funding_columns(demo):
    m = flow_metrics(_small(demo, funding=None), "1D")
    assert m["funding"].isna().all() and m["funding_z"].isna().all()
    assert m["oi_total"].notna().all()
    assert not m["overleveraged"].any()
    assert venue_funding(_small(demo, funding=None), "1D").shape[1] == 0


def test_no_spot_gives_nan_premium_and_no_premium_signals(demo):
    m = flow_metrics(_small(demo, spot=None), "1D")
    for c in ("spot", "premium_abs", "premium_pct", "premium_z", "bb_basis", "bb_upper", "bb_lower"):
        assert m[c].isna().all(), c
    for c in ("bullish", "bearish", "alert_premium_high", "alert_premium_low"):
        assert not m[c].any(), c
    assert m["perp_basket"].notna().all() and m["funding"].notna().sum() > 2000


def test_only_funding_and_oi(demo):
    m = flow_metrics(_small(demo, spot=None, perp=None), "1D")
    assert m["perp_basket"].isna().all() and m["oi_total"].notna().sum() > 2000
    assert m["funding"].notna().sum() > 2000


def test_venue_without_any_data_and_funding_only_venue(demo):
    """A perp column that is all NaN (listed, never traded) and a venue with funding but no
    price: both are selectable, contribute nothing where they have nothing, and never raise."""
    perp = demo.perp.assign(gate=np.nan)
    f = demo.funding
    extra = f[f["venue"] == "deribit"].assign(venue="krakenfutures")
    md = MarketData.from_frames(spot=demo.spot, perp=perp,
                                funding=pd.concat([f, extra], ignore_index=True),
                                open_interest=demo.open_interest)
    assert "gate" not in md.venues("perp") and "krakenfutures" in md.venues("funding")
    only_gate = flow_metrics(md, "1D", perp_venues=["gate"])
    assert only_gate["perp_basket"].isna().all() and only_gate["funding"].isna().all()
    assert only_gate["oi_total"].isna().all() and not only_gate["bullish"].any()
    with_gate = flow_metrics(md, "1D", perp_venues=["deribit", "gate"])
    alone = flow_metrics(md, "1D", perp_venues=["deribit"])
    pd.testing.assert_frame_equal(with_gate, alone)
    funding_only = flow_metrics(md, "1D", perp_venues=["krakenfutures"])
    assert funding_only["perp_basket"].isna().all()
    np.testing.assert_allclose(funding_only["funding"], alone["funding"], rtol=1e-13)


@pytest.mark.parametrize("tf, bars", [("1h", 24 * 20), ("4h", 6 * 20), ("1D", 20)])
def test_intraday_data_at_intraday_timeframes(tf, bars):
    idx = pd.date_range("2024-01-01", periods=24 * 20, freq="h", tz="UTC", name="time")
    h = np.arange(len(idx), dtype=float)
    spot = pd.DataFrame({"a": 100.0 + h}, index=idx)
    perp = pd.DataFrame({"p": 100.0 + h + 0.5}, index=idx)
    fund = pd.DataFrame({"venue": "p", "time": idx + pd.Timedelta(hours=1), "rate": 1e-5,
                         "interval_hours": 1.0})
    oi = pd.DataFrame({"venue": "p", "time": idx, "oi_btc": 1000.0 + h, "oi_usd": 1e5 + h})
    md = MarketData.from_frames(spot=spot, perp=perp, funding=fund, open_interest=oi)
    m = flow_metrics(md, tf, lookback=5)
    assert len(m) == bars
    step = {"1h": 1, "4h": 4, "1D": 24}[tf]
    np.testing.assert_array_equal(m["premium_abs"], -0.5)  # last close of each bar: -0.5 USD
    np.testing.assert_allclose(m["funding"], 1e-5 * 800, rtol=1e-12)  # 0.008 % per 8h
    np.testing.assert_allclose(m["oi_total"], 1000.0 + np.arange(step - 1, 24 * 20, step), rtol=1e-12)
    # a constant USD premium has exactly zero variance: bands collapse onto it, no alert fires
    np.testing.assert_array_equal(m["bb_upper"].iloc[19:], -0.5)
    np.testing.assert_array_equal(m["bb_lower"].iloc[19:], -0.5)
    assert not m["alert_premium_high"].any() and not m["alert_premium_low"].any()
    assert not np.isinf(m[["premium_z", "oi_z", "funding_z"]].to_numpy()).any()
    assert m["funding_z"].isna().all()  # constant funding: zero variance -> NaN, never inf
    assert m["oi_z"].iloc[4:].notna().all()


@pytest.mark.parametrize("tf", ["1D", "3D", "1W", "1M"])
def test_bars_for_every_timeframe_follow_the_anchors(demo, tf):
    from btcflow_nb.timeframes import bar_range

    m = flow_metrics(demo, tf, lookback=12)
    expected = bar_range(pd.Timestamp("2018-01-01", tz="UTC"), pd.Timestamp("2025-12-31", tz="UTC"), tf)
    assert list(m.index) == list(expected)
    if tf == "1W":
        assert (m.index.day_of_week == 0).all() and m.index[0] == pd.Timestamp("2018-01-01", tz="UTC")
    if tf == "3D":
        assert ((m.index - pd.Timestamp("1970-01-01", tz="UTC")).days % 3 == 0).all()
        assert m.index[0] == pd.Timestamp("2018-01-01", tz="UTC")  # day 17532 = 3 * 5844
        assert m.index[1] == pd.Timestamp("2018-01-04", tz="UTC")
    if tf == "1M":
        assert (m.index.day == 1).all() and len(m) == 96
    # the bar's spot is the last daily close inside it
    closes = demo.spot.mean(axis=1)
    last_day = closes.index[closes.index < m.index[1]][-1]
    assert m["spot"].iloc[0] == pytest.approx(closes.loc[last_day], rel=1e-14)


@pytest.mark.parametrize("tf", ["1D", "3D", "1W"])
def test_stuck_funding_gives_nan_z_not_rounding_noise(tf):
    """Regression: funding fixed at 0.01 % per 8 h (common on Binance for weeks) produced
    funding_z up to 7 from rounding noise, enough to vote for a cycle top."""
    days = pd.date_range("2023-01-01", periods=400, freq="D", tz="UTC", name="time")
    t = pd.date_range(days[0] + pd.Timedelta(hours=8), days[-1] + pd.Timedelta(days=1), freq="8h", tz="UTC")
    hourly = pd.date_range(days[0] + pd.Timedelta(hours=1), days[-1] + pd.Timedelta(days=1), freq="h", tz="UTC")
    funding = pd.concat([
        pd.DataFrame({"venue": "binance", "time": t, "rate": 0.0001, "interval_hours": 8.0}),
        pd.DataFrame({"venue": "hyperliquid", "time": hourly, "rate": 0.0000125, "interval_hours": 1.0}),
    ], ignore_index=True)
    md = MarketData.from_frames(spot=pd.DataFrame({"coinbase": 30_000.0}, index=days),
                                perp=pd.DataFrame({"binance": 30_010.0}, index=days), funding=funding)
    m = flow_metrics(md, tf, lookback=10)
    assert m["funding"].nunique() == 1
    assert m["funding"].iloc[0] == pytest.approx(0.01, rel=1e-12)
    assert m["funding_z"].isna().all()
    assert not m["cycle_top"].any() and not m["cycle_bottom"].any()


def test_oi_weighted_stuck_funding_gives_nan_z():
    """Regression: venues all at 0.01 % per 8 h, OI-weighted with changing OI, gave funding_z up
    to 2.7 from rounding noise."""
    days = pd.date_range("2023-01-01", periods=300, freq="D", tz="UTC", name="time")
    funding, oi = [], []
    for k, (v, h) in enumerate([("binance", 8), ("bybit", 8), ("okx", 8), ("htx", 4)]):
        t = pd.date_range(days[0] + pd.Timedelta(hours=h), days[-1] + pd.Timedelta(days=1),
                          freq=f"{h}h", tz="UTC")
        funding.append(pd.DataFrame({"venue": v, "time": t, "rate": 0.0001 * h / 8,
                                     "interval_hours": float(h)}))
        oi.append(pd.DataFrame({"venue": v, "time": days + pd.Timedelta(hours=23),
                                "oi_btc": np.linspace(1e4, 2e4, 300) * (1 + k),
                                "oi_usd": np.linspace(3e8, 6e8, 300) * (1 + 0.3 * k)}))
    md = MarketData.from_frames(spot=pd.DataFrame({"coinbase": 30_000.0}, index=days),
                                perp=pd.DataFrame({"binance": 30_010.0}, index=days),
                                funding=pd.concat(funding), open_interest=pd.concat(oi))
    m = flow_metrics(md, "1D", lookback=30, weighting="oi")
    np.testing.assert_allclose(m["funding"], 0.01, rtol=1e-13)
    assert m["funding_z"].isna().all()
    assert m["oi_z"].iloc[29:].notna().all()  # growing OI is real variation


@pytest.mark.parametrize("tf", ["3D", "1W", "1M"])
def test_resampling_first_differs_only_where_a_venue_close_is_stale(demo, tf):
    """``MarketData.resample`` keeps each venue's last close in the bar, even a stale one;
    flow_metrics builds baskets at the data's own resolution (issue 12). They agree on OI and
    funding everywhere, and on prices wherever every venue's last close in the bar is on the
    bar's last day."""
    pre = flow_metrics(demo.resample(tf), tf, lookback=12, max_gap=0)
    m = flow_metrics(demo, tf, lookback=12, max_gap=0)
    same = ["oi_total", "oi_z", "funding", "funding_z", "overleveraged"]
    pd.testing.assert_frame_equal(pre[same], m[same])
    from btcflow_nb.timeframes import bar_open

    prices = pd.concat([demo.spot, demo.perp], axis=1)
    labels = bar_open(prices.index, tf)
    last_day = prices.groupby(labels).apply(lambda g: g.index[-1])
    last_close = prices.apply(lambda c: c.groupby(labels).apply(
        lambda g: g.last_valid_index()))
    stale = last_close.ne(last_day, axis=0).any(axis=1)
    differs = ~np.isclose(pre["premium_pct"], m["premium_pct"], rtol=1e-12, atol=0) & \
        m["premium_pct"].notna().to_numpy()
    assert stale.sum() > 0
    if tf == "1W":  # kraken's weekend gaps (the demo's week of 2019-02-25)
        assert differs.sum() > 0
    assert set(m.index[differs]) <= set(stale[stale].index)


def test_start_inside_a_bar_keeps_that_bar(demo):
    # 2024-01-03 is a Wednesday: the weekly bar that contains it opens Monday 2024-01-01
    weekly = flow_metrics(demo, "1W", start="2024-01-03", end="2024-02-01")
    assert weekly.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert weekly.index[-1] == pd.Timestamp("2024-01-29", tz="UTC")
    full = flow_metrics(demo, "1W")
    pd.testing.assert_frame_equal(weekly, full.loc["2024-01-01":"2024-01-29"])
    monthly = flow_metrics(demo, "1M", lookback=12, start="2024-03-15")
    assert monthly.index[0] == pd.Timestamp("2024-03-01", tz="UTC")
