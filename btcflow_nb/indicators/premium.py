"""Premium indicators: the cross-venue price basket (with short venue gaps carried), and the spot
premium over futures, in USD and in percent."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._kernel import _series

#: Default of :func:`carry_gaps`: a venue missing for up to this many base bars is carried.
MAX_GAP = 3


def basket(prices: pd.DataFrame, weights: pd.DataFrame | None = None) -> pd.Series:
    """Mean close across venues at each bar, over the venues that have a close.

    With ``weights`` (same shape, e.g. each venue's OI in USD), the weighted mean over venues that
    have both a close and a positive weight; bars with no such venue are NaN.
    """
    if not isinstance(prices, pd.DataFrame):
        raise ValueError(f"prices must be a wide DataFrame (one column per venue); "
                         f"got {type(prices).__name__}")
    if prices.shape[1] == 0:
        return pd.Series(np.nan, index=prices.index)
    if weights is None:
        return prices.mean(axis=1, skipna=True)
    w = weights.reindex(index=prices.index, columns=prices.columns)
    w = w.where(prices.notna() & (w > 0))
    total = w.sum(axis=1, min_count=1)
    return (prices * w).sum(axis=1, min_count=1) / total


def carry_gaps(prices: pd.DataFrame, max_gap: int = MAX_GAP) -> pd.DataFrame:
    r"""Fill each venue's short gaps with its last close *moved with the other venues*.

    A basket that simply leaves a missing venue out moves by that venue's offset to the others
    (Kraken trading 0.3 % below the rest makes the basket jump 0.1 % on the day Kraken's close
    is missing), and a premium alert fires on a data hole. Here a venue missing at base bar
    ``t`` whose last close was at ``t0`` with ``t - t0 <= max_gap`` is carried as

    .. math:: \hat p_{v,t} = p_{v,t_0}\,\exp(R_t - R_{t_0}), \qquad
              R_t - R_{t-1} = \operatorname{mean}_{u \in C_t}\bigl(\ln p_{u,t} - \ln p_{u,t-1}\bigr)

    where :math:`C_t` are the venues with a real close at both ``t - 1`` and ``t`` (no common
    venue: no move). So its log offset to the other venues is held at its last known value.
    Longer gaps are not filled beyond ``max_gap`` bars (the venue then drops out of the
    basket), and nothing is filled before a venue's first close. The rule only looks back:
    a value at ``t`` never depends on later bars.

    Parameters
    ----------
    prices : wide frame at the data's own resolution, one column per venue (rows = base bars).
    max_gap : base bars a venue may be carried, ``0`` = never (the plain basket).

    Returns the filled frame (real closes are untouched, bit for bit).

    >>> p = pd.DataFrame({"a": [100.0, 110.0, 121.0], "b": [200.0, np.nan, 242.0]})
    >>> carry_gaps(p)["b"].round(6).tolist()    # b is carried with a's +10 %
    [200.0, 220.0, 242.0]
    """
    if not isinstance(prices, pd.DataFrame):
        raise ValueError(f"prices must be a wide DataFrame (one column per venue); "
                         f"got {type(prices).__name__}")
    if isinstance(max_gap, (bool, np.bool_)) or not isinstance(max_gap, (int, np.integer)) \
            or max_gap < 0:
        raise ValueError(f"max_gap={max_gap!r} is not a gap limit; valid: a whole number of base "
                         f"bars >= 0 (0 = never carry a venue), default {MAX_GAP}")
    n = len(prices)
    if max_gap == 0 or n < 2 or prices.shape[1] < 2:
        return prices
    x = prices.to_numpy(dtype="float64")
    fills = []           # per column: (column, rows to fill, the row of the close each carries)
    for j in range(x.shape[1]):
        miss = np.flatnonzero(np.isnan(x[:, j]))
        if len(miss) == 0:
            continue
        run_start = np.ones(len(miss), dtype=bool)
        run_start[1:] = np.diff(miss) != 1
        first = miss[np.maximum.accumulate(np.where(run_start, np.arange(len(miss)), 0))]
        src = first - 1                              # the last close before the gap
        keep = (src >= 0) & (miss - src <= max_gap)
        if keep.any():
            fills.append((j, miss[keep], src[keep]))
    if not fills:
        return prices
    # the move of the other venues, needed only at the filled rows: mean log change from the
    # row before over the venues with a close at both
    rows = np.unique(np.concatenate([r for _, r, _ in fills]))
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.log(x[rows]) - np.log(x[rows - 1])
    common = ~np.isnan(step)
    step[~common] = 0.0
    move = step.sum(axis=1) / np.maximum(common.sum(axis=1), 1)   # no common venue: no move
    out = x.copy()
    for j, r, src in fills:
        mv = move[np.searchsorted(rows, r)]
        total = np.cumsum(mv)
        starts = np.maximum.accumulate(np.where(r == src + 1, np.arange(len(r)), 0))
        since_close = total - total[starts] + mv[starts]   # sum of moves over (src, r]
        out[r, j] = x[src, j] * np.exp(since_close)
    return pd.DataFrame(out, index=prices.index, columns=prices.columns)


def basket_count(prices: pd.DataFrame, weights: pd.DataFrame | None = None) -> pd.Series:
    """How many venues enter :func:`basket` at each bar: those with a close (and, with
    ``weights``, a positive weight)."""
    present = ~np.isnan(prices.to_numpy(dtype="float64"))
    if weights is not None:
        w = weights.reindex(index=prices.index, columns=prices.columns).to_numpy(dtype="float64")
        with np.errstate(invalid="ignore"):
            present &= w > 0
    return pd.Series(np.count_nonzero(present, axis=1).astype("int64"), index=prices.index)


def _aligned(a, b, name_a: str, name_b: str) -> tuple[pd.Series, pd.Series]:
    """Two Series are aligned on their index (pandas rules); an array takes the other's index
    (same length required), so ``premium_pct(series, array)`` compares bar by bar."""
    sa, sb = _series(a, name_a), _series(b, name_b)
    a_series, b_series = isinstance(a, pd.Series), isinstance(b, pd.Series)
    if not a_series and not b_series and len(sa) != len(sb):
        raise ValueError(f"{name_a} and {name_b} must have the same length; "
                         f"got {len(sa)} and {len(sb)}")
    if a_series != b_series:
        if len(sa) != len(sb):
            raise ValueError(f"{name_a} and {name_b} must have the same length; "
                             f"got {len(sa)} and {len(sb)}")
        if a_series:
            sb = pd.Series(sb.to_numpy(), index=sa.index)
        else:
            sa = pd.Series(sa.to_numpy(), index=sb.index)
    return sa, sb


def premium_abs(spot, futures) -> pd.Series:
    """Absolute spot premium in USD: ``S_t - F_t``.

    Positive: spot is bid above futures (spot-led); negative: futures trade rich.
    """
    s, f = _aligned(spot, futures, "spot", "futures")
    return s - f


def premium_pct(spot, perp) -> pd.Series:
    """Spot premium in percent of the perp basket: ``(S_t - P_t) / P_t × 100``.

    Positive: spot trades rich (spot-led, perps at a discount). Negative: futures premium.
    """
    s, p = _aligned(spot, perp, "spot", "perp")
    return (s - p) / p * 100.0
