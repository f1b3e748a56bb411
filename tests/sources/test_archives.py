"""Binance archive import: the offline fake service (real layout and formats, checksums) gives
frames equal to its truth; bad checksums, truncated zips and bad rows are refused by name."""
from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.sources import archives
from btcflow_nb.sources.assemble import from_cache
from btcflow_nb.sources.imports import import_binance
from btcflow_nb.testing.fake_archive import ArchiveTruth, FakeArchive

NOW = "2025-03-15"


def _ms(s):
    return int(pd.Timestamp(s, tz="UTC").value // 1_000_000)


@pytest.fixture()
def fake():
    with FakeArchive(now=NOW) as fa:
        yield fa


def _zip(text, name="x.csv"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, text)
    return buf.getvalue()


def test_archive_paths_follow_the_service_layout():
    assert archives.archive_path("klines", "spot", "BTCUSDT", "2024-01") == \
        "data/spot/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2024-01.zip"
    assert archives.archive_path("metrics", "um", "BTCUSDT", "2024-01-02") == \
        "data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-02.zip"
    assert archives.archive_path("fundingRate", "cm", "BTCUSD_PERP", "2024-01") == \
        "data/futures/cm/monthly/fundingRate/BTCUSD_PERP/BTCUSD_PERP-fundingRate-2024-01.zip"
    with pytest.raises(ValueError, match="monthly only"):
        archives.archive_path("fundingRate", "um", "BTCUSDT", "2024-01-02")
    with pytest.raises(ValueError, match="valid choices"):
        archives.archive_path("trades", "um", "BTCUSDT", "2024-01")


def test_periods_monthly_then_daily_in_the_current_month():
    p = archives.archive_periods("klines", "2024-12-20", None, now="2025-01-04T10:00Z")
    assert p == ["2024-12", "2025-01-01", "2025-01-02", "2025-01-03"]
    assert archives.archive_periods("fundingRate", "2024-12-20", None, now="2025-01-04") == \
        ["2024-12"]


@pytest.mark.parametrize("market,symbol", [("spot", "BTCUSDT"), ("um", "BTCUSDT"),
                                           ("cm", "BTCUSD_PERP")])
def test_klines_equal_the_truth_headers_or_not_ms_or_us(fake, market, symbol):
    # 2021-12 .. 2025-02: futures files without then with a header, spot in microseconds
    frame, info = archives.get_binance("klines", symbol, market, "2021-12-01", "2025-02-28",
                                       base=fake.url, now=NOW)
    truth = fake.truth.bars(market, "1d", _ms("2021-12-01"), _ms("2025-03-01"))
    assert not info["missing"]
    assert len(frame) == len(truth)
    assert (frame["time"].astype("int64") // 10**6 if frame["time"].dtype.kind == "M" else
            None) is not None
    np.testing.assert_array_equal(pd.DatetimeIndex(frame["time"]).as_unit("ms").asi8,
                                  [r[0] for r in truth])
    np.testing.assert_allclose(frame["close"], [r[4] for r in truth])
    np.testing.assert_allclose(frame["volume"], [r[5] for r in truth])


def test_funding_and_metrics_equal_the_truth(fake):
    f, _ = archives.get_binance("fundingRate", "BTCUSDT", "um", "2023-11-01", "2024-01-31T23:59Z",
                                base=fake.url, now=NOW)
    truth = fake.truth.funding("um", _ms("2023-11-01"), _ms("2024-02-01"))
    np.testing.assert_allclose(f["rate"], [r[2] for r in truth])
    assert (f["interval_hours"] == 8).all() and len(f) == len(truth)
    m, _ = archives.get_binance("metrics", "BTCUSD_PERP", "cm", "2024-01-01", "2024-01-02T23:59Z",
                                base=fake.url, now=NOW, sample="5m")
    t = fake.truth.metrics("cm", _ms("2024-01-01"), _ms("2024-01-03"))
    assert len(m) == len(t) == 2 * 288
    np.testing.assert_allclose(m["oi_base"], [r[2] for r in t])              # BTC
    np.testing.assert_allclose(m["oi_value"], [r[1] * 100 for r in t])       # contracts x 100 USD
    hourly, _ = archives.get_binance("metrics", "BTCUSDT", "um", "2024-01-01", "2024-01-01T23:59Z",
                                     base=fake.url, now=NOW)
    assert len(hourly) == 24 and (pd.DatetimeIndex(hourly["time"]).minute == 0).all()


def test_missing_days_are_listed_not_fatal(fake):
    fake.inject("missing", "BTCUSDT-metrics-2024-01-02.zip")
    m, info = archives.get_binance("metrics", "BTCUSDT", "um", "2024-01-01", "2024-01-03T23:00Z",
                                   base=fake.url, now=NOW)
    assert info["missing"] == ["BTCUSDT-metrics-2024-01-02.zip"]
    assert len(m) == 48


@pytest.mark.parametrize("fault,match", [("bad_checksum", "fails its checksum"),
                                         ("truncated", "fails its checksum"),
                                         ("truncated_published", "not a readable zip"),
                                         ("no_checksum", "no published checksum")])
def test_corrupted_archive_is_refused_naming_the_file_and_nothing_merged(fake, tmp_path, fault,
                                                                          match):
    good = import_binance("metrics", "BTCUSDT", "um", "2024-01-01", "2024-01-01T23:00Z",
                          base=fake.url, now=NOW, cache_dir=tmp_path)
    assert good[0].added == 24
    fake.inject(fault, "BTCUSDT-metrics-2024-01-03.zip")
    with pytest.raises(ValueError, match=match) as err:
        import_binance("metrics", "BTCUSDT", "um", "2024-01-02", "2024-01-04T23:00Z",
                       base=fake.url, now=NOW, cache_dir=tmp_path)
    assert "BTCUSDT-metrics-2024-01-03.zip" in str(err.value)
    md = from_cache(["perp:binance"], cache_dir=tmp_path) if False else None
    from btcflow_nb.sources.cache import cache_root, read_series, series_path
    from btcflow_nb.sources.venues import resolve_venues

    v = resolve_venues(["perp:binance"])[0]
    cached, _ = read_series(series_path(cache_root(tmp_path), "open_interest", v),
                            "open_interest", v)
    assert len(cached) == 24        # 2024-01-02 (good) was not merged either


def test_base_url_from_environment(monkeypatch, fake):
    monkeypatch.setenv("BTCFLOW_NB_ARCHIVE_BASE", fake.url)
    assert archives.archive_base() == fake.url
    assert archives.archive_base("http://mirror:8000/") == "http://mirror:8000"
    with pytest.raises(ValueError, match="not an http"):
        archives.archive_base("ftp://x")


def test_verify_checksum():
    data = b"abc"
    digest = hashlib.sha256(data).hexdigest()
    archives.verify_checksum(data, f"{digest}  a.zip\n".encode(), "a.zip")
    with pytest.raises(ValueError, match="names 'b.zip'"):
        archives.verify_checksum(data, f"{digest}  b.zip".encode(), "a.zip")
    with pytest.raises(ValueError, match="not '<sha256>"):
        archives.verify_checksum(data, b"garbage", "a.zip")


@pytest.mark.parametrize("text,match", [
    ("calc_time,funding_interval_hours,last_funding_rate\n1704067200000,8,0.07\n",
     "line 2 column 'last_funding_rate'.*implausible"),
    ("calc_time,rate\n1704067200000,0.0001\n", "lacks column"),
    ("calc_time,funding_interval_hours,last_funding_rate\n1704067200000,8,0.0001\n"
     "1704067200000,8,0.0002\n", "line 2: conflicting duplicate"),
    ("calc_time,funding_interval_hours,last_funding_rate\n17040672,8,0.0001\n",
     "not an epoch time"),
])
def test_bad_funding_rows_name_the_file_line_and_column(text, match):
    with pytest.raises(ValueError, match=match) as err:
        archives.read_funding(_zip(text), name="BTCUSDT-fundingRate-2024-01.zip")
    assert "BTCUSDT-fundingRate-2024-01.zip" in str(err.value)


def test_bad_klines_and_metrics_rows():
    with pytest.raises(ValueError, match="line 1 column 'close'.*price > 0"):
        archives.read_klines(_zip("1704067200000,1,1,1,0,5,1704153599999,0,0,0,0,0\n"), name="k")
    with pytest.raises(ValueError, match="line 1 has 3 fields"):
        archives.read_klines(_zip("1704067200000,1,1\n"), name="k")
    head = ",".join(archives.METRICS_COLUMNS)
    with pytest.raises(ValueError, match="sum_open_interest'.*>= 0"):
        archives.read_metrics(_zip(f"{head}\n2024-01-01 00:00:00,BTCUSDT,-1,5,0,0,0,0\n"),
                              name="m")
    with pytest.raises(ValueError, match="create_time"):
        archives.read_metrics(_zip(f"{head}\n01/01/2024,BTCUSDT,1,5,0,0,0,0\n"), name="m")
    # headerless old files read by position; microsecond times become milliseconds
    k = archives.read_klines(_zip("1735689600000000,1,2,0.5,1.5,3,1735775999999999,0,0,0,0,0\n"))
    assert k["time"].iloc[0] == pd.Timestamp("2025-01-01", tz="UTC") and k["close"].iloc[0] == 1.5


def test_import_binance_fills_the_cache_with_archive_rows(fake, tmp_path):
    for ds in ("klines", "fundingRate", "metrics"):
        import_binance(ds, "BTCUSDT", "um", "2024-01-01", "2024-02-29T23:00Z", base=fake.url,
                       now=NOW, cache_dir=tmp_path)
    md = from_cache(["perp:binance"], cache_dir=tmp_path)
    assert set(md.funding["source"]) == {"archive:binance"}
    assert set(md.open_interest["source"]) == {"archive:binance"}
    assert md.meta["provenance"]["perp"]["binance"]["archive:binance"]["rows"] == 60
    assert len(md.perp) == 60 and len(md.open_interest) == 60 * 24
    truth = ArchiveTruth()
    t0 = _ms("2024-01-15")
    row = md.open_interest[md.open_interest["time"] == pd.Timestamp(t0, unit="ms", tz="UTC")]
    assert row["oi_btc"].iloc[0] == pytest.approx(truth.oi_btc(t0))


def test_cli_import_binance_and_file(fake, tmp_path, capsys):
    from btcflow_nb.cli import main

    code = main(["import", "binance", "--dataset", "fundingRate", "--symbol", "BTCUSDT",
                 "--market", "um", "--since", "2024-01-01", "--until", "2024-02-29T23:59Z",
                 "--base-url", fake.url, "--cache-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "archive:binance" in out and "perp:binance" in out
    (tmp_path / "bad.csv").write_text("time,open\n1,2\n")
    code = main(["import", "file", str(tmp_path / "bad.csv"), "--format", "tradingview",
                 "--venue", "perp:binance", "--cache-dir", str(tmp_path)])
    assert code == 2 and "bad.csv" in capsys.readouterr().err


@pytest.mark.parametrize("dataset,since,until,bad,match", [
    ("metrics", "2024-01-01", "2024-01-03T23:00Z", "BTCUSDT-metrics-2024-01-03.zip",
     r"line 289 column 'sum_open_interest'.*>= 0"),
    ("fundingRate", "2023-11-01", "2024-01-31T23:59Z", "BTCUSDT-fundingRate-2024-01.zip",
     r"line 94 column 'last_funding_rate'.*implausible"),
    ("klines", "2023-11-01", "2024-01-31T23:59Z", "BTCUSDT-1d-2024-01.zip",
     r"line 32 column 'high'.*price > 0"),
])
def test_an_implausible_row_in_a_later_file_merges_nothing(fake, tmp_path, dataset, since,
                                                           until, bad, match):
    """A correctly checksummed file with one implausible row, after good files: the error
    names the file, the line and the column, and none of the good files' rows is merged."""
    from btcflow_nb.sources.cache import cache_root

    fake.inject("implausible", bad)
    with pytest.raises(ValueError, match=match) as err:
        import_binance(dataset, "BTCUSDT", "um", since, until, base=fake.url, now=NOW,
                       cache_dir=tmp_path)
    assert bad in str(err.value)
    assert not list(cache_root(tmp_path).rglob("*.parquet"))
