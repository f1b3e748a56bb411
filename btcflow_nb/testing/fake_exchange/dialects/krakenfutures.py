"""Kraken Futures REST (ccxt ``krakenfutures``): the PF_XBTUSD perpetual's charts and funding.

Charts: ``from`` / ``to`` inclusive epoch seconds, at most `CHARTS_ROWS` candles.  Funding is
unpaged: the whole history in one reply, ``fundingRate`` in USD per BTC (rate x price) beside
``relativeFundingRate``.  The ticker (``/tickers/PF_XBTUSD``, ccxt ``fetch_ticker``) carries the
current ``openInterest`` in BTC (the only OI Kraken Futures serves: no history), stamped
``lastTime`` = the server's clock.
"""
from __future__ import annotations

from ..truth import DAY_MS, HOUR_MS
from .dialect import Dialect, _num, _ms

#: chart timeframe -> bar length (ms)
TF = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS}
#: the most candles one reply holds
CHARTS_ROWS = 2000


def instruments(ctx, m):
    return 200, {"result": "success", "serverTime": "2024-01-01T00:00:00.000Z", "instruments": [
        {"symbol": "PF_XBTUSD", "type": "flexible_futures", "underlying": "rr_xbtusd",
         "tickSize": 1, "contractSize": 1, "tradeable": True, "impactMidSize": 1,
         "maxPositionSize": 1000000, "openingDate": "2022-01-01T00:00:00.000Z",
         "marginLevels": [], "fundingRateCoefficient": 8, "maxRelativeFundingRate": 0.001,
         "isin": "GB00J62YGL67", "contractValueTradePrecision": 4,
         "postOnly": False, "feeScheduleUid": "x", "retailMarginLevels": [],
         "category": "", "tags": []}]}


def charts(ctx, m):
    if m.group(1) != "PF_XBTUSD":
        return 400, {"error": "symbol"}
    b = ctx.bars("perp:krakenfutures", TF[m.group(2)])
    lo, hi = ctx.qi("from"), ctx.qi("to")
    idx = ctx.select(b["t"], None if lo is None else lo * 1000,
                     None if hi is None else hi * 1000, limit=CHARTS_ROWS)
    return 200, {"candles": [
        {"time": int(b["t"][i]), "open": _num(b["o"][i]), "high": _num(b["h"][i]),
         "low": _num(b["l"][i]), "close": _num(b["c"][i]), "volume": _num(b["v"][i])}
        for i in idx], "more_candles": False}


def funding(ctx, m):
    import pandas as pd

    t, rate, _ = ctx.funding("krakenfutures")
    idx = ctx.select(t)   # the whole history, as Kraken Futures does
    price = ctx.truth.close_at("perp:krakenfutures", t[idx])
    return 200, {"result": "success", "rates": [
        {"timestamp": pd.Timestamp(int(t[i]), unit="ms", tz="UTC").strftime(
            "%Y-%m-%dT%H:%M:%S.000Z"),
         "fundingRate": _num(round(rate[i] * price[k], 9)), "relativeFundingRate": _num(rate[i])}
        for k, i in enumerate(idx)], "serverTime": "2024-01-01T00:00:00.000Z"}


def _ticker_row(ctx):
    """PF_XBTUSD's ticker: last / mark price, ``openInterest`` (BTC) and funding --
    ``fundingRate`` (the current hour's, absolute: rate x mark price, USD per contract) and
    ``fundingRatePrediction`` (the next hour's, absolute too)."""
    import numpy as np
    import pandas as pd

    t, btc = ctx.oi_native("krakenfutures")
    i = np.searchsorted(t, ctx.now, side="right") - 1
    last = ctx.truth.close_at("perp:krakenfutures", np.array([ctx.now]))[0]
    _, r1, _, r2, _ = ctx.truth.upcoming_funding("krakenfutures", ctx.now)
    when = pd.Timestamp(int(ctx.now), unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return when, {
        "tag": "perpetual", "pair": "XBT:USD", "symbol": "PF_XBTUSD", "markPrice": float(last),
        "bid": float(last) - 1, "bidSize": 0.1, "ask": float(last) + 1, "askSize": 0.1,
        "vol24h": 8309.2546, "openInterest": float(btc[i]), "open24h": float(last),
        "indexPrice": float(last), "last": float(last), "lastTime": when, "lastSize": 0.01,
        "fundingRate": float(r1 * last), "fundingRatePrediction": float(r2 * last),
        "suspended": False, "postOnly": False}


def ticker(ctx, m):
    if m.group(1) != "PF_XBTUSD":
        return 400, {"result": "error", "error": "symbol"}
    when, row = _ticker_row(ctx)
    return 200, {"result": "success", "serverTime": when, "ticker": row}


def tickers(ctx, m):
    """``/tickers``: every instrument's ticker (ccxt ``fetch_tickers`` and
    ``fetch_funding_rate(s)``)."""
    when, row = _ticker_row(ctx)
    return 200, {"result": "success", "serverTime": when, "tickers": [row]}


#: PF_XBTUSD: ``openingDate`` 2022-01-01 (the instrument's own field, below)
FIRST = {"perp:krakenfutures": {"ohlcv": _ms("2022-01-01"), "funding": _ms("2022-01-01T01:00"),
                                "oi_history": _ms("2022-01-01")}}

DIALECT = Dialect("krakenfutures", first=FIRST, routes=(
    ("GET", r"/derivatives/api/v3/instruments", "markets", instruments),
    ("GET", r"/api/charts/v1/trade/([^/]+)/([^/]+)", "ohlcv", charts),
    ("GET", r"/derivatives/api/v4/historicalfundingrates", "funding", funding),
    ("GET", r"/derivatives/api/v3/tickers/([^/]+)", "oi", ticker),
    ("GET", r"/derivatives/api/v3/tickers", "ticker", tickers)))
