"""The venue registry: the default set, honesty against ccxt's `has`, selection rules."""
from __future__ import annotations

import ccxt
import pytest

from btcflow_nb.sources.venue import Venue
from btcflow_nb.sources.venues import (DEFAULT_VENUES, ccxt_has, registry, resolve_venues,
                                       venue_table)


def test_default_venues_are_the_documented_set():
    spot = {v.key: v.exchange_id for v in DEFAULT_VENUES if v.kind == "spot"}
    perp = {v.key: v.exchange_id for v in DEFAULT_VENUES if v.kind == "perp"}
    assert spot == {"coinbase": "coinbase", "kraken": "kraken", "bitstamp": "bitstamp",
                    "binance": "binance", "okx": "okx", "bybit": "bybit"}
    assert perp == {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx",
                    "bitfinex": "bitfinex", "gate": "gate", "htx": "htx",
                    "kucoin": "kucoinfutures", "deribit": "deribit",
                    "krakenfutures": "krakenfutures", "hyperliquid": "hyperliquid",
                    "binance_coinm": "binancecoinm", "bybit_inverse": "bybit",
                    "okx_inverse": "okx"}
    with_oi = {v.key for v in DEFAULT_VENUES if v.kind == "perp" and v.oi_history}
    assert with_oi == {"binance", "bybit", "okx", "bitfinex", "gate", "htx", "kucoin",
                       "binance_coinm", "bybit_inverse", "okx_inverse"}
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
    if venue.oi_snapshot and venue.oi_ticker_field:    # the OI its ticker carries
        import ccxt

        assert getattr(ccxt, venue.exchange_id)().has["fetchTicker"]
        assert not has["fetchOpenInterest"]
    elif venue.oi_snapshot:
        assert has["fetchOpenInterest"]
    if venue.kind == "perp" and not venue.oi_snapshot:   # says so honestly: ccxt lacks it ...
        assert not has["fetchOpenInterest"] or venue.key == "bitfinex"


def test_gaps_in_ccxt_are_recorded_honestly():
    """Kraken Futures and Deribit have no OI history in ccxt; Gate no current-OI call;
    Kraken Futures' current OI is read from its ticker (issue 11)."""
    by = {v.name: v for v in DEFAULT_VENUES}
    assert not ccxt_has("krakenfutures")["fetchOpenInterestHistory"]
    assert not ccxt_has("krakenfutures")["fetchOpenInterest"]
    assert not by["perp:krakenfutures"].oi_history
    assert by["perp:krakenfutures"].oi_ticker_field == "openInterest"
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
    assert len(names(["spot"])) == 6 and len(names(["perp"])) == 14    # with perp:bitmex
    assert "perp:bitmex" in names(["perp"]) and "perp:bitmex" in names(None)
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


# --- page sizes: each declared page size is what the venue serves in one full page ---------
# A page at least two rows short of the page size ends a series
# (btcflow_nb.sources.paging._Pager), so a page size larger than the venue serves would
# silently end series early.  The fake exchange enforces each venue's real maximum; here every
# (venue, series) is asked, through ccxt exactly as fetch asks it, for a window holding more rows
# than its page size.

import asyncio  # noqa: E402
import dataclasses  # noqa: E402

from btcflow_nb.testing.fake_exchange import HOUR_MS, FakeExchange, Truth  # noqa: E402
from btcflow_nb.testing.fake_exchange.truth import _FUNDING_HOURS  # noqa: E402


def _paged_series():
    out = []
    for v in DEFAULT_VENUES:
        if v.kind not in ("spot", "perp"):
            continue
        out.append((v, "ohlcv"))
        if v.funding_history and v.key != "krakenfutures":   # unpaged: see its own test
            out.append((v, "funding"))
        if v.oi_history and v.oi_history_source == "ccxt":
            out.append((v, "oi_history"))
    return out


@pytest.fixture(scope="module")
def long_fake():
    # 430 days: the largest page (Bitfinex candles, 10000 hourly bars) fits, gap-free
    with FakeExchange(Truth.recent(430, gaps={})) as fake:
        yield fake


@pytest.fixture(scope="module")
def deep_fake():
    with FakeExchange(Truth.recent(1700, gaps={})) as fake:
        yield fake


def _page_size(venue, series):
    return {"ohlcv": venue.ohlcv_page_limit, "funding": venue.funding_page_limit,
            "oi_history": venue.oi_page_limit}[series]


def _ask_one_page(fake, venue, series, page_size):
    """Rows of one page asked as `fetch` asks it, starting `page_size + 5` rows before the
    newest row (so the window holds more rows than the page)."""
    from btcflow_nb.sources.exchanges import _prepare_exchange
    from btcflow_nb.sources.paging import _page_call

    if series == "funding":
        step = _FUNDING_HOURS[venue.key] * HOUR_MS
        t, _, _ = fake.truth.funding(venue.key)
        newest = int(t[t <= fake.now_ms][-1])
    else:
        step = HOUR_MS
        newest = (fake.now_ms // HOUR_MS) * HOUR_MS
    since = newest - (page_size + 5) * step
    until = since + page_size * step - 1 if series in venue.until_param else None

    async def run():
        ex = fake.exchange(venue.exchange_id, enableRateLimit=False)
        try:
            _prepare_exchange(ex, [venue])
            await ex.load_markets()
            call = _page_call(ex, venue, series, "1h")
            return await call(since, page_size, until)
        finally:
            await ex.close()

    return asyncio.run(run())


@pytest.mark.parametrize("venue,series", _paged_series(),
                         ids=lambda x: x if isinstance(x, str) else x.name)
def test_declared_page_size_comes_back_full(request, venue, series):
    size = _page_size(venue, series)
    # Bitfinex's status history: 5000 settlements of 8 h need ~1,670 days of truth
    fake = request.getfixturevalue("deep_fake" if (venue.key, series) == ("bitfinex", "funding")
                                   else "long_fake")
    rows = _ask_one_page(fake, venue, series, size)
    assert len(rows) == size, f"{venue.name} {series}: asked {size}, served {len(rows)}"


@pytest.mark.parametrize("name,series,served", [
    ("perp:hyperliquid", "funding", 500), ("perp:deribit", "funding", 744),
    ("perp:binance", "funding", 1000), ("perp:bybit", "funding", 200),
    ("perp:kucoin", "oi_history", 200)])
def test_a_page_size_above_the_venues_maximum_comes_back_short(long_fake, name, series,
                                                                 served):
    """The check above can fail: claiming one row more than the venue serves gives a page one
    row short (and fetch would take it for the end of the series)."""
    venue = {v.name: v for v in DEFAULT_VENUES}[name]
    assert _page_size(venue, series) == served
    field = {"funding": "funding_page_limit", "oi_history": "oi_page_limit"}[series]
    bigger = dataclasses.replace(venue, **{field: served + 1})
    rows = _ask_one_page(long_fake, bigger, series, served + 1)
    assert len(rows) == served
