"""Validation of `MarketData.futures`, the long frame of dated (expiring) futures' bars.

Columns ``venue, symbol, expiry, time, close`` (and optionally ``source``, as the other long
frames): ``venue`` the venue key ("deribit"), ``symbol`` the contract (ccxt's unified symbol,
"BTC/USD:BTC-260327"), ``expiry`` its expiry (UTC), ``time`` the bar's open time (UTC),
``close`` the bar close in USD.  One (venue, symbol) has one expiry.

A bar that opens at or after its contract's expiry cannot exist (the contract had stopped
trading): such bars are excluded and counted in the returned note, never silently.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._validate import SOURCE_COLUMN, _as_times, _to_utc, source_rank

FUTURES_COLUMNS = ("venue", "symbol", "expiry", "time", "close")


def _show(value) -> str:
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return repr(value)


def empty_futures() -> pd.DataFrame:
    return pd.DataFrame({"venue": pd.Series(dtype="object"),
                         "symbol": pd.Series(dtype="object"),
                         "expiry": pd.Series(pd.DatetimeIndex([], tz="UTC")),
                         "time": pd.Series(pd.DatetimeIndex([], tz="UTC")),
                         "close": pd.Series(dtype="float64")})


def validate_futures(frame, naive_tz=None):
    """(validated frame sorted by venue, expiry, symbol, time; a note or None).

    Raises ValueError naming the column and the bad value: a missing or unexpected column,
    an empty venue or symbol, a close that is not a finite price > 0, one contract with two
    expiries, bars out of time order, or two different closes for one bar."""
    if frame is None:
        return empty_futures(), None
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"futures must be a pandas DataFrame; got {type(frame).__name__}")
    missing = [c for c in FUTURES_COLUMNS if c not in frame.columns]
    extra = [c for c in frame.columns if c not in FUTURES_COLUMNS and c != SOURCE_COLUMN]
    if missing or extra:
        raise ValueError(f"futures has missing column(s) {missing} / unexpected column(s) "
                         f"{extra}; valid columns: {', '.join(FUTURES_COLUMNS)} (and optionally "
                         f"{SOURCE_COLUMN!r})")
    if len(frame) == 0:
        return empty_futures(), None
    out = pd.DataFrame(index=range(len(frame)))
    for col in ("venue", "symbol"):
        values = frame[col].to_numpy(dtype=object)
        bad = [v for v in values if not isinstance(v, str) or not v]
        if bad:
            raise ValueError(f"futures column {col!r} has {bad[0]!r}; it must be a non-empty "
                             f"string (venue key / contract symbol)")
        out[col] = values
    for col in ("expiry", "time"):
        idx = _to_utc(_as_times(frame[col], f"futures column {col!r}"),
                      f"futures column {col!r}", naive_tz)
        if idx.hasnans:
            raise ValueError(f"futures column {col!r} contains NaT")
        out[col] = idx
    close = pd.to_numeric(frame["close"], errors="coerce").to_numpy(dtype="float64")
    bad = ~(np.isfinite(close) & (close > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"futures column 'close' has {_show(frame['close'].iloc[i])} at "
                         f"{out['time'].iloc[i]} ({out['symbol'].iloc[i]}); valid: a finite "
                         f"price > 0 in USD")
    out["close"] = close
    if SOURCE_COLUMN in frame.columns:
        labels = frame[SOURCE_COLUMN].astype(object).to_numpy()
        for label in pd.unique(labels):
            source_rank(label)
        out[SOURCE_COLUMN] = labels
    expiries = out.groupby(["venue", "symbol"])["expiry"].nunique()
    if (expiries > 1).any():
        venue, symbol = expiries[expiries > 1].index[0]
        raise ValueError(f"futures contract {symbol!r} at {venue!r} has more than one expiry; "
                         f"one contract has one expiry")
    for (venue, symbol), rows in out.groupby(["venue", "symbol"], sort=False)["time"]:
        if not rows.is_monotonic_increasing:
            raise ValueError(f"futures for {venue!r} {symbol!r} are not in time order; sort by "
                             f"['venue', 'symbol', 'time'] first")
    dup = out.duplicated(["venue", "symbol", "time"], keep=False)
    if dup.any():
        same = out.duplicated(["venue", "symbol", "time", "close"], keep=False)
        if (dup & ~same).any():
            i = int(np.argmax((dup & ~same).to_numpy()))
            raise ValueError(f"futures has two different closes for {out['symbol'].iloc[i]!r} "
                             f"({out['venue'].iloc[i]}) at {out['time'].iloc[i]}; keep one")
        out = out.drop_duplicates(["venue", "symbol", "time"], keep="first")
    expired = (out["time"] >= out["expiry"]).to_numpy()
    note = None
    if expired.any():
        names = sorted(set(out.loc[expired, "symbol"]))
        note = (f"futures: {int(expired.sum())} bar(s) opening at or after their contract's "
                f"expiry excluded ({', '.join(names[:5])})")
        out = out[~expired]
    out = out.sort_values(["venue", "expiry", "symbol", "time"], kind="stable")
    return out.reset_index(drop=True), note


def futures_coverage(frame: pd.DataFrame) -> list:
    """`MarketData.coverage` rows of the dated futures: one per contract, ``("futures",
    "<venue> <symbol>", first bar, last bar, rows, gaps)`` -- gaps: spacings longer than 1.5 x
    the contract's median spacing, as for funding and OI."""
    rows = []
    if len(frame) == 0:
        return rows
    for (venue, symbol), g in frame.groupby(["venue", "symbol"], sort=False):
        t = pd.DatetimeIndex(g["time"]).as_unit("ns").asi8
        d = np.diff(t)
        gaps = int(np.sum(d > 1.5 * np.median(d))) if len(d) else 0
        rows.append(("futures", f"{venue} {symbol}", g["time"].iloc[0], g["time"].iloc[-1],
                     len(g), gaps))
    return rows
