"""Dated futures against spot: annualised basis, term structure, constant-maturity basis.

Definitions (one row per contract and bar of `MarketData.futures`):

* **days to expiry** ``d = (expiry - bar close time) / 1 day``, in *fractional* days, from the
  close of the bar (its open time + the bar length, when the close ``F`` is known) to the
  contract's expiry.  A daily bar of 2026-12-24 (closing 2026-12-25 00:00 UTC) of a contract
  expiring 2026-12-25 08:00 UTC has ``d = 8 / 24 = 0.3333``.
* **basis** ``(F - S) / S`` (a fraction), with ``F`` the future's close and ``S`` the spot
  price of the same bar: the mean close of the chosen spot venues (`S_t` of the flow metrics).
* **annualised basis** ``(F - S) / S x 365 / d`` (a fraction per year; x 100 for %): the simple
  (not compounded) yield of buying spot and selling the future, as Deribit, Laevitas and
  Velo show it.  Example: ``F = 101 000``, ``S = 100 000``, ``d = 36.5`` gives 0.01 x 10 =
  10 % a year.
* The last bar may be **open** (its period had not ended at fetch time): its close is the
  latest price, so its ``d`` (from the bar's nominal close) and annualised basis are
  provisional, as everything computed on an open bar.
* Bars whose close is at or after expiry (``d <= 0``: the bar straddles the expiry) have no
  annualised basis: they are excluded and counted in ``attrs["notes"]``.  Bars without a spot
  price are kept with NaN.
* **term structure** at a time: the annualised basis of every contract at the last bar at or
  before it, ordered by expiry (`term_structure`).
* **constant-maturity basis** (default 90 days), per venue and bar: linear interpolation *in
  days to expiry* between the two contracts that bracket the maturity -- the longest ``d_lo <=
  90`` and the shortest ``d_hi >= 90``: ``b = b_lo + (b_hi - b_lo) x (90 - d_lo) / (d_hi -
  d_lo)`` (a contract with exactly ``d = 90`` gives its own basis).  **No extrapolation**: when
  no contract lies on one side of 90 days the value is NaN, counted in ``attrs["notes"]``.
  Flat extrapolation would pass off the nearest contract's basis -- which converges to 0 as it
  expires -- as the 90-day rate, precisely the roll artefact a constant maturity removes.

Reference: Hull, *Options, Futures, and Other Derivatives*, ch. 5 (cost of carry); the
constant-maturity convention is that of the US Treasury's CMT curve (linear in maturity).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .marketdata import MarketData
from .timeframes import bar_ms, normalize_timeframe, to_timestamp

DAY = pd.Timedelta(days=1)
BASIS_COLUMNS = ("venue", "symbol", "expiry", "time", "close_time", "future", "spot",
                 "days_to_expiry", "basis", "annualized")


def spot_price(md: MarketData, spot=None) -> pd.Series:
    """``S_t``: the mean close of the spot venues `spot` (None: all; a name or a list) at each
    bar.  Raises ValueError naming an unknown venue and the valid ones."""
    valid = list(md.spot.columns)
    chosen = valid if spot is None else [spot] if isinstance(spot, str) else list(spot)
    unknown = [v for v in chosen if v not in valid]
    if unknown or not chosen:
        raise ValueError(f"spot venue(s) {unknown or chosen!r} not in the data; valid: {valid}")
    return md.spot[chosen].mean(axis=1, skipna=True)


def annualized_basis(md: MarketData, *, spot=None, venues=None, expiry=None,
                     timeframe: str | None = None) -> pd.DataFrame:
    """The annualised basis of every dated-future bar of ``md.futures`` (see the module
    docstring), a long frame with columns `BASIS_COLUMNS` (``basis`` and ``annualized`` are
    fractions; ``days_to_expiry`` fractional days from the bar's close).

    spot: spot venue(s) for ``S`` (None: the mean of all).  venues: futures venue keys (None:
    all).  expiry: only the contracts expiring on that date or at that time (a date string,
    Timestamp or epoch ms); it must not be in the past -- before the last bar's close -- and
    must be an expiry in the data.  timeframe: the bars' length (default: the data's
    resolution; ``1h, 4h, 1D, 3D, 1W``).
    Raises ValueError naming the bad value and the valid choices.
    """
    fut = md.futures
    known = sorted(pd.unique(fut["venue"]))
    if venues is not None:
        venues = [venues] if isinstance(venues, str) else list(venues)
        unknown = [v for v in venues if v not in known]
        if unknown:
            raise ValueError(f"futures venue(s) {unknown!r} not in the data; valid: {known}")
        fut = fut[fut["venue"].isin(venues)]
    tf = normalize_timeframe(timeframe or md.resolution or "1D")
    step = pd.Timedelta(milliseconds=bar_ms(tf))
    if expiry is not None:
        fut = _one_expiry(fut, expiry, step)
    s = spot_price(md, spot)
    close_time = fut["time"] + step
    days = ((fut["expiry"] - close_time) / DAY).to_numpy(dtype="float64")
    spot_at = s.reindex(pd.DatetimeIndex(fut["time"])).to_numpy(dtype="float64")
    future = fut["close"].to_numpy(dtype="float64")
    basis = (future - spot_at) / spot_at
    out = pd.DataFrame({"venue": fut["venue"].to_numpy(), "symbol": fut["symbol"].to_numpy(),
                        "expiry": fut["expiry"].to_numpy(), "time": fut["time"].to_numpy(),
                        "close_time": close_time.to_numpy(), "future": future,
                        "spot": spot_at, "days_to_expiry": days, "basis": basis})
    with np.errstate(divide="ignore", invalid="ignore"):
        out["annualized"] = basis * 365.0 / days
    notes = []
    expired = days <= 0
    if expired.any():
        notes.append(f"{int(expired.sum())} bar(s) closing at or after their contract's expiry "
                     f"excluded (no days left to annualise over)")
        out = out[~expired].reset_index(drop=True)
    if out["spot"].isna().any():
        notes.append(f"{int(out['spot'].isna().sum())} bar(s) without a spot price: basis NaN")
    out.attrs["notes"] = notes
    out.attrs["timeframe"] = tf
    return out


def _one_expiry(fut: pd.DataFrame, expiry, step) -> pd.DataFrame:
    """Rows of the contracts expiring at `expiry` (a date matches every time on that day)."""
    when = to_timestamp(expiry, "expiry")
    listed = sorted(pd.unique(fut["expiry"]))
    last_close = fut["time"].max() + step if len(fut) else None
    shown = [str(pd.Timestamp(e)) for e in listed if last_close is None or e > last_close]
    day_only = when == when.normalize()
    past = last_close is not None and (when.normalize() < last_close.normalize() if day_only
                                       else when <= last_close)
    if past:
        raise ValueError(f"expiry {str(when)!r} is in the past (the data's last bar closes "
                         f"{last_close}); valid expiries: {shown}")
    match = (fut["expiry"].dt.normalize() == when) if day_only else (fut["expiry"] == when)
    if not match.any():
        raise ValueError(f"no contract expires at {str(when)!r}; valid expiries: {shown}")
    return fut[match]


def term_structure(basis: pd.DataFrame, at=None) -> pd.DataFrame:
    """The annualised basis by expiry at one bar: the last bar at or before `at` (None: the
    last bar, i.e. now), one row per contract trading then, ordered by venue and expiry.
    Columns: venue, symbol, expiry, time, days_to_expiry, basis, annualized.  Raises
    ValueError when `at` is before the first bar (naming the range)."""
    cols = ["venue", "symbol", "expiry", "time", "days_to_expiry", "basis", "annualized"]
    if len(basis) == 0:
        return pd.DataFrame(columns=cols)
    times = pd.DatetimeIndex(basis["time"])
    if at is None:
        bar = times.max()
    else:
        when = to_timestamp(at, "at")
        before = times[times <= when]
        if len(before) == 0:
            raise ValueError(f"at={str(when)!r} is before the first bar; valid: "
                             f"{times.min()} .. {times.max()} (or None for the last bar)")
        bar = before.max()
    rows = basis[basis["time"] == bar]
    return rows[cols].sort_values(["venue", "expiry"]).reset_index(drop=True)


def constant_maturity(basis: pd.DataFrame, days: float = 90.0) -> pd.DataFrame:
    """The constant-maturity annualised basis at `days` to expiry, per venue and bar (a wide
    frame: index bar open time, one column per venue), by linear interpolation in days to
    expiry between the two contracts bracketing `days` (module docstring); NaN where none
    brackets it (no extrapolation), counted in ``attrs["notes"]``."""
    if not (isinstance(days, (int, float)) and np.isfinite(days) and days > 0):
        raise ValueError(f"days={days!r} is not valid; valid: a number of days > 0, e.g. 90")
    columns, notes = {}, []
    for venue, rows in basis.groupby("venue", sort=True):
        d = rows.pivot_table(index="time", columns="symbol", values="days_to_expiry")
        b = rows.pivot_table(index="time", columns="symbol", values="annualized",
                             dropna=False).reindex(index=d.index, columns=d.columns)
        columns[venue] = pd.Series(_interpolate(d.to_numpy(), b.to_numpy(), float(days)),
                                   index=d.index)
        missing = int(np.isnan(columns[venue].to_numpy()).sum())
        if missing:
            notes.append(f"{venue}: {missing} bar(s) without contracts on both sides of "
                         f"{days:g} days: NaN (no extrapolation)")
    out = pd.DataFrame(columns) if columns else pd.DataFrame(index=pd.DatetimeIndex([]))
    out.index.name = "time"
    out.attrs["notes"] = notes
    out.attrs["days"] = float(days)
    return out


def _interpolate(d: np.ndarray, b: np.ndarray, target: float) -> np.ndarray:
    """Row-wise linear interpolation of `b` at ``d = target`` between the largest ``d <=
    target`` and the smallest ``d >= target`` (NaN d or b: the contract is absent)."""
    present = ~np.isnan(d) & ~np.isnan(b)
    low = np.where(present & (d <= target), d, -np.inf)
    high = np.where(present & (d >= target), d, np.inf)
    i_lo, i_hi = np.argmax(low, axis=1), np.argmin(high, axis=1)
    rows = np.arange(len(d))
    d_lo, d_hi = low[rows, i_lo], high[rows, i_hi]
    b_lo, b_hi = b[rows, i_lo], b[rows, i_hi]
    ok = np.isfinite(d_lo) & np.isfinite(d_hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(d_hi > d_lo, (target - d_lo) / (d_hi - d_lo), 0.0)
        out = b_lo + (b_hi - b_lo) * weight
    return np.where(ok, out, np.nan)
