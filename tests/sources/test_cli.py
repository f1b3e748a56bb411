"""`btcflow-nb fetch / coverage / venues` through the installed console script, against the fake
exchange (configured by environment variables only, as a user would)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from btcflow_nb.cli import main
from btcflow_nb.testing.fake_exchange import FakeExchange

SCRIPT = shutil.which("btcflow-nb")


@pytest.fixture(scope="module")
def fake():
    with FakeExchange(days=4) as f:
        yield f


def _run(args, env):
    cmd = [SCRIPT] if SCRIPT else [sys.executable, "-m", "btcflow_nb.cli"]
    return subprocess.run(cmd + args, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=300)


def test_fetch_then_coverage_through_the_console_script(fake, tmp_path):
    env = fake.env(tmp_path)
    since = str(fake.truth.closes("spot:kraken").index[0].date())
    done = _run(["fetch", "--venues", "spot:kraken", "perp:okx", "--since", since], env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["field", "venue", "first", "last", "rows", "gaps"]
    assert any(l.split()[:2] == ["spot", "kraken"] and l.split()[-2:] == ["5", "0"] for l in lines)
    assert any(l.split()[:2] == ["funding", "okx"] for l in lines)
    assert "perp:okx" in done.stderr              # the progress bars
    cov = _run(["coverage", "--venues", "spot:kraken", "perp:okx"], env)
    assert cov.returncode == 0, cov.stderr
    assert cov.stdout.splitlines()[:3] == lines[:3]


def test_errors_and_exit_status(fake, tmp_path, capsys, monkeypatch):
    for k, v in fake.env(tmp_path).items():
        monkeypatch.setenv(k, v)
    assert main(["fetch", "--venues", "ftx", "--no-progress"]) == 2
    assert "unknown venue 'ftx'" in capsys.readouterr().err
    assert main(["coverage", "--venues", "spot:coinbase"]) == 2
    assert "cache holds no 1d data" in capsys.readouterr().err
    fake.inject("503", exchange_id="coinbase", times=None)
    try:
        assert main(["fetch", "--venues", "spot:coinbase", "--no-progress",
                     "--since", "2026-01-01"]) == 1
    finally:
        fake.clear_faults()
    assert "every venue failed" in capsys.readouterr().err
    fake.inject("503", exchange_id="coinbase", times=None)
    try:
        assert main(["fetch", "--venues", "spot:coinbase", "spot:kraken", "--no-progress"]) == 0
    finally:
        fake.clear_faults()
    out = capsys.readouterr().out
    assert "error  spot:coinbase: ExchangeNotAvailable" in out and "kraken" in out


def test_venues_table_and_render_dispatch(capsys, monkeypatch):
    assert main(["venues"]) == 0
    out = capsys.readouterr().out
    assert "perp:hyperliquid" in out and "fixed 1h" in out
    seen = {}
    import btcflow_nb.render as render

    monkeypatch.setattr(render, "main", lambda argv: seen.setdefault("argv", argv) and 0 or 0)
    assert main(["render", "--help-me", "x.ipynb"]) == 0
    assert seen["argv"] == ["--help-me", "x.ipynb"]


def test_fetch_dated_futures_option(fake, tmp_path, capsys, monkeypatch):
    """--dated okx: OKX's dated contracts are fetched and listed in the coverage table
    (field "futures", one row per contract); a bad key names the valid ones (exit 2)."""
    for k, v in fake.env(tmp_path).items():
        monkeypatch.setenv(k, v)
    assert main(["fetch", "--venues", "spot:coinbase", "--dated", "okx", "--no-progress"]) == 0
    rows = [l.split() for l in capsys.readouterr().out.splitlines()]
    futures = [r for r in rows if r[0] == "futures"]
    want = fake.truth.dated_expiries("okx", fake.now_ms)
    assert len(futures) == len(want) > 0
    assert all(r[1] == "okx" and r[2].startswith("BTC/USD:BTC-") for r in futures)
    assert main(["fetch", "--venues", "spot:coinbase", "--dated", "none", "--no-progress"]) == 0
    assert main(["fetch", "--venues", "spot:coinbase", "--dated", "kraken"]) == 2
    assert "unknown dated-futures venue 'kraken'" in capsys.readouterr().err
