"""``explain(metrics, time)``: why each signal is on or off at one bar.

Every signal of :func:`~btcflow_nb.flow_metrics` is a combination of simple conditions (a value
against a threshold). For one bar, :func:`explain` lists each condition of each signal with the
value, the threshold, and whether it passed; for the z-score conditions also the mean and the
(population) standard deviation of the z window, so that ``z = (x - mean) / std`` can be checked
by hand. Every number is read from the ``flow_metrics`` frame itself (its columns, and the
parameters in ``metrics.attrs["params"]``): nothing is recomputed, so the explanation cannot
disagree with the charts.

>>> import btcflow_nb as bf
>>> m = bf.flow_metrics(bf.load_demo(), "1W")
>>> bf.explain(m, "2024-03-11")                      # doctest: +SKIP
>>> print(bf.explain(m, "2024-03-11", as_text=True))  # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .signals import VOTE_BITS, vote_names
from .timeframes import bar_open, to_timestamp

__all__ = ["explain", "EXPLAIN_COLUMNS"]

#: Columns of :func:`explain`'s frame.
EXPLAIN_COLUMNS = ("signal", "condition", "value", "op", "threshold", "passed", "mean", "std")

_OPS = {">": np.greater, "<": np.less, ">=": np.greater_equal, "<=": np.less_equal}
_Z_BASE = {"premium_z": "premium_pct", "oi_z": "oi_total", "funding_z": "funding"}


def _row(signal, condition, value, op, threshold, m_row=None, z=None, passed=None):
    value = float(value) if value is not None else np.nan
    threshold = float(threshold) if threshold is not None else np.nan
    if passed is None:   # a NaN compares False, as in the engine
        with np.errstate(invalid="ignore"):
            passed = bool(_OPS[op](value, threshold))
    mean = std = np.nan
    if z is not None and m_row is not None:
        mean, std = float(m_row[f"{z}_mean"]), float(m_row[f"{z}_std"])
    return (signal, condition, value, op, threshold, bool(passed), mean, std)


def _locate(metrics: pd.DataFrame, time) -> int:
    if not isinstance(metrics, pd.DataFrame) or "params" not in metrics.attrs:
        raise ValueError("metrics must be a frame returned by flow_metrics (it carries its "
                         "parameters in attrs['params']); got "
                         f"{type(metrics).__name__}")
    if len(metrics) == 0:
        raise ValueError("metrics has no bars to explain")
    ts = to_timestamp(time, "time")
    tf = metrics.attrs["params"]["timeframe"]
    bar = bar_open(pd.DatetimeIndex([ts]), tf)[0]
    pos = metrics.index.get_indexer([bar])[0]
    if pos < 0:
        raise ValueError(f"time={time!r} is in no bar of metrics ({tf} bar {bar}); valid range: "
                         f"{metrics.index[0]} .. {metrics.index[-1]}")
    return int(pos)


def explain(metrics: pd.DataFrame, time, *, as_text: bool = False):
    """Each condition of each signal at the bar containing ``time``.

    Parameters
    ----------
    metrics : the frame :func:`~btcflow_nb.flow_metrics` returned (a ``start``/``end`` slice
        is fine; the premium alerts' previous-bar condition needs the bar before).
    time : any time :func:`~btcflow_nb.timeframes.to_timestamp` reads; the bar that contains
        it is explained (bars are labelled by their open time).
    as_text : return a readable text instead of the frame.

    Returns
    -------
    DataFrame with columns :data:`EXPLAIN_COLUMNS`, one row per condition and one verdict row
    per signal (condition ``"=> <signal>"``, ``passed`` = the signal's column):

    =========  ===================================================================
    signal     bullish, bearish, overleveraged, cycle_top, cycle_bottom,
               alert_premium_high, alert_premium_low
    condition  e.g. ``"oi_z < bull_oi_z_max"``
    value      the value at the bar (funding in the frame's display unit)
    op         ``>``, ``<``, ``>=``, ``<=`` (``any``/``all`` for combined rows)
    threshold  the parameter, or the series it is compared with (trend, band), in the
               value's unit (funding thresholds converted to % APR when ``apr``)
    passed     bool; a NaN value never passes (no data cannot confirm anything)
    mean, std  for z-score conditions: the z window's mean and population std of the
               underlying series (``premium_pct``, ``oi_total``, ``funding``)
    =========  ===================================================================

    ``attrs``: ``time`` (the bar), ``open_bar`` (its signals are provisional), ``onsets``
    and ``runs`` (per signal: is this bar an onset, and the run length).
    """
    pos = _locate(metrics, time)
    m = metrics.iloc[pos]
    prev = metrics.iloc[pos - 1] if pos > 0 else None
    p = metrics.attrs["params"]
    scale = 1095.0 if p.get("apr") else 1.0
    rows = []
    # ---- confluence
    rows += [
        _row("bullish", "premium_pct > premium_min", m["premium_pct"], ">", p["premium_min"]),
        _row("bullish", "premium_pct > premium_trend (rising)", m["premium_pct"], ">",
             m["premium_trend"]),
        _row("bullish", "oi_z < bull_oi_z_max", m["oi_z"], "<", p["bull_oi_z_max"], m, "oi_z"),
        _row("bullish", "funding < bull_funding_max", m["funding"], "<",
             p["bull_funding_max"] * scale),
    ]
    builds = [
        _row("bearish", "oi_z > oi_build_z (either)", m["oi_z"], ">", p["oi_build_z"], m, "oi_z"),
        _row("bearish", "funding > funding_hot (either)", m["funding"], ">",
             p["funding_hot"] * scale),
    ]
    rows += [
        _row("bearish", "premium_pct < -premium_min", m["premium_pct"], "<",
             0.0 - p["premium_min"]),
        _row("bearish", "premium_pct < premium_trend (falling)", m["premium_pct"], "<",
             m["premium_trend"]),
        *builds,
        _row("bearish", "leverage builds: either of the two above", None, "any", None,
             passed=builds[0][5] or builds[1][5]),
        _row("overleveraged", "oi_z >= oi_hot_z", m["oi_z"], ">=", p["oi_hot_z"], m, "oi_z"),
        _row("overleveraged", "funding >= funding_hot", m["funding"], ">=",
             p["funding_hot"] * scale),
    ]
    # ---- extreme cycle
    k, need = p["cycle_k"], p["cycle_m"]
    for signal, sides in (("cycle_top", ("<=", ">=", ">=")), ("cycle_bottom", (">=", "<=", "<="))):
        for z, op in zip(("premium_z", "oi_z", "funding_z"), sides):
            thr = -k if op == "<=" else k
            rows.append(_row(signal, f"{z} {op} {'-' if thr < 0 else ''}cycle_k", m[z], op, thr,
                             m, z))
        mask = int(m[f"{signal}_votes"])
        votes = bin(mask).count("1")
        rows.append(_row(signal, f"votes >= cycle_m (voted: {vote_names(mask) or 'none'})",
                         votes, ">=", need))
        if not p.get("extremes", True):
            rows.append(_row(signal, "extreme-cycle engine on", 0.0, ">=", 1.0))
    # ---- premium alerts (Pine cross events)
    for signal, op, back, band in (("alert_premium_high", ">", "<=", "bb_upper"),
                                   ("alert_premium_low", "<", ">=", "bb_lower")):
        rows.append(_row(signal, f"premium_abs {op} {band}", m["premium_abs"], op, m[band]))
        rows.append(_row(signal, f"previous bar: premium_abs {back} {band}",
                         None if prev is None else prev["premium_abs"], back,
                         None if prev is None else prev[band],
                         passed=None if prev is not None else bool(m[signal])))
    out_rows = []
    for signal in _signals():   # each signal's conditions, then its verdict (value: run length)
        out_rows += [r for r in rows if r[0] == signal]
        out_rows.append((signal, f"=> {signal}", float(m[f"{signal}_run"]), "all",
                         np.nan, bool(m[signal]), np.nan, np.nan))
    frame = pd.DataFrame(out_rows, columns=list(EXPLAIN_COLUMNS))
    frame.attrs.update(time=metrics.index[pos], timeframe=p["timeframe"],
                       open_bar=bool(m["open_bar"]),
                       funding_unit=metrics.attrs.get("funding_unit", "% per 8h"),
                       onsets={s: bool(m[f"{s}_onset"]) for s in _signals()},
                       runs={s: int(m[f"{s}_run"]) for s in _signals()})
    return _text(frame, m) if as_text else frame


def _signals():
    return ("bullish", "bearish", "overleveraged", "cycle_top", "cycle_bottom",
            "alert_premium_high", "alert_premium_low")


def _fmt(x) -> str:
    return "NaN" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.6g}"


def _text(frame: pd.DataFrame, m: pd.Series) -> str:
    a = frame.attrs
    state = "OPEN: provisional, its values can still change" if a["open_bar"] else "closed"
    lines = [f"bar {a['time']:%Y-%m-%d %H:%M} UTC ({a['timeframe']}), {state}; "
             f"funding in {a['funding_unit']}"]
    for signal, rows in frame.groupby("signal", sort=False):
        verdict = rows.iloc[-1]
        on = "ON" if verdict["passed"] else "off"
        extra = ""
        if verdict["passed"]:
            extra = " (onset)" if a["onsets"][signal] else f" (bar {a['runs'][signal]} of its run)"
        lines.append(f"{signal}: {on}{extra}")
        for _, r in rows.iloc[:-1].iterrows():
            mark = "pass" if r["passed"] else "FAIL"
            if r["op"] == "any":
                lines.append(f"  [{mark}] {r['condition']}")
                continue
            line = (f"  [{mark}] {r['condition']}: {_fmt(r['value'])} {r['op']} "
                    f"{_fmt(r['threshold'])}")
            if not np.isnan(r["std"]):
                z = r["condition"].split()[0]
                line += (f"   (z = (x - mean) / std = ({_fmt(float(m[_Z_BASE[z]]))} - "
                         f"{_fmt(r['mean'])}) / {_fmt(r['std'])})")
            lines.append(line)
    lines.append(f"vote bits: {VOTE_BITS}")
    return "\n".join(lines)
