"""The arguments of `MarketData.from_frames` that are not frames (internal): `naive_tz`,
`meta` and the quote currencies, checked by type; and the conversion of USDT/USDC closes to USD
with the data's own fx series (the close of USDT/USD as of each bar, last known value carried).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._checks import check_choice
from ._validate import QUOTES

def check_frame_args(naive_tz, meta, spot_quotes, perp_quotes) -> dict:
    """The keyword arguments of `MarketData.from_frames` that are not frames, checked by type
    (``naive_tz=123`` once shifted every time by 123 s); returns ``meta`` as a new dict."""
    import datetime as _dt

    if naive_tz is not None and not (isinstance(naive_tz, _dt.tzinfo) or (
            isinstance(naive_tz, str) and naive_tz.strip())):
        raise ValueError(f"naive_tz={naive_tz!r} is not a time zone; valid: an IANA name such "
                         f"as 'UTC' or 'Europe/Berlin', a datetime.tzinfo, or None")
    if meta is not None and not isinstance(meta, dict):
        raise ValueError(f"meta={meta!r:.80} must be a dict (or None)")
    for name, quotes in (("spot_quotes", spot_quotes), ("perp_quotes", perp_quotes)):
        if quotes is not None and not isinstance(quotes, dict):
            raise ValueError(f"{name}={quotes!r:.80} must be a dict {{venue: quote currency}} "
                             f"with quote currencies from {list(QUOTES)}, or None")
    return dict(meta or {})


def _last_known(rate: pd.Series, index: pd.DatetimeIndex) -> np.ndarray:
    """The last value of `rate` (sorted times, no missing value) at or before each time of
    `index`, NaN before its first: ``rate`` reindexed to the union of both indexes,
    forward-filled, read at `index` -- by binary search when both have one time unit."""
    if rate.index.unit != index.unit:
        return rate.reindex(rate.index.union(index)).ffill().reindex(index).to_numpy()
    pos = np.searchsorted(rate.index.asi8, index.asi8, side="right") - 1
    values = rate.to_numpy(dtype="float64")
    return np.where(pos >= 0, values[np.clip(pos, 0, None)], np.nan)


def convert_quotes(prices: pd.DataFrame, quotes, fx: pd.DataFrame, kind: str, record: dict):
    """Turn USDT/USDC closes into USD closes with the fx series (as of each bar, last known)."""
    if not quotes:
        for v in prices.columns:
            record[f"{kind}:{v}"] = "USD (as given)"
        return prices
    unknown = [v for v in quotes if v not in prices.columns]
    if unknown:
        raise ValueError(f"{kind}_quotes names venue(s) {unknown} not in {kind}; "
                         f"valid choices: {list(prices.columns)}")
    out = prices.copy(deep=False)    # copy-on-write: converted columns are replaced
    factors = {}
    for v in prices.columns:
        q = quotes.get(v, "USD")
        check_choice(f"quote currency for {kind} venue {v!r}", q, QUOTES)
        if q == "USD":
            record[f"{kind}:{v}"] = "USD (as given)"
        elif q in fx.columns and fx[q].notna().any():
            rate = fx[q].dropna()
            if q not in factors:
                factors[q] = _last_known(rate, prices.index)
            factor = factors[q]
            note = f"{q} converted to USD with the {q}/USD series"
            # closes before the first fx value are kept in their raw quote, not dropped
            early = np.isnan(factor) & prices[v].notna().to_numpy()
            if early.any():
                note += (f"; raw {q} quote kept for {int(early.sum())} bar(s) before the series "
                         f"starts ({rate.index[0]})")
            out[v] = prices[v] * np.where(np.isnan(factor), 1.0, factor)
            record[f"{kind}:{v}"] = note
        else:
            record[f"{kind}:{v}"] = f"raw {q} quote used as USD (no {q}/USD series available)"
    return out
