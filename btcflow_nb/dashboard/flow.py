"""FlowDashboard: the BTC Flow Dashboard (spot premium, OI z-score, composite funding, signals)."""
from __future__ import annotations

from contextlib import ExitStack

import ipywidgets as W
import numpy as np
import pandas as pd

from .. import metrics as _metrics
from ._base import (_ALERT_SPECS, _EXTREME_SPECS, _THRESHOLD_SPECS, _DashboardBase,
                    _defaults)
from ._signal_layer import (ALERT_KINDS, SIGNAL_MARKERS, SignalLayerMixin,
                            render_signal_marks, render_state_bands)
from ._crosshair import Crosshair
from ._flow_figures import build_flow_figures, log_ticks
from ._viewport import assign_xy
from ._controls import SharedLooks, VenuePicker, slider_with_entry
from ._flow_layout import flow_layout
from ._widgets import (UserMessage, cut, floats, is_empty, plot_times,
                       set_frame_lines, set_hline, set_sign_bars)
from ._honesty import coverage_rows, failed_rows, late_z_for, render_coverage_band
from .explain_view import ExplainView
from .live import LiveMixin
from .readouts import flow_info, flow_missing_reason, window_notes

__all__ = ["FlowDashboard", "SIGNAL_MARKERS", "ALERT_KINDS"]

_STYLE = {"description_width": "120px"}
#: Width of the sliders that have a typed entry beside them (slider_with_entry).
_SLIDER_WIDTH = "400px"


class FlowDashboard(LiveMixin, SignalLayerMixin, _DashboardBase):
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
        Initial bar size, one of ``timeframe_choices(md)`` (default "1W" when the prices span
        two years or more, else "1D"; see ``_widgets.default_timeframe``).
    debounce_ms : float
        Window after an answered change in which further changes are coalesced into one
        recomputation with the latest settings [ms].
    live : bool or dict — start live mode now (a dict: `LiveMode` options); see ``start_live``.
    lazy_tabs : bool
        Lay out the control tabs other than "view" only when first opened (the Voila app:
        fewer widgets before the first chart). Off by default: a notebook's dashboard may be
        exported as a static snapshot, where no kernel could lay out a tab later.

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

    def __init__(self, md, *, timeframe: str | None = None, debounce_ms: float = 150, live=False,
                 lazy_tabs: bool = False):
        super().__init__(md, timeframe=timeframe, debounce_ms=debounce_ms, live=live)
        self._lazy_tabs = lazy_tabs
        self.add_class(self._root_class)
        self.add_class("btcflow-dashboard-root")
        defaults = _defaults()
        self._build_controls(defaults)
        self._build_figures()
        self.info = W.HTML(layout=W.Layout(width="380px"))
        self.info.add_class("btcflow-info")
        self.alerts = W.HTML(layout=W.Layout(flex="1 1 560px", max_height="320px",
                                             overflow="auto"))
        self.alerts.add_class("btcflow-alerts")
        #: Onsets per signal in the visible range (closed bars unless "include open bar").
        self.onset_line = W.HTML()
        #: Crosshair, data window and the cursor switch (crosshair | pan/zoom), see _crosshair.
        self.crosshair = Crosshair(self.x_scale, self.figures, frame=lambda: self.metrics,
                                   full=lambda: self._cache, apr=lambda: self.controls["apr"].value,
                                   guard=self._guard, alert_kinds=ALERT_KINDS)
        self.data_window = self.crosshair.window
        self.explain_view = ExplainView(self._guard)
        self.x_scale.observe(self._on_zoom, ["min", "max"])
        self._venue_funding: pd.DataFrame | None = None
        self.children = self._layout()
        self._wire()

    # ================================================================ construction
    def _build_controls(self, d: dict) -> None:
        c = self.controls
        #: Layout/style models shared by the controls that look alike (fewer browser models).
        looks = self._looks = SharedLooks()
        slider = {"continuous_update": False, "style": looks.style(W.SliderStyle, **_STYLE),
                  "layout": looks.layout(width=_SLIDER_WIDTH)}
        first = self._default_lookback_bars = self._default_lookback()  # "365D" in bars
        c["lookback"] = W.IntSlider(value=first, min=5, max=max(400, first),
                                    description="z lookback", **slider)
        c["lookback"].add_class("btcflow-ctl-lookback")
        # (wide sliders with a typed entry each: built after all controls exist, below)
        c["funding_smoothing"] = W.IntSlider(value=d["funding_smoothing"], min=1, max=30,
                                             description="funding SMA", **slider)
        c["apr"] = W.ToggleButton(value=bool(d["apr"]), description="APR",
                                  tooltip="show funding as APR (×24×365) instead of % per 8h")
        c["apr"].add_class("btcflow-ctl-apr")
        for name, cls, kw in _THRESHOLD_SPECS + _ALERT_SPECS + _EXTREME_SPECS:
            c[name] = cls(value=d[name], **slider, **kw)
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
        c["spot_venues"] = VenuePicker(spot, spot, "spot venues", looks)
        c["perp_venues"] = VenuePicker(perp_all, perp_all, "perp venues", looks)
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
        #: Slider -> HBox(slider, typed entry), by keyword (the layout shows these).
        self._entries = {name: slider_with_entry(ctl, _SLIDER_WIDTH, looks)
                         for name, ctl in c.items()
                         if isinstance(ctl, (W.IntSlider, W.FloatSlider))}
        for name, box in self._entries.items():   # e.g. btcflow-ctl-lookback-entry
            box.entry.add_class(f"btcflow-ctl-{name.replace('_', '-')}-entry")
        # display-only switches (no flow_metrics keyword)
        self.log_scale = W.Checkbox(value=False, description="log price", indent=False,
                                    layout=looks.layout(width="auto"))
        self.log_scale.add_class("btcflow-ctl-log")
        self.venue_lines = W.Checkbox(value=False, description="per-venue funding", indent=False,
                                      layout=looks.layout(width="auto"))
        self.venue_lines.add_class("btcflow-ctl-venue-lines")
        self.show_states = W.Checkbox(value=False, description="show states", indent=False,
                                      layout=looks.layout(width="auto"))
        self.show_states.add_class("btcflow-ctl-show-states")
        self.log_scale.observe(lambda _c: self._guard.run(self._apply_log_scale), "value")
        self.show_states.observe(lambda _c: self._guard.run(self._render_bands), "value")
        self.venue_lines.observe(lambda _c: self._guard.run(self._update_venue_lines), "value")

    def _build_figures(self) -> None:
        built = build_flow_figures(self.x_scale)
        self.marks, self.figures, self.legends = built.marks, built.figures, built.legends
        self._price_linear, self._price_log = built.price_linear, built.price_log
        self._price_axes = (built.price_axis_linear, built.price_axis_log)
        for key in SIGNAL_MARKERS:   # a click on a marker explains its bar
            self.marks[key].on_element_click(self._on_marker_click)
        synthetic = " · synthetic demo data" if self.meta.get("synthetic") else ""
        self._base_titles = {k: f.title + synthetic for k, f in self.figures.items()}
        self.panel_messages = {k: W.HTML(value="") for k in self.figures}
        for k, w in self.panel_messages.items():
            w.add_class(f"btcflow-panel-message-{k}")

    def _layout(self) -> list:
        """The dashboard's children (see :func:`._flow_layout.flow_layout`)."""
        return flow_layout(self)

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
        # every mark, axis and figure sends its changes at once when all are set: the browser
        # gets them in one burst and redraws the four panels in one frame or two (each frame
        # re-layers every SVG element of the page), not one frame per mark
        with ExitStack() as held:
            # entered last to first: released (sent) first to last, the panels' order
            for widget in reversed((*self.marks.values(), *self.figures.values(),
                                    *self._price_axes,
                                    *(a for f in self.figures.values() for a in f.axes))):
                held.enter_context(widget.hold_sync())
            t = self._render_marks(m, p)
        self.crosshair.set_bars(t)
        self._update_panel_messages(m, p)
        rows, last_bar = flow_info(m, p, ALERT_KINDS)
        self._set_info(rows + coverage_rows(self.md, m, p) + failed_rows(self.meta), last_bar)
        self._update_alerts()

    def _render_marks(self, m: pd.DataFrame, p: dict) -> np.ndarray:
        """Every mark of the four panels from ``m`` (in place); the bars' plot times."""
        t = plot_times(m.index)
        mk = self.marks
        spot = floats(m["spot"])
        perp = floats(m["perp_basket"])
        anchor = np.where(np.isfinite(spot), spot, perp)
        assign_xy(mk["spot"], t, spot)
        assign_xy(mk["perp_basket"], t, perp)
        render_signal_marks(mk, m, t, anchor, self.show_states.value)

        # one bar per pixel column and sign: a bar from 0 covers the smaller ones of its sign
        set_sign_bars(mk["premium_bars"], t, floats(m["premium_pct"]), decimate="bars")
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
        return t

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

    def _apply_log_scale(self) -> None:
        """Price marks on the log or the linear scale, and the matching axis shown (the other
        hidden): ticks always belong to the scale the marks are drawn on."""
        log = self.log_scale.value
        new = self._price_log if log else self._price_linear
        for key in ("spot", "perp_basket", *SIGNAL_MARKERS, "open_bar"):
            mark = self.marks[key]
            if mark.scales["y"] is not new:
                with mark.hold_sync():
                    mark.scales = {"x": self.x_scale, "y": new}
        axis_linear, axis_log = self._price_axes
        if log:
            m = self.metrics
            prices = np.concatenate([floats(m["spot"]), floats(m["perp_basket"])]) \
                if m is not None else np.zeros(0)
            prices = prices[np.isfinite(prices) & (prices > 0)]
            axis_log.tick_values = log_ticks(prices.min(), prices.max()) if len(prices) else []
        axis_log.visible, axis_linear.visible = log, not log

    # ================================================================ text panels
    def _late_z(self, p: dict) -> dict[str, str]:
        """Panel -> why its z-score starts late (``md.depth`` of the selected venues), cached.

        A note exists when a metric's data begins after the chart's first bar, whatever the
        lookback (it only changes the note's date): with no note for these venues and
        timeframe, a new lookback has none either and ``md.depth`` is not run again."""
        base = (p["timeframe"], repr(p["spot_venues"]), repr(p["perp_venues"]), self.n_bars,
                self._full_index[0] if self.n_bars else None)
        if getattr(self, "_late_none_for", None) == base:
            return {}
        key = (*base, p["lookback"])
        if getattr(self, "_late_key", None) != key:
            self._late, self._late_key = late_z_for(self.md, p, self._full_index), key
            self._late_none_for = None if self._late else base
        return self._late

    def _update_panel_messages(self, m: pd.DataFrame, p: dict) -> None:
        late = self._late_z(p)
        unit = "% APR" if p["apr"] else "% per 8h"
        for key, fig in self.figures.items():
            reason = " · ".join(r for r in (flow_missing_reason(self.md, key, m, p),
                                            late.get(key, ""), *window_notes(m, key)) if r)
            self.panel_messages[key].value = (
                f"<div style='color:#8a6d00'>⚠ {reason}</div>" if reason else "")
            title = f"{self._base_titles[key]} — {reason}" if reason else \
                f"{self._base_titles[key]} ({unit})" if key == "funding" else self._base_titles[key]
            if fig.title != title:   # set once: every assignment is a message and a relayout
                fig.title = title

    def _on_zoom(self, _change) -> None:
        if self.metrics is not None:
            self._guard.run(self._update_alerts)
