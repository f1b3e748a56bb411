"""Unit tests for btcflow_nb.marketdata.MarketData: validation, time zones, quotes, coverage,
resampling to every timeframe."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.marketdata import FUNDING_COLUMNS, OI_COLUMNS, MarketData
from btcflow_nb.timeframes import TIMEFRAMES

NAN = np.nan


def T(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def daily(n=5, start="2024-01-01", **cols) -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq="D", tz="UTC", name="time")
    return pd.DataFrame(cols, index=index)


def funding_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(FUNDING_COLUMNS))


def oi_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(OI_COLUMNS))


# ---------------------------------------------------------------------------- construction


def test_from_frames_minimal_fields_and_dtypes():
    md = MarketData.from_frames(spot=daily(3, a=[100.0, 101.0, 102.0]),
                                perp=daily(3, b=[99, 100, 101]))
    for frame in (md.spot, md.perp):
        assert frame.index.name == "time" and str(frame.index.tz) == "UTC"
        assert (frame.dtypes == "float64").all()
    assert md.perp["b"].tolist() == [99.0, 100.0, 101.0]
    assert list(md.funding.columns) == list(FUNDING_COLUMNS) and len(md.funding) == 0
    assert list(md.open_interest.columns) == list(OI_COLUMNS) and len(md.open_interest) == 0
    assert md.resolution == "1D"
    assert md.meta["venues"] == {"spot": ["a"], "perp": ["b"], "funding": [], "open_interest": [],
                                 "futures": []}


def test_all_fields_omitted_gives_empty_frames_and_default_meta():
    md = MarketData.from_frames()
    assert md.spot.shape == (0, 0) and md.perp.shape == (0, 0) and md.fx.shape == (0, 0)
    assert len(md.funding) == 0 and len(md.open_interest) == 0
    assert md.resolution is None
    meta = md.meta
    assert meta["source"] == "frames" and meta["synthetic"] is False
    assert meta["fetched_at"] is None and meta["notes"] == [] and meta["errors"] == {}
    assert meta["quote_conversion"] == {}
    assert meta["venues"] == {"spot": [], "perp": [], "funding": [], "open_interest": [],
                              "futures": []}
    assert "MarketData source='frames'" in repr(md)


def test_meta_extra_keys_kept_and_source_validated():
    md = MarketData.from_frames(spot=daily(2, a=[1.0, 2.0]),
                                meta={"source": "live", "fetched_at": "2024-01-01T00:00:00Z",
                                      "notes": ["x"], "my_key": 42})
    assert md.meta["source"] == "live" and md.meta["my_key"] == 42
    assert md.meta["fetched_at"] == "2024-01-01T00:00:00Z" and md.meta["notes"] == ["x"]
    with pytest.raises(ValueError) as e:
        MarketData.from_frames(meta={"source": "web"})
    assert "'web'" in str(e.value) and "'demo', 'live', 'cache', 'frames'" in str(e.value)


def test_wide_frame_from_time_column_or_series():
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=2, tz="UTC"),
                          "a": [1.0, 2.0]})
    md = MarketData.from_frames(spot=frame)
    assert list(md.spot.columns) == ["a"] and md.spot.index[1] == T("2024-01-02")
    s = pd.Series([5.0, 6.0], index=pd.date_range("2024-01-01", periods=2, tz="UTC"), name="kraken")
    assert MarketData.from_frames(spot=s).venues("spot") == ["kraken"]


# ---------------------------------------------------------------------------- time zones


def test_naive_timestamps_rejected_everywhere():
    naive = pd.date_range("2024-01-01", periods=3, freq="D")
    with pytest.raises(ValueError, match="spot has time-zone-naive timestamps; pass naive_tz='UTC'"):
        MarketData.from_frames(spot=pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=naive))
    with pytest.raises(ValueError, match="fx has time-zone-naive"):
        MarketData.from_frames(fx=pd.DataFrame({"USDT": [1.0, 1.0, 1.0]}, index=naive))
    with pytest.raises(ValueError, match="funding column 'time' has time-zone-naive"):
        MarketData.from_frames(funding=funding_frame([("a", naive[0], 1e-4, 8.0)]))
    with pytest.raises(ValueError, match="open_interest column 'time' has time-zone-naive"):
        MarketData.from_frames(open_interest=oi_frame([("a", naive[0], 1.0, 1.0)]))


def test_naive_timestamps_localised_with_naive_tz():
    naive = pd.date_range("2024-01-01", periods=3, freq="D")
    md = MarketData.from_frames(spot=pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=naive),
                                funding=funding_frame([("a", naive[1], 1e-4, 8.0)]),
                                naive_tz="UTC")
    assert md.spot.index[0] == T("2024-01-01") and str(md.spot.index.tz) == "UTC"
    assert md.funding["time"].iloc[0] == T("2024-01-02")
    # another zone: local midnight in Berlin (UTC+1 in winter) is 23:00 UTC the day before
    md = MarketData.from_frames(spot=pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=naive),
                                naive_tz="Europe/Berlin")
    assert md.spot.index[0] == T("2023-12-31 23:00")
    # aware timestamps in another zone are converted to UTC
    aware = pd.date_range("2024-01-01", periods=2, freq="D", tz="America/New_York")
    md = MarketData.from_frames(perp=pd.DataFrame({"b": [1.0, 2.0]}, index=aware))
    assert md.perp.index[0] == T("2024-01-01 05:00") and str(md.perp.index.tz) == "UTC"


# ---------------------------------------------------------------------------- wide validation


def test_duplicate_timestamps_in_wide_frames_rejected():
    index = pd.DatetimeIndex([T("2024-01-01"), T("2024-01-02"), T("2024-01-02")], name="time")
    with pytest.raises(ValueError) as e:
        MarketData.from_frames(spot=pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=index))
    assert "duplicate timestamp 2024-01-02 00:00:00+00:00" in str(e.value)
    assert "keep='last'" in str(e.value)


def test_unsorted_wide_frames_rejected():
    index = pd.DatetimeIndex([T("2024-01-02"), T("2024-01-01"), T("2024-01-03")], name="time")
    with pytest.raises(ValueError) as e:
        MarketData.from_frames(perp=pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=index))
    msg = str(e.value)
    assert "perp index is not sorted" in msg and "2024-01-01 00:00:00+00:00 comes after 2024-01-02" in msg
    assert ".sort_index()" in msg


@pytest.mark.parametrize("bad", [0.0, -5.0, -np.inf])
def test_non_positive_prices_rejected_but_nan_allowed(bad):
    with pytest.raises(ValueError) as e:
        MarketData.from_frames(spot=daily(3, a=[1.0, bad, 2.0]))
    assert "spot column 'a'" in str(e.value) and "2024-01-02" in str(e.value)
    md = MarketData.from_frames(spot=daily(3, a=[1.0, NAN, 2.0]))
    assert np.isnan(md.spot["a"].iloc[1])


def test_infinite_and_non_numeric_prices_rejected():
    with pytest.raises(ValueError, match="infinite"):
        MarketData.from_frames(spot=daily(2, a=[1.0, np.inf]))
    with pytest.raises(ValueError, match="spot column 'a' is not numeric"):
        MarketData.from_frames(spot=daily(2, a=["x", "y"]))
    with pytest.raises(ValueError, match="venue names must be non-empty strings"):
        MarketData.from_frames(spot=pd.DataFrame({0: [1.0]}, index=pd.DatetimeIndex([T("2024-01-01")])))
    with pytest.raises(ValueError, match="needs a DatetimeIndex"):
        MarketData.from_frames(spot=pd.DataFrame({"a": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="must be a pandas DataFrame; got list"):
        MarketData.from_frames(spot=[1.0, 2.0])


# ---------------------------------------------------------------------------- long validation


def test_long_frames_missing_and_extra_columns_named():
    with pytest.raises(ValueError) as e:
        MarketData.from_frames(funding=pd.DataFrame({"venue": ["a"], "time": [T("2024-01-01")],
                                                     "rate": [1e-4]}))
    assert "missing column(s) 'interval_hours'" in str(e.value)
    assert "required columns: venue, time, rate, interval_hours" in str(e.value)
    frame = oi_frame([("a", T("2024-01-01"), 1.0, 1.0)]).assign(oi_eth=1.0)
    with pytest.raises(ValueError) as e:
        MarketData.from_frames(open_interest=frame)
    assert "unexpected column(s) 'oi_eth'" in str(e.value)
    assert "valid columns: venue, time, oi_btc, oi_usd" in str(e.value)


def test_long_frames_interleaved_venues_are_sorted_by_venue_then_time():
    f = funding_frame([("b", T("2024-01-01 08:00"), 1e-4, 8.0), ("a", T("2024-01-01 08:00"), 2e-4, 8.0),
                       ("b", T("2024-01-01 16:00"), 3e-4, 8.0)])
    md = MarketData.from_frames(funding=f)
    assert md.funding["venue"].tolist() == ["a", "b", "b"]
    assert md.funding["rate"].tolist() == [2e-4, 1e-4, 3e-4]
    assert md.venues("funding") == ["a", "b"]


def test_long_frames_unsorted_within_a_venue_rejected():
    f = funding_frame([("a", T("2024-01-01 16:00"), 1e-4, 8.0), ("a", T("2024-01-01 08:00"), 1e-4, 8.0)])
    with pytest.raises(ValueError) as e:
        MarketData.from_frames(funding=f)
    msg = str(e.value)
    assert "venue 'a' is not in time order" in msg and "2024-01-01 08:00:00+00:00" in msg
    assert "sort by ['venue', 'time']" in msg


def test_long_frames_exact_duplicates_collapse_conflicting_ones_raise():
    row = ("a", T("2024-01-01"), 10.0, 1e6)
    md = MarketData.from_frames(open_interest=oi_frame([row, row, ("a", T("2024-01-02"), 11.0, 1.1e6)]))
    assert len(md.open_interest) == 2  # documented rule: identical rows collapse to one
    assert md.open_interest["oi_btc"].tolist() == [10.0, 11.0]
    with pytest.raises(ValueError) as e:
        MarketData.from_frames(open_interest=oi_frame([row, ("a", T("2024-01-01"), 12.0, 1e6)]))
    assert "conflicting duplicate rows for venue 'a' at 2024-01-01 00:00:00+00:00" in str(e.value)


def test_funding_validation():
    t = T("2024-01-01 08:00")
    with pytest.raises(ValueError, match="funding column 'rate' is NaN"):
        MarketData.from_frames(funding=funding_frame([("a", t, NAN, 8.0)]))
    for bad in (0.0, -8.0, 169.0):
        with pytest.raises(ValueError) as e:
            MarketData.from_frames(funding=funding_frame([("a", t, 1e-4, bad)]))
        assert "'interval_hours' has" in str(e.value) and repr(bad) in str(e.value)
        assert "valid range: (0, 168] hours" in str(e.value)
    with pytest.raises(ValueError, match="larger than 0.05 per interval"):
        MarketData.from_frames(funding=funding_frame([("a", t, 0.06, 8.0)]))
    # rates given in percent (0.01 meaning 0.01 %) are caught by their median
    times = pd.date_range("2024-01-01 08:00", periods=12, freq="8h", tz="UTC")
    pct = funding_frame([("a", tt, 0.01, 8.0) for tt in times])
    with pytest.raises(ValueError, match="looks like percent"):
        MarketData.from_frames(funding=pct)
    with pytest.raises(ValueError, match="invalid venue name"):
        MarketData.from_frames(funding=funding_frame([("", t, 1e-4, 8.0)]))


def test_negative_open_interest_rejected():
    with pytest.raises(ValueError) as e:
        MarketData.from_frames(open_interest=oi_frame([("a", T("2024-01-01"), -1.0, 5.0)]))
    assert "'oi_btc' is negative" in str(e.value) and "-1.0" in str(e.value)


# ---------------------------------------------------------------------------- quotes


def test_usdt_quotes_converted_with_fx_and_recorded():
    fx = daily(3, USDT=[0.99, 1.01, 1.0])
    spot = daily(3, coinbase=[100.0, 100.0, 100.0], binance=[100.0, 200.0, 300.0])
    md = MarketData.from_frames(spot=spot, fx=fx, spot_quotes={"binance": "USDT", "coinbase": "USD"})
    assert md.spot["binance"].tolist() == pytest.approx([99.0, 202.0, 300.0], rel=1e-15)
    assert md.spot["coinbase"].tolist() == [100.0, 100.0, 100.0]
    conv = md.meta["quote_conversion"]
    assert conv["spot:binance"] == "USDT converted to USD with the USDT/USD series"
    assert conv["spot:coinbase"] == "USD (as given)"


def test_fx_is_carried_forward_between_samples():
    fx = pd.DataFrame({"USDC": [0.98, 1.02]},
                      index=pd.DatetimeIndex([T("2024-01-01"), T("2024-01-03")], name="time"))
    perp = daily(4, hl=[100.0, 100.0, 100.0, 100.0])
    md = MarketData.from_frames(perp=perp, fx=fx, perp_quotes={"hl": "USDC"})
    assert md.perp["hl"].tolist() == pytest.approx([98.0, 98.0, 102.0, 102.0], rel=1e-15)


def test_stablecoin_quote_without_fx_is_kept_raw_and_meta_says_so():
    md = MarketData.from_frames(perp=daily(2, bybit=[100.0, 101.0]), perp_quotes={"bybit": "USDT"})
    assert md.perp["bybit"].tolist() == [100.0, 101.0]
    assert md.meta["quote_conversion"]["perp:bybit"] == \
        "raw USDT quote used as USD (no USDT/USD series available)"
    # an fx frame without that column is the same as none
    md = MarketData.from_frames(perp=daily(2, bybit=[100.0, 101.0]), perp_quotes={"bybit": "USDC"},
                                fx=daily(2, USDT=[1.0, 1.0]))
    assert "raw USDC quote" in md.meta["quote_conversion"]["perp:bybit"]


def test_quote_errors_name_value_and_choices():
    with pytest.raises(ValueError) as e:
        MarketData.from_frames(spot=daily(2, a=[1.0, 2.0]), spot_quotes={"zz": "USDT"})
    assert "'zz'" in str(e.value) and "valid choices: ['a']" in str(e.value)
    with pytest.raises(ValueError) as e:
        MarketData.from_frames(spot=daily(2, a=[1.0, 2.0]), spot_quotes={"a": "EUR"})
    assert "'EUR'" in str(e.value) and "'USD', 'USDT', 'USDC'" in str(e.value)


# ---------------------------------------------------------------------------- queries


def test_venues_excludes_columns_without_data_and_validates_field():
    md = MarketData.from_frames(spot=daily(2, a=[1.0, 2.0], b=[NAN, NAN]))
    assert md.venues("spot") == ["a"]
    with pytest.raises(ValueError) as e:
        md.venues("prices")
    assert "unknown field 'prices'" in str(e.value)
    assert "'spot', 'perp', 'funding', 'open_interest'" in str(e.value)


def test_coverage_first_last_rows_gaps():
    spot = daily(8, a=[NAN, 1.0, 1.0, NAN, NAN, 1.0, NAN, 1.0], b=[1.0] * 8, c=[NAN] * 8)
    ftimes = [T("2024-01-01 08:00"), T("2024-01-01 16:00"), T("2024-01-02 00:00"),
              T("2024-01-03 00:00"), T("2024-01-03 08:00")]
    md = MarketData.from_frames(
        spot=spot,
        funding=funding_frame([("f", t, 1e-4, 8.0) for t in ftimes]),
        open_interest=oi_frame([("o", T("2024-01-01"), 1.0, 2.0), ("o", T("2024-01-02"), 1.0, 2.0)]),
    )
    cov = md.coverage()
    assert list(cov.columns) == ["field", "venue", "first", "last", "rows", "gaps"]
    rows = {(r.field, r.venue): r for r in cov.itertuples()}
    assert ("spot", "c") not in rows  # no data at all: nothing to cover
    a = rows[("spot", "a")]
    assert (a.first, a.last, a.rows, a.gaps) == (T("2024-01-02"), T("2024-01-08"), 4, 2)
    b = rows[("spot", "b")]
    assert (b.first, b.last, b.rows, b.gaps) == (T("2024-01-01"), T("2024-01-08"), 8, 0)
    f = rows[("funding", "f")]
    assert (f.first, f.last, f.rows, f.gaps) == (ftimes[0], ftimes[-1], 5, 1)  # the 24h hole
    o = rows[("open_interest", "o")]
    assert (o.rows, o.gaps) == (2, 0)


def test_select_restricts_venues_and_funding_follows_perp():
    md = MarketData.from_frames(
        spot=daily(2, a=[1.0, 2.0], b=[1.0, 2.0]), perp=daily(2, x=[1.0, 2.0], y=[1.0, 2.0]),
        funding=funding_frame([("x", T("2024-01-01 08:00"), 1e-4, 8.0),
                               ("y", T("2024-01-01 08:00"), 1e-4, 8.0)]))
    sub = md.select(spot_venues=["b"], perp_venues="y")
    assert list(sub.spot.columns) == ["b"] and list(sub.perp.columns) == ["y"]
    assert sub.funding["venue"].tolist() == ["y"]
    with pytest.raises(ValueError) as e:
        md.select(perp_venues=["nope"])
    assert "unknown perp venue(s) 'nope'; valid choices: 'x', 'y'" in str(e.value)
    with pytest.raises(ValueError, match="select at least one spot venue"):
        md.select(spot_venues=[])


# ---------------------------------------------------------------------------- resample


@pytest.fixture(scope="module")
def hourly():
    """Hourly closes 2024-01-01 (a Monday) .. 2024-03-31 23:00 equal to the hour number, OI
    sampled every 8 h (value = hour number), hourly funding."""
    idx = pd.date_range("2024-01-01", "2024-03-31 23:00", freq="h", tz="UTC", name="time")
    h = np.arange(len(idx), dtype=float)
    spot = pd.DataFrame({"a": h + 1000.0}, index=idx)
    perp = pd.DataFrame({"p": h + 2000.0}, index=idx)
    perp.iloc[23, 0] = NAN  # the last hour of Jan 1 is missing: 1D takes the last valid close
    t8 = idx[::8]
    oi = oi_frame({"venue": "p", "time": t8, "oi_btc": np.arange(len(t8), dtype=float),
                   "oi_usd": np.arange(len(t8), dtype=float) * 10})
    fund = funding_frame({"venue": "p", "time": idx + pd.Timedelta(hours=1), "rate": 1e-5,
                          "interval_hours": 1.0})
    return MarketData.from_frames(spot=spot, perp=perp, funding=fund, open_interest=oi)




@pytest.mark.parametrize("tf", TIMEFRAMES)
def test_resample_every_timeframe_last_close_and_last_oi_sample(hourly, tf):
    out = hourly.resample(tf)
    assert out.resolution == tf and out.meta["timeframe"] == tf
    assert hourly.resolution == "1h"  # the original is untouched
    labels = out.spot.index
    assert labels.name == "time" and str(labels.tz) == "UTC" and labels.is_monotonic_increasing
    src = hourly.spot["a"]
    for i, lab in enumerate(labels):
        nxt = labels[i + 1] if i + 1 < len(labels) else src.index[-1] + pd.Timedelta(hours=1)
        inside = src[(src.index >= lab) & (src.index < nxt)]
        assert out.spot["a"].iloc[i] == inside.iloc[-1], (tf, lab)
    expected_first = {"1h": "2024-01-01", "4h": "2024-01-01", "1D": "2024-01-01",
                      "3D": "2023-12-31", "1W": "2024-01-01", "1M": "2024-01-01"}[tf]
    assert labels[0] == T(expected_first)
    if tf == "1W":
        assert (labels.day_of_week == 0).all()
        assert out.spot["a"].iloc[0] == 1000.0 + 7 * 24 - 1  # Sunday 23:00
    if tf == "3D":
        assert ((labels - T("1970-01-01")).days % 3 == 0).all()
        assert out.spot["a"].iloc[0] == 1000.0 + 2 * 24 - 1  # the bar 2023-12-31..01-02 ends Jan 2
    if tf == "1M":
        assert list(labels) == [T("2024-01-01"), T("2024-02-01"), T("2024-03-01")]
        assert out.spot["a"].tolist() == [1000.0 + 31 * 24 - 1, 1000.0 + 60 * 24 - 1,
                                          1000.0 + 91 * 24 - 1]
    if tf == "1D":
        assert out.perp["p"].iloc[0] == 2000.0 + 22  # 23:00 missing -> last valid close 22:00
        assert out.perp["p"].iloc[1] == 2000.0 + 47
    # OI: last sample per bar, labelled with the bar's open time
    oi = out.open_interest
    assert set(oi["time"]) <= set(labels)
    raw = hourly.open_interest
    for _, row in oi.iterrows():
        nxt = row["time"] + (pd.offsets.MonthBegin(1) if tf == "1M" else
                             pd.Timedelta(hours={"1h": 1, "4h": 4, "1D": 24, "3D": 72, "1W": 168}[tf]))
        inside = raw[(raw["time"] >= row["time"]) & (raw["time"] < nxt)]
        assert row["oi_btc"] == inside["oi_btc"].iloc[-1]
        assert row["oi_usd"] == inside["oi_usd"].iloc[-1]
    # funding events stay events: untouched
    pd.testing.assert_frame_equal(out.funding, hourly.funding)


def test_resample_finer_than_resolution_is_an_error(demo):
    with pytest.raises(ValueError) as e:
        demo.resample("4h")
    msg = str(e.value)
    assert "'4h' is finer than the data's own resolution '1D'" in msg
    assert "valid choices for this data: 1D, 3D, 1W, 1M" in msg
    with pytest.raises(ValueError, match="unknown timeframe '1m'"):
        demo.resample("1m")
    weekly = demo.resample("1W")
    with pytest.raises(ValueError, match="finer"):
        weekly.resample("1D")
    assert weekly.resample("1W").resolution == "1W"


def test_resample_to_own_resolution_keeps_the_data(demo):
    same = demo.resample("1D")
    pd.testing.assert_frame_equal(same.spot, demo.spot)
    pd.testing.assert_frame_equal(same.perp, demo.perp)


def test_weekly_data_cannot_be_rebarred_to_months(demo):
    """Regression: weekly -> monthly put the close of the week Mon 2018-01-29 .. Sun 02-04 into
    January (7026.95 instead of January's own last close 7853.42). Now refused."""
    weekly = demo.resample("1W")
    with pytest.raises(ValueError, match="'1M' bars do not contain whole '1W' bars"):
        weekly.resample("1M")
    from btcflow_nb import flow_metrics

    with pytest.raises(ValueError, match="valid choices for this data: 1W"):
        flow_metrics(weekly, "1M", lookback=12)
    monthly = demo.resample("1M")  # from the daily data: January's own last close
    assert monthly.spot.loc[T("2018-01-01"), "coinbase"] == demo.spot.loc[T("2018-01-31"), "coinbase"]


def test_closes_before_the_fx_series_starts_are_kept_raw_not_dropped():
    """Regression: closes before the first USDT/USD value became NaN while meta said
    'converted' (partial data silently dropped)."""
    fx = pd.DataFrame({"USDT": [0.99, 0.98]},
                      index=pd.DatetimeIndex([T("2024-01-03"), T("2024-01-04")], name="time"))
    spot = daily(4, b=[100.0, NAN, 102.0, 103.0])
    md = MarketData.from_frames(spot=spot, fx=fx, spot_quotes={"b": "USDT"})
    assert_values = md.spot["b"].tolist()
    assert assert_values[0] == 100.0 and np.isnan(assert_values[1])
    assert assert_values[2:] == pytest.approx([102.0 * 0.99, 103.0 * 0.98], rel=1e-15)
    note = md.meta["quote_conversion"]["spot:b"]
    assert note.startswith("USDT converted to USD with the USDT/USD series")
    assert "raw USDT quote kept for 1 bar(s) before the series starts (2024-01-03" in note


def test_resampled_oi_takes_the_last_known_value_per_column(hourly):
    """Regression: resample() took the bar's last OI row even when its oi_btc was missing, while
    flow_metrics takes the last known value, so flow_metrics(md.resample(tf), tf) lost bars."""
    oi = hourly.open_interest.copy()
    oi.loc[2, "oi_btc"] = NAN  # the 16:00 sample of Jan 1 (last of the day): oi_btc unknown
    oi.loc[5, "oi_usd"] = NAN  # the 16:00 sample of Jan 2: oi_usd unknown
    oi.loc[6:8, "oi_btc"] = NAN  # all of Jan 3: nothing known
    md = MarketData.from_frames(spot=hourly.spot, perp=hourly.perp, funding=hourly.funding,
                                open_interest=oi)
    day = md.resample("1D").open_interest.set_index("time")
    assert day.loc[T("2024-01-01"), "oi_btc"] == 1.0  # 08:00 sample
    assert day.loc[T("2024-01-01"), "oi_usd"] == 20.0  # 16:00 sample
    assert day.loc[T("2024-01-02"), "oi_btc"] == 5.0 and day.loc[T("2024-01-02"), "oi_usd"] == 40.0
    assert np.isnan(day.loc[T("2024-01-03"), "oi_btc"]) and day.loc[T("2024-01-03"), "oi_usd"] == 80.0
    from btcflow_nb import flow_metrics

    # OI columns only: prices differ on purpose since issue 12 (resample keeps a venue's stale
    # last close, here perp's 22:00 close in the 20:00 bar; flow_metrics takes the basket of the
    # bar's last base bar where both baskets exist)
    oi_cols = ["oi_total", "oi_z"]
    for tf in ("4h", "1D", "1W", "1M"):
        pd.testing.assert_frame_equal(flow_metrics(md.resample(tf), tf, lookback=2)[oi_cols],
                                      flow_metrics(md, tf, lookback=2)[oi_cols], obj=tf)
        pd.testing.assert_frame_equal(
            flow_metrics(md.resample(tf), tf, lookback=2, oi_unit="usd")[oi_cols],
            flow_metrics(md, tf, lookback=2, oi_unit="usd")[oi_cols], obj=tf)
