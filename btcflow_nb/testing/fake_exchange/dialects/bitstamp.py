"""Bitstamp REST v2 (ccxt ``bitstamp``): spot BTC/USD OHLC.

``step`` is the bar length in seconds; ``start`` / ``end`` are epoch seconds (inclusive); without
``start`` the newest rows come.  `OHLC_PAGE` caps the rows of one reply.
"""
from __future__ import annotations

from .dialect import Dialect, _num, _ms

#: OHLC rows per reply: (default, most)
OHLC_PAGE = (1000, 1000)


def _tf_ms_from_seconds(value) -> int:
    return int(float(value)) * 1000


def markets(ctx, m):
    return 200, [{"name": "BTC/USD", "market_symbol": "btcusd", "base_currency": "BTC",
                  "base_decimals": 8, "counter_currency": "USD", "counter_decimals": 0,
                  "minimum_order_value": "10", "maximum_order_value": "100000000",
                  "minimum_order_amount": "0.00002", "maximum_order_amount": "100000",
                  "trading": "Enabled", "instant_order_counter_decimals": 2,
                  "instant_and_market_orders": "Enabled", "description": "Bitcoin / U.S. dollar",
                  "market_type": "SPOT"}]


def ohlc(ctx, m):
    if m.group(1) != "btcusd":
        return 404, {"errors": [{"message": "Not found"}]}
    b = ctx.bars("spot:bitstamp", _tf_ms_from_seconds(ctx.q("step")))
    start, end = ctx.qi("start"), ctx.qi("end")
    idx = ctx.select(b["t"], None if start is None else start * 1000,
                     None if end is None else end * 1000,
                     limit=ctx.page("limit", OHLC_PAGE), newest=start is None)
    return 200, {"data": {"pair": "BTC/USD", "ohlc": [
        {"timestamp": str(b["t"][i] // 1000), "open": _num(b["o"][i]),
         "high": _num(b["h"][i]), "low": _num(b["l"][i]), "close": _num(b["c"][i]),
         "volume": _num(b["v"][i])} for i in idx]}}


def ticker(ctx, m):
    if m.group(1) != "btcusd":
        return 404, {"errors": [{"message": "Not found"}]}
    px = _num(ctx.truth.last_price("spot:bitstamp", ctx.now))
    return 200, {"timestamp": str(ctx.now // 1000), "open": px, "high": px, "low": px,
                 "last": px, "volume": "100.0", "vwap": px, "bid": px, "ask": px,
                 "side": "0", "open_24": px, "percent_change_24": "0.00", "pair": "BTC/USD",
                 "market_type": "SPOT"}


#: first BTC/USD trade 2011-09-13 (bitcoincharts' bitstampUSD history starts that day); the
#: OHLC endpoint answers ``{"data": {"ohlc": []}}`` before it
FIRST = {"spot:bitstamp": {"ohlcv": _ms("2011-09-13")}}

DIALECT = Dialect("bitstamp", first=FIRST, routes=(
    ("GET", r"/api/v2/markets/", "markets", markets),
    ("GET", r"/api/v2/ohlc/([a-z]+)/", "ohlcv", ohlc),
    ("GET", r"/api/v2/ticker/([a-z]+)/", "ticker", ticker)))
