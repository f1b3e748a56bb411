"""Bad input to `fetch` / `from_cache` / the configuration: a ValueError naming the thing and
the valid choices -- before any network request when it can be known without one."""
from __future__ import annotations

import dataclasses
import json

import ccxt
import pandas as pd
import pytest

import btcflow_nb
from btcflow_nb.sources.config import load_config, point_exchange_at
from btcflow_nb import FetchError
from btcflow_nb.sources.venue import Venue
from btcflow_nb.sources.venues import DEFAULT_VENUES, resolve_venues

from .conftest import fake_exchange_fixtures


BY_NAME = {v.name: v for v in DEFAULT_VENUES}


fake, env = fake_exchange_fixtures(days=3)


def test_unknown_venue_lists_the_known_ones(fake, env):
    with pytest.raises(ValueError, match=r"unknown venue 'ftx'; known venues: \[.*'perp:kucoin'"):
        btcflow_nb.fetch(["ftx"], progress=False)
    assert fake.log() == []


def test_since_after_until(fake, env):
    with pytest.raises(ValueError, match=r"since \(2024-02-01.*\) is after until \(2024-01-01"):
        btcflow_nb.fetch(since="2024-02-01", until="2024-01-01", progress=False)
    with pytest.raises(ValueError, match="since.*is after until"):
        btcflow_nb.from_cache(since="2024-02-01", until="2024-01-01")
    with pytest.raises(ValueError, match="'yesterday-ish' is not a time"):
        btcflow_nb.fetch(since="yesterday-ish", progress=False)


def test_an_int_time_is_epoch_ms_as_everywhere_else(fake, env):
    """fetch and from_cache read an int as epoch milliseconds, as flow_metrics and MarketData do
    (tests/test_timeframes.py): the same since, given as an int and as a date, asks the fake
    for the same window and returns the same rows."""
    day = 86_400_000
    since_ms = (fake.now_ms // day - 2) * day
    since_text = str(pd.Timestamp(since_ms, unit="ms"))
    by_int = btcflow_nb.fetch(["perp:binance"], since=since_ms, progress=False)
    by_text = btcflow_nb.fetch(["perp:binance"], since=since_text, progress=False, cache_dir=False)
    assert by_int.perp.index[0] == pd.Timestamp(since_ms, unit="ms", tz="UTC")
    pd.testing.assert_frame_equal(by_int.perp, by_text.perp)
    pd.testing.assert_frame_equal(btcflow_nb.from_cache(["perp:binance"], since=since_ms).perp,
                                  btcflow_nb.from_cache(["perp:binance"], since=since_text).perp)


def test_unsupported_timeframes(fake, env):
    with pytest.raises(ValueError, match=r"fetch timeframe '1w' is not supported; valid choices: "
                                         r"\['1h', '4h', '1d'\].*resample"):
        btcflow_nb.fetch(timeframe="1w", progress=False)
    with pytest.raises(ValueError, match=r"timeframe '4h' is not served by coinbase; it serves "
                                         r"\[.*'1h'"):
        btcflow_nb.fetch(["spot:coinbase"], timeframe="4h", progress=False)
    assert fake.log() == []


def test_default_venues_skip_a_venue_without_the_timeframe(fake, env):
    md = btcflow_nb.fetch(since=fake.truth.start, timeframe="4h", progress=False)
    assert "4h" in md.meta["errors"]["spot:coinbase"]
    assert "coinbase" not in md.spot.columns and "kraken" in md.spot.columns


def test_unknown_symbol_names_it_and_lists_the_venues_btc_symbols(fake, env):
    bad = dataclasses.replace(BY_NAME["spot:coinbase"], symbol="BTC/EUR")
    md = btcflow_nb.fetch([bad, "spot:kraken"], since=fake.truth.start, progress=False)
    assert "unknown symbol 'BTC/EUR' at coinbase; BTC symbols there: ['BTC/USD']" in \
        md.meta["errors"]["spot:coinbase"]
    assert "kraken" in md.spot.columns
    with pytest.raises(FetchError, match="unknown symbol 'BTC/EUR'"):
        btcflow_nb.fetch([bad], since=fake.truth.start, progress=False, cache_dir=False)


def test_exchanges_argument_is_checked(fake, env):
    with pytest.raises(ValueError, match=r"exchanges= has key\(s\) \['bitmex'\].*valid keys"):
        btcflow_nb.fetch(["spot:kraken"], exchanges={"bitmex": object()}, progress=False)
    with pytest.raises(ValueError, match="must be a ccxt.async_support exchange"):
        btcflow_nb.fetch(["spot:kraken"], exchanges={"kraken": ccxt.kraken()}, progress=False)


def test_venue_definitions_are_checked():
    with pytest.raises(ValueError, match=r"kind='future' is not valid; choose one of \['spot', 'perp', 'fx'\]"):
        Venue("x", "future", "binance", "BTC/USDT")
    with pytest.raises(ValueError, match="perp venue 'x' needs contract"):
        Venue("x", "perp", "binance", "BTC/USDT:USDT")
    with pytest.raises(ValueError, match=r"unknown venue field\(s\) \['colour'\]"):
        Venue.from_dict({"key": "x", "kind": "spot", "exchange_id": "kraken", "symbol": "BTC/USD",
                         "colour": "red"})


def test_config_file_errors_name_the_file_and_key(tmp_path, monkeypatch):
    path = tmp_path / "conf.json"
    path.write_text(json.dumps({"apibase": "x"}))
    monkeypatch.setenv("BTCFLOW_NB_CONFIG", str(path))
    with pytest.raises(ValueError, match=r"'conf.json': unknown key\(s\) \['apibase'\]; valid keys"):
        load_config()
    path.write_text("{not json")
    with pytest.raises(ValueError, match="cannot parse configuration file 'conf.json'"):
        load_config()
    monkeypatch.setenv("BTCFLOW_NB_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ValueError, match=r"missing.toml' \(\$BTCFLOW_NB_CONFIG points at it\) is "
                                         "not a file"):
        load_config()
    yaml = tmp_path / "conf.yaml"          # read as JSON before: now refused by its suffix
    yaml.write_text(json.dumps({"retry": {"attempts": 2}}))
    monkeypatch.setenv("BTCFLOW_NB_CONFIG", str(yaml))
    with pytest.raises(ValueError, match=r"conf.yaml' .*must end in .toml or .json; got '.yaml'"):
        load_config()
    monkeypatch.delenv("BTCFLOW_NB_CONFIG")
    monkeypatch.setenv("BTCFLOW_NB_API_BASE", "127.0.0.1:80")
    with pytest.raises(ValueError, match="api_base '127.0.0.1:80' is not an http"):
        load_config()


def test_toml_config_with_extra_venue(tmp_path, monkeypatch):
    path = tmp_path / "conf.toml"
    path.write_text('api_base = "http://127.0.0.1:9"\n[exchanges.kraken]\ntimeout = 1234\n'
                    '[[venues]]\nkey = "bybit_inverse"\nkind = "perp"\nexchange_id = "bybit"\n'
                    'symbol = "BTC/USD:BTC"\ncontract = "inverse"\nfunding_history = true\n')
    monkeypatch.setenv("BTCFLOW_NB_CONFIG", str(path))
    monkeypatch.delenv("BTCFLOW_NB_API_BASE", raising=False)
    cfg = load_config()
    assert cfg.api_base == "http://127.0.0.1:9" and cfg.exchanges["kraken"]["timeout"] == 1234
    assert [v.name for v in resolve_venues(["bybit_inverse"])] == ["perp:bybit_inverse"]


def test_point_exchange_at_rewrites_every_url():
    ex = ccxt.bybit()
    point_exchange_at(ex, "http://127.0.0.1:1234/")
    assert ex.urls["api"]["public"] == "http://127.0.0.1:1234/bybit/api.bybit.com"
    gate = ccxt.gate()
    point_exchange_at(gate, "http://127.0.0.1:1234")
    assert gate.urls["api"]["public"]["futures"] == "http://127.0.0.1:1234/gate/api.gateio.ws/api/v4"


@pytest.mark.parametrize("retry, needle", [
    ({"base_delay": float("nan")}, "retry.base_delay=nan is not valid; valid: a number from 0 to 60"),
    ({"attempts": 0}, "retry.attempts=0 is not valid; valid: a whole number from 1 to 100"),
    ({"attempts": 2.5}, "retry.attempts=2.5"),
    ({"max_delay": "soon"}, "retry.max_delay='soon'"),
    ({"attempts": True}, "retry.attempts=True"),
])
def test_retry_values_are_checked_by_type_and_range(tmp_path, monkeypatch, retry, needle):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"retry": retry}))
    with pytest.raises(ValueError) as err:
        load_config(str(path))
    assert needle in str(err.value)


@pytest.mark.parametrize("value", [1e7, float("inf"), -1, "fast"])
def test_exchange_rate_limits_that_would_hang_are_refused(tmp_path, value):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"exchanges": {"binance": {"rateLimit": value}}}))
    with pytest.raises(ValueError, match=r"exchanges\.binance\.rateLimit=.* is not valid; valid: "
                                         r"a number from 0 to 60000"):
        load_config(str(path))


@pytest.mark.parametrize("key", ["../escape", "a/b", "Binance", "", "x y", ".hidden"])
def test_venue_keys_must_be_safe_file_names(key):
    base = dataclasses.asdict(BY_NAME["perp:binance"])
    with pytest.raises(ValueError, match=r"venue key .* is not valid; valid: lower-case letters"):
        Venue(**{**base, "key": key})
