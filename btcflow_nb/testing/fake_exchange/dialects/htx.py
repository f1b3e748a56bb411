"""HTX (Huobi) USDT-margined swaps (ccxt ``htx``): the BTC-USDT perpetual's klines, funding, OI.

Klines: with ``size`` HTX ignores ``from`` / ``to`` and serves the newest `size` bars; otherwise
``from`` / ``to`` are inclusive epoch seconds; at most `KLINE_MOST` bars.  Funding comes from the
legacy paged endpoint (``page_index`` / ``page_size``, newest first) or the v5 one; OI history
serves the newest ``size`` samples, in contracts of 0.001 BTC or in BTC (``amount_type=2``).
"""
from __future__ import annotations

import math

import numpy as np

from ..truth import DAY_MS, HOUR_MS
from .dialect import Dialect, _num, _ms

#: kline / OI history period -> bar length (ms)
PERIOD = {"60min": HOUR_MS, "4hour": 4 * HOUR_MS, "1day": DAY_MS}
#: the most klines one reply holds
KLINE_MOST = 2000
#: rows per reply: (default, most)
FUNDING_PAGE = (20, 50)            # legacy endpoint's page_size
FUNDING_V5_PAGE = (100, 100)
OI_HISTORY_PAGE = (48, 200)
#: contract size (BTC)
CONTRACT_SIZE = 0.001


def contract_info(ctx, m):
    return 200, {"status": "ok", "data": [{
        "symbol": "BTC", "contract_code": "BTC-USDT", "contract_size": 0.001,
        "price_tick": 0.1, "delivery_date": "", "delivery_time": "", "create_date": "20201021",
        "contract_status": 1, "settlement_date": "1603699200000", "support_margin_mode": "all",
        "business_type": "swap", "pair": "BTC-USDT", "contract_type": "swap",
        "trade_partition": "USDT"}], "ts": ctx.now}


def kline(ctx, m):
    if ctx.q("contract_code") != "BTC-USDT":
        return 200, {"status": "error", "err-code": "bad-request", "err-msg": "invalid contract"}
    b = ctx.bars("perp:htx", PERIOD[ctx.q("period")])
    lo, hi = ctx.qi("from"), ctx.qi("to")
    size = ctx.qi("size")
    if size is not None:  # HTX ignores from/to when size is given: the newest `size` bars
        idx = ctx.select(b["t"], limit=min(size, KLINE_MOST), newest=True)
    else:
        idx = ctx.select(b["t"], None if lo is None else lo * 1000,
                         None if hi is None else hi * 1000, limit=KLINE_MOST)
    return 200, {"ch": "market.BTC-USDT.kline", "status": "ok", "ts": ctx.now, "data": [
        {"id": int(b["t"][i] // 1000), "open": float(b["o"][i]), "close": float(b["c"][i]),
         "low": float(b["l"][i]), "high": float(b["h"][i]), "amount": float(b["v"][i]),
         "vol": float(b["v"][i]) * 1000, "trade_turnover": 0.0, "count": 100} for i in idx]}


def funding(ctx, m):  # legacy paged endpoint: page_index / page_size, newest first
    t, rate, _ = ctx.funding("htx")
    size = ctx.page("page_size", FUNDING_PAGE)
    page = ctx.qi("page_index", 1)
    order = np.arange(len(t))[::-1]
    order = order[t[order] <= ctx.now]
    chunk = order[(page - 1) * size: page * size]
    return 200, {"status": "ok", "ts": ctx.now, "data": {
        "total_page": math.ceil(len(order) / size), "current_page": page,
        "total_size": len(order), "data": [
            {"symbol": "BTC", "contract_code": "BTC-USDT", "fee_asset": "USDT",
             "funding_time": str(t[i]), "funding_rate": _num(rate[i]),
             "realized_rate": _num(rate[i]), "avg_premium_index": "0"} for i in chunk]}}


def funding_v5(ctx, m):
    t, rate, _ = ctx.funding("htx")
    idx = ctx.select(t, ctx.qi("start_time"), ctx.qi("end_time"),
                     limit=ctx.page("limit", FUNDING_V5_PAGE),
                     newest=ctx.qi("start_time") is None)
    return 200, {"code": 200, "message": "Success", "ts": ctx.now, "data": [
        {"contract_code": "BTC-USDT", "funding_rate": _num(rate[i]),
         "funding_time": str(t[i])} for i in idx]}


def his_oi(ctx, m):
    period = PERIOD[ctx.q("period")]
    t, native = ctx.oi_native("htx")
    keep = t % period == 0
    t, native = t[keep], native[keep]
    idx = ctx.select(t, limit=ctx.page("size", OI_HISTORY_PAGE), newest=True)[::-1]
    price = ctx.truth.close_at("perp:htx", t[idx])
    size = CONTRACT_SIZE
    return 200, {"status": "ok", "ts": ctx.now, "data": {
        "symbol": "BTC", "contract_type": "swap", "contract_code": "BTC-USDT",
        "business_type": "swap", "pair": "BTC-USDT", "tick": [
            {"volume": _num(native[i] if ctx.qi("amount_type", 1) == 2 else round(native[i] / size)),
             "amount_type": int(ctx.qi("amount_type", 1)),
             "ts": int(t[i]), "value": _num(round(native[i] * price[k], 2))}
            for k, i in enumerate(idx)]}}


def oi(ctx, m):
    t, native = ctx.oi_native("htx")
    i = np.searchsorted(t, ctx.now, side="right") - 1
    price = ctx.truth.close_at("perp:htx", np.array([t[i]]))[0]
    row = {"volume": round(native[i] / CONTRACT_SIZE), "amount": float(native[i]), "symbol": "BTC",
           "value": round(native[i] * price, 2), "contract_code": "BTC-USDT",
           "trade_amount": 0, "trade_volume": 0, "trade_turnover": 0,
           "business_type": "swap", "pair": "BTC-USDT", "contract_type": "swap"}
    if m.group(0).startswith("/v5"):
        return 200, {"code": 200, "message": "Success", "ts": ctx.now, "data": row}
    return 200, {"status": "ok", "data": [row], "ts": ctx.now}


def ticker(ctx, m):
    """``detail/merged``: the last 24 h and the latest trade (``close``)."""
    if ctx.q("contract_code") != "BTC-USDT":
        return 200, {"status": "error", "err-code": "bad-request", "err-msg": "invalid contract"}
    px = ctx.truth.last_price("perp:htx", ctx.now)
    return 200, {"ch": "market.BTC-USDT.detail.merged", "status": "ok", "ts": ctx.now, "tick": {
        "amount": "100", "ask": [px, 10], "bid": [px, 10], "close": _num(px), "count": 100,
        "high": _num(px), "id": ctx.now // 1000, "low": _num(px), "open": _num(px),
        "ts": ctx.now, "vol": "100000", "trade_turnover": "6000000"}}


def funding_rate(ctx, m):
    """v5 current funding: the rate settling at ``funding_time`` and the settlement after
    (``next_funding_time``; HTX publishes no next rate there)."""
    if ctx.q("contract_code") != "BTC-USDT":
        return 200, {"code": 1332, "message": "invalid contract", "data": []}
    t1, r1, t2, _, _ = ctx.truth.upcoming_funding("htx", ctx.now)
    return 200, {"code": 200, "message": "Success", "ts": ctx.now, "data": [{
        "contract_code": "BTC-USDT", "funding_rate": _num(r1), "funding_time": str(t1),
        "next_funding_time": str(t2), "min_funding_rate": "-0.003750000000000000",
        "max_funding_rate": "0.003750000000000000"}]}


#: BTC-USDT linear swap: opened 2020-10-12 (Huobi USDT-margined swaps launch, October 2020)
FIRST = {"perp:htx": {"ohlcv": _ms("2020-10-12"), "funding": _ms("2020-10-12T08:00")}}

DIALECT = Dialect("htx", first=FIRST, routes=(
    ("GET", r"/linear-swap-api/v1/swap_contract_info", "markets", contract_info),
    ("GET", r"/linear-swap-ex/market/history/kline", "ohlcv", kline),
    ("GET", r"/linear-swap-api/v1/swap_historical_funding_rate", "funding", funding),
    ("GET", r"/v5/market/funding_rate_history", "funding", funding_v5),
    ("GET", r"/linear-swap-api/v1/swap_his_open_interest", "oi_history", his_oi),
    ("GET", r"/linear-swap-api/v1/swap_open_interest", "oi", oi),
    ("GET", r"/v5/market/open_interest", "oi", oi),
    ("GET", r"/linear-swap-ex/market/detail/merged", "ticker", ticker),
    ("GET", r"/v5/market/funding_rate", "funding_rate", funding_rate)))
