"""Unit tests for btcflow_nb.timeframes: names, bar labels and anchors."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.timeframes import (
    TIMEFRAMES,
    bar_ms,
    bar_open,
    bar_range,
    check_not_finer,
    infer_resolution,
    next_bar_open,
    ccxt_timeframe,
    normalize_timeframe,
    timeframe_hours,
    to_ms,
    to_timestamp,
)


def T(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def idx(*times: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([T(t) for t in times])


def test_timeframes_tuple():
    assert TIMEFRAMES == ("1h", "4h", "1D", "3D", "1W", "1M")


@pytest.mark.parametrize("given, canonical", [
    ("1h", "1h"), ("4h", "4h"), ("1D", "1D"), ("1d", "1D"), ("3D", "3D"), ("3d", "3D"),
    ("1W", "1W"), ("1w", "1W"), ("1M", "1M"),
])
def test_normalize_timeframe_accepts_canonical_and_ccxt_spellings(given, canonical):
    assert normalize_timeframe(given) == canonical


def test_one_m_is_a_minute_in_ccxt_and_is_refused():
    with pytest.raises(ValueError) as e:
        normalize_timeframe("1m")
    msg = str(e.value)
    assert "'1m'" in msg and "minute" in msg and "'1M'" in msg
    for tf in TIMEFRAMES:
        assert repr(tf) in msg


@pytest.mark.parametrize("bad", ["2h", "", "1y", "15m", None, 5, "1 D"])
def test_unknown_timeframe_names_value_and_choices(bad):
    with pytest.raises(ValueError) as e:
        normalize_timeframe(bad)
    msg = str(e.value)
    assert f"unknown timeframe {bad!r}" in msg
    assert "valid choices: '1h', '4h', '1D', '3D', '1W', '1M'" in msg


def test_timeframe_hours():
    assert [timeframe_hours(tf) for tf in TIMEFRAMES] == [1, 4, 24, 72, 168, 720]
    assert timeframe_hours("1d") == 24


@pytest.mark.parametrize("tf, t, expected", [
    ("1h", "2024-01-01 13:45:10", "2024-01-01 13:00"),
    ("4h", "2024-01-01 13:45", "2024-01-01 12:00"),
    ("4h", "2024-01-01 03:59:59", "2024-01-01 00:00"),
    ("1D", "2024-02-29 23:59:59", "2024-02-29"),
    ("1D", "2024-03-01 00:00", "2024-03-01"),
    # 3D: anchored on the Unix epoch. 2024-01-01 is day 19723 = 3 * 6574 + 1 -> day 19722
    ("3D", "2024-01-01 05:00", "2023-12-31"),
    ("3D", "1970-01-03 23:00", "1970-01-01"),
    ("3D", "1970-01-04 00:00", "1970-01-04"),
    # 1W: Monday 00:00 UTC. 2024-01-03 is a Wednesday; 2024-01-07 a Sunday
    ("1W", "2024-01-03 12:00", "2024-01-01"),
    ("1W", "2024-01-07 23:59:59", "2024-01-01"),
    ("1W", "2024-01-08 00:00", "2024-01-08"),
    ("1W", "1970-01-01 00:00", "1969-12-29"),
    # 1M: calendar months
    ("1M", "2024-02-29 23:00", "2024-02-01"),
    ("1M", "2024-12-31 23:59:59", "2024-12-01"),
    ("1M", "2025-01-01 00:00", "2025-01-01"),
])
def test_bar_open_hand_examples(tf, t, expected):
    out = bar_open(idx(t), tf)
    assert out[0] == T(expected)
    assert str(out.tz) == "UTC"


def test_bar_open_properties_for_every_timeframe():
    rng = np.random.default_rng(11)
    ns = rng.integers(T("2017-01-01").value, T("2027-01-01").value, 2000)
    times = pd.DatetimeIndex(ns).tz_localize("UTC")
    for tf in TIMEFRAMES:
        opens = bar_open(times, tf)
        closes = next_bar_open(opens, tf)
        assert len(opens) == len(times)
        assert (opens <= times).all() and (times < closes).all(), tf
        assert bar_open(opens, tf).equals(opens), tf  # a bar open is its own label
        if tf == "1W":
            assert (opens.day_of_week == 0).all() and (opens.hour == 0).all()
        if tf == "3D":
            assert ((opens - T("1970-01-01")).days % 3 == 0).all()
            assert ((opens - T("1970-01-01")) % pd.Timedelta(days=1) == pd.Timedelta(0)).all()
        if tf == "1M":
            assert (opens.day == 1).all() and (opens.hour == 0).all()
        if tf == "4h":
            assert (opens.hour % 4 == 0).all() and (opens.minute == 0).all()


def test_bar_open_converts_other_zones_and_rejects_naive():
    berlin = pd.DatetimeIndex([pd.Timestamp("2024-01-01 00:30", tz="Europe/Berlin")])
    assert bar_open(berlin, "1D")[0] == T("2023-12-31")  # 23:30 UTC the day before
    with pytest.raises(ValueError, match="naive"):
        bar_open(pd.DatetimeIndex([pd.Timestamp("2024-01-01")]), "1D")
    with pytest.raises(ValueError, match="unknown timeframe '1m'"):
        bar_open(idx("2024-01-01"), "1m")


def test_next_bar_open():
    assert next_bar_open(idx("2024-01-01"), "1M")[0] == T("2024-02-01")
    assert next_bar_open(idx("2024-12-01"), "1M")[0] == T("2025-01-01")
    assert next_bar_open(idx("2024-02-01"), "1M")[0] == T("2024-03-01")
    assert next_bar_open(idx("2024-01-01"), "1W")[0] == T("2024-01-08")
    assert next_bar_open(idx("2023-12-31"), "3D")[0] == T("2024-01-03")
    assert next_bar_open(idx("2024-01-01 20:00"), "4h")[0] == T("2024-01-02")


def test_bar_range():
    weeks = bar_range(T("2024-01-03"), T("2024-01-20"), "1W")
    assert list(weeks) == [T("2024-01-01"), T("2024-01-08"), T("2024-01-15")]
    months = bar_range(T("2024-01-15"), T("2024-04-02"), "1M")
    assert list(months) == [T("2024-01-01"), T("2024-02-01"), T("2024-03-01"), T("2024-04-01")]
    three = bar_range(T("2024-01-01"), T("2024-01-07"), "3D")
    assert list(three) == [T("2023-12-31"), T("2024-01-03"), T("2024-01-06")]


@pytest.mark.parametrize("freq, expected", [
    ("15min", "1h"), ("1h", "1h"), ("4h", "4h"), ("8h", "4h"), ("1D", "1D"), ("3D", "3D"),
    ("7D", "1W"), ("MS", "1M"),
])
def test_infer_resolution(freq, expected):
    index = pd.date_range("2020-01-01", periods=40, freq=freq, tz="UTC")
    assert infer_resolution(index) == expected


def test_infer_resolution_with_gaps_and_too_few_points():
    daily = pd.date_range("2020-01-01", periods=30, freq="D", tz="UTC")
    assert infer_resolution(daily.delete([3, 4, 5, 10])) == "1D"
    assert infer_resolution(daily[:1]) is None
    assert infer_resolution(daily[:0]) is None


def test_check_not_finer():
    assert check_not_finer("1d", "1D") == "1D"
    assert check_not_finer("1M", "1D") == "1M"
    assert check_not_finer("1h", None) == "1h"
    with pytest.raises(ValueError) as e:
        check_not_finer("4h", "1D")
    msg = str(e.value)
    assert "'4h'" in msg and "finer" in msg and "'1D'" in msg
    assert "valid choices for this data: 1D, 3D, 1W, 1M" in msg
    with pytest.raises(ValueError, match="valid choices for this data: 1M"):
        check_not_finer("1W", "1M")


@pytest.mark.parametrize("resolution, tf, valid", [
    ("1W", "1M", "1W"), ("3D", "1W", "3D"), ("3D", "1M", "3D"),
])
def test_check_not_finer_refuses_bars_that_straddle(resolution, tf, valid):
    """A weekly close re-barred to months lands in the month of its Monday: refused."""
    with pytest.raises(ValueError) as e:
        check_not_finer(tf, resolution)
    msg = str(e.value)
    assert f"{tf!r} bars do not contain whole {resolution!r} bars" in msg
    assert msg.endswith(f"valid choices for this data: {valid}")


def test_nesting_pairs_that_are_fine():
    for resolution in ("1h", "4h", "1D"):
        for tf in TIMEFRAMES[TIMEFRAMES.index(resolution):]:
            assert check_not_finer(tf, resolution) == tf
    assert check_not_finer("1W", "1W") == "1W" and check_not_finer("3D", "3D") == "3D"


# ------------------------------------------------------------------ one vocabulary, one parser


@pytest.mark.parametrize("given, ccxt", [("1h", "1h"), ("4H", "4h"), ("1D", "1d"), ("1d", "1d"),
                                         ("3D", "3d"), ("1W", "1w"), ("1w", "1w"), ("1M", "1M")])
def test_ccxt_spelling_round_trips_through_the_canonical_one(given, ccxt):
    assert ccxt_timeframe(given) == ccxt
    assert normalize_timeframe(ccxt) == normalize_timeframe(given)


def test_bar_ms_is_fixed_length_only():
    assert bar_ms("1h") == 3_600_000 and bar_ms("1d") == 86_400_000 and bar_ms("1W") == 7 * 86_400_000
    with pytest.raises(ValueError, match="'1M' has no fixed length.*valid choices: 1h, 4h, 1D"):
        bar_ms("1M")


JAN_1_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC


@pytest.mark.parametrize("value", [
    JAN_1_MS, np.int64(JAN_1_MS), "2024-01-01", "2024-01-01T00:00:00Z", "2024-01-01 01:00+01:00",
    pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-01", tz="UTC"),
    np.datetime64("2024-01-01T00:00"), __import__("datetime").datetime(2024, 1, 1),
])
def test_every_spelling_of_an_instant_is_the_same_instant(value):
    assert to_timestamp(value, "since") == T("2024-01-01")
    assert to_ms(value, "since") == JAN_1_MS


def test_durations_count_back_from_now():
    now_ms = pd.Timestamp.now(tz="UTC").value // 1_000_000
    for value in ("90D", pd.Timedelta(days=90), __import__("datetime").timedelta(days=90)):
        assert abs(to_ms(value) - (now_ms - 90 * 86_400_000)) < 5_000


@pytest.mark.parametrize("bad, hint", [(True, "is not a time"), (1.7e12, "a float is ambiguous"),
                                       ("yesterday-ish", "is not a time"), ("NaT", "is not a time")])
def test_what_is_not_a_time_is_refused_naming_the_argument(bad, hint):
    with pytest.raises(ValueError, match=re.escape(f"until={bad!r}")) as err:
        to_timestamp(bad, "until")
    assert hint in str(err.value) and "epoch milliseconds" in str(err.value)
    assert to_timestamp(None) is None and to_ms(None) is None


def test_an_int_is_epoch_ms_in_fetch_flow_metrics_and_market_data(monkeypatch):
    """The same int means the same instant in all three entry points (issue: three parsers)."""
    import btcflow_nb as bf
    from btcflow_nb.marketdata import MarketData

    md = bf.load_demo()
    by_int = bf.flow_metrics(md, "1D", start=JAN_1_MS, end=JAN_1_MS + 2 * 86_400_000)
    by_str = bf.flow_metrics(md, "1D", start="2024-01-01", end="2024-01-03")
    pd.testing.assert_frame_equal(by_int, by_str)
    assert by_int.index[0] == T("2024-01-01")

    spot = pd.DataFrame({"time": [JAN_1_MS, JAN_1_MS + 86_400_000], "x": [1.0, 2.0]})
    assert list(MarketData.from_frames(spot=spot).spot.index) == [T("2024-01-01"), T("2024-01-02")]
    by_index = pd.DataFrame({"x": [1.0, 2.0]}, index=[JAN_1_MS, JAN_1_MS + 86_400_000])
    assert MarketData.from_frames(spot=by_index).spot.index[0] == T("2024-01-01")
    funding = pd.DataFrame({"venue": ["v"], "time": [JAN_1_MS], "rate": [1e-4], "interval_hours": [8.0]})
    assert MarketData.from_frames(funding=funding).funding["time"].iloc[0] == T("2024-01-01")
    with pytest.raises(ValueError, match="float64 values, not times"):
        MarketData.from_frames(spot=pd.DataFrame({"time": [1.7e12], "x": [1.0]}))
