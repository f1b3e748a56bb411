"""The deterministic market truth the fake exchange serves: hourly bars, funding, open interest.

Every value is a pure function of the timestamp and the series name (``spot:<venue>``,
``perp:<venue>``, ``fx:usdt`` / ``fx:usdc``), so any window and any timeframe can be asked again
and compared exactly with what came out of the real ccxt code path.  The venue dialects
(`btcflow_nb.testing.fake_exchange.dialects`) only format these values in each venue's REST
format; tests compute what they expect from the same `Truth`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

#: price level of each series relative to the common path, and a salt for its noise
_SERIES_SHAPE = {
    "spot:coinbase": (0.0000, 11), "spot:kraken": (-0.0004, 12), "spot:bitstamp": (0.0003, 13),
    "spot:binance": (0.0006, 14), "spot:okx": (0.0005, 15), "spot:bybit": (0.0007, 16),
    "perp:binance": (0.0011, 21), "perp:bybit": (0.0012, 22), "perp:okx": (0.0010, 23),
    "perp:bitfinex": (0.0016, 24), "perp:gate": (0.0013, 25), "perp:htx": (0.0009, 26),
    "perp:kucoin": (0.0014, 27), "perp:deribit": (0.0002, 28), "perp:krakenfutures": (0.0001, 29),
    "perp:hyperliquid": (0.0015, 30), "perp:binance_coinm": (0.0008, 31),
    "perp:bybit_inverse": (0.0007, 32), "perp:okx_inverse": (0.0006, 33),
}
#: funding settlement interval (hours) per perp key (see Truth.binance_4h_from)
_FUNDING_HOURS = {"binance": 8, "bybit": 8, "okx": 8, "bitfinex": 8, "gate": 4, "htx": 8,
                  "kucoin": 8, "deribit": 1, "krakenfutures": 1, "hyperliquid": 1,
                  "binance_coinm": 8, "bybit_inverse": 8, "okx_inverse": 8}
#: how each venue reports OI natively: ("base", None) BTC amount, ("contracts", size) contracts
#: of `size` BTC (linear) or USD (inverse)
_OI_NATIVE = {"binance": ("base", None), "bybit": ("base", None), "okx": ("contracts", 0.01),
              "bitfinex": ("base", None), "gate": ("contracts", 0.0001), "htx": ("base", None),
              "kucoin": ("contracts", 0.001), "deribit": ("usd", 10.0),
              "hyperliquid": ("base", None), "binance_coinm": ("usd", 100.0),
              "bybit_inverse": ("usd", 1.0), "okx_inverse": ("usd", 100.0),
              "krakenfutures": ("base", None)}
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
        if name.startswith("future:"):
            return self._dated_hourly(name)
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
        out = (t, self.funding_rate_at(key, t, hours), hours)
        self._cache[ck] = out
        return out

    def funding_rate_at(self, key: str, t_ms: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """The rate (fraction per interval) of settlements at `t_ms` with intervals `hours`:
        a pure function of time, so settlements after the truth's end are known too."""
        phase = _SERIES_SHAPE[f"perp:{key}"][1]
        t_ms = np.asarray(t_ms, dtype=np.int64)
        per_8h = 1e-4 * (1 + 0.9 * np.sin(2 * np.pi * t_ms / (5 * DAY_MS) + phase))
        return np.round(per_8h * np.asarray(hours, dtype=float) / 8, 9)

    def upcoming_funding(self, key: str, now_ms: int):
        """The funding a venue quotes at `now_ms`: ``(t1, r1, t2, r2, hours)`` -- the next
        settlement after now (`t1`, epoch ms) with the rate accruing over the current interval
        (`r1`, the "current" rate), the settlement after it with its rate (`r2`, the
        "next" / predicted rate), and the interval in hours.  Settlements are epoch-aligned
        multiples of the interval, as in `funding`."""
        hours = float(self.funding_interval_hours(key, np.array([int(now_ms)]))[0])
        step = int(hours * HOUR_MS)
        t1 = (int(now_ms) // step + 1) * step
        t2 = t1 + step
        r1, r2 = self.funding_rate_at(key, np.array([t1, t2]), np.array([hours, hours]))
        return t1, float(r1), t2, float(r2), hours

    def last_price(self, name: str, now_ms: int) -> float:
        """The last trade price at `now_ms`: the close of the hourly bar containing it (the
        open bar's latest hour; as-of the previous hour inside a gap)."""
        return float(self.close_at(name, np.array([int(now_ms)]))[0])

    def oi_now(self, key: str, now_ms: int) -> float:
        """Current open interest of ``perp:<key>`` in the venue's native unit (the hourly
        sample at or before `now_ms`)."""
        t, native = self.oi_native(key)
        return float(native[max(0, int(np.searchsorted(t, int(now_ms), side="right")) - 1)])

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

    # ---- dated futures ---------------------------------------------------------------------
    def dated_expiries(self, key: str, now_ms: int) -> list:
        """Expiries (epoch ms, ascending) of the dated futures of venue `key` listed at `now_ms`
        (listed `DATED_LISTED_DAYS` before expiry, trading until expiry): quarterlies (the last
        Friday of Mar/Jun/Sep/Dec, 08:00 UTC) everywhere, plus monthlies at Deribit."""
        months = range(1, 13) if key in _DATED_MONTHLY else (3, 6, 9, 12)
        return [e for e in last_friday_expiries(now_ms, now_ms + DATED_LISTED_DAYS * DAY_MS,
                                                months)
                if e - DATED_LISTED_DAYS * DAY_MS <= now_ms]

    def dated_series(self, key: str, expiry_ms: int) -> str:
        """The truth series name of venue `key`'s future expiring at `expiry_ms`."""
        if key not in DATED_BASIS:
            raise ValueError(f"no dated futures at {key!r}; valid: {sorted(DATED_BASIS)}")
        return f"future:{key}@{int(expiry_ms)}"

    def _dated_hourly(self, name: str):
        """Hourly bars of a dated future: ``F = S x (1 + r x (expiry - t_close) / 365 days)``
        with S the ``spot:coinbase`` close of the same hour and r the venue's annual basis
        (`DATED_BASIS`), rounded to 0.1: the basis decays linearly to 0 at expiry.  Bars exist
        from the listing (expiry - `DATED_LISTED_DAYS`) to the last hour before expiry."""
        key, expiry = name[len("future:"):].split("@")
        expiry = int(expiry)
        t, _, _, _, spot, _ = self.hourly("spot:coinbase")
        keep = (t >= expiry - DATED_LISTED_DAYS * DAY_MS) & (t < expiry)
        t, spot = t[keep], spot[keep]
        years = (expiry - (t + HOUR_MS)) / (365 * DAY_MS)
        close = np.round(spot * (1 + DATED_BASIS[key] * years), 1)
        opens = np.concatenate([close[:1], close[:-1]])
        high = np.round(np.maximum(opens, close) + 5.0, 1)
        low = np.round(np.minimum(opens, close) - 5.0, 1)
        volume = np.round(1 + (t // HOUR_MS % 7) * 0.25, 3)
        out = (t, opens, high, low, close, volume)
        self._cache[name] = out
        return out


#: annual basis of each venue's dated futures in the truth (fraction per year)
DATED_BASIS = {"deribit": 0.08, "okx": 0.07, "binance_coinm": 0.075, "bybit_inverse": 0.085}
_DATED_MONTHLY = ("deribit",)
#: a dated future is listed this many days before its expiry
DATED_LISTED_DAYS = 200


def last_friday_expiries(lo_ms: int, hi_ms: int, months=(3, 6, 9, 12)) -> list:
    """Expiries in (lo_ms, hi_ms]: 08:00 UTC on the last Friday of each month in `months`."""
    import datetime as dt

    out = []
    day = dt.datetime.fromtimestamp(lo_ms / 1000, dt.timezone.utc).replace(
        day=1, hour=8, minute=0, second=0, microsecond=0)
    while int(day.timestamp() * 1000) <= hi_ms:
        nxt = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        last = nxt - dt.timedelta(days=1)
        friday = last - dt.timedelta(days=(last.weekday() - 4) % 7)
        ms = int(friday.timestamp() * 1000)
        if day.month in months and lo_ms < ms <= hi_ms:
            out.append(ms)
        day = nxt
    return out


_TF_MS = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS, "1D": DAY_MS}
