"""ExplainView: why each signal is on or off at one bar, beside the flow dashboard's charts.

It shows :func:`btcflow_nb.explain` of the bar — every condition of every signal with its
value, the threshold, pass or fail, and for the z-score conditions the window's mean and
(population) standard deviation, so ``z = (x − mean) / std`` can be checked by hand — and which
metrics voted for a cycle top or bottom. Every number is read from the ``flow_metrics`` frame
the charts are drawn from (nothing is recomputed), so the panel cannot disagree with them.

A bar is chosen by a click on a signal marker of the price panel (in the dashboard's
"crosshair" cursor mode: in "pan/zoom" mode bqplot's pan/zoom layer takes the clicks), by the **explain** dropdown
(every bar with an onset in the visible range, newest first: the keyboard way) or by the
**any bar** date picker. The bar of a still-open period is marked *provisional (bar open)*.
"""
from __future__ import annotations

import datetime as _dt
import html

import ipywidgets as W
import numpy as np
import pandas as pd

from ..explanation import explain
from ..signals import vote_names

__all__ = ["ExplainView", "explain_html"]

_PROMPT = ("<i>Click a signal marker, or pick an onset below, to see why each signal is on or "
           "off at that bar.</i>")


def _num(x) -> str:
    """Numbers as the panel shows them: 6 significant digits, "NaN" for no data."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "NaN"
    return f"{x:.6g}"


def explain_html(frame: pd.DataFrame, row: pd.Series) -> str:
    """The explain frame of one bar as an HTML table, with a header saying whether the bar is
    closed or provisional and which metrics voted for a cycle top / bottom (``row``: that
    bar's ``flow_metrics`` row)."""
    a = frame.attrs
    fmt = "%Y-%m-%d %H:%M" if a["timeframe"] in ("1h", "4h") else "%Y-%m-%d"
    state = ("<b style='color:#b8860b'>provisional (bar open)</b>: its values can still change"
             if a["open_bar"] else "closed")
    votes = " · ".join(
        f"{side}: {vote_names(int(row[f'cycle_{side}_votes'])) or 'none'}"
        for side in ("top", "bottom"))
    head = (f"<div class='btcflow-explain-head'><b>bar {a['time']:{fmt}}</b> ({a['timeframe']}),"
            f" {state}; funding in {html.escape(a['funding_unit'])}<br>"
            f"cycle votes — {html.escape(votes)}</div>")
    cells = []
    # each signal's verdict first (as the group's heading), then its conditions
    verdict_first = frame.assign(_v=~frame["condition"].str.startswith("=> "))
    verdict_first["_g"] = pd.factorize(frame["signal"])[0]
    ordered = verdict_first.sort_values(["_g", "_v"], kind="stable")
    for _, r in ordered.iterrows():
        verdict = r["condition"].startswith("=> ")
        if verdict:
            on = bool(r["passed"])
            text = "ON" if on else "off"
            if on:
                text += " (onset)" if a["onsets"][r["signal"]] else \
                    f" (bar {a['runs'][r['signal']]} of its run)"
            cells.append(
                f"<tr class='btcflow-explain-verdict' style='border-top:1px solid #ccc'>"
                f"<td><b>{html.escape(r['signal'])}</b></td><td colspan='7'><b>{text}</b></td></tr>")
            continue
        mark = ("<span style='color:#2ca02c'>pass</span>" if r["passed"]
                else "<span style='color:#d62728'>FAIL</span>")
        values = ("", "", "") if r["op"] == "any" else \
            (_num(r["value"]), html.escape(r["op"]), _num(r["threshold"]))
        z = ("", "") if np.isnan(r["std"]) else (_num(r["mean"]), _num(r["std"]))
        cells.append("<tr>" + "".join(
            f"<td style='padding:1px 6px;white-space:nowrap'>{v}</td>"
            for v in ("", html.escape(r["condition"]), *values, mark, *z)) + "</tr>")
    table = ("<table class='btcflow-explain-table' style='border-collapse:collapse;"
             "font-size:12px'><thead><tr>" + "".join(
                 f"<th style='text-align:left;padding:2px 6px'>{c}</th>" for c in
                 ("signal", "condition", "value", "op", "threshold", "result", "window mean",
                  "window std")) + "</tr></thead><tbody>" + "".join(cells) + "</tbody></table>")
    return head + table


class ExplainView(W.VBox):
    """The explain panel: a dropdown of onset bars, a date picker, and the explanation.

    ``show(time)`` explains the bar containing ``time``; ``frame`` is the
    :func:`~btcflow_nb.explain` frame shown (None before a bar is chosen), ``time`` its bar.
    The owner calls ``set_metrics(full, options)`` after each redraw with the full-history
    ``flow_metrics`` frame (the premium alerts' condition reads the bar before) and the onset
    bars of the visible range; the bar shown is explained again with the new numbers.
    """

    def __init__(self, guard, extra=()):
        super().__init__()
        self.add_class("btcflow-explain")
        self._guard = guard
        self._metrics: pd.DataFrame | None = None
        self._setting = False
        self.frame: pd.DataFrame | None = None
        self.time: pd.Timestamp | None = None
        self.picker = W.Dropdown(options=[("—", None)], value=None, description="explain",
                                 layout=W.Layout(width="420px"))
        self.picker.add_class("btcflow-ctl-explain")
        self.date = W.DatePicker(description="any bar", layout=W.Layout(width="260px"))
        self.date.add_class("btcflow-ctl-explain-date")
        self.output = W.HTML(value=_PROMPT)
        self.output.add_class("btcflow-explain-output")
        self.picker.observe(self._on_pick, "value")
        self.date.observe(self._on_date, "value")
        self.children = [W.HBox([self.picker, self.date, *extra]), self.output]

    # ------------------------------------------------------------------ inputs
    def _on_pick(self, change) -> None:
        if not self._setting and change["new"] is not None:
            self._guard.run(self.show, change["new"])

    def _on_date(self, change) -> None:
        if not self._setting and change["new"] is not None:
            self._guard.run(self.show, pd.Timestamp(change["new"]).tz_localize("UTC"))

    def set_metrics(self, full: pd.DataFrame, options: list[tuple[str, pd.Timestamp]]) -> None:
        """New numbers (after a redraw): refresh the options and the bar shown."""
        self._metrics = full
        self._setting = True
        try:
            self.picker.options = [("—", None), *options]
            self.picker.value = self.time if self.time in {v for _, v in options} else None
        finally:
            self._setting = False
        if self.time is not None and len(full) and full.index[0] <= self.time <= full.index[-1]:
            self.show(self.time)
        else:
            self.clear()

    def clear(self) -> None:
        self.frame, self.time = None, None
        self.output.value = _PROMPT

    # ------------------------------------------------------------------ the explanation
    def show(self, time) -> None:
        """Explain the bar containing ``time`` (a ValueError when it is in no bar)."""
        if self._metrics is None:
            raise ValueError("nothing to explain yet: the dashboard has drawn no bars")
        frame = explain(self._metrics, time)
        bar = frame.attrs["time"]
        self.frame, self.time = frame, bar
        self.output.value = explain_html(frame, self._metrics.loc[bar])
        self._setting = True
        try:   # the controls say which bar is shown
            values = {v for _, v in self.picker.options}
            self.picker.value = bar if bar in values else None
            self.date.value = _dt.date(bar.year, bar.month, bar.day)
        finally:
            self._setting = False
