"""Open-interest indicators: each venue's open interest at the bar close, and the chain-linked
aggregate across venues (no step when a venue joins or leaves)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_choice
from .._frames import iter_venues, last_valid_per_bar
from ..timeframes import bar_open_ns, normalize_timeframe


def oi_at_bar_close(open_interest: pd.DataFrame, bar_opens: pd.DatetimeIndex, timeframe: str,
                    unit: str = "btc") -> pd.DataFrame:
    """Per-venue open interest at each bar's close: the last sample inside the bar.

    Returns a wide frame indexed like ``bar_opens`` with one column per venue, in BTC
    (``unit="btc"``: price-neutral leverage) or USD (``unit="usd"``). Samples with a missing
    value in that unit are skipped, so the bar takes the last sample that has one.
    """
    check_choice("oi unit", unit, ("btc", "usd"))
    timeframe = normalize_timeframe(timeframe)  # validated even when there is no OI
    col = "oi_btc" if unit == "btc" else "oi_usd"
    bars = pd.DatetimeIndex(bar_opens, name="time")
    out = pd.DataFrame(index=bars, dtype="float64")
    if len(open_interest) == 0:
        return out
    bar_ns = bars.as_unit("ns").asi8
    step = np.diff(bar_ns)
    regular = len(bar_ns) > 1 and bool((step == step[0]).all())
    venues = list(iter_venues(open_interest))
    # (venues, bars) storage viewed as (bars, venues): each venue's column is contiguous, filled
    # in place and wrapped by the DataFrame without a copy
    table = np.full((len(venues), len(bars)), np.nan)
    names = []
    on_grid = None  # the bars are strictly increasing bar opens of ``timeframe`` (checked once)
    for venue, g in venues:
        vals = g[col].to_numpy(dtype="float64")
        missing = np.isnan(vals)
        if missing.all():
            continue
        row = table[len(names)]
        names.append(venue)
        ns = pd.DatetimeIndex(g["time"]).as_unit("ns").asi8
        if on_grid is None:
            on_grid = bool((step > 0).all()) and np.array_equal(bar_open_ns(bar_ns, timeframe),
                                                                bar_ns)
        first = int(np.searchsorted(bar_ns, ns[0])) if on_grid else 0
        if on_grid and np.array_equal(ns, bar_ns[first:first + len(ns)]):
            # every sample sits on its own bar's open, on consecutive bars: each sample is its
            # bar's close (what the general path below computes, without the arithmetic)
            row[first:first + len(ns)] = vals          # a missing value is NaN already
            continue
        labels = bar_open_ns(ns, timeframe)
        last, close = last_valid_per_bar(vals, labels)
        if missing.any():  # a bar whose samples all miss the value is not placed
            has = ~np.isnan(close)
            last, close = last[has], close[has]
        target = labels[last]
        if regular:  # fixed-length bars: the position is arithmetic
            pos = (target - bar_ns[0]) // step[0]
        else:
            pos = np.searchsorted(bar_ns, target)
        safe = np.clip(pos, 0, len(bar_ns) - 1)
        inside = (pos >= 0) & (pos < len(bar_ns)) & (bar_ns[safe] == target)
        row[pos[inside]] = close[inside]
    if not names:
        return out
    return pd.DataFrame(table[:len(names)].T, index=bars, columns=names, copy=False)


def aggregate_oi(oi: pd.DataFrame) -> pd.Series:
    r"""Chain-linked sum of open interest across venues.

    A plain sum jumps when a venue's history starts or stops — a step that is not leverage
    entering the market. The chain-linked aggregate grows from bar ``t-1`` to bar ``t`` by the
    growth of the venues present at **both** bars:

    .. math:: g_t = \frac{\sum_{v \in V_t \cap V_{t-1}} OI_{v,t}}{\sum_{v \in V_t \cap V_{t-1}} OI_{v,t-1}},
              \qquad A_t = S_T \prod_{s=t+1}^{T} g_s^{-1}

    and the level is anchored to the true sum ``S_T`` at the last bar with data, so the latest
    value is the real total. Bars with no venue are NaN and are skipped when linking; if two
    linked bars share no venue the growth is taken as 1 (no information, no step).

    Parameters
    ----------
    oi : wide DataFrame, one column per venue (e.g. from :func:`oi_at_bar_close`).
    """
    if not isinstance(oi, pd.DataFrame):
        raise ValueError(f"oi must be a wide DataFrame (one column per venue); got {type(oi).__name__}")
    columns = [np.asarray(oi.iloc[:, j], dtype="float64") for j in range(oi.shape[1])]
    out = np.full(len(oi), np.nan)
    if not columns or len(oi) == 0:
        return pd.Series(out, index=oi.index, name="oi_total")
    any_present = np.zeros(len(oi), dtype=bool)
    for col in columns:
        any_present |= ~np.isnan(col)
    rows = np.flatnonzero(any_present)
    if len(rows) == 0:
        return pd.Series(out, index=oi.index, name="oi_total")
    last = rows[-1]
    anchor = float(sum(c[last] for c in columns if not np.isnan(c[last])))
    if len(rows) < 2:
        out[rows] = anchor
        return pd.Series(out, index=oi.index, name="oi_total")
    # one venue at a time over contiguous columns: the sums of the venues present at both bars
    den = np.zeros(len(rows) - 1)
    num = np.zeros(len(rows) - 1)
    any_common = np.zeros(len(rows) - 1, dtype=bool)
    all_rows = len(rows) == len(oi)
    for col in columns:
        if not all_rows:
            col = col[rows]
        present = ~np.isnan(col)
        common = present[:-1] & present[1:]
        np.add(den, col[:-1], out=den, where=common)   # = den + where(common, col, 0.0):
        np.add(num, col[1:], out=num, where=common)    # den, num start at +0, never are -0
        any_common |= common
    ok = any_common & (den > 0) & (num > 0)
    log_growth = np.zeros(len(rows) - 1)
    np.log(num / np.where(ok, den, 1.0), out=log_growth, where=ok)
    log_level = np.concatenate([[0.0], np.cumsum(log_growth)])
    out[rows] = anchor * np.exp(log_level - log_level[-1])
    return pd.Series(out, index=oi.index, name="oi_total")
