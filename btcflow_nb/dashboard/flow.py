"""FlowDashboard: the BTC Flow Dashboard (spot premium, OI z-score, composite funding, signals)."""
from __future__ import annotations

import bqplot as bq
import ipywidgets as W
import numpy as np
import pandas as pd

from .. import metrics as _metrics
from ._base import (_ALERT_SPECS, _EXTREME_SPECS, _THRESHOLD_SPECS, _DashboardBase,
                    _defaults)
from ._signal_layer import (ALERT_KINDS, SIGNAL_MARKERS, SignalLayerMixin,
                            band_keys, build_signal_marks, render_signal_marks,
                            render_state_bands)
from ._widgets import (GREY, RED, UserMessage, cut, floats, is_empty, new_panel_figure,
                       plot_times, set_frame_lines, set_hline, set_sign_bars, sign_bars, tooltip)
from ._viewport import assign_xy
from ._honesty import (build_coverage_band, coverage_rows, failed_rows, late_z_for,
                       render_coverage_band)
from .explain_view import ExplainView
from .readouts import FLOW_PANELS, flow_info, flow_missing_reason, window_notes

__all__ = ["FlowDashboard", "SIGNAL_MARKERS", "ALERT_KINDS"]

_STYLE = {"description_width": "120px"}


class FlowDashboard(SignalLayerMixin, _DashboardBase):
    """Interactive BTC flow dashboard on any :class:`~btcflow_nb.MarketData`.

    Four bqplot panels share one :class:`bqplot.DateScale` (pan/zoom one, all follow):

    1. price: spot (mean of spot venues) and perp basket, with a marker at each *onset* (first
       bar of a run) of the bullish, bearish, over-leveraged, cycle-top and cycle-bottom
       signals; the states as shaded bands ("show states"); the still-open bar, if any,
       faded with a hollow ring (provisional); linear or log scale;
    2. spot premium % ``(S − P) / P × 100`` as green (spot-led) / red (futures-led) bars and a
       zero line;
    3. aggregated open-interest z-score with its threshold lines (hot, build and, when the
       experimental extremes are on, ±k);
    4. composite funding TWAP per 8 h or as APR with a zero line and optional per-venue lines.

    Every control sets one ``flow_metrics`` keyword (``controls`` maps keyword -> widget;
    ``date_range`` sets ``start``/``end``), so ``flow_metrics(md, **dash.params())`` is exactly
    what is drawn. Marks are updated in place inside ``hold_sync()``; a change is answered at
    once and a burst after it coalesced by ``debounce_ms`` (0 = synchronous, used by tests,
    see :class:`~btcflow_nb.dashboard._widgets.Debouncer`). Bad settings show a message
    in ``status``; unexpected errors show their traceback in the ``errors`` Output.

    Parameters
    ----------
    md : MarketData
        Any market data; missing OI, funding or venues leave the affected panel with a message.
    timeframe : str, optional
        Initial bar size, one of ``timeframe_choices(md)`` (default "1D").
    debounce_ms : float
        Window after an answered change in which further changes are coalesced into one
        recomputation with the latest settings [ms].

    Attributes
    ----------
    controls : dict[str, Widget]
        ``flow_metrics`` keyword -> control (``date_range`` -> start/end).
    figures : dict[str, bqplot.Figure]
        ``price``, ``premium``, ``oi``, ``funding`` (DOM classes ``btcflow-panel-<name>``).
    marks : dict[str, bqplot.Mark]
        Every mark by name (``spot``, ``oi_z``, ``premium_bars``, ``funding_venues`` ...).
    x_scale : bqplot.DateScale
        The one date scale all panels share.
    metrics : DataFrame
        What is drawn: ``flow_metrics(md, **params())``.
    log_scale, venue_lines, show_states, include_open : Checkbox
        Display-only switches; ``include_open`` lets the alerts table and the onset counts
        consider the open bar (default: closed bars only).
    info, alerts : HTML
        Info panel (latest values, last bar closed or provisional, active signals, cycle
        votes) and the alerts table of onsets; ``summary()`` and ``alert_rows()`` give them as
        text/rows. ``onset_line`` (HTML) and ``onset_counts()``: onsets per signal in view.
    explain_view : ExplainView
        :func:`btcflow_nb.explain` of a bar chosen by a click on a marker, the onset
        dropdown or the date picker.
    status : HTML
        Messages (impossible settings, empty selections). ``errors`` : Output with tracebacks.
    panel_messages : dict[str, HTML]
        Per panel, what is missing (also appended to the figure title).

    Examples
    --------
    >>> import btcflow_nb as bf
    >>> from btcflow_nb.dashboard import FlowDashboard
    >>> FlowDashboard(bf.load_demo(), timeframe="1W")  # doctest: +SKIP
    """

    _root_class = "btcflow-flow-dashboard"

    def __init__(self, md, *, timeframe: str | None = None, debounce_ms: float = 150):
        super().__init__(md, timeframe=timeframe, debounce_ms=debounce_ms)
        self.add_class(self._root_class)
        defaults = _defaults()
        self._build_controls(defaults)
        self._build_figures()
        self.info = W.HTML(layout=W.Layout(width="380px"))
        self.info.add_class("btcflow-info")
        self.alerts = W.HTML(layout=W.Layout(flex="1", max_height="320px", overflow="auto"))
        self.alerts.add_class("btcflow-alerts")
        #: Onsets per signal in the visible range (closed bars unless "include open bar").
        self.onset_line = W.HTML()
        # bqplot's PanZoom layer lies over the marks and takes their clicks: while this is
        # ticked the price panel gives up pan/zoom (the other panels keep it) so that a click
        # on a marker reaches it (and hover shows its tooltip).
        self.click_markers = W.Checkbox(value=False, description="click markers to explain",
                                        indent=False, layout=W.Layout(width="190px"))
        self.click_markers.add_class("btcflow-ctl-click-markers")
        self._price_panzoom = self.figures["price"].interaction
        self.click_markers.observe(lambda c: self._guard.run(self._set_click_markers, c["new"]),
                                   "value")
        self.explain_view = ExplainView(self._guard, extra=[self.click_markers])
        self.x_scale.observe(self._on_zoom, ["min", "max"])
        self._venue_funding: pd.DataFrame | None = None
        self.children = self._layout()
        self._wire()

    # ================================================================ construction
    def _build_controls(self, d: dict) -> None:
        c = self.controls
        first = self._default_lookback_bars = self._default_lookback()  # "365D" in bars
        c["lookback"] = W.IntSlider(value=first, min=5, max=max(400, first),
                                    description="z lookback",
                                    continuous_update=False, style=_STYLE)
        c["lookback"].add_class("btcflow-ctl-lookback")
        c["funding_smoothing"] = W.IntSlider(value=d["funding_smoothing"], min=1, max=30,
                                             description="funding SMA", continuous_update=False,
                                             style=_STYLE)
        c["apr"] = W.ToggleButton(value=bool(d["apr"]), description="APR",
                                  tooltip="show funding as APR (×24×365) instead of % per 8h")
        c["apr"].add_class("btcflow-ctl-apr")
        for name, cls, kw in _THRESHOLD_SPECS + _ALERT_SPECS + _EXTREME_SPECS:
            c[name] = cls(value=d[name], continuous_update=False, style=_STYLE, **kw)
        c["extremes"] = W.Checkbox(value=bool(d["extremes"]),
                                   description="extreme-cycle engine (experimental)",
                                   indent=False)
        spot = list(self.md.venues("spot"))
        perp = list(self.md.venues("perp"))
        # funding-only / OI-only venues (no perp closes) are perp venues too: they feed the
        # composite funding and the OI aggregate, so they are selectable (and selected).
        extra = sorted((set(self.md.venues("funding")) | set(self.md.venues("open_interest")))
                       - set(perp))
        perp_all = perp + extra
        c["spot_venues"] = W.SelectMultiple(options=spot, value=spot, rows=min(6, max(len(spot), 1)),
                                            description="spot venues", style=_STYLE)
        c["perp_venues"] = W.SelectMultiple(options=perp_all, value=perp_all,
                                            rows=min(8, max(len(perp_all), 1)),
                                            description="perp venues", style=_STYLE)
        c["weighting"] = W.ToggleButtons(options=["equal", "oi"], value=d["weighting"],
                                         description="weighting", style={"button_width": "60px"},
                                         tooltips=["equal weights",
                                                   "weights = each venue's OI in USD"])
        if is_empty(self.md.open_interest):  # nothing to weight by
            c["weighting"].disabled = True
        c["futures"] = W.Dropdown(options=["basket"] + perp, value=d["futures"],
                                  description="futures (USD premium)", style=_STYLE)
        c["oi_unit"] = W.ToggleButtons(options=["btc", "usd"], value=d["oi_unit"],
                                       description="OI unit", style={"button_width": "60px"},
                                       disabled=is_empty(self.md.open_interest))
        for name in ("lookback", "funding_smoothing", "apr", "extremes", "weighting"):
            c[name].add_class(f"btcflow-ctl-{name.replace('_', '-')}")
        # display-only switches (no flow_metrics keyword)
        self.log_scale = W.Checkbox(value=False, description="log price", indent=False)
        self.log_scale.add_class("btcflow-ctl-log")
        self.venue_lines = W.Checkbox(value=False, description="per-venue funding", indent=False)
        self.venue_lines.add_class("btcflow-ctl-venue-lines")
        self.show_states = W.Checkbox(value=False, description="show states", indent=False,
                                      layout=W.Layout(width="130px"))
        self.show_states.add_class("btcflow-ctl-show-states")
        self.log_scale.observe(lambda _c: self._guard.run(self._apply_log_scale), "value")
        self.show_states.observe(lambda _c: self._guard.run(self._render_bands), "value")
        self.venue_lines.observe(lambda _c: self._guard.run(self._update_venue_lines), "value")

    def _build_figures(self) -> None:
        xs = self.x_scale
        self._price_linear = bq.LinearScale()
        self._price_log = bq.LogScale()
        ps = {"x": xs, "y": self._price_linear}
        m = {}
        m["spot"] = bq.Lines(x=[], y=[], scales=ps, colors=["black"], labels=["spot"],
                             display_legend=True, tooltip=tooltip("spot USD"))
        m["perp_basket"] = bq.Lines(x=[], y=[], scales=ps, colors=["#1f77b4"], opacities=[0.7],
                                    labels=["perp basket"], display_legend=True,
                                    tooltip=tooltip("perp USD"))
        m.update(build_signal_marks(xs, self._price_linear))
        for key in SIGNAL_MARKERS:   # a click on a marker explains its bar
            m[key].on_element_click(self._on_marker_click)
        price_fig = new_panel_figure("Price: spot vs perp basket, signal onsets", xs,
                                     self._price_linear, "USD",
                                     [*(m[k] for k in band_keys()), m["spot"], m["perp_basket"],
                                      *(m[k] for k in SIGNAL_MARKERS), m["open_bar"]],
                                     "btcflow-panel-price", height="300px")

        ys = {"x": xs, "y": bq.LinearScale()}
        m["premium_bars"] = sign_bars(xs, ys["y"], "spot premium %", ".4f")
        m["premium_zero"] = bq.Lines(x=[], y=[], scales=ys, colors=[GREY])
        premium_fig = new_panel_figure("Spot premium % vs perp basket", xs, ys["y"],
                                       "premium %", [m["premium_bars"], m["premium_zero"]],
                                       "btcflow-panel-premium")

        os_ = {"x": xs, "y": bq.LinearScale()}
        m["oi_coverage"] = build_coverage_band(xs)
        m["oi_z"] = bq.Lines(x=[], y=[], scales=os_, colors=["#8c564b"], labels=["OI z"],
                             display_legend=True, tooltip=tooltip("OI z"))
        m["oi_hot"] = bq.Lines(x=[], y=[], scales=os_, colors=[RED], line_style="dashed",
                               labels=["hot"], display_legend=True)
        m["oi_build"] = bq.Lines(x=[], y=[], scales=os_, colors=["#ff7f0e"], line_style="dashed",
                                 labels=["build"], display_legend=True)
        m["oi_cycle_high"] = bq.Lines(x=[], y=[], scales=os_, colors=["#9467bd"],
                                      line_style="dotted", labels=["+k"])
        m["oi_cycle_low"] = bq.Lines(x=[], y=[], scales=os_, colors=["#9467bd"],
                                     line_style="dotted", labels=["−k"])
        oi_fig = new_panel_figure("Aggregated open interest z-score", xs, os_["y"], "OI z",
                                  [m["oi_coverage"], m["oi_z"], m["oi_hot"], m["oi_build"], m["oi_cycle_high"],
                                   m["oi_cycle_low"]], "btcflow-panel-oi")

        fs = {"x": xs, "y": bq.LinearScale()}
        m["funding_venues"] = bq.Lines(x=[], y=[], scales=fs, opacities=[0.5], visible=False,
                                       display_legend=True, stroke_width=1,
                                       tooltip=tooltip("venue funding", ".4f"))
        m["funding"] = bq.Lines(x=[], y=[], scales=fs, colors=["#17becf"], stroke_width=2.5,
                                labels=["composite"], display_legend=True,
                                tooltip=tooltip("funding", ".4f"))
        m["funding_zero"] = bq.Lines(x=[], y=[], scales=fs, colors=[GREY])
        m["funding_hot"] = bq.Lines(x=[], y=[], scales=fs, colors=[RED], line_style="dashed",
                                    labels=["hot"], display_legend=True)
        funding_fig = new_panel_figure("Composite funding", xs, fs["y"], "funding, % per 8h",
                                       [m["funding_venues"], m["funding"], m["funding_zero"],
                                        m["funding_hot"]], "btcflow-panel-funding")
        self.marks = m
        self.figures = {"price": price_fig, "premium": premium_fig, "oi": oi_fig,
                        "funding": funding_fig}
        self._base_titles = {k: f.title for k, f in self.figures.items()}
        self.panel_messages = {k: W.HTML(value="") for k in self.figures}
        for k, w in self.panel_messages.items():
            w.add_class(f"btcflow-panel-message-{k}")

    def _layout(self) -> list:
        c = self.controls
        view = W.VBox([
            W.HBox([c["timeframe"], c["date_range"], self.range_label, self.reset_zoom_button]),
            W.HBox([c["lookback"], c["funding_smoothing"], c["apr"]]),
            W.HBox([self.log_scale, self.venue_lines, self.show_states, self.include_open]),
        ])
        thresholds = W.VBox([W.HBox([c[n] for n, *_ in _THRESHOLD_SPECS[:4]]),
                             W.HBox([c[n] for n, *_ in _THRESHOLD_SPECS[4:]]),
                             W.HBox([W.HTML("premium alerts (Bollinger bands on S − F):"),
                                     *(c[n] for n, *_ in _ALERT_SPECS)])])
        extremes = W.VBox([
            W.HTML("<b>Experimental.</b> Top: at least m of {premium z ≤ −k, OI z ≥ k, "
                   "funding z ≥ k}; bottom: the mirror image. Metrics without data do not vote."),
            c["extremes"], W.HBox([c["cycle_k"], c["cycle_m"]])])
        venues = W.VBox([W.HBox([c["spot_venues"], c["perp_venues"]]),
                         W.HBox([c["weighting"], c["oi_unit"], c["futures"]])])
        tabs = W.Tab(children=[view, thresholds, extremes, venues],
                     titles=["view", "thresholds", "extremes (exp.)", "venues"])
        header = W.HBox([W.HTML("<h3 style='margin:4px 0'>BTC flow dashboard</h3>"), self.badge],
                        layout=W.Layout(align_items="center"))
        panels = [self.onset_line]
        for key in FLOW_PANELS:
            panels += [self.panel_messages[key], self.figures[key]]
        return [header, self.load_line, self.status, tabs, *panels,
                W.HBox([self.info, self.alerts], layout=W.Layout(justify_content="space-between")),
                self.explain_view, self._guard.clear_errors_button, self.errors]

    # ================================================================ parameters
    def params(self, full_range: bool = False) -> dict:
        """Keyword arguments of ``flow_metrics`` for the current control values."""
        c = self.controls
        start, end = self._range_bounds(full_range)
        p = {"timeframe": c["timeframe"].value}
        for name in ("lookback", "funding_smoothing", "apr", "weighting", "futures", "oi_unit",
                     "extremes",
                     *(n for n, *_ in _THRESHOLD_SPECS + _ALERT_SPECS + _EXTREME_SPECS)):
            p[name] = c[name].value
        for side in ("spot_venues", "perp_venues"):
            ctl = c[side]
            if len(ctl.options) == 0:
                p[side] = None
            elif len(ctl.value) == 0:
                raise UserMessage(f"select at least one {side.split('_')[0]} venue "
                                  f"(choices: {', '.join(ctl.options)})")
            else:
                p[side] = list(ctl.value)
        p["start"], p["end"] = start, end
        return p

    # ================================================================ refresh
    def _recompute_and_render(self) -> None:
        p = self.params()  # a lookback longer than the data: NaN z-scores, the OI panel says why
        m = self._metrics_for(p)
        vf = None
        if self.venue_lines.value:
            vf = self._compute_venue_funding(p)
        self.metrics = m
        self._venue_funding = vf
        self._render(m, p)

    def _compute_venue_funding(self, p: dict) -> pd.DataFrame:
        vf = _metrics.venue_funding(self.md, p["timeframe"], apr=p["apr"],
                                    funding_smoothing=p["funding_smoothing"],
                                    perp_venues=p["perp_venues"])
        return cut(vf, p["start"], p["end"])

    def _render(self, m: pd.DataFrame, p: dict) -> None:
        t = plot_times(m.index)
        mk = self.marks
        spot = floats(m["spot"])
        perp = floats(m["perp_basket"])
        anchor = np.where(np.isfinite(spot), spot, perp)
        assign_xy(mk["spot"], t, spot)
        assign_xy(mk["perp_basket"], t, perp)
        render_signal_marks(mk, m, t, anchor, self.show_states.value)

        set_sign_bars(mk["premium_bars"], t, floats(m["premium_pct"]))
        ends = t[[0, -1]] if len(t) else t
        set_hline(mk["premium_zero"], ends, 0.0)

        assign_xy(mk["oi_z"], t, floats(m["oi_z"]))
        render_coverage_band(mk["oi_coverage"], m, t)
        set_hline(mk["oi_hot"], ends, p["oi_hot_z"])
        set_hline(mk["oi_build"], ends, p["oi_build_z"])
        set_hline(mk["oi_cycle_high"], ends, p["cycle_k"], visible=p["extremes"])
        set_hline(mk["oi_cycle_low"], ends, -p["cycle_k"], visible=p["extremes"])

        assign_xy(mk["funding"], t, floats(m["funding"]))
        set_hline(mk["funding_zero"], ends, 0.0)
        hot = p["funding_hot"] * (3 * 365 if p["apr"] else 1)  # threshold is % per 8h
        set_hline(mk["funding_hot"], ends, hot)
        self._update_venue_lines()
        self.figures["funding"].axes[1].label = "funding, % APR" if p["apr"] \
            else "funding, % per 8h"
        self.figures["oi"].axes[1].label = f"OI z ({p['oi_unit'].upper()})"
        self._apply_log_scale()
        self._update_panel_messages(m, p)
        rows, last_bar = flow_info(m, p, ALERT_KINDS)
        self._set_info(rows + coverage_rows(self.md, m, p) + failed_rows(self.meta), last_bar)
        self._update_alerts()

    def _update_venue_lines(self) -> None:
        mark = self.marks["funding_venues"]
        if not self.venue_lines.value:
            mark.visible = False
            return
        if self._venue_funding is None and self.metrics is not None:
            self._venue_funding = self._compute_venue_funding(self.params())
        set_frame_lines(mark, self._venue_funding)

    def _render_bands(self) -> None:
        m = self.metrics
        t = plot_times(m.index) if m is not None else plot_times([])
        render_state_bands(self.marks, m, t, self.show_states.value)

    def _set_click_markers(self, on: bool) -> None:
        self.figures["price"].interaction = None if on else self._price_panzoom

    def _apply_log_scale(self) -> None:
        new = self._price_log if self.log_scale.value else self._price_linear
        fig = self.figures["price"]
        for key in ("spot", "perp_basket", *SIGNAL_MARKERS, "open_bar"):
            mark = self.marks[key]
            if mark.scales["y"] is not new:
                with mark.hold_sync():
                    mark.scales = {"x": self.x_scale, "y": new}
        if fig.axes[1].scale is not new:
            fig.axes[1].scale = new

    # ================================================================ text panels
    def _late_z(self, p: dict) -> dict[str, str]:
        """Panel -> why its z-score starts late (``md.depth`` of the selected venues), cached."""
        key = (p["timeframe"], p["lookback"], repr(p["spot_venues"]), repr(p["perp_venues"]))
        if getattr(self, "_late_key", None) != key:
            self._late, self._late_key = late_z_for(self.md, p, self._full_index), key
        return self._late

    def _update_panel_messages(self, m: pd.DataFrame, p: dict) -> None:
        late = self._late_z(p)
        for key, fig in self.figures.items():
            reason = " · ".join(r for r in (flow_missing_reason(self.md, key, m, p),
                                            late.get(key, ""), *window_notes(m, key)) if r)
            self.panel_messages[key].value = (
                f"<div style='color:#8a6d00'>⚠ {reason}</div>" if reason else "")
            fig.title = f"{self._base_titles[key]} — {reason}" if reason else self._base_titles[key]
        unit = "% APR" if p["apr"] else "% per 8h"
        if not self.panel_messages["funding"].value:
            self.figures["funding"].title = f"{self._base_titles['funding']} ({unit})"

    def _on_zoom(self, _change) -> None:
        if self.metrics is not None:
            self._guard.run(self._update_alerts)
