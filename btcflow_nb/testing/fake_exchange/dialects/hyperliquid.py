"""Hyperliquid info API (ccxt ``hyperliquid``): the BTC perpetual's candles, funding and OI.

Everything is one URL, ``POST /info``; the JSON body's ``type`` says what is asked, and so which
endpoint kind faults match and the log records (`BODY_ENDPOINTS`; markets and current OI share
the ``metaAndAssetCtxs`` request, logged as "markets").  ``startTime`` / ``endTime`` are
inclusive epoch ms; at most `CANDLE_ROWS` candles and `FUNDING_ROWS` funding rows per reply.
"""
from __future__ import annotations

import numpy as np

from ..truth import DAY_MS, HOUR_MS
from .dialect import Dialect, _num, _ms

#: candle interval -> bar length (ms)
TF = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS}
#: rows per reply
CANDLE_ROWS = 5000
FUNDING_ROWS = 500
#: endpoint kind by the body's "type" (any other type: the route's "markets")
BODY_ENDPOINTS = {"candleSnapshot": "ohlcv", "fundingHistory": "funding"}


def _meta(ctx):
    """Markets and every asset's context: current OI (BTC), mark / mid / oracle price and
    ``funding`` (the current hour's rate)."""
    t, native = ctx.oi_native("hyperliquid")
    i = np.searchsorted(t, ctx.now, side="right") - 1
    px = _num(ctx.truth.last_price("perp:hyperliquid", ctx.now))
    _, r1, _, _, _ = ctx.truth.upcoming_funding("hyperliquid", ctx.now)
    return [{"universe": [{"szDecimals": 5, "name": "BTC", "maxLeverage": 40,
                           "marginTableId": 56}]},
            [{"funding": _num(r1), "openInterest": _num(native[i]), "prevDayPx": px,
              "dayNtlVlm": "1000000.0", "premium": "0.0", "oraclePx": px,
              "markPx": px, "midPx": px, "impactPxs": [px, px],
              "dayBaseVlm": "10.0"}]]


def info(ctx, m):
    body = ctx.body or {}
    kind = body.get("type")
    if kind == "metaAndAssetCtxs":  # markets and current OI share this request
        return 200, _meta(ctx)
    if kind == "spotMetaAndAssetCtxs":
        return 200, [{"universe": [], "tokens": []}, []]
    if kind == "candleSnapshot":
        req = body.get("req", {})
        if req.get("coin") != "BTC":
            return 500, None
        b = ctx.bars("perp:hyperliquid", TF[req.get("interval")])
        idx = ctx.select(b["t"], req.get("startTime"), req.get("endTime"), limit=CANDLE_ROWS)
        return 200, [{"t": int(b["t"][i]), "T": int(b["t"][i]) + 1, "s": "BTC",
                      "i": req.get("interval"), "o": _num(b["o"][i]), "c": _num(b["c"][i]),
                      "h": _num(b["h"][i]), "l": _num(b["l"][i]), "v": _num(b["v"][i]),
                      "n": 100} for i in idx]
    if kind == "fundingHistory":
        t, rate, _ = ctx.funding("hyperliquid")
        idx = ctx.select(t, body.get("startTime"), body.get("endTime"), limit=FUNDING_ROWS)
        return 200, [{"coin": "BTC", "fundingRate": _num(rate[i]), "premium": "0.0",
                      "time": int(t[i])} for i in idx]
    return 422, None


#: first BTC funding 2023-05-12 00:00 UTC (Hyperliquid fundingHistory's oldest row, as
#: collected in the public PietroC21/Crypto-PerpetualFutures files); candles: the newest 5000
FIRST = {"perp:hyperliquid": {"ohlcv": _ms("2023-05-12"), "funding": _ms("2023-05-12")}}

DIALECT = Dialect("hyperliquid", first=FIRST, routes=(
    ("POST", r"/info", "markets", info),), body_endpoints=BODY_ENDPOINTS)
