"""OpenInterestPanel: each venue's open interest, stacked, its change over the bar, and the
aggregate OI z-score beside them, on one shared date axis.

Per venue the OI is the last sample in each bar (:func:`~btcflow_nb.venue_metrics.
venue_open_interest`), in BTC (price-neutral) or USD; a bar's stack is the plain sum of the
venues with a sample there. The change panel stacks each venue's ``OI_t − OI_{t−1}`` (a venue
joining adds no change). The z-score is ``flow_metrics``' ``oi_z``: the z-score of the
chain-linked aggregate, which a venue joining does not move.

Colours come from the theme palette (readable on light and dark JupyterLab), legends are HTML
strips above each chart, every mark's data goes through
:func:`~btcflow_nb.dashboard._viewport.assign_xy` (a stack of ``k`` venues is a ``(k, n)`` y:
each pixel column keeps every venue's lowest and highest bar), and titles say "synthetic demo
data" on the demo.
"""
from __future__ import annotations

import bqplot as bq
import ipywidgets as W
import numpy as np
import pandas as pd

from .. import venue_metrics as _venue_metrics
from ._base import _DashboardBase, _defaults
from ._honesty import failed_rows
from ._theme import PALETTE, legend_html, legend_widget, style_widget
from ._viewport import assign_xy
from ._widgets import GREY, cut, fmt_num, new_panel_figure, plot_times, tooltip

#: One colour per venue, in the order the venues come (theme palette: >= 3:1 contrast on the
#: light and dark themes; purple and grey are kept for totals / z-scores and zero lines).
VENUE_COLORS = tuple(PALETTE[k] for k in ("navy", "spot", "green", "red", "oi", "funding",
                                           "magenta", "olive"))


def synthetic_suffix(meta: dict) -> str:
    """``" · synthetic demo data"`` for the demo data (as the flow dashboard's titles), else
    ``""``."""
    return " · synthetic demo data" if meta.get("synthetic") else ""


def venue_legend(columns, extra=()) -> str:
    """The HTML legend of a venue stack: one swatch per venue in :data:`VENUE_COLORS` order,
    then ``extra`` (label, colour, style) items."""
    return legend_html([(str(v), VENUE_COLORS[i % len(VENUE_COLORS)], "band")
                        for i, v in enumerate(columns)] + list(extra))


def stacked_bars(x_scale, label: str) -> bq.Bars:
    """An empty stacked Bars mark (one row of ``y`` per venue) with a legend."""
    return bq.Bars(x=[], y=[], scales={"x": x_scale, "y": bq.LinearScale()}, type="stacked",
                   padding=0.1, display_legend=False, labels=[], colors=list(VENUE_COLORS),
                   tooltip=tooltip(label, ",.0f"))


def set_stacked_bars(mark: bq.Bars, frame: pd.DataFrame) -> None:
    """Draw ``frame`` (bars x venues) as stacks, in place: a venue with no value at a bar adds
    nothing to it (0 in the stack); bars where no venue has a value are left out. The
    ``(venues, bars)`` y goes through :func:`assign_xy` (decimated per pixel column keeping
    each venue's min and max bar)."""
    values = frame.to_numpy(dtype=np.float64)
    keep = ~np.isnan(values).all(axis=1) if values.shape[1] else np.zeros(len(frame), bool)
    with mark.hold_sync():
        mark.labels = [str(c) for c in frame.columns]
        mark.colors = [VENUE_COLORS[i % len(VENUE_COLORS)] for i in range(frame.shape[1])]
        y = np.nan_to_num(values[keep].T, nan=0.0) if values.shape[1] else np.empty((0, 0))
        assign_xy(mark, plot_times(frame.index[keep]), y)


class OpenInterestPanel(_DashboardBase):
    """Open interest per venue (stacked level and change over the bar) beside the aggregate
    OI z-score.

    Controls (``flow_metrics`` keywords): timeframe, date range, ``oi_unit`` (``"btc"`` /
    ``"usd"``: the stacks and the aggregate), ``lookback`` (the z window, bars). Attributes:
    ``figures`` (``level``, ``change``, ``z``), ``marks`` (``level``, ``change``, ``z``,
    ``zero``), ``venue_oi`` and ``venue_change`` (the frames drawn), ``metrics``, ``info``.
    """

    _root_class = "btcflow-open-interest"

    def __init__(self, md, *, timeframe: str | None = None, debounce_ms: float = 150):
        super().__init__(md, timeframe=timeframe, debounce_ms=debounce_ms)
        self.add_class(self._root_class)
        d = _defaults()
        c = self.controls
        c["oi_unit"] = W.ToggleButtons(options=[("BTC", "btc"), ("USD", "usd")],
                                       value=d["oi_unit"], description="OI in",
                                       style={"button_width": "52px"})
        self._default_lookback_bars = self._default_lookback()
        c["lookback"] = W.IntSlider(value=self._default_lookback_bars, min=2,
                                    max=max(400, self._default_lookback_bars),
                                    description="z lookback", continuous_update=False)
        xs = self.x_scale
        z_scales = {"x": xs, "y": bq.LinearScale()}
        self.marks = {
            "level": stacked_bars(xs, "OI"),
            "change": stacked_bars(xs, "OI change"),
            "z": bq.Lines(x=[], y=[], scales=z_scales, colors=[PALETTE["purple"]],
                          labels=["OI z"], display_legend=False),
            "zero": bq.Lines(x=[], y=[], scales=z_scales, colors=[GREY]),
        }
        m = self.marks
        self.figures = {
            "level": new_panel_figure("Open interest by venue", xs, m["level"].scales["y"],
                                      "BTC", [m["level"]], "btcflow-panel-oi-venues",
                                      height="300px"),
            "change": new_panel_figure("OI change over the bar, by venue", xs,
                                       m["change"].scales["y"], "BTC", [m["change"]],
                                       "btcflow-panel-oi-change"),
            "z": new_panel_figure("Aggregate OI z-score (chain-linked)", xs, z_scales["y"], "z",
                                  [m["z"], m["zero"]], "btcflow-panel-oi-z"),
        }
        self.figure = self.figures["level"]
        synthetic = synthetic_suffix(self.meta)
        for fig in self.figures.values():
            fig.title += synthetic
        self.legends = {
            "level": legend_widget([], "btcflow-legend-oi-venues"),
            "change": legend_widget([], "btcflow-legend-oi-change"),
            "z": legend_widget([("aggregate OI z", PALETTE["purple"], "line"),
                                ("0", GREY, "line")], "btcflow-legend-oi-z"),
        }
        self.venue_oi = self.venue_change = None
        self.info = W.HTML(layout=W.Layout(width="420px"))
        self.info.add_class("btcflow-info")
        header = W.HBox([W.HTML("<h3 style='margin:4px 0'>Open interest by venue</h3>"),
                         self.badge], layout=W.Layout(align_items="center"))
        self.children = [
            style_widget(), header, self.load_line, self.status,
            W.HBox([c["timeframe"], c["date_range"], self.range_label, self.reset_zoom_button]),
            W.HBox([c["oi_unit"], c["lookback"]]),
            W.HBox([W.VBox([w for k in ("level", "change", "z")
                            for w in (self.legends[k], self.figures[k])],
                           layout=W.Layout(flex="1")), self.info]),
            self._guard.clear_errors_button, self.errors,
        ]
        self._wire()

    def params(self, full_range: bool = False) -> dict:
        """Keyword arguments of ``flow_metrics`` for the current control values."""
        c = self.controls
        start, end = self._range_bounds(full_range)
        return {"timeframe": c["timeframe"].value, "oi_unit": c["oi_unit"].value,
                "lookback": c["lookback"].value, "start": start, "end": end}

    def _venue_frames(self, p: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
        key = ("venue_oi", p["timeframe"], p["oi_unit"])
        level = self.md.memo(key, lambda: _venue_metrics.venue_open_interest(
            self.md, p["timeframe"], unit=p["oi_unit"]))
        return cut(level, p["start"], p["end"]), cut(level.diff(), p["start"], p["end"])

    def _recompute_and_render(self) -> None:
        p = self.params()
        m = self._metrics_for(p)
        self.metrics = m
        self.venue_oi, self.venue_change = self._venue_frames(p)
        unit = p["oi_unit"].upper()
        mk = self.marks
        set_stacked_bars(mk["level"], self.venue_oi)
        set_stacked_bars(mk["change"], self.venue_change)
        for name in ("level", "change"):
            self.legends[name].value = venue_legend(self.venue_oi.columns)
        t = plot_times(m.index)
        assign_xy(mk["z"], t, m["oi_z"].to_numpy(dtype=np.float64))
        ends = t[[0, -1]] if len(t) else t
        assign_xy(mk["zero"], ends, np.zeros(len(ends)), decimate=False)
        for name in ("level", "change"):
            self.figures[name].axes[1].label = unit
        self.figures["z"].title = (f"Aggregate OI z-score (chain-linked, lookback "
                                   f"{p['lookback']}){synthetic_suffix(self.meta)}")
        self._set_info(self._venue_rows(unit) + failed_rows(self.meta),
                       m.index[-1] if len(m) else None)

    def _venue_rows(self, unit: str) -> list[list[str]]:
        """Latest OI per venue with its share and change, the sum and the aggregate z."""
        level, change = self.venue_oi, self.venue_change
        if level is None or level.shape[1] == 0 or level.dropna(how="all").empty:
            return [["open interest", "n/a (no OI in this data)"]]
        last = level.dropna(how="all").index[-1]
        row, delta = level.loc[last], change.loc[last]
        total = row.sum(min_count=1)
        fmt = ",.0f"
        rows = [[f"{v} ({row[v] / total:.0%})", f"{fmt_num(row[v], fmt)} {unit}, "
                 f"{fmt_num(delta[v], '+' + fmt)}"] for v in level.columns if pd.notna(row[v])]
        z = self.metrics["oi_z"].dropna()
        return rows + [["sum of venues", f"{fmt_num(total, fmt)} {unit}"],
                       ["OI z (aggregate)", fmt_num(z.iloc[-1] if len(z) else np.nan, "+.2f")],
                       ["bar", str(last.date() if last.hour == 0 else last)]]

    def _update_alerts(self) -> None:
        """No alerts here (the base calls this when 'include open bar' is toggled)."""
