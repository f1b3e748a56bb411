"""CSV exports of charting platforms and data vendors -> the cache's raw frames (no I/O but
reading the file).

`read_file(path, format)` returns ``{(venue name, series): frame}`` with frames in the cache's
raw formats (`btcflow_nb.sources.parse`): ``ohlcv`` (``time, open, high, low, close, volume``),
``funding`` (``time, rate, interval_hours``), ``open_interest`` (``time, oi_base, oi_value,
value_currency, kind``).  Header names are matched case-insensitively after turning every run of
other characters into ``_`` ("Open Interest (USD)" -> ``open_interest_usd``).

Formats and their column mappings
---------------------------------
``tradingview`` -- TradingView's "Export chart data": ``time, open, high, low, close`` and
    optionally ``Volume`` (other indicator columns are ignored).  ``time`` is unix **seconds**
    or ISO 8601 with a zone offset; it is the bar's open.  One venue (``venue=``), series
    ``ohlcv``.
``coinalyze`` -- Coinalyze-style open-interest export: ``timestamp`` (or ``t``; unix seconds, bar
    open), ``open, high, low, close`` (or ``o, h, l, c``) of the OI during the bar.  The sample
    kept is the bar's close, at time ``timestamp + bar`` (bar = the median spacing).  Unit:
    ``oi_unit="usd"`` (Coinalyze's default display) or ``"btc"``.  One venue.
``daily`` (aliases ``cryptoquant``, ``coinglass``) -- a daily export: ``date`` (``YYYY-MM-DD``, a
    UTC day) and any of ``open_interest_btc``, ``open_interest_usd`` (or ``open_interest`` with
    ``oi_unit``), ``funding_rate`` (**percent** per 8 hours, averaged over the day, as both
    vendors display it).  OI becomes a sample at the day's end (``date + 1 day``); funding
    becomes one event settled at the day's end covering the day: ``rate = 3 x funding_rate /
    100``, ``interval_hours = 24`` (the same per-hour rate).  One venue.
``long`` -- the generic format: ``venue, time`` and field columns: ``close`` (with optional
    ``open, high, low, volume``) -> ohlcv; ``rate`` (fraction per interval) and
    ``interval_hours`` -> funding; ``oi_btc`` and/or ``oi_usd`` -> open interest.  ``venue`` is a
    registry name (``perp:binance``); ``time`` is ISO 8601 with a zone, or epoch milliseconds.

OI given only in USD keeps ``oi_value`` (USD) and gets ``oi_base`` = USD / close at the sample
time, the close being the venue's own (last bar closed at or before the sample) or, if it has
none then, the mean of every cached venue's close (the basket); the importer
(`btcflow_nb.sources.imports`) does it and records it in the row's ``source``
(``file:<name>;btc=usd/close`` or ``;btc=usd/basket``).

Bad input -- an unknown format, missing columns, naive times, unreadable numbers, conflicting
duplicate rows, implausible values (price <= 0, negative OI, |funding| > 5 % per interval) --
raises ValueError naming the file, the line (1 = the header) and the column.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

FORMATS = ("tradingview", "coinalyze", "daily", "cryptoquant", "coinglass", "long")
OI_UNITS = ("usd", "btc")
MAX_FUNDING = 0.05


def _norm(name) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


class _File:
    """A CSV under a name, with helpers that raise errors naming the file, line and column."""

    def __init__(self, path):
        self.path = Path(path)
        self.name = self.path.name
        try:
            raw = pd.read_csv(self.path, dtype=str, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValueError(f"file {self.name!r} is not a readable CSV ({exc})") from None
        raw.columns = [_norm(c) for c in raw.columns]
        self.frame = raw

    def where(self, i) -> str:
        return f"file {self.name!r} line {int(i) + 2}"

    def column(self, *names, required=True):
        for n in names:
            if n in self.frame.columns:
                return n
        if required:
            raise ValueError(f"file {self.name!r} has no column {names[0]!r} (columns: "
                             f"{list(self.frame.columns)}); expected {' or '.join(names)}")
        return None

    def numbers(self, col) -> np.ndarray:
        s = self.frame[col].str.strip()
        vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64")
        bad = np.isnan(vals) & s.notna().to_numpy() & (s != "").to_numpy()
        if bad.any() or np.isinf(vals).any():
            i = int(np.argmax(bad | np.isinf(vals)))
            raise ValueError(f"{self.where(i)} column {col!r}: {s.iloc[i]!r} is not a number")
        return vals

    def times(self, col, *, epoch_unit: str, days_are_utc=False) -> pd.DatetimeIndex:
        """Epoch numbers (in `epoch_unit`) or ISO 8601 with a zone offset -> UTC; with
        `days_are_utc`, bare ``YYYY-MM-DD`` dates are UTC days."""
        s = self.frame[col].str.strip()
        if days_are_utc and s.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
            s = s + "T00:00:00Z"
        if s.str.fullmatch(r"-?\d+(\.0+)?").all():
            vals = pd.to_numeric(s).astype("int64")
            t = pd.to_datetime(vals, unit=epoch_unit, utc=True)
        else:
            t = pd.to_datetime(s, errors="coerce", utc=False, format="ISO8601")
            if t.isna().any():
                i = int(np.argmax(t.isna().to_numpy()))
                raise ValueError(f"{self.where(i)} column {col!r}: {s.iloc[i]!r} is not a "
                                 f"time; expected ISO 8601 with a zone or epoch {epoch_unit}")
            if getattr(t.dt, "tz", None) is None:
                raise ValueError(f"{self.where(0)} column {col!r}: {s.iloc[0]!r} has no time "
                                 f"zone; expected a UTC offset (2024-01-01T00:00:00Z) or epoch "
                                 f"{epoch_unit}")
            t = t.dt.tz_convert("UTC")
        idx = pd.DatetimeIndex(t).as_unit("ms")
        bad = (idx.year < 2009) | (idx.year > 2100)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{self.where(i)} column {col!r}: {s.iloc[i]!r} is outside "
                             f"2009..2100; expected epoch {epoch_unit} or ISO 8601")
        return idx

    def check(self, mask, col, vals, expected):
        if np.any(mask):
            i = int(np.argmax(mask))
            raise ValueError(f"{self.where(i)} column {col!r}: {vals[i]!r} is implausible; "
                             f"expected {expected}")


def _finish(f: _File, frame: pd.DataFrame, value_cols, rows=None) -> pd.DataFrame:
    """Refuse conflicting duplicates (same time, different values), drop exact ones, sort."""
    rows = np.arange(len(frame)) if rows is None else np.asarray(rows)
    frame = frame.reset_index(drop=True)
    dup = frame.duplicated("time", keep=False)
    if dup.any():
        conflict = dup & ~frame.duplicated(["time"] + list(value_cols), keep=False)
        if conflict.any():
            i = int(np.argmax(conflict.to_numpy()))
            raise ValueError(f"{f.where(rows[i])}: conflicting duplicate rows for "
                             f"{frame['time'].iloc[i]} (same time, different values)")
    return frame.drop_duplicates("time").sort_values("time", kind="stable") \
        .reset_index(drop=True)


def _ohlcv(f: _File, t, rows, close, open_=None, high=None, low=None, volume=None):
    close = np.asarray(close, dtype="float64")
    out = pd.DataFrame({"time": t})
    for col, vals in (("open", open_), ("high", high), ("low", low)):
        out[col] = close if vals is None else np.asarray(vals, dtype="float64")
    out["close"] = close
    out["volume"] = np.nan if volume is None else np.asarray(volume, dtype="float64")
    for col in ("open", "high", "low", "close"):
        v = out[col].to_numpy()
        f.check(~(v > 0), col, v, "a price > 0 (USD or the venue's quote)")
    f.check(out["volume"].to_numpy() < 0, "volume", out["volume"].to_numpy(), "a volume >= 0")
    return _finish(f, out, ["open", "high", "low", "close", "volume"], rows)


def _oi(f: _File, t, rows, btc=None, usd=None):
    n = len(t)
    btc = np.full(n, np.nan) if btc is None else np.asarray(btc, dtype="float64")
    usd = np.full(n, np.nan) if usd is None else np.asarray(usd, dtype="float64")
    f.check(btc < 0, "oi_btc", btc, "open interest >= 0")
    f.check(usd < 0, "oi_usd", usd, "open interest >= 0")
    out = pd.DataFrame({"time": t, "oi_base": btc, "oi_value": usd, "value_currency": "USD",
                        "kind": "history"})
    out = out[~(np.isnan(btc) & np.isnan(usd))]
    return _finish(f, out, ["oi_base", "oi_value"], np.asarray(rows)[out.index.to_numpy()])


def _funding(f: _File, t, rows, rate, hours):
    rate, hours = np.asarray(rate, dtype="float64"), np.asarray(hours, dtype="float64")
    f.check(np.isnan(rate) | (np.abs(rate) > MAX_FUNDING), "rate", rate,
            f"a fraction per interval with |rate| <= {MAX_FUNDING}")
    f.check(~((hours > 0) & (hours <= 168)), "interval_hours", hours, "hours in (0, 168]")
    out = pd.DataFrame({"time": t, "rate": rate, "interval_hours": hours})
    return _finish(f, out, ["rate", "interval_hours"], rows)


def read_file(path, format: str, *, venue: str = None, oi_unit: str = "usd") -> dict:
    """Read a CSV export; returns ``{(venue, series): frame}`` (see the module docstring).

    venue: the registry name the rows belong to (``perp:binance``); required except for
    ``long``, whose rows name their venues.  oi_unit: unit of an OI column that does not say.
    """
    if format not in FORMATS:
        raise ValueError(f"format {format!r} is not known; valid: {list(FORMATS)}")
    if oi_unit not in OI_UNITS:
        raise ValueError(f"oi_unit {oi_unit!r} is not valid; valid: {list(OI_UNITS)}")
    f = _File(path)
    if len(f.frame) == 0:
        raise ValueError(f"file {f.name!r} has no rows")
    if format != "long" and not venue:
        raise ValueError(f"file {f.name!r} ({format}): say which venue the rows belong to "
                         f"(venue='perp:binance', --venue)")
    rows = np.arange(len(f.frame))
    if format == "tradingview":
        tcol = f.column("time")
        t = f.times(tcol, epoch_unit="s")
        cols = {c: f.numbers(f.column(c)) for c in ("open", "high", "low", "close")}
        vcol = f.column("volume", required=False)
        return {(venue, "ohlcv"): _ohlcv(f, t, rows, cols["close"], cols["open"], cols["high"],
                                          cols["low"], f.numbers(vcol) if vcol else None)}
    if format == "coinalyze":
        t = f.times(f.column("timestamp", "t", "time"), epoch_unit="s")
        close = f.numbers(f.column("close", "c"))
        if len(t) > 1:
            bar = pd.Timedelta(np.median(np.diff(t.asi8)), unit="ms")
        else:
            raise ValueError(f"file {f.name!r}: one row; the bar length cannot be inferred")
        t = t + bar
        return {(venue, "open_interest"): _oi(f, t, rows, **{oi_unit: close})}
    if format in ("daily", "cryptoquant", "coinglass"):
        t = f.times(f.column("date", "datetime", "time"), epoch_unit="s", days_are_utc=True)
        if (t != t.normalize()).any():
            i = int(np.argmax(t != t.normalize()))
            raise ValueError(f"{f.where(i)} column 'date': {t[i]} is not a day; expected "
                             f"YYYY-MM-DD")
        out = {}
        btc_col = f.column("open_interest_btc", required=False)
        usd_col = f.column("open_interest_usd", required=False)
        plain = f.column("open_interest", required=False)
        if plain and not (btc_col or usd_col):
            btc_col, usd_col = (plain, None) if oi_unit == "btc" else (None, plain)
        if btc_col or usd_col:
            out[(venue, "open_interest")] = _oi(
                f, t + pd.Timedelta(days=1), rows, f.numbers(btc_col) if btc_col else None,
                f.numbers(usd_col) if usd_col else None)
        fcol = f.column("funding_rate", required=False)
        if fcol:
            pct = f.numbers(fcol)
            keep = ~np.isnan(pct)
            out[(venue, "funding")] = _funding(f, (t + pd.Timedelta(days=1))[keep], rows[keep],
                                               3.0 * pct[keep] / 100.0,
                                               np.full(int(keep.sum()), 24.0))
        if not out:
            raise ValueError(f"file {f.name!r} ({format}) has none of the columns "
                             f"open_interest_btc, open_interest_usd, open_interest, "
                             f"funding_rate (columns: {list(f.frame.columns)})")
        return out
    return _read_long(f)


def _read_long(f: _File) -> dict:
    vcol, tcol = f.column("venue"), f.column("time")
    t = f.times(tcol, epoch_unit="ms")
    venues = f.frame[vcol].fillna("").str.strip()
    if (venues == "").any():
        raise ValueError(f"{f.where(int(np.argmax((venues == '').to_numpy())))} column 'venue' "
                         f"is empty; expected a registry name such as 'perp:binance'")
    has = set(f.frame.columns)
    groups = []
    if "close" in has:
        groups.append("ohlcv")
    if "rate" in has:
        f.column("interval_hours")
        groups.append("funding")
    if has & {"oi_btc", "oi_usd"}:
        groups.append("open_interest")
    if not groups:
        raise ValueError(f"file {f.name!r} (long) has no field column; expected close, "
                         f"rate + interval_hours, or oi_btc / oi_usd (columns: "
                         f"{list(f.frame.columns)})")
    num = {c: f.numbers(c) for c in ("open", "high", "low", "close", "volume", "rate",
                                     "interval_hours", "oi_btc", "oi_usd") if c in has}
    out = {}
    for name in pd.unique(venues):
        rows = np.flatnonzero((venues == name).to_numpy())
        tv = t[rows]
        for series in groups:
            if series == "ohlcv":
                keep = rows[~np.isnan(num["close"][rows])]
                if len(keep):
                    out[(name, "ohlcv")] = _ohlcv(
                        f, t[keep], keep, num["close"][keep],
                        *(num[c][keep] if c in num else None
                          for c in ("open", "high", "low", "volume")))
            elif series == "funding":
                keep = rows[~np.isnan(num["rate"][rows])]
                if len(keep):
                    out[(name, "funding")] = _funding(f, t[keep], keep, num["rate"][keep],
                                                      num["interval_hours"][keep])
            else:
                frame = _oi(f, tv, rows, num["oi_btc"][rows] if "oi_btc" in num else None,
                            num["oi_usd"][rows] if "oi_usd" in num else None)
                if len(frame):
                    out[(name, "open_interest")] = frame
    return out
