"""`TermStructurePanel`: dated futures' annualised basis by expiry, now and at a chosen date,
and the constant-maturity basis as a series (`btcflow_nb.basis`).

Top: the term structure -- x the days to expiry, y the annualised basis in % -- one line per
venue for the last bar ("now", solid, with points) and for the bar chosen with the date slider
(dashed).  Bottom: the constant-maturity basis (default 90 days, linear in days to expiry
between the bracketing contracts, NaN without them), one line per venue, on a date axis with a
marker at the chosen date.  Controls: the date, the maturity in days.  Marks are built once and
updated in place inside ``hold_sync()`` (through :func:`~btcflow_nb.dashboard._viewport.
assign_xy`: the constant-maturity series is decimated to the visible range on its own
viewport); errors go to a visible output.  Theme palette colours, HTML legends above each chart,
"synthetic demo data" in the titles on the demo.
"""
from __future__ import annotations

import bqplot as bq
import ipywidgets as W
import numpy as np
import pandas as pd

from ..basis import annualized_basis, constant_maturity, term_structure
from ._theme import PALETTE, legend_html, legend_widget, style_widget
from ._viewport import Viewport, assign_xy
from ._widgets import GuardedRunner, floats, fmt_num, plot_times
from .open_interest import VENUE_COLORS as _COLORS, synthetic_suffix


class TermStructurePanel(W.VBox):
    """Term structure of the annualised basis (now and at a date) and the constant-maturity
    basis series.

    Parameters
    ----------
    md : MarketData
        With dated futures in ``md.futures`` (`btcflow_nb.sources.dated_fetch.fetch_dated`,
        then `btcflow_nb.from_cache`) and spot closes.
    spot : str or list, optional
        Spot venue(s) for ``S`` (default: the mean of all).
    days : float
        The constant maturity in days (default 90).
    at : time, optional
        The date compared with now (default: 30 bars before the last).

    >>> TermStructurePanel(md)                          # doctest: +SKIP
    """

    def __init__(self, md, *, spot=None, days: float = 90.0, at=None):
        super().__init__()
        self.add_class("btcflow-term-structure")
        self._guard = GuardedRunner()
        self.basis = annualized_basis(md, spot=spot)
        if len(self.basis) == 0:
            raise ValueError("the data holds no dated futures (md.futures is empty); fetch "
                             "them with btcflow_nb.sources.dated_fetch.fetch_dated(...)")
        self.venues = sorted(pd.unique(self.basis["venue"]))
        self.times = pd.DatetimeIndex(sorted(pd.unique(self.basis["time"])))
        start = self.times[max(0, len(self.times) - 31)] if at is None else \
            term_structure(self.basis, at)["time"].iloc[0]
        self.at = W.SelectionSlider(options=[(f"{t:%Y-%m-%d %H:%M}", t) for t in self.times],
                                    value=start, description="compare with",
                                    continuous_update=False, layout=W.Layout(width="520px"))
        self.at.add_class("btcflow-ctl-ts-at")
        self.days = W.BoundedFloatText(value=float(days), min=1.0, max=730.0, step=1.0,
                                       description="maturity (d)", layout=W.Layout(width="200px"))
        self.days.add_class("btcflow-ctl-ts-days")
        colors = [_COLORS[i % len(_COLORS)] for i in range(len(self.venues))]
        synthetic = synthetic_suffix(getattr(md, "meta", {}) or {})
        xs, ys = bq.LinearScale(min=0.0), bq.LinearScale()
        blank = np.full((len(self.venues), 1), np.nan)
        self.marks = {
            "now": bq.Lines(x=blank, y=blank, scales={"x": xs, "y": ys}, colors=colors,
                            marker="circle", labels=[f"{v} now" for v in self.venues]),
            "then": bq.Lines(x=blank, y=blank, scales={"x": xs, "y": ys}, colors=colors,
                             line_style="dashed", marker="square",
                             labels=[f"{v} at date" for v in self.venues]),
        }
        dx, dy = bq.DateScale(), bq.LinearScale()
        self.marks["cm"] = bq.Lines(x=plot_times(self.times[:1]), y=blank,
                                    scales={"x": dx, "y": dy}, colors=colors,
                                    labels=list(self.venues))
        self.marks["cursor"] = bq.Lines(x=[], y=[], scales={"x": dx, "y": dy},
                                        colors=[PALETTE["grey"]], line_style="dotted")
        self.viewport = Viewport(dx, schedule_redraw=lambda: self._guard.run(
            self.viewport.redraw))
        venue_items = list(zip(self.venues, colors))
        self.legends = [
            legend_widget([(f"{v} now", c, "line") for v, c in venue_items]
                          + [(f"{v} at date", c, "dashed") for v, c in venue_items],
                          "btcflow-legend-term-structure"),
            legend_widget([], "btcflow-legend-constant-maturity"),
        ]
        self.figures = [
            bq.Figure(title="annualised basis by days to expiry (%)" + synthetic,
                      marks=[self.marks["then"], self.marks["now"]],
                      axes=[bq.Axis(scale=xs, label="days to expiry"),
                            bq.Axis(scale=ys, side="left", label="% a year")],
                      fig_margin={"top": 30, "bottom": 40, "left": 60, "right": 20},
                      legend_location="top-left", layout=W.Layout(width="100%", height="260px")),
            bq.Figure(title="constant-maturity basis (%)" + synthetic,
                      marks=[self.marks["cm"], self.marks["cursor"]],
                      axes=[bq.Axis(scale=dx), bq.Axis(scale=dy, side="left", label="% a year")],
                      interaction=bq.PanZoom(scales={"x": [dx]}),
                      fig_margin={"top": 30, "bottom": 30, "left": 60, "right": 20},
                      legend_location="top-left", layout=W.Layout(width="100%", height="240px")),
        ]
        self.readout = W.HTML()
        self.at.observe(lambda _c: self._guard.run(self._update_then), "value")
        self.days.observe(lambda _c: self._guard.run(self._update_cm), "value")
        self.children = [style_widget(), W.HBox([self.at, self.days]), self.readout,
                         self.legends[0], self.figures[0], self.legends[1], self.figures[1],
                         self._guard.status, self._guard.errors]
        self._guard.run(self._update_all)

    # ------------------------------------------------------------------ updates (in place)
    def _curves(self, at):
        """(x, y) arrays, one row per venue padded with NaN: days to expiry and basis in %."""
        ts = term_structure(self.basis, at)
        width = max(1, max((int((ts["venue"] == v).sum()) for v in self.venues), default=1))
        x = np.full((len(self.venues), width), np.nan)
        y = np.full((len(self.venues), width), np.nan)
        for i, v in enumerate(self.venues):
            rows = ts[ts["venue"] == v]
            x[i, :len(rows)] = floats(rows["days_to_expiry"])
            y[i, :len(rows)] = floats(rows["annualized"]) * 100
        return ts, x, y

    def _set_curve(self, name, at):
        ts, x, y = self._curves(at)
        assign_xy(self.marks[name], x, y)      # few points (one per contract): never decimated
        return ts

    def _update_all(self) -> None:
        self.term_now = self._set_curve("now", None)
        self._update_cm()
        self._update_then()

    def _update_then(self) -> None:
        self.term_then = self._set_curve("then", self.at.value)
        t = plot_times(pd.DatetimeIndex([self.at.value] * 2))
        finite = self.cm.to_numpy(dtype="float64") * 100
        finite = finite[np.isfinite(finite)]
        low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        assign_xy(self.marks["cursor"], t, np.array([low, high]), decimate=False)
        self._readout()

    def _update_cm(self) -> None:
        self.cm = constant_maturity(self.basis, float(self.days.value)).reindex(
            index=self.times, columns=self.venues)
        assign_xy(self.marks["cm"], plot_times(self.times),
                  np.vstack([floats(self.cm[v]) * 100 for v in self.venues]))
        self.marks["cm"].labels = [f"{v} {self.days.value:g} d" for v in self.venues]
        self.legends[1].value = legend_html([(label, color, "line") for label, color in zip(
            self.marks["cm"].labels, self.marks["cm"].colors)])
        self._readout()

    def _readout(self) -> None:
        if not hasattr(self, "term_then"):
            return
        days = self.days.value
        last = self.cm.iloc[-1] * 100
        parts = [f"{v}: <b>{fmt_num(last[v], '.2f', ' %')}</b>" for v in self.venues]
        self.readout.value = (
            f"{days:g}-day constant-maturity basis now ({self.times[-1]:%Y-%m-%d %H:%M} UTC): "
            + ", ".join(parts) + f"; {len(self.term_now)} contracts now, "
            f"{len(self.term_then)} on {self.at.value:%Y-%m-%d}")

    def __repr__(self) -> str:  # short and deterministic (it is stored in notebooks)
        return (f"TermStructurePanel(venues={self.venues}, bars={len(self.times)}, "
                f"days={self.days.value:g})")
