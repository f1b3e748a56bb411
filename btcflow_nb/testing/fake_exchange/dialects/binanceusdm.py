"""Binance USDⓈ-M futures REST (ccxt ``binanceusdm``): BTCUSDT perpetual klines, funding, OI.

Klines are spot's format (`binance.klines_page`) with a larger page.  Funding and OI history:
``startTime`` / ``endTime`` inclusive (epoch ms), the newest rows without ``startTime``.  OI
history reaches back only `Truth.oi_history_start` (Binance keeps ~30 days).
"""
from __future__ import annotations

import numpy as np

from ..truth import DAY_MS, HOUR_MS
from .dialect import Dialect, _num, _ms
from .binance import FILTERS, klines_page, premium_index, ticker_24hr

#: rows per reply: (default, most)
KLINES_PAGE = (500, 1500)
FUNDING_PAGE = (100, 1000)
OI_HISTORY_PAGE = (30, 500)
#: OI history period -> sample spacing (ms)
PERIOD = {"5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": HOUR_MS, "2h": 2 * HOUR_MS,
          "4h": 4 * HOUR_MS, "6h": 6 * HOUR_MS, "12h": 12 * HOUR_MS, "1d": DAY_MS}


def markets(ctx, m):
    return 200, {"timezone": "UTC", "serverTime": ctx.now, "futuresType": "U_MARGINED",
                 "rateLimits": [], "assets": [], "symbols": [{
                     "symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL",
                     "deliveryDate": 4133404800000, "onboardDate": 1569398400000,
                     "status": "TRADING", "maintMarginPercent": "2.5000",
                     "requiredMarginPercent": "5.0000", "baseAsset": "BTC",
                     "quoteAsset": "USDT", "marginAsset": "USDT", "pricePrecision": 2,
                     "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
                     "underlyingType": "COIN", "underlyingSubType": ["PoW"],
                     "triggerProtect": "0.0500", "liquidationFee": "0.012500",
                     "marketTakeBound": "0.05", "filters": FILTERS,
                     "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC"]}]}


def klines(ctx, m):
    if ctx.q("symbol") != "BTCUSDT":
        return 400, {"code": -1121, "msg": "Invalid symbol."}
    return 200, klines_page(ctx, "perp:binance", KLINES_PAGE)


def stamped(t):
    """The API's ``fundingTime`` of settlements at `t`: a few ms after the instant, as the real
    venue stamps them (1643932800018 = 2022-02-04 00:00:00.018 in ccxt PR #12232); 1..19 ms,
    a pure function of the time.  The archive's ``calc_time`` is the instant itself."""
    return t + 1 + (t // 3_600_000) % 19


def funding(ctx, m):
    t, rate, _ = ctx.funding("binance")
    t = stamped(t)
    start = ctx.qi("startTime")
    idx = ctx.select(t, start, ctx.qi("endTime"), limit=ctx.page("limit", FUNDING_PAGE),
                     newest=start is None)
    return 200, [{"symbol": "BTCUSDT", "fundingTime": int(t[i]), "fundingRate": _num(rate[i]),
                  "markPrice": "60000.00000000"} for i in idx]


def oi_hist(ctx, m):
    period = PERIOD.get(ctx.q("period"))
    if period is None:
        return 400, {"code": -1130, "msg": "Invalid period."}
    t, native = ctx.oi_native("binance")
    keep = (t % period == 0) & (t >= ctx.truth.oi_history_start("binance", ctx.now))
    t, native = t[keep], native[keep]
    price = ctx.truth.close_at("perp:binance", t)
    start = ctx.qi("startTime")
    idx = ctx.select(t, start, ctx.qi("endTime"), limit=ctx.page("limit", OI_HISTORY_PAGE),
                     newest=start is None)
    return 200, [{"symbol": "BTCUSDT", "sumOpenInterest": _num(native[i]),
                  "sumOpenInterestValue": _num(round(native[i] * price[i], 2)),
                  "CMCCirculatingSupply": "19800000", "timestamp": int(t[i])} for i in idx]


def oi(ctx, m):
    if ctx.fault is not None and ctx.fault.kind == "empty":   # an answer without the number
        return 200, {"symbol": "BTCUSDT", "time": ctx.now}
    t, native = ctx.oi_native("binance")
    i = np.searchsorted(t, ctx.now, side="right") - 1
    return 200, {"symbol": "BTCUSDT", "openInterest": _num(native[i]), "time": ctx.now}


def ticker(ctx, m):
    if ctx.q("symbol") != "BTCUSDT":
        return 400, {"code": -1121, "msg": "Invalid symbol."}
    return 200, ticker_24hr(ctx, "BTCUSDT", "perp:binance", contract=True)


def funding_rate(ctx, m):
    if ctx.q("symbol") != "BTCUSDT":
        return 400, {"code": -1121, "msg": "Invalid symbol."}
    return 200, premium_index(ctx, "BTCUSDT", "binance", "perp:binance")


#: BTCUSDT perpetual: first kline 2019-09-08 17:00 UTC, first funding 2019-09-10 08:00 UTC
#: (Binance public data futures/um klines and fundingRate); before them: an empty list.  OI
#: history is the rolling 30 days (`Truth.oi_history_start`)
FIRST = {"perp:binance": {"ohlcv": _ms("2019-09-08T17:00"), "funding": _ms("2019-09-10T08:00")}}

DIALECT = Dialect("binanceusdm", first=FIRST, routes=(
    ("GET", r"/fapi/v1/exchangeInfo", "markets", markets),
    ("GET", r"/fapi/v1/klines", "ohlcv", klines),
    ("GET", r"/fapi/v1/fundingRate", "funding", funding),
    ("GET", r"/futures/data/openInterestHist", "oi_history", oi_hist),
    ("GET", r"/fapi/v1/openInterest", "oi", oi),
    ("GET", r"/fapi/v1/ticker/24hr", "ticker", ticker),
    ("GET", r"/fapi/v1/premiumIndex", "funding_rate", funding_rate)))
