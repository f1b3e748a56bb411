"""Fixtures of the watcher tests: one fake exchange and one warm cache per module (a first fetch
of 20 days of hourly bars costs ~10 s; each test copies the cache and starts from the same
clock), a self-signed certificate, local webhook and SMTP receivers."""
from __future__ import annotations

import shutil

import pytest

import btcflow_nb
from btcflow_nb.testing.fake_exchange import HOUR_MS, FakeExchange, Truth
from btcflow_nb.testing.receivers import SMTPReceiver, WebhookReceiver, self_signed_cert

VENUES = ["spot:coinbase", "spot:kraken", "perp:binance", "perp:okx", "perp:bybit"]
#: flow_metrics settings for 20 days of hourly bars (the default one-year z window is too long)
SETTINGS = {"lookback": 48}
SMTP_USER, SMTP_PASSWORD = "alerts", "smtp-pass-Zq81x"


@pytest.fixture(scope="module")
def fake():
    truth = Truth.recent(20)
    with FakeExchange(truth) as server:
        server.start_ms = truth.end - 1 - 12 * HOUR_MS - 25 * 60_000   # mid-hour, in the past
        server.set_now(server.start_ms)
        yield server


@pytest.fixture(scope="module")
def warm_cache(fake, tmp_path_factory):
    base = tmp_path_factory.mktemp("warm")
    env = fake.env(base, retry_attempts=2)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        fake.set_now(fake.start_ms)
        btcflow_nb.fetch(VENUES, timeframe="1h", progress=False)
    return base / "cache"


@pytest.fixture
def data_env(fake, warm_cache, tmp_path, monkeypatch):
    """os.environ pointed at the fake exchange with a private copy of the warm cache; the
    fake's clock back at its start."""
    env = fake.env(tmp_path / "data", retry_attempts=2)
    shutil.copytree(warm_cache, env["BTCFLOW_NB_CACHE_DIR"])
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    fake.set_now(fake.start_ms)
    fake.clear_faults()
    return env


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def hook():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp(cert):
    with SMTPReceiver(*cert, user=SMTP_USER, password=SMTP_PASSWORD) as server:
        yield server


@pytest.fixture
def smtp_env(monkeypatch):
    monkeypatch.setenv("BTCFLOW_NB_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("BTCFLOW_NB_SMTP_PASSWORD", SMTP_PASSWORD)


ALL_KINDS = ["premium_high", "premium_low", "bullish", "bearish", "overleveraged",
             "cycle_top", "cycle_bottom"]


def write_config(path, *, smtp=None, cert=None, kinds=ALL_KINDS, retry=None, **extra):
    """A JSON watch config at ``path`` for the fake exchange's venues (1h bars, lookback 48)."""
    import json

    cfg = {"venues": VENUES,
           "rules": [{"alerts": list(kinds), "timeframe": "1h", "settings": SETTINGS}],
           "retry": {"attempts": 3, "base_delay": 0.01, "max_delay": 0.05, "timeout": 2.0,
                     **(retry or {})}}
    if smtp is not None:
        cfg["email"] = {"to": ["desk@example.com"], "host": smtp.host, "port": smtp.port,
                        "from": "watch@example.com", "cafile": str(cert[0])}
    cfg.update(extra)
    path.write_text(json.dumps(cfg))
    return path


def cycle_metrics(now, cache_dir=None):
    """flow_metrics of the cache as it is now (read back with from_cache up to ``now``): what a
    cycle that just ran saw, computed without the watcher."""
    md = btcflow_nb.from_cache(VENUES, timeframe="1h", until=now, cache_dir=cache_dir)
    return btcflow_nb.flow_metrics(md, "1h", **SETTINGS)


def onsets_between(m, kinds, first_bar, last_bar):
    """{(kind, bar ISO)} of the onsets of ``m`` between two bars (inclusive)."""
    import pandas as pd

    from btcflow_nb.alerts.rules import KIND_SIGNAL

    m = m.loc[pd.Timestamp(first_bar):pd.Timestamp(last_bar)]
    return {(k, t.isoformat()) for k in kinds for t in m.index[m[f"{KIND_SIGNAL[k]}_onset"]]}
