"""Premium between any two legs (issue 16): the Coinbase premium equals its formula on frames
built here, legs are parsed and refused with the valid choices, swapping legs negates the USD
premium, a venue outside a leg moves nothing, and flow_metrics' legs equal the classic path."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb import flow_metrics
from btcflow_nb.indicators import carry_gaps
from btcflow_nb.legs import COINBASE_PREMIUM, LEG_KINDS, Leg, leg_choices, parse_leg
from btcflow_nb.marketdata import MarketData
from btcflow_nb.venue_metrics import coinbase_premium, premium_between

DAYS = pd.date_range("2024-01-01", periods=40, freq="D", tz="UTC", name="time")


def _frames(seed=7):
    rng = np.random.default_rng(seed)
    base = 40_000 * np.exp(np.cumsum(rng.normal(0, 0.02, len(DAYS))))
    spot = pd.DataFrame({"coinbase": base * (1 + rng.normal(0.0004, 0.0003, len(DAYS))),
                         "kraken": base * (1 + rng.normal(0, 0.0003, len(DAYS))),
                         "binance": base * (1 + rng.normal(-0.0002, 0.0003, len(DAYS)))},
                        index=DAYS)
    perp = pd.DataFrame({"binance": base * 1.0006, "okx": base * 1.0004}, index=DAYS)
    fx = pd.DataFrame({"USDT": 1 + rng.normal(0.0005, 0.0004, len(DAYS))}, index=DAYS)
    return spot, perp, fx


@pytest.fixture(scope="module")
def frames():
    return _frames()


@pytest.fixture(scope="module")
def md(frames):
    spot, perp, fx = frames
    return MarketData.from_frames(spot=spot, perp=perp, fx=fx,
                                  spot_quotes={"binance": "USDT"},
                                  perp_quotes={"binance": "USDT", "okx": "USDT"})


def test_coinbase_premium_equals_its_formula(frames, md):
    """C - B*USDT in USD and (C - B*USDT) / (B*USDT) * 100, computed here from the raw frames."""
    spot, _, fx = frames
    binance_usd = spot["binance"] * fx["USDT"]
    want_usd = spot["coinbase"] - binance_usd
    want_pct = (spot["coinbase"] - binance_usd) / binance_usd * 100
    got = coinbase_premium(md, "1D")
    np.testing.assert_allclose(got["premium_abs"], want_usd, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["premium_pct"], want_pct, rtol=1e-12)
    np.testing.assert_allclose(got["futures"], binance_usd, rtol=1e-15)
    assert got["premium"].equals(got["premium_abs"])
    pct = coinbase_premium(md, "1D", unit="pct")
    assert pct["premium"].equals(pct["premium_pct"]) and pct.attrs["unit"] == "pct"
    assert got.attrs["quote_conversion"]["spot:binance"].startswith("USDT converted to USD")
    assert (got.attrs["spot_leg"], got.attrs["futures_leg"]) == COINBASE_PREMIUM


def test_coinbase_premium_weekly_takes_the_last_day_of_each_week(frames, md):
    spot, _, fx = frames
    daily = spot["coinbase"] - spot["binance"] * fx["USDT"]
    monday = daily.index - pd.to_timedelta(np.asarray(daily.index.day_of_week), unit="D")
    want = daily.groupby(monday).last()
    got = coinbase_premium(md, "1W")["premium_abs"]
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=1e-9)
    assert list(got.index.day_name().unique()) == ["Monday"]


def test_flow_metrics_with_the_coinbase_legs(frames, md):
    spot, _, fx = frames
    m = flow_metrics(md, "1D", spot_leg="spot:coinbase", futures_leg="spot:binance",
                     bb_length=5, lookback=10)
    want = spot["coinbase"] - spot["binance"] * fx["USDT"]
    np.testing.assert_allclose(m["premium_abs"], want, atol=1e-9)
    # Bollinger bands unchanged in kind: SMA ± 2 population std of the USD premium
    sma = want.rolling(5).mean()
    std = want.rolling(5).std(ddof=0)
    np.testing.assert_allclose(m["bb_upper"], sma + 2 * std, atol=1e-7)
    assert (m["spot_venues"] == 1).all()
    assert m.attrs["params"]["spot_leg"] == "spot:coinbase"
    assert m.attrs["params"]["futures_leg"] == "spot:binance"
    pct = flow_metrics(md, "1D", spot_leg="spot:coinbase", futures_leg="spot:binance",
                       bb_length=5, lookback=10, premium_unit="pct")
    x = pct["premium_pct"]
    np.testing.assert_allclose(pct["bb_lower"], x.rolling(5).mean() - 2 * x.rolling(5).std(ddof=0),
                               atol=1e-10)
    assert pct.attrs["premium_unit"] == "pct"
    assert not pct["bb_upper"].equals(m["bb_upper"])


def test_legs_equal_the_classic_keywords(demo):
    """futures_leg="perp:<v>" is futures="<v>"; "perp:basket" is the default (bit for bit)."""
    classic = flow_metrics(demo, "1W", futures="okx")
    legs = flow_metrics(demo, "1W", futures_leg="perp:okx")
    for col in ("spot", "futures", "premium_abs", "bb_upper", "alert_premium_high"):
        pd.testing.assert_series_equal(classic[col], legs[col])
    default = flow_metrics(demo, "1W")
    basket = flow_metrics(demo, "1W", spot_leg="spot:basket", futures_leg="perp:basket")
    for col in ("spot", "futures", "premium_abs", "premium_pct", "bullish", "spot_venues"):
        pd.testing.assert_series_equal(default[col], basket[col])


def test_swapping_legs_negates_the_usd_premium(demo):
    ab = premium_between(demo, "spot:coinbase", "perp:deribit", timeframe="1W")
    ba = premium_between(demo, "spot:kraken", "spot:coinbase", timeframe="1W")
    ka = premium_between(demo, "spot:coinbase", "spot:kraken", timeframe="1W")
    np.testing.assert_array_equal(ka["premium_abs"].to_numpy(), -ba["premium_abs"].to_numpy())
    assert ab["premium_abs"].notna().sum() > 100
    # the % premium is relative to the futures leg: (C-K)/K vs (K-C)/C
    np.testing.assert_allclose(ka["premium_pct"] * ka["futures"],
                               -ba["premium_pct"] * ba["futures"], rtol=1e-9)


def test_a_basket_leg_of_named_venues_is_their_mean(frames, md):
    spot, _, _ = frames
    got = premium_between(md, "spot:coinbase+kraken", "perp:okx")
    want = (spot["coinbase"] + spot["kraken"]) / 2 - md.perp["okx"]
    np.testing.assert_allclose(got["premium_abs"], want, atol=1e-9)
    assert (got["spot_venues"] == 2).all()


def test_a_gap_outside_the_legs_moves_no_leg(frames):
    """A missing Kraken close changes neither Coinbase nor Binance, nor the Coinbase premium."""
    spot, perp, fx = frames
    holed = spot.copy()
    holed.iloc[10:12, holed.columns.get_loc("kraken")] = np.nan
    kw = dict(perp=perp, fx=fx, spot_quotes={"binance": "USDT"})
    a = coinbase_premium(MarketData.from_frames(spot=spot, **kw))
    b = coinbase_premium(MarketData.from_frames(spot=holed, **kw))
    pd.testing.assert_frame_equal(a, b)


def test_a_carried_gap_in_a_leg_venue_moves_with_the_others(frames, md):
    """A short gap in Binance spot is carried with the other spot venues (carry_gaps), never
    dropped: the premium at the gap uses Binance's last close moved with Coinbase and Kraken."""
    spot, perp, fx = frames
    holed = spot.copy()
    holed.iloc[20, holed.columns.get_loc("binance")] = np.nan
    md2 = MarketData.from_frames(spot=holed, perp=perp, fx=fx, spot_quotes={"binance": "USDT"})
    got = coinbase_premium(md2)
    carried = carry_gaps(md2.spot)["binance"]
    assert np.isfinite(got["premium_abs"].iloc[20])
    assert got["futures"].iloc[20] == pytest.approx(carried.iloc[20], rel=1e-15)
    none = coinbase_premium(md2, max_gap=0)
    assert np.isnan(none["premium_abs"].iloc[20]) and len(none) == len(got)


def test_leg_choices_and_parsing(md):
    assert leg_choices(md) == ["spot:basket", "spot:coinbase", "spot:kraken", "spot:binance",
                               "perp:basket", "perp:binance", "perp:okx"]
    assert parse_leg("perp", md) == Leg("perp") and str(Leg("perp")) == "perp:basket"
    assert parse_leg(" spot:coinbase+kraken ", md) == Leg("spot", ("coinbase", "kraken"))
    assert parse_leg(Leg("perp", ("okx",)), md).label == "okx perp"
    assert set(LEG_KINDS) >= {"spot", "perp"}


BAD = [
    (dict(futures_leg="perp:bitmex"), r"unknown futures_leg venue 'bitmex'.*'binance', 'okx'"),
    (dict(futures_leg="futures:okx"), r"futures_leg='futures:okx' names no known leg kind.*"
                                      r"'perp:okx'"),
    (dict(spot_leg="perp:okx"), r"spot_leg='perp:okx' names no known leg kind.*'spot:coinbase'"),
    (dict(spot_leg="spot:coinbase", futures_leg="spot:coinbase"),
     r"futures_leg='spot:coinbase' is the spot leg itself.*valid choices: spot:basket, "
     r"spot:kraken"),
    (dict(spot_leg="spot:kraken+coinbase", futures_leg="spot:coinbase+kraken"),
     r"is the spot leg itself"),
    (dict(futures_leg="spot:basket"), r"is the spot leg itself"),
    (dict(futures_leg="spot:coinbase+coinbase"), r"a venue once.*valid choices"),
    (dict(futures_leg=""), r"unknown futures_leg ''.*valid choices: 'spot:basket'"),
    (dict(futures_leg=3), r"unknown futures_leg 3.*valid choices"),
    (dict(futures="okx", futures_leg="perp:okx"), r"give one"),
    (dict(premium_unit="bp"), r"unknown premium_unit 'bp'; valid choices: 'usd', 'pct'"),
]


@pytest.mark.parametrize("kwargs,match", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_legs_name_the_value_and_the_choices(md, kwargs, match):
    with pytest.raises(ValueError, match=match):
        flow_metrics(md, "1D", **kwargs)


def test_bad_input_of_premium_between(md):
    with pytest.raises(ValueError, match=r"unknown unit 'bps'; valid choices: 'usd', 'pct'"):
        premium_between(md, unit="bps")
    with pytest.raises(ValueError, match=r"unknown spot_leg venue 'bitstamp'.*'coinbase'"):
        premium_between(md, "spot:bitstamp")
    raw = MarketData.from_frames(spot=md.spot, spot_quotes={"binance": "USDT"})  # no fx
    note = ("premium_abs: spot:binance raw USDT quote used as USD (no USDT/USD series "
            "available) -- the premium includes the stablecoin's own drift")
    assert coinbase_premium(raw).attrs["notes"] == [note]
    assert note in flow_metrics(raw, "1D", spot_leg="spot:coinbase",
                                futures_leg="spot:binance").attrs["notes"]
    from btcflow_nb.dashboard import PremiumIndexPanel
    panel = PremiumIndexPanel(raw, debounce_ms=0)
    panel.coinbase_button.click()
    assert note in panel.panel_message.value and panel.errors.outputs == ()
    assert coinbase_premium(md).attrs["notes"] == []
    no_coinbase = MarketData.from_frames(spot=md.spot[["kraken", "binance"]], perp=md.perp)
    with pytest.raises(ValueError, match=r"unknown spot_leg venue 'coinbase'.*'kraken', "
                                         r"'binance'"):
        coinbase_premium(no_coinbase)


# ----------------------------------------------------------------------------- properties
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def spot_frames(draw):
    n = draw(st.integers(2, 25))
    price = st.one_of(st.floats(1_000.0, 200_000.0), st.just(np.nan))
    cols = {v: draw(st.lists(price, min_size=n, max_size=n)) for v in ("a", "b", "c")}
    idx = pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC", name="time")
    return pd.DataFrame(cols, index=idx)


@SETTINGS
@given(spot_frames(), st.integers(0, 3))
def test_property_swapping_legs_negates_the_usd_premium(spot, max_gap):
    md = MarketData.from_frames(spot=spot)
    ab = premium_between(md, "spot:a", "spot:b+c", max_gap=max_gap)
    ba = premium_between(md, "spot:b+c", "spot:a", max_gap=max_gap)
    np.testing.assert_array_equal(ab["premium_abs"].to_numpy(), -ba["premium_abs"].to_numpy())
    # the % premium is relative to the futures leg, and has the USD premium's sign
    both = ab["premium_abs"].notna().to_numpy()
    assert (np.sign(ab["premium_pct"].to_numpy()[both])
            == np.sign(ab["premium_abs"].to_numpy()[both])).all()
    assert len(ab) == len(spot)                                   # no row lost


@SETTINGS
@given(spot_frames(), st.integers(0, 24), st.integers(0, 3))
def test_property_a_gap_in_a_venue_outside_the_legs_moves_no_leg_price(spot, row, max_gap):
    """Legs of one venue each: c's gaps never move a's or b's price (carrying a venue uses
    the others' moves, but a real close is never changed)."""
    holed = spot.copy()
    holed.iloc[row % len(spot), 2] = np.nan
    before = premium_between(MarketData.from_frames(spot=spot), "spot:a", "spot:b",
                             max_gap=max_gap)
    after = premium_between(MarketData.from_frames(spot=holed), "spot:a", "spot:b",
                            max_gap=max_gap)
    real = spot[["a", "b"]].notna().all(axis=1).to_numpy()
    np.testing.assert_array_equal(before["premium_abs"].to_numpy()[real],
                                  after["premium_abs"].to_numpy()[real])
    np.testing.assert_array_equal(before["premium_abs"].to_numpy()[real],
                                  (spot["a"] - spot["b"]).to_numpy()[real])


def test_a_new_leg_kind_plugs_in(md, monkeypatch):
    """A dated future (or any instrument kind) is a row of LEG_KINDS: premiums, choices and
    errors take it at once. Here a fake kind whose closes sit 1 % above the okx perp."""
    from btcflow_nb import legs
    from btcflow_nb.dashboard import PremiumIndexPanel

    quarterly = (md.perp[["okx"]] * 1.01).rename(columns={"okx": "okx-2024-03-29"})
    monkeypatch.setitem(legs.LEG_KINDS, "dated", lambda _md: quarterly)
    got = premium_between(md, "spot:coinbase", "dated:okx-2024-03-29")
    np.testing.assert_allclose(got["premium_abs"],
                               md.spot["coinbase"] - md.perp["okx"] * 1.01, atol=1e-9)
    m = flow_metrics(md, "1D", futures_leg="dated:okx-2024-03-29")
    np.testing.assert_allclose(m["futures"], md.perp["okx"] * 1.01, rtol=1e-15)
    assert "dated:okx-2024-03-29" in leg_choices(md)
    panel = PremiumIndexPanel(md, debounce_ms=0)
    assert "dated:okx-2024-03-29" in [v for _, v in panel.controls["futures_leg"].options]
    with pytest.raises(ValueError, match=r"unknown futures_leg venue 'okx-2024-06-28'.*"
                                         r"'okx-2024-03-29'"):
        premium_between(md, "spot:coinbase", "dated:okx-2024-06-28")
    with pytest.raises(ValueError, match="leg kind must be a name"):
        legs.register_leg_kind("da:ted", lambda _md: quarterly)
