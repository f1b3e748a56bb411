"""`bf.load`: the cache refreshed when online, a first fetch on an empty cache, the demo when
there is neither; `$BTCFLOW_NB_SOURCE`; a bounded connectivity check. Offline, through the fake
exchange (BTCFLOW_NB_API_BASE); a closed local port plays "no network"."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

import btcflow_nb as bf
from btcflow_nb.sources.load import SOURCE_CHOICES, network_reachable
from btcflow_nb.testing.fake_exchange import FakeExchange

VENUES = ["spot:coinbase", "perp:bybit"]


@pytest.fixture(scope="module")
def closed_port():
    """A loopback port nobody listens on (bound, never listening: connects are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture()
def offline(monkeypatch, tmp_path, closed_port):
    """No network: every probe goes to a closed local port; an empty private cache."""
    monkeypatch.setenv("BTCFLOW_NB_API_BASE", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("BTCFLOW_NB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BTCFLOW_NB_CONFIG", raising=False)
    monkeypatch.delenv("BTCFLOW_NB_SOURCE", raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """bf.load() on an empty cache with the fake exchange reachable: (fake, md, env)."""
    tmp = tmp_path_factory.mktemp("load")
    with FakeExchange(days=30) as fake, pytest.MonkeyPatch.context() as mp:
        env = fake.env(tmp)
        for k, v in env.items():
            mp.setenv(k, v)
        mp.delenv("BTCFLOW_NB_SOURCE", raising=False)
        md = bf.load(venues=VENUES, progress=False)
        yield fake, md, env


def test_empty_cache_with_network_fetches_and_returns_live_data(filled):
    fake, md, env = filled
    assert md.meta["source"] == "live" and not md.meta["synthetic"]
    info = md.meta["load"]
    assert info["source"] == "live" and info["network"] is True and info["fallback"] is None
    assert info["requested"] == "auto" and info["chosen_by"] == "default"
    assert info["fetched_at"] == md.meta["fetched_at"] and info["failures"] == {}
    assert list(md.spot.columns) == ["coinbase"] and list(md.perp.columns) == ["bybit"]
    assert {r.exchange_id for r in fake.log()} >= {"coinbase", "bybit"}
    assert list(Path(env["BTCFLOW_NB_CACHE_DIR"]).rglob("*.parquet"))
    assert bf.load_summary(md) == info["summary"]
    assert info["summary"].startswith("live: fetched ") and "2 venue series" in info["summary"]
    assert info["api_base"] and "from $BTCFLOW_NB_API_BASE" in info["summary"]


def test_with_a_cache_and_network_the_cache_is_refreshed(filled, monkeypatch):
    fake, first, env = filled
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    before = len(fake.log())
    md = bf.load(venues=VENUES, progress=False)
    assert md.meta["load"]["source"] == "live"
    # incremental: markets plus about one request per series, not the history again
    assert 0 < len(fake.log()) - before <= 20 < before
    assert md.spot.index.equals(first.spot.index)


def test_offline_with_a_cache_returns_the_cache(filled, offline, monkeypatch):
    fake, live, env = filled
    monkeypatch.setenv("BTCFLOW_NB_CACHE_DIR", env["BTCFLOW_NB_CACHE_DIR"])
    md = bf.load(venues=VENUES, progress=False)
    info = md.meta["load"]
    assert md.meta["source"] == "cache" and info["network"] is False
    assert info["fallback"].startswith("no network: using the cache from ")
    assert info["fallback"].endswith(" UTC")
    assert md.spot.equals(live.spot)
    assert "no network" in bf.load_summary(md) and "/" not in bf.load_summary(md).split("UTC")[0]


def test_offline_with_nothing_returns_the_labelled_demo(offline):
    md = bf.load()
    assert md.meta["source"] == "demo" and md.meta["synthetic"]
    info = md.meta["load"]
    assert info["network"] is False and info["fallback"] == "no network and an empty cache"
    assert info["summary"] == ("demo: SYNTHETIC DEMO DATA, not market data -- no network and an "
                               "empty cache")
    assert not offline.exists() or not list(offline.rglob("*.parquet"))


def test_every_venue_failing_falls_back_and_says_why(offline, monkeypatch, tmp_path):
    """The probe answers (a listening socket) but no venue does: demo, failures listed."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    port = server.getsockname()[1]
    stop = threading.Event()

    def refuse():   # accept and close at once: every HTTP request fails
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                pass

    t = threading.Thread(target=refuse, daemon=True)
    t.start()
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"retry": {"attempts": 1, "base_delay": 0.01}}')
    monkeypatch.setenv("BTCFLOW_NB_CONFIG", str(cfg))
    monkeypatch.setenv("BTCFLOW_NB_API_BASE", f"http://127.0.0.1:{port}")
    try:
        md = bf.load(venues=["spot:coinbase"], progress=False)
    finally:
        stop.set()
        t.join()
        server.close()
    info = md.meta["load"]
    assert md.meta["source"] == "demo" and info["network"] is True
    assert info["fallback"] == "every venue failed (1) and an empty cache"
    assert "spot:coinbase" in info["failures"] and "failed: spot:coinbase" in info["summary"]


@pytest.mark.parametrize("value, source", [("demo", "demo"), ("DEMO", "demo")])
def test_btcflow_nb_source_chooses(filled, monkeypatch, value, source):
    fake, live, env = filled
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("BTCFLOW_NB_SOURCE", value)
    before = len(fake.log())
    md = bf.load(venues=VENUES, progress=False)
    assert md.meta["source"] == source and len(fake.log()) == before
    assert md.meta["load"]["chosen_by"] == "$BTCFLOW_NB_SOURCE"
    assert md.meta["load"]["summary"].endswith("($BTCFLOW_NB_SOURCE=demo)")


def test_btcflow_nb_source_cache_uses_no_network(filled, monkeypatch):
    fake, live, env = filled
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("BTCFLOW_NB_SOURCE", "cache")
    before = len(fake.log())
    md = bf.load(venues=VENUES)
    assert md.meta["source"] == "cache" and len(fake.log()) == before
    assert md.meta["load"]["network"] is None


def test_source_cache_on_an_empty_cache_raises(offline):
    with pytest.raises(ValueError, match="holds no 1d data"):
        bf.load("cache")


def test_the_argument_wins_over_the_variable(offline, monkeypatch):
    monkeypatch.setenv("BTCFLOW_NB_SOURCE", "cache")
    md = bf.load("demo")
    assert md.meta["source"] == "demo" and md.meta["load"]["chosen_by"] == "argument"


def test_bad_source_values_name_the_choices(offline, monkeypatch):
    with pytest.raises(ValueError) as err:
        bf.load("web")
    assert "'web'" in str(err.value) and all(repr(c) in str(err.value) for c in SOURCE_CHOICES)
    monkeypatch.setenv("BTCFLOW_NB_SOURCE", "internet")
    with pytest.raises(ValueError) as err:
        bf.load()
    assert "BTCFLOW_NB_SOURCE='internet'" in str(err.value)
    assert all(repr(c) in str(err.value) for c in SOURCE_CHOICES)
    with pytest.raises(ValueError, match="timeout"):
        bf.load("demo", timeout=0)


def test_connectivity_check_to_a_closed_port_is_false(closed_port):
    assert network_reachable("127.0.0.1", closed_port, timeout=1.0) is False


def test_connectivity_check_never_waits_for_a_hanging_connect(monkeypatch):
    """A connect that hangs (e.g. a DNS resolver timing out) is abandoned after `timeout`: the
    check answers False while the connect is still hanging."""
    release = threading.Event()
    calls = []

    def hang(*args, **kwargs):
        calls.append(args)
        release.wait(60)
        raise OSError("released")

    monkeypatch.setattr(socket, "create_connection", hang)
    try:
        started = time.monotonic()
        assert network_reachable("example.invalid", 443, timeout=0.2) is False
        assert calls and not release.is_set()
        assert time.monotonic() - started < 30   # a hang guard, not a speed assertion
    finally:
        release.set()


def test_connectivity_check_to_a_listening_port_is_true():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        assert network_reachable("127.0.0.1", server.getsockname()[1], timeout=2.0) is True
    finally:
        server.close()
