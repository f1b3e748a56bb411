"""The Parquet cache: atomic writes, schema checks, corrupt/foreign files set aside (never
deleted), de-duplication, `from_cache` without any network, and a process killed mid-write."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

import btcflow_nb
from btcflow_nb.sources.cache import (CacheError, CacheSalvaged, cache_root, merge, merge_into,
                                     read_series, series_path, write_series)
from btcflow_nb.sources.cachefile import ROW_GROUP_ROWS
from btcflow_nb.testing.fake_exchange import FakeExchange
from btcflow_nb.sources.venues import DEFAULT_VENUES

BY_NAME = {v.name: v for v in DEFAULT_VENUES}
COINBASE = BY_NAME["spot:coinbase"]


def _ohlcv(start_day: int, n: int, base=100.0) -> pd.DataFrame:
    t = pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC") + pd.Timedelta(days=start_day)
    close = base + np.arange(n, dtype=float)
    return pd.DataFrame({"time": t.as_unit("ms"), "open": close, "high": close, "low": close,
                         "close": close, "volume": np.ones(n)})


@pytest.fixture()
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("BTCFLOW_NB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BTCFLOW_NB_CONFIG", raising=False)
    monkeypatch.delenv("BTCFLOW_NB_API_BASE", raising=False)
    return cache_root()


def test_default_location_and_override(tmp_path, monkeypatch):
    monkeypatch.delenv("BTCFLOW_NB_CACHE_DIR", raising=False)
    monkeypatch.delenv("BTCFLOW_NB_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "btcflow-nb" / "v1"
    monkeypatch.setenv("BTCFLOW_NB_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine" / "v1"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg" / "v1"


def test_round_trip_and_atomic_write_leaves_no_temp_file(root):
    path = series_path(root, "ohlcv", COINBASE, "1d")
    frame = _ohlcv(0, 5)
    write_series(path, frame, "ohlcv", COINBASE, "1d", fetched_at="2024-01-06T00:00:00+00:00")
    back, meta = read_series(path, "ohlcv", COINBASE, "1d")
    # rows written without provenance come back labelled as the venue's API rows
    assert (back.pop("source") == "ccxt").all()
    pd.testing.assert_frame_equal(back, frame)
    assert meta["symbol"] == "BTC/USD" and meta["fetched_at"].startswith("2024-01-06")
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_merge_dedupes_by_time_new_rows_win(root):
    old = _ohlcv(0, 5, base=100)
    new = _ohlcv(4, 3, base=500)                # overlaps the last cached bar (re-fetched)
    out = merge(old, pd.concat([new, new]))     # and comes twice
    assert list(out["time"]) == list(_ohlcv(0, 7)["time"])
    assert out["close"].tolist() == [100, 101, 102, 103, 500, 501, 502]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign_parquet", "wrong_symbol",
                                    "unsorted"])
def test_bad_file_is_set_aside_with_a_clear_error(root, damage):
    path = series_path(root, "ohlcv", COINBASE, "1d")
    write_series(path, _ohlcv(0, 5), "ohlcv", COINBASE, "1d")
    if damage == "garbage":
        path.write_bytes(b"not parquet at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "foreign_parquet":
        pd.DataFrame({"a": [1, 2]}).to_parquet(path)
    elif damage == "wrong_symbol":
        import dataclasses
        write_series(path, _ohlcv(0, 5), "ohlcv", dataclasses.replace(COINBASE, symbol="ETH/USD"),
                     "1d")
    elif damage == "unsorted":
        frame = _ohlcv(0, 5).iloc[::-1]
        write_series(path, frame, "ohlcv", COINBASE, "1d")
    original = path.read_bytes()
    with pytest.raises(CacheError, match=r"spot-coinbase\.parquet.*set aside as"):
        read_series(path, "ohlcv", COINBASE, "1d")
    assert not path.exists()
    moved = list(path.parent.glob("spot-coinbase.parquet.corrupt-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == original   # kept, byte for byte


def test_fetch_survives_a_corrupt_file_and_refetches(root, tmp_path, monkeypatch):
    with FakeExchange(days=4) as fake:
        for k, v in fake.env(tmp_path).items():
            if k != "BTCFLOW_NB_CACHE_DIR":
                monkeypatch.setenv(k, v)
        path = series_path(root, "ohlcv", COINBASE, "1d")
        path.parent.mkdir(parents=True)
        path.write_bytes(b"\x00garbage")
        md = btcflow_nb.fetch(["spot:coinbase"], since=fake.truth.start, progress=False)
    assert any("set aside" in n and "spot-coinbase.parquet" in n for n in md.meta["notes"])
    assert md.spot["coinbase"].notna().sum() == 5
    assert list(path.parent.glob("*.corrupt-*"))


def test_from_cache_needs_no_network(root, tmp_path, monkeypatch):
    with FakeExchange(days=5) as fake:
        for k, v in fake.env(tmp_path).items():
            if k != "BTCFLOW_NB_CACHE_DIR":
                monkeypatch.setenv(k, v)
        live = btcflow_nb.fetch(["spot:coinbase", "perp:binance"], since=fake.truth.start,
                                progress=False)
    # the server is gone; any network use would fail.  Block sockets to be sure.
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("from_cache touched the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    cached = btcflow_nb.from_cache(["spot:coinbase", "perp:binance"])
    assert cached.meta["source"] == "cache" and cached.meta["fetched_at"]
    pd.testing.assert_frame_equal(cached.spot, live.spot)
    pd.testing.assert_frame_equal(cached.perp, live.perp)
    pd.testing.assert_frame_equal(cached.funding.reset_index(drop=True),
                                  live.funding.reset_index(drop=True))
    pd.testing.assert_frame_equal(cached.open_interest.reset_index(drop=True),
                                  live.open_interest.reset_index(drop=True))


def test_from_cache_reports_foreign_files_and_empty_cache(root):
    with pytest.raises(ValueError, match="cache holds no 1d data.*btcflow-nb fetch"):
        btcflow_nb.from_cache(["spot:coinbase"])
    write_series(series_path(root, "ohlcv", COINBASE, "1d"), _ohlcv(0, 3), "ohlcv", COINBASE, "1d")
    (root / "ohlcv" / "1d" / "notes.txt").write_text("mine")
    md = btcflow_nb.from_cache(["spot:coinbase"])
    assert any("foreign file" in n and "notes.txt" in n for n in md.meta["notes"])
    assert (root / "ohlcv" / "1d" / "notes.txt").exists()      # reported, left alone


_WRITER = textwrap.dedent("""
    import sys, numpy as np, pandas as pd
    from btcflow_nb.sources.cache import write_series
    from btcflow_nb.sources.venues import DEFAULT_VENUES
    from pathlib import Path
    venue = [v for v in DEFAULT_VENUES if v.name == "spot:coinbase"][0]
    path = Path(sys.argv[1])
    n = 200_000
    t = pd.date_range("2000-01-01", periods=n, freq="h", tz="UTC").as_unit("ms")
    i = 0
    while True:
        close = np.full(n, float(i))
        frame = pd.DataFrame({"time": t, "open": close, "high": close, "low": close,
                              "close": close, "volume": close})
        write_series(path, frame, "ohlcv", venue, "1d")
        i += 1
        print(i, flush=True)
""")


def test_process_killed_mid_write_leaves_a_readable_cache(root, tmp_path):
    path = series_path(root, "ohlcv", COINBASE, "1d")
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    try:
        for _ in range(2):                     # let it complete two writes ...
            assert proc.stdout.readline().strip()
        deadline = time.monotonic() + 30
        while not list(path.parent.glob(".*.tmp")):   # ... and catch it inside the next one
            assert time.monotonic() < deadline, "the writer never started another write"
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    frame, _ = read_series(path, "ohlcv", COINBASE, "1d")   # complete, valid, never corrupt
    assert len(frame) == 200_000
    assert frame["close"].nunique() == 1 and frame["close"].iloc[0] >= 1
    assert not list(path.parent.glob("*.corrupt-*"))
    # the orphaned temporary file of the killed writer is removed by the next write
    orphans = list(path.parent.glob(".*.tmp"))
    write_series(path, _ohlcv(0, 3), "ohlcv", COINBASE, "1d")
    assert orphans and not any(o.exists() for o in orphans)


def test_a_transient_read_error_is_retried_and_never_sets_a_file_aside(root, monkeypatch):
    """An EIO on read is the disk's fault, not the file's: retried, then reported; the file is
    never renamed (a healthy cache with local OI snapshots must not be lost to a bad sector)."""
    import builtins

    from btcflow_nb.sources import cache as cache_module

    path = series_path(root, "ohlcv", COINBASE, "1d")
    write_series(path, _ohlcv(0, 5), "ohlcv", COINBASE, "1d")
    failures = {"left": 1}

    def flaky_open(file, *args, **kwargs):
        if str(file) == str(path) and failures["left"] > 0:
            failures["left"] -= 1
            raise OSError(5, "Input/output error")
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(cache_module, "open", flaky_open, raising=False)
    frame, _ = read_series(path, "ohlcv", COINBASE, "1d")          # one EIO: retried
    assert len(frame) == 5 and failures["left"] == 0
    failures["left"] = 100                                          # EIO that persists
    with pytest.raises(cache_module.CacheUnreadable, match=r"could not be read \(OSError.*left in place"):
        read_series(path, "ohlcv", COINBASE, "1d")
    with pytest.raises(cache_module.CacheUnreadable):               # and nothing overwrites it
        cache_module.merge_into(path, _ohlcv(5, 1), "ohlcv", COINBASE, "1d")
    assert path.exists() and not list(path.parent.glob("*.corrupt-*"))
    monkeypatch.undo()
    assert len(read_series(path, "ohlcv", COINBASE, "1d")[0]) == 5


def test_damaged_pandas_metadata_in_the_footer_is_contained(root):
    """Damage that only breaks pandas' reconstruction (to_pandas) is caught like any parse
    failure: that file is set aside, every other venue still loads."""
    import pyarrow.parquet as pq

    path = series_path(root, "ohlcv", COINBASE, "1d")
    write_series(path, _ohlcv(0, 5), "ohlcv", COINBASE, "1d")
    other = BY_NAME["spot:bitstamp"]
    write_series(series_path(root, "ohlcv", other, "1d"), _ohlcv(0, 5), "ohlcv", other, "1d")
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    meta[b"pandas"] = b"\xff" + meta[b"pandas"][1:]     # one flipped byte: not UTF-8 any more
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(CacheSalvaged, match="set aside.*5 of 5 rows salvaged") as caught:
        read_series(path, "ohlcv", COINBASE, "1d")
    assert caught.value.report["rows_lost"] == 0      # the data pages were intact
    pq.write_table(table.replace_schema_metadata(meta), path)
    md = btcflow_nb.from_cache(["spot:coinbase", "spot:bitstamp"])
    assert sorted(md.spot.columns) == ["bitstamp", "coinbase"] and len(md.spot) == 5
    assert "set aside" in md.meta["errors"]["spot:coinbase"]
    [report] = md.meta["salvaged"]["spot:coinbase"]
    assert report["rows_salvaged"] == 5 and report["rows_lost"] == 0
    assert len(list(path.parent.glob("spot-coinbase.parquet.corrupt-*"))) == 2


def test_a_write_failure_on_one_venue_returns_the_others(root, tmp_path, monkeypatch):
    """Disk full while writing one venue's series: that venue is reported in meta["errors"],
    the others are written and returned (it used to abort the whole fetch with an OSError)."""
    from btcflow_nb.sources import cache as cache_module

    real_write = cache_module.write_series

    def disk_full_for_bitstamp(path, frame, series, venue, *args, **kwargs):
        if venue.name == "spot:bitstamp":
            raise OSError(28, "No space left on device")
        return real_write(path, frame, series, venue, *args, **kwargs)

    monkeypatch.setattr(cache_module, "write_series", disk_full_for_bitstamp)
    with FakeExchange(days=5) as fake:
        for k, v in fake.env(tmp_path).items():
            monkeypatch.setenv(k, v)
        md = btcflow_nb.fetch(["spot:coinbase", "spot:bitstamp"], progress=False)
    assert "No space left on device" in md.meta["errors"]["spot:bitstamp"]
    assert "spot:coinbase" not in md.meta["errors"] and md.spot["coinbase"].notna().sum() >= 5


def test_flipped_bits_never_change_values_silently(root):
    """Pages carry CRCs checked on read: a single flipped bit anywhere in a cache file gives
    either the identical frame (a bit nobody reads) or a file set aside -- never different
    numbers (48 % of flips did that before checksums)."""
    import random

    path = series_path(root, "ohlcv", COINBASE, "1d")
    write_series(path, _ohlcv(0, 300), "ohlcv", COINBASE, "1d")
    good = path.read_bytes()
    truth, _ = read_series(path, "ohlcv", COINBASE, "1d")
    rng = random.Random(7)
    outcomes = {"same": 0, "set aside": 0}
    for _ in range(150):
        damaged = bytearray(good)
        i = rng.randrange(4, len(damaged) - 8)       # not the magic bytes at either end
        damaged[i] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(damaged))
        try:
            frame, _ = read_series(path, "ohlcv", COINBASE, "1d")
        except CacheSalvaged as exc:
            outcomes["set aside"] += 1
            _assert_rows_of(exc.frame, truth)   # what was salvaged is exactly true rows
            for moved in path.parent.glob("*.corrupt-*"):
                moved.unlink()
            continue
        pd.testing.assert_frame_equal(frame, truth)   # never silently different values
        outcomes["same"] += 1
    assert outcomes["set aside"] > 100, outcomes


# ---- salvage: a damaged file loses only the row groups the damage touches ----------------------

def _assert_rows_of(part, truth):
    """`part` holds only rows of `truth`, with identical values."""
    expected = truth.set_index("time").loc[part["time"]].reset_index()
    pd.testing.assert_frame_equal(part.reset_index(drop=True), expected)


def _flip_in_group(path, group: int, column: str) -> None:
    """Flip one bit in the middle of `column`'s data in row group `group` of a Parquet file."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    chunk = meta.row_group(group).column(names.index(column))
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    at = start + chunk.total_compressed_size // 2
    data = bytearray(path.read_bytes())
    data[at] ^= 0x10
    path.write_bytes(bytes(data))


N_ROWS = 3 * ROW_GROUP_ROWS + 100          # four row groups, the last one short


@pytest.mark.parametrize("group", range(4))
@pytest.mark.parametrize("column", ["time", "close", "source"])
def test_a_bit_flip_in_one_row_group_loses_only_that_group(root, group, column):
    path = series_path(root, "ohlcv", COINBASE, "1d")
    write_series(path, _ohlcv(0, N_ROWS), "ohlcv", COINBASE, "1d", fetched_at="x",
                 covered_from=123)
    truth, _ = read_series(path, "ohlcv", COINBASE, "1d")
    _flip_in_group(path, group, column)
    damaged = path.read_bytes()
    with pytest.raises(CacheSalvaged) as caught:
        read_series(path, "ohlcv", COINBASE, "1d")
    in_group = min(ROW_GROUP_ROWS, N_ROWS - group * ROW_GROUP_ROWS)
    report = caught.value.report
    assert report["rows_salvaged"] == N_ROWS - in_group and report["rows_lost"] == in_group
    assert f"{N_ROWS - in_group} of {N_ROWS} rows salvaged" in str(caught.value)
    # the rows of the other groups are the series' file now, identical to what was written
    back, meta = read_series(path, "ohlcv", COINBASE, "1d")
    lost = truth.iloc[group * ROW_GROUP_ROWS:group * ROW_GROUP_ROWS + in_group]
    assert len(back) == N_ROWS - in_group and not back["time"].isin(lost["time"]).any()
    _assert_rows_of(back, truth)
    assert meta["covered_from"] == 123 and meta["fetched_at"] == "x"
    # the damaged file is kept, byte for byte
    [moved] = path.parent.glob("spot-coinbase.parquet.corrupt-*")
    assert moved.read_bytes() == damaged


def test_a_fetch_merging_into_a_damaged_file_keeps_the_salvaged_rows(root):
    path = series_path(root, "ohlcv", COINBASE, "1d")
    write_series(path, _ohlcv(0, N_ROWS), "ohlcv", COINBASE, "1d")
    truth, _ = read_series(path, "ohlcv", COINBASE, "1d")
    _flip_in_group(path, 1, "close")
    notes = []
    merged, _, _ = merge_into(path, _ohlcv(N_ROWS, 3, base=9e4), "ohlcv", COINBASE, "1d",
                              notes=notes)
    assert len(merged) == N_ROWS - ROW_GROUP_ROWS + 3        # salvaged + new, nothing else lost
    assert any("rows salvaged" in n for n in notes)
    back, _ = read_series(path, "ohlcv", COINBASE, "1d")
    _assert_rows_of(back.iloc[:-3], truth)


def test_random_bit_flips_in_a_multi_group_file_lose_at_most_the_groups_hit(root):
    """Single-bit flips anywhere in a four-group file: the frame read is identical, or the
    file is set aside and every row of the groups the flip did not touch is salvaged
    (the footer hit: nothing can be found, and that is said)."""
    import random

    path = series_path(root, "ohlcv", COINBASE, "1d")
    write_series(path, _ohlcv(0, N_ROWS), "ohlcv", COINBASE, "1d")
    good = path.read_bytes()
    truth, _ = read_series(path, "ohlcv", COINBASE, "1d")
    rng = random.Random(11)
    counts = {"same": 0, "one group lost": 0, "footer": 0}
    for _ in range(120):
        damaged = bytearray(good)
        damaged[rng.randrange(4, len(good) - 8)] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(damaged))
        try:
            frame, _ = read_series(path, "ohlcv", COINBASE, "1d")
            pd.testing.assert_frame_equal(frame, truth)
            counts["same"] += 1
        except CacheSalvaged as exc:
            _assert_rows_of(exc.frame, truth)
            lost = exc.report["rows_lost"]
            if lost is None or exc.report["rows_salvaged"] == 0:
                counts["footer"] += 1
            else:
                assert lost <= ROW_GROUP_ROWS, exc.report
                counts["one group lost"] += 1
        for moved in path.parent.glob("*.corrupt-*"):
            moved.unlink()
    assert counts["one group lost"] > 60, counts
