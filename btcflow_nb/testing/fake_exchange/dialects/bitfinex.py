"""Bitfinex REST v2 (ccxt ``bitfinex``): the BTCF0:USTF0 perpetual's candles, funding and OI.

Candles: ``start`` / ``end`` inclusive epoch ms, newest first unless ``sort=1``; rows are
``[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]``.  Funding and OI history come from derivative status
snapshots taken at each settlement (`status_hist`), newest first.  Errors are
``["error", code, message]`` with status 500, as Bitfinex sends them.
"""
from __future__ import annotations

import numpy as np

from ..truth import DAY_MS, HOUR_MS
from .dialect import Dialect, _ms

#: candle timeframe -> bar length (ms)
TF = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1D": DAY_MS}
#: rows per reply: (default, most); status history: "limit: Number of records in response
#: (max. 5000)" (docs.bitfinex.com/reference/rest-public-derivatives-status-history, which
#: does not say how often a snapshot is kept: here one per 8-hour settlement)
CANDLES_PAGE = (100, 10000)
STATUS_HISTORY_PAGE = (100, 5000)


def conf(ctx, m):
    keys = m.group(1).split(",")
    out = []
    for k in keys:
        if k == "pub:info:pair":
            out.append([])
        elif k == "pub:info:pair:futures":
            out.append([["BTCF0:USTF0", [None, None, None, "0.0001", "100", None, None, None,
                                         "0.01", "0.005"]]])
        elif k in ("pub:list:pair:securities", "pub:list:pair:margin"):
            out.append([])
        elif k == "pub:map:currency:sym":
            out.append([["UST", "USDT"]])
        else:
            out.append([])
    return 200, out


def candles(ctx, m):
    if m.group(2) != "tBTCF0:USTF0":
        return 500, ["error", 10020, "symbol: invalid"]
    b = ctx.bars("perp:bitfinex", TF[m.group(1)])
    newest = ctx.q("sort") != "1"
    idx = ctx.select(b["t"], ctx.qi("start"), ctx.qi("end"),
                     limit=ctx.page("limit", CANDLES_PAGE), newest=newest)
    if newest:
        idx = idx[::-1]
    # Bitfinex order: MTS, OPEN, CLOSE, HIGH, LOW, VOLUME
    return 200, [[int(b["t"][i]), float(b["o"][i]), float(b["c"][i]), float(b["h"][i]),
                  float(b["l"][i]), float(b["v"][i])] for i in idx]


def _row(t, rate, native):
    return [int(t), None, 60000.0, 60000.0, None, 1e7, None, int(t) + 8 * HOUR_MS, 0.00001,
            100, None, float(rate), None, None, 60000.0, None, None, float(native), None,
            None, None, 0.0005, 0.0025]


def status_hist(ctx, m):
    # status snapshots at each settlement: funding settled then, OI at that time
    if m.group(1) != "tBTCF0:USTF0":
        return 500, ["error", 10020, "symbol: invalid"]
    t, rate, _ = ctx.funding("bitfinex")
    oi_t, native = ctx.oi_native("bitfinex")
    oi = native[np.searchsorted(oi_t, t, side="right") - 1]
    idx = ctx.select(t, ctx.qi("start"), ctx.qi("end"),
                     limit=ctx.page("limit", STATUS_HISTORY_PAGE), newest=True)[::-1]
    return 200, [_row(t[i], rate[i], oi[i]) for i in idx]


def status(ctx, m):
    """The current derivatives status: OI now, CURRENT_FUNDING (the rate accruing until
    NEXT_FUNDING_EVT_MTS) and NEXT_FUNDING_ACCRUED (here the next period's rate)."""
    oi_t, native = ctx.oi_native("bitfinex")
    i = np.searchsorted(oi_t, ctx.now, side="right") - 1
    t1, r1, _, r2, _ = ctx.truth.upcoming_funding("bitfinex", ctx.now)
    px = ctx.truth.last_price("perp:bitfinex", ctx.now)
    row = _row(ctx.now, r1, native[i])
    row[2] = row[14] = px           # DERIV_PRICE, MARK_PRICE
    row[7], row[8] = t1, r2         # NEXT_FUNDING_EVT_MTS, NEXT_FUNDING_ACCRUED
    return 200, [["tBTCF0:USTF0"] + row]


def ticker(ctx, m):
    """``/v2/ticker/<symbol>``: [BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE,
    DAILY_CHANGE_RELATIVE, LAST_PRICE, VOLUME, HIGH, LOW]."""
    if m.group(1) != "tBTCF0:USTF0":
        return 500, ["error", 10020, "symbol: invalid"]
    px = ctx.truth.last_price("perp:bitfinex", ctx.now)
    return 200, [px, 1.0, px, 1.0, 0.0, 0.0, px, 100.0, px, px]


#: BTCF0:USTF0 (Bitfinex derivatives launch, 2019-09-11): first candle and status row
FIRST = {"perp:bitfinex": {"ohlcv": _ms("2019-09-11"), "funding": _ms("2019-09-11T08:00"),
                           "oi_history": _ms("2019-09-11T08:00")}}

DIALECT = Dialect("bitfinex", first=FIRST, routes=(
    ("GET", r"/v2/conf/([^/]+)", "markets", conf),
    ("GET", r"/v2/candles/trade:([0-9a-zA-Z]+):([^/]+)/hist", "ohlcv", candles),
    ("GET", r"/v2/status/deriv/([^/]+)/hist", "funding", status_hist),
    ("GET", r"/v2/status/deriv", "oi", status),
    ("GET", r"/v2/ticker/([^/]+)", "ticker", ticker)))
