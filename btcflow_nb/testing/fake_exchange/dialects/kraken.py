"""Kraken spot REST (ccxt ``kraken``): BTC/USD and the USDT/USD, USDC/USD fx pairs.

OHLC serves only the newest `HISTORY_BARS` bars, after ``since`` (exclusive, epoch seconds),
plus ``last`` (the newest bar's time); an unknown pair is an ``error`` list in a 200 reply.
"""
from __future__ import annotations

import numpy as np

from .dialect import Dialect, _num

#: pair id -> (base, quote, altname, wsname, truth series, pair_decimals)
PAIRS = {"XXBTZUSD": ("XXBT", "ZUSD", "XBTUSD", "XBT/USD", "spot:kraken", 1),
         "USDTZUSD": ("USDT", "ZUSD", "USDTUSD", "USDT/USD", "fx:usdt", 5),
         "USDCUSD": ("USDC", "ZUSD", "USDCUSD", "USDC/USD", "fx:usdc", 5)}
#: history depth: Kraken serves the last 720 bars only
HISTORY_BARS = 720


def markets(ctx, m):
    return 200, {"error": [], "result": {
        pid: {"altname": alt, "wsname": ws, "aclass_base": "currency", "base": base,
              "aclass_quote": "currency", "quote": quote, "lot": "unit",
              "cost_decimals": 5, "pair_decimals": dec, "lot_decimals": 8,
              "lot_multiplier": 1, "leverage_buy": [], "leverage_sell": [],
              "fees": [[0, 0.4]], "fees_maker": [[0, 0.25]], "fee_volume_currency": "ZUSD",
              "margin_call": 80, "margin_stop": 40, "ordermin": "0.0001", "costmin": "0.5",
              "tick_size": "0.1", "status": "online"}
        for pid, (base, quote, alt, ws, _, dec) in PAIRS.items()}}


def ohlc(ctx, m):
    pair = ctx.q("pair")
    if pair not in PAIRS:
        return 200, {"error": ["EQuery:Unknown asset pair"]}
    tf = int(ctx.q("interval", "1")) * 60_000
    b = ctx.bars(PAIRS[pair][4], tf)
    recent = np.arange(len(b["t"]))[-HISTORY_BARS:]
    t = b["t"][recent]
    since = ctx.qi("since")
    idx = recent[ctx.select(t, None if since is None else since * 1000, lo_open=True)]
    rows = [[int(b["t"][i] // 1000), _num(b["o"][i]), _num(b["h"][i]), _num(b["l"][i]),
             _num(b["c"][i]), _num(b["c"][i]), _num(b["v"][i]), 42] for i in idx]
    last = int(b["t"][-1] // 1000) if len(b["t"]) else 0
    return 200, {"error": [], "result": {pair: rows, "last": last}}


def ticker(ctx, m):
    """``/0/public/Ticker?pair=A,B``: every pair asked (all without ``pair``) in one reply;
    ``c`` = [last trade price, lot volume]."""
    asked = [p for p in (ctx.q("pair") or ",".join(PAIRS)).split(",") if p]
    unknown = [p for p in asked if p not in PAIRS]
    if unknown:
        return 200, {"error": ["EQuery:Unknown asset pair"]}
    out = {}
    for pid in asked:
        last = ctx.truth.last_price(PAIRS[pid][4], ctx.now)
        px, tick = _num(last), (0.00001 if PAIRS[pid][5] == 5 else 0.1)
        out[pid] = {"a": [_num(round(last + tick, 5)), "1", "1.000"],
                    "b": [_num(round(last - tick, 5)), "1", "1.000"], "c": [px, "0.01"],
                    "v": ["10.0", "240.0"], "p": [px, px], "t": [100, 2400],
                    "l": [px, px], "h": [px, px], "o": px}
    return 200, {"error": [], "result": out}


DIALECT = Dialect("kraken", routes=(
    ("GET", r"/0/public/AssetPairs", "markets", markets),
    ("GET", r"/0/public/OHLC", "ohlcv", ohlc),
    ("GET", r"/0/public/Ticker", "ticker", ticker)))
