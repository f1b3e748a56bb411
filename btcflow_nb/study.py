"""Does a signal work? Forward spot returns after each signal onset, with honest uncertainty.

>>> import btcflow_nb as bf
>>> from btcflow_nb.study import study, sensitivity
>>> s = study(bf.load_demo(), "1W")          # doctest: +SKIP
>>> s.summary                                 # doctest: +SKIP

**On synthetic data (the demo) every number here is meaningless**: the demo's prices are not
driven by its signals. Run it on cached (``bf.from_cache()``) or imported real data.

What is measured (for each signal, at one timeframe)
-----------------------------------------------------
- **Onsets**: the first bar of each run of the signal's state
  (:func:`btcflow_nb.signals.onsets`); a signal true for ten weeks is *one* event.
- **Forward return** at horizon ``h`` bars after an onset at bar ``t``:
  ``100 × (S[t+h] / S[t] − 1)`` in %, simple (not log) returns of the spot price ``S``
  (``flow_metrics``' ``spot``), measured from the onset bar's **close**, so the onset bar's own
  move is not counted. Onsets too close to the end for ``h`` bars are left out (``n``).
- **mean, median** of those returns; **all_bars**: the mean ``h``-bar forward return from
  *every* bar (the unconditional benchmark); **excess** = ``mean − all_bars``.
- **ci_low, ci_high** (and **excess_low, excess_high**): percentile interval (level ``ci``) of
  a **circular block bootstrap** of the bars: blocks of ``block_length`` consecutive bars
  (default ``max(longest horizon, ⌈N^{1/3}⌉)``) keep the overlap of neighbouring forward
  windows, which independent resampling would ignore. Seeded: the same ``seed`` gives the same
  interval. See :mod:`btcflow_nb._study_stats`.
- **hit_rate**: % of onsets followed by a move in the signal's expected direction
  (:data:`DIRECTIONS`; strictly up or strictly down); **hit_rate_all**: the same share over
  every bar, the rate a coin aligned with the market's drift would reach.
- **base_rate**: % of all windows of ``h`` consecutive bars that contain at least one onset. A
  signal with a high base rate "precedes" almost any move; a low one is a rare event.
- **warning**: fewer than ``min_onsets`` (default 10) onsets with a forward return: too few to
  judge, whatever the numbers say.

Expected directions (:data:`DIRECTIONS`)
----------------------------------------
bullish up; bearish down; overleveraged down (crowded longs are flushed); cycle_top down;
cycle_bottom up. The premium alerts are read as the premium-index script labels them, as
*flow*: ``alert_premium_low`` is "futures premium too high / spot selling pressure" -> down, and
``alert_premium_high`` (spot bid above the band: spot-led buying, the same reading as the
bullish engine's positive premium) -> up. A contrarian reading ("too high" fades) is the
opposite; pass ``directions={"alert_premium_high": "down"}`` to study it.
"""
from __future__ import annotations

import html
import inspect
import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import _study_stats as st
from ._checks import check_range, choice_error
from .marketdata import MarketData
from .metrics import flow_metrics
from .signals import onsets as _onsets

SIGNALS = ("bullish", "bearish", "overleveraged", "cycle_top", "cycle_bottom",
           "alert_premium_high", "alert_premium_low")
DIRECTIONS = {"bullish": "up", "bearish": "down", "overleveraged": "down", "cycle_top": "down",
              "cycle_bottom": "up", "alert_premium_high": "up", "alert_premium_low": "down"}
DEFAULT_HORIZONS = (1, 4, 12)
MIN_ONSETS = 10
SYNTHETIC_NOTE = ("SYNTHETIC DEMO DATA: these results mean nothing (the demo's prices do not "
                  "respond to its signals); run the study on real data.")
#: flow_metrics keywords a sensitivity grid can vary; THRESHOLDS only ever remove state bars.
GRID_PARAMS = ("lookback", "trend_length", "premium_min", "oi_build_z", "oi_hot_z",
               "funding_hot", "bull_oi_z_max", "bull_funding_max", "cycle_k", "cycle_m",
               "bb_length", "bb_mult", "funding_smoothing")
THRESHOLDS = ("premium_min", "oi_build_z", "oi_hot_z", "funding_hot", "cycle_k", "cycle_m")
SUMMARY_COLUMNS = ("signal", "direction", "horizon", "n_onsets", "n", "mean", "ci_low",
                   "ci_high", "median", "all_bars", "excess", "excess_low", "excess_high",
                   "hit_rate", "hit_rate_all", "base_rate", "warning")

__all__ = ["study", "sensitivity", "SignalStudy", "SIGNALS", "DIRECTIONS", "DEFAULT_HORIZONS",
           "GRID_PARAMS", "THRESHOLDS"]


# ----------------------------------------------------------------------------- validation
def check_horizons(horizons) -> tuple[int, ...]:
    """Horizons in bars: positive whole numbers (sorted, without duplicates)."""
    items = [horizons] if isinstance(horizons, numbers.Number) else horizons
    try:
        items = list(items)
    except TypeError:
        items = [horizons]
    bad = [h for h in items if isinstance(h, (bool, np.bool_)) or not isinstance(
        h, numbers.Integral) or h < 1]
    if bad or not items:
        shown = bad[0] if bad else horizons
        raise ValueError(f"horizon {shown!r} is not valid: horizons are positive whole numbers "
                         f"of bars, e.g. {DEFAULT_HORIZONS}; got horizons={horizons!r}")
    return tuple(sorted({int(h) for h in items}))


def check_signals(signals) -> tuple[str, ...]:
    """Signal names among :data:`SIGNALS` (``None``: all of them)."""
    if signals is None:
        return SIGNALS
    items = [signals] if isinstance(signals, str) else list(signals)
    for s in items:
        if s not in SIGNALS:
            raise choice_error("signal", s, SIGNALS)
    if not items:
        raise ValueError(f"choose at least one signal; valid choices: {', '.join(SIGNALS)}")
    return tuple(dict.fromkeys(items))


def _directions(overrides) -> dict[str, str]:
    out = dict(DIRECTIONS)
    for name, d in (overrides or {}).items():
        if name not in SIGNALS:
            raise choice_error("signal", name, SIGNALS, " in directions")
        if d not in ("up", "down"):
            raise choice_error(f"direction for {name}", d, ("up", "down"))
        out[name] = d
    return out


def _whole(name: str, value, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < low:
        raise ValueError(f"{name} must be a whole number >= {low}; got {value!r}")
    return int(value)


def _metrics(md_or_metrics, timeframe: str, kwargs: dict) -> pd.DataFrame:
    if isinstance(md_or_metrics, pd.DataFrame):
        if kwargs:
            raise ValueError(f"flow_metrics keywords {sorted(kwargs)} were given with a "
                             f"ready metrics frame; pass the MarketData instead")
        m = md_or_metrics
    elif isinstance(md_or_metrics, MarketData):
        m = flow_metrics(md_or_metrics, timeframe, **kwargs)
    else:
        raise ValueError(f"study needs a MarketData or a flow_metrics DataFrame; got "
                         f"{type(md_or_metrics).__name__}")
    if "open_bar" in m and len(m) and bool(m["open_bar"].iloc[-1]):
        # the still-open bar's close is provisional: it feeds no forward return and no onset
        m = m.iloc[:-1]
    spot = pd.to_numeric(m["spot"], errors="coerce") if "spot" in m else pd.Series(dtype=float)
    if not (spot > 0).any():
        tf = m.attrs.get("timeframe", timeframe)
        what = (f"md.spot has venues {list(md_or_metrics.spot.columns)}"
                if isinstance(md_or_metrics, MarketData) else
                f"spot={'missing' if 'spot' not in m else 'all NaN'}")
        raise ValueError(f"no spot prices ({what}) on the {len(m)} {tf} bars: the study "
                         f"measures forward spot returns; valid: data with at least one spot "
                         f"venue with positive closes")
    missing = [s for s in SIGNALS if s not in m]
    if missing:
        raise ValueError(f"the metrics frame lacks signal columns {missing}; valid: a "
                         f"flow_metrics result (columns {', '.join(SIGNALS)})")
    return m


# ----------------------------------------------------------------------------- the result
@dataclass
class SignalStudy:
    """Result of :func:`study`: tidy frames plus how they were computed.

    ``summary``: one row per signal × horizon (columns :data:`SUMMARY_COLUMNS`; returns and
    rates in %). ``onsets``: one row per onset (``signal, time, spot, fwd_<h>`` in %).
    ``paths``: the event study, one row per signal × bar after onset ``k = 0..H``
    (``mean, low, high`` over onsets, ``all_bars`` the mean over every bar, ``n`` onsets).
    """

    summary: pd.DataFrame
    onsets: pd.DataFrame
    paths: pd.DataFrame
    timeframe: str
    horizons: tuple
    n_bars: int
    span: tuple
    block_length: int
    n_boot: int
    seed: int
    ci: float
    directions: dict
    synthetic: bool = False
    source: str | None = None
    warnings: list = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """The summary formatted for reading (strings; returns in % with 2 decimals, rates in
        whole %; ``hit %`` shows the all-bars hit rate in brackets)."""
        s = self.summary
        pct = lambda v: "n/a" if pd.isna(v) else f"{v:+.2f}"  # noqa: E731
        rate = lambda v: "n/a" if pd.isna(v) else f"{v:.0f}"  # noqa: E731
        band = lambda a, b: f"[{pct(a)}, {pct(b)}]"  # noqa: E731
        return pd.DataFrame({
            "signal": s["signal"], "dir": s["direction"], "h": s["horizon"],
            "onsets": s["n_onsets"], "n": s["n"], "mean %": s["mean"].map(pct),
            f"{self.ci:.0%} CI": list(map(band, s["ci_low"], s["ci_high"])),
            "median %": s["median"].map(pct), "excess %": s["excess"].map(pct),
            f"excess {self.ci:.0%} CI": list(map(band, s["excess_low"], s["excess_high"])),
            "hit % (all)": [f"{rate(a)} ({rate(b)})" for a, b in zip(s.hit_rate, s.hit_rate_all)],
            "base %": s["base_rate"].map(rate),
        })

    def _header(self) -> list[str]:
        lo, hi = (f"{t:%Y-%m-%d}" if t is not None else "?" for t in self.span)
        head = [f"Signal study · {self.timeframe} · {self.n_bars} bars {lo} → {hi} · "
                f"source {self.source or 'unknown'}",
                f"forward spot return after each onset, % (S[t+h]/S[t] − 1 from the onset "
                f"bar's close); {self.ci:.0%} CI: circular block bootstrap, {self.n_boot} "
                f"draws, blocks of {self.block_length} bars, seed {self.seed}"]
        first = self.summary.drop_duplicates("horizon")
        if len(first):
            head.append("benchmark, mean over all bars: " + ", ".join(
                f"h={h} {v:+.2f} %" for h, v in zip(first["horizon"], first["all_bars"])))
        return ([SYNTHETIC_NOTE] if self.synthetic else []) + head

    def __repr__(self) -> str:
        lines = self._header() + [self.table().to_string(index=False)]
        if self.warnings:
            lines += ["warnings:"] + [f"  {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        warn = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
        head = "<br>".join(html.escape(h) for h in self._header())
        return (f"<div class='btcflow-study'><p>{head}</p>"
                f"{self.table().to_html(index=False)}"
                + (f"<ul>{warn}</ul>" if warn else "") + "</div>")


# ----------------------------------------------------------------------------- study
def study(md_or_metrics, timeframe: str = "1W", signals=None, horizons=DEFAULT_HORIZONS, *,
          n_boot: int = 2000, seed: int = 0, ci: float = 0.95, block_length: int | None = None,
          min_onsets: int = MIN_ONSETS, directions: dict | None = None,
          **flow_metrics_kwargs) -> SignalStudy:
    """Measure what the spot price did after each onset of each signal.

    Parameters
    ----------
    md_or_metrics : MarketData (``flow_metrics(md, timeframe, **flow_metrics_kwargs)`` is run)
        or a ready ``flow_metrics`` DataFrame (then no keywords).
    timeframe : bar size of the study (horizons count these bars).
    signals : names among :data:`SIGNALS` (default: all).
    horizons : forward horizons in bars, positive ints (default ``(1, 4, 12)``).
    n_boot, seed, ci, block_length : the bootstrap (``n_boot=0`` skips it: NaN intervals).
    min_onsets : fewer onsets with a forward return than this gives a warning.
    directions : overrides of :data:`DIRECTIONS`, e.g. ``{"alert_premium_high": "down"}``.

    The module docstring defines every number. Results on synthetic data mean nothing.
    """
    names = check_signals(signals)
    hs = check_horizons(horizons)
    n_boot = _whole("n_boot", n_boot, 0)
    seed = _whole("seed", seed, 0)
    ci = check_range("ci", ci, 0, 1, low_open=True)
    dirs = _directions(directions)
    min_onsets = _whole("min_onsets", min_onsets, 0)
    m = _metrics(md_or_metrics, timeframe, flow_metrics_kwargs)
    tf = m.attrs.get("timeframe", timeframe)
    n, big_h = len(m), max(hs)
    block = (st.default_block_length(n, big_h) if block_length is None
             else _whole("block_length", block_length, 1))
    R = st.forward_returns(m["spot"].to_numpy(dtype="float64"), big_h)
    events = np.vstack([_onsets(m[s]).to_numpy(dtype=bool) for s in names])
    means, counts = st.mean_paths(R, np.vstack([events, np.ones(n, bool)]))
    if n_boot:
        draws = st.bootstrap_mean_paths(R, events, n_boot, seed, block)
        low, high = st.percentile_interval(draws.transpose(1, 0, 2), ci)
        ex_low, ex_high = st.percentile_interval((draws[:-1] - draws[-1:]).transpose(1, 0, 2), ci)
    else:
        low = high = np.full(means.shape, np.nan)
        ex_low = ex_high = np.full((len(names), big_h + 1), np.nan)
    rows, onset_rows, path_rows, warnings = [], [], [], []
    for i, name in enumerate(names):
        at = np.flatnonzero(events[i])
        for h in hs:
            r = R[at, h]
            n_ok = int(np.isfinite(r).sum())
            warning = (f"only {n_ok} onsets with a {h}-bar forward return (< {min_onsets}): "
                       f"too few to judge" if n_ok < min_onsets else "")
            rows.append({
                "signal": name, "direction": dirs[name], "horizon": h, "n_onsets": len(at),
                "n": n_ok, "mean": 100 * means[i, h], "ci_low": 100 * low[i, h],
                "ci_high": 100 * high[i, h],
                "median": 100 * np.median(r[np.isfinite(r)]) if n_ok else np.nan,
                "all_bars": 100 * means[-1, h], "excess": 100 * (means[i, h] - means[-1, h]),
                "excess_low": 100 * ex_low[i, h], "excess_high": 100 * ex_high[i, h],
                "hit_rate": 100 * st.hit_rate(r, dirs[name]),
                "hit_rate_all": 100 * st.hit_rate(R[:, h], dirs[name]),
                "base_rate": 100 * st.base_rate(events[i], h), "warning": warning})
            if warning and not any(w.startswith(f"{name}:") for w in warnings):
                warnings.append(f"{name}: only {n_ok} onsets (< {min_onsets}): too few to judge")
        for t in at:
            onset_rows.append({"signal": name, "time": m.index[t], "spot": m["spot"].iloc[t],
                               **{f"fwd_{h}": 100 * R[t, h] for h in hs}})
        for k in range(big_h + 1):
            path_rows.append({"signal": name, "bars": k, "mean": 100 * means[i, k],
                              "low": 100 * low[i, k], "high": 100 * high[i, k],
                              "all_bars": 100 * means[-1, k], "n": int(counts[i, k])})
    onset_cols = ["signal", "time", "spot", *(f"fwd_{h}" for h in hs)]
    span = (m.index[0], m.index[-1]) if n else (None, None)
    return SignalStudy(
        summary=pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)),
        onsets=pd.DataFrame(onset_rows, columns=onset_cols), paths=pd.DataFrame(path_rows),
        timeframe=tf, horizons=hs, n_bars=n, span=span, block_length=block, n_boot=n_boot,
        seed=seed, ci=ci, directions={s: dirs[s] for s in names},
        synthetic=bool(m.attrs.get("synthetic")), source=m.attrs.get("source"),
        warnings=warnings)


# ----------------------------------------------------------------------------- sensitivity
def _check_grid_param(name: str, value) -> str:
    if value not in GRID_PARAMS:
        raise choice_error(name, value, GRID_PARAMS)
    return value


def sensitivity(md: MarketData, signal: str, *, param_x: str = "cycle_k",
                values_x=(1.5, 2.0, 2.5, 3.0), param_y: str = "lookback",
                values_y=(26, 52, 104), horizon: int = 4, timeframe: str = "1W",
                directions: dict | None = None, **flow_metrics_kwargs) -> pd.DataFrame:
    """How a signal's onsets and forward returns move with two ``flow_metrics`` parameters.

    One row per cell ``(param_x, param_y)`` (tidy; ``pivot`` it for a grid) with
    ``state_bars`` (bars on which the signal holds), ``n_onsets``, ``n``, ``mean``, ``excess``,
    ``hit_rate`` and ``base_rate`` at ``horizon`` bars, defined and computed exactly as in
    :func:`study` (each cell equals ``study(md, timeframe, signal, horizon, param_x=x,
    param_y=y)``, without the bootstrap).

    How it is computed, honestly: every cell runs ``flow_metrics`` (a few milliseconds: the
    parameter-free series are memoised on ``md``); the forward returns and the all-bars
    benchmark are computed once, as the spot price does not depend on these parameters. Raising
    a threshold (:data:`THRESHOLDS`) can only remove *state bars*, and the grid checks it: along
    such an axis ``state_bars`` never rises (a violation is reported in ``attrs["notes"]``).
    Onsets, however, are *not* monotone: removing a bar inside a run splits it into two onsets,
    so onsets cannot be filtered from the lowest threshold — they are recounted per cell.
    """
    if not isinstance(md, MarketData):
        raise ValueError(f"sensitivity needs a MarketData (it recomputes flow_metrics per "
                         f"cell); got {type(md).__name__}")
    (name,) = check_signals([signal])
    _check_grid_param("param_x", param_x)
    _check_grid_param("param_y", param_y)
    if param_x == param_y:
        raise ValueError(f"param_x and param_y are both {param_x!r}; choose two different "
                         f"parameters among {', '.join(GRID_PARAMS)}")
    clash = sorted({param_x, param_y} & set(flow_metrics_kwargs))
    if clash:
        raise ValueError(f"{clash} are grid axes; do not also pass them as keywords")
    (h,) = check_horizons([horizon])
    direction = _directions(directions)[name]
    xs, ys = list(values_x), list(values_y)
    if not xs or not ys:
        raise ValueError(f"values_x and values_y need at least one value each; got "
                         f"values_x={values_x!r}, values_y={values_y!r}")
    rows, spot0, R, all_mean = [], None, None, np.nan
    for y in ys:
        for x in xs:
            try:
                m = _metrics(md, timeframe, {**flow_metrics_kwargs, param_x: x, param_y: y})
            except ValueError as exc:
                raise ValueError(f"cell {param_x}={x!r}, {param_y}={y!r}: {exc}") from None
            spot = m["spot"].to_numpy(dtype="float64")
            if spot0 is None or not np.array_equal(spot, spot0, equal_nan=True):
                spot0, R = spot, st.forward_returns(spot, h)
                all_mean = st.mean_paths(R, np.ones((1, len(spot)), bool))[0][0, h]
            state = m[name].to_numpy(dtype=bool)
            on = _onsets(m[name]).to_numpy(dtype=bool)
            r = R[on, h]
            mean = st.mean_paths(R, on[None, :])[0][0, h]
            rows.append({param_x: x, param_y: y, "state_bars": int(state.sum()),
                         "n_onsets": int(on.sum()), "n": int(np.isfinite(r).sum()),
                         "mean": 100 * mean, "excess": 100 * (mean - all_mean),
                         "hit_rate": 100 * st.hit_rate(r, direction),
                         "base_rate": 100 * st.base_rate(on, h)})
    grid = pd.DataFrame(rows)
    notes = []
    for axis, other in ((param_x, param_y), (param_y, param_x)):
        if axis in THRESHOLDS:
            for val, g in grid.groupby(other, sort=False):
                counts = g.sort_values(axis)["state_bars"].to_numpy()
                if (np.diff(counts) > 0).any():
                    notes.append(f"state bars rose with {axis} at {other}={val!r}: "
                                 f"{counts.tolist()}")
    grid.attrs.update(signal=name, horizon=h, timeframe=m.attrs.get("timeframe", timeframe),
                      direction=direction, synthetic=bool(m.attrs.get("synthetic")),
                      notes=notes)
    return grid
