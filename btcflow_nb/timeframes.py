"""Bar timeframes, how timestamps map onto bars, and the one parser of time arguments.

Every bar is labelled by its **open time** in UTC, as ccxt and TradingView do: the daily bar
``2024-01-01`` covers ``[2024-01-01 00:00, 2024-01-02 00:00)``.

Anchors
-------
- ``1h``, ``4h``, ``1D``: multiples of the bar length counted from the Unix epoch, which for these
  lengths is the same as counting from midnight UTC.
- ``3D``: counted from the Unix epoch (1970-01-01 00:00 UTC), like TradingView's 3-day bars.
- ``1W``: weeks start Monday 00:00 UTC (counted from Monday 1970-01-05).
- ``1M``: calendar months, ``[first day 00:00, first day of next month 00:00)``.

Spellings
---------
One vocabulary: :data:`TIMEFRAMES` in pandas/TradingView spelling (``1D``, ``1W``, ``1M``) is
what the package speaks; :func:`ccxt_timeframe` gives the spelling exchanges and ccxt use
(``1d``, ``1w``, ``1M``), which is also the spelling of the cache's file names.

Time arguments
--------------
Every ``since``/``until``/``start``/``end`` the package accepts goes through :func:`to_timestamp`
(or :func:`to_ms`): a date string or ``datetime``/``Timestamp`` (naive means UTC), an **int as
epoch milliseconds** (as ccxt and the exchanges count), or a duration before now (``"90D"``,
``pd.Timedelta``). The same input is the same instant everywhere.

>>> normalize_timeframe("1d")
'1D'
>>> ccxt_timeframe("1W")
'1w'
>>> to_timestamp(1704067200000)
Timestamp('2024-01-01 00:00:00+0000', tz='UTC')
"""
from __future__ import annotations

import datetime as _dt
import time as _time

import numpy as np
import pandas as pd

from ._checks import choice_error

TIMEFRAMES: tuple[str, ...] = ("1h", "4h", "1D", "3D", "1W", "1M")

#: Accepted spellings (ccxt uses lower case for days and weeks) -> canonical name.
_ALIASES = {
    "1h": "1h", "1H": "1h",
    "4h": "4h", "4H": "4h",
    "1D": "1D", "1d": "1D", "D": "1D",
    "3D": "3D", "3d": "3D",
    "1W": "1W", "1w": "1W", "W": "1W",
    "1M": "1M", "M": "1M", "1mo": "1M",
}

#: Nominal bar length in hours (a calendar month counts as 30 days for ordering only).
_HOURS = {"1h": 1, "4h": 4, "1D": 24, "3D": 72, "1W": 168, "1M": 720}

#: The ccxt (exchange) spelling of each timeframe; cache file names use it too.
_CCXT = {"1h": "1h", "4h": "4h", "1D": "1d", "3D": "3d", "1W": "1w", "1M": "1M"}

_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
_FIRST_MONDAY = pd.Timestamp("1970-01-05", tz="UTC")


def normalize_timeframe(timeframe: str) -> str:
    """Return the canonical spelling of ``timeframe`` or raise a ``ValueError``.

    ``"1m"`` is refused on purpose: in ccxt it means one *minute*; a month is ``"1M"``.
    """
    if isinstance(timeframe, str) and timeframe in _ALIASES:
        return _ALIASES[timeframe]
    hint = " ('1m' is a minute in ccxt; a month is '1M')" if timeframe == "1m" else ""
    raise choice_error("timeframe", timeframe, TIMEFRAMES, hint)


def ccxt_timeframe(timeframe: str) -> str:
    """The ccxt/exchange spelling of ``timeframe`` (``"1D"`` -> ``"1d"``, ``"1W"`` -> ``"1w"``).

    Accepts every spelling :func:`normalize_timeframe` accepts.
    """
    return _CCXT[normalize_timeframe(timeframe)]


def bar_ms(timeframe: str) -> int:
    """Length of one bar in milliseconds, for fixed-length timeframes (all but ``1M``)."""
    tf = normalize_timeframe(timeframe)
    if tf == "1M":
        raise ValueError("timeframe '1M' has no fixed length in milliseconds (calendar months); "
                         f"valid choices: {', '.join(t for t in TIMEFRAMES if t != '1M')}")
    return _HOURS[tf] * 3_600_000


_TIME_HELP = ("a date/time such as '2024-01-01' or '2024-01-01 08:00' (naive means UTC), a "
              "datetime or pandas Timestamp, epoch milliseconds as an int, or a duration before "
              "now such as '90D'")


def to_timestamp(value, name: str = "time") -> pd.Timestamp | None:
    """The one parser of time arguments: ``value`` as a UTC :class:`pandas.Timestamp`.

    Parameters
    ----------
    value : None, str, datetime, date, numpy.datetime64, pandas.Timestamp, int, or a duration
        A date/time (naive means UTC); an ``int`` counts **milliseconds** since the Unix epoch
        (ccxt's unit); a duration (``"90D"``, ``"12h"``, ``pd.Timedelta``, ``timedelta``)
        means that long before now. ``None`` passes through.
    name : the argument's name, for the error message.

    Raises
    ------
    ValueError
        naming the argument and the value, for anything else (booleans and floats included:
        a float is no unambiguous instant).
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} is not a time; valid: {_TIME_HELP}")
    if isinstance(value, (int, np.integer)):
        try:
            return pd.Timestamp(int(value), unit="ms", tz="UTC")
        except (OverflowError, ValueError):   # pandas' OutOfBoundsDatetime is a ValueError
            raise ValueError(f"{name}={value!r} is out of range as epoch milliseconds (valid: "
                             f"years 1677-2262); valid: {_TIME_HELP}") from None
    if isinstance(value, (float, np.floating)):
        raise ValueError(f"{name}={value!r} is not a time (a float is ambiguous; pass epoch "
                         f"milliseconds as an int); valid: {_TIME_HELP}")
    if isinstance(value, (pd.Timedelta, _dt.timedelta, np.timedelta64)):
        return _before_now(pd.Timedelta(value))
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        try:   # a duration ("90D", "12 hours"): that long before now
            return _before_now(pd.Timedelta(value))
        except (TypeError, ValueError):
            pass
        raise ValueError(f"{name}={value!r} is not a time; valid: {_TIME_HELP}") from None
    if ts is pd.NaT:
        raise ValueError(f"{name}={value!r} is not a time; valid: {_TIME_HELP}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _before_now(duration: pd.Timedelta) -> pd.Timestamp:
    return pd.Timestamp(int(_time.time() * 1000) - int(duration.total_seconds() * 1000),
                        unit="ms", tz="UTC")


def to_ms(value, name: str = "time") -> int | None:
    """:func:`to_timestamp` as integer epoch milliseconds (``None`` passes through)."""
    ts = to_timestamp(value, name)
    return None if ts is None else int(ts.value // 1_000_000)


def timeframe_hours(timeframe: str) -> float:
    """Nominal length of one bar in hours (months count as 30 days)."""
    return float(_HOURS[normalize_timeframe(timeframe)])


def _as_utc_index(times) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(times)
    if idx.tz is None:
        raise ValueError("times must be time-zone aware (UTC); got naive timestamps")
    return idx.tz_convert("UTC")


def bar_open(times, timeframe: str) -> pd.DatetimeIndex:
    """Label each timestamp with the open time of the bar that contains it.

    Parameters
    ----------
    times : array-like of tz-aware timestamps
    timeframe : one of :data:`TIMEFRAMES`

    Returns
    -------
    DatetimeIndex (UTC) of bar open times, same length as ``times``.
    """
    tf = normalize_timeframe(timeframe)
    idx = _as_utc_index(times)
    labels = bar_open_ns(idx.as_unit("ns").asi8, tf)
    return pd.DatetimeIndex(labels.astype("datetime64[ns]")).tz_localize("UTC").as_unit(idx.unit)


def bar_open_ns(ns: np.ndarray, timeframe: str) -> np.ndarray:
    """:func:`bar_open` on int64 nanoseconds since the epoch (UTC), returning int64 nanoseconds.

    The arithmetic core, for hot paths that already hold integer times. Exact: integer floor
    division, no float rounding.
    """
    tf = normalize_timeframe(timeframe)
    ns = np.asarray(ns, dtype=np.int64)
    if tf == "1M":
        months = ns.astype("datetime64[ns]").astype("datetime64[M]")
        return months.astype("datetime64[ns]").astype(np.int64)
    step_i = pd.Timedelta(hours=_HOURS[tf]).value
    origin_i = (_FIRST_MONDAY if tf == "1W" else _EPOCH).value
    return origin_i + np.floor_divide(ns - origin_i, step_i) * step_i


def next_bar_open(bar_opens, timeframe: str) -> pd.DatetimeIndex:
    """Open time of the bar after each given bar open (its close time)."""
    tf = normalize_timeframe(timeframe)
    idx = _as_utc_index(bar_opens)
    if tf == "1M":
        return idx + pd.offsets.MonthBegin(1)
    return idx + pd.Timedelta(hours=_HOURS[tf])


def bar_range(start, end, timeframe: str) -> pd.DatetimeIndex:
    """All bar opens from the bar containing ``start`` to the bar containing ``end``."""
    tf = normalize_timeframe(timeframe)
    first, last = bar_open(pd.DatetimeIndex([start, end]), tf)
    if tf == "1M":
        return pd.date_range(first, last, freq="MS")
    return pd.date_range(first, last, freq=pd.Timedelta(hours=_HOURS[tf]))


def infer_resolution(index: pd.DatetimeIndex) -> str | None:
    """The finest timeframe the data supports: the longest timeframe not longer than the
    typical (median) spacing of ``index``. ``None`` for fewer than two timestamps.

    Daily closes give ``"1D"``; hourly closes give ``"1h"``; 8-hourly samples give ``"4h"``.
    """
    if len(index) < 2:
        return None
    spacing_h = pd.Timedelta(np.median(np.diff(index.as_unit("ns").asi8)), unit="ns") / pd.Timedelta(hours=1)
    best = None
    for tf in TIMEFRAMES:
        # a month is 28-31 days: accept 27.5+ days as monthly spacing
        length = 27.5 * 24 if tf == "1M" else _HOURS[tf]
        if length <= spacing_h + 1e-9:
            best = tf
    return best or "1h"


#: (data resolution, timeframe) pairs whose bars straddle each other: epoch-anchored 3-day bars
#: cross Monday week starts and month starts, and weeks cross month starts. Re-barring would put
#: a close into the wrong bar (a week from Mon Jan 29 to Sun Feb 4 would set January's close).
_NOT_NESTED = frozenset({("3D", "1W"), ("3D", "1M"), ("1W", "1M")})


def check_not_finer(timeframe: str, resolution: str | None) -> str:
    """Raise ``ValueError`` when ``timeframe`` is finer than the data's ``resolution``, or when
    its bars do not contain whole bars of that resolution (3D -> 1W, 3D -> 1M, 1W -> 1M)."""
    tf = normalize_timeframe(timeframe)
    if resolution is None:
        return tf
    valid = [t for t in TIMEFRAMES
             if _HOURS[t] >= _HOURS[resolution] and (resolution, t) not in _NOT_NESTED]
    if _HOURS[tf] < _HOURS[resolution]:
        raise ValueError(
            f"timeframe {tf!r} is finer than the data's own resolution {resolution!r}; "
            f"valid choices for this data: {', '.join(valid)}"
        )
    if (resolution, tf) in _NOT_NESTED:
        raise ValueError(
            f"timeframe {tf!r} bars do not contain whole {resolution!r} bars (they straddle "
            f"its bar edges), so closes would land in the wrong bar; "
            f"valid choices for this data: {', '.join(valid)}"
        )
    return tf


# ---------------------------------------------------------------------------- lookbacks

#: Days per unit of a duration lookback (a month is a twelfth of a 365.25-day year).
_UNIT_DAYS = {"h": 1 / 24, "D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}
_UNIT_ALIASES = {"h": "h", "H": "h", "D": "D", "d": "D", "W": "W", "w": "W", "M": "M",
                 "Y": "Y", "y": "Y"}
_LOOKBACK_HELP = ("a whole number of bars (int >= {minimum}) or a duration: a whole number "
                  "followed by h (hours), D (days), W (weeks), M (months) or Y (years), e.g. "
                  "'365D', '52W', '12M', '4Y'")


def lookback_bars(lookback, timeframe: str, name: str = "lookback", minimum: int = 1) -> int:
    """A lookback in bars of ``timeframe``: an int is bars, a duration is converted.

    Durations are a whole number and a unit: ``h`` hours, ``D`` days, ``W`` weeks (7 days),
    ``M`` months (365.25 / 12 days), ``Y`` years (365.25 days). They are converted to the
    nearest whole number of bars of ``timeframe``; months and years count whole calendar
    months on ``1M`` (``"12M"`` and ``"1Y"`` are 12 bars there, ``"365D"`` is 12 too).

    ==========  ======  ======  ======  ======  ======  ======
    lookback    1h      4h      1D      3D      1W      1M
    ==========  ======  ======  ======  ======  ======  ======
    ``"365D"``  8760    2190    365     122     52      12
    ``"52W"``   8736    2184    364     121     52      12
    ``"12M"``   8766    2192    365     122     52      12
    ``"4Y"``    35064   8766    1461    487     209     48
    ==========  ======  ======  ======  ======  ======  ======

    ``"1m"`` is refused: in ccxt it is a minute; a month is ``"1M"``.

    Raises ``ValueError`` naming the value and the valid spellings for anything else, and for a
    lookback shorter than ``minimum`` bars on this timeframe (``"3D"`` on ``1W``).

    >>> lookback_bars("365D", "1W"), lookback_bars("12M", "1M"), lookback_bars(20, "1D")
    (52, 12, 20)
    """
    tf = normalize_timeframe(timeframe)
    spelled = _LOOKBACK_HELP.format(minimum=minimum)
    shown = lookback.item() if isinstance(lookback, np.generic) else lookback
    whole = isinstance(lookback, (int, np.integer)) or (
        isinstance(lookback, (float, np.floating)) and float(lookback).is_integer())
    if isinstance(lookback, (bool, np.bool_)) or (
            isinstance(lookback, (float, np.floating)) and not whole):
        raise ValueError(f"{name} must be a whole number of bars >= 1; got {shown!r} "
                         f"(valid: {spelled})")
    if whole:
        bars = int(lookback)
        if bars < 1:
            raise ValueError(f"{name} must be a whole number of bars >= 1; got {shown!r} "
                             f"(valid: {spelled})")
        if bars < minimum:
            raise ValueError(f"{name}={bars} is too short: it needs at least {minimum} bars; "
                             f"valid range: {minimum}.. bars, or a duration such as '365D'")
        return bars
    if not isinstance(lookback, str):
        raise ValueError(f"{name}={lookback!r} is not a lookback; valid: {spelled}")
    text = lookback.strip()
    number, unit = text[:-1].strip(), text[-1:]
    if unit not in _UNIT_ALIASES or not number.isdigit() or int(number) < 1:
        hint = " ('m' would be a minute; a month is 'M')" if unit == "m" else ""
        raise ValueError(f"{name}={lookback!r} is not a lookback{hint}; valid: {spelled}")
    count, unit = int(number), _UNIT_ALIASES[unit]
    if tf == "1M" and unit in ("M", "Y"):
        bars = count * (12 if unit == "Y" else 1)
    else:
        bar_days = 365.25 / 12 if tf == "1M" else _HOURS[tf] / 24
        bars = int(np.floor(count * _UNIT_DAYS[unit] / bar_days + 0.5))
    if bars < minimum:
        raise ValueError(f"{name}={lookback!r} is {bars} {tf} bar(s), shorter than the "
                         f"{minimum} it needs; valid: {spelled}")
    return bars
