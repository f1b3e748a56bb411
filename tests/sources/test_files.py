"""CSV exports (generated here in each documented format) import equal to the truth; bad input
is refused naming the file, line and column, and nothing is merged."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.sources.assemble import from_cache
from btcflow_nb.sources.files import read_file
from btcflow_nb.sources.imports import import_file

DAYS = pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC")
CLOSE = np.linspace(40000, 49000, 10)


def _tv(path, iso=False):
    t = [d.isoformat() for d in DAYS] if iso else DAYS.as_unit("s").asi8
    pd.DataFrame({"time": t, "open": CLOSE - 5, "high": CLOSE + 10, "low": CLOSE - 10,
                  "close": CLOSE, "Volume": 3.0, "Plot": 1}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("iso", [False, True])
def test_tradingview_export_equals_the_truth(tmp_path, iso):
    out = read_file(_tv(tmp_path / "BINANCE_BTCUSDT.P, 1D.csv", iso), "tradingview",
                    venue="perp:binance")
    f = out[("perp:binance", "ohlcv")]
    assert list(pd.DatetimeIndex(f["time"])) == list(DAYS)
    np.testing.assert_allclose(f["close"], CLOSE)
    np.testing.assert_allclose(f["volume"], 3.0)


def test_coinalyze_usd_oi_converted_with_the_venue_close_and_recorded(tmp_path):
    import_file(_tv(tmp_path / "tv.csv"), "tradingview", venue="perp:binance",
                cache_dir=tmp_path)
    oi_usd = np.linspace(5e9, 6e9, 9)
    pd.DataFrame({"timestamp": DAYS.as_unit("s").asi8[:9], "open": oi_usd, "high": oi_usd,
                  "low": oi_usd, "close": oi_usd}).to_csv(tmp_path / "oi.csv", index=False)
    rep = import_file(tmp_path / "oi.csv", "coinalyze", venue="perp:binance", cache_dir=tmp_path)
    assert "btc=usd/close" in rep[0].notes[0]
    md = from_cache(["perp:binance"], cache_dir=tmp_path)
    oi = md.open_interest
    # the sample at the bar's close (t + 1 day) uses the close of the day bar that just ended
    assert list(pd.DatetimeIndex(oi["time"])) == list(DAYS[1:])
    np.testing.assert_allclose(oi["oi_usd"], oi_usd)
    np.testing.assert_allclose(oi["oi_btc"], oi_usd / CLOSE[:9])
    assert set(oi["source"]) == {"file:oi.csv;btc=usd/close"}


def test_daily_export_oi_and_percent_funding(tmp_path):
    pd.DataFrame({"Date": [d.strftime("%Y-%m-%d") for d in DAYS[:3]],
                  "Open Interest (BTC)": [100.0, 110.0, 120.0],
                  "Funding Rate": [0.01, -0.02, 0.03]}).to_csv(tmp_path / "cq.csv", index=False)
    out = read_file(tmp_path / "cq.csv", "cryptoquant", venue="perp:okx")
    np.testing.assert_allclose(out[("perp:okx", "open_interest")]["oi_base"], [100, 110, 120])
    fund = out[("perp:okx", "funding")]
    np.testing.assert_allclose(fund["rate"], [0.0003, -0.0006, 0.0009])   # 3 x %/100
    assert (fund["interval_hours"] == 24).all()
    assert fund["time"].iloc[0] == pd.Timestamp("2024-01-02", tz="UTC")


def test_long_format_several_venues_and_series(tmp_path):
    rows = []
    for i, d in enumerate(DAYS[:3]):
        rows.append({"venue": "perp:okx", "time": d.isoformat(), "close": CLOSE[i],
                     "rate": 1e-4, "interval_hours": 8, "oi_btc": 5.0 + i})
        rows.append({"venue": "spot:coinbase", "time": d.isoformat(), "close": CLOSE[i] + 1})
    pd.DataFrame(rows).to_csv(tmp_path / "long.csv", index=False)
    reps = import_file(tmp_path / "long.csv", "long", cache_dir=tmp_path)
    assert {(r.venue, r.series) for r in reps} == {("perp:okx", "ohlcv"), ("perp:okx", "funding"),
                                                   ("perp:okx", "open_interest"),
                                                   ("spot:coinbase", "ohlcv")}
    md = from_cache(["perp:okx", "spot:coinbase"], cache_dir=tmp_path)
    np.testing.assert_allclose(md.spot["coinbase"], CLOSE[:3] + 1)
    assert set(md.funding["source"]) == {"file:long.csv"}
    np.testing.assert_allclose(md.open_interest["oi_btc"], [5, 6, 7])


@pytest.mark.parametrize("fmt,frame,match", [
    ("tradingview", {"time": [1704067200], "open": [1], "high": [1], "low": [1]},
     "no column 'close'"),
    ("tradingview", {"time": ["2024-01-01T00:00:00"], "open": [1], "high": [1], "low": [1],
                     "close": [1]}, "line 2 column 'time'.*no time zone"),
    ("tradingview", {"time": [1704067200, 1704153600], "open": [1, 1], "high": [1, 1],
                     "low": [1, 1], "close": [1, 0]}, "line 3 column 'close'.*price > 0"),
    ("tradingview", {"time": [1704067200, 1704067200], "open": [1, 2], "high": [1, 2],
                     "low": [1, 2], "close": [1, 2]}, "line 2: conflicting duplicate"),
    ("long", {"venue": ["perp:okx"], "time": ["2024-01-01T00:00Z"], "oi_btc": [-1]},
     "column 'oi_btc'.*>= 0"),
    ("long", {"venue": ["perp:okx"], "time": ["2024-01-01T00:00Z"], "rate": [0.06],
              "interval_hours": [8]}, "column 'rate'.*0.05"),
    ("excel", {"a": [1]}, "format 'excel' is not known"),
])
def test_bad_csv_refused_naming_file_and_nothing_merged(tmp_path, fmt, frame, match):
    pd.DataFrame(frame).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=match) as err:
        import_file(tmp_path / "bad.csv", fmt, venue="perp:okx" if fmt != "long" else None,
                    cache_dir=tmp_path)
    assert "bad.csv" in str(err.value) or fmt == "excel"
    assert not (tmp_path / "v1").exists()


def test_usd_oi_without_any_price_is_refused(tmp_path):
    pd.DataFrame({"date": ["2024-01-01"], "open_interest_usd": [1e9]}).to_csv(
        tmp_path / "d.csv", index=False)
    with pytest.raises(ValueError, match="only in USD"):
        import_file(tmp_path / "d.csv", "daily", venue="perp:okx", cache_dir=tmp_path)
    assert not (tmp_path / "v1").exists()
