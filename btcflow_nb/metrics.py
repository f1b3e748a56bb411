"""``flow_metrics``: every number of the flow dashboard and the premium index, one row per bar.

All definitions are in :mod:`btcflow_nb.indicators` and :mod:`btcflow_nb.signals`; this module
only wires them together for a :class:`~btcflow_nb.MarketData`, a timeframe and the parameters
a dashboard exposes as controls.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._checks import check_choice, check_range, check_window, check_venues
from ._frames import last_per_bar
from .indicators import (
    HOURS_PER_YEAR,
    aggregate_oi,
    basket,
    composite_funding,
    funding_twap,
    oi_at_bar_close,
    premium_abs as _premium_abs,
    premium_pct as _premium_pct,
    sma,
    zscore,
)
from .marketdata import MarketData
from .signals import DEFAULTS, confluence, extreme_cycle, premium_alerts
from .timeframes import bar_open, bar_range, check_not_finer, next_bar_open, to_timestamp

COLUMNS = (
    "spot", "perp_basket", "futures", "premium_abs", "premium_pct", "premium_z",
    "bb_basis", "bb_upper", "bb_lower", "oi_total", "oi_z", "funding", "funding_z",
    "bullish", "bearish", "overleveraged", "cycle_top", "cycle_bottom",
    "alert_premium_high", "alert_premium_low",
)
SIGNAL_COLUMNS = COLUMNS[13:]
WEIGHTINGS = ("equal", "oi")
OI_UNITS = ("btc", "usd")
DEFAULT_LOOKBACK = 52

__all__ = ["flow_metrics", "venue_funding", "COLUMNS", "SIGNAL_COLUMNS", "DEFAULT_LOOKBACK"]


def _bars(md: MarketData, tf: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DatetimeIndex]:
    """Spot and perp closes re-barred to ``tf`` (last close per bar) on the bars of the result:
    every bar with a price; without prices, the span of OI and funding."""
    spot, perp = last_per_bar(md.spot, tf), last_per_bar(md.perp, tf)
    idx = spot.index.union(perp.index)
    if len(idx):
        bars = pd.DatetimeIndex(idx, name="time")
    else:
        times = pd.DatetimeIndex(pd.concat([md.open_interest["time"], md.funding["time"]]))
        if len(times) == 0:
            raise ValueError("this MarketData is empty: no spot, perp, open-interest or funding "
                             "rows")
        bars = pd.DatetimeIndex(bar_range(times.min(), times.max(), tf), name="time")
    return spot.reindex(bars), perp.reindex(bars), bars


def _per_hour_to_display(per_hour: pd.Series | pd.DataFrame, apr: bool):
    """Fraction per hour -> % per 8 h (``× 8 × 100``) or % APR (``× 8760 × 100``)."""
    return per_hour * (HOURS_PER_YEAR if apr else 8) * 100.0


def _smooth(x, n: int):
    if n == 1:
        return x
    if isinstance(x, pd.DataFrame):
        return x.apply(lambda col: sma(col, n))
    return sma(x, n)


def _perp_choices(md: MarketData) -> list[str]:
    return sorted(set(md.perp.columns) | set(md.venues("funding")) | set(md.venues("open_interest")))


def _base_series(md: MarketData, tf: str, sv: tuple, pv: tuple, futures: str, weighting: str,
                 oi_unit: str) -> pd.DataFrame:
    """The parameter-free part of the metrics for one timeframe and venue selection.

    Prices, premium, chain-linked OI and the composite funding TWAP (fraction per hour) do not
    depend on lookbacks or thresholds, so they are memoised on the MarketData: moving a slider
    only recomputes z-scores, bands and signals.
    """
    return md.memo(("base", tf, sv, pv, futures, weighting, oi_unit),
                   lambda: _compute_base(md, tf, sv, pv, futures, weighting, oi_unit))


def _compute_base(md: MarketData, tf: str, sv: tuple, pv: tuple, futures: str, weighting: str,
                  oi_unit: str) -> pd.DataFrame:
    sel = md.select(list(sv) or None, list(pv) or None)  # a field with no venues: select all (none)
    spot_w, perp_w, bars = _bars(sel, tf)
    need_usd = weighting == "oi" or oi_unit == "usd"
    oi_usd = oi_at_bar_close(sel.open_interest, bars, tf, "usd") if need_usd else None
    weights = oi_usd if weighting == "oi" else None
    spot = basket(spot_w)
    perp = basket(perp_w, weights)
    fut = perp if futures == "basket" else perp_w[futures]
    oi_w = oi_usd if oi_unit == "usd" else oi_at_bar_close(sel.open_interest, bars, tf, "btc")
    oi_total = aggregate_oi(oi_w) if oi_w.shape[1] else pd.Series(np.nan, index=bars)
    per_hour = composite_funding(funding_twap(sel.funding, bars, next_bar_open(bars, tf)), weights)
    return pd.DataFrame({
        "spot": spot, "perp_basket": perp, "futures": fut,
        "premium_abs": _premium_abs(spot, fut), "premium_pct": _premium_pct(spot, perp),
        "oi_total": oi_total, "funding_per_hour": per_hour,
    }, index=bars)


def venue_funding(md: MarketData, timeframe: str = "1D", *, apr: bool = False,
                  funding_smoothing: int = 1, perp_venues=None) -> pd.DataFrame:
    """Per-venue funding TWAP for each bar, in % per 8 h (or % APR with ``apr=True``).

    Each column is :func:`~btcflow_nb.indicators.funding_twap` of one venue, converted from a
    per-hour fraction, then smoothed with an SMA over ``funding_smoothing`` bars.
    """
    tf = check_not_finer(timeframe, md.resolution)
    n = check_window("funding_smoothing", funding_smoothing)
    sel = md.select(perp_venues=perp_venues) if perp_venues is not None else md
    bars = _bars(sel, tf)[2]
    twap = funding_twap(sel.funding, bars, next_bar_open(bars, tf))
    return _smooth(_per_hour_to_display(twap, apr), n)


def flow_metrics(
    md: MarketData,
    timeframe: str = "1D",
    *,
    lookback: int = DEFAULT_LOOKBACK,
    spot_venues=None,
    perp_venues=None,
    futures: str = "basket",
    weighting: str = "equal",
    oi_unit: str = "btc",
    funding_smoothing: int = 1,
    apr: bool = False,
    bb_length: int = DEFAULTS["bb_length"],
    bb_mult: float = DEFAULTS["bb_mult"],
    trend_length: int = DEFAULTS["trend_length"],
    premium_min: float = DEFAULTS["premium_min"],
    oi_build_z: float = DEFAULTS["oi_build_z"],
    oi_hot_z: float = DEFAULTS["oi_hot_z"],
    funding_hot: float = DEFAULTS["funding_hot"],
    bull_oi_z_max: float = DEFAULTS["bull_oi_z_max"],
    bull_funding_max: float = DEFAULTS["bull_funding_max"],
    cycle_k: float = DEFAULTS["cycle_k"],
    cycle_m: int = DEFAULTS["cycle_m"],
    extremes: bool = True,
    start=None,
    end=None,
) -> pd.DataFrame:
    """Compute the flow dashboard's metrics and signals, one row per bar.

    Parameters
    ----------
    md : MarketData
    timeframe : ``"1h" | "4h" | "1D" | "3D" | "1W" | "1M"`` (not finer than ``md.resolution``)
    lookback : bars in every z-score window (premium, OI, funding). Default 52 (a year of weeks).
    spot_venues, perp_venues : venue keys to include (``None``: all in the data). The perp
        selection also filters funding and OI.
    futures : ``"basket"`` or one perp venue: the ``F`` of ``premium_abs = S - F``.
    weighting : ``"equal"`` or ``"oi"``: weights of the perp basket and composite funding
        (``"oi"`` = each venue's OI in USD at the bar).
    oi_unit : ``"btc"`` (default, price-neutral) or ``"usd"`` for ``oi_total``.
    funding_smoothing : SMA window in bars applied to the funding TWAP (1 = none).
    apr : show ``funding`` as % APR (``× 24 × 365``) instead of % per 8 h.
    bb_length, bb_mult : Bollinger bands on ``premium_abs``.
    trend_length, premium_min, oi_build_z, oi_hot_z, funding_hot, bull_oi_z_max,
    bull_funding_max : confluence engine (see :func:`btcflow_nb.signals.confluence`);
        funding thresholds are in % per 8 h whatever ``apr`` says.
    cycle_k, cycle_m, extremes : extreme-cycle engine (experimental; ``extremes=False`` turns it
        off).
    start, end : optional bounds on the returned bars (inclusive; a ``start`` inside a bar keeps
        that bar, e.g. a Wednesday on 1W keeps its week); any time
        :func:`~btcflow_nb.timeframes.to_timestamp` reads (naive means UTC, an int is epoch
        milliseconds, ``"90D"`` is 90 days before now). Metrics are computed on the whole history first, so z-scores at ``start`` have their full window.

    Returns
    -------
    DataFrame indexed by bar open time (UTC), columns :data:`COLUMNS`:

    ============  ================================================================
    spot          mean close of the spot venues [USD]
    perp_basket   mean (or OI-weighted) close of the perp venues [USD]
    futures       the chosen futures price ``F`` [USD]
    premium_abs   ``spot - futures`` [USD]
    premium_pct   ``(spot - perp_basket) / perp_basket × 100`` [%]
    premium_z     z-score of ``premium_pct`` over ``lookback``
    bb_*          Bollinger basis/upper/lower of ``premium_abs`` [USD]
    oi_total      chain-linked aggregate OI [BTC or USD]
    oi_z          z-score of ``oi_total``
    funding       composite funding TWAP [% per 8 h, or % APR]
    funding_z     z-score of ``funding``
    signals       bool: bullish, bearish, overleveraged, cycle_top, cycle_bottom,
                  alert_premium_high, alert_premium_low
    ============  ================================================================
    """
    if not isinstance(md, MarketData):
        raise ValueError(f"md must be a MarketData; got {type(md).__name__}")
    tf = check_not_finer(timeframe, md.resolution)
    lookback = check_window("lookback", lookback)
    if lookback < 2:
        raise ValueError(f"lookback={lookback} is too short: a z-score needs at least 2 bars; "
                         f"valid range: 2..number of bars")
    funding_smoothing = check_window("funding_smoothing", funding_smoothing)
    check_choice("weighting", weighting, WEIGHTINGS)
    check_choice("oi_unit", oi_unit, OI_UNITS)
    check_window("bb_length", bb_length)
    check_range("bb_mult", bb_mult, 0, 10, low_open=True)
    for flag_name, flag in (("apr", apr), ("extremes", extremes)):
        if not isinstance(flag, (bool, np.bool_)):  # "no" is truthy: refuse, don't guess
            raise ValueError(f"{flag_name} must be True or False; got {flag!r}")
    start_ts, end_ts = to_timestamp(start, "start"), to_timestamp(end, "end")
    if start_ts is not None and end_ts is not None and start_ts > end_ts:
        raise ValueError(f"start={start!r} is after end={end!r}; valid: start <= end")

    sv = check_venues("spot", spot_venues, list(md.spot.columns))
    pv = check_venues("perp", perp_venues, _perp_choices(md))
    if futures != "basket":
        check_choice("futures venue", futures, ["basket", *[v for v in md.perp.columns if v in pv]])
    base = _base_series(md, tf, tuple(sv), tuple(pv), futures, weighting, oi_unit)
    bars = base.index
    if lookback > len(bars):
        raise ValueError(
            f"lookback={lookback} is longer than the data ({len(bars)} bars at {tf}); "
            f"valid range: 2..{len(bars)}"
        )
    prem_abs, prem_pct, oi_total = base["premium_abs"], base["premium_pct"], base["oi_total"]
    prem_z = zscore(prem_pct, lookback)
    alerts = premium_alerts(prem_abs, bb_length=bb_length, bb_mult=bb_mult)
    oi_z = zscore(oi_total, lookback)
    per_hour = base["funding_per_hour"]
    funding_8h = _smooth(_per_hour_to_display(per_hour, False), funding_smoothing)
    funding = funding_8h if not apr else _smooth(_per_hour_to_display(per_hour, True),
                                                  funding_smoothing)
    funding_z = zscore(funding_8h, lookback)

    conf = confluence(prem_pct, oi_z, funding_8h, trend_length=trend_length,
                      premium_min=premium_min, oi_build_z=oi_build_z, oi_hot_z=oi_hot_z,
                      funding_hot=funding_hot, bull_oi_z_max=bull_oi_z_max,
                      bull_funding_max=bull_funding_max)
    cycle = extreme_cycle(prem_z, oi_z, funding_z, cycle_k=cycle_k, cycle_m=cycle_m)
    if not extremes:
        cycle[:] = False

    out = pd.DataFrame({
        "spot": base["spot"], "perp_basket": base["perp_basket"], "futures": base["futures"],
        "premium_abs": prem_abs, "premium_pct": prem_pct, "premium_z": prem_z,
        "bb_basis": alerts["bb_basis"], "bb_upper": alerts["bb_upper"],
        "bb_lower": alerts["bb_lower"],
        "oi_total": oi_total, "oi_z": oi_z, "funding": funding, "funding_z": funding_z,
        "bullish": conf["bullish"], "bearish": conf["bearish"],
        "overleveraged": conf["overleveraged"],
        "cycle_top": cycle["cycle_top"], "cycle_bottom": cycle["cycle_bottom"],
        "alert_premium_high": alerts["alert_premium_high"],
        "alert_premium_low": alerts["alert_premium_low"],
    }, index=pd.DatetimeIndex(bars, name="time"))
    for c in SIGNAL_COLUMNS:
        out[c] = out[c].astype(bool)
    out.attrs.update(timeframe=tf, apr=bool(apr), oi_unit=oi_unit,
                     funding_unit="% APR" if apr else "% per 8h",
                     source=md.meta.get("source"), synthetic=bool(md.meta.get("synthetic")))
    if start is not None or end is not None:
        # a bound inside a bar selects that whole bar: bars are labelled by their open time
        lo = None if start_ts is None else bar_open(pd.DatetimeIndex([start_ts]), tf)[0]
        out = out.loc[lo:end_ts]
    return out
