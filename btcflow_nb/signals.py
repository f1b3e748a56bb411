"""Signals built on the flow metrics: the confluence engine, the extreme-cycle engine and the
premium Bollinger alerts. Every function returns boolean Series (one value per bar).

Monotonicity
------------
Every *threshold* here is a level that a condition must reach or exceed to fire, so raising a
threshold can only remove signals, never add them (the test suite checks this property):

- ``premium_min``   bullish needs premium % > +premium_min; bearish needs premium % < -premium_min
- ``oi_build_z``    bearish needs OI z > oi_build_z (or funding > funding_hot)
- ``oi_hot_z``      over-leveraged needs OI z >= oi_hot_z
- ``funding_hot``   over-leveraged needs funding >= funding_hot; bearish may use funding > it
- ``cycle_k``       each extreme vote needs |z| >= cycle_k on its side
- ``cycle_m``       a top/bottom needs at least m votes

This is a statement about *states*. Onsets (:func:`onsets`, the first bar of each run) are
subtler: removing bars from the middle of a run splits it, and the second part starts with an
onset the looser signal did not have (OI z of 2.5, 2.1, 2.6 is one over-leveraged run at
``oi_hot_z=2`` and two at ``2.2``). What holds, and is tested: every onset of the stricter
signal lies inside a run of the looser one, at or after that run's onset — no onset is ever
*entirely new* — and the first stricter onset of each looser run is at most one per run.

The bullish "leverage is not overheated" guard compares against *caps* — ``bull_oi_z_max`` and
``bull_funding_max`` (defaults equal to the hot thresholds) — which work the other way round:
lowering a cap can only remove bullish signals. They are separate parameters precisely so that
the threshold rule above holds without exception.

The Bollinger alerts are cross events and are *not* monotone in the band multiplier: a wider band
can be crossed on a later bar where a narrower one was not (the series was already above it).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._checks import check_range, check_window
from .indicators import bollinger, crossover, crossunder, sma

# Defaults, documented once and used by flow_metrics and the dashboards.
DEFAULTS = {
    "trend_length": 10,      # bars: premium "rising" means above its SMA over this many bars
    "premium_min": 0.0,      # % of the perp basket
    "oi_build_z": 1.0,       # OI z-score above which leverage is "building"
    "oi_hot_z": 2.0,         # OI z-score at/above which leverage is "hot"
    "funding_hot": 0.03,     # composite funding, % per 8 h (≈ 32.85 % APR)
    "bull_oi_z_max": 2.0,    # bullish only while OI z is below this cap
    "bull_funding_max": 0.03,  # bullish only while funding (% per 8 h) is below this cap
    "cycle_k": 2.0,          # |z| for an extreme vote
    "cycle_m": 2,            # votes needed for a top / bottom
    "bb_length": 20,         # bars: the window of the premium's Bollinger bands
    "bb_mult": 2.0,          # band half-width in (population) standard deviations
}

__all__ = ["DEFAULTS", "VOTE_BITS", "confluence", "extreme_cycle", "cycle_votes", "vote_names",
           "premium_alerts", "onsets", "run_lengths"]


def _b(x: pd.Series) -> np.ndarray:
    return np.asarray(x, dtype="float64")


def _aligned_arrays(**named) -> list[np.ndarray]:
    """The inputs as float arrays, one value per bar. They must have the same length (a short
    series would otherwise broadcast or fail cryptically) and, when they are Series, the same
    index (values are combined bar by bar, by position)."""
    arrays = [_b(v) for v in named.values()]
    lengths = {k: len(a) for k, a in zip(named, arrays)}
    if len(set(lengths.values())) > 1 or any(a.ndim != 1 for a in arrays):
        raise ValueError(f"inputs must be one value per bar with equal lengths; got "
                         f"{', '.join(f'{k}={n}' for k, n in lengths.items())}")
    indexes = [(k, v.index) for k, v in named.items() if isinstance(v, pd.Series)]
    for k, idx in indexes[1:]:
        if not idx.equals(indexes[0][1]):
            raise ValueError(f"{k} and {indexes[0][0]} have different indexes; align them "
                             f"first (e.g. {k}.reindex({indexes[0][0]}.index))")
    return arrays


def confluence(
    premium_pct: pd.Series,
    oi_z: pd.Series,
    funding_8h: pd.Series,
    *,
    trend_length: int = DEFAULTS["trend_length"],
    premium_min: float = DEFAULTS["premium_min"],
    oi_build_z: float = DEFAULTS["oi_build_z"],
    oi_hot_z: float = DEFAULTS["oi_hot_z"],
    funding_hot: float = DEFAULTS["funding_hot"],
    bull_oi_z_max: float = DEFAULTS["bull_oi_z_max"],
    bull_funding_max: float = DEFAULTS["bull_funding_max"],
    premium_trend: pd.Series | None = None,
) -> pd.DataFrame:
    """The confluence engine: bullish, bearish and over-leveraged bars.

    - **bullish**: spot premium % > ``premium_min`` and rising (above its SMA over
      ``trend_length`` bars) while leverage is not overheated: OI z < ``bull_oi_z_max`` and
      funding < ``bull_funding_max``.
    - **bearish**: spot premium % < ``-premium_min`` and falling (below its SMA) while leverage
      builds: OI z > ``oi_build_z`` or funding > ``funding_hot``.
    - **overleveraged**: OI z >= ``oi_hot_z`` and funding >= ``funding_hot``.

    ``funding_8h`` is the composite funding in **% per 8 h** (thresholds use that unit whatever
    the display). A NaN input makes the condition that reads it False: a missing OI feed cannot
    confirm "not overheated" nor "building". Bullish and bearish never hold on the same bar
    (they need opposite premium signs).

    ``premium_trend``: the SMA of ``premium_pct`` over ``trend_length`` when the caller already
    has it (``flow_metrics`` reports it as a column); computed here otherwise.

    Returns a DataFrame with boolean columns ``bullish, bearish, overleveraged``.
    """
    trend_length = check_window("trend_length", trend_length)
    premium_min = check_range("premium_min", premium_min, 0, None)
    for name, val in (("oi_build_z", oi_build_z), ("oi_hot_z", oi_hot_z),
                      ("bull_oi_z_max", bull_oi_z_max)):
        check_range(name, val, -10, 10)
    for name, val in (("funding_hot", funding_hot), ("bull_funding_max", bull_funding_max)):
        check_range(name, val, -5, 5)
    p, oz, fu = _aligned_arrays(premium_pct=premium_pct, oi_z=oi_z, funding_8h=funding_8h)
    trend = _b(sma(pd.Series(p), window=trend_length) if premium_trend is None
               else premium_trend)
    if len(trend) != len(p):
        raise ValueError(f"premium_trend must be one value per bar; got {len(trend)} for "
                         f"{len(p)} bars")
    with np.errstate(invalid="ignore"):
        bullish = (p > premium_min) & (p > trend) & (oz < bull_oi_z_max) & (fu < bull_funding_max)
        bearish = (p < -premium_min) & (p < trend) & ((oz > oi_build_z) | (fu > funding_hot))
        over = (oz >= oi_hot_z) & (fu >= funding_hot)
    idx = premium_pct.index if isinstance(premium_pct, pd.Series) else None
    return pd.DataFrame({"bullish": bullish, "bearish": bearish, "overleveraged": over}, index=idx)


#: Bits of the cycle vote masks (``cycle_top_votes``, ``cycle_bottom_votes`` in
#: :func:`~btcflow_nb.flow_metrics`): a bar's mask is the sum of the bits of the metrics that
#: voted, e.g. 3 = premium + OI. :func:`vote_names` spells a mask out.
VOTE_BITS = {"premium": 1, "oi": 2, "funding": 4}
_POPCOUNT = np.array([0, 1, 1, 2, 1, 2, 2, 3], dtype=np.int8)


def vote_names(mask) -> str:
    """The metrics of a vote mask, joined by ``+`` (``3`` -> ``"premium+oi"``; ``0`` -> ``""``).

    >>> vote_names(5)
    'premium+funding'
    """
    m = int(mask)
    if not 0 <= m <= 7:
        raise ValueError(f"vote mask {mask!r} is out of range; valid range: 0..7 "
                         f"(bits: {VOTE_BITS})")
    return "+".join(name for name, bit in VOTE_BITS.items() if m & bit)


def cycle_votes(premium_z, oi_z, funding_z, *, cycle_k: float = DEFAULTS["cycle_k"]
                ) -> pd.DataFrame:
    """Which metrics vote for a cycle top and for a cycle bottom at each bar, as bit masks.

    Top votes: premium z <= -k (bit 1), OI z >= k (bit 2), funding z >= k (bit 4); bottom
    votes: premium z >= k, OI z <= -k, funding z <= -k (same bits, :data:`VOTE_BITS`). A NaN
    z-score (no data, or a window not yet full) never votes.

    Returns a DataFrame with int8 columns ``top_votes, bottom_votes``.
    """
    k = check_range("cycle_k", cycle_k, 0, 10)
    pz, oz, fz = _aligned_arrays(premium_z=premium_z, oi_z=oi_z, funding_z=funding_z)
    with np.errstate(invalid="ignore"):
        top = (pz <= -k).astype(np.int8) + 2 * (oz >= k).astype(np.int8) \
            + 4 * (fz >= k).astype(np.int8)
        bottom = (pz >= k).astype(np.int8) + 2 * (oz <= -k).astype(np.int8) \
            + 4 * (fz <= -k).astype(np.int8)
    idx = premium_z.index if isinstance(premium_z, pd.Series) else None
    return pd.DataFrame({"top_votes": top, "bottom_votes": bottom}, index=idx)


def _check_m(cycle_m) -> int:
    if isinstance(cycle_m, (bool, np.bool_)) or not isinstance(cycle_m, (int, float, np.number)) \
            or not float(cycle_m).is_integer() or not 1 <= int(cycle_m) <= 3:
        raise ValueError(f"cycle_m={cycle_m!r} is out of range; valid choices: 1, 2, 3")
    return int(cycle_m)


def extreme_cycle(
    premium_z: pd.Series,
    oi_z: pd.Series,
    funding_z: pd.Series,
    *,
    cycle_k: float = DEFAULTS["cycle_k"],
    cycle_m: int = DEFAULTS["cycle_m"],
    votes: bool = False,
) -> pd.DataFrame:
    """Experimental extreme-cycle engine: cycle tops and bottoms from z-score extremes.

    - **top** when at least ``m`` of {premium z <= -k, OI z >= k, funding z >= k} hold
      (futures rich, leverage crowded, longs paying up);
    - **bottom** when at least ``m`` of {premium z >= k, OI z <= -k, funding z <= -k} hold.

    ``m`` is an absolute count: a metric that is NaN (no data) does not vote, so with fewer
    than ``m`` metrics available nothing fires — one metric never fires alone when ``m >= 2``,
    whatever the others lack. (Before issue 12, ``m`` counted among the available metrics.)

    Returns a DataFrame with boolean columns ``cycle_top, cycle_bottom``; with ``votes=True``
    also the int8 masks ``cycle_top_votes, cycle_bottom_votes`` of :func:`cycle_votes` (which
    metrics voted; :data:`VOTE_BITS`, :func:`vote_names`).
    """
    m = _check_m(cycle_m)
    v = cycle_votes(premium_z, oi_z, funding_z, cycle_k=cycle_k)
    top_mask, bottom_mask = v["top_votes"].to_numpy(), v["bottom_votes"].to_numpy()
    out = pd.DataFrame({"cycle_top": _POPCOUNT[top_mask] >= m,
                        "cycle_bottom": _POPCOUNT[bottom_mask] >= m}, index=v.index)
    if votes:
        out["cycle_top_votes"] = top_mask
        out["cycle_bottom_votes"] = bottom_mask
    return out


def premium_alerts(
    premium_abs: pd.Series,
    *,
    bb_length: int = DEFAULTS["bb_length"],
    bb_mult: float = DEFAULTS["bb_mult"],
) -> pd.DataFrame:
    """The premium-index script's two alerts, on Bollinger bands of the USD premium.

    - ``alert_premium_high``: premium crosses above the upper band ("spot premium too high");
    - ``alert_premium_low``: premium crosses below the lower band ("futures premium too high /
      spot selling pressure").

    The bands are :func:`btcflow_nb.indicators.bollinger` with ``window=bb_length`` and
    ``mult=bb_mult``. Cross semantics are Pine's (:func:`btcflow_nb.indicators.crossover`).
    Returns a DataFrame with ``bb_basis, bb_upper, bb_lower, alert_premium_high,
    alert_premium_low``.
    """
    bb_length = check_window("bb_length", bb_length)
    bands = bollinger(premium_abs, window=bb_length, mult=bb_mult)
    return pd.DataFrame({
        "bb_basis": bands["basis"],
        "bb_upper": bands["upper"],
        "bb_lower": bands["lower"],
        "alert_premium_high": crossover(premium_abs, bands["upper"]),
        "alert_premium_low": crossunder(premium_abs, bands["lower"]),
    }, index=bands.index)


def onsets(state) -> pd.Series:
    """The first bar of each run of a boolean signal (an *event*, where ``state`` is a *state*).

    ``onset_t = state_t and not state_{t-1}``; the first bar is an onset when its state is true.
    A signal that is true on 40 % of bars may have a few dozen onsets: charts and alert lists
    show onsets, a state is better drawn as a shaded band. NaN counts as false.

    >>> onsets(pd.Series([False, True, True, False, True])).tolist()
    [False, True, False, False, True]
    """
    s = pd.Series(state) if not isinstance(state, pd.Series) else state
    on = s.fillna(False).to_numpy(dtype=bool)
    out = on.copy()
    out[1:] &= ~on[:-1]
    return pd.Series(out, index=s.index, name=s.name)


def run_lengths(state) -> pd.Series:
    """How many bars the current run of a boolean signal has lasted, counted from its onset
    (1 on the onset bar, 2 on the next, ...); 0 where the state is false.

    >>> run_lengths(pd.Series([False, True, True, False, True])).tolist()
    [0, 1, 2, 0, 1]
    """
    s = pd.Series(state) if not isinstance(state, pd.Series) else state
    on = s.fillna(False).to_numpy(dtype=bool)
    out = np.zeros(len(on), dtype="int64")
    bars = np.flatnonzero(on)                      # work on the true bars only: signals are sparse
    if len(bars):
        first = np.ones(len(bars), dtype=bool)     # a true bar whose previous bar is false
        first[1:] = bars[1:] != bars[:-1] + 1
        run_start = bars[np.maximum.accumulate(np.where(first, np.arange(len(bars)), 0))]
        out[bars] = bars - run_start + 1
    return pd.Series(out, index=s.index, name=s.name)
