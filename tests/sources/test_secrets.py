"""API keys passed by a user never appear in the cache, outputs, logs or error messages.

Exchanges are created with fake keys (some venues then even call private endpoints while loading
markets, which the fake exchange refuses -- producing error messages) and one venue is made to
fail; then every byte written to the cache, every log record (DEBUG, btcflow_nb and ccxt),
stdout/stderr including the progress bars, the MarketData (repr, meta, coverage as HTML) and the
raised error are scanned for the secrets.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import btcflow_nb
from btcflow_nb import FetchError
from btcflow_nb.testing.fake_exchange import FakeExchange

SECRETS = {"apiKey": "KEY-d0a1f3c9e8b7a6", "secret": "SECRET-5e4d3c2b1a0f9e8d",
           "password": "PASS-7c6b5a4f3e2d"}
VENUES = ["spot:coinbase", "spot:binance", "perp:okx", "perp:kucoin", "perp:gate",
          "perp:deribit"]


@pytest.fixture(scope="module")
def fake():
    with FakeExchange(days=4) as f:
        yield f


def _assert_clean(text: str, where: str):
    for name, value in SECRETS.items():
        assert value not in text, f"{name} leaked into {where}"
        assert value[5:] not in text, f"part of {name} leaked into {where}"


def _scan_cache(directory):
    for path in directory.rglob("*"):
        if path.is_file():
            _assert_clean(path.read_bytes().decode("latin-1"), f"cache file {path.name}")


def test_keys_never_leak(fake, tmp_path, monkeypatch, caplog, capsys):
    env = fake.env(tmp_path)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    exchanges = {eid: fake.exchange(eid, rateLimit=1, **SECRETS)
                 for eid in ("coinbase", "binance", "okx", "kucoinfutures", "gate", "deribit")}
    fake.inject("503", exchange_id="deribit", times=None)
    caplog.set_level(logging.DEBUG)
    md = btcflow_nb.fetch(VENUES, since=fake.truth.start, exchanges=exchanges, progress=True)
    assert "perp:deribit" in md.meta["errors"], md.meta["errors"]
    assert len(md.perp.columns) >= 1, md.meta["errors"]   # ... and other venues delivered
    out = capsys.readouterr()
    _assert_clean(out.out + out.err, "stdout/stderr (progress bars)")
    _assert_clean("\n".join(r.getMessage() for r in caplog.records), "log records")
    _assert_clean(repr(md) + json.dumps(md.meta, default=str), "MarketData repr/meta")
    _assert_clean(md.coverage().to_html() + md.spot.to_html(), "displayed tables")
    _scan_cache(tmp_path / "cache")
    # what reached the server: query strings of public requests carry no key
    _assert_clean(json.dumps([r.query for r in fake.log()]), "request query strings")


def test_keys_from_the_config_file_do_not_leak_in_errors(fake, tmp_path, monkeypatch):
    env = fake.env(tmp_path)
    config = json.loads(Path(env["BTCFLOW_NB_CONFIG"]).read_text())
    for options in config["exchanges"].values():
        options.update(SECRETS)
    with open(env["BTCFLOW_NB_CONFIG"], "w") as fh:
        json.dump(config, fh)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    fake.clear_faults()
    fake.inject("malformed", times=None)
    with pytest.raises(FetchError) as info:
        btcflow_nb.fetch(["spot:coinbase", "perp:okx"], since=fake.truth.start, progress=False)
    fake.clear_faults()
    _assert_clean(str(info.value) + repr(info.value.errors), "the raised FetchError")
    _scan_cache(tmp_path / "cache")


def test_redaction_is_what_hides_them():
    """The redactor replaces every configured secret, longest first (a guard that the leak
    checks above are not passing vacuously)."""
    from btcflow_nb.sources.exchanges import _redactor

    class Ex:
        apiKey, secret, password = SECRETS["apiKey"], SECRETS["secret"], SECRETS["password"]

    text = f"GET /x?k={SECRETS['apiKey']} body={SECRETS['secret']} pw={SECRETS['password']}"
    redacted = _redactor([Ex()])(text)
    _assert_clean(redacted, "redacted text")
    assert redacted.count("***") == 3


def test_ccxt_verbose_output_is_redacted(fake, tmp_path, monkeypatch, capsys):
    """ccxt's `verbose` option prints every request's headers -- API keys included -- through
    `Exchange.log`; the fetcher routes that output through its redaction."""
    for k, v in fake.env(tmp_path).items():
        monkeypatch.setenv(k, v)
    ex = fake.exchange("binance", rateLimit=1, verbose=True, **SECRETS)
    ex.headers = {"X-MBX-APIKEY": SECRETS["apiKey"]}    # what a keyed client sends
    btcflow_nb.fetch(["spot:binance"], since=fake.truth.start, exchanges={"binance": ex},
                     progress=False, cache_dir=False)
    out = capsys.readouterr()
    assert "fetch Request:" in out.out            # verbose really printed the requests ...
    assert "***" in out.out                       # ... with the key in them, redacted
    _assert_clean(out.out + out.err, "ccxt verbose output")
