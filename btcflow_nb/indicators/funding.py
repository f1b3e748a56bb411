"""Funding indicators: per-interval rates annualised, each venue's time-weighted funding over a bar
(from the settlement events, whatever their interval), and the composite across venues."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_range
from .._frames import iter_venues
from .premium import basket

HOURS_PER_YEAR = 24 * 365


def annualize_funding(rate, interval_hours):
    r"""Funding paid per interval -> simple yearly fraction (APR, not compounded).

    .. math:: \mathrm{APR} = \frac{r}{h} \times 24 \times 365

    >>> round(annualize_funding(0.0001, 8), 6)   # 0.01 % per 8 h
    0.1095
    >>> round(annualize_funding(0.0000125, 1), 6)   # 0.00125 % per hour: the same APR
    0.1095
    """
    h = np.asarray(interval_hours, dtype="float64")
    if np.any(~(h > 0)):
        raise ValueError(f"interval_hours must be > 0; got {interval_hours!r}")
    return rate / interval_hours * HOURS_PER_YEAR


def _hours_since_epoch(times) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").asi8.astype("float64") / 3.6e12


def _funding_integrals(events: pd.DataFrame):
    """Per venue: breakpoints and the cumulative integrals of (per-hour rate) and (coverage).

    Each event settled at ``T`` with interval ``h`` pays ``rate`` for ``(T - h, T]``, i.e. a
    per-hour rate ``rate / h`` over that span. Where an event's span would overlap the previous
    event of the same venue (an interval change, or a stray extra settlement), it starts at the
    previous settlement instead, so every hour is counted once.
    """
    out = {}
    for venue, g in iter_venues(events):
        end = _hours_since_epoch(g["time"])
        h = g["interval_hours"].to_numpy(dtype="float64")
        per_hour = g["rate"].to_numpy(dtype="float64") / h
        start = end - h
        if len(end) > 1:
            start[1:] = np.maximum(start[1:], end[:-1])
        dur = end - start
        # piecewise-linear cumulative functions; x strictly ordered: s0 <= e0 <= s1 <= e1 ...
        x = np.empty(2 * len(end))
        x[0::2], x[1::2] = start, end
        cum_paid = np.concatenate([[0.0], np.cumsum(per_hour * dur)])
        cum_cov = np.concatenate([[0.0], np.cumsum(dur)])
        paid = np.empty_like(x)
        cov = np.empty_like(x)
        paid[0::2], paid[1::2] = cum_paid[:-1], cum_paid[1:]
        cov[0::2], cov[1::2] = cum_cov[:-1], cum_cov[1:]
        out[venue] = (x, paid, cov, start, end, per_hour)
    return out


def _count_at_or_below(values: np.ndarray, edges: np.ndarray, step: float) -> np.ndarray:
    """``#values <= edges[i]`` for every edge of a regular grid (``edges[i] = edges[0] + i*step``).

    Same result as ``np.searchsorted(values, edges, side="right")`` for sorted ``values``, in
    O(len(values) + len(edges)): value ``v`` is counted from edge ``ceil((v - e0) / step)`` on.
    """
    k = np.ceil((values - edges[0]) / step)
    k = np.clip(k, 0, len(edges)).astype(np.int64)
    return np.cumsum(np.bincount(k, minlength=len(edges) + 1))[: len(edges)]


def _count_below(values: np.ndarray, edges: np.ndarray, step: float) -> np.ndarray:
    """``#values < edges[i]`` on a regular grid (``np.searchsorted(values, edges, "left")``)."""
    k = np.floor((values - edges[0]) / step) + 1
    k = np.clip(k, 0, len(edges)).astype(np.int64)
    return np.cumsum(np.bincount(k, minlength=len(edges) + 1))[: len(edges)]


def funding_twap(funding: pd.DataFrame, bar_opens: pd.DatetimeIndex, bar_closes: pd.DatetimeIndex,
                 min_coverage: float = 0.0) -> pd.DataFrame:
    r"""Time-weighted average *per-hour* funding rate of each venue over each bar.

    Every event is first turned into a per-hour rate ``rate / interval_hours`` covering
    ``(time - interval, time]``. For a bar ``[open, close)`` the TWAP is

    .. math:: \mathrm{TWAP} = \frac{\int_{bar} r(t)\,dt}{\text{hours of the bar covered by events}}

    so an 8-hour venue, a 4-hour venue and a 1-hour venue paying the same per-hour rate have the
    same TWAP, and a weekly TWAP equals the TWAP of the week's events — not a mean of daily means.

    Parameters
    ----------
    funding : long frame ``venue, time, rate, interval_hours`` (see :class:`MarketData`)
    bar_opens, bar_closes : DatetimeIndex (UTC) of each bar's start and end
    min_coverage : fraction of the bar that must be covered by events (0 = any overlap)

    Returns
    -------
    DataFrame indexed like ``bar_opens``, one column per venue: fraction per hour
    (multiply by 8 for "per 8 h", by 8760 for APR). NaN where a bar has no event coverage.
    """
    check_range("min_coverage", min_coverage, 0, 1)
    bo = _hours_since_epoch(bar_opens)
    bc = _hours_since_epoch(bar_closes)
    contiguous = len(bo) > 0 and np.array_equal(bo[1:], bc[:-1])
    edges = np.append(bo, bc[-1]) if contiguous else None
    widths = bc - bo
    regular = contiguous and bool((widths == widths[0]).all())
    step = float(widths[0]) if regular else None
    need = np.maximum(min_coverage * widths, 1e-9)
    integrals = _funding_integrals(funding)
    # (venues, bars) storage viewed as (bars, venues): each venue's column is contiguous and
    # the DataFrame wraps it without a copy
    table = np.empty((len(integrals), len(bo))).T
    # per-bar work arrays shared by the venues (fresh 8 MB arrays per venue and step cost a
    # page fault per 4 KiB); every value is computed by the same operations as before
    d_cov = np.empty(len(bo))
    covered, single_rate = np.empty(len(bo), dtype=bool), np.empty(len(bo), dtype=bool)
    lo, hi = np.empty(len(bo), dtype=np.int64), np.empty(len(bo), dtype=np.int64)
    for j, (venue, (x, paid, cov, start, end, per_hour)) in enumerate(integrals.items()):
        if contiguous:  # consecutive bars share edges: evaluate each integral once per edge
            at_edges = np.interp(edges, x, cov)
            np.subtract(at_edges[1:], at_edges[:-1], out=d_cov)     # np.diff
        else:
            np.subtract(np.interp(bc, x, cov), np.interp(bo, x, cov), out=d_cov)
        np.greater_equal(d_cov, need, out=covered)
        # A bar whose covering events all pay the same per-hour rate has exactly that TWAP.
        # Differences of running integrals carry ~1e-13 relative rounding noise, and a z-score
        # of noise is anything from -7 to 7: a venue stuck at 0.01 % per 8 h must give a
        # constant series (zero variance -> NaN z), not fake extremes.
        if regular:  # fixed-length bars: counts from arithmetic bins, linear time
            first = _count_at_or_below(end, edges, step)[:-1]  # first event ending after open
            stop = _count_below(start, edges, step)[1:]  # first event starting at/after close
        else:
            first = np.searchsorted(end, bo, side="right")
            stop = np.searchsorted(start, bc, side="left")
        run = np.empty(len(per_hour), dtype=np.int64)  # id of each run of equal rates
        run[0] = 0
        np.cumsum(per_hour[1:] != per_hour[:-1], out=run[1:])
        last_event = len(per_hour) - 1
        np.minimum(first, last_event, out=lo)
        np.subtract(stop, 1, out=hi)
        np.clip(hi, 0, last_event, out=hi)
        np.greater(stop, first, out=single_rate)
        single_rate &= run[lo] == run[hi]
        single_rate &= covered
        twap = table[:, j]
        np.take(per_hour, lo, out=twap)
        np.copyto(twap, np.nan, where=~single_rate)  # NaN where the bar has no event coverage
        # the integral of the rate only where it is needed: covered bars with several rates
        several = np.flatnonzero(covered & ~single_rate)
        if len(several):
            if contiguous:
                d_paid = np.interp(edges[several + 1], x, paid) - np.interp(edges[several], x, paid)
            else:
                d_paid = np.interp(bc[several], x, paid) - np.interp(bo[several], x, paid)
            with np.errstate(invalid="ignore", divide="ignore"):
                twap[several] = d_paid / d_cov[several]
    return pd.DataFrame(table, index=pd.DatetimeIndex(bar_opens, name="time"),
                        columns=list(integrals), copy=False)


def composite_funding(twap: pd.DataFrame, weights: pd.DataFrame | None = None) -> pd.Series:
    """Composite funding across venues: the mean of the venues' bar TWAPs.

    Equal weights by default; with ``weights`` (e.g. each venue's OI in USD at the bar) the
    weighted mean over venues that have both a TWAP and a positive weight. Units are those of
    ``twap`` (fraction per hour from :func:`funding_twap`).
    """
    return basket(twap, weights)


def funding_spend(twap: pd.DataFrame, oi_usd: pd.DataFrame) -> pd.DataFrame:
    r"""Funding spend: the dollars longs pay shorts per day, per venue.

    .. math:: \mathrm{spend}_{v,t} = r_{v,t} \times 24 \times OI^{\$}_{v,t}

    with :math:`r_{v,t}` the venue's funding TWAP over the bar as a fraction **per hour**
    (:func:`funding_twap`: each event's ``rate / interval_hours``, so 8 h, 4 h and 1 h venues
    are on one scale; ``× 24`` makes it per day) and :math:`OI^{\$}_{v,t}` its open interest in
    USD at the bar close. Positive: longs pay shorts; negative: shorts pay longs.
    0.01 % per 8 h on 1 bn USD of OI is ``0.0001 / 8 × 24 × 1e9 = 300 000`` USD per day.

    ``twap`` and ``oi_usd`` are wide (one column per venue, same bars); a venue missing from
    either, or a bar where either is NaN, gives NaN (never 0). Columns: the union, sorted as
    ``twap`` then the rest.

    >>> twap = pd.DataFrame({"a": [0.0001 / 8]})
    >>> funding_spend(twap, pd.DataFrame({"a": [1e9]}))["a"].round(6).tolist()
    [300000.0]
    """
    cols = list(twap.columns) + [c for c in oi_usd.columns if c not in twap.columns]
    rate = twap.reindex(columns=cols)
    oi = oi_usd.reindex(index=twap.index, columns=cols)
    return rate * 24.0 * oi
