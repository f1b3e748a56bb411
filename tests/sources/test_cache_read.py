"""Reading a cache file fast keeps every rule of the slow read (issue 15): the frame equals
pyarrow's own conversion, label columns are objects (missing labels stay missing), a column of
another declared type is still refused, and `from_cache` takes its ``fetched_at`` from the files
it read."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import btcflow_nb
from btcflow_nb.marketdata import MarketData
from btcflow_nb.sources import parse
from btcflow_nb.sources.cache import (CacheSalvaged, cache_root, read_series, series_path,
                                     write_series)
from btcflow_nb.sources.cachefile import ROW_GROUP_ROWS
from btcflow_nb.sources.venues import DEFAULT_VENUES

BY_NAME = {v.name: v for v in DEFAULT_VENUES}
BINANCE = BY_NAME["perp:binance"]


@pytest.fixture()
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("BTCFLOW_NB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BTCFLOW_NB_CONFIG", raising=False)
    return cache_root()


def _oi(n: int) -> pd.DataFrame:
    t = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC").as_unit("ms")
    currency = np.where(np.arange(n) % 7 == 3, None, "USDT").astype(object)
    return pd.DataFrame({"time": t, "oi_base": np.linspace(1e4, 2e4, n),
                         "oi_value": np.linspace(6e8, 1e9, n), "value_currency": currency,
                         "kind": "history",
                         "source": np.where(np.arange(n) < n // 2, "archive:binance", "ccxt")})


def test_a_multi_group_file_reads_as_pyarrow_converts_it_with_object_labels(root):
    """Several row groups, two sources, missing currencies: the frame `read_series` returns
    has pyarrow's values; labels are ``object`` (one ``str`` per distinct label, missing ones
    NaN) and the floats are writable."""
    path = series_path(root, "open_interest", BINANCE)
    n = 3 * ROW_GROUP_ROWS + 17
    write_series(path, _oi(n), "open_interest", BINANCE)
    assert pq.ParquetFile(path).metadata.num_row_groups == 4
    frame, meta = read_series(path, "open_interest", BINANCE)
    plain = pq.read_table(path).to_pandas()
    assert list(frame.columns) == list(plain.columns)
    for c in ("value_currency", "kind", "source"):
        assert frame[c].dtype == object
        pd.testing.assert_series_equal(frame[c], plain[c].astype(object))
    assert frame["value_currency"].isna().sum() == len(range(3, n, 7))
    assert len({id(x) for x in frame["source"]}) == 2     # shared, not one string per row
    for c in ("time", "oi_base", "oi_value"):
        pd.testing.assert_series_equal(frame[c], plain[c])
    frame.loc[0, "oi_base"] = -1.0                       # an ordinary, writable frame
    assert meta["series"] == "open_interest"


def test_a_label_column_stored_with_another_type_is_still_refused(root):
    """Labels are decoded as Arrow dictionaries for speed, but only those the file declares as
    strings: a file whose ``source`` is stored as a dictionary is not a cache file, as before
    (set aside, with the reason)."""
    path = series_path(root, "open_interest", BINANCE)
    write_series(path, _oi(50), "open_interest", BINANCE)
    table = pq.read_table(path)
    i = table.schema.get_field_index("source")
    table = table.set_column(i, "source", table.column("source").dictionary_encode())
    pq.write_table(table, path)
    with pytest.raises(CacheSalvaged, match="has column 'source' of type dictionary"):
        read_series(path, "open_interest", BINANCE)
    assert list(path.parent.glob("binance.parquet.corrupt-*"))


def test_from_cache_fetched_at_is_the_latest_of_the_bar_files_read(root):
    t = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC").as_unit("ms")
    bars = pd.DataFrame({"time": t, "open": 1e4, "high": 1e4, "low": 1e4, "close": 1e4,
                         "volume": 1.0})
    for name, stamp in (("spot:coinbase", "2024-01-06T00:00:00+00:00"),
                        ("spot:bitstamp", "2024-01-07T12:00:00+00:00"),
                        ("spot:kraken", None)):
        v = BY_NAME[name]
        write_series(series_path(root, "ohlcv", v, "1d"), bars, "ohlcv", v, "1d", stamp)
    md = btcflow_nb.from_cache(["spot:coinbase", "spot:bitstamp", "spot:kraken"])
    assert md.meta["fetched_at"] == "2024-01-07T12:00:00+00:00"
    assert btcflow_nb.from_cache(["spot:kraken"]).meta["fetched_at"] is None


def test_asof_of_a_series_with_no_value_is_missing_everywhere():
    """(It raised IndexError: an all-NaN close or fx series left nothing to look up.)"""
    times = pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC")
    empty = pd.Series([np.nan, np.nan], index=times[:2])
    assert np.isnan(parse.asof(empty, times)).all()
    some = pd.Series([np.nan, 2.0], index=times[:2])
    np.testing.assert_array_equal(parse.asof(some, times), [np.nan, 2.0, 2.0])


@pytest.mark.parametrize("fx_unit", ["ms", "ns"])
def test_usdt_closes_take_the_last_fx_value_known_at_each_bar(fx_unit):
    """The fx factor is the last USDT/USD value at or before each bar (by binary search when
    both indexes have one time unit, by reindexing otherwise); bars before the series keep
    their raw quote."""
    bars = pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC").as_unit("ms")
    fx_times = pd.DatetimeIndex(["2024-01-01 01:00", "2024-01-01 02:30",
                                 "2024-01-01 04:00"], tz="UTC").as_unit(fx_unit)
    spot = pd.DataFrame({"b": np.full(6, 100.0)}, index=bars)
    fx = pd.DataFrame({"USDT": [0.5, 2.0, 4.0]}, index=fx_times)
    md = MarketData.from_frames(spot=spot, fx=fx, spot_quotes={"b": "USDT"})
    np.testing.assert_array_equal(md.spot["b"].to_numpy(), [100, 50, 50, 200, 400, 400])
    assert "raw USDT quote kept for 1 bar(s)" in md.meta["quote_conversion"]["spot:b"]


def _funding(n: int, sources) -> pd.DataFrame:
    t = pd.date_range("2024-01-01", periods=n, freq="8h", tz="UTC").as_unit("ms")
    return pd.DataFrame({"time": t, "rate": np.full(n, 1e-4), "interval_hours": 8.0,
                         "source": np.resize(np.asarray(sources, dtype=object), n)})


def test_from_cache_labels_by_category_give_the_rows_their_own_sources(root):
    """`from_cache` reads labels as categoricals (`read_series(categorical=True)`); venues with
    different sets of sources still give every row its own label, the provenance spans count
    them, and `read_series` itself still returns objects."""
    t = pd.date_range("2024-01-01", periods=40, freq="4h", tz="UTC").as_unit("ms")
    bars = pd.DataFrame({"time": t, "open": 4e4, "high": 4e4, "low": 4e4, "close": 4e4,
                         "volume": 1.0})
    sources = {"perp:binance": ["archive:binance", "archive:binance", "ccxt"],
               "perp:okx": ["ccxt"]}
    for name, labels in sources.items():
        v = BY_NAME[name]
        write_series(series_path(root, "ohlcv", v, "4h"), bars, "ohlcv", v, "4h")
        write_series(series_path(root, "funding", v), _funding(40, labels), "funding", v)
    md = btcflow_nb.from_cache(list(sources), timeframe="4h")
    f = md.funding
    for name, labels in sources.items():
        rows = f[f["venue"] == name.split(":")[1]]["source"].tolist()
        assert rows == list(np.resize(np.asarray(labels, dtype=object), 40))
    spans = md.meta["provenance"]["funding"]
    assert {k: s["rows"] for k, s in spans["binance"].items()} == {"archive:binance": 27,
                                                                   "ccxt": 13}
    assert list(spans["okx"]) == ["ccxt"] and spans["okx"]["ccxt"]["rows"] == 40
    v = BY_NAME["perp:binance"]
    frame, _ = read_series(series_path(root, "funding", v), "funding", v)
    assert frame["source"].dtype == object
    as_categories, _ = read_series(series_path(root, "funding", v), "funding", v,
                                   categorical=True)
    assert isinstance(as_categories["source"].dtype, pd.CategoricalDtype)
    assert as_categories["source"].astype(object).tolist() == frame["source"].tolist()


@pytest.mark.parametrize("swap", [(5, 6), (ROW_GROUP_ROWS - 1, ROW_GROUP_ROWS)])
def test_a_file_with_times_out_of_order_is_not_a_cache_file(root, swap):
    """Rows out of time order or a repeated time -- inside a row group or across two -- make
    the file fail the schema check (set aside, with the reason)."""
    path = series_path(root, "open_interest", BINANCE)
    write_series(path, _oi(2 * ROW_GROUP_ROWS), "open_interest", BINANCE)
    table = pq.read_table(path)
    order = np.arange(table.num_rows)
    order[list(swap)] = order[list(swap[::-1])]
    pq.write_table(table.take(order), path, row_group_size=ROW_GROUP_ROWS)
    with pytest.raises(CacheSalvaged, match="has times out of order or duplicated"):
        read_series(path, "open_interest", BINANCE)
    write_series(path, _oi(2 * ROW_GROUP_ROWS), "open_interest", BINANCE)
    table = pq.read_table(path)
    order = np.arange(table.num_rows)
    order[swap[1]] = order[swap[0]]                      # one time twice
    pq.write_table(table.take(order), path, row_group_size=ROW_GROUP_ROWS)
    with pytest.raises(CacheSalvaged, match="has times out of order or duplicated"):
        read_series(path, "open_interest", BINANCE)
