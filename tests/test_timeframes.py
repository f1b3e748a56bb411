"""Unit tests for btcflow_nb.timeframes: names, bar labels and anchors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.timeframes import (
    TIMEFRAMES,
    bar_open,
    bar_range,
    check_not_finer,
    infer_resolution,
    next_bar_open,
    normalize_timeframe,
    timeframe_hours,
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
