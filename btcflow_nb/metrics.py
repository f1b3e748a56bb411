"""``flow_metrics``: every number of the flow dashboard and the premium index, one row per bar.

All definitions are in :mod:`btcflow_nb.indicators` and :mod:`btcflow_nb.signals`; this module
only wires them together for a :class:`~btcflow_nb.MarketData`, a timeframe and the parameters
a dashboard exposes as controls. Baskets are built at the data's own resolution and re-barred
(:mod:`btcflow_nb._metrics_base`); :func:`btcflow_nb.explain` reads one bar of the result back
as conditions, values and thresholds.

Lookbacks
---------
``lookback`` (every z-score window), ``bb_length``, ``trend_length`` and ``funding_smoothing``
are bars (an int) or a duration (``"365D"``, ``"52W"``, ``"12M"``, ``"4Y"``) converted per
timeframe by :func:`~btcflow_nb.timeframes.lookback_bars`. The z lookback defaults to one year,
``"365D"``:

======  =====  =====  =====  =====  =====  =====
tf      1h     4h     1D     3D     1W     1M
======  =====  =====  =====  =====  =====  =====
bars    8760   2190   365    122    52     12
======  =====  =====  =====  =====  =====  =====

``bb_length`` (20), ``trend_length`` (10) and ``funding_smoothing`` (1) default to bars, as in
the TradingView scripts. A window longer than the data never raises: what needs it is NaN and
``m.attrs["notes"]`` says so (``"oi_z: lookback 52 bars > 13 bars of data (1W)"``).
"""
from __future__ import annotations

import time as _time

import numpy as np
import pandas as pd

from ._checks import check_choice, check_range, check_venues
from ._metrics_base import bar_index, base_series
from .indicators import HOURS_PER_YEAR, MAX_GAP, funding_twap, sma, zscore_window
from .legs import SPOT_KINDS, check_distinct, parse_leg, quote_notes
from .marketdata import MarketData
from .signals import DEFAULTS, confluence, extreme_cycle, onsets, premium_alerts, run_lengths
from .timeframes import (bar_open, check_not_finer, lookback_bars, next_bar_open,
                         to_timestamp)

SIGNAL_COLUMNS = ("bullish", "bearish", "overleveraged", "cycle_top", "cycle_bottom",
                  "alert_premium_high", "alert_premium_low")
#: The z-scored metrics: ``<name>_z`` with its window's ``<name>_z_mean`` and ``<name>_z_std``.
Z_METRICS = ("premium", "oi", "funding")
COLUMNS = (
    "spot", "perp_basket", "futures", "premium_abs", "premium_pct", "premium_z",
    "bb_basis", "bb_upper", "bb_lower", "oi_total", "oi_z", "funding", "funding_z",
    *SIGNAL_COLUMNS,
    "spot_venues", "perp_venues", "premium_trend",
    *(f"{k}_z_{part}" for k in Z_METRICS for part in ("mean", "std")),
    "cycle_top_votes", "cycle_bottom_votes", "open_bar",
    *(f"{sig}_{what}" for sig in SIGNAL_COLUMNS for what in ("onset", "run")),
    "oi_venues", "oi_coverage",
)
WEIGHTINGS = ("equal", "oi")
PREMIUM_UNITS = ("usd", "pct")
OI_UNITS = ("btc", "usd")
#: The z lookback's default: one year, converted per timeframe (see the module docstring).
DEFAULT_LOOKBACK = "365D"

__all__ = ["flow_metrics", "venue_funding", "COLUMNS", "SIGNAL_COLUMNS", "DEFAULT_LOOKBACK",
           "Z_METRICS"]


def _per_hour_to_8h(per_hour):
    """Fraction per hour -> % per 8 h (``× 8 × 100``)."""
    return per_hour * 800.0


#: % per 8 h -> % APR: ``× 3 × 365`` (exact: the APR column is the per-8 h column times this).
_APR_PER_8H = HOURS_PER_YEAR / 8


def _smooth(x, n: int):
    if n == 1:
        return x
    if isinstance(x, pd.DataFrame):
        return x.apply(lambda col: sma(col, n))
    return sma(x, n)


def _perp_choices(md: MarketData) -> list[str]:
    return sorted(set(md.perp.columns) | set(md.venues("funding")) | set(md.venues("open_interest")))


def venue_funding(md: MarketData, timeframe: str = "1D", *, apr: bool = False,
                  funding_smoothing=1, perp_venues=None) -> pd.DataFrame:
    """Per-venue funding TWAP for each bar, in % per 8 h (or % APR with ``apr=True``).

    Each column is :func:`~btcflow_nb.indicators.funding_twap` of one venue, converted from a
    per-hour fraction, then smoothed with an SMA over ``funding_smoothing`` (bars or a
    duration, see :func:`~btcflow_nb.timeframes.lookback_bars`).
    """
    tf = check_not_finer(timeframe, md.resolution)
    n = lookback_bars(funding_smoothing, tf, "funding_smoothing")
    sel = md.select(perp_venues=perp_venues) if perp_venues is not None else md
    bars = bar_index(sel, tf)
    twap = funding_twap(sel.funding, bars, next_bar_open(bars, tf))
    per_8h = _smooth(_per_hour_to_8h(twap), n)
    return per_8h * _APR_PER_8H if apr else per_8h


def _legs(md: MarketData, futures: str, spot_leg, futures_leg):
    """``(spot Leg, futures Leg)`` when either leg is given, else ``None`` (the classic pair:
    spot basket against ``futures``). A futures venue and a futures leg together are refused."""
    if spot_leg is None and futures_leg is None:
        return None
    if futures_leg is not None and futures != "basket":
        raise ValueError(f"futures={futures!r} and futures_leg={futures_leg!r} both name the "
                         f"futures price; give one (e.g. futures_leg='perp:{futures}')")
    s = parse_leg("spot:basket" if spot_leg is None else spot_leg, md, role="spot_leg",
                  kinds=SPOT_KINDS)
    f = parse_leg(futures_leg if futures_leg is not None else
                  f"perp:{futures}", md, role="futures_leg")
    check_distinct(s, f, md)
    return s, f


def _longest_run(valid: np.ndarray) -> int:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    return int((edges[1::2] - edges[0::2]).max()) if len(edges) else 0


def _window_note(notes: list, column: str, param: str, window: int, x, out, tf: str) -> None:
    """Say why ``out`` is all NaN when the ``window`` is longer than every run of data in
    ``x`` (no note when ``x`` has no data at all: that is a missing field, not a window)."""
    out = np.asarray(out, dtype="float64")
    if len(out) and not np.isnan(out).all():
        return
    valid = ~np.isnan(np.asarray(x, dtype="float64"))
    if not valid.any():
        return
    run = _longest_run(valid)
    if window > run:
        notes.append(f"{column}: {param} {window} bars > {run} bars of data ({tf})")


def _fetch_reference(md: MarketData, notes: list) -> tuple[pd.Timestamp, str]:
    """When the data was fetched: ``meta["fetched_at"]``, else now (data cannot come from a
    later time, so a bar whose period runs past now was surely open when fetched)."""
    fetched = md.meta.get("fetched_at")
    if fetched is not None:
        try:
            return to_timestamp(fetched, "fetched_at"), "fetched_at"
        except ValueError:
            notes.append(f"meta fetched_at={fetched!r} is not a time: open bar judged "
                         f"against now")
    return pd.Timestamp(int(_time.time() * 1000), unit="ms", tz="UTC"), "now"


def flow_metrics(
    md: MarketData,
    timeframe: str = "1D",
    *,
    lookback: int | str = DEFAULT_LOOKBACK,
    spot_venues=None,
    perp_venues=None,
    futures: str = "basket",
    spot_leg=None,
    futures_leg=None,
    premium_unit: str = "usd",
    weighting: str = "equal",
    oi_unit: str = "btc",
    funding_smoothing: int | str = 1,
    apr: bool = False,
    bb_length: int | str = DEFAULTS["bb_length"],
    bb_mult: float = DEFAULTS["bb_mult"],
    trend_length: int | str = DEFAULTS["trend_length"],
    premium_min: float = DEFAULTS["premium_min"],
    oi_build_z: float = DEFAULTS["oi_build_z"],
    oi_hot_z: float = DEFAULTS["oi_hot_z"],
    funding_hot: float = DEFAULTS["funding_hot"],
    bull_oi_z_max: float = DEFAULTS["bull_oi_z_max"],
    bull_funding_max: float = DEFAULTS["bull_funding_max"],
    cycle_k: float = DEFAULTS["cycle_k"],
    cycle_m: int = DEFAULTS["cycle_m"],
    extremes: bool = True,
    max_gap: int = MAX_GAP,
    start=None,
    end=None,
) -> pd.DataFrame:
    """Compute the flow dashboard's metrics and signals, one row per bar.

    Parameters
    ----------
    md : MarketData
    timeframe : ``"1h" | "4h" | "1D" | "3D" | "1W" | "1M"`` (not finer than ``md.resolution``)
    lookback : every z-score window (premium, OI, funding): bars (int >= 2) or a duration
        (``"365D"``, ``"52W"``, ``"12M"``, ``"4Y"``; see the module docstring). Default
        ``"365D"``: one year, i.e. 365 bars on 1D, 52 on 1W, 12 on 1M, 122 on 3D.
    spot_venues, perp_venues : venue keys to include (``None``: all in the data). The perp
        selection also filters funding and OI.
    futures : ``"basket"`` or one perp venue: the ``F`` of ``premium_abs = S - F``.
    spot_leg, futures_leg : the premium between any two legs (:mod:`btcflow_nb.legs`): a spot
        leg (``"spot:basket"``, ``"spot:coinbase"``, ``"spot:a+b"``) and a futures leg (``"perp:
        basket"``, ``"perp:binance"``, another spot venue, ``"spot:binance"``, a dated future
        ``"dated:deribit-2026-03-27"`` (NaN once expired) or a venue's constant-maturity 90-day
        future ``"dated:deribit-cm90"``; ``legs.leg_choices(md)`` lists them). With either
        given, ``spot``/``futures`` are the two legs and ``premium_pct = (S - F) / F × 100``;
        ``None`` (default): the spot basket and ``futures``. The Coinbase premium index is
        ``spot_leg="spot:coinbase", futures_leg="spot:binance"`` (``legs.COINBASE_PREMIUM``).
    premium_unit : ``"usd"`` (default) or ``"pct"``: the premium the Bollinger bands and the
        two premium alerts run on (``premium_abs`` or ``premium_pct``).
    weighting : ``"equal"`` or ``"oi"``: weights of the perp basket and composite funding
        (``"oi"`` = each venue's OI in USD at the bar).
    oi_unit : ``"btc"`` (default, price-neutral) or ``"usd"`` for ``oi_total``.
    funding_smoothing : SMA window applied to the funding TWAP (bars or a duration; 1 = none).
    apr : show ``funding`` as % APR (``× 24 × 365``) instead of % per 8 h.
    bb_length, bb_mult : Bollinger bands on ``premium_abs`` (length in bars or a duration).
    trend_length, premium_min, oi_build_z, oi_hot_z, funding_hot, bull_oi_z_max,
    bull_funding_max : confluence engine (see :func:`btcflow_nb.signals.confluence`);
        funding thresholds are in % per 8 h whatever ``apr`` says.
    cycle_k, cycle_m, extremes : extreme-cycle engine (experimental; ``extremes=False`` turns it
        off). ``cycle_m`` votes are needed, counted absolutely: a metric without data does not
        vote, so with fewer than ``m`` metrics available nothing fires.
    max_gap : base bars (the data's own resolution) a venue missing from a basket is carried
        with the other venues before it drops out (:func:`~btcflow_nb.indicators.carry_gaps`);
        0 = never. Default 3.
    start, end : optional bounds on the returned bars (inclusive; a ``start`` inside a bar keeps
        that bar, e.g. a Wednesday on 1W keeps its week); any time
        :func:`~btcflow_nb.timeframes.to_timestamp` reads (naive means UTC, an int is epoch
        milliseconds, ``"90D"`` is 90 days before now). Metrics are computed on the whole
        history first, so z-scores, onsets and run lengths at ``start`` are those of the whole
        history.

    Returns
    -------
    DataFrame indexed by bar open time (UTC), columns :data:`COLUMNS`:

    ==================  ============================================================
    spot                spot basket at the bar's last base bar [USD]
    perp_basket         perp basket (equal or OI-weighted) at that base bar [USD]
    futures             the chosen futures price ``F`` [USD]
    premium_abs         ``spot - futures`` at the bar's last base bar with both [USD]
    premium_pct         ``(spot - perp_basket) / perp_basket × 100`` likewise [%]
                        (with legs: ``(spot - futures) / futures × 100``)
    premium_z           z-score of ``premium_pct`` over ``lookback``
    bb_*                Bollinger basis/upper/lower of ``premium_abs`` [USD] (of
                        ``premium_pct`` [%] with ``premium_unit="pct"``)
    oi_total            chain-linked aggregate OI [BTC or USD]
    oi_z                z-score of ``oi_total``
    funding             composite funding TWAP [% per 8 h, or % APR]
    funding_z           z-score of ``funding``
    signals             bool: bullish, bearish, overleveraged, cycle_top, cycle_bottom,
                        alert_premium_high, alert_premium_low (:data:`SIGNAL_COLUMNS`)
    spot_venues,        int: venues in each basket at the base bar the bar's basket comes
    perp_venues         from (carried venues included; 0: no basket)
    premium_trend       SMA of ``premium_pct`` over ``trend_length`` ("rising" = above it)
    <m>_z_mean,         the z window's mean and population std of premium_pct, oi_total,
    <m>_z_std           funding (in the ``funding`` column's unit): ``z = (x - mean)/std``
    cycle_*_votes       int8 bit mask of the metrics that voted: 1 premium, 2 OI,
                        4 funding (:func:`btcflow_nb.signals.vote_names`)
    open_bar            bool: True on the last bar when its period had not ended when the
                        data was fetched (``md.meta["fetched_at"]``; without it, now).
                        Everything on an open bar is **provisional**: its close, z-scores
                        and signals can still change.
    <signal>_onset      bool: the first bar of each run of the signal (an event)
    <signal>_run        int: bars since the run's onset, 1 on the onset, 0 when off
    oi_venues           int: venues with an OI sample in the bar (behind ``oi_total``)
    oi_coverage         their share of the latest total OI, in ``oi_unit``: the sum of
                        each present venue's latest OI over that of every venue (1.0 =
                        all; NaN where no venue); low values mean the aggregate and its
                        z-score rest on few venues (``btcflow_nb._metrics_base``)
    ==================  ============================================================

    ``attrs``: ``timeframe``, ``apr``, ``oi_unit``, ``funding_unit``, ``source``,
    ``synthetic``, ``params`` (every parameter, windows in bars), ``notes`` (windows longer
    than the data, ...), ``open_bar``, ``fetched_at`` and ``fetched_at_from``
    (``"fetched_at"`` or ``"now"``).
    """
    if not isinstance(md, MarketData):
        raise ValueError(f"md must be a MarketData; got {type(md).__name__}")
    tf = check_not_finer(timeframe, md.resolution)
    lb = lookback_bars(lookback, tf, "lookback", minimum=2)
    fs = lookback_bars(funding_smoothing, tf, "funding_smoothing")
    bbl = lookback_bars(bb_length, tf, "bb_length")
    tl = lookback_bars(trend_length, tf, "trend_length")
    check_choice("weighting", weighting, WEIGHTINGS)
    check_choice("oi_unit", oi_unit, OI_UNITS)
    check_choice("premium_unit", premium_unit, PREMIUM_UNITS)
    check_range("bb_mult", bb_mult, 0, 10, low_open=True)
    for flag_name, flag in (("apr", apr), ("extremes", extremes)):
        if not isinstance(flag, (bool, np.bool_)):  # "no" is truthy: refuse, don't guess
            raise ValueError(f"{flag_name} must be True or False; got {flag!r}")
    if isinstance(max_gap, (bool, np.bool_)) or not isinstance(max_gap, (int, np.integer)) \
            or max_gap < 0:
        raise ValueError(f"max_gap={max_gap!r} is not a gap limit; valid: a whole number of base "
                         f"bars >= 0 (0 = never carry a venue), default {MAX_GAP}")
    start_ts, end_ts = to_timestamp(start, "start"), to_timestamp(end, "end")
    if start_ts is not None and end_ts is not None and start_ts > end_ts:
        raise ValueError(f"start={start!r} is after end={end!r}; valid: start <= end")

    sv = check_venues("spot", spot_venues, list(md.spot.columns))
    pv = check_venues("perp", perp_venues, _perp_choices(md))
    if futures != "basket":
        check_choice("futures venue", futures, ["basket", *[v for v in md.perp.columns if v in pv]])
    legs = _legs(md, futures, spot_leg, futures_leg)
    base = base_series(md, tf, tuple(sv), tuple(pv), legs or futures, weighting, oi_unit,
                       int(max_gap))
    bars = base.index
    notes: list[str] = quote_notes(md, legs)[1] if legs else []
    prem_abs, prem_pct, oi_total = base["premium_abs"], base["premium_pct"], base["oi_total"]
    pz = zscore_window(prem_pct, lb)
    band_series = prem_abs if premium_unit == "usd" else prem_pct
    alerts = premium_alerts(band_series, bb_length=bbl, bb_mult=bb_mult)
    oz = zscore_window(oi_total, lb)
    per_hour = base["funding_per_hour"]
    funding_8h = _smooth(_per_hour_to_8h(per_hour), fs)
    fz = zscore_window(funding_8h, lb)
    trend = sma(prem_pct, tl)
    _window_note(notes, "funding", "funding_smoothing", fs, per_hour, funding_8h, tf)
    for col, x, parts in (("premium_z", prem_pct, pz), ("oi_z", oi_total, oz),
                          ("funding_z", funding_8h, fz)):
        _window_note(notes, col, "lookback", lb, x, parts["mean"], tf)
    _window_note(notes, "bb_*", "bb_length", bbl, band_series, alerts["bb_basis"], tf)
    _window_note(notes, "premium_trend", "trend_length", tl, prem_pct, trend, tf)

    conf = confluence(prem_pct, oz["z"], funding_8h, trend_length=tl,
                      premium_min=premium_min, oi_build_z=oi_build_z, oi_hot_z=oi_hot_z,
                      funding_hot=funding_hot, bull_oi_z_max=bull_oi_z_max,
                      bull_funding_max=bull_funding_max, premium_trend=trend)
    cycle = extreme_cycle(pz["z"], oz["z"], fz["z"], cycle_k=cycle_k, cycle_m=cycle_m,
                          votes=True)
    if not extremes:
        cycle[["cycle_top", "cycle_bottom"]] = False
    scale = _APR_PER_8H if apr else 1.0
    cols = {
        "spot": base["spot"], "perp_basket": base["perp_basket"], "futures": base["futures"],
        "premium_abs": prem_abs, "premium_pct": prem_pct, "premium_z": pz["z"],
        "bb_basis": alerts["bb_basis"], "bb_upper": alerts["bb_upper"],
        "bb_lower": alerts["bb_lower"],
        "oi_total": oi_total, "oi_z": oz["z"],
        "funding": funding_8h * scale if apr else funding_8h, "funding_z": fz["z"],
        "bullish": conf["bullish"], "bearish": conf["bearish"],
        "overleveraged": conf["overleveraged"],
        "cycle_top": cycle["cycle_top"], "cycle_bottom": cycle["cycle_bottom"],
        "alert_premium_high": alerts["alert_premium_high"],
        "alert_premium_low": alerts["alert_premium_low"],
        "spot_venues": base["spot_venues"], "perp_venues": base["perp_venues"],
        "premium_trend": trend,
        "premium_z_mean": pz["mean"], "premium_z_std": pz["std"],
        "oi_z_mean": oz["mean"], "oi_z_std": oz["std"],
        "funding_z_mean": fz["mean"] * scale if apr else fz["mean"],
        "funding_z_std": fz["std"] * scale if apr else fz["std"],
        "cycle_top_votes": cycle["cycle_top_votes"],
        "cycle_bottom_votes": cycle["cycle_bottom_votes"],
        "oi_venues": base["oi_venues"], "oi_coverage": base["oi_coverage"],
    }
    cols = {k: np.asarray(v) for k, v in cols.items()}
    reference, reference_from = _fetch_reference(md, notes)
    is_open = bool(len(bars)) and next_bar_open(bars[-1:], tf)[0] > reference
    open_col = np.zeros(len(bars), dtype=bool)
    open_col[-1:] = is_open
    cols["open_bar"] = open_col
    for c in SIGNAL_COLUMNS:
        state = pd.Series(cols[c].astype(bool))
        cols[c] = state.to_numpy()
        cols[f"{c}_onset"] = onsets(state).to_numpy()
        cols[f"{c}_run"] = run_lengths(state).to_numpy()
    out = pd.DataFrame({c: cols[c] for c in COLUMNS}, index=pd.DatetimeIndex(bars, name="time"),
                       copy=False)
    params = dict(timeframe=tf, lookback=lb, funding_smoothing=fs, bb_length=bbl,
                  bb_mult=float(bb_mult), trend_length=tl, premium_min=float(premium_min),
                  oi_build_z=float(oi_build_z), oi_hot_z=float(oi_hot_z),
                  funding_hot=float(funding_hot), bull_oi_z_max=float(bull_oi_z_max),
                  bull_funding_max=float(bull_funding_max), cycle_k=float(cycle_k),
                  cycle_m=int(cycle_m), extremes=bool(extremes), max_gap=int(max_gap),
                  apr=bool(apr), weighting=weighting, oi_unit=oi_unit, futures=futures,
                  spot_leg=str(legs[0]) if legs else None,
                  futures_leg=str(legs[1]) if legs else None, premium_unit=premium_unit)
    out.attrs.update(timeframe=tf, apr=bool(apr), oi_unit=oi_unit, premium_unit=premium_unit,
                     funding_unit="% APR" if apr else "% per 8h",
                     source=md.meta.get("source"), synthetic=bool(md.meta.get("synthetic")),
                     params=params, notes=notes, open_bar=is_open,
                     fetched_at=reference.isoformat(), fetched_at_from=reference_from)
    if start is not None or end is not None:
        # a bound inside a bar selects that whole bar: bars are labelled by their open time
        lo = None if start_ts is None else bar_open(pd.DatetimeIndex([start_ts]), tf)[0]
        out = out.loc[lo:end_ts]
    return out
