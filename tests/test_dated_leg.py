"""A dated future as a premium leg (issue 16): ``futures_leg="dated:<venue>-<expiry date>"``
equals the hand computation ``S - F`` / ``(S - F) / F x 100`` on frames built here; a contract
is NaN at every bar opening at or after its expiry (never carried past it); only live contracts
are offered; an expired, unknown or basket choice is refused naming the live contracts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb import flow_metrics
from btcflow_nb.legs import Leg, dated_closes, leg_choices, leg_closes
from btcflow_nb.marketdata import MarketData

DAYS = pd.date_range("2024-01-01", periods=40, freq="D", tz="UTC", name="time")
NEAR = pd.Timestamp("2024-01-20 08:00", tz="UTC")      # expires inside the data
FAR = pd.Timestamp("2024-03-29 08:00", tz="UTC")       # live at the last bar


def _futures(spot_mid):
    rows = []
    for venue, symbol, expiry, markup, skip in (
            ("deribit", "BTC/USD:BTC-240120", NEAR, 1.002, ()),
            ("deribit", "BTC/USD:BTC-240329", FAR, 1.010, (25,)),     # one missing bar
            ("okx", "BTC/USD:BTC-240329", FAR, 1.011, ())):
        for i, t in enumerate(DAYS):
            if t < expiry and i not in skip:
                rows.append((venue, symbol, expiry, t, spot_mid[i] * markup * (1 + 0.001 * i)))
    return pd.DataFrame(rows, columns=["venue", "symbol", "expiry", "time", "close"])


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(3)
    mid = 42_000 * np.exp(np.cumsum(rng.normal(0, 0.02, len(DAYS))))
    spot = pd.DataFrame({"coinbase": mid * 1.0003, "kraken": mid * 0.9998}, index=DAYS)
    perp = pd.DataFrame({"binance": mid * 1.0005}, index=DAYS)
    return spot, perp, _futures(mid)


@pytest.fixture(scope="module")
def md(frames):
    spot, perp, fut = frames
    return MarketData.from_frames(spot=spot, perp=perp, futures=fut)


def test_only_live_contracts_are_offered(md):
    dated = [c for c in leg_choices(md) if c.startswith("dated:")]
    assert dated == ["dated:deribit-2024-03-29", "dated:okx-2024-03-29"]   # no basket, no NEAR


def test_dated_leg_premium_equals_the_hand_computation(frames, md):
    spot, _, fut = frames
    m = flow_metrics(md, "1D", futures_leg="dated:okx-2024-03-29", bb_length=5, lookback=10)
    s = (spot["coinbase"] + spot["kraken"]) / 2
    f = fut[fut["venue"] == "okx"].set_index("time")["close"]
    np.testing.assert_allclose(m["futures"], f, rtol=1e-15)
    np.testing.assert_allclose(m["premium_abs"], s - f, atol=1e-9)
    np.testing.assert_allclose(m["premium_pct"], (s - f) / f * 100, rtol=1e-12)
    assert m.attrs["params"]["futures_leg"] == "dated:okx-2024-03-29"


def test_a_contract_is_nan_once_expired_even_where_a_gap_would_be_carried(md):
    """NEAR's last bar opens 2024-01-20 00:00 (before its 08:00 expiry); later bars are NaN,
    though carry_gaps would carry a 3-bar gap. A real gap (FAR at bar 25) is carried."""
    closes = leg_closes(md, Leg("dated", ("deribit-2024-01-20",)), DAYS, max_gap=3)
    col = closes["deribit-2024-01-20"]
    assert col.loc[:"2024-01-20"].notna().all()
    assert col.loc["2024-01-21":].isna().all()
    far = leg_closes(md, Leg("dated", ("deribit-2024-03-29",)), DAYS, max_gap=3)
    assert np.isfinite(far.iloc[25, 0])                 # carried with okx, not dropped
    wide = dated_closes(md)
    assert wide.attrs["expiry"]["deribit-2024-01-20"] == NEAR
    assert np.isnan(wide.iloc[25]["deribit-2024-03-29"])


@pytest.mark.parametrize("spec, says", [
    ("dated:deribit-2024-01-20", "expired 2024-01-20 08:00:00+00:00"),
    ("dated:basket", "no basket"),
    ("dated:deribit-2025-01-01", "unknown futures_leg venue 'deribit-2025-01-01'"),
    ("dated:bitmex-2024-03-29", "unknown futures_leg venue"),
])
def test_bad_dated_legs_name_the_live_contracts(md, spec, says):
    with pytest.raises(ValueError) as err:
        flow_metrics(md, "1D", futures_leg=spec)
    text = str(err.value)
    assert says in text and "deribit-2024-03-29" in text and "okx-2024-03-29" in text
    assert "deribit-2024-01-20'" not in text.split("valid choices:")[1]


def test_no_futures_gives_no_dated_choices(frames):
    spot, perp, _ = frames
    md = MarketData.from_frames(spot=spot, perp=perp)
    assert not [c for c in leg_choices(md) if c.startswith("dated")]
    assert dated_closes(md).shape == (len(DAYS), 0)


def test_constant_maturity_90_day_leg_equals_the_hand_computation():
    """Two deribit contracts 60 and 120 days out: at each daily bar (closing at t + 1 d),
    d = (expiry - close) / 1 d, b = (F - S) / S x 365 / d, b90 = b_lo + (b_hi - b_lo) x
    (90 - d_lo) / (d_hi - d_lo), F90 = S x (1 + b90 x 90 / 365)."""
    days = pd.date_range("2025-01-01", periods=10, freq="D", tz="UTC", name="time")
    spot = pd.Series(100_000.0 + 500 * np.arange(10), index=days)
    lo_exp = pd.Timestamp("2025-03-02 08:00", tz="UTC")       # ~59.3 d at the first close
    hi_exp = pd.Timestamp("2025-05-01 08:00", tz="UTC")       # ~119.3 d
    fut = pd.DataFrame(
        [("deribit", sym, e, t, spot[t] * m) for sym, e, m in
         (("BTC/USD:BTC-250302", lo_exp, 1.010), ("BTC/USD:BTC-250501", hi_exp, 1.025))
         for t in days], columns=["venue", "symbol", "expiry", "time", "close"])
    md = MarketData.from_frames(spot=pd.DataFrame({"coinbase": spot}),
                                perp=pd.DataFrame({"binance": spot * 1.0004}), futures=fut)
    close = days + pd.Timedelta(days=1)
    d_lo = (lo_exp - close) / pd.Timedelta(days=1)
    d_hi = (hi_exp - close) / pd.Timedelta(days=1)
    b_lo, b_hi = 0.010 * 365 / d_lo, 0.025 * 365 / d_hi
    b90 = b_lo + (b_hi - b_lo) * (90 - d_lo) / (d_hi - d_lo)
    f90 = spot.to_numpy() * (1 + b90 * 90 / 365)
    assert "dated:deribit-cm90" in leg_choices(md)
    m = flow_metrics(md, "1D", futures_leg="dated:deribit-cm90", bb_length=3, lookback=5)
    np.testing.assert_allclose(m["futures"].to_numpy(), f90, rtol=1e-12)
    np.testing.assert_allclose(m["premium_abs"].to_numpy(), spot.to_numpy() - f90, rtol=1e-9)
    assert Leg("dated", ("deribit-cm90",)).label == "deribit 90-day constant-maturity future"
    assert Leg("dated", ("deribit-2025-03-02",)).label == "deribit future 2025-03-02"
