"""Several processes on one cache lose no row (issue "No lost rows, ever").

Real subprocesses, not threads: each merges its own rows into the same series file through
`cache.merge_into` (the path every fetch and import takes), or fetches from the fake exchange
into one cache directory. Without the per-series lock, read-merge-write races drop the other
process's rows; a reader racing a writer used to take a file being replaced for a corrupt one.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

import btcflow_nb
from btcflow_nb.sources.cache import cache_root, read_series, series_path
from btcflow_nb.sources.venues import DEFAULT_VENUES
from btcflow_nb.testing.fake_exchange import FakeExchange, Truth

VENUE = next(v for v in DEFAULT_VENUES if v.name == "perp:binance")
HOUR_MS = 3_600_000

WRITER = textwrap.dedent("""
    import sys, pandas as pd
    from pathlib import Path
    from btcflow_nb.sources.cache import merge_into
    from btcflow_nb.sources.venues import DEFAULT_VENUES
    venue = next(v for v in DEFAULT_VENUES if v.name == "perp:binance")
    path, worker, rounds, rows = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    for r in range(rounds):
        # worker w owns hours w, w + N, w + 2N, ... (disjoint from every other worker)
        hours = [(r * rows + i) * 8 + worker for i in range(rows)]
        t = pd.to_datetime([h * 3_600_000 for h in hours], unit="ms", utc=True)
        frame = pd.DataFrame({"time": t, "open": 1.0, "high": 1.0, "low": 1.0,
                              "close": [float(h) for h in hours], "volume": 1.0})
        merge_into(path, frame, "ohlcv", venue, "1h", "2024-01-01T00:00:00+00:00")
""")

READER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from btcflow_nb.sources.cache import read_series
    from btcflow_nb.sources.venues import DEFAULT_VENUES
    venue = next(v for v in DEFAULT_VENUES if v.name == "perp:binance")
    path, seconds = Path(sys.argv[1]), float(sys.argv[2])
    end, reads = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        read_series(path, "ohlcv", venue, "1h")   # raises CacheError if it calls the file bad
        reads += 1
    print(reads, flush=True)
    # leave without interpreter teardown: pyarrow's thread pool can abort a process at
    # teardown ("terminate called without an active exception", apache/arrow#34314; 1 reader
    # in 26 here), which says nothing about what this test checks
    import os; os._exit(0)
""")


def _spawn(code: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


#: trials per test (``BTCFLOW_NB_PROCESS_TRIALS=30`` for a long soak run; 3 by default)
TRIALS = int(os.environ.get("BTCFLOW_NB_PROCESS_TRIALS", "3"))


def _finish(procs) -> list[str]:
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
        outs.append(out)
    return outs


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 4])
def test_processes_merging_into_one_series_lose_no_row(tmp_path, processes):
    rounds, rows = 12, 5
    for trial in range(TRIALS):
        path = series_path(cache_root(tmp_path / f"t{trial}"), "ohlcv", VENUE, "1h")
        _finish([_spawn(WRITER, path, w, rounds, rows) for w in range(processes)])
        frame, _ = read_series(path, "ohlcv", VENUE, "1h")
        hours = sorted(int(t.value // 1_000_000 // HOUR_MS) for t in frame["time"])
        want = sorted((r * rows + i) * 8 + w for w in range(processes) for r in range(rounds)
                      for i in range(rows))
        assert hours == want, f"trial {trial}: {len(want) - len(hours)} rows lost"
        assert not list(path.parent.glob("*.corrupt-*"))
        assert not list(path.parent.glob(".*.tmp"))


@pytest.mark.slow
def test_a_reader_racing_writers_never_sets_a_healthy_file_aside(tmp_path):
    for trial in range(max(1, TRIALS // 3)):
        path = series_path(cache_root(tmp_path / f"t{trial}"), "ohlcv", VENUE, "1h")
        _finish([_spawn(WRITER, path, 0, 1, 5)])          # the file exists before the race
        readers = [_spawn(READER, path, 6.0) for _ in range(2)]
        writers = [_spawn(WRITER, path, w, 40, 5) for w in (1, 2)]
        reads = _finish(readers)
        _finish(writers)
        assert sum(int(r) for r in reads) > 50
        assert not list(path.parent.glob("*.corrupt-*"))
        assert len(read_series(path, "ohlcv", VENUE, "1h")[0]) == 5 + 2 * 40 * 5


FETCHER = textwrap.dedent("""
    import sys, btcflow_nb
    md = btcflow_nb.fetch(sys.argv[1].split(","), since=int(sys.argv[2]), progress=False)
    assert not md.meta["errors"], md.meta["errors"]
""")


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 4])
def test_processes_fetching_into_one_cache_lose_no_row(tmp_path, processes):
    """Each process fetches an overlapping venue set from the fake into the same cache; the
    cache ends with every bar, funding event and OI history row of the truth."""
    venue_sets = [["perp:binance", "perp:okx"], ["perp:okx", "perp:bybit"],
                  ["perp:bybit", "perp:binance"], ["perp:binance", "perp:okx", "perp:bybit"]]
    truth = Truth.recent(6)
    with FakeExchange(truth) as fake:
        for trial in range(max(1, TRIALS // 3)):
            _fetch_trial(fake, truth, tmp_path / f"t{trial}", venue_sets[:processes])


def _fetch_trial(fake, truth, tmp_path, venue_sets):
    """One trial: the processes fetch at once into a fresh cache; no row lost, nothing set
    aside or held back."""
    env = fake.env(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", FETCHER, ",".join(venue_sets[i]),
                               str(truth.start)], env={**os.environ, **env},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(len(venue_sets))]
    _finish(procs)
    root = cache_root(env["BTCFLOW_NB_CACHE_DIR"])
    assert not list(root.rglob("*.corrupt-*")) and not list(root.rglob("*.rejected-*"))
    md = btcflow_nb.from_cache(["perp:binance", "perp:okx", "perp:bybit"],
                               cache_dir=env["BTCFLOW_NB_CACHE_DIR"])
    for name in ("binance", "okx", "bybit"):
        want = fake.truth.closes(f"perp:{name}", "1d", fake.now_ms)
        got = md.perp[name].dropna()
        assert list(got.index) == list(want.index), name
        events = md.funding[md.funding["venue"] == name]
        assert len(events) == len(pd.unique(events["time"])) > 0
