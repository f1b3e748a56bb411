"""Coinbase Advanced Trade public market data (ccxt ``coinbase``): spot BTC-USD candles.

Candles come newest first, at most `CANDLES_PER_REPLY` of them in [start, end) (epoch seconds).
"""
from __future__ import annotations

import pandas as pd

from ..truth import DAY_MS, HOUR_MS
from .dialect import Dialect, _num, _ms

#: granularity name -> bar length (ms)
GRAN = {"ONE_HOUR": HOUR_MS, "SIX_HOUR": 6 * HOUR_MS, "ONE_DAY": DAY_MS}
#: the most candles one reply holds
CANDLES_PER_REPLY = 350


def markets(ctx, m):
    if ctx.q("product_type") == "FUTURE":
        return 200, {"products": [], "num_products": 0}
    return 200, {"products": [{
        "product_id": "BTC-USD", "price": "60000", "base_increment": "0.00000001",
        "quote_increment": "0.01", "price_increment": "0.01", "base_min_size": "0.00000001",
        "base_max_size": "3400", "quote_min_size": "1", "quote_max_size": "150000000",
        "status": "online", "trading_disabled": False, "is_disabled": False,
        "product_type": "SPOT", "base_currency_id": "BTC", "quote_currency_id": "USD",
        "alias_to": [], "display_name": "BTC-USD"}], "num_products": 1}


def candles(ctx, m):
    if m.group(1) != "BTC-USD":
        return 404, {"error": "NOT_FOUND", "message": "product not found"}
    tf = GRAN.get(ctx.q("granularity"))
    if tf is None:
        return 400, {"error": "INVALID_ARGUMENT", "message": "granularity"}
    b = ctx.bars("spot:coinbase", tf)
    lo, hi = ctx.qi("start") * 1000, ctx.qi("end") * 1000
    idx = ctx.select(b["t"], lo, hi, limit=CANDLES_PER_REPLY, hi_open=True)[::-1]  # newest first
    return 200, {"candles": [{"start": str(b["t"][i] // 1000), "low": _num(b["l"][i]),
                              "high": _num(b["h"][i]), "open": _num(b["o"][i]),
                              "close": _num(b["c"][i]), "volume": _num(b["v"][i])}
                             for i in idx]}


def ticker(ctx, m):
    """The last trade and the best bid / ask (ccxt ``fetch_ticker``: the market trades
    endpoint with ``limit=1``)."""
    if m.group(1) != "BTC-USD":
        return 404, {"error": "NOT_FOUND", "message": "product not found"}
    last = ctx.truth.last_price("spot:coinbase", ctx.now)
    when = pd.Timestamp(int(ctx.now), unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return 200, {"trades": [{"trade_id": str(ctx.now), "product_id": "BTC-USD",
                             "price": _num(last), "size": "0.001", "time": when,
                             "side": "BUY", "bid": "", "ask": ""}],
                 "best_bid": _num(round(last - 0.01, 2)), "best_ask": _num(round(last + 0.01, 2))}


#: first candle of BTC-USD: 2015-07-20 (Coinbase Exchange, then GDAX, opened its BTC-USD book
#: that day; its candles endpoint answers an empty list before it)
FIRST = {"spot:coinbase": {"ohlcv": _ms("2015-07-20")}}

DIALECT = Dialect("coinbase", first=FIRST, routes=(
    ("GET", r"/api/v3/brokerage/market/products", "markets", markets),
    ("GET", r"/api/v3/brokerage/market/products/([^/]+)/candles", "ohlcv", candles),
    ("GET", r"/api/v3/brokerage/market/products/([^/]+)/ticker", "ticker", ticker)))
