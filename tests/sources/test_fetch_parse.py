"""Pure parsing and unit normalisation (`btcflow_nb.sources.parse`), venue semantics one by one."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.sources import parse as _parse
from btcflow_nb.sources.venues import DEFAULT_VENUES

BY_NAME = {v.name: v for v in DEFAULT_VENUES}
H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01


def _times(hours):
    return pd.Series(pd.to_datetime([T0 + h * H for h in hours], unit="ms", utc=True))


def test_intervals_from_spacing_schedule_change_and_gaps():
    # 8h events, one missing (16h spacing), then a switch to 4h
    hours = [0, 8, 16, 32, 40, 44, 48]
    got = _parse.derive_intervals(_times(hours), pd.Series([np.nan] * len(hours)))
    assert got.tolist() == [8, 8, 8, 8, 8, 4, 4]
    # known values are kept
    known = pd.Series([1.0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan])
    assert _parse.derive_intervals(_times(hours), known).tolist()[0] == 1.0
    # a single event: no spacing to learn from
    assert np.isnan(_parse.derive_intervals(_times([0]), pd.Series([np.nan]))[0])


def test_deribit_rate_is_the_hour_not_the_8h_equivalent():
    rows = [{"timestamp": T0 + H, "fundingRate": 0.0008}, {"timestamp": T0 + 2 * H,
                                                          "fundingRate": -0.00016}]
    f = _parse.funding_frame(rows, BY_NAME["perp:deribit"])
    assert f["rate"].tolist() == [0.0001, -0.00002] and f["interval_hours"].tolist() == [1, 1]


def test_market_interval_and_missing_rows():
    rows = [{"timestamp": T0, "fundingRate": "0.0001"}, {"timestamp": None, "fundingRate": 1},
            {"timestamp": T0 + 8 * H, "fundingRate": None}]
    f = _parse.funding_frame(rows, BY_NAME["perp:bybit"], market_interval_hours=4.0)
    assert len(f) == 1 and f["interval_hours"].iloc[0] == 4.0 and f["rate"].iloc[0] == 0.0001


def test_ohlcv_rows_deduped_sorted_and_incomplete_dropped():
    rows = [[T0 + 2 * H, 1, 2, 0.5, 1.5, 10], [T0, 1, 1, 1, 1, 1], [T0 + 2 * H, 1, 2, 0.5, 1.7, 11],
            [None, 1, 1, 1, 1, 1], [T0 + H, 1, 1, 1, None, 1]]
    f = _parse.ohlcv_frame(rows)
    assert f["close"].tolist() == [1, 1.7]           # the later duplicate wins
    assert str(f["time"].dtype) == "datetime64[ms, UTC]"


def test_oi_linear_contracts_base_and_inverse_usd():
    okx = BY_NAME["perp:okx"]
    f = _parse.oi_frame([{"timestamp": T0, "openInterestAmount": 250.0,
                          "openInterestValue": 1_500_000.0}], okx, 0.01, kind="history")
    assert f["oi_base"].iloc[0] == 2.5 and f["oi_value"].iloc[0] == 1_500_000.0
    assert f["value_currency"].iloc[0] == "USD"
    deribit = BY_NAME["perp:deribit"]      # inverse: contracts of 10 USD, BTC needs a price
    f = _parse.oi_frame([{"timestamp": T0, "openInterestAmount": 300.0,
                          "openInterestValue": None}], deribit, 10.0, kind="snapshot")
    assert np.isnan(f["oi_base"].iloc[0]) and f["oi_value"].iloc[0] == 3000.0
    closes = pd.Series([60_000.0], index=pd.to_datetime([T0 - H], unit="ms", utc=True))
    conv = _parse.oi_to_btc_usd(f, closes, "USD", {})
    assert conv["oi_usd"].iloc[0] == 3000.0 and conv["oi_btc"].iloc[0] == 3000.0 / 60_000.0


def test_oi_usd_uses_the_fx_of_the_value_currency_and_price_known_then():
    binance = BY_NAME["perp:binance"]
    raw = _parse.oi_frame([{"timestamp": T0, "openInterestAmount": 2.0,
                            "openInterestValue": 120_000.0}], binance, 1.0, kind="history")
    assert raw["value_currency"].iloc[0] == "USDT"
    known = pd.to_datetime([T0 - H, T0 + H], unit="ms", utc=True)   # close times
    closes = pd.Series([60_000.0, 99_999.0], index=known)
    usdt = pd.Series([0.999, 2.0], index=known)
    conv = _parse.oi_to_btc_usd(raw, closes, "USDT", {"USDT": usdt})
    assert conv["oi_btc"].iloc[0] == 2.0
    assert conv["oi_usd"].iloc[0] == 120_000.0 * 0.999          # not the later 2.0
    bybit = dataclasses.replace(binance, oi_value=None)        # no value: BTC x USD price
    raw = _parse.oi_frame([{"timestamp": T0, "openInterestAmount": 2.0,
                            "openInterestValue": 5.0}], bybit, 1.0, kind="history")
    conv = _parse.oi_to_btc_usd(raw, closes, "USDT", {"USDT": usdt})
    assert conv["oi_usd"].iloc[0] == 2.0 * (60_000.0 * 0.999)


def test_bitfinex_oi_from_status_rows():
    info = [T0, None, 1, 1, None, 1, None, T0 + 8 * H, 0, 1, None, 0.0001, None, None, 1, None,
            None, 5775.2, None, None, None, 0.0005, 0.0025]
    f = _parse.oi_from_info_rows([{"info": info}, {"info": "garbage"}], 17)
    assert f["oi_base"].tolist() == [5775.2] and f["time"].iloc[0].value // 1_000_000 == T0


@pytest.mark.parametrize("series", ["ohlcv", "funding", "open_interest"])
def test_empty_frames_have_the_schema(series):
    cols = {"ohlcv": _parse.OHLCV_COLUMNS, "funding": _parse.FUNDING_COLUMNS,
            "open_interest": _parse.OI_RAW_COLUMNS}[series]
    f = _parse.empty_frame(cols)
    assert tuple(f.columns) == cols and len(f) == 0
