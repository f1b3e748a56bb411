"""Binance COIN-M futures REST (ccxt ``binancecoinm``): the BTCUSD_PERP inverse perpetual, the
BTCUSD_<YYMMDD> quarterlies listed at the server's clock, and the continuous-contract klines
(``continuousKlines``, CURRENT_QUARTER / NEXT_QUARTER) that carry the expired ones' history.

Contracts are worth `CONTRACT_USD` USD each and margined in BTC.  Klines are Binance's kline
format (`binance.kline_rows`), with ``startTime`` / ``endTime`` at most `MAX_KLINE_SPAN_MS`
apart (Binance COIN-M docs: "up to 200 days"; a wider window is refused as the venue does).
Funding: ``startTime`` / ``endTime`` inclusive, the newest rows without ``startTime``.  OI
history is asked by ``pair`` + ``contractType``: ``sumOpenInterest`` in contracts and
``sumOpenInterestValue`` in BTC (contracts x 100 / price), for the latest `OI_HISTORY_DAYS`
days only; the current OI is in contracts.
"""
from __future__ import annotations

import numpy as np

from ..truth import _OI_NATIVE, DAY_MS
from .binance import FILTERS, INTERVAL, kline_rows, premium_index, ticker_24hr
from .binanceusdm import PERIOD, stamped
from .dialect import Dialect, _num

SERIES = "perp:binance_coinm"
CONTRACT_USD = 100
#: rows per reply: (default, most)
KLINES_PAGE = (500, 1500)
FUNDING_PAGE = (100, 1000)
OI_HISTORY_PAGE = (30, 500)
MAX_KLINE_SPAN_MS = 200 * DAY_MS
#: history depth the venue serves (Binance: "Only the data of the latest 1 month")
OI_HISTORY_DAYS = 30
#: BTCUSD_PERP onboardDate (2020-08-10 00:00 UTC, epoch ms): no bar or funding before it
LISTED_MS = 1_597_017_600_000
FIRST = {SERIES: {"ohlcv": LISTED_MS, "funding": LISTED_MS, "oi_history": LISTED_MS}}


def future_symbol(expiry_ms: int) -> str:
    """Binance's symbol of the COIN-M quarterly expiring at `expiry_ms`: BTCUSD_260327."""
    import datetime as dt

    return "BTCUSD_" + dt.datetime.fromtimestamp(expiry_ms / 1000, dt.timezone.utc).strftime(
        "%y%m%d")


def _futures(ctx) -> dict:
    """symbol -> expiry (ms) of the quarterlies listed at the server's clock (oldest first:
    CURRENT_QUARTER, then NEXT_QUARTER)."""
    return {future_symbol(e): e for e in ctx.truth.dated_expiries("binance_coinm", ctx.now)}


def _series(ctx, symbol):
    if symbol == "BTCUSD_PERP":
        return SERIES
    expiry = _futures(ctx).get(symbol)
    return None if expiry is None else ctx.truth.dated_series("binance_coinm", expiry)


def markets(ctx, m):
    dated = [dict(_PERP_MARKET, symbol=symbol, contractType=CONTRACT_TYPES[i],
                  deliveryDate=expiry, onboardDate=expiry - 200 * DAY_MS)
             for i, (symbol, expiry) in enumerate(_futures(ctx).items())]
    return 200, {"timezone": "UTC", "serverTime": ctx.now, "rateLimits": [],
                 "exchangeFilters": [], "symbols": [_PERP_MARKET] + dated}


#: contract type of the listed quarterlies, nearest first
CONTRACT_TYPES = ("CURRENT_QUARTER", "NEXT_QUARTER")

_PERP_MARKET = {
    "symbol": "BTCUSD_PERP", "pair": "BTCUSD", "contractType": "PERPETUAL",
    "deliveryDate": 4133404800000, "onboardDate": LISTED_MS,
    "contractStatus": "TRADING", "contractSize": CONTRACT_USD,
    "marginAsset": "BTC", "maintMarginPercent": "2.5000",
    "requiredMarginPercent": "5.0000", "baseAsset": "BTC", "quoteAsset": "USD",
    "pricePrecision": 1, "quantityPrecision": 0, "baseAssetPrecision": 8,
    "quotePrecision": 8, "equalQtyPrecision": 4, "maxMoveOrderLimit": 10000,
    "triggerProtect": "0.0500", "underlyingType": "COIN",
    "underlyingSubType": [], "filters": FILTERS,
    "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC"],
    "liquidationFee": "0.015000", "marketTakeBound": "0.05"}


def klines(ctx, m):
    series = _series(ctx, ctx.q("symbol"))
    if series is None:
        return 400, {"code": -1121, "msg": "Invalid symbol."}
    start, end = ctx.qi("startTime"), ctx.qi("endTime")
    if start is not None and end is not None and end - start > MAX_KLINE_SPAN_MS:
        return 400, {"code": -1127, "msg": "More than 200 days between startTime and endTime."}
    b = ctx.bars(series, INTERVAL[ctx.q("interval")])
    lo = LISTED_MS if start is None else max(start, LISTED_MS)
    idx = ctx.select(b["t"], lo, end, limit=ctx.page("limit", KLINES_PAGE), newest=start is None)
    return 200, kline_rows(b, idx)


def continuous_bars(truth, contract_type: str, tf_ms: int, now_ms: int) -> dict:
    """Bars of the continuous contract `contract_type`: each bar (open time t) is the bar of
    the quarterly that held that type at t -- CURRENT_QUARTER the first quarterly expiring
    after t, NEXT_QUARTER the second."""
    from ..truth import last_friday_expiries

    rank = CONTRACT_TYPES.index(contract_type)
    start = (truth.start // tf_ms) * tf_ms
    expiries = last_friday_expiries(start - 400 * DAY_MS, now_ms + 400 * DAY_MS)
    t = np.arange(start, now_ms + 1, tf_ms, dtype=np.int64)
    which = np.searchsorted(expiries, t, side="right") + rank
    out = {k: [] for k in ("t", "o", "h", "l", "c", "v")}
    for e in sorted(set(which.tolist())):
        b = truth.bars(truth.dated_series("binance_coinm", expiries[e]), tf_ms, now_ms)
        keep = np.isin(b["t"], t[which == e])
        for k in out:
            out[k].append(b[k][keep])
    return {k: np.concatenate(v) for k, v in out.items()}


def continuous_klines(ctx, m):
    """``/dapi/v1/continuousKlines?pair=BTCUSD&contractType=CURRENT_QUARTER``: Binance's
    kline rows of a continuous contract (same paging rules as klines)."""
    if ctx.q("pair") != "BTCUSD" or ctx.q("contractType") not in CONTRACT_TYPES:
        return 400, {"code": -1121, "msg": "Invalid pair or contract type."}
    start, end = ctx.qi("startTime"), ctx.qi("endTime")
    if start is not None and end is not None and end - start > MAX_KLINE_SPAN_MS:
        return 400, {"code": -1127, "msg": "More than 200 days between startTime and endTime."}
    b = continuous_bars(ctx.truth, ctx.q("contractType"), INTERVAL[ctx.q("interval")], ctx.now)
    # "returns the `limit` rows between startTime and endTime closest to endTime" (docs)
    idx = ctx.select(b["t"], start, end, limit=ctx.page("limit", KLINES_PAGE), newest=True)
    return 200, kline_rows(b, idx)


def funding(ctx, m):
    t, rate, _ = ctx.funding("binance_coinm")
    t = stamped(t)
    start = ctx.qi("startTime")
    lo = LISTED_MS if start is None else max(start, LISTED_MS)
    idx = ctx.select(t, lo, ctx.qi("endTime"), limit=ctx.page("limit", FUNDING_PAGE),
                     newest=start is None)
    return 200, [{"symbol": "BTCUSD_PERP", "fundingTime": int(t[i]),
                  "fundingRate": _num(rate[i])} for i in idx]


def contracts_and_btc(ctx, t, usd):
    """(contracts, BTC) of USD open interest: contracts = USD / 100, BTC = USD / the venue's
    price at the sample (rounded to 1e-8 BTC, as Binance prints it)."""
    price = ctx.truth.close_at(SERIES, t)
    return np.round(usd / CONTRACT_USD), np.round(usd / price, 8)


def oi_hist(ctx, m):
    period = PERIOD.get(ctx.q("period"))
    if period is None:
        return 400, {"code": -1130, "msg": "Invalid period."}
    if ctx.q("pair") != "BTCUSD" or ctx.q("contractType") != "PERPETUAL":
        return 400, {"code": -1121, "msg": "Invalid pair or contract type."}
    t, usd = ctx.oi_native("binance_coinm")
    keep = (t % period == 0) & (t >= ctx.now - OI_HISTORY_DAYS * DAY_MS) & (t >= LISTED_MS)
    t, usd = t[keep], usd[keep]
    start = ctx.qi("startTime")
    idx = ctx.select(t, start, ctx.qi("endTime"), limit=ctx.page("limit", OI_HISTORY_PAGE),
                     newest=start is None)
    n, btc = contracts_and_btc(ctx, t[idx], usd[idx])
    return 200, [{"pair": "BTCUSD", "contractType": "PERPETUAL",
                  "sumOpenInterest": _num(n[k]), "sumOpenInterestValue": _num(btc[k]),
                  "timestamp": int(t[i])} for k, i in enumerate(idx)]


def oi(ctx, m):
    t, usd = ctx.oi_native("binance_coinm")
    i = np.searchsorted(t, ctx.now, side="right") - 1
    return 200, {"symbol": "BTCUSD_PERP", "pair": "BTCUSD", "contractType": "PERPETUAL",
                 "openInterest": _num(round(usd[i] / CONTRACT_USD)), "time": ctx.now}


def ticker(ctx, m):
    """COIN-M answers a list, even for one symbol."""
    if ctx.q("symbol") != "BTCUSD_PERP":
        return 400, {"code": -1121, "msg": "Invalid symbol."}
    row = ticker_24hr(ctx, "BTCUSD_PERP", SERIES, contract=True)
    row.update(pair="BTCUSD", baseVolume="1.0")
    return 200, [row]


def funding_rate(ctx, m):
    if ctx.q("symbol") != "BTCUSD_PERP":
        return 400, {"code": -1121, "msg": "Invalid symbol."}
    return 200, [premium_index(ctx, "BTCUSD_PERP", "binance_coinm", SERIES, pair="BTCUSD")]


assert _OI_NATIVE["binance_coinm"] == ("usd", CONTRACT_USD)

DIALECT = Dialect("binancecoinm", first=FIRST, routes=(
    ("GET", r"/dapi/v1/exchangeInfo", "markets", markets),
    ("GET", r"/dapi/v1/klines", "ohlcv", klines),
    ("GET", r"/dapi/v1/continuousKlines", "ohlcv", continuous_klines),
    ("GET", r"/dapi/v1/fundingRate", "funding", funding),
    ("GET", r"/futures/data/openInterestHist", "oi_history", oi_hist),
    ("GET", r"/dapi/v1/openInterest", "oi", oi),
    ("GET", r"/dapi/v1/ticker/24hr", "ticker", ticker),
    ("GET", r"/dapi/v1/premiumIndex", "funding_rate", funding_rate)))
