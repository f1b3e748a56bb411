"""OKX REST v5 (ccxt ``okx``): BTC-USDT spot and BTC-USDT-SWAP candles, funding, OI; the
coin-margined BTC futures (``instType=FUTURES``, ``BTC-USD-260327``, 100 USD contracts)
listed at the server's clock and their candles.

``before`` / ``after`` (and OI history's ``begin`` / ``end``) are exclusive bounds in epoch ms;
rows come newest first.  The recent-candles endpoint serves more rows per reply than
history-candles (`CANDLES_PAGE` / `HISTORY_CANDLES_PAGE`).  OI is in contracts of 0.01 BTC
(`Truth` ``_OI_NATIVE``), with the BTC amount and the USD value beside it; the inverse
BTC-USD-SWAP's contracts are worth 100 USD (``ctVal``), its BTC amount is USD / price.
"""
from __future__ import annotations

import numpy as np

from ..truth import _OI_NATIVE, DAY_MS, HOUR_MS
from .dialect import Dialect, _num, _ms

#: candle bar / OI period -> bar length (ms)
BAR = {"1H": HOUR_MS, "4H": 4 * HOUR_MS, "1Dutc": DAY_MS, "1D": DAY_MS}
#: instrument id -> truth series
SERIES = {"BTC-USDT": "spot:okx", "BTC-USDT-SWAP": "perp:okx",
          "BTC-USD-SWAP": "perp:okx_inverse"}
#: swap instrument id -> truth key
SWAPS = {"BTC-USDT-SWAP": "okx", "BTC-USD-SWAP": "okx_inverse"}
#: rows per reply: (default, most)
CANDLES_PAGE = (100, 300)
HISTORY_CANDLES_PAGE = (100, 100)
FUNDING_PAGE = (100, 100)
OI_HISTORY_PAGE = (100, 100)
#: history depth the venue serves: open-interest history "the latest 1,440 data entries"
OI_HISTORY_ROWS = 1440
#: funding-rate history: "can retrieve data from the last 3 months"
FUNDING_DAYS = 92


def markets(ctx, m):
    common = {"baseCcy": "", "quoteCcy": "", "settleCcy": "", "category": "1",
              "lever": "100", "lotSz": "0.01", "minSz": "0.01", "tickSz": "0.1",
              "maxLmtSz": "10000", "maxMktSz": "10000", "state": "live", "listTime": "1606468572000",
              "expTime": "", "ctMult": "", "ctVal": "", "ctValCcy": "", "ctType": "",
              "alias": "", "optType": "", "stk": "", "uly": "", "instFamily": ""}
    inst = ctx.q("instType")
    if inst == "SPOT":
        data = [dict(common, instType="SPOT", instId="BTC-USDT", baseCcy="BTC",
                     quoteCcy="USDT", lotSz="0.00000001", minSz="0.00001", lever="10")]
    elif inst == "SWAP":
        data = [dict(common, instType="SWAP", instId="BTC-USDT-SWAP", settleCcy="USDT",
                     ctVal="0.01", ctMult="1", ctValCcy="BTC", ctType="linear",
                     uly="BTC-USDT", instFamily="BTC-USDT"),
                dict(common, instType="SWAP", instId="BTC-USD-SWAP", settleCcy="BTC",
                     ctVal="100", ctMult="1", ctValCcy="USD", ctType="inverse", lotSz="1",
                     minSz="1", uly="BTC-USD", instFamily="BTC-USD", listTime="1544486400000")]
    elif inst == "FUTURES":
        data = [dict(common, instType="FUTURES", instId=name, settleCcy="BTC", ctVal="100",
                     ctMult="1", ctValCcy="USD", ctType="inverse", lotSz="1", minSz="1",
                     uly="BTC-USD", instFamily="BTC-USD", expTime=str(expiry),
                     listTime=str(expiry - 200 * DAY_MS))
                for name, expiry in _futures(ctx).items()]
    else:
        data = []
    return 200, {"code": "0", "msg": "", "data": data}


def future_id(expiry_ms: int) -> str:
    """OKX's id of the coin-margined BTC future expiring at `expiry_ms`: BTC-USD-260327."""
    import datetime as dt

    return "BTC-USD-" + dt.datetime.fromtimestamp(expiry_ms / 1000, dt.timezone.utc).strftime(
        "%y%m%d")


def _futures(ctx) -> dict:
    """instrument id -> expiry (ms) of the inverse futures listed at the server's clock."""
    return {future_id(e): e for e in ctx.truth.dated_expiries("okx", ctx.now)}


def _series(ctx, inst_id):
    expiry = _futures(ctx).get(inst_id)
    if expiry is not None:
        return ctx.truth.dated_series("okx", expiry)
    return SERIES.get(inst_id)


def candles(ctx, m):
    series = _series(ctx, ctx.q("instId"))
    if series is None:
        return 200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
    b = ctx.bars(series, BAR[ctx.q("bar")])
    limit = ctx.page("limit", HISTORY_CANDLES_PAGE if "history" in m.group(0) else CANDLES_PAGE)
    # before/after: exclusive bounds; newest rows first
    idx = ctx.select(b["t"], ctx.qi("before"), ctx.qi("after"), limit=limit, newest=True,
                     lo_open=True, hi_open=True)[::-1]
    return 200, {"code": "0", "msg": "", "data": [
        [str(b["t"][i]), _num(b["o"][i]), _num(b["h"][i]), _num(b["l"][i]), _num(b["c"][i]),
         _num(b["v"][i]), _num(b["v"][i]), "0", "1"] for i in idx]}


def funding(ctx, m):
    key = SWAPS.get(ctx.q("instId"))
    if key is None:
        return 200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
    t, rate, _ = ctx.funding(key)
    served = t >= ctx.now - FUNDING_DAYS * DAY_MS    # "data from the last 3 months"
    t, rate = t[served], rate[served]
    idx = ctx.select(t, ctx.qi("before"), ctx.qi("after"), limit=ctx.page("limit", FUNDING_PAGE),
                     lo_open=True, hi_open=True, newest=ctx.qi("before") is None)[::-1]
    return 200, {"code": "0", "msg": "", "data": [
        {"instType": "SWAP", "instId": ctx.q("instId"), "fundingRate": _num(rate[i]),
         "realizedRate": _num(rate[i]), "fundingTime": str(t[i]), "method": "current_period",
         "formulaType": "noRate"} for i in idx]}


def _oi(ctx, key, t_sel, native):
    """(contracts, BTC, USD) of native OI samples: linear contracts of 0.01 BTC, or inverse
    ones of 100 USD (native is then USD; BTC = USD / price, to 1e-8)."""
    unit, size = _OI_NATIVE[key]
    price = ctx.truth.close_at(f"perp:{key}", t_sel)
    if unit == "usd":
        return np.round(native / size), np.round(native / price, 8), native
    base = native * size
    return native, base, np.round(base * price, 2)


def oi_hist(ctx, m):
    period = BAR.get(ctx.q("period")) or {"5m": 300_000}.get(ctx.q("period"))
    key = SWAPS.get(ctx.q("instId"))
    if key is None:
        return 200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
    t, native = ctx.oi_native(key)
    keep = t % period == 0
    t, native = t[keep], native[keep]
    t, native = t[-OI_HISTORY_ROWS:], native[-OI_HISTORY_ROWS:]   # the latest 1,440 entries
    idx = ctx.select(t, ctx.qi("begin"), ctx.qi("end"), limit=ctx.page("limit", OI_HISTORY_PAGE),
                     lo_open=True, hi_open=True, newest=True)[::-1]
    n, base, usd = _oi(ctx, key, t[idx], native[idx])
    return 200, {"code": "0", "msg": "", "data": [
        [str(t[i]), _num(n[k]), _num(base[k]), _num(usd[k])] for k, i in enumerate(idx)]}


def oi(ctx, m):
    key = SWAPS.get(ctx.q("instId"), "okx")
    t, native = ctx.oi_native(key)
    i = np.searchsorted(t, ctx.now, side="right") - 1
    n, base, usd = _oi(ctx, key, np.array([t[i]]), native[[i]])
    return 200, {"code": "0", "msg": "", "data": [{
        "instType": "SWAP", "instId": ctx.q("instId", "BTC-USDT-SWAP"), "oi": _num(n[0]),
        "oiCcy": _num(base[0]), "oiUsd": _num(usd[0]), "ts": str(ctx.now)}]}


def _ticker_row(ctx, inst_id):
    px = _num(ctx.truth.last_price(SERIES[inst_id], ctx.now))
    return {"instType": "SPOT" if inst_id == "BTC-USDT" else "SWAP", "instId": inst_id,
            "last": px, "lastSz": "0.01", "askPx": px, "askSz": "1", "bidPx": px, "bidSz": "1",
            "open24h": px, "high24h": px, "low24h": px, "volCcy24h": "100", "vol24h": "100",
            "sodUtc0": px, "sodUtc8": px, "ts": str(ctx.now)}


def ticker(ctx, m):
    inst_id = ctx.q("instId")
    if inst_id not in SERIES:
        return 200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
    return 200, {"code": "0", "msg": "", "data": [_ticker_row(ctx, inst_id)]}


def tickers(ctx, m):
    """Every instrument of ``instType`` in one reply."""
    kind = ctx.q("instType")
    ids = [i for i in SERIES if (i == "BTC-USDT") == (kind == "SPOT")] \
        if kind in ("SPOT", "SWAP") else []
    return 200, {"code": "0", "msg": "", "data": [_ticker_row(ctx, i) for i in ids]}


def funding_rate(ctx, m):
    """The current period's rate (settles at ``fundingTime``) and the next period's
    (``nextFundingRate``, settling at ``nextFundingTime``)."""
    key = SWAPS.get(ctx.q("instId"))
    if key is None:
        return 200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
    t1, r1, t2, r2, _ = ctx.truth.upcoming_funding(key, ctx.now)
    return 200, {"code": "0", "msg": "", "data": [{
        "instType": "SWAP", "instId": ctx.q("instId"), "fundingRate": _num(r1),
        "fundingTime": str(t1), "nextFundingRate": _num(r2), "nextFundingTime": str(t2),
        "method": "next_period", "maxFundingRate": "0.00375", "minFundingRate": "-0.00375",
        "premium": "0", "settFundingRate": _num(r1), "settState": "settled",
        "ts": str(ctx.now)}]}


#: first bars: BTC-USDT spot history-candles 2018-01-11 11:00 UTC, BTC-USDT-SWAP 2019-12-16
#: 06:00 UTC (both: the oldest rows OKX's /market/history-candles serves, as collected in the
#: public PietroC21/Crypto-PerpetualFutures files); BTC-USD-SWAP opened 2018-12-11 (OKEx
#: perpetual swap launch announcement).  Funding and OI history are rolling (above).
FIRST = {"spot:okx": {"ohlcv": _ms("2018-01-11T11:00")},
         "perp:okx": {"ohlcv": _ms("2019-12-16T06:00"), "funding": _ms("2019-12-16T08:00")},
         "perp:okx_inverse": {"ohlcv": _ms("2018-12-11"), "funding": _ms("2018-12-11T08:00")}}

DIALECT = Dialect("okx", first=FIRST, routes=(
    ("GET", r"/api/v5/public/instruments", "markets", markets),
    ("GET", r"/api/v5/market/(?:history-)?candles", "ohlcv", candles),
    ("GET", r"/api/v5/public/funding-rate-history", "funding", funding),
    ("GET", r"/api/v5/rubik/stat/contracts/open-interest-history", "oi_history", oi_hist),
    ("GET", r"/api/v5/public/open-interest", "oi", oi),
    ("GET", r"/api/v5/market/ticker", "ticker", ticker),
    ("GET", r"/api/v5/market/tickers", "ticker", tickers),
    ("GET", r"/api/v5/public/funding-rate", "funding_rate", funding_rate)))
