"""The flow dashboard's layout: header, load line, data window, controls in tabs, the four
panels with their legends and messages, the info/alerts column, explain view and errors.

Kept apart from :mod:`.flow` (the dashboard's behaviour) so each stays readable; the function
reads the widgets :class:`~btcflow_nb.dashboard.flow.FlowDashboard` built and returns its
children.
"""
from __future__ import annotations

import ipywidgets as W

from ._base import _ALERT_SPECS, _EXTREME_SPECS, _THRESHOLD_SPECS
from ._controls import lazy_tabs
from ._theme import charts_and_side, style_widget
from .readouts import FLOW_PANELS

__all__ = ["flow_layout"]


def flow_layout(dash) -> list:
    """Header, data window (hovered or latest bar), controls in tabs, then per panel its
    legend, message and chart; the info panel and alerts table in a right column when the
    dashboard is wide (>= 1600 px), below the charts otherwise (``charts_and_side``).

    With ``lazy_tabs`` only the "view" tab of the controls is laid out at first; the others
    (thresholds, extremes, venues) the first time they are opened: their controls exist
    and act from the start, but their rows, boxes and views cost the page nothing until
    then. ``control_tabs.built`` maps title -> panel once laid out."""
    c, e, looks = dash.controls, dash._entries, dash._looks
    row_layout = looks.layout(flex_flow="row wrap", align_items="center")
    row = lambda *ws: W.HBox(list(ws), layout=row_layout)  # noqa: E731

    def view():
        return W.VBox([
            row(c["timeframe"], c["date_range"], dash.range_label, dash.reset_zoom_button),
            row(dash.crosshair.mode, dash.log_scale, dash.venue_lines, dash.show_states,
                dash.include_open, c["apr"]),
            row(e["lookback"], e["funding_smoothing"]),
        ])

    def thresholds():
        names = [n for n, *_ in _THRESHOLD_SPECS]
        return W.VBox([row(e[a], e[b]) for a, b in zip(names[0::2], names[1::2])]
                      + [row(e[names[-1]])] * (len(names) % 2)
                      + [W.HTML("premium alerts (Bollinger bands on S − F):"),
                         row(*(e[n] for n, *_ in _ALERT_SPECS))])

    def extremes():
        return W.VBox([
            W.HTML("<b>Experimental.</b> Top: at least m of {premium z ≤ −k, OI z ≥ k, "
                   "funding z ≥ k}; bottom: the mirror image. Metrics without data do not "
                   "vote."),
            c["extremes"], row(e["cycle_k"], e["cycle_m"])])

    def venues():
        return W.VBox([c["spot_venues"], c["perp_venues"],
                       row(c["weighting"], c["oi_unit"], c["futures"])])

    tabs = dash.control_tabs = lazy_tabs(
        {"view": view, "thresholds": thresholds, "extremes (exp.)": extremes,
         "venues": venues}, selected=0, guard=dash._guard, eager=not dash._lazy_tabs)
    tabs.add_class("btcflow-controls")
    header = W.HBox([W.HTML("<h3 style='margin:4px 12px 4px 0'>BTC flow dashboard</h3>"),
                     dash.badge, *dash.live_widgets],
                    layout=W.Layout(align_items="center", flex_flow="row wrap"))
    panels = [dash.onset_line]
    for key in FLOW_PANELS:
        panels += [dash.legends[key], dash.panel_messages[key], dash.figures[key]]
    body = charts_and_side(panels, [dash.info, dash.alerts])   # side column when wide
    return [style_widget(), header, dash.load_line, dash.data_window, dash.status, tabs,
            body, dash.explain_view, dash._guard.clear_errors_button, dash.errors]
