"""FundingSpendPanel: what longs pay shorts, in USD per day, stacked by venue, with the total.

spend = funding TWAP per hour × 24 × OI in USD at the bar close, per venue
(:func:`~btcflow_nb.venue_metrics.funding_spend`); positive: longs pay shorts. A venue with
funding but no OI sample at a bar is left out of that bar's stack and total, never drawn as 0.
Theme palette, an HTML legend, marks through :func:`~btcflow_nb.dashboard._viewport.assign_xy`
and "synthetic demo data" in the title on the demo, as the open-interest panel.
"""
from __future__ import annotations

import bqplot as bq
import ipywidgets as W
import numpy as np
import pandas as pd

from .. import venue_metrics as _venue_metrics
from ._base import _DashboardBase
from ._honesty import failed_rows
from ._theme import PALETTE, legend_widget, style_widget
from ._viewport import assign_xy
from ._widgets import GREY, cut, fmt_num, new_panel_figure, plot_times
from .open_interest import set_stacked_bars, stacked_bars, synthetic_suffix, venue_legend

TOTAL_ITEMS = (("total", PALETTE["purple"], "line"), ("0", GREY, "line"))

#: Display scales of the spend: USD per day divided by the scale.
SCALES = {"USD k/day": 1e3, "USD m/day": 1e6}


class FundingSpendPanel(_DashboardBase):
    """Funding spend per venue (stacked bars) and its total (line), in USD per day.

    Controls: timeframe, date range, ``scale`` (thousands or millions of USD per day; display
    only). Attributes: ``figure`` (DOM class ``btcflow-panel-funding-spend``), ``marks``
    (``venues``, ``total``, ``zero``), ``spend`` (the frame drawn, USD per day: one column per
    venue plus ``total`` and ``venues``), ``info``.
    """

    _root_class = "btcflow-funding-spend"

    def __init__(self, md, *, timeframe: str | None = None, debounce_ms: float = 150):
        super().__init__(md, timeframe=timeframe, debounce_ms=debounce_ms)
        self.add_class(self._root_class)
        #: Display scale (not a ``flow_metrics`` keyword: observed on its own).
        self.scale = W.ToggleButtons(options=list(SCALES), value="USD m/day",
                                     description="shown in", style={"button_width": "90px"})
        self.scale.add_class("btcflow-ctl-spend-scale")
        xs = self.x_scale
        bars = stacked_bars(xs, "spend")
        y = bars.scales["y"]
        self.marks = {
            "venues": bars,
            "total": bq.Lines(x=[], y=[], scales={"x": xs, "y": y}, colors=[PALETTE["purple"]],
                              labels=["total"], display_legend=False, stroke_width=1.5),
            "zero": bq.Lines(x=[], y=[], scales={"x": xs, "y": y}, colors=[GREY]),
        }
        self.figure = new_panel_figure("Funding spend: longs pay shorts (USD per day)"
                                       + synthetic_suffix(self.meta), xs, y,
                                       "USD m/day", list(self.marks.values()),
                                       "btcflow-panel-funding-spend", height="340px")
        self.figures = {"funding_spend": self.figure}
        self.legend = legend_widget(list(TOTAL_ITEMS), "btcflow-legend-funding-spend")
        self.spend = None
        self.info = W.HTML(layout=W.Layout(width="380px"))
        self.info.add_class("btcflow-info")
        c = self.controls
        header = W.HBox([W.HTML("<h3 style='margin:4px 0'>Funding spend by venue</h3>"),
                         self.badge], layout=W.Layout(align_items="center"))
        self.children = [
            style_widget(), header, self.load_line, self.status,
            W.HBox([c["timeframe"], c["date_range"], self.range_label, self.reset_zoom_button]),
            self.scale,
            W.HBox([W.VBox([self.legend, self.figure], layout=W.Layout(flex="1")), self.info]),
            self._guard.clear_errors_button, self.errors,
        ]
        self.scale.observe(lambda _c: self._guard.run(self._recompute_and_render), "value")
        self._wire()

    def params(self, full_range: bool = False) -> dict:
        start, end = self._range_bounds(full_range)
        return {"timeframe": self.controls["timeframe"].value, "start": start, "end": end}

    def _recompute_and_render(self) -> None:
        p = self.params()
        m = self._metrics_for(p)
        self.metrics = m
        tf = p["timeframe"]
        full = self.md.memo(("funding_spend", tf),
                            lambda: _venue_metrics.funding_spend(self.md, tf))
        self.spend = cut(full, p["start"], p["end"])
        div = SCALES[self.scale.value]
        venues = self.spend.drop(columns=["total", "venues"])
        set_stacked_bars(self.marks["venues"], venues / div)
        self.legend.value = venue_legend(venues.columns, TOTAL_ITEMS)
        total = self.spend["total"]
        assign_xy(self.marks["total"], plot_times(total.index),
                  total.to_numpy(dtype=np.float64) / div)
        t = plot_times(self.spend.index)
        ends = t[[0, -1]] if len(t) else t
        assign_xy(self.marks["zero"], ends, np.zeros(len(ends)), decimate=False)
        self.figure.axes[1].label = self.scale.value
        self._set_info(self._spend_rows() + failed_rows(self.meta),
                       m.index[-1] if len(m) else None)

    def _spend_rows(self) -> list[list[str]]:
        s = self.spend
        with_total = s["total"].dropna()
        if with_total.empty:
            return [["funding spend", "n/a (needs funding and OI in USD)"]]
        last = with_total.index[-1]
        row = s.loc[last]
        div, unit = SCALES[self.scale.value], self.scale.value
        venues = [c for c in s.columns if c not in ("total", "venues") and pd.notna(row[c])]
        rows = [[v, f"{fmt_num(row[v] / div, '+,.3f')} {unit}"] for v in venues]
        return rows + [["total (longs → shorts)", f"{fmt_num(row['total'] / div, '+,.3f')} {unit}"],
                       ["venues in total", str(int(row["venues"]))],
                       ["bar", str(last.date() if last.hour == 0 else last)]]

    def _update_alerts(self) -> None:
        """No alerts here (the base calls this when 'include open bar' is toggled)."""
