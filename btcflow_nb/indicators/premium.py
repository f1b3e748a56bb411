"""Premium indicators: the cross-venue price basket and the spot premium over futures, in USD and
in percent."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._kernel import _series


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
