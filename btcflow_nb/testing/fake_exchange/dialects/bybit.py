"""Bybit REST v5 (ccxt ``bybit``): BTCUSDT spot and linear perpetual klines, funding, OI.

Every reply is wrapped as ``{"retCode": 0, "retMsg": "OK", "result": ..., "time": ...}``
(``time`` is the wall clock, as Bybit sends it).  Rows come newest first; ``start`` /
``startTime`` and ``end`` / ``endTime`` are inclusive epoch ms.  Funding and OI history give the
newest `limit` rows of the window.  The inverse BTCUSD perpetual (``category=inverse``) is
worth 1 USD per contract: its OI is in USD (contracts).  The inverse futures listed at the
server's clock (``contractType=InverseFutures``, ``BTCUSDH26``, ``deliveryTime``) serve klines.
"""
from __future__ import annotations

import time

from ..truth import DAY_MS, HOUR_MS
from .dialect import Dialect, _num, _ms

#: kline interval -> bar length (ms)
INTERVAL = {"60": HOUR_MS, "240": 4 * HOUR_MS, "D": DAY_MS}
#: OI history intervalTime -> sample spacing (ms)
OI_PERIOD = {"5min": 300_000, "15min": 900_000, "30min": 1_800_000, "1h": HOUR_MS,
             "4h": 4 * HOUR_MS, "1d": DAY_MS}
#: rows per reply: (default, most)
KLINE_PAGE = (200, 1000)
FUNDING_PAGE = (200, 200)
OI_HISTORY_PAGE = (50, 200)
#: (category, symbol) -> truth key of the perpetual
PERPS = {("linear", "BTCUSDT"): "bybit", ("inverse", "BTCUSD"): "bybit_inverse"}


def _ok(result):
    return 200, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {},
                 "time": int(time.time() * 1000)}


def markets(ctx, m):
    cat = ctx.q("category")
    if cat == "spot":
        lst = [{"symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "innovation": "0",
                "status": "Trading", "marginTrading": "both",
                "lotSizeFilter": {"basePrecision": "0.000001", "quotePrecision": "0.00000001",
                                  "minOrderQty": "0.000048", "maxOrderQty": "71.73956243",
                                  "minOrderAmt": "1", "maxOrderAmt": "2000000"},
                "priceFilter": {"tickSize": "0.01"}}]
    elif cat == "linear":
        lst = [{"symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading",
                "baseCoin": "BTC", "quoteCoin": "USDT", "launchTime": "1585526400000",
                "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": "2",
                "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00",
                                   "leverageStep": "0.01"},
                "priceFilter": {"minPrice": "0.10", "maxPrice": "199999.80", "tickSize": "0.10"},
                "lotSizeFilter": {"maxOrderQty": "100.000", "minOrderQty": "0.001",
                                  "qtyStep": "0.001", "postOnlyMaxOrderQty": "1000.000"},
                "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": "USDT",
                "copyTrading": "both", "upperFundingRate": "0.00375",
                "lowerFundingRate": "-0.00375"}]
    elif cat == "inverse":
        lst = [{"symbol": "BTCUSD", "contractType": "InversePerpetual", "status": "Trading",
                "baseCoin": "BTC", "quoteCoin": "USD", "launchTime": "1541980800000",
                "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": "2",
                "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00",
                                   "leverageStep": "0.01"},
                "priceFilter": {"minPrice": "0.50", "maxPrice": "999999.00", "tickSize": "0.50"},
                "lotSizeFilter": {"maxOrderQty": "1000000", "minOrderQty": "1",
                                  "qtyStep": "1", "postOnlyMaxOrderQty": "5000000"},
                "unifiedMarginTrade": False, "fundingInterval": 480, "settleCoin": "BTC",
                "copyTrading": "none", "upperFundingRate": "0.00375",
                "lowerFundingRate": "-0.00375"}]
        lst += [dict(lst[0], symbol=symbol, contractType="InverseFutures",
                     deliveryTime=str(expiry), launchTime=str(expiry - 200 * DAY_MS),
                     fundingInterval=0)
                for symbol, expiry in _futures(ctx).items()]
    else:
        lst = []
    return _ok({"category": cat, "list": lst, "nextPageCursor": ""})


_MONTH_CODES = "FGHJKMNQUVXZ"


def future_symbol(expiry_ms: int) -> str:
    """Bybit's symbol of the inverse BTC future expiring at `expiry_ms`: BTCUSDH26 (futures
    month code, two-digit year)."""
    import datetime as dt

    d = dt.datetime.fromtimestamp(expiry_ms / 1000, dt.timezone.utc)
    return f"BTCUSD{_MONTH_CODES[d.month - 1]}{d.year % 100:02d}"


def _futures(ctx) -> dict:
    """symbol -> expiry (ms) of the inverse futures listed at the server's clock."""
    return {future_symbol(e): e for e in ctx.truth.dated_expiries("bybit_inverse", ctx.now)}


def _perp(ctx):
    """Truth key of the perpetual asked (category + symbol), or None."""
    return PERPS.get((ctx.q("category", "linear"), ctx.q("symbol")))


def kline(ctx, m):
    spot = ctx.q("category") == "spot" and ctx.q("symbol") == "BTCUSDT"
    expiry = _futures(ctx).get(ctx.q("symbol")) if ctx.q("category") == "inverse" else None
    if not spot and _perp(ctx) is None and expiry is None:
        return 200, {"retCode": 10001, "retMsg": "Not supported symbols", "result": {}}
    series = ("spot:bybit" if spot else f"perp:{_perp(ctx)}" if expiry is None
              else ctx.truth.dated_series("bybit_inverse", expiry))
    b = ctx.bars(series, INTERVAL[ctx.q("interval")])
    start = ctx.qi("start")
    idx = ctx.select(b["t"], start, ctx.qi("end"), limit=ctx.page("limit", KLINE_PAGE),
                     newest=start is None)[::-1]
    return _ok({"symbol": ctx.q("symbol"), "category": ctx.q("category"), "list": [
        [str(b["t"][i]), _num(b["o"][i]), _num(b["h"][i]), _num(b["l"][i]), _num(b["c"][i]),
         _num(b["v"][i]), "0"] for i in idx]})


def funding(ctx, m):
    key = _perp(ctx)
    if key is None:
        return 200, {"retCode": 10001, "retMsg": "Not supported symbols", "result": {}}
    t, rate, _ = ctx.funding(key)
    # Bybit returns the newest `limit` rows in [startTime, endTime], newest first
    idx = ctx.select(t, ctx.qi("startTime"), ctx.qi("endTime"),
                     limit=ctx.page("limit", FUNDING_PAGE), newest=True)[::-1]
    return _ok({"category": ctx.q("category"), "list": [
        {"symbol": ctx.q("symbol"), "fundingRate": _num(rate[i]),
         "fundingRateTimestamp": str(t[i])} for i in idx]})


def oi_hist(ctx, m):
    period = OI_PERIOD[ctx.q("intervalTime")]
    key = _perp(ctx)
    if key is None:
        return 200, {"retCode": 10001, "retMsg": "Not supported symbols", "result": {}}
    t, native = ctx.oi_native(key)   # inverse: USD, i.e. contracts of 1 USD
    keep = t % period == 0
    t, native = t[keep], native[keep]
    idx = ctx.select(t, ctx.qi("startTime"), ctx.qi("endTime"),
                     limit=ctx.page("limit", OI_HISTORY_PAGE), newest=True)[::-1]
    return _ok({"symbol": ctx.q("symbol"), "category": ctx.q("category"), "list": [
        {"openInterest": _num(native[i]), "timestamp": str(t[i])} for i in idx],
        "nextPageCursor": ""})


def _ticker_row(ctx, category, symbol):
    key = PERPS.get((category, symbol))
    series = f"perp:{key}" if key else "spot:bybit"
    px = _num(ctx.truth.last_price(series, ctx.now))
    row = {"symbol": symbol, "lastPrice": px, "bid1Price": px, "bid1Size": "1",
           "ask1Price": px, "ask1Size": "1", "prevPrice24h": px, "price24hPcnt": "0",
           "highPrice24h": px, "lowPrice24h": px, "turnover24h": "6000000", "volume24h": "100"}
    if key is not None:   # perpetuals: mark / index, current funding, OI
        t1, r1, _, _, _ = ctx.truth.upcoming_funding(key, ctx.now)
        oi = ctx.truth.oi_now(key, ctx.now)
        row.update(markPrice=px, indexPrice=px, fundingRate=_num(r1), nextFundingTime=str(t1),
                   openInterest=_num(oi), openInterestValue=_num(round(
                       oi if category == "inverse" else oi * float(px), 2)),
                   predictedDeliveryPrice="", basisRate="", deliveryFeeRate="",
                   deliveryTime="0")
    return row


def tickers(ctx, m):
    """``/v5/market/tickers?category=...[&symbol=...]``: the category's tickers (one symbol
    when asked); perpetuals carry the current ``fundingRate`` (settling at
    ``nextFundingTime``) and ``openInterest``."""
    category, symbol = ctx.q("category", "linear"), ctx.q("symbol")
    symbols = {"spot": ["BTCUSDT"], "linear": ["BTCUSDT"], "inverse": ["BTCUSD"]}.get(category)
    if symbols is None or (symbol is not None and symbol not in symbols):
        return 200, {"retCode": 10001, "retMsg": "Not supported symbols", "result": {}}
    return _ok({"category": category, "list": [_ticker_row(ctx, category, s)
                                               for s in ([symbol] if symbol else symbols)]})


#: first rows: spot BTCUSDT 2021-07-05 (Bybit Spot launch, July 2021); linear BTCUSDT kline
#: 2020-03-25 10:00, funding 2020-03-25 16:00, open interest 2020-07-20 08:00 (the oldest rows
#: of Bybit v5 kline / funding / open-interest, as collected in the public
#: PietroC21/Crypto-PerpetualFutures files); inverse BTCUSD 2018-11-14 (Bybit's launch).
#: Before them Bybit answers ``retCode 0`` with an empty ``list``.
FIRST = {"spot:bybit": {"ohlcv": _ms("2021-07-05")},
         "perp:bybit": {"ohlcv": _ms("2020-03-25T10:00"), "funding": _ms("2020-03-25T16:00"),
                        "oi_history": _ms("2020-07-20T08:00")},
         "perp:bybit_inverse": {"ohlcv": _ms("2018-11-14"), "funding": _ms("2018-11-14T16:00"),
                                "oi_history": _ms("2018-11-14T16:00")}}

DIALECT = Dialect("bybit", first=FIRST, routes=(
    ("GET", r"/v5/market/instruments-info", "markets", markets),
    ("GET", r"/v5/market/kline", "ohlcv", kline),
    ("GET", r"/v5/market/funding/history", "funding", funding),
    ("GET", r"/v5/market/open-interest", "oi_history", oi_hist),
    ("GET", r"/v5/market/tickers", "ticker", tickers)))
