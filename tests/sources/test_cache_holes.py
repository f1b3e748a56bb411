"""Rows a cache lost come back, stale snapshots are not samples, fx closes are plausible
(issue 17, the remaining gaps): a row removed from the middle of a cache file -- a purged
poisoned row, a row group lost by salvage -- is asked again at the next refresh (once: a hole
the venue cannot fill costs one request, ever); an OI snapshot stamped long ago is reported
and not stored; an fx close outside `checks.FX_BAND` is rejected like any implausible price."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import btcflow_nb
from btcflow_nb.sources import cachefile, checks
from btcflow_nb.sources.cache import CacheSalvaged, cache_root, read_series, series_path, write_series
from btcflow_nb.sources.venues import DEFAULT_VENUES
from btcflow_nb.testing.fake_exchange import HOUR_MS

from .conftest import cached_series, fake_exchange_fixtures

BY_NAME = {v.name: v for v in DEFAULT_VENUES}

fake, env = fake_exchange_fixtures(days=8, timeout_ms=2000, retry_attempts=2,
                                   retry_base_delay=0.01)


def test_fx_closes_outside_the_stablecoin_band_are_rejected_and_reported(fake, env):
    # Kraken serves the fx pairs (and spot:kraken, not asked here): USDT/USD at 2 USD
    fake.inject("doubled_price", exchange_id="kraken", endpoint="ohlcv", times=None)
    md = btcflow_nb.fetch(["spot:binance"], since=fake.truth.start, progress=False)
    for name in ("fx:usdt",):          # Binance quotes USDT: its fx series is asked
        counts = md.meta["rejected"][name]["counts"]
        assert any("0.5 to 1.5" in k for k in counts), counts
        assert name in md.meta["errors"]
        assert len(cached_series(name, "ohlcv")) == 0
    assert checks.FX_BAND == (0.5, 1.5)
    # clean again: the true closes (about 1 USD) pass the band and are cached
    fake.clear_faults()
    md = btcflow_nb.fetch(["spot:binance"], since=fake.truth.start, progress=False)
    got = cached_series("fx:usdt", "ohlcv")["close"].to_numpy()
    assert len(got) and ((got > 0.5) & (got < 1.5)).all()
    assert "fx:usdt" not in md.meta["rejected"]


def test_a_stale_oi_snapshot_is_reported_and_not_stored(fake, env):
    name = "perp:binance"
    fake.inject("stale_oi", exchange_id="binanceusdm", endpoint="oi", times=None)
    md = btcflow_nb.fetch([name], since=fake.truth.start, progress=False)
    assert "open interest snapshot: stale" in md.meta["errors"][name]
    oi = cached_series(name, "open_interest")
    assert len(oi) and not (oi["kind"] == "snapshot").any()     # the history is kept
    # fresh again: the snapshot is a sample
    fake.clear_faults()
    md = btcflow_nb.fetch([name], progress=False)
    assert "stale" not in md.meta["errors"].get(name, "")
    oi = cached_series(name, "open_interest")
    assert (oi["kind"] == "snapshot").sum() == 1


NAMES = ["spot:binance", "spot:coinbase", "spot:kraken"]
SPOT = BY_NAME["spot:binance"]


def _truth_closes(fake, cached):
    want = fake.truth.closes("spot:binance", "1d", fake.now_ms)
    got = pd.Series(cached["close"].to_numpy(), index=pd.DatetimeIndex(cached["time"]))
    return got, want


def _assert_equals_truth(fake, cached):
    got, want = _truth_closes(fake, cached)
    assert len(got) == len(want)
    np.testing.assert_array_equal(got.to_numpy(), want.reindex(got.index).to_numpy())


def test_a_purged_middle_row_is_fetched_again_once(fake, env):
    btcflow_nb.fetch(NAMES, since=fake.truth.start, progress=False)
    path = series_path(cache_root(), "ohlcv", SPOT, "1d")
    frame = cached_series("spot:binance", "ohlcv")
    assert len(frame) >= 6
    frame.loc[3, "close"] = -5.0                       # a poisoned row in the middle
    write_series(path, frame, "ohlcv", SPOT, "1d")
    md = btcflow_nb.from_cache(NAMES)                  # purged: moved out of the file
    assert len(md.spot["binance"].dropna()) == len(frame) - 1
    assert read_series(path, "ohlcv", SPOT, "1d")[1]["holes"]
    fake.clear_log()
    btcflow_nb.fetch(NAMES, progress=False)            # a plain refresh (no since)
    _assert_equals_truth(fake, cached_series("spot:binance", "ohlcv"))   # the true row is back
    assert len(fake.log("binance", "ohlcv")) == 2      # the refresh's one + the hole's one
    assert read_series(path, "ohlcv", SPOT, "1d")[1]["holes"] == []
    fake.clear_log()
    btcflow_nb.fetch(NAMES, progress=False)
    assert len(fake.log("binance", "ohlcv")) == 1      # asked once, never again


def test_a_hole_the_venue_has_no_data_for_costs_one_request_ever(fake, env):
    btcflow_nb.fetch(NAMES, since=fake.truth.start, progress=False)
    path = series_path(cache_root(), "ohlcv", SPOT, "1d")
    frame, meta = read_series(path, "ohlcv", SPOT, "1d")
    t = int(pd.DatetimeIndex(frame["time"]).as_unit("ms").asi8[2]) + HOUR_MS
    # a recorded hole between two daily bars: the venue has no bar there
    write_series(path, frame, "ohlcv", SPOT, "1d", meta.get("fetched_at"),
                 meta.get("covered_from"), holes=[(t, t + HOUR_MS)])
    counts = []
    for _ in range(3):
        fake.clear_log()
        md = btcflow_nb.fetch(NAMES, progress=False)
        counts.append(len(fake.log("binance", "ohlcv")))
        assert "spot:binance" not in md.meta["errors"]
    assert counts == [2, 1, 1]
    _assert_equals_truth(fake, cached_series("spot:binance", "ohlcv"))


def _flip_page_byte(path, group: int, column: str) -> None:
    """Flip one byte in the middle of `column`'s data page in row group `group`."""
    md = pq.ParquetFile(path).metadata
    names = [md.schema.column(i).name for i in range(md.num_columns)]
    col = md.row_group(group).column(names.index(column))
    at = (col.dictionary_page_offset or col.data_page_offset) + col.total_compressed_size // 2
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_row_group_lost_by_salvage_is_fetched_again(fake, env, monkeypatch):
    monkeypatch.setattr(cachefile, "ROW_GROUP_ROWS", 3)    # several groups in 9 daily bars
    btcflow_nb.fetch(NAMES, since=fake.truth.start, progress=False)
    path = series_path(cache_root(), "ohlcv", SPOT, "1d")
    before = cached_series("spot:binance", "ohlcv")
    assert pq.ParquetFile(path).metadata.num_row_groups >= 3
    _flip_page_byte(path, 1, "close")
    with pytest.raises(CacheSalvaged, match="salvaged"):
        read_series(path, "ohlcv", SPOT, "1d")
    salvaged, meta = read_series(path, "ohlcv", SPOT, "1d")
    assert len(salvaged) == len(before) - 3
    t = pd.DatetimeIndex(before["time"]).as_unit("ms").asi8
    assert [tuple(h) for h in meta["holes"]] == [(int(t[3]), int(t[5]))]
    fake.clear_log()
    md = btcflow_nb.fetch(NAMES, progress=False)
    _assert_equals_truth(fake, cached_series("spot:binance", "ohlcv"))
    assert len(cached_series("spot:binance", "ohlcv")) == len(before)
    assert read_series(path, "ohlcv", SPOT, "1d")[1]["holes"] == []
