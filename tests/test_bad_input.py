"""Bad input, through the public API: every case is a ValueError whose message names the value
and the valid choices (issue 2, "Bad input"). Nothing is silently dropped."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from btcflow_nb import flow_metrics
from btcflow_nb import indicators as ind
from btcflow_nb.marketdata import MarketData
from btcflow_nb.metrics import venue_funding

TF_CHOICES = "valid choices: '1h', '4h', '1D', '3D', '1W', '1M'"
SPOT_CHOICES = "valid choices: 'coinbase', 'kraken', 'bitstamp', 'binance'"
PERP_CHOICES = "valid choices: 'binance', 'bybit', 'deribit', 'htx', 'hyperliquid', 'okx'"


def _raises(fn, *fragments):
    with pytest.raises(ValueError) as e:
        fn()
    msg = str(e.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    assert "np.float64(" not in msg and "np.int64(" not in msg  # values shown as users wrote them
    return msg


# ---------------------------------------------------------------------------- flow_metrics

FLOW_CASES = [
    # unknown timeframe / venue / choice
    ({"timeframe": "5m"}, ["unknown timeframe '5m'", TF_CHOICES]),
    ({"timeframe": "1m"}, ["unknown timeframe '1m'", "minute", TF_CHOICES]),
    ({"timeframe": "4h"}, ["'4h' is finer than the data's own resolution '1D'",
                           "valid choices for this data: 1D, 3D, 1W, 1M"]),
    ({"spot_venues": ["ftx"]}, ["unknown spot venue(s) 'ftx'", SPOT_CHOICES]),
    ({"spot_venues": "coinbase ", }, ["unknown spot venue(s) 'coinbase '", SPOT_CHOICES]),
    ({"perp_venues": ["bitmex", "okx"]}, ["unknown perp venue(s) 'bitmex'", PERP_CHOICES]),
    ({"perp_venues": []}, ["select at least one perp venue", PERP_CHOICES]),
    ({"futures": "ftx"}, ["unknown futures venue 'ftx'", "valid choices: 'basket', 'deribit'"]),
    ({"futures": "okx", "perp_venues": ["bybit"]}, ["unknown futures venue 'okx'",
                                                     "valid choices: 'basket', 'bybit'"]),
    ({"weighting": "volume"}, ["unknown weighting 'volume'", "valid choices: 'equal', 'oi'"]),
    ({"oi_unit": "eth"}, ["unknown oi_unit 'eth'", "valid choices: 'btc', 'usd'"]),
    # windows
    ({"lookback": 0}, ["lookback must be a whole number of bars >= 1; got 0"]),
    ({"lookback": -5}, ["lookback must be a whole number of bars >= 1; got -5"]),
    ({"lookback": 2.5}, ["lookback must be a whole number of bars >= 1; got 2.5"]),
    ({"lookback": 1}, ["lookback=1 is too short", "valid range: 2.."]),
    # (a lookback longer than the data is no error since issue 12: NaN and a note)
    ({"lookback": "52m"}, ["lookback='52m' is not a lookback ('m' would be a minute; a month is "
                           "'M')", "'365D', '52W', '12M', '4Y'"]),
    ({"lookback": "a year"}, ["lookback='a year' is not a lookback", "D (days), W (weeks)"]),
    ({"timeframe": "1M", "lookback": "20D"}, ["lookback='20D' is 1 1M bar(s), shorter than the 2"]),
    ({"max_gap": -1}, ["max_gap=-1 is not a gap limit", "whole number of base bars >= 0"]),
    ({"max_gap": 1.5}, ["max_gap=1.5 is not a gap limit"]),
    ({"funding_smoothing": 0}, ["funding_smoothing must be a whole number of bars >= 1; got 0"]),
    ({"bb_length": -20}, ["bb_length must be a whole number of bars >= 1; got -20"]),
    ({"trend_length": 0}, ["trend_length must be a whole number of bars >= 1; got 0"]),
    # thresholds out of range
    ({"bb_mult": 0}, ["bb_mult=0 is out of range; valid range: (0, 10]"]),
    ({"bb_mult": 11}, ["bb_mult=11 is out of range; valid range: (0, 10]"]),
    ({"premium_min": -0.5}, ["premium_min=-0.5 is out of range; valid range: [0, inf]"]),
    ({"oi_build_z": 20}, ["oi_build_z=20 is out of range; valid range: [-10, 10]"]),
    ({"oi_hot_z": float("inf")}, ["oi_hot_z=inf is out of range; valid range: [-10, 10]"]),
    ({"oi_hot_z": float("nan")}, ["oi_hot_z must be a number; got nan"]),
    ({"funding_hot": 10}, ["funding_hot=10 is out of range; valid range: [-5, 5]"]),
    ({"bull_oi_z_max": -20}, ["bull_oi_z_max=-20 is out of range; valid range: [-10, 10]"]),
    ({"bull_funding_max": 7}, ["bull_funding_max=7 is out of range; valid range: [-5, 5]"]),
    ({"cycle_k": -0.5}, ["cycle_k=-0.5 is out of range; valid range: [0, 10]"]),
    ({"cycle_m": 5}, ["cycle_m=5 is out of range; valid choices: 1, 2, 3"]),
    ({"cycle_m": 0}, ["cycle_m=0 is out of range; valid choices: 1, 2, 3"]),
    # flags and bounds
    ({"apr": "yes"}, ["apr must be True or False; got 'yes'"]),
    ({"extremes": "no"}, ["extremes must be True or False; got 'no'"]),
    ({"start": "not a date"}, ["start='not a date' is not a time", "'2024-01-01'"]),
    ({"start": "2024-06-01", "end": "2024-01-01"},
     ["start='2024-06-01' is after end='2024-01-01'", "start <= end"]),
]


@pytest.mark.parametrize("kwargs, fragments", FLOW_CASES, ids=[str(k) for k, _ in FLOW_CASES])
def test_flow_metrics_bad_parameters(demo, kwargs, fragments):
    _raises(lambda: flow_metrics(demo, **kwargs), *fragments)


def test_flow_metrics_bad_market_data():
    _raises(lambda: flow_metrics(pd.DataFrame()), "md must be a MarketData; got DataFrame")
    _raises(lambda: flow_metrics(MarketData.from_frames()), "this MarketData is empty",
            "no spot, perp, open-interest or funding rows")


def test_venue_funding_bad_parameters(demo):
    _raises(lambda: venue_funding(demo, "2h"), "unknown timeframe '2h'", TF_CHOICES)
    _raises(lambda: venue_funding(demo, perp_venues=["x"]), "unknown perp venue(s) 'x'", PERP_CHOICES)
    _raises(lambda: venue_funding(demo, funding_smoothing=-1), "funding_smoothing", "got -1")


def test_market_data_queries(demo):
    _raises(lambda: demo.resample("2D"), "unknown timeframe '2D'", TF_CHOICES)
    _raises(lambda: demo.resample("1h"), "'1h' is finer", "valid choices for this data: 1D, 3D, 1W, 1M")
    _raises(lambda: demo.venues("price"), "unknown field 'price'",
            "valid choices: 'spot', 'perp', 'funding', 'open_interest'")


# ---------------------------------------------------------------------------- from_frames

IDX = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC", name="time")


def test_unknown_and_missing_columns():
    f = pd.DataFrame({"venue": ["a"], "time": [IDX[0]], "rate": [1e-4], "interval_hours": [8.0],
                      "symbol": ["BTC"]})
    _raises(lambda: MarketData.from_frames(funding=f), "unexpected column(s) 'symbol'",
            "valid columns: venue, time, rate, interval_hours")
    _raises(lambda: MarketData.from_frames(open_interest=f.drop(columns="symbol")),
            "missing column(s) 'oi_btc', 'oi_usd'", "required columns: venue, time, oi_btc, oi_usd")


def test_empty_frames():
    # a frame with no DatetimeIndex and no 'time' column cannot be placed in time
    _raises(lambda: MarketData.from_frames(spot=pd.DataFrame()), "spot needs a DatetimeIndex",
            "or a 'time' column", "RangeIndex")
    _raises(lambda: MarketData.from_frames(funding=pd.DataFrame()),
            "missing column(s) 'venue', 'time', 'rate', 'interval_hours'")
    # empty frames with the right shape are valid ("any field may be empty") ...
    md = MarketData.from_frames(spot=pd.DataFrame(index=IDX[:0]),
                                funding=pd.DataFrame(columns=["venue", "time", "rate", "interval_hours"]))
    assert md.spot.shape == (0, 0) and len(md.funding) == 0
    # ... but there is nothing to compute on
    _raises(lambda: flow_metrics(md), "this MarketData is empty")


def test_duplicate_venue_columns():
    """Regression: two columns with the same venue name raised AttributeError."""
    frame = pd.DataFrame([[1.0, 2.0]], columns=["okx", "okx"], index=IDX[:1])
    _raises(lambda: MarketData.from_frames(perp=frame), "perp has duplicate column 'okx'",
            "one column per venue")


def test_duplicate_timestamps():
    dup = pd.DatetimeIndex([IDX[0], IDX[1], IDX[1]], name="time")
    _raises(lambda: MarketData.from_frames(perp=pd.DataFrame({"okx": [1.0, 2.0, 2.0]}, index=dup)),
            "perp has duplicate timestamp 2024-01-02 00:00:00+00:00 (1 duplicates)",
            "frame[~frame.index.duplicated(keep='last')]")
    f = pd.DataFrame({"venue": ["a", "a"], "time": [IDX[0], IDX[0]], "rate": [1e-4, 2e-4],
                      "interval_hours": [8.0, 8.0]})
    _raises(lambda: MarketData.from_frames(funding=f),
            "conflicting duplicate rows for venue 'a' at 2024-01-01 00:00:00+00:00", "keep one")
    # identical duplicates are the documented exception: collapsed to one row, nothing lost
    same = pd.concat([f.iloc[:1], f.iloc[:1]], ignore_index=True)
    assert len(MarketData.from_frames(funding=same).funding) == 1


def test_unsorted_input():
    rev = IDX[::-1]
    _raises(lambda: MarketData.from_frames(spot=pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=rev)),
            "spot index is not sorted", "2024-01-02 00:00:00+00:00 comes after 2024-01-03", ".sort_index()")
    oi = pd.DataFrame({"venue": ["a", "a"], "time": [IDX[1], IDX[0]], "oi_btc": [1.0, 1.0],
                       "oi_usd": [1.0, 1.0]})
    _raises(lambda: MarketData.from_frames(open_interest=oi),
            "open_interest for venue 'a' is not in time order", "sort by ['venue', 'time']")


def test_naive_time_zones():
    naive = pd.date_range("2024-01-01", periods=2)
    _raises(lambda: MarketData.from_frames(spot=pd.DataFrame({"a": [1.0, 2.0]}, index=naive)),
            "spot has time-zone-naive timestamps", "naive_tz='UTC'", ".tz_localize('UTC')")


def test_bad_values_name_the_value():
    _raises(lambda: MarketData.from_frames(spot=pd.DataFrame({"a": [1.0, -2.0, 3.0]}, index=IDX)),
            "spot column 'a' has a non-positive or infinite price -2.0 at 2024-01-02",
            "closes must be > 0 USD (use NaN for a missing bar)")
    f = pd.DataFrame({"venue": ["a"], "time": [IDX[0]], "rate": [1e-4], "interval_hours": [0.0]})
    _raises(lambda: MarketData.from_frames(funding=f), "'interval_hours' has 0.0 at",
            "valid range: (0, 168] hours")
    f = f.assign(interval_hours=8.0, rate=0.07)
    _raises(lambda: MarketData.from_frames(funding=f), "'rate' has 0.07 at", "not percent")
    oi = pd.DataFrame({"venue": ["a"], "time": [IDX[0]], "oi_btc": [-3.0], "oi_usd": [1.0]})
    _raises(lambda: MarketData.from_frames(open_interest=oi), "'oi_btc' is negative (-3.0)", ">= 0")
    _raises(lambda: MarketData.from_frames(spot=pd.DataFrame({"a": [1.0]}, index=IDX[:1]),
                                           spot_quotes={"a": "EUR"}),
            "'EUR'", "valid choices: 'USD', 'USDT', 'USDC'")
    _raises(lambda: MarketData.from_frames(meta={"source": "web"}), "unknown meta source 'web'",
            "valid choices: 'demo', 'live', 'cache', 'frames'")


# ---------------------------------------------------------------------------- indicators


@pytest.mark.parametrize("fn", [ind.sma, ind.stdev, ind.zscore])
@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_indicator_windows(fn, bad):
    _raises(lambda: fn([1.0, 2.0, 3.0], bad), f"got {bad!r}", ">= 1")


def test_indicator_other_parameters():
    _raises(lambda: ind.bollinger([1.0, 2.0], 2, -1.0), "mult=-1.0 is out of range", "valid range: [0, inf]")
    _raises(lambda: ind.annualize_funding(1e-4, -8), "interval_hours must be > 0; got -8")
    _raises(lambda: ind.oi_at_bar_close(pd.DataFrame(columns=["venue", "time", "oi_btc", "oi_usd"]),
                                        IDX, "1D", unit="contracts"),
            "unknown oi unit 'contracts'", "valid choices: 'btc', 'usd'")
    _raises(lambda: ind.oi_at_bar_close(pd.DataFrame(columns=["venue", "time", "oi_btc", "oi_usd"]),
                                        IDX, "7D"), "unknown timeframe '7D'", TF_CHOICES)
    _raises(lambda: ind.funding_twap(pd.DataFrame(columns=["venue", "time", "rate", "interval_hours"]),
                                     IDX, IDX, min_coverage=-0.1),
            "min_coverage=-0.1 is out of range; valid range: [0, 1]")


def test_every_message_pattern_is_informative():
    """Meta-check: the parametrised cases above all quote the offending value."""
    for kwargs, fragments in FLOW_CASES:
        value = list(kwargs.values())[-1]
        shown = repr(value) if isinstance(value, str) else re.sub(r"\.0$", "", str(value))
        assert any(shown.strip("'[]") in f for f in fragments) or isinstance(value, list), kwargs


def test_numpy_scalars_are_accepted_and_shown_plainly(demo):
    """Regression: np.int64(20) was refused as a window ('must be a whole number ... got
    np.int64(20)'); parameters computed with numpy are ordinary numbers."""
    a = flow_metrics(demo, "1W", lookback=np.int64(26), bb_length=np.int32(20),
                     cycle_m=np.int64(2), premium_min=np.float64(0.0))
    b = flow_metrics(demo, "1W", lookback=26, bb_length=20, cycle_m=2, premium_min=0.0)
    pd.testing.assert_frame_equal(a, b)
    assert ind.sma([1.0, 2.0, 3.0], np.int64(2)).tolist()[1:] == [1.5, 2.5]
    _raises(lambda: ind.sma([1.0, 2.0], np.int64(-3)), "got -3")
    _raises(lambda: flow_metrics(demo, oi_hot_z=np.float64(11.5)), "oi_hot_z=11.5 is out of range")


def test_wrong_types_are_value_errors_not_crashes(demo):
    """Regression: these raised ZoneInfoNotFoundError, TypeError or AttributeError, or (for two
    plain lists of different lengths) silently returned NaN for the unmatched bars."""
    naive = pd.DataFrame({"a": [1.0, 2.0]}, index=pd.date_range("2024-01-01", periods=2))
    _raises(lambda: MarketData.from_frames(spot=naive, naive_tz="Mars/Olympus"),
            "naive_tz='Mars/Olympus' is not a time zone", "'UTC'")
    _raises(lambda: flow_metrics(demo, spot_venues=5), "spot venues must be a venue name or a list",
            "got 5", SPOT_CHOICES)
    _raises(lambda: flow_metrics(demo, perp_venues={"okx": 1}), "got {'okx': 1}", PERP_CHOICES)
    _raises(lambda: ind.premium_pct([1.0], [1.0, 2.0]), "must have the same length; got 1 and 2")
    _raises(lambda: ind.premium_abs([1.0, 2.0], [1.0]), "must have the same length; got 2 and 1")
    _raises(lambda: ind.basket([1.0, 2.0]), "prices must be a wide DataFrame", "got list")
    _raises(lambda: ind.aggregate_oi([1.0, 2.0]), "oi must be a wide DataFrame", "got list")


def test_windows_longer_than_the_data_are_no_error_but_a_note(demo):
    """Issue 12: a lookback, band length, trend length or smoothing longer than the data gives
    NaN where it is needed and a note, never an exception."""
    m = flow_metrics(demo, "1M", lookback=97, bb_length=200, trend_length="10Y",
                     funding_smoothing=500)
    assert m["premium_z"].isna().all() and m["bb_upper"].isna().all()
    assert m["premium_trend"].isna().all() and m["funding"].isna().all()
    assert "premium_z: lookback 97 bars > 96 bars of data (1M)" in m.attrs["notes"]
    assert "bb_*: bb_length 200 bars > 96 bars of data (1M)" in m.attrs["notes"]
    assert "premium_trend: trend_length 120 bars > 96 bars of data (1M)" in m.attrs["notes"]
    assert "funding: funding_smoothing 500 bars > 96 bars of data (1M)" in m.attrs["notes"]
    assert not m[["bullish", "bearish", "alert_premium_high"]].any().any()
    assert m["spot"].notna().all()
