"""``btcflow-nb watch`` as a real subprocess: ``kill -9`` at random moments during delivery, then
a restart, delivers every alert at least once on every channel, and a repeat always carries the
same idempotency key; ``--once`` exit status; ``--dry-run`` sends and records nothing."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from btcflow_nb.testing.receivers import SMTPReceiver, WebhookReceiver

from .conftest import ALL_KINDS, SMTP_PASSWORD, SMTP_USER, cycle_metrics, onsets_between, \
    write_config

ROOT = Path(__file__).resolve().parents[2]
CHAINS, KILLS_PER_CHAIN = 4, 6   # 24 kill attempts (>= 20 must land during delivery)
SECRET_PATH = "/hooks/T9/B9/secret-token-4711abcdef"


def _watch(args, env, **kw):
    return subprocess.Popen([sys.executable, "-m", "btcflow_nb.cli", "watch", *args], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


@pytest.fixture(scope="module")
def world(fake, warm_cache, tmp_path_factory, cert):
    """The fake exchange's clock at the real now, a shared copy of the warm cache, receivers
    that take their time (a wide window for a kill during delivery), the environment."""
    base = tmp_path_factory.mktemp("kill")
    fake.set_now(int(time.time() * 1000))
    env = dict(os.environ, **fake.env(base / "data", retry_attempts=2))
    shutil.copytree(warm_cache, env["BTCFLOW_NB_CACHE_DIR"])
    env.update(BTCFLOW_NB_SMTP_USER=SMTP_USER, BTCFLOW_NB_SMTP_PASSWORD=SMTP_PASSWORD,
               PYTHONPATH=str(ROOT))
    with WebhookReceiver(delay=0.03) as hook, \
            SMTPReceiver(*cert, user=SMTP_USER, password=SMTP_PASSWORD, delay=0.03) as smtp:
        as_of = pd.Timestamp(fake.now_ms, unit="ms", tz="UTC")
        yield {"base": base, "env": env, "hook": hook, "smtp": smtp, "as_of": as_of,
               "since": as_of.floor("h") - pd.Timedelta(hours=96)}


def _args(world, trial_dir, cert, hook_url):
    cfg = write_config(trial_dir / "watch.json", smtp=world["smtp"], cert=cert,
                       jsonl=[str(trial_dir / "alerts.jsonl")])
    return ["--once", "--config", str(cfg), "--state", str(trial_dir / "state.json"),
            "--webhook", hook_url, "--as-of", world["as_of"].isoformat(),
            "--since", world["since"].isoformat()]


def _received(world, trial_dir, hook_from, smtp_from):
    """channel -> [(kind, bar, key)] of what each receiver got in this trial."""
    hook = [(b["kind"], b["bar_open"], b["idempotency_key"])
            for b in world["hook"].accepted[hook_from:]]
    mails = []
    for m in world["smtp"].messages[smtp_from:]:
        kind_bar = m["Subject"].split(" at bar ")
        bar = pd.Timestamp(kind_bar[1].replace(" UTC", ""), tz="UTC").isoformat()
        mails.append((kind_bar[0].split()[-1], bar,
                      m["X-Btcflow-Idempotency-Key"]))
    lines = [json.loads(x) for x in (trial_dir / "alerts.jsonl").read_text().splitlines()]
    return {"webhook": hook, "email": mails,
            "jsonl": [(a["kind"], a["bar_open"], a["idempotency_key"]) for a in lines]}


def _kill_during_delivery(args, env, hook, k, rng, stats):
    """Start a watcher, SIGKILL it once the k-th webhook request of this run has arrived plus a
    random moment (0-60 ms: inside a delivery, between two, or while the state is written)."""
    arrived_from = len(hook.requests)
    proc = _watch(args, env)
    deadline = time.monotonic() + 120
    while (len(hook.requests) - arrived_from < k and proc.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.002)
    time.sleep(rng.uniform(0, 0.06))
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        stats["killed"] += 1
        killed = True
    else:
        stats["finished before the kill"] += 1
        killed = False
    proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()
    return killed


@pytest.mark.slow
def test_kill_9_during_delivery_then_restart_delivers_every_alert_at_least_once(world, cert):
    """CHAINS state files, each killed KILLS_PER_CHAIN times in a row (every restart but the last
    is itself killed at a random moment of its delivery), then a run to the end: every alert
    arrives at least once on every channel, a repeat keeps its key, and each kill repeats at
    most the one message in flight per channel. A first run without a kill fills the cache
    (shared by all) and gives the expected alerts."""
    rng = random.Random(20261130)
    hook, smtp, env = world["hook"], world["smtp"], world["env"]
    stats = defaultdict(int)
    expected = None
    for chain in range(CHAINS + 1):
        trial_dir = world["base"] / f"chain{chain}"
        trial_dir.mkdir()
        args = _args(world, trial_dir, cert, hook.url + SECRET_PATH)
        hook_from, smtp_from = len(hook.accepted), len(smtp.messages)
        kills = 0
        for _ in range(KILLS_PER_CHAIN if expected is not None else 0):
            seen = {(b["kind"], b["bar_open"]) for b in hook.accepted[hook_from:]}
            remaining = len(expected) - len(seen)
            kills += _kill_during_delivery(args, env, hook, rng.randint(1, max(1, min(
                4, remaining))), rng, stats)
        done = subprocess.run([sys.executable, "-m", "btcflow_nb.cli", "watch", *args],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "secret-token" not in done.stderr + done.stdout
        assert "secret-token" not in (trial_dir / "state.json").read_text()
        if expected is None:   # the first run has no kill: the cache is now up to date
            metrics = cycle_metrics(world["as_of"], env["BTCFLOW_NB_CACHE_DIR"])
            last_closed = world["as_of"].floor("h") - pd.Timedelta(hours=1)
            expected = onsets_between(metrics, ALL_KINDS, world["since"], last_closed)
            assert len(expected) >= 4
        got = _received(world, trial_dir, hook_from, smtp_from)
        for channel, rows in got.items():
            kinds_bars = {(k, pd.Timestamp(b).isoformat()) for k, b, _ in rows}
            assert kinds_bars == expected, (chain, channel)
            keys = defaultdict(set)
            for k, b, key in rows:
                keys[(k, pd.Timestamp(b).isoformat())].add(key)
            assert all(len(v) == 1 for v in keys.values()), (chain, channel, "new key on repeat")
            # each kill: at most the one message in flight on each channel is sent again
            assert len(rows) - len(kinds_bars) <= kills, (chain, channel, "re-sent delivered")
            stats[f"repeats {channel}"] += len(rows) - len(kinds_bars)
    # a further run on a finished state sends nothing at all
    before = (len(hook.requests), len(smtp.sessions))
    again = subprocess.run([sys.executable, "-m", "btcflow_nb.cli", "watch", *args],
                           env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and (len(hook.requests), len(smtp.sessions)) == before
    print(f"\nkill -9: {CHAINS * KILLS_PER_CHAIN} kill attempts in {CHAINS} chains, "
          f"{dict(stats)}, {len(expected)} alerts per chain")
    assert stats["killed"] >= 20


def test_once_exit_status_says_a_channel_failed(world, cert, tmp_path):
    cfg = write_config(tmp_path / "w.json", retry={"attempts": 2})
    done = subprocess.run(
        [sys.executable, "-m", "btcflow_nb.cli", "watch", "--once", "--config", str(cfg),
         "--state", str(tmp_path / "s.json"), "--webhook", "http://127.0.0.1:1" + SECRET_PATH,
         "--jsonl", str(tmp_path / "a.jsonl"), "--as-of", world["as_of"].isoformat(),
         "--since", world["since"].isoformat()],
        env=world["env"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "FAILED webhook http://127.0.0.1:1 (json)" in done.stderr
    assert "secret-token" not in done.stderr + done.stdout
    state = json.loads((tmp_path / "s.json").read_text())
    # the other channel delivered everything
    assert (tmp_path / "a.jsonl").read_text().count("\n") == len(state["alerts"]) >= 1
    statuses = [d["status"] for e in state["alerts"].values() for d in e["deliveries"].values()]
    assert "pending" in statuses and "delivered" in statuses
    assert "secret-token" not in json.dumps(state)


def test_dry_run_sends_and_records_nothing(world, tmp_path):
    hook = world["hook"]
    before = len(hook.requests)
    cfg = write_config(tmp_path / "w.json")
    done = subprocess.run(
        [sys.executable, "-m", "btcflow_nb.cli", "watch", "--dry-run", "--config", str(cfg),
         "--state", str(tmp_path / "s.json"), "--webhook", hook.url, "--as-of",
         world["as_of"].isoformat(), "--since", world["since"].isoformat()],
        env=world["env"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Why (bf.explain):" in done.stdout and "would go to webhook" in done.stdout
    assert len(hook.requests) == before and not (tmp_path / "s.json").exists()


def test_bad_flags_exit_2_naming_the_value(world, tmp_path):
    for args, words in ((["--alerts", "bullish,moon"], ["'moon'", "premium_high"]),
                        (["--timeframe", "15m"], ["'15m'", "1h, 4h, 1D"]),
                        (["--every", "soon"], ["every='soon'", "'15m'"]),
                        (["--as-of", "2026-01-01"], ["--as-of", "--once"])):
        done = subprocess.run([sys.executable, "-m", "btcflow_nb.cli", "watch", "--state",
                               str(tmp_path / "s.json"), *args], env=world["env"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, (args, done.stderr)
        assert all(w in done.stderr for w in words), (args, done.stderr)


def test_the_loop_runs_cycles_until_sigterm(world, tmp_path):
    """Without --once: a cycle every --every, logged on stderr; SIGTERM ends it with status 0;
    the first cycle (no --since) evaluates only the latest closed bar."""
    hook = world["hook"]
    before = len(hook.requests)
    cfg = write_config(tmp_path / "w.json")
    err = open(tmp_path / "stderr.txt", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "btcflow_nb.cli", "watch", "--config",
                             str(cfg), "--state", str(tmp_path / "s.json"), "--every", "1s",
                             "--webhook", hook.url],
                            env=world["env"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 120
    while (tmp_path / "stderr.txt").read_text().count("new alert(s)") < 3:
        assert proc.poll() is None and time.monotonic() < deadline, \
            (tmp_path / "stderr.txt").read_text()[-2000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    err.close()
    log = (tmp_path / "stderr.txt").read_text()
    assert "rules: " in log and "channels: webhook http://127.0.0.1:" in log
    state = json.loads((tmp_path / "s.json").read_text())
    bars = {pd.Timestamp(e["alert"]["bar_open"]) for e in state["alerts"].values()}
    # no history: only the latest closed bar (two if an hour ended during the test)
    assert all(b >= pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=2) for b in bars)
    assert len(hook.requests) - before == len(state["alerts"])
    assert state["watermarks"]            # every kind has its watermark after the first cycle
