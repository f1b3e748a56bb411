"""The four panels of the flow dashboard: scales, marks, axes and legends (built once).

``build_flow_figures(x_scale)`` returns a :class:`FlowFigures` holding every mark by name,
the four ``bqplot.Figure`` objects and their HTML legends. The marks' data is assigned
afterwards, in place, by ``FlowDashboard._render`` (flow.py) — the one place where x/y of the
line marks are set.

The price panel has two value axes over two scales, a linear one and a log one; "log price"
moves the price marks to the log scale and shows the log axis (hiding the linear one), so the
axis drawn is always the one of the scale the marks use (changing an ``Axis.scale`` in place
left bqplot's front end drawing the old scale's ticks). The log axis' ticks are the 1-2-5
sequence (5k, 10k, 20k, 50k, 100k) over the data (:func:`log_ticks`).

Private module.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import bqplot as bq
import numpy as np

from ._honesty import COVERAGE_COLOR, build_coverage_band
from ._signal_layer import SIGNAL_MARKERS, band_keys, build_signal_marks
from ._theme import PALETTE, legend_widget
from ._widgets import new_panel_figure, sign_bars, tooltip

#: Panel heights scale with the page width (CSS ``clamp``: at least, preferred, at most), so a
#: 1920 px page does not get 8:1 panels and a narrow one keeps them legible.
PRICE_HEIGHT = "clamp(260px, 22vw, 520px)"
PANEL_HEIGHT = "clamp(180px, 13vw, 340px)"
#: d3 format of the log price axis: SI prefix, trailing zeros trimmed (5k, 10k, 1.5M).
LOG_TICK_FORMAT = "~s"


def log_ticks(low: float, high: float) -> list[float]:
    """The 1-2-5 ticks (…, 5k, 10k, 20k, 50k, 100k, …) from the one at or below ``low`` to the
    one at or above ``high`` (both > 0); [] when there is no positive range."""
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 or high <= 0:
        return []
    ticks = []
    for exponent in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1):
        ticks += [m * 10.0 ** exponent for m in (1, 2, 5)]
    below = [t for t in ticks if t <= low]
    above = [t for t in ticks if t >= high]
    lo, hi = (below[-1] if below else ticks[0]), (above[0] if above else ticks[-1])
    return [t for t in ticks if lo <= t <= hi]


@dataclass
class FlowFigures:
    """What :func:`build_flow_figures` made: marks by name, figures and legends by panel, the
    price panel's two scales and two value axes."""

    marks: dict
    figures: dict
    legends: dict
    price_linear: bq.LinearScale
    price_log: bq.LogScale
    price_axis_linear: bq.Axis
    price_axis_log: bq.Axis


def _line(scales, color, label="", **kw) -> bq.Lines:
    return bq.Lines(x=[], y=[], scales=scales, colors=[color], labels=[label] if label else [],
                    display_legend=False, **kw)


def build_flow_figures(xs: bq.DateScale) -> FlowFigures:
    """Every scale, mark, axis, figure and legend of the flow dashboard, empty."""
    c = PALETTE
    linear, log = bq.LinearScale(), bq.LogScale()
    ps = {"x": xs, "y": linear}
    m = {}
    m["spot"] = _line(ps, c["spot"], "spot", stroke_width=1.8, tooltip=tooltip("spot USD"))
    m["perp_basket"] = _line(ps, c["perp"], "perp basket", opacities=[0.85],
                             tooltip=tooltip("perp USD"))
    m.update(build_signal_marks(xs, linear))
    for key in SIGNAL_MARKERS:
        m[key].display_legend = False
    price = new_panel_figure("Price: spot vs perp basket, signal onsets", xs, linear, "USD",
                             [*(m[k] for k in band_keys()), m["perp_basket"], m["spot"],
                              *(m[k] for k in SIGNAL_MARKERS), m["open_bar"]],
                             "btcflow-panel-price", height=PRICE_HEIGHT)
    axis_linear = price.axes[1]
    axis_linear.tick_format = LOG_TICK_FORMAT     # 20k, 40k, 60k (not 20000 at the edge)
    axis_log = bq.Axis(scale=log, side="left", label="USD (log)", grid_lines="dashed",
                       label_offset="45px", tick_format=LOG_TICK_FORMAT, visible=False)
    price.axes = [*price.axes, axis_log]

    ys = {"x": xs, "y": bq.LinearScale()}
    m["premium_bars"] = sign_bars(xs, ys["y"], "spot premium %", ".4f")
    m["premium_zero"] = _line(ys, c["grey"])
    premium = new_panel_figure("Spot premium % vs perp basket", xs, ys["y"], "premium %",
                               [m["premium_bars"], m["premium_zero"]], "btcflow-panel-premium",
                               height=PANEL_HEIGHT)

    os_ = {"x": xs, "y": bq.LinearScale()}
    m["oi_coverage"] = build_coverage_band(xs)
    m["oi_coverage"].display_legend = False
    m["oi_z"] = _line(os_, c["oi"], "OI z", stroke_width=1.8, tooltip=tooltip("OI z"))
    m["oi_hot"] = _line(os_, c["red"], "hot", line_style="dashed")
    m["oi_build"] = _line(os_, c["build"], "build", line_style="dashed")
    m["oi_cycle_high"] = _line(os_, c["purple"], "+k", line_style="dotted")
    m["oi_cycle_low"] = _line(os_, c["purple"], "−k", line_style="dotted")
    oi = new_panel_figure("Aggregated open interest z-score", xs, os_["y"], "OI z",
                          [m["oi_coverage"], m["oi_z"], m["oi_hot"], m["oi_build"],
                           m["oi_cycle_high"], m["oi_cycle_low"]], "btcflow-panel-oi",
                          height=PANEL_HEIGHT)

    fs = {"x": xs, "y": bq.LinearScale()}
    m["funding_venues"] = bq.Lines(x=[], y=[], scales=fs, opacities=[0.75], visible=False,
                                   colors=[c[k] for k in ("perp", "spot", "purple", "oi",
                                                          "green", "red", "navy", "grey")],
                                   stroke_width=1.2, tooltip=tooltip("venue funding", ".4f"))
    m["funding"] = _line(fs, c["funding"], "composite", stroke_width=2.5,
                         tooltip=tooltip("funding", ".4f"))
    m["funding_zero"] = _line(fs, c["grey"])
    m["funding_hot"] = _line(fs, c["red"], "hot", line_style="dashed")
    # the composite first, the per-venue lines over it (they were hidden under it)
    funding = new_panel_figure("Composite funding", xs, fs["y"], "funding, % per 8h",
                               [m["funding"], m["funding_venues"], m["funding_zero"],
                                m["funding_hot"]], "btcflow-panel-funding",
                               height=PANEL_HEIGHT)
    legends = {
        "price": legend_widget(
            [("spot", c["spot"], "line"), ("perp basket", c["perp"], "line"),
             *((f"{label} onset", color, "marker")
               for label, _marker, color in SIGNAL_MARKERS.values()),
             ("open bar (provisional, ring)", c["grey"], "marker")],
            "btcflow-legend-price"),
        "premium": legend_widget([("spot-led (spot above perps)", c["green"], "band"),
                                  ("futures-led", c["red"], "band")], "btcflow-legend-premium"),
        "oi": legend_widget([("OI z", c["oi"], "line"), ("hot", c["red"], "dashed"),
                             ("build", c["build"], "dashed"), ("±k (extremes)", c["purple"], "dotted"),
                             ("OI coverage low", COVERAGE_COLOR, "band")],
                            "btcflow-legend-oi"),
        "funding": legend_widget([("composite", c["funding"], "line"),
                                  ("per venue (when ticked)", c["grey"], "line"),
                                  ("hot", c["red"], "dashed")], "btcflow-legend-funding"),
    }
    return FlowFigures(m, {"price": price, "premium": premium, "oi": oi, "funding": funding},
                       legends, linear, log, axis_linear, axis_log)
