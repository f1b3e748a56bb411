"""Annualised basis, term structure and constant-maturity basis against a hand computation
(the worked example of notebook 03), and the dated-futures frame's validation and bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb import MarketData
from btcflow_nb.basis import annualized_basis, constant_maturity, term_structure

UTC = "UTC"


def _example(extra_bar=False):
    """One daily bar (2026-01-01, closing 2026-01-02 00:00 UTC), spot 100 000 USD, three
    Deribit contracts: Jan 30, Mar 27 and Jun 26 2026, each expiring 08:00 UTC."""
    times = pd.date_range("2026-01-01", periods=2 if extra_bar else 1, freq="D", tz=UTC)
    spot = pd.DataFrame({"coinbase": [100_000.0] * len(times)}, index=times)
    expiries = ["2026-01-30 08:00", "2026-03-27 08:00", "2026-06-26 08:00"]
    closes = [100_500.0, 101_800.0, 104_000.0]
    rows = [{"venue": "deribit", "symbol": f"BTC/USD:BTC-{pd.Timestamp(e):%y%m%d}",
             "expiry": pd.Timestamp(e, tz=UTC), "time": t, "close": c}
            for e, c in zip(expiries, closes) for t in times]
    return MarketData.from_frames(spot=spot, futures=pd.DataFrame(rows))


def test_annualized_basis_equals_hand_computation():
    b = annualized_basis(_example())
    # days from the bar's close (2026-01-02 00:00) to each expiry (08:00): whole days + 8 h
    d = np.array([28 + 8 / 24, 84 + 8 / 24, 175 + 8 / 24])
    basis = np.array([500, 1_800, 4_000]) / 100_000
    np.testing.assert_allclose(b["days_to_expiry"], d, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b["basis"], basis, rtol=1e-12)
    np.testing.assert_allclose(b["annualized"], basis * 365 / d, rtol=1e-12)
    # the numbers notebook 03 prints
    assert list(np.round(b["annualized"] * 100, 2)) == [6.44, 7.79, 8.33]


def test_constant_maturity_interpolates_linearly_in_days():
    b = annualized_basis(_example())
    cm = constant_maturity(b, 90)
    d_lo, d_hi = 84 + 8 / 24, 175 + 8 / 24            # Mar 27 below 90 days, Jun 26 above
    b_lo, b_hi = 0.018 * 365 / d_lo, 0.04 * 365 / d_hi
    want = b_lo + (b_hi - b_lo) * (90 - d_lo) / (d_hi - d_lo)
    assert cm["deribit"].iloc[0] == pytest.approx(want, rel=1e-12)
    assert round(want * 100, 2) == 7.82
    # exactly on a contract: its own basis; outside every pair: NaN, with a note
    assert constant_maturity(b, d_lo)["deribit"].iloc[0] == pytest.approx(b_lo, rel=1e-12)
    far = constant_maturity(b, 200)
    assert np.isnan(far["deribit"].iloc[0])
    assert "no extrapolation" in far.attrs["notes"][0]
    assert np.isnan(constant_maturity(b, 10)["deribit"].iloc[0])


def test_term_structure_now_and_at_a_date():
    b = annualized_basis(_example(extra_bar=True))
    now = term_structure(b)
    assert list(now["time"].unique()) == [pd.Timestamp("2026-01-02", tz=UTC)]
    assert list(now["expiry"]) == sorted(now["expiry"])
    then = term_structure(b, "2026-01-01 12:00")
    assert list(then["time"].unique()) == [pd.Timestamp("2026-01-01", tz=UTC)]
    assert list(np.round(then["annualized"] * 100, 2)) == [6.44, 7.79, 8.33]
    with pytest.raises(ValueError, match=r"at='2025-12-01.*before the first bar"):
        term_structure(b, "2025-12-01")


def test_bars_at_or_after_expiry_are_excluded_with_a_note():
    md = _example()
    fut = md.futures.copy()
    late = fut.iloc[[0]].assign(time=pd.Timestamp("2026-01-30 08:00", tz=UTC))
    md2 = MarketData.from_frames(spot=md.spot, futures=pd.concat([fut, late]).sort_values(
        ["venue", "symbol", "time"]))
    assert len(md2.futures) == 3
    assert any("opening at or after their contract's expiry excluded" in n
               for n in md2.meta["notes"])
    # a daily bar opening before but closing after the expiry: no annualised basis
    straddle = fut.iloc[[0]].assign(time=pd.Timestamp("2026-01-30", tz=UTC))
    md3 = MarketData.from_frames(
        spot=pd.DataFrame({"coinbase": [1e5, 1e5]}, index=pd.DatetimeIndex(
            ["2026-01-01", "2026-01-30"], tz=UTC)),
        futures=pd.concat([fut, straddle]).sort_values(["venue", "symbol", "time"]))
    b = annualized_basis(md3, timeframe="1D")
    assert len(b) == 3 and (b["days_to_expiry"] > 0).all()
    assert "1 bar(s) closing at or after" in b.attrs["notes"][0]


def test_expiry_in_the_past_names_the_value_and_the_valid_expiries():
    md = _example()
    with pytest.raises(ValueError, match=r"expiry '2025-12-26.*in the past.*valid expiries: "
                                         r"\['2026-01-30 08:00:00\+00:00'"):
        annualized_basis(md, expiry="2025-12-26")
    with pytest.raises(ValueError, match=r"no contract expires at '2026-02-27.*valid expiries"):
        annualized_basis(md, expiry="2026-02-27")
    only = annualized_basis(md, expiry="2026-03-27")
    assert list(only["symbol"]) == ["BTC/USD:BTC-260327"]


def test_unknown_legs_name_the_valid_choices():
    md = _example()
    with pytest.raises(ValueError, match=r"futures venue\(s\) \['kraken'\].*valid: \['deribit'\]"):
        annualized_basis(md, venues="kraken")
    with pytest.raises(ValueError, match=r"spot venue\(s\) \['bitstamp'\].*valid: \['coinbase'\]"):
        annualized_basis(md, spot="bitstamp")
    with pytest.raises(ValueError, match=r"days=-5 is not valid"):
        constant_maturity(annualized_basis(md), -5)


def test_futures_frame_validation_errors():
    md = _example()
    fut = md.futures.copy()
    with pytest.raises(ValueError, match=r"missing column\(s\) \['expiry'\]"):
        MarketData.from_frames(futures=fut.drop(columns="expiry"))
    bad = fut.copy()
    bad.loc[0, "close"] = -1.0
    with pytest.raises(ValueError, match=r"futures column 'close' has -1.0"):
        MarketData.from_frames(futures=bad)
    two = fut.copy()
    two["symbol"] = "X"
    with pytest.raises(ValueError, match=r"contract 'X' at 'deribit' has more than one expiry"):
        MarketData.from_frames(futures=two)


def test_futures_survive_resample_and_select():
    md = _example(extra_bar=True)
    assert md.resample("1W").futures is md.futures
    assert md.select(spot_venues=["coinbase"]).futures is md.futures
