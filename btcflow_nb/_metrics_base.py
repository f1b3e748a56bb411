"""The parameter-free part of :func:`~btcflow_nb.flow_metrics` (internal): baskets built at the
data's own resolution and then re-barred, chain-linked OI and the composite funding TWAP per bar.

Baskets first, bars second
--------------------------
A bar's basket is the basket at the bar's **last base bar** (the data's own resolution, e.g. the
Sunday of a week of daily closes), never a mean of each venue's last close in the bar: a venue
whose last close in the week was on Thursday would otherwise bring a three-day-old price into
Sunday's basket (the demo's week of 2019-02-25 showed a -0.65 % premium that way, while no day of
the week was below -0.25 %). At the base resolution a venue missing for at most ``max_gap`` base
bars is carried with the other venues (:func:`~btcflow_nb.indicators.carry_gaps`); after that it
leaves the basket. The re-barred value is the basket's last value in the bar (the last base bar
where it has one), and the venue counts are those of that same base bar.

OI coverage
-----------
The chain-linked OI aggregate hides how many venues stand behind it (a venue joining makes no
step, by design). :func:`oi_coverage` says it per bar: ``oi_venues``, the venues with an OI
sample in the bar, and ``oi_coverage``, their share of the latest total OI in the chosen unit,
``sum(L_v for v present at t) / sum(L_v for every venue)`` with ``L_v`` each venue's latest OI
(its value at its last bar with a sample). 1.0: every venue of the aggregate is there; 0.3: the
bar's z-score rests on venues holding 30 % of today's OI (e.g. a year when only one venue
served OI history). NaN where no venue has OI.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._frames import last_valid_per_bar
from .indicators import (
    aggregate_oi,
    basket,
    basket_count,
    carry_gaps,
    composite_funding,
    funding_twap,
    oi_at_bar_close,
    premium_abs,
    premium_pct,
)
from .legs import leg_closes
from .marketdata import MarketData
from .timeframes import bar_open, bar_open_ns, bar_range, next_bar_open

#: Columns of the base-resolution price rows, in the order they are re-barred together.
_PRICE_COLUMNS = ("spot", "perp_basket", "futures", "premium_abs", "premium_pct",
                  "spot_venues", "perp_venues")


def base_series(md: MarketData, tf: str, sv: tuple, pv: tuple, futures, weighting: str,
                oi_unit: str, max_gap: int) -> pd.DataFrame:
    """Prices, premium, venue counts, chain-linked OI and the composite funding TWAP (fraction
    per hour) for one timeframe and venue selection, memoised on ``md``: they do not depend on
    lookbacks or thresholds, so moving a slider only recomputes z-scores, bands and signals.
    ``futures``: ``"basket"``, one perp venue, or a ``(spot Leg, futures Leg)`` pair
    (:mod:`btcflow_nb.legs`)."""
    return md.memo(("base", tf, sv, pv, futures, weighting, oi_unit, max_gap),
                   lambda: _compute_base(md, tf, sv, pv, futures, weighting, oi_unit, max_gap))


def _select(md: MarketData, sv: tuple, pv: tuple) -> MarketData:
    return md.select(list(sv) or None, list(pv) or None)  # no venues in a field: all (none)


def base_prices(md: MarketData, sv: tuple, pv: tuple, futures: str, weighting: str,
                max_gap: int) -> pd.DataFrame:
    """Baskets, futures price, premiums and venue counts at the data's own resolution (one row
    per base bar), memoised on ``md`` (a timeframe switch re-bars them without recomputing)."""
    return md.memo(("prices", sv, pv, futures, weighting, max_gap),
                   lambda: _compute_prices(md, sv, pv, futures, weighting, max_gap))


def _compute_prices(md, sv, pv, futures, weighting, max_gap) -> pd.DataFrame:
    sel = _select(md, sv, pv)
    spot, perp = sel.spot, sel.perp
    idx = spot.index if spot.index.equals(perp.index) else spot.index.union(perp.index)
    idx = pd.DatetimeIndex(idx, name="time")
    if not spot.index.equals(idx):
        spot = spot.reindex(idx)
    if not perp.index.equals(idx):
        perp = perp.reindex(idx)
    spot_f = carry_gaps(spot, max_gap)
    perp_f = carry_gaps(perp, max_gap)
    weights = None
    if weighting == "oi":
        weights = oi_at_bar_close(sel.open_interest, idx, md.resolution or "1h", "usd")
    s = basket(spot_f)
    p = basket(perp_f, weights)
    spot_count = basket_count(spot_f)
    if isinstance(futures, tuple):   # (spot leg, futures leg): the premium between any two legs
        s, spot_count, fut = _leg_prices(md, futures, s, spot_count, p, idx, sv, pv, max_gap)
        pct = premium_pct(s, fut)
    else:
        fut = p if futures == "basket" else perp_f[futures]
        pct = premium_pct(s, p)
    return pd.DataFrame({
        "spot": s, "perp_basket": p, "futures": fut,
        "premium_abs": premium_abs(s, fut), "premium_pct": pct,
        "spot_venues": spot_count, "perp_venues": basket_count(perp_f, weights),
    }, index=idx)


def _leg_prices(md, legs, s, spot_count, p, idx, sv, pv, max_gap):
    """(spot price, its venue count, futures price) of a ``(spot Leg, futures Leg)`` pair: a
    basket leg of spot or perp is the selection's basket (``s``, ``p``: the perp basket keeps
    its weighting); named venues are their equal-weight basket, carried like the baskets."""
    spot_leg, futures_leg = legs
    selected = {"spot": sv, "perp": pv}
    if not spot_leg.is_basket:
        closes = leg_closes(md, spot_leg, idx, selected.get(spot_leg.kind) or None, max_gap)
        s, spot_count = basket(closes), basket_count(closes)
    if futures_leg.is_basket and futures_leg.kind == "perp":
        return s, spot_count, p
    closes = leg_closes(md, futures_leg, idx, selected.get(futures_leg.kind) or None, max_gap)
    return s, spot_count, basket(closes)


def rebar_prices(rows: pd.DataFrame, tf: str) -> pd.DataFrame:
    """Base-resolution price rows re-barred to ``tf``: each column's last value in the bar (the
    last base bar that has one); the venue counts are those of the base bar the baskets come
    from (0 where a basket has no value in the bar)."""
    if len(rows) == 0:
        return rows
    ns = rows.index.as_unit("ns").asi8
    labels = bar_open_ns(ns, tf)
    if np.array_equal(labels, ns):
        return rows
    values = rows.to_numpy(dtype="float64")           # a copy: counts become floats here
    counts = values[:, 5:7]
    counts[counts == 0] = np.nan
    values[:, 5][np.isnan(values[:, 0])] = np.nan      # a count is that of its basket's row
    values[:, 6][np.isnan(values[:, 1])] = np.nan
    ends, last = last_valid_per_bar(values, labels)
    bars = pd.DatetimeIndex(bar_open(rows.index[ends], tf), name="time")
    out = pd.DataFrame(last[:, :5], index=bars, columns=list(_PRICE_COLUMNS[:5]))
    for j, name in ((5, "spot_venues"), (6, "perp_venues")):
        out[name] = np.nan_to_num(last[:, j], nan=0.0).astype("int64")
    return out


def bar_index(md: MarketData, tf: str, price_bars: pd.DatetimeIndex | None = None
              ) -> pd.DatetimeIndex:
    """The bars of the result: every bar with a price row (``price_bars`` when known); without
    prices, the span of OI and funding."""
    if price_bars is None:
        idx = md.spot.index.union(md.perp.index)
        price_bars = bar_open(idx, tf).unique() if len(idx) else idx
    if len(price_bars):
        return pd.DatetimeIndex(price_bars, name="time")
    times = pd.DatetimeIndex(pd.concat([md.open_interest["time"], md.funding["time"]]))
    if len(times) == 0:
        raise ValueError("this MarketData is empty: no spot, perp, open-interest or funding rows")
    return pd.DatetimeIndex(bar_range(times.min(), times.max(), tf), name="time")


def _compute_base(md, tf, sv, pv, futures, weighting, oi_unit, max_gap) -> pd.DataFrame:
    sel = _select(md, sv, pv)
    prices = rebar_prices(base_prices(md, sv, pv, futures, weighting, max_gap), tf)
    bars = bar_index(md, tf, prices.index)
    if not prices.index.equals(bars):  # no price rows at all: NaN prices, no venues
        prices = pd.DataFrame({c: np.nan for c in _PRICE_COLUMNS[:5]}, index=bars)
        prices["spot_venues"] = prices["perp_venues"] = np.zeros(len(bars), dtype="int64")
    need_usd = weighting == "oi" or oi_unit == "usd"
    oi_usd = oi_at_bar_close(sel.open_interest, bars, tf, "usd") if need_usd else None
    weights = oi_usd if weighting == "oi" else None
    oi_w = oi_usd if oi_unit == "usd" else oi_at_bar_close(sel.open_interest, bars, tf, "btc")
    oi_total = aggregate_oi(oi_w) if oi_w.shape[1] else pd.Series(np.nan, index=bars)
    oi_venues, oi_share = oi_coverage(oi_w)
    per_hour = composite_funding(funding_twap(sel.funding, bars, next_bar_open(bars, tf)), weights)
    return prices.assign(oi_total=oi_total.to_numpy(), funding_per_hour=per_hour.to_numpy(),
                         oi_venues=oi_venues, oi_coverage=oi_share)


def oi_coverage(oi: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(venues with OI per bar [int64], their share of the latest total OI [0..1, NaN where no
    venue]) of a wide per-venue OI frame (one column per venue, NaN where a venue has no
    sample); see the module docstring."""
    values = oi.to_numpy(dtype="float64")
    if values.shape[1] == 0:
        return np.zeros(len(oi), dtype="int64"), np.full(len(oi), np.nan)
    present = ~np.isnan(values)
    count = present.sum(axis=1).astype("int64")
    has = present.any(axis=0)
    last_row = len(values) - 1 - np.argmax(present[::-1], axis=0)   # each venue's last sample
    latest = np.where(has, values[last_row, np.arange(values.shape[1])], 0.0)
    total = latest.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (present * latest).sum(axis=1) / total if total > 0 else np.full(len(oi), np.nan)
    share = np.where(count > 0, share, np.nan)
    return count, share
