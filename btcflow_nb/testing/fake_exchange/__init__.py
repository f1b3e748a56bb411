"""A fake multi-venue crypto exchange on 127.0.0.1 that speaks each venue's own REST format.

`FakeExchange` serves the endpoints ccxt calls for ``load_markets``, ``fetch_ohlcv``,
``fetch_funding_rate_history``, ``fetch_open_interest_history`` and ``fetch_open_interest`` for
every default venue of `btcflow_nb.venues` -- Coinbase, Kraken, Bitstamp, Binance (spot and
USDⓈ-M), OKX, Bybit, Bitfinex, Gate, HTX, KuCoin Futures, Deribit, Kraken Futures and
Hyperliquid -- from a deterministic `Truth`, so a test can check that what comes out of the real
ccxt code path equals what went in.

URLs: ``http://127.0.0.1:PORT/<ccxt exchange id>/<original host>/<original path>``, which is
what `btcflow_nb.config.point_exchange_at` (and ``BTCFLOW_NB_API_BASE``) produce.

The server runs in a background thread (`http.server.ThreadingHTTPServer`), so synchronous
tests, notebooks and benchmarks can all use it::

    with FakeExchange(days=30) as fake:
        os.environ["BTCFLOW_NB_API_BASE"] = fake.url
        md = btcflow_nb.fetch(since=fake.truth.start)

Faults (`inject`): ``"latency"`` (delay, then answer), ``"429"`` (Too Many Requests with a
Retry-After header), ``"500"`` / ``"503"``, ``"timeout"`` (hold the connection longer than the
client waits), ``"malformed"`` (200 with a truncated JSON body), ``"empty"`` (a well-formed
page without rows), ``"overlap"`` (the page also repeats rows before the requested start) and
``"duplicate"`` (every row twice).  Gaps are part of the truth (`Truth.gaps`).

Every request is logged (`requests`, `log()`) with its exchange id, endpoint kind ("markets",
"ohlcv", "funding", "oi_history", "oi"; Hyperliquid's markets and current OI share one request,
logged as "markets"), query, status and start/end times (``time.monotonic()``), for
concurrency and rate-limit spacing checks and for benchmarks.

`FakeExchange.env(directory)` returns the environment variables (``BTCFLOW_NB_CONFIG``,
``BTCFLOW_NB_API_BASE``, ``BTCFLOW_NB_CACHE_DIR``) that point fetch, notebooks and the CLI at
the server, with rate limits scaled down (``rate_limit_ms``) for tests that are not about them.
"""
from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qsl, urlsplit

import numpy as np

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
FAULT_KINDS = ("latency", "429", "500", "503", "timeout", "malformed", "empty", "overlap",
               "duplicate")
ENDPOINT_KINDS = ("markets", "ohlcv", "funding", "oi_history", "oi")

# --------------------------------------------------------------------------------------------
# Truth
# --------------------------------------------------------------------------------------------

#: price level of each series relative to the common path, and a salt for its noise
_SERIES_SHAPE = {
    "spot:coinbase": (0.0000, 11), "spot:kraken": (-0.0004, 12), "spot:bitstamp": (0.0003, 13),
    "spot:binance": (0.0006, 14), "spot:okx": (0.0005, 15), "spot:bybit": (0.0007, 16),
    "perp:binance": (0.0011, 21), "perp:bybit": (0.0012, 22), "perp:okx": (0.0010, 23),
    "perp:bitfinex": (0.0016, 24), "perp:gate": (0.0013, 25), "perp:htx": (0.0009, 26),
    "perp:kucoin": (0.0014, 27), "perp:deribit": (0.0002, 28), "perp:krakenfutures": (0.0001, 29),
    "perp:hyperliquid": (0.0015, 30),
}
#: funding settlement interval (hours) per perp key (see Truth.binance_4h_from)
_FUNDING_HOURS = {"binance": 8, "bybit": 8, "okx": 8, "bitfinex": 8, "gate": 4, "htx": 8,
                  "kucoin": 8, "deribit": 1, "krakenfutures": 1, "hyperliquid": 1}
#: how each venue reports OI natively: ("base", None) BTC amount, ("contracts", size) contracts
#: of `size` BTC (linear) or USD (inverse)
_OI_NATIVE = {"binance": ("base", None), "bybit": ("base", None), "okx": ("contracts", 0.01),
              "bitfinex": ("base", None), "gate": ("contracts", 0.0001), "htx": ("base", None),
              "kucoin": ("contracts", 0.001), "deribit": ("usd", 10.0),
              "hyperliquid": ("base", None)}
#: OI history the venue serves, in days back from now (Binance keeps ~30 days)
_OI_DEPTH_DAYS = {"binance": 30}


def _floor(ms: int, step: int) -> int:
    return (int(ms) // step) * step


@dataclass
class Truth:
    """Deterministic market history: hourly closes per series, funding events, hourly OI.

    Every value is a pure function of the timestamp and the series name, so any window and any
    timeframe is reproducible.  Prices are rounded to 0.1 and rates to 1e-9 so that they
    survive the JSON round trip exactly.

    start / end: epoch ms (end exclusive), floored to the hour.
    gaps: {series name: [(from_ms, to_ms), ...]} hours without data (closes and funding).
    binance_4h_from: epoch ms from which Binance settles funding every 4 h instead of 8 h (a
        schedule change, as Binance made for many symbols), or None.
    """

    start: int
    end: int
    gaps: dict = field(default_factory=dict)
    binance_4h_from: Optional[int] = None

    def __post_init__(self):
        self.start = _floor(self.start, HOUR_MS)
        self.end = _floor(self.end, HOUR_MS)
        if self.end <= self.start:
            raise ValueError("Truth needs end > start")
        self.hours = np.arange(self.start, self.end, HOUR_MS, dtype=np.int64)
        self._cache: dict = {}

    @classmethod
    def recent(cls, days: int = 30, *, now_ms: Optional[int] = None, gaps: Optional[dict] = None,
               funding_schedule_change: bool = False):
        """`days` of history ending at the current hour (+1h so the open hour exists); with
        `funding_schedule_change`, Binance moves from 8-hourly to 4-hourly funding mid-way."""
        now_ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
        end = _floor(now_ms, HOUR_MS) + HOUR_MS
        start = _floor(now_ms, DAY_MS) - days * DAY_MS
        if gaps is None:
            gap_day = start + (days // 3) * DAY_MS
            gaps = {"spot:bitstamp": [(gap_day, gap_day + DAY_MS)],
                    "perp:htx": [(gap_day + 8 * HOUR_MS, gap_day + 9 * HOUR_MS)]}
        switch = _floor(start + (end - start) // 2, DAY_MS) if funding_schedule_change else None
        return cls(start, end, gaps, switch)

    # ---- prices ---------------------------------------------------------------------------
    def _present(self, name: str, times: np.ndarray) -> np.ndarray:
        ok = np.ones(len(times), dtype=bool)
        for lo, hi in self.gaps.get(name, ()):
            ok &= ~((times >= lo) & (times < hi))
        return ok

    def hourly(self, name: str):
        """(open times ms, open, high, low, close, volume) of the hourly bars of `name`."""
        if name in self._cache:
            return self._cache[name]
        h = (self.hours // HOUR_MS).astype(np.float64)
        if name.startswith("fx:"):
            amp = 0.0006 if name == "fx:usdt" else 0.0002
            close = np.round(1.0 + amp * np.sin(2 * np.pi * h / (24 * 17)) +
                             0.0001 * np.sin(2 * np.pi * h / 7), 5)
        else:
            offset, salt = _SERIES_SHAPE[name]
            base = (60000 + 12000 * np.sin(2 * np.pi * h / (24 * 120)) +
                    3000 * np.sin(2 * np.pi * h / (24 * 9) + 1) + 400 * np.sin(2 * np.pi * h / 13))
            noise = ((h.astype(np.int64) * 7919 + salt * 104729) % 2001 - 1000) / 10.0
            close = np.round(base * (1 + offset) + noise, 1)
        opens = np.concatenate([[close[0]], close[:-1]])
        tick = 0.00001 if name.startswith("fx:") else 0.1
        digits = 5 if name.startswith("fx:") else 1
        high = np.round(np.maximum(opens, close) + 50 * tick, digits)
        low = np.round(np.minimum(opens, close) - 50 * tick, digits)
        volume = np.round(10 + (self.hours // HOUR_MS % 17) * 0.125, 3)
        ok = self._present(name, self.hours)
        out = (self.hours[ok], opens[ok], high[ok], low[ok], close[ok], volume[ok])
        self._cache[name] = out
        return out

    def bars(self, name: str, tf_ms: int, now_ms: int):
        """Bars of `tf_ms` (1h, 4h, 1d: epoch-aligned) with open <= now; the bar still open at
        `now_ms` is built from the hours that have opened so far.  Returns a dict of arrays
        t, o, h, l, c, v."""
        key = (name, tf_ms, _floor(now_ms, HOUR_MS))
        if key in self._cache:
            return self._cache[key]
        t, o, hi, lo, c, v = self.hourly(name)
        keep = t <= now_ms
        t, o, hi, lo, c, v = t[keep], o[keep], hi[keep], lo[keep], c[keep], v[keep]
        bar = (t // tf_ms) * tf_ms
        uniq, first = np.unique(bar, return_index=True)
        last = np.append(first[1:], len(t)) - 1
        out = {"t": uniq, "o": o[first], "c": c[last],
               "h": np.maximum.reduceat(hi, first) if len(t) else hi,
               "l": np.minimum.reduceat(lo, first) if len(t) else lo,
               "v": np.round(np.add.reduceat(v, first), 3) if len(t) else v}
        self._cache[key] = out
        return out

    def closes(self, name: str, timeframe: str = "1d", now_ms: Optional[int] = None):
        """Bar closes as a pandas Series (UTC DatetimeIndex of bar open times)."""
        import pandas as pd

        now_ms = self.end - 1 if now_ms is None else now_ms
        b = self.bars(name, _TF_MS[timeframe], now_ms)
        idx = pd.to_datetime(b["t"], unit="ms", utc=True)
        return pd.Series(b["c"], index=idx, name=name)

    # ---- funding ------------------------------------------------------------------------------
    def funding_interval_hours(self, key: str, t_ms: np.ndarray) -> np.ndarray:
        hours = np.full(len(t_ms), float(_FUNDING_HOURS[key]))
        if key == "binance" and self.binance_4h_from is not None:
            hours[t_ms > self.binance_4h_from] = 4.0
        return hours

    def funding(self, key: str):
        """Settled funding events (time ms, rate as fraction per interval, interval hours)."""
        ck = ("funding", key)
        if ck in self._cache:
            return self._cache[ck]
        step = HOUR_MS
        t = np.arange(_floor(self.start, step) + step, self.end, step, dtype=np.int64)
        hours = self.funding_interval_hours(key, t)
        on_schedule = (t % (hours * HOUR_MS).astype(np.int64)) == 0
        t, hours = t[on_schedule], hours[on_schedule]
        ok = self._present(f"perp:{key}", t)
        t, hours = t[ok], hours[ok]
        phase = _SERIES_SHAPE[f"perp:{key}"][1]
        per_8h = 1e-4 * (1 + 0.9 * np.sin(2 * np.pi * t / (5 * DAY_MS) + phase))
        rate = np.round(per_8h * hours / 8, 9)
        out = (t, rate, hours)
        self._cache[ck] = out
        return out

    # ---- open interest -------------------------------------------------------------------------
    def oi_native(self, key: str):
        """Hourly OI samples (time ms, value in the venue's native unit, see _OI_NATIVE)."""
        ck = ("oi", key)
        if ck in self._cache:
            return self._cache[ck]
        h = (self.hours // HOUR_MS).astype(np.float64)
        salt = _SERIES_SHAPE[f"perp:{key}"][1]
        btc = 40000 + 8000 * np.sin(2 * np.pi * h / (24 * 20) + salt) + 300 * np.sin(h / 5.0)
        unit, size = _OI_NATIVE[key]
        if unit == "base":
            native = np.round(btc, 3)
        elif unit == "contracts":
            native = np.round(btc / size)
        else:  # usd contracts of `size` USD: native value is USD
            native = np.round(btc * 60000 / size) * size
        out = (self.hours.copy(), native)
        self._cache[ck] = out
        return out

    def oi_btc(self, key: str, native: np.ndarray) -> np.ndarray:
        """BTC amount of native OI values for linear venues (contracts x contract size)."""
        unit, size = _OI_NATIVE[key]
        return native * size if unit == "contracts" else native

    def oi_history_start(self, key: str, now_ms: int) -> int:
        days = _OI_DEPTH_DAYS.get(key)
        return self.start if days is None else max(self.start, now_ms - days * DAY_MS)

    def close_at(self, name: str, t_ms: np.ndarray, now_ms: Optional[int] = None) -> np.ndarray:
        """Close of the hourly bar containing each time (as-of: last bar opened at or before)."""
        t, _, _, _, c, _ = self.hourly(name)
        i = np.searchsorted(t, t_ms, side="right") - 1
        out = np.where(i >= 0, c[np.clip(i, 0, None)], np.nan)
        return out


_TF_MS = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS, "1D": DAY_MS}

# --------------------------------------------------------------------------------------------
# Faults and the request log
# --------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """An injected fault: applies to the next `times` matching requests (None = forever)."""

    kind: str
    exchange_id: Optional[str] = None
    endpoint: Optional[str] = None
    times: Optional[int] = 1
    delay: float = 0.0          # latency / timeout: seconds to hold the request
    retry_after: str = "1"      # 429: the Retry-After header value
    after: int = 0              # let this many matching requests through first
    fired: int = 0
    seen: int = 0

    def matches(self, exchange_id: str, endpoint: str) -> bool:
        return ((self.exchange_id in (None, exchange_id)) and (self.endpoint in (None, endpoint))
                and (self.times is None or self.fired < self.times))


@dataclass
class RequestRecord:
    exchange_id: str
    endpoint: str          # one of ENDPOINT_KINDS, or "unknown"
    method: str
    path: str
    query: dict
    status: int
    fault: Optional[str]
    started: float          # time.monotonic() at arrival
    finished: float


class _Ctx:
    """Per-request context handed to venue handlers."""

    def __init__(self, fake, query, body, fault):
        self.fake, self.query, self.body, self.fault = fake, query, body, fault
        self.now = fake.now_ms

    def q(self, name, default=None):
        return self.query.get(name, default)

    def qi(self, name, default=None):
        v = self.query.get(name)
        return default if v in (None, "") else int(float(v))

    def select(self, times, lo=None, hi=None, limit=None, newest=False, lo_open=False,
               hi_open=False):
        """Indices of `times` within [lo, hi] (bounds optionally open), capped at `limit` rows
        (the oldest, or the newest with newest=True), with the request's fault applied."""
        ok = times <= self.now
        if lo is not None:
            ok &= (times > lo) if lo_open else (times >= lo)
        if hi is not None:
            ok &= (times < hi) if hi_open else (times <= hi)
        idx = np.flatnonzero(ok)
        if limit is not None and len(idx) > limit:
            idx = idx[-limit:] if newest else idx[:limit]
        kind = self.fault.kind if self.fault else None
        if kind == "empty":
            return idx[:0]
        if kind == "overlap" and len(idx):
            first = idx[0]
            idx = np.concatenate([np.arange(max(0, first - 3), first), idx])
        if kind == "duplicate":
            idx = np.repeat(idx, 2)
        return idx


class _PlainText(str):
    """A non-JSON response body."""


def _num(x) -> str:
    """Shortest decimal string that parses back to exactly the same float."""
    return np.format_float_positional(float(x), trim="-", unique=True)


# --------------------------------------------------------------------------------------------
# Venue formats
# --------------------------------------------------------------------------------------------


class _Venue:
    """Routes of one ccxt exchange id: [(method, path regex, endpoint kind, handler)]."""

    exchange_id = ""
    routes: list = []

    def __init__(self, truth: Truth):
        self.truth = truth

    def route(self, method, path):
        for m, pattern, kind, name in self.routes:
            if m == method:
                match = re.fullmatch(pattern, path)
                if match:
                    return kind, getattr(self, name), match
        return None

    def bars(self, series, tf_ms, ctx):
        return self.truth.bars(series, tf_ms, ctx.now)


def _tf_ms_from_seconds(value) -> int:
    return int(float(value)) * 1000


class Coinbase(_Venue):
    exchange_id = "coinbase"
    routes = [("GET", r"/api/v3/brokerage/market/products", "markets", "markets"),
              ("GET", r"/api/v3/brokerage/market/products/([^/]+)/candles", "ohlcv", "candles")]
    GRAN = {"ONE_HOUR": HOUR_MS, "SIX_HOUR": 6 * HOUR_MS, "ONE_DAY": DAY_MS}

    def markets(self, ctx, m):
        if ctx.q("product_type") == "FUTURE":
            return 200, {"products": [], "num_products": 0}
        return 200, {"products": [{
            "product_id": "BTC-USD", "price": "60000", "base_increment": "0.00000001",
            "quote_increment": "0.01", "price_increment": "0.01", "base_min_size": "0.00000001",
            "base_max_size": "3400", "quote_min_size": "1", "quote_max_size": "150000000",
            "status": "online", "trading_disabled": False, "is_disabled": False,
            "product_type": "SPOT", "base_currency_id": "BTC", "quote_currency_id": "USD",
            "alias_to": [], "display_name": "BTC-USD"}], "num_products": 1}

    def candles(self, ctx, m):
        if m.group(1) != "BTC-USD":
            return 404, {"error": "NOT_FOUND", "message": "product not found"}
        tf = self.GRAN.get(ctx.q("granularity"))
        if tf is None:
            return 400, {"error": "INVALID_ARGUMENT", "message": "granularity"}
        b = self.bars("spot:coinbase", tf, ctx)
        lo, hi = ctx.qi("start") * 1000, ctx.qi("end") * 1000
        idx = ctx.select(b["t"], lo, hi, limit=350, hi_open=True)[::-1]  # newest first
        return 200, {"candles": [{"start": str(b["t"][i] // 1000), "low": _num(b["l"][i]),
                                  "high": _num(b["h"][i]), "open": _num(b["o"][i]),
                                  "close": _num(b["c"][i]), "volume": _num(b["v"][i])}
                                 for i in idx]}


class Kraken(_Venue):
    exchange_id = "kraken"
    routes = [("GET", r"/0/public/AssetPairs", "markets", "markets"),
              ("GET", r"/0/public/OHLC", "ohlcv", "ohlc")]
    PAIRS = {"XXBTZUSD": ("XXBT", "ZUSD", "XBTUSD", "XBT/USD", "spot:kraken", 1),
             "USDTZUSD": ("USDT", "ZUSD", "USDTUSD", "USDT/USD", "fx:usdt", 5),
             "USDCUSD": ("USDC", "ZUSD", "USDCUSD", "USDC/USD", "fx:usdc", 5)}

    def markets(self, ctx, m):
        return 200, {"error": [], "result": {
            pid: {"altname": alt, "wsname": ws, "aclass_base": "currency", "base": base,
                  "aclass_quote": "currency", "quote": quote, "lot": "unit",
                  "cost_decimals": 5, "pair_decimals": dec, "lot_decimals": 8,
                  "lot_multiplier": 1, "leverage_buy": [], "leverage_sell": [],
                  "fees": [[0, 0.4]], "fees_maker": [[0, 0.25]], "fee_volume_currency": "ZUSD",
                  "margin_call": 80, "margin_stop": 40, "ordermin": "0.0001", "costmin": "0.5",
                  "tick_size": "0.1", "status": "online"}
            for pid, (base, quote, alt, ws, _, dec) in self.PAIRS.items()}}

    def ohlc(self, ctx, m):
        pair = ctx.q("pair")
        if pair not in self.PAIRS:
            return 200, {"error": ["EQuery:Unknown asset pair"]}
        tf = int(ctx.q("interval", "1")) * 60_000
        b = self.bars(self.PAIRS[pair][4], tf, ctx)
        recent = np.arange(len(b["t"]))[-720:]          # Kraken serves the last 720 bars only
        t = b["t"][recent]
        since = ctx.qi("since")
        idx = recent[ctx.select(t, None if since is None else since * 1000, lo_open=True)]
        rows = [[int(b["t"][i] // 1000), _num(b["o"][i]), _num(b["h"][i]), _num(b["l"][i]),
                 _num(b["c"][i]), _num(b["c"][i]), _num(b["v"][i]), 42] for i in idx]
        last = int(b["t"][-1] // 1000) if len(b["t"]) else 0
        return 200, {"error": [], "result": {pair: rows, "last": last}}


class Bitstamp(_Venue):
    exchange_id = "bitstamp"
    routes = [("GET", r"/api/v2/markets/", "markets", "markets"),
              ("GET", r"/api/v2/ohlc/([a-z]+)/", "ohlcv", "ohlc")]

    def markets(self, ctx, m):
        return 200, [{"name": "BTC/USD", "market_symbol": "btcusd", "base_currency": "BTC",
                      "base_decimals": 8, "counter_currency": "USD", "counter_decimals": 0,
                      "minimum_order_value": "10", "maximum_order_value": "100000000",
                      "minimum_order_amount": "0.00002", "maximum_order_amount": "100000",
                      "trading": "Enabled", "instant_order_counter_decimals": 2,
                      "instant_and_market_orders": "Enabled", "description": "Bitcoin / U.S. dollar",
                      "market_type": "SPOT"}]

    def ohlc(self, ctx, m):
        if m.group(1) != "btcusd":
            return 404, {"errors": [{"message": "Not found"}]}
        b = self.bars("spot:bitstamp", _tf_ms_from_seconds(ctx.q("step")), ctx)
        start, end = ctx.qi("start"), ctx.qi("end")
        idx = ctx.select(b["t"], None if start is None else start * 1000,
                         None if end is None else end * 1000,
                         limit=min(ctx.qi("limit", 1000), 1000), newest=start is None)
        return 200, {"data": {"pair": "BTC/USD", "ohlc": [
            {"timestamp": str(b["t"][i] // 1000), "open": _num(b["o"][i]),
             "high": _num(b["h"][i]), "low": _num(b["l"][i]), "close": _num(b["c"][i]),
             "volume": _num(b["v"][i])} for i in idx]}}


_BINANCE_INTERVAL = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS}
_BINANCE_FILTERS = [
    {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764", "tickSize": "0.10"},
    {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
    {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
    {"filterType": "MIN_NOTIONAL", "notional": "100"}]


def _binance_klines(b, idx):
    return [[int(b["t"][i]), _num(b["o"][i]), _num(b["h"][i]), _num(b["l"][i]), _num(b["c"][i]),
             _num(b["v"][i]), int(b["t"][i]) + 1, "0", 100, "0", "0", "0"] for i in idx]


class Binance(_Venue):
    exchange_id = "binance"
    routes = [("GET", r"/api/v3/exchangeInfo", "markets", "markets"),
              ("GET", r"/api/v3/klines", "ohlcv", "klines")]

    def markets(self, ctx, m):
        return 200, {"timezone": "UTC", "serverTime": ctx.now, "rateLimits": [], "symbols": [{
            "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC",
            "baseAssetPrecision": 8, "quoteAsset": "USDT", "quotePrecision": 8,
            "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8, "orderTypes": ["LIMIT", "MARKET"],
            "icebergAllowed": True, "ocoAllowed": True, "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": True, "filters": _BINANCE_FILTERS, "permissions": [],
            "permissionSets": [["SPOT", "MARGIN"]], "defaultSelfTradePreventionMode": "NONE",
            "allowedSelfTradePreventionModes": ["NONE"]}]}

    def klines(self, ctx, m):
        if ctx.q("symbol") != "BTCUSDT":
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        return 200, _binance_klines_page(self, "spot:binance", ctx)


def _binance_klines_page(venue, series, ctx, max_limit=1000):
    """Klines: default 500 rows, at most 1000 (spot) / 1500 (USDⓈ-M futures)."""
    b = venue.bars(series, _BINANCE_INTERVAL[ctx.q("interval")], ctx)
    start = ctx.qi("startTime")
    idx = ctx.select(b["t"], start, ctx.qi("endTime"),
                     limit=min(ctx.qi("limit", 500), max_limit), newest=start is None)
    return _binance_klines(b, idx)


class BinanceUsdm(_Venue):
    exchange_id = "binanceusdm"
    routes = [("GET", r"/fapi/v1/exchangeInfo", "markets", "markets"),
              ("GET", r"/fapi/v1/klines", "ohlcv", "klines"),
              ("GET", r"/fapi/v1/fundingRate", "funding", "funding"),
              ("GET", r"/futures/data/openInterestHist", "oi_history", "oi_hist"),
              ("GET", r"/fapi/v1/openInterest", "oi", "oi")]
    PERIOD = {"5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": HOUR_MS, "2h": 2 * HOUR_MS,
              "4h": 4 * HOUR_MS, "6h": 6 * HOUR_MS, "12h": 12 * HOUR_MS, "1d": DAY_MS}

    def markets(self, ctx, m):
        return 200, {"timezone": "UTC", "serverTime": ctx.now, "futuresType": "U_MARGINED",
                     "rateLimits": [], "assets": [], "symbols": [{
                         "symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL",
                         "deliveryDate": 4133404800000, "onboardDate": 1569398400000,
                         "status": "TRADING", "maintMarginPercent": "2.5000",
                         "requiredMarginPercent": "5.0000", "baseAsset": "BTC",
                         "quoteAsset": "USDT", "marginAsset": "USDT", "pricePrecision": 2,
                         "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
                         "underlyingType": "COIN", "underlyingSubType": ["PoW"],
                         "triggerProtect": "0.0500", "liquidationFee": "0.012500",
                         "marketTakeBound": "0.05", "filters": _BINANCE_FILTERS,
                         "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC"]}]}

    def klines(self, ctx, m):
        if ctx.q("symbol") != "BTCUSDT":
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        return 200, _binance_klines_page(self, "perp:binance", ctx, max_limit=1500)

    def funding(self, ctx, m):
        t, rate, _ = self.truth.funding("binance")
        start = ctx.qi("startTime")
        idx = ctx.select(t, start, ctx.qi("endTime"), limit=min(ctx.qi("limit", 100), 1000),
                         newest=start is None)
        return 200, [{"symbol": "BTCUSDT", "fundingTime": int(t[i]), "fundingRate": _num(rate[i]),
                      "markPrice": "60000.00000000"} for i in idx]

    def oi_hist(self, ctx, m):
        period = self.PERIOD.get(ctx.q("period"))
        if period is None:
            return 400, {"code": -1130, "msg": "Invalid period."}
        t, native = self.truth.oi_native("binance")
        keep = (t % period == 0) & (t >= self.truth.oi_history_start("binance", ctx.now))
        t, native = t[keep], native[keep]
        price = self.truth.close_at("perp:binance", t)
        start = ctx.qi("startTime")
        idx = ctx.select(t, start, ctx.qi("endTime"), limit=min(ctx.qi("limit", 30), 500),
                         newest=start is None)
        return 200, [{"symbol": "BTCUSDT", "sumOpenInterest": _num(native[i]),
                      "sumOpenInterestValue": _num(round(native[i] * price[i], 2)),
                      "CMCCirculatingSupply": "19800000", "timestamp": int(t[i])} for i in idx]

    def oi(self, ctx, m):
        t, native = self.truth.oi_native("binance")
        i = np.searchsorted(t, ctx.now, side="right") - 1
        return 200, {"symbol": "BTCUSDT", "openInterest": _num(native[i]), "time": ctx.now}


class Okx(_Venue):
    exchange_id = "okx"
    routes = [("GET", r"/api/v5/public/instruments", "markets", "markets"),
              ("GET", r"/api/v5/market/(?:history-)?candles", "ohlcv", "candles"),
              ("GET", r"/api/v5/public/funding-rate-history", "funding", "funding"),
              ("GET", r"/api/v5/rubik/stat/contracts/open-interest-history", "oi_history",
               "oi_hist"),
              ("GET", r"/api/v5/public/open-interest", "oi", "oi")]
    BAR = {"1H": HOUR_MS, "4H": 4 * HOUR_MS, "1Dutc": DAY_MS, "1D": DAY_MS}
    SERIES = {"BTC-USDT": "spot:okx", "BTC-USDT-SWAP": "perp:okx"}

    def markets(self, ctx, m):
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
                         uly="BTC-USDT", instFamily="BTC-USDT")]
        else:
            data = []
        return 200, {"code": "0", "msg": "", "data": data}

    def candles(self, ctx, m):
        series = self.SERIES.get(ctx.q("instId"))
        if series is None:
            return 200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
        b = self.bars(series, self.BAR[ctx.q("bar")], ctx)
        limit = min(ctx.qi("limit", 100), 100 if "history" in m.group(0) else 300)
        # before/after: exclusive bounds; newest rows first
        idx = ctx.select(b["t"], ctx.qi("before"), ctx.qi("after"), limit=limit, newest=True,
                         lo_open=True, hi_open=True)[::-1]
        return 200, {"code": "0", "msg": "", "data": [
            [str(b["t"][i]), _num(b["o"][i]), _num(b["h"][i]), _num(b["l"][i]), _num(b["c"][i]),
             _num(b["v"][i]), _num(b["v"][i]), "0", "1"] for i in idx]}

    def funding(self, ctx, m):
        t, rate, _ = self.truth.funding("okx")
        idx = ctx.select(t, ctx.qi("before"), ctx.qi("after"), limit=min(ctx.qi("limit", 100), 100),
                         lo_open=True, hi_open=True, newest=ctx.qi("before") is None)[::-1]
        return 200, {"code": "0", "msg": "", "data": [
            {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "fundingRate": _num(rate[i]),
             "realizedRate": _num(rate[i]), "fundingTime": str(t[i]), "method": "current_period",
             "formulaType": "noRate"} for i in idx]}

    def _oi(self, t_sel, native):
        size = _OI_NATIVE["okx"][1]
        price = self.truth.close_at("perp:okx", t_sel)
        base = native * size
        return base, np.round(base * price, 2)

    def oi_hist(self, ctx, m):
        period = self.BAR.get(ctx.q("period")) or {"5m": 300_000}.get(ctx.q("period"))
        t, native = self.truth.oi_native("okx")
        keep = t % period == 0
        t, native = t[keep], native[keep]
        idx = ctx.select(t, ctx.qi("begin"), ctx.qi("end"), limit=min(ctx.qi("limit", 100), 100),
                         lo_open=True, hi_open=True, newest=True)[::-1]
        base, usd = self._oi(t[idx], native[idx])
        return 200, {"code": "0", "msg": "", "data": [
            [str(t[i]), _num(native[i]), _num(base[k]), _num(usd[k])] for k, i in enumerate(idx)]}

    def oi(self, ctx, m):
        t, native = self.truth.oi_native("okx")
        i = np.searchsorted(t, ctx.now, side="right") - 1
        base, usd = self._oi(np.array([t[i]]), native[[i]])
        return 200, {"code": "0", "msg": "", "data": [{
            "instType": "SWAP", "instId": "BTC-USDT-SWAP", "oi": _num(native[i]),
            "oiCcy": _num(base[0]), "oiUsd": _num(usd[0]), "ts": str(ctx.now)}]}


class Bybit(_Venue):
    exchange_id = "bybit"
    routes = [("GET", r"/v5/market/instruments-info", "markets", "markets"),
              ("GET", r"/v5/market/kline", "ohlcv", "kline"),
              ("GET", r"/v5/market/funding/history", "funding", "funding"),
              ("GET", r"/v5/market/open-interest", "oi_history", "oi_hist"),
              ("GET", r"/v5/market/tickers", "oi", "tickers")]
    INTERVAL = {"60": HOUR_MS, "240": 4 * HOUR_MS, "D": DAY_MS}
    OI_PERIOD = {"5min": 300_000, "15min": 900_000, "30min": 1_800_000, "1h": HOUR_MS,
                 "4h": 4 * HOUR_MS, "1d": DAY_MS}

    def _ok(self, result):
        return 200, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {},
                     "time": int(time.time() * 1000)}

    def markets(self, ctx, m):
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
        else:
            lst = []
        return self._ok({"category": cat, "list": lst, "nextPageCursor": ""})

    def kline(self, ctx, m):
        if ctx.q("symbol") != "BTCUSDT":
            return 200, {"retCode": 10001, "retMsg": "Not supported symbols", "result": {}}
        series = "spot:bybit" if ctx.q("category") == "spot" else "perp:bybit"
        b = self.bars(series, self.INTERVAL[ctx.q("interval")], ctx)
        start = ctx.qi("start")
        idx = ctx.select(b["t"], start, ctx.qi("end"), limit=min(ctx.qi("limit", 200), 1000),
                         newest=start is None)[::-1]
        return self._ok({"symbol": "BTCUSDT", "category": ctx.q("category"), "list": [
            [str(b["t"][i]), _num(b["o"][i]), _num(b["h"][i]), _num(b["l"][i]), _num(b["c"][i]),
             _num(b["v"][i]), "0"] for i in idx]})

    def funding(self, ctx, m):
        t, rate, _ = self.truth.funding("bybit")
        # Bybit returns the newest `limit` rows in [startTime, endTime], newest first
        idx = ctx.select(t, ctx.qi("startTime"), ctx.qi("endTime"),
                         limit=min(ctx.qi("limit", 200), 200), newest=True)[::-1]
        return self._ok({"category": "linear", "list": [
            {"symbol": "BTCUSDT", "fundingRate": _num(rate[i]),
             "fundingRateTimestamp": str(t[i])} for i in idx]})

    def oi_hist(self, ctx, m):
        period = self.OI_PERIOD[ctx.q("intervalTime")]
        t, native = self.truth.oi_native("bybit")
        keep = t % period == 0
        t, native = t[keep], native[keep]
        idx = ctx.select(t, ctx.qi("startTime"), ctx.qi("endTime"),
                         limit=min(ctx.qi("limit", 50), 200), newest=True)[::-1]
        return self._ok({"symbol": "BTCUSDT", "category": "linear", "list": [
            {"openInterest": _num(native[i]), "timestamp": str(t[i])} for i in idx],
            "nextPageCursor": ""})

    def tickers(self, ctx, m):
        t, native = self.truth.oi_native("bybit")
        i = np.searchsorted(t, ctx.now, side="right") - 1
        return self._ok({"category": "linear", "list": [{
            "symbol": "BTCUSDT", "lastPrice": "60000", "openInterest": _num(native[i]),
            "openInterestValue": "0", "fundingRate": "0.0001"}]})


class Bitfinex(_Venue):
    exchange_id = "bitfinex"
    routes = [("GET", r"/v2/conf/([^/]+)", "markets", "conf"),
              ("GET", r"/v2/candles/trade:([0-9a-zA-Z]+):([^/]+)/hist", "ohlcv", "candles"),
              ("GET", r"/v2/status/deriv/([^/]+)/hist", "funding", "status_hist"),
              ("GET", r"/v2/status/deriv", "oi", "status")]
    TF = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1D": DAY_MS}

    def conf(self, ctx, m):
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

    def candles(self, ctx, m):
        if m.group(2) != "tBTCF0:USTF0":
            return 500, ["error", 10020, "symbol: invalid"]
        b = self.bars("perp:bitfinex", self.TF[m.group(1)], ctx)
        newest = ctx.q("sort") != "1"
        idx = ctx.select(b["t"], ctx.qi("start"), ctx.qi("end"),
                         limit=min(ctx.qi("limit", 100), 10000), newest=newest)
        if newest:
            idx = idx[::-1]
        # Bitfinex order: MTS, OPEN, CLOSE, HIGH, LOW, VOLUME
        return 200, [[int(b["t"][i]), float(b["o"][i]), float(b["c"][i]), float(b["h"][i]),
                      float(b["l"][i]), float(b["v"][i])] for i in idx]

    def _row(self, t, rate, native):
        return [int(t), None, 60000.0, 60000.0, None, 1e7, None, int(t) + 8 * HOUR_MS, 0.00001,
                100, None, float(rate), None, None, 60000.0, None, None, float(native), None,
                None, None, 0.0005, 0.0025]

    def status_hist(self, ctx, m):
        # status snapshots at each settlement: funding settled then, OI at that time
        if m.group(1) != "tBTCF0:USTF0":
            return 500, ["error", 10020, "symbol: invalid"]
        t, rate, _ = self.truth.funding("bitfinex")
        oi_t, native = self.truth.oi_native("bitfinex")
        oi = native[np.searchsorted(oi_t, t, side="right") - 1]
        idx = ctx.select(t, ctx.qi("start"), ctx.qi("end"),
                         limit=min(ctx.qi("limit", 100), 5000), newest=True)[::-1]
        return 200, [self._row(t[i], rate[i], oi[i]) for i in idx]

    def status(self, ctx, m):
        oi_t, native = self.truth.oi_native("bitfinex")
        i = np.searchsorted(oi_t, ctx.now, side="right") - 1
        row = self._row(ctx.now, 0.0001, native[i])
        return 200, [["tBTCF0:USTF0"] + row[:1] + row[1:]]


class Gate(_Venue):
    exchange_id = "gate"
    routes = [("GET", r"/api/v4/futures/([a-z]+)/contracts", "markets", "contracts"),
              ("GET", r"/api/v4/futures/usdt/candlesticks", "ohlcv", "candles"),
              ("GET", r"/api/v4/futures/usdt/funding_rate", "funding", "funding"),
              ("GET", r"/api/v4/futures/usdt/contract_stats", "oi_history", "stats")]
    TF = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS}

    def contracts(self, ctx, m):
        if m.group(1) != "usdt":
            return 200, []
        return 200, [{"name": "BTC_USDT", "type": "direct", "quanto_multiplier": "0.0001",
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
                      "create_time": 1669688556, "funding_cap_ratio": "0.75", "status": "trading"}]

    def candles(self, ctx, m):
        if ctx.q("contract") != "BTC_USDT":
            return 400, {"label": "CONTRACT_NOT_FOUND", "message": "contract not found"}
        b = self.bars("perp:gate", self.TF[ctx.q("interval")], ctx)
        lo, hi = ctx.qi("from"), ctx.qi("to")
        # at most 2000 points per request (Gate API v4 futures candlesticks)
        idx = ctx.select(b["t"], None if lo is None else lo * 1000,
                         None if hi is None else hi * 1000,
                         limit=min(ctx.qi("limit", 100 if lo is None else 2000), 2000),
                         newest=lo is None)
        return 200, [{"t": int(b["t"][i] // 1000), "v": int(b["v"][i] * 1000),
                      "c": _num(b["c"][i]), "h": _num(b["h"][i]), "l": _num(b["l"][i]),
                      "o": _num(b["o"][i]), "sum": "0"} for i in idx]

    def funding(self, ctx, m):
        t, rate, _ = self.truth.funding("gate")
        lo, hi = ctx.qi("from"), ctx.qi("to")
        idx = ctx.select(t, None if lo is None else lo * 1000, None if hi is None else hi * 1000,
                         limit=min(ctx.qi("limit", 100), 1000), newest=True)[::-1]
        return 200, [{"t": int(t[i] // 1000), "r": _num(rate[i])} for i in idx]

    def stats(self, ctx, m):
        period = self.TF[ctx.q("interval")]
        t, native = self.truth.oi_native("gate")
        keep = t % period == 0
        t, native = t[keep], native[keep]
        lo = ctx.qi("from")
        idx = ctx.select(t, None if lo is None else lo * 1000, limit=min(ctx.qi("limit", 30), 100),
                         newest=lo is None)
        price = self.truth.close_at("perp:gate", t[idx])
        size = _OI_NATIVE["gate"][1]
        return 200, [{"time": int(t[i] // 1000), "lsr_taker": "1", "lsr_account": "1",
                      "long_liq_size": "0", "short_liq_size": "0", "open_interest": _num(native[i]),
                      "open_interest_usd": _num(round(native[i] * size * price[k], 2)),
                      "mark_price": _num(price[k]), "top_lsr_size": "0", "short_liq_amount": "0",
                      "long_liq_amount": "0", "short_liq_usd": "0", "long_liq_usd": "0",
                      "top_lsr_account": "0"} for k, i in enumerate(idx)]


class Htx(_Venue):
    exchange_id = "htx"
    routes = [("GET", r"/linear-swap-api/v1/swap_contract_info", "markets", "contract_info"),
              ("GET", r"/linear-swap-ex/market/history/kline", "ohlcv", "kline"),
              ("GET", r"/linear-swap-api/v1/swap_historical_funding_rate", "funding", "funding"),
              ("GET", r"/v5/market/funding_rate_history", "funding", "funding_v5"),
              ("GET", r"/linear-swap-api/v1/swap_his_open_interest", "oi_history", "his_oi"),
              ("GET", r"/linear-swap-api/v1/swap_open_interest", "oi", "oi"),
              ("GET", r"/v5/market/open_interest", "oi", "oi")]
    PERIOD = {"60min": HOUR_MS, "4hour": 4 * HOUR_MS, "1day": DAY_MS}

    def contract_info(self, ctx, m):
        return 200, {"status": "ok", "data": [{
            "symbol": "BTC", "contract_code": "BTC-USDT", "contract_size": 0.001,
            "price_tick": 0.1, "delivery_date": "", "delivery_time": "", "create_date": "20201021",
            "contract_status": 1, "settlement_date": "1603699200000", "support_margin_mode": "all",
            "business_type": "swap", "pair": "BTC-USDT", "contract_type": "swap",
            "trade_partition": "USDT"}], "ts": ctx.now}

    def kline(self, ctx, m):
        if ctx.q("contract_code") != "BTC-USDT":
            return 200, {"status": "error", "err-code": "bad-request", "err-msg": "invalid contract"}
        b = self.bars("perp:htx", self.PERIOD[ctx.q("period")], ctx)
        lo, hi = ctx.qi("from"), ctx.qi("to")
        size = ctx.qi("size")
        if size is not None:  # HTX ignores from/to when size is given: the newest `size` bars
            idx = ctx.select(b["t"], limit=min(size, 2000), newest=True)
        else:
            idx = ctx.select(b["t"], None if lo is None else lo * 1000,
                             None if hi is None else hi * 1000, limit=2000)
        return 200, {"ch": "market.BTC-USDT.kline", "status": "ok", "ts": ctx.now, "data": [
            {"id": int(b["t"][i] // 1000), "open": float(b["o"][i]), "close": float(b["c"][i]),
             "low": float(b["l"][i]), "high": float(b["h"][i]), "amount": float(b["v"][i]),
             "vol": float(b["v"][i]) * 1000, "trade_turnover": 0.0, "count": 100} for i in idx]}

    def funding(self, ctx, m):  # legacy paged endpoint: page_index / page_size, newest first
        t, rate, _ = self.truth.funding("htx")
        size = min(ctx.qi("page_size", 20), 50)
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

    def funding_v5(self, ctx, m):
        t, rate, _ = self.truth.funding("htx")
        idx = ctx.select(t, ctx.qi("start_time"), ctx.qi("end_time"),
                         limit=min(ctx.qi("limit", 100), 100), newest=ctx.qi("start_time") is None)
        return 200, {"code": 200, "message": "Success", "ts": ctx.now, "data": [
            {"contract_code": "BTC-USDT", "funding_rate": _num(rate[i]),
             "funding_time": str(t[i])} for i in idx]}

    def his_oi(self, ctx, m):
        period = self.PERIOD[ctx.q("period")]
        t, native = self.truth.oi_native("htx")
        keep = t % period == 0
        t, native = t[keep], native[keep]
        idx = ctx.select(t, limit=min(ctx.qi("size", 48), 200), newest=True)[::-1]
        price = self.truth.close_at("perp:htx", t[idx])
        size = 0.001
        return 200, {"status": "ok", "ts": ctx.now, "data": {
            "symbol": "BTC", "contract_type": "swap", "contract_code": "BTC-USDT",
            "business_type": "swap", "pair": "BTC-USDT", "tick": [
                {"volume": _num(native[i] if ctx.qi("amount_type", 1) == 2 else round(native[i] / size)),
                 "amount_type": int(ctx.qi("amount_type", 1)),
                 "ts": int(t[i]), "value": _num(round(native[i] * price[k], 2))}
                for k, i in enumerate(idx)]}}

    def oi(self, ctx, m):
        t, native = self.truth.oi_native("htx")
        i = np.searchsorted(t, ctx.now, side="right") - 1
        price = self.truth.close_at("perp:htx", np.array([t[i]]))[0]
        row = {"volume": round(native[i] / 0.001), "amount": float(native[i]), "symbol": "BTC",
               "value": round(native[i] * price, 2), "contract_code": "BTC-USDT",
               "trade_amount": 0, "trade_volume": 0, "trade_turnover": 0,
               "business_type": "swap", "pair": "BTC-USDT", "contract_type": "swap"}
        if m.group(0).startswith("/v5"):
            return 200, {"code": 200, "message": "Success", "ts": ctx.now, "data": row}
        return 200, {"status": "ok", "data": [row], "ts": ctx.now}


class KucoinFutures(_Venue):
    exchange_id = "kucoinfutures"
    routes = [("GET", r"/api/v1/contracts/active", "markets", "contracts"),
              ("GET", r"/api/v1/kline/query", "ohlcv", "kline"),
              ("GET", r"/api/v1/contract/funding-rates", "funding", "funding"),
              ("GET", r"/api/ua/v1/market/open-interest", "oi_history", "open_interest")]
    GRAN = {60: HOUR_MS, 240: 4 * HOUR_MS, 1440: DAY_MS}
    OI = {"1hour": HOUR_MS, "4hour": 4 * HOUR_MS, "1day": DAY_MS, "5min": 300_000}

    def contracts(self, ctx, m):
        return 200, {"code": "200000", "data": [{
            "symbol": "XBTUSDTM", "rootSymbol": "USDT", "type": "FFWCSX", "firstOpenDate": 1585555200000,
            "expireDate": None, "settleDate": None, "baseCurrency": "XBT", "quoteCurrency": "USDT",
            "settleCurrency": "USDT", "maxOrderQty": 1000000, "maxPrice": 1000000.0,
            "lotSize": 1, "tickSize": 0.1, "indexPriceTickSize": 0.01, "multiplier": 0.001,
            "initialMargin": 0.008, "maintainMargin": 0.004, "maxRiskLimit": 100000,
            "minRiskLimit": 100000, "riskStep": 50000, "makerFeeRate": 0.0002,
            "takerFeeRate": 0.0006, "takerFixFee": 0.0, "makerFixFee": 0.0,
            "isDeleverage": True, "isQuanto": True, "isInverse": False, "markMethod": "FairPrice",
            "fairMethod": "FundingRate", "fundingBaseSymbol": ".XBTINT8H",
            "fundingQuoteSymbol": ".USDTINT8H", "fundingRateSymbol": ".XBTUSDTMFPI8H",
            "indexSymbol": ".KXBTUSDT", "settlementSymbol": "", "status": "Open",
            "fundingFeeRate": 0.0001, "predictedFundingFeeRate": 0.0001,
            "fundingRateGranularity": 28800000, "openInterest": "1", "turnoverOf24h": 1.0,
            "volumeOf24h": 1.0, "markPrice": 60000.0, "indexPrice": 60000.0,
            "lastTradePrice": 60000.0, "nextFundingRateTime": 21600000, "maxLeverage": 125,
            "sourceExchanges": ["binance"], "lowPrice": 59000.0, "highPrice": 61000.0,
            "priceChgPct": 0.01, "priceChg": 600.0, "k": 490.0, "m": 300.0, "f": 1.3,
            "mmrLimit": 0.3, "mmrLevConstant": 125.0, "supportCross": True}]}

    def kline(self, ctx, m):
        if ctx.q("symbol") != "XBTUSDTM":
            return 200, {"code": "400100", "msg": "symbol not exists"}
        b = self.bars("perp:kucoin", self.GRAN[ctx.qi("granularity")], ctx)
        idx = ctx.select(b["t"], ctx.qi("from"), ctx.qi("to"), limit=500, newest=True)
        return 200, {"code": "200000", "data": [
            [int(b["t"][i]), float(b["o"][i]), float(b["h"][i]), float(b["l"][i]),
             float(b["c"][i]), float(b["v"][i]), 0.0] for i in idx]}

    def funding(self, ctx, m):
        t, rate, _ = self.truth.funding("kucoin")
        idx = ctx.select(t, ctx.qi("from"), ctx.qi("to"), limit=100, newest=True)[::-1]
        return 200, {"code": "200000", "data": [
            {"symbol": "XBTUSDTM", "fundingRate": float(rate[i]), "timepoint": int(t[i])}
            for i in idx]}

    def open_interest(self, ctx, m):
        t, native = self.truth.oi_native("kucoin")
        period = self.OI.get(ctx.q("interval"))
        if period is not None:
            keep = t % period == 0
            t, native = t[keep], native[keep]
        if ctx.q("interval") is None:  # current OI (fetch_open_interests)
            i = np.searchsorted(t, ctx.now, side="right") - 1
            return 200, {"code": "200000", "data": [
                {"symbol": "XBTUSDTM", "openInterest": _num(native[i]), "ts": int(ctx.now)}]}
        idx = ctx.select(t, ctx.qi("startAt"), ctx.qi("endAt"),
                         limit=min(ctx.qi("pageSize", 100), 200), newest=True)[::-1]
        return 200, {"code": "200000", "data": [
            {"symbol": "XBTUSDTM", "openInterest": _num(native[i]), "ts": int(t[i])} for i in idx]}


class Deribit(_Venue):
    exchange_id = "deribit"
    routes = [("GET", r"/api/v2/public/get_instruments", "markets", "instruments"),
              ("GET", r"/api/v2/public/get_tradingview_chart_data", "ohlcv", "chart"),
              ("GET", r"/api/v2/public/get_funding_rate_history", "funding", "funding"),
              ("GET", r"/api/v2/public/get_book_summary_by_instrument", "oi", "summary")]
    RES = {"60": HOUR_MS, "1D": DAY_MS, "720": 12 * HOUR_MS}

    def _ok(self, result):
        return 200, {"jsonrpc": "2.0", "result": result, "usIn": 0, "usOut": 0, "usDiff": 0,
                     "testnet": False}

    def instruments(self, ctx, m):
        return self._ok([{
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
            "base_currency": "BTC"}])

    def chart(self, ctx, m):
        if ctx.q("instrument_name") != "BTC-PERPETUAL":
            return 400, {"jsonrpc": "2.0", "error": {"code": 10020, "message": "instrument_not_found"}}
        b = self.bars("perp:deribit", self.RES[ctx.q("resolution")], ctx)
        idx = ctx.select(b["t"], ctx.qi("start_timestamp"), ctx.qi("end_timestamp"), limit=5000)
        return self._ok({"status": "ok" if len(idx) else "no_data",
                         "ticks": [int(b["t"][i]) for i in idx],
                         "open": [float(b["o"][i]) for i in idx],
                         "high": [float(b["h"][i]) for i in idx],
                         "low": [float(b["l"][i]) for i in idx],
                         "close": [float(b["c"][i]) for i in idx],
                         "volume": [float(b["v"][i]) for i in idx],
                         "cost": [0.0 for _ in idx]})

    def funding(self, ctx, m):
        # hourly rows; interest_8h is the hour's rate scaled to 8 hours
        t, rate, _ = self.truth.funding("deribit")
        idx = ctx.select(t, ctx.qi("start_timestamp"), ctx.qi("end_timestamp"), limit=744,
                         lo_open=True)
        return self._ok([{"timestamp": int(t[i]), "index_price": 60000.0,
                          "prev_index_price": 60000.0, "interest_8h": float(rate[i] * 8),
                          "interest_1h": float(rate[i])} for i in idx])

    def summary(self, ctx, m):
        t, native = self.truth.oi_native("deribit")
        i = np.searchsorted(t, ctx.now, side="right") - 1
        return self._ok([{"instrument_name": "BTC-PERPETUAL", "open_interest": float(native[i]),
                          "mark_price": 60000.0, "creation_timestamp": int(ctx.now),
                          "base_currency": "BTC", "quote_currency": "USD", "volume": 1.0,
                          "current_funding": 0.0, "funding_8h": 0.0}])


class KrakenFutures(_Venue):
    exchange_id = "krakenfutures"
    routes = [("GET", r"/derivatives/api/v3/instruments", "markets", "instruments"),
              ("GET", r"/api/charts/v1/trade/([^/]+)/([^/]+)", "ohlcv", "charts"),
              ("GET", r"/derivatives/api/v4/historicalfundingrates", "funding", "funding")]
    TF = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS}

    def instruments(self, ctx, m):
        return 200, {"result": "success", "serverTime": "2024-01-01T00:00:00.000Z", "instruments": [
            {"symbol": "PF_XBTUSD", "type": "flexible_futures", "underlying": "rr_xbtusd",
             "tickSize": 1, "contractSize": 1, "tradeable": True, "impactMidSize": 1,
             "maxPositionSize": 1000000, "openingDate": "2022-01-01T00:00:00.000Z",
             "marginLevels": [], "fundingRateCoefficient": 8, "maxRelativeFundingRate": 0.001,
             "isin": "GB00J62YGL67", "contractValueTradePrecision": 4,
             "postOnly": False, "feeScheduleUid": "x", "retailMarginLevels": [],
             "category": "", "tags": []}]}

    def charts(self, ctx, m):
        if m.group(1) != "PF_XBTUSD":
            return 400, {"error": "symbol"}
        b = self.bars("perp:krakenfutures", self.TF[m.group(2)], ctx)
        lo, hi = ctx.qi("from"), ctx.qi("to")
        idx = ctx.select(b["t"], None if lo is None else lo * 1000,
                         None if hi is None else hi * 1000, limit=2000)
        return 200, {"candles": [
            {"time": int(b["t"][i]), "open": _num(b["o"][i]), "high": _num(b["h"][i]),
             "low": _num(b["l"][i]), "close": _num(b["c"][i]), "volume": _num(b["v"][i])}
            for i in idx], "more_candles": False}

    def funding(self, ctx, m):
        import pandas as pd

        t, rate, _ = self.truth.funding("krakenfutures")
        idx = ctx.select(t)   # the whole history, as Kraken Futures does
        price = self.truth.close_at("perp:krakenfutures", t[idx])
        return 200, {"result": "success", "rates": [
            {"timestamp": pd.Timestamp(int(t[i]), unit="ms", tz="UTC").strftime(
                "%Y-%m-%dT%H:%M:%S.000Z"),
             "fundingRate": _num(round(rate[i] * price[k], 9)), "relativeFundingRate": _num(rate[i])}
            for k, i in enumerate(idx)], "serverTime": "2024-01-01T00:00:00.000Z"}


class Hyperliquid(_Venue):
    exchange_id = "hyperliquid"
    routes = [("POST", r"/info", "markets", "info")]
    TF = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS}

    def _meta(self, ctx):
        t, native = self.truth.oi_native("hyperliquid")
        i = np.searchsorted(t, ctx.now, side="right") - 1
        return [{"universe": [{"szDecimals": 5, "name": "BTC", "maxLeverage": 40,
                               "marginTableId": 56}]},
                [{"funding": "0.0000125", "openInterest": _num(native[i]), "prevDayPx": "60000.0",
                  "dayNtlVlm": "1000000.0", "premium": "0.0", "oraclePx": "60000.0",
                  "markPx": "60000.0", "midPx": "60000.0", "impactPxs": ["60000.0", "60001.0"],
                  "dayBaseVlm": "10.0"}]]

    def info(self, ctx, m):
        body = ctx.body or {}
        kind = body.get("type")
        if kind == "metaAndAssetCtxs":  # markets and current OI share this request
            return 200, self._meta(ctx)
        if kind == "spotMetaAndAssetCtxs":
            return 200, [{"universe": [], "tokens": []}, []]
        if kind == "candleSnapshot":
            req = body.get("req", {})
            if req.get("coin") != "BTC":
                return 500, None
            b = self.bars("perp:hyperliquid", self.TF[req.get("interval")], ctx)
            idx = ctx.select(b["t"], req.get("startTime"), req.get("endTime"), limit=5000)
            return 200, [{"t": int(b["t"][i]), "T": int(b["t"][i]) + 1, "s": "BTC",
                          "i": req.get("interval"), "o": _num(b["o"][i]), "c": _num(b["c"][i]),
                          "h": _num(b["h"][i]), "l": _num(b["l"][i]), "v": _num(b["v"][i]),
                          "n": 100} for i in idx]
        if kind == "fundingHistory":
            t, rate, _ = self.truth.funding("hyperliquid")
            idx = ctx.select(t, body.get("startTime"), body.get("endTime"), limit=500)
            return 200, [{"coin": "BTC", "fundingRate": _num(rate[i]), "premium": "0.0",
                          "time": int(t[i])} for i in idx]
        return 422, None


VENUE_CLASSES = (Coinbase, Kraken, Bitstamp, Binance, BinanceUsdm, Okx, Bybit, Bitfinex, Gate,
                 Htx, KucoinFutures, Deribit, KrakenFutures, Hyperliquid)

# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    #: listen backlog: socketserver's default of 5 drops the connections of a fetch that opens
    #: one per exchange at once (14), and each dropped SYN is retried by the client's TCP stack
    #: only after ~1 s -- a stall no real exchange's front end would add
    request_queue_size = 128


class FakeExchange:
    """Local HTTP server for all default venues.  See the module docstring.

    truth: a `Truth` (default: `Truth.recent(days)`).
    now_ms: the server's clock (default: the truth's last hour); bars open after it are not
        served and the bar containing it is still open.  Change it with `set_now`.
    """

    def __init__(self, truth: Optional[Truth] = None, *, days: int = 30,
                 now_ms: Optional[int] = None):
        self.truth = truth or Truth.recent(days)
        self.now_ms = int(now_ms) if now_ms is not None else int(time.time() * 1000)
        self.now_ms = min(self.now_ms, self.truth.end - 1)
        self.venues = {cls.exchange_id: cls(self.truth) for cls in VENUE_CLASSES}
        self.requests: list = []
        self.faults: list = []
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

            def log_message(self, *args):  # keep test output clean
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="fake-exchange")
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeExchange is not running; call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ---- control ------------------------------------------------------------------------------
    def set_now(self, now_ms: int) -> None:
        self.now_ms = min(int(now_ms), self.truth.end - 1)

    def inject(self, kind: str, *, exchange_id: Optional[str] = None,
               endpoint: Optional[str] = None, times: Optional[int] = 1, delay: float = 0.0,
               retry_after: str = "1", after: int = 0) -> Fault:
        """Make the next `times` (None: all) matching requests fail with `kind` (see
        FAULT_KINDS), after letting `after` matching requests through."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose one of {list(FAULT_KINDS)}")
        if endpoint is not None and endpoint not in ENDPOINT_KINDS:
            raise ValueError(f"unknown endpoint {endpoint!r}; choose one of {list(ENDPOINT_KINDS)}")
        if exchange_id is not None and exchange_id not in self.venues:
            raise ValueError(f"unknown exchange {exchange_id!r}; known: {sorted(self.venues)}")
        fault = Fault(kind, exchange_id, endpoint, times, delay, retry_after, after)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def log(self, exchange_id: Optional[str] = None, endpoint: Optional[str] = None) -> list:
        """Logged requests, optionally of one exchange id and/or endpoint kind."""
        with self._lock:
            rows = list(self.requests)
        return [r for r in rows if (exchange_id in (None, r.exchange_id))
                and (endpoint in (None, r.endpoint))]

    # ---- request handling ----------------------------------------------------------------------
    def _take_fault(self, exchange_id, endpoint) -> Optional[Fault]:
        with self._lock:
            for fault in self.faults:
                if fault.matches(exchange_id, endpoint):
                    fault.seen += 1
                    if fault.seen <= fault.after:
                        continue
                    fault.fired += 1
                    return fault
        return None

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        started = time.monotonic()
        parts = urlsplit(req.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(req.headers.get("Content-Length") or 0)
        raw_body = req.rfile.read(length) if length else b""
        body = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = None
        segments = parts.path.split("/", 3)   # '', exchange id, host, rest
        exchange_id = segments[1] if len(segments) > 1 else ""
        path = "/" + segments[3] if len(segments) > 3 else "/"
        venue = self.venues.get(exchange_id)
        routed = venue.route(method, path) if venue else None
        endpoint = routed[0] if routed else "unknown"
        ctx = _Ctx(self, query, body, None)
        status, payload, fault_kind, extra_headers = 404, {"error": "not found"}, None, {}
        if routed:
            kind, handler, match = routed
            # Hyperliquid decides its endpoint kind from the body: peek before faults
            if exchange_id == "hyperliquid" and isinstance(body, dict):
                endpoint = {"candleSnapshot": "ohlcv", "fundingHistory": "funding"}.get(
                    body.get("type"), "markets")
            fault = self._take_fault(exchange_id, endpoint)
            fault_kind = fault.kind if fault else None
            ctx.fault = fault
            if fault and fault.kind in ("latency", "timeout"):
                time.sleep(fault.delay)
            # gateway-style errors: a plain-text body, as a load balancer or CDN sends it
            if fault and fault.kind == "429":
                status, payload = 429, _PlainText("Too Many Requests")
                extra_headers["Retry-After"] = fault.retry_after
            elif fault and fault.kind in ("500", "503"):
                status = int(fault.kind)
                payload = _PlainText("Internal Server Error" if status == 500
                                     else "Service Unavailable")
            else:
                try:
                    status, payload = handler(ctx, match)
                except Exception as exc:  # noqa: BLE001 - a bug here must show up as a 500
                    status, payload = 500, {"error": f"fake exchange bug: {exc!r}"}
        if isinstance(payload, _PlainText):
            data, content_type = str(payload).encode(), "text/plain"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json"
        if fault_kind == "malformed":
            data = data[: max(1, len(data) // 2)]
        # logged before the reply leaves, so a client that has its answer always finds the
        # request in the log; `finished` is stamped once the bytes are written
        record = RequestRecord(exchange_id, endpoint, method, path, query, status, fault_kind,
                               started, time.monotonic())
        with self._lock:
            self.requests.append(record)
        try:
            req.send_response(status)
            req.send_header("Content-Type", content_type)
            req.send_header("Content-Length", str(len(data)))
            for k, v in extra_headers.items():
                req.send_header(k, v)
            req.end_headers()
            req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the client gave up (timeout fault)
        finally:
            record.finished = time.monotonic()

    # ---- convenience -----------------------------------------------------------------------------
    def env(self, directory, *, rate_limit_ms: Optional[float] = 1, retry_base_delay: float = 0.01,
            retry_attempts: int = 4, timeout_ms: Optional[int] = None) -> dict:
        """Environment variables that point `btcflow_nb.fetch` (and notebooks, the CLI) at this
        server: writes ``<directory>/btcflow-nb-config.json`` and returns
        ``{"BTCFLOW_NB_CONFIG": ..., "BTCFLOW_NB_API_BASE": ..., "BTCFLOW_NB_CACHE_DIR": ...}``.
        rate_limit_ms: ccxt ``rateLimit`` for every venue (None keeps ccxt's real limits)."""
        from pathlib import Path

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        options = {}
        if rate_limit_ms is not None:
            options["rateLimit"] = rate_limit_ms
        if timeout_ms is not None:
            options["timeout"] = timeout_ms
        config = {"exchanges": {eid: dict(options) for eid in self.venues},
                  "retry": {"attempts": retry_attempts, "base_delay": retry_base_delay,
                            "max_delay": 5.0}}
        path = directory / "btcflow-nb-config.json"
        path.write_text(json.dumps(config, indent=1))
        return {"BTCFLOW_NB_CONFIG": str(path), "BTCFLOW_NB_API_BASE": self.url,
                "BTCFLOW_NB_CACHE_DIR": str(directory / "cache")}

    def exchange(self, exchange_id: str, **config):
        """A ccxt.async_support exchange pointed at this server (options as for ccxt)."""
        import ccxt.async_support as ccxt_async

        from ...config import point_exchange_at

        ex = getattr(ccxt_async, exchange_id)(dict(config))
        point_exchange_at(ex, self.url)
        return ex
