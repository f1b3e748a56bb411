"""Deribit JSON-RPC over HTTP (ccxt ``deribit``): the BTC-PERPETUAL inverse perpetual's chart
data, funding and OI, and the dated BTC futures (monthlies and quarterlies, ``BTC-27MAR26``,
expiring 08:00 UTC) listed at the server's clock, with their chart data.

Replies are wrapped as ``{"jsonrpc": "2.0", "result": ...}``.  ``start_timestamp`` /
``end_timestamp`` are epoch ms (funding: start exclusive).  Funding rows are hourly, with
``interest_8h`` the hour's rate scaled to 8 hours.  OI is in USD (contracts of 10 USD).
"""
from __future__ import annotations

import numpy as np

from ..truth import DAY_MS, HOUR_MS
from .dialect import Dialect, _ms

#: chart resolution -> bar length (ms)
RES = {"60": HOUR_MS, "1D": DAY_MS, "720": 12 * HOUR_MS}
#: rows per reply
CHART_ROWS = 5000
FUNDING_ROWS = 744


def _ok(result):
    return 200, {"jsonrpc": "2.0", "result": result, "usIn": 0, "usOut": 0, "usDiff": 0,
                 "testnet": False}


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def future_name(expiry_ms: int) -> str:
    """Deribit's instrument name of the BTC future expiring at `expiry_ms`: BTC-27MAR26
    (day without a leading zero: BTC-5JUN26)."""
    import datetime as dt

    d = dt.datetime.fromtimestamp(expiry_ms / 1000, dt.timezone.utc)
    return f"BTC-{d.day}{_MONTHS[d.month - 1]}{d.year % 100:02d}"


def _futures(ctx) -> dict:
    """instrument name -> expiry (ms) of the dated futures listed at the server's clock."""
    return {future_name(e): e for e in ctx.truth.dated_expiries("deribit", ctx.now)}


def _expired(ctx) -> dict:
    """instrument name -> expiry (ms) of the futures that expired inside the truth's span and
    at most `EXPIRED_LISTED_DAYS` before the clock (``get_instruments`` with ``expired=true``:
    Deribit documents "recently expired" instruments without saying how recent)."""
    from ..truth import _DATED_MONTHLY, last_friday_expiries

    months = range(1, 13) if "deribit" in _DATED_MONTHLY else (3, 6, 9, 12)
    lo = max(ctx.truth.start, ctx.now - EXPIRED_LISTED_DAYS * DAY_MS)
    return {future_name(e): e for e in last_friday_expiries(lo, ctx.now, months)}


#: how long an expired future stays in ``get_instruments?expired=true`` (the fake's assumption)
EXPIRED_LISTED_DAYS = 200


def _series(ctx, name):
    """The truth series of an instrument, listed or expired (Deribit serves the chart data of
    expired instruments by name); None for a name it never had."""
    if name == "BTC-PERPETUAL":
        return "perp:deribit"
    expiry = _futures(ctx).get(name) or _expired(ctx).get(name)
    return None if expiry is None else ctx.truth.dated_series("deribit", expiry)


def instruments(ctx, m):
    expired = str(ctx.q("expired") or "false").lower() == "true"
    chosen = _expired(ctx) if expired else _futures(ctx)
    dated = [dict(_PERPETUAL, instrument_name=name, instrument_id=100000 + i,
                  settlement_period="month", expiration_timestamp=expiry,
                  creation_timestamp=expiry - 200 * DAY_MS, is_active=not expired)
             for i, (name, expiry) in enumerate(chosen.items())]
    return _ok(dated if expired else [_PERPETUAL] + dated)


_PERPETUAL = {
    "tick_size": 0.5, "tick_size_steps": [], "taker_commission": 0.0005,
    "settlement_period": "perpetual", "settlement_currency": "BTC",
    "rfq": False, "quote_currency": "USD", "price_index": "btc_usd",
    "min_trade_amount": 10.0, "max_liquidation_commission": 0.0075,
    "max_leverage": 50, "maker_commission": 0.0, "kind": "future", "is_active": True,
    "instrument_name": "BTC-PERPETUAL", "instrument_id": 124972,
    "future_type": "reversed", "instrument_type": "reversed",
    "expiration_timestamp": 32503708800000, "creation_timestamp": 1534242287000,
    "counter_currency": "USD", "contract_size": 10.0, "block_trade_tick_size": 0.01,
    "block_trade_min_trade_amount": 200000, "block_trade_commission": 0.00025,
    "base_currency": "BTC"}


def chart(ctx, m):
    series = _series(ctx, ctx.q("instrument_name"))
    if series is None:
        return 400, {"jsonrpc": "2.0", "error": {"code": 10020, "message": "instrument_not_found"}}
    b = ctx.bars(series, RES[ctx.q("resolution")])
    idx = ctx.select(b["t"], ctx.qi("start_timestamp"), ctx.qi("end_timestamp"), limit=CHART_ROWS)
    return _ok({"status": "ok" if len(idx) else "no_data",
                "ticks": [int(b["t"][i]) for i in idx],
                "open": [float(b["o"][i]) for i in idx],
                "high": [float(b["h"][i]) for i in idx],
                "low": [float(b["l"][i]) for i in idx],
                "close": [float(b["c"][i]) for i in idx],
                "volume": [float(b["v"][i]) for i in idx],
                "cost": [0.0 for _ in idx]})


def funding(ctx, m):
    # hourly rows; interest_8h is the hour's rate scaled to 8 hours
    t, rate, _ = ctx.funding("deribit")
    idx = ctx.select(t, ctx.qi("start_timestamp"), ctx.qi("end_timestamp"), limit=FUNDING_ROWS,
                     lo_open=True)
    return _ok([{"timestamp": int(t[i]), "index_price": 60000.0,
                 "prev_index_price": 60000.0, "interest_8h": float(rate[i] * 8),
                 "interest_1h": float(rate[i])} for i in idx])


def summary(ctx, m):
    t, native = ctx.oi_native("deribit")
    i = np.searchsorted(t, ctx.now, side="right") - 1
    return _ok([{"instrument_name": "BTC-PERPETUAL", "open_interest": float(native[i]),
                 "mark_price": 60000.0, "creation_timestamp": int(ctx.now),
                 "base_currency": "BTC", "quote_currency": "USD", "volume": 1.0,
                 "current_funding": 0.0, "funding_8h": 0.0}])


def ticker(ctx, m):
    """``public/ticker``: last and mark price, OI (USD), and funding: ``current_funding``
    (the rate of the current hour) and ``funding_8h`` (the same scaled to 8 hours, as
    Deribit's history reports ``interest_8h``)."""
    if ctx.q("instrument_name") != "BTC-PERPETUAL":
        return 400, {"jsonrpc": "2.0", "error": {"code": 10020, "message": "instrument_not_found"}}
    px = ctx.truth.last_price("perp:deribit", ctx.now)
    _, r1, _, _, _ = ctx.truth.upcoming_funding("deribit", ctx.now)
    return _ok({"timestamp": int(ctx.now), "stats": {"volume": 1.0, "low": px, "high": px},
                "state": "open", "settlement_price": px,
                "open_interest": ctx.truth.oi_now("deribit", ctx.now), "min_price": px,
                "max_price": px, "mark_price": px, "last_price": px,
                "instrument_name": "BTC-PERPETUAL", "index_price": px,
                "funding_8h": r1 * 8, "current_funding": r1, "best_bid_price": px,
                "best_bid_amount": 10.0, "best_ask_price": px, "best_ask_amount": 10.0})


#: BTC-PERPETUAL opened 2018-08-14 (Deribit's perpetual launch announcement)
FIRST = {"perp:deribit": {"ohlcv": _ms("2018-08-14"), "funding": _ms("2018-08-14T01:00")}}

DIALECT = Dialect("deribit", first=FIRST, routes=(
    ("GET", r"/api/v2/public/get_instruments", "markets", instruments),
    ("GET", r"/api/v2/public/get_tradingview_chart_data", "ohlcv", chart),
    ("GET", r"/api/v2/public/get_funding_rate_history", "funding", funding),
    ("GET", r"/api/v2/public/get_book_summary_by_instrument", "oi", summary),
    ("GET", r"/api/v2/public/ticker", "ticker", ticker)))
