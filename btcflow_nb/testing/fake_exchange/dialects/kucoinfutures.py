"""KuCoin Futures REST (ccxt ``kucoinfutures``): the XBTUSDTM perpetual's klines, funding, OI.

``from`` / ``to`` (``startAt`` / ``endAt`` for OI) are inclusive epoch ms; replies hold the
newest rows of the window (klines oldest first, funding and OI newest first): at most 200
klines (ccxt ``fetch_contract_ohlcv``: "the system would return at most 200 pieces of data")
and 100 funding events.  History is shallower than the contract's life, as the real venue's:
klines from `FIRST` (not the listing: old windows come back empty) and funding for the last
`FUNDING_DAYS` days only (ccxt issue #27461).  OI is in
contracts of 0.001 BTC (`Truth` ``_OI_NATIVE``); without ``interval`` the OI endpoint answers
the current OI (``fetch_open_interests``).
"""
from __future__ import annotations

import numpy as np

from ..truth import DAY_MS, HOUR_MS
from .dialect import Dialect, _num, _ms

#: kline granularity (minutes) -> bar length (ms)
GRAN = {60: HOUR_MS, 240: 4 * HOUR_MS, 1440: DAY_MS}
#: OI history interval -> sample spacing (ms)
OI = {"1hour": HOUR_MS, "4hour": 4 * HOUR_MS, "1day": DAY_MS, "5min": 300_000}
#: rows per reply
KLINE_ROWS = 200
#: funding history kept (days back from now)
FUNDING_DAYS = 92
FUNDING_ROWS = 100
OI_HISTORY_PAGE = (100, 200)       # pageSize: (default, most)


def contracts(ctx, m):
    return 200, {"code": "200000", "data": [{
        "symbol": "XBTUSDTM", "rootSymbol": "USDT", "type": "FFWCSX", "firstOpenDate": 1585555200000,
        "expireDate": None, "settleDate": None, "baseCurrency": "XBT", "quoteCurrency": "USDT",
        "settleCurrency": "USDT", "maxOrderQty": 1000000, "maxPrice": 1000000.0,
        "lotSize": 1, "tickSize": 0.1, "indexPriceTickSize": 0.01, "multiplier": 0.001,
        "initialMargin": 0.008, "maintainMargin": 0.004, "maxRiskLimit": 100000,
        "minRiskLimit": 100000, "riskStep": 50000, "makerFeeRate": 0.0002,
        "takerFeeRate": 0.0006, "takerFixFee": 0.0, "makerFixFee": 0.0,
        "isDeleverage": True, "isQuanto": True, "isInverse": False, "markMethod": "FairPrice",
        "fairMethod": "FundingRate", "fundingBaseSymbol": ".XBTINT8H",
        "fundingQuoteSymbol": ".USDTINT8H", "fundingRateSymbol": ".XBTUSDTMFPI8H",
        "indexSymbol": ".KXBTUSDT", "settlementSymbol": "", "status": "Open",
        "fundingFeeRate": 0.0001, "predictedFundingFeeRate": 0.0001,
        "fundingRateGranularity": 28800000, "openInterest": "1", "turnoverOf24h": 1.0,
        "volumeOf24h": 1.0, "markPrice": 60000.0, "indexPrice": 60000.0,
        "lastTradePrice": 60000.0, "nextFundingRateTime": 21600000, "maxLeverage": 125,
        "sourceExchanges": ["binance"], "lowPrice": 59000.0, "highPrice": 61000.0,
        "priceChgPct": 0.01, "priceChg": 600.0, "k": 490.0, "m": 300.0, "f": 1.3,
        "mmrLimit": 0.3, "mmrLevConstant": 125.0, "supportCross": True}]}


def kline(ctx, m):
    if ctx.q("symbol") != "XBTUSDTM":
        return 200, {"code": "400100", "msg": "symbol not exists"}
    b = ctx.bars("perp:kucoin", GRAN[ctx.qi("granularity")])
    idx = ctx.select(b["t"], ctx.qi("from"), ctx.qi("to"), limit=KLINE_ROWS, newest=True)
    return 200, {"code": "200000", "data": [
        [int(b["t"][i]), float(b["o"][i]), float(b["h"][i]), float(b["l"][i]),
         float(b["c"][i]), float(b["v"][i]), 0.0] for i in idx]}


def funding(ctx, m):
    t, rate, _ = ctx.funding("kucoin")
    keep = t >= ctx.now - FUNDING_DAYS * DAY_MS
    t, rate = t[keep], rate[keep]
    idx = ctx.select(t, ctx.qi("from"), ctx.qi("to"), limit=FUNDING_ROWS, newest=True)[::-1]
    return 200, {"code": "200000", "data": [
        {"symbol": "XBTUSDTM", "fundingRate": float(rate[i]), "timepoint": int(t[i])}
        for i in idx]}


def open_interest(ctx, m):
    t, native = ctx.oi_native("kucoin")
    period = OI.get(ctx.q("interval"))
    if period is not None:
        keep = t % period == 0
        t, native = t[keep], native[keep]
    if ctx.q("interval") is None:  # current OI (fetch_open_interests)
        i = np.searchsorted(t, ctx.now, side="right") - 1
        return 200, {"code": "200000", "data": [
            {"symbol": "XBTUSDTM", "openInterest": _num(native[i]), "ts": int(ctx.now)}]}
    idx = ctx.select(t, ctx.qi("startAt"), ctx.qi("endAt"),
                     limit=ctx.page("pageSize", OI_HISTORY_PAGE), newest=True)[::-1]
    return 200, {"code": "200000", "data": [
        {"symbol": "XBTUSDTM", "openInterest": _num(native[i]), "ts": int(t[i])} for i in idx]}


def ticker(ctx, m):
    if ctx.q("symbol") != "XBTUSDTM":
        return 200, {"code": "400100", "msg": "symbol not exists"}
    px = ctx.truth.last_price("perp:kucoin", ctx.now)
    return 200, {"code": "200000", "data": {
        "sequence": ctx.now, "symbol": "XBTUSDTM", "side": "buy", "size": 1, "price": _num(px),
        "bestBidSize": 10, "bestBidPrice": _num(px), "bestAskPrice": _num(px),
        "tradeId": str(ctx.now), "ts": int(ctx.now) * 1_000_000, "bestAskSize": 10}}


def funding_current(ctx, m):
    """``/funding-rate/XBTUSDTM/current``: ``value`` is the rate of the current period
    (settling at ``fundingTime``), ``predictedValue`` the next one; ``timePoint`` the
    period's start."""
    if m.group(1) != "XBTUSDTM":
        return 200, {"code": "400100", "msg": "symbol not exists"}
    t1, r1, _, r2, hours = ctx.truth.upcoming_funding("kucoin", ctx.now)
    step = int(hours * HOUR_MS)
    return 200, {"code": "200000", "data": {
        "symbol": ".XBTUSDTMFPI8H", "granularity": step, "timePoint": t1 - step,
        "value": float(r1), "predictedValue": float(r2), "fundingRateCap": 0.003,
        "fundingRateFloor": -0.003, "period": 0, "fundingTime": t1}}


#: XBTUSDTM: ``firstOpenDate`` 1585555200000 (2020-03-30, the contract's market info above) is
#: where funding and OI start; klines start later: the venue's oldest kline is undocumented,
#: and a window from 2020-03-30 to 2021-01-24 came back empty from the real venue (2026-11),
#: so the fake's first kline is 2021-03-01 -- any date after the listing shows the client
#: discovering it (the registry knows only the listing)
FIRST = {"perp:kucoin": {"ohlcv": _ms("2021-03-01"), "funding": _ms("2020-03-30T08:00"),
                         "oi_history": _ms("2020-03-30")}}

DIALECT = Dialect("kucoinfutures", first=FIRST, routes=(
    ("GET", r"/api/v1/contracts/active", "markets", contracts),
    ("GET", r"/api/v1/kline/query", "ohlcv", kline),
    ("GET", r"/api/v1/contract/funding-rates", "funding", funding),
    ("GET", r"/api/ua/v1/market/open-interest", "oi_history", open_interest),
    ("GET", r"/api/v1/ticker", "ticker", ticker),
    ("GET", r"/api/v1/funding-rate/([^/]+)/current", "funding_rate", funding_current)))
