"""Provenance: every long-frame row carries its source through the cache and MarketData; the
precedence ccxt > archive > file > snapshot decides duplicates; old caches read as ccxt; imported
rows survive a later fetch."""
from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

import btcflow_nb
from btcflow_nb.marketdata import MarketData, source_rank
from btcflow_nb.sources.assemble import from_cache
from btcflow_nb.sources.cache import cache_root, merge, read_series, series_path, write_series
from btcflow_nb.sources.imports import import_file
from btcflow_nb.sources.venues import resolve_venues
from btcflow_nb.testing.fake_exchange import DAY_MS, FakeExchange, Truth

BINANCE = resolve_venues(["perp:binance"])[0]


def _funding(times, rate, source=None):
    f = pd.DataFrame({"time": pd.to_datetime(times, utc=True).as_unit("ms"),
                      "rate": float(rate), "interval_hours": 8.0})
    if source:
        f["source"] = source
    return f


def test_precedence_order_and_bad_labels():
    assert source_rank("ccxt") > source_rank("archive:binance") > source_rank("file:x.csv") \
        > source_rank("snapshot")
    for bad in ("archive:", "vendor", "file", None):
        with pytest.raises(ValueError, match="valid: 'ccxt'"):
            source_rank(bad)


def test_merge_keeps_the_higher_rank_and_everything_else():
    cached = _funding(["2024-01-01", "2024-01-02"], 1e-4, "ccxt")
    new = _funding(["2024-01-02", "2024-01-03"], 2e-4, "archive:binance")
    out = merge(cached, new, "funding")
    assert out["source"].tolist() == ["ccxt", "ccxt", "archive:binance"]
    out = merge(new, _funding(["2024-01-02"], 3e-4), "funding")   # unlabelled rows are ccxt
    assert out["rate"].tolist() == [3e-4, 2e-4] and out["source"].tolist()[0] == "ccxt"
    snap = merge(cached, _funding(["2024-01-01"], 9e-4, "snapshot"), "funding")
    assert snap["rate"].tolist() == [1e-4, 1e-4]          # a snapshot never overrides history


def test_provenance_survives_the_cache_round_trip(tmp_path):
    root = cache_root(tmp_path)
    path = series_path(root, "funding", BINANCE)
    frame = pd.concat([_funding(["2024-01-01"], 1e-4, "file:a.csv"),
                       _funding(["2024-01-02"], 1e-4, "archive:binance")])
    write_series(path, frame, "funding", BINANCE)
    back, _ = read_series(path, "funding", BINANCE)
    assert back["source"].tolist() == ["file:a.csv", "archive:binance"]


def test_old_cache_files_without_source_read_as_ccxt_and_snapshot(tmp_path):
    root = cache_root(tmp_path)
    path = series_path(root, "open_interest", BINANCE)
    old = pd.DataFrame({"time": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
                        "oi_base": [1.0, 2.0], "oi_value": [float("nan")] * 2,
                        "value_currency": ["USDT"] * 2, "kind": ["history", "snapshot"]})
    write_series(path, old, "open_interest", BINANCE)
    table = pq.read_table(path).drop(["source"])     # a file from before provenance
    pq.write_table(table.replace_schema_metadata(pq.read_schema(path).metadata), path)
    back, _ = read_series(path, "open_interest", BINANCE)
    assert back["source"].tolist() == ["ccxt", "snapshot"] and back["oi_base"].tolist() == [1, 2]


def test_from_frames_keeps_source_and_collapses_equal_rows_by_precedence():
    f = pd.DataFrame({"venue": ["a", "a", "a"], "time": pd.to_datetime(
        ["2024-01-01", "2024-01-01", "2024-01-02"], utc=True), "rate": [1e-4, 1e-4, 2e-4],
        "interval_hours": 8.0, "source": ["file:x", "ccxt", "archive:binance"]})
    md = MarketData.from_frames(funding=f)
    assert md.funding["source"].tolist() == ["ccxt", "archive:binance"]
    with pytest.raises(ValueError, match="column 'source'.*valid"):
        MarketData.from_frames(funding=f.assign(source="vendor"))
    assert "source" not in MarketData.from_frames(funding=f.drop(columns="source")
                                                  .iloc[1:]).funding.columns


def test_imported_rows_survive_a_later_fetch(tmp_path, monkeypatch):
    truth = Truth.recent(20)
    now = truth.end - 1
    with FakeExchange(truth, now_ms=now) as fake:
        for k, v in fake.env(tmp_path).items():
            monkeypatch.setenv(k, v)
        # history from a vendor file, long before what the fetch asks for
        days = pd.date_range(pd.Timestamp(truth.start, unit="ms", tz="UTC") - pd.Timedelta(
            days=40), periods=30, freq="D")
        pd.DataFrame({"venue": "perp:binance", "time": [d.isoformat() for d in days],
                      "close": 30000.0, "rate": 1e-4, "interval_hours": 8.0,
                      "oi_btc": 7.0}).to_csv(tmp_path / "old.csv", index=False)
        import_file(tmp_path / "old.csv", "long")
        md = btcflow_nb.fetch(["perp:binance"], since=truth.start + 5 * DAY_MS, progress=False)
        assert md.meta["errors"] == {}
    full = from_cache(["perp:binance"])
    for field in ("funding", "open_interest"):
        src = getattr(full, field)["source"]
        assert (src == "file:old.csv").sum() == 30, field
        assert (src == "ccxt").sum() > 0
    prov = full.meta["provenance"]["perp"]["binance"]
    assert prov["file:old.csv"]["rows"] == 30 and prov["ccxt"]["rows"] > 0
