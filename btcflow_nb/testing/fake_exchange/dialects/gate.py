"""Gate API v4 USDT-settled futures (ccxt ``gate``): the BTC_USDT perpetual's candles, funding
and OI (contract stats).

``from`` / ``to`` are inclusive epoch seconds; without ``from`` the newest rows come.  Candles
default to 100 rows without ``from`` and to `CANDLES_MOST` with it (the most Gate serves per
request).  OI is in contracts of 0.0001 BTC (`Truth` ``_OI_NATIVE``).
"""
from __future__ import annotations

from ..truth import _OI_NATIVE, DAY_MS, HOUR_MS
from .dialect import Dialect, _num, _ms

#: candle / contract-stats interval -> bar length (ms)
TF = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS}
#: candles per reply: the default without ``from``, the most (with or without it)
CANDLES_DEFAULT, CANDLES_MOST = 100, 2000
#: rows per reply: (default, most)
FUNDING_PAGE = (100, 1000)
STATS_PAGE = (30, 100)


def contracts(ctx, m):
    if m.group(1) != "usdt":
        return 200, []
    return 200, [_contract(ctx)]


def contract(ctx, m):
    """``/futures/usdt/contracts/BTC_USDT`` (ccxt ``fetch_funding_rate``): the contract with
    its current ``funding_rate`` (applied at ``funding_next_apply``, epoch s) and the
    indicative next one."""
    if m.group(1) != "BTC_USDT":
        return 400, {"label": "CONTRACT_NOT_FOUND", "message": "contract not found"}
    return 200, _contract(ctx, live=True)


def tickers(ctx, m):
    """``/futures/usdt/tickers?contract=BTC_USDT``: last, mark, funding and ``total_size``
    (open interest in contracts)."""
    if ctx.q("contract") not in (None, "BTC_USDT"):
        return 400, {"label": "CONTRACT_NOT_FOUND", "message": "contract not found"}
    px = _num(ctx.truth.last_price("perp:gate", ctx.now))
    _, r1, _, r2, _ = ctx.truth.upcoming_funding("gate", ctx.now)
    return 200, [{"contract": "BTC_USDT", "last": px, "change_percentage": "0",
                  "total_size": _num(ctx.truth.oi_now("gate", ctx.now)), "volume_24h": "1000",
                  "volume_24h_base": "0.1", "volume_24h_quote": "6000", "volume_24h_settle": "6000",
                  "mark_price": px, "funding_rate": _num(r1), "funding_rate_indicative": _num(r2),
                  "index_price": px, "quanto_base_rate": "", "low_24h": px, "high_24h": px,
                  "lowest_ask": px, "highest_bid": px}]


def _contract(ctx, live=False):
    out = {"name": "BTC_USDT", "type": "direct", "quanto_multiplier": "0.0001",
                  "ref_discount_rate": "0", "order_price_deviate": "0.5",
                  "maintenance_rate": "0.005", "mark_type": "index", "last_price": "60000",
                  "mark_price": "60000", "index_price": "60000", "funding_rate_indicative": "0.0001",
                  "mark_price_round": "0.1", "funding_offset": 0, "in_delisting": False,
                  "risk_limit_base": "1000000", "interest_rate": "0.0003",
                  "order_price_round": "0.1", "order_size_min": 1, "ref_rebate_rate": "0.2",
                  "funding_interval": 14400, "risk_limit_step": "1000000",
                  "leverage_min": "1", "leverage_max": "100", "risk_limit_max": "8000000",
                  "maker_fee_rate": "-0.00025", "taker_fee_rate": "0.00075",
                  "funding_rate": "0.0001", "order_size_max": 1000000,
                  "funding_next_apply": 1610035200, "short_users": 1, "config_change_time": 1,
                  "trade_size": 1, "position_size": 1, "long_users": 1,
                  "funding_impact_value": "60000", "orders_limit": 50, "trade_id": 1,
                  "orderbook_id": 1, "enable_bonus": True, "enable_credit": True,
                  "create_time": 1669688556, "funding_cap_ratio": "0.75", "status": "trading"}
    if live:
        t1, r1, _, r2, hours = ctx.truth.upcoming_funding("gate", ctx.now)
        px = _num(ctx.truth.last_price("perp:gate", ctx.now))
        out.update(funding_rate=_num(r1), funding_rate_indicative=_num(r2),
                   funding_next_apply=t1 // 1000, funding_interval=int(hours * 3600),
                   last_price=px, mark_price=px, index_price=px)
    return out


def candles(ctx, m):
    if ctx.q("contract") != "BTC_USDT":
        return 400, {"label": "CONTRACT_NOT_FOUND", "message": "contract not found"}
    b = ctx.bars("perp:gate", TF[ctx.q("interval")])
    lo, hi = ctx.qi("from"), ctx.qi("to")
    # at most 2000 points per request (Gate API v4 futures candlesticks)
    page = (CANDLES_DEFAULT if lo is None else CANDLES_MOST, CANDLES_MOST)
    idx = ctx.select(b["t"], None if lo is None else lo * 1000,
                     None if hi is None else hi * 1000,
                     limit=ctx.page("limit", page), newest=lo is None)
    return 200, [{"t": int(b["t"][i] // 1000), "v": int(b["v"][i] * 1000),
                  "c": _num(b["c"][i]), "h": _num(b["h"][i]), "l": _num(b["l"][i]),
                  "o": _num(b["o"][i]), "sum": "0"} for i in idx]


def funding(ctx, m):
    t, rate, _ = ctx.funding("gate")
    lo, hi = ctx.qi("from"), ctx.qi("to")
    idx = ctx.select(t, None if lo is None else lo * 1000, None if hi is None else hi * 1000,
                     limit=ctx.page("limit", FUNDING_PAGE), newest=True)[::-1]
    return 200, [{"t": int(t[i] // 1000), "r": _num(rate[i])} for i in idx]


def stats(ctx, m):
    period = TF[ctx.q("interval")]
    t, native = ctx.oi_native("gate")
    keep = t % period == 0
    t, native = t[keep], native[keep]
    lo = ctx.qi("from")
    idx = ctx.select(t, None if lo is None else lo * 1000, limit=ctx.page("limit", STATS_PAGE),
                     newest=lo is None)
    price = ctx.truth.close_at("perp:gate", t[idx])
    size = _OI_NATIVE["gate"][1]
    return 200, [{"time": int(t[i] // 1000), "lsr_taker": "1", "lsr_account": "1",
                  "long_liq_size": "0", "short_liq_size": "0", "open_interest": _num(native[i]),
                  "open_interest_usd": _num(round(native[i] * size * price[k], 2)),
                  "mark_price": _num(price[k]), "top_lsr_size": "0", "short_liq_amount": "0",
                  "long_liq_amount": "0", "short_liq_usd": "0", "long_liq_usd": "0",
                  "top_lsr_account": "0"} for k, i in enumerate(idx)]


#: BTC_USDT perpetual: first candle 2019-11-18 04:00, first funding 2019-11-18 08:00, first
#: contract_stats row 2023-10-08 12:00 (the oldest rows Gate serves, as collected in the public
#: PietroC21/Crypto-PerpetualFutures files); before them: an empty list
FIRST = {"perp:gate": {"ohlcv": _ms("2019-11-18T04:00"), "funding": _ms("2019-11-18T08:00"),
                       "oi_history": _ms("2023-10-08T12:00")}}

DIALECT = Dialect("gate", first=FIRST, routes=(
    ("GET", r"/api/v4/futures/([a-z]+)/contracts", "markets", contracts),
    ("GET", r"/api/v4/futures/usdt/contracts/([^/]+)", "funding_rate", contract),
    ("GET", r"/api/v4/futures/usdt/tickers", "ticker", tickers),
    ("GET", r"/api/v4/futures/usdt/candlesticks", "ohlcv", candles),
    ("GET", r"/api/v4/futures/usdt/funding_rate", "funding", funding),
    ("GET", r"/api/v4/futures/usdt/contract_stats", "oi_history", stats)))
