"""Binance spot REST v3 (ccxt ``binance``): BTCUSDT klines.

Klines: ``startTime`` / ``endTime`` inclusive (epoch ms); without ``startTime`` the newest rows
come; `KLINES_PAGE` rows by default and at most.  The kline row format, the symbol filters and
`klines_page` are shared with USDⓈ-M futures (`binanceusdm`), whose API answers in the same
format.
"""
from __future__ import annotations

from ..truth import DAY_MS, HOUR_MS
from .dialect import Dialect, _num, _ms

#: kline interval -> bar length (ms)
INTERVAL = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS}
#: klines per reply: (default, most)
KLINES_PAGE = (500, 1000)
FILTERS = [
    {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764", "tickSize": "0.10"},
    {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
    {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
    {"filterType": "MIN_NOTIONAL", "notional": "100"}]


def kline_rows(b, idx):
    return [[int(b["t"][i]), _num(b["o"][i]), _num(b["h"][i]), _num(b["l"][i]), _num(b["c"][i]),
             _num(b["v"][i]), int(b["t"][i]) + 1, "0", 100, "0", "0", "0"] for i in idx]


def klines_page(ctx, series, page):
    """Klines of `series`: page = (default rows, most rows): (500, 1000) spot, (500, 1500)
    USDⓈ-M futures."""
    b = ctx.bars(series, INTERVAL[ctx.q("interval")])
    start = ctx.qi("startTime")
    idx = ctx.select(b["t"], start, ctx.qi("endTime"), limit=ctx.page("limit", page),
                     newest=start is None)
    return kline_rows(b, idx)


def ticker_24hr(ctx, symbol, series, *, contract=False):
    """Binance's 24-hour rolling ticker of `symbol` (spot and futures share the format;
    futures add no bid/ask quantities, which is how ccxt tells them apart)."""
    px = _num(ctx.truth.last_price(series, ctx.now))
    row = {"symbol": symbol, "priceChange": "0", "priceChangePercent": "0",
           "weightedAvgPrice": px, "lastPrice": px, "lastQty": "0.001", "openPrice": px,
           "highPrice": px, "lowPrice": px, "volume": "100.0", "quoteVolume": "6000000.0",
           "openTime": int(ctx.now) - 86_400_000, "closeTime": int(ctx.now),
           "firstId": 1, "lastId": 2, "count": 2}
    if not contract:
        row.update(prevClosePrice=px, bidPrice=px, bidQty="1.0", askPrice=px, askQty="1.0")
    return row


def premium_index(ctx, symbol, key, series, **extra):
    """``premiumIndex``: mark price and ``lastFundingRate`` -- the rate accruing until
    ``nextFundingTime`` (Binance publishes no next-but-one rate)."""
    t1, r1, _, _, _ = ctx.truth.upcoming_funding(key, ctx.now)
    px = _num(ctx.truth.last_price(series, ctx.now))
    return dict({"symbol": symbol, "markPrice": px, "indexPrice": px,
                 "estimatedSettlePrice": px, "lastFundingRate": _num(r1),
                 "interestRate": "0.00010000", "nextFundingTime": int(t1),
                 "time": int(ctx.now)}, **extra)


def ticker(ctx, m):
    if ctx.q("symbol") != "BTCUSDT":
        return 400, {"code": -1121, "msg": "Invalid symbol."}
    return 200, ticker_24hr(ctx, "BTCUSDT", "spot:binance")


def markets(ctx, m):
    return 200, {"timezone": "UTC", "serverTime": ctx.now, "rateLimits": [], "symbols": [{
        "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC",
        "baseAssetPrecision": 8, "quoteAsset": "USDT", "quotePrecision": 8,
        "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8, "orderTypes": ["LIMIT", "MARKET"],
        "icebergAllowed": True, "ocoAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True, "filters": FILTERS, "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]], "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"]}]}


def klines(ctx, m):
    if ctx.q("symbol") != "BTCUSDT":
        return 400, {"code": -1121, "msg": "Invalid symbol."}
    return 200, klines_page(ctx, "spot:binance", KLINES_PAGE)


#: first BTCUSDT kline 2017-08-17 04:00 UTC (Binance public data, spot/monthly/klines/BTCUSDT
#: starts 2017-08); klines before it: an empty list
FIRST = {"spot:binance": {"ohlcv": _ms("2017-08-17T04:00")}}

DIALECT = Dialect("binance", first=FIRST, routes=(
    ("GET", r"/api/v3/exchangeInfo", "markets", markets),
    ("GET", r"/api/v3/klines", "ohlcv", klines),
    ("GET", r"/api/v3/ticker/24hr", "ticker", ticker)))
