"""The venue registry: the default set, honesty against ccxt's `has`, selection rules."""
from __future__ import annotations

import ccxt
import pytest

from btcflow_nb.venues import DEFAULT_VENUES, Venue, ccxt_has, registry, resolve_venues, venue_table


def test_default_venues_are_the_documented_set():
    spot = {v.key: v.exchange_id for v in DEFAULT_VENUES if v.kind == "spot"}
    perp = {v.key: v.exchange_id for v in DEFAULT_VENUES if v.kind == "perp"}
    assert spot == {"coinbase": "coinbase", "kraken": "kraken", "bitstamp": "bitstamp",
                    "binance": "binance", "okx": "okx", "bybit": "bybit"}
    assert perp == {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx",
                    "bitfinex": "bitfinex", "gate": "gate", "htx": "htx",
                    "kucoin": "kucoinfutures", "deribit": "deribit",
                    "krakenfutures": "krakenfutures", "hyperliquid": "hyperliquid"}
    with_oi = {v.key for v in DEFAULT_VENUES if v.kind == "perp" and v.oi_history}
    assert with_oi == {"binance", "bybit", "okx", "bitfinex", "gate", "htx", "kucoin"}
    assert all(v.funding_history for v in DEFAULT_VENUES if v.kind == "perp")
    assert {v.name for v in DEFAULT_VENUES if v.kind == "fx"} == {"fx:usdt", "fx:usdc"}


@pytest.mark.parametrize("venue", DEFAULT_VENUES, ids=lambda v: v.name)
def test_registry_claims_match_the_installed_ccxt(venue):
    has = ccxt_has(venue.exchange_id)
    assert has["fetchOHLCV"]
    if venue.funding_history:
        assert has["fetchFundingRateHistory"]
    if venue.oi_history and venue.oi_history_source == "ccxt":
        assert has["fetchOpenInterestHistory"]
    if venue.oi_snapshot:
        assert has["fetchOpenInterest"]
    if venue.kind == "perp" and not venue.oi_snapshot:   # says so honestly: ccxt lacks it ...
        assert not has["fetchOpenInterest"] or venue.key == "bitfinex"


def test_gaps_in_ccxt_are_recorded_honestly():
    """Kraken Futures and Deribit have no OI history in ccxt; Gate no current-OI call."""
    by = {v.name: v for v in DEFAULT_VENUES}
    assert not ccxt_has("krakenfutures")["fetchOpenInterestHistory"]
    assert not by["perp:krakenfutures"].oi_history and not by["perp:krakenfutures"].oi_snapshot
    assert not ccxt_has("deribit")["fetchOpenInterestHistory"] and not by["perp:deribit"].oi_history
    assert not ccxt_has("gate")["fetchOpenInterest"] and not by["perp:gate"].oi_snapshot
    table = venue_table().set_index("name")
    assert "oi_history" not in table.loc["perp:krakenfutures", "ccxt_has"].split()
    assert table.loc["perp:deribit", "funding_interval"] == "fixed 1h"
    assert table.loc["perp:bybit", "funding_interval"] == "market info (fundingInterval)"
    assert table.loc["perp:okx", "funding_interval"] == "event spacing"


def test_symbols_are_ccxt_unified_and_contracts_consistent():
    for v in DEFAULT_VENUES:
        if v.kind == "perp":
            settle = v.symbol.split(":")[1]
            assert (settle == "BTC") == (v.contract == "inverse"), v.name
        else:
            assert ":" not in v.symbol


def test_selection_rules():
    names = lambda sel: [v.name for v in resolve_venues(sel)]  # noqa: E731
    assert names(["binance"]) == ["spot:binance", "perp:binance"]
    assert len(names(["spot"])) == 6 and len(names(["perp"])) == 10
    assert names(["perp:kucoin", "perp:kucoin", "KUCOIN"]) == ["perp:kucoin"]
    assert "fx:usdt" not in names(None)
    mine = Venue("bybit_inverse", "perp", "bybit", "BTC/USD:BTC", contract="inverse",
                 funding_history=True)
    assert names([mine, "spot:kraken"]) == ["perp:bybit_inverse", "spot:kraken"]
    with pytest.raises(ValueError, match="unknown venue 'ftx'"):
        resolve_venues(["ftx"])


def test_extra_venues_from_config_extend_and_replace(tmp_path, monkeypatch):
    import json
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"venues": [
        {"key": "kraken", "kind": "spot", "exchange_id": "kraken", "symbol": "XBT/USD"},
        {"key": "bitget", "kind": "perp", "exchange_id": "bitget", "symbol": "BTC/USDT:USDT",
         "quote": "USDT", "contract": "linear", "funding_history": True}]}))
    monkeypatch.setenv("BTCFLOW_NB_CONFIG", str(path))
    by = {v.name: v for v in registry()}
    assert by["spot:kraken"].symbol == "XBT/USD"
    assert "perp:bitget" in by and hasattr(ccxt, "bitget")
