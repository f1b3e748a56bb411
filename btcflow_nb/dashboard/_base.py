"""The part both dashboards share: timeframe + date range, shared x scale, debounced refresh,
the "include open bar" switch, and controls that always agree with the charts.

Consistency rule: a refresh that fails or is refused (bad settings, an empty venue selection,
an unexpected error) puts every control back to the values the charts were last drawn with,
and the message says what happened; the charts never show one thing while a control shows
another.
"""
from __future__ import annotations

import ipywidgets as W
import pandas as pd

from .. import metrics as _metrics
from ._controls import ZoomDateScale
from ._widgets import (Debouncer, GuardedRunner, cut, default_timeframe,
                       range_options, synthetic_badge, timeframe_choices)
from ._honesty import load_line_html
from ._viewport import Viewport
from .readouts import info_html, summary_text, visible_alert_hits


# ------------------------------------------------------------------ flow_metrics keyword controls
def _defaults() -> dict:
    """``flow_metrics``' keyword defaults: every control's initial value."""
    import inspect
    sig = inspect.signature(_metrics.flow_metrics)
    return {name: p.default for name, p in sig.parameters.items()
            if p.default is not inspect.Parameter.empty}


# (keyword, widget class, kwargs) of the engine thresholds; defaults are flow_metrics' defaults.
_THRESHOLD_SPECS = [
    ("premium_min", W.FloatSlider, dict(min=0.0, max=0.5, step=0.005, readout_format=".3f",
                                        description="premium min %")),
    ("trend_length", W.IntSlider, dict(min=2, max=100, description="trend SMA")),
    ("oi_build_z", W.FloatSlider, dict(min=-1.0, max=5.0, step=0.1, description="OI build z")),
    ("oi_hot_z", W.FloatSlider, dict(min=0.0, max=6.0, step=0.1, description="OI hot z")),
    ("funding_hot", W.FloatSlider, dict(min=0.0, max=0.2, step=0.0025, readout_format=".4f",
                                        description="funding hot %/8h")),
    ("bull_oi_z_max", W.FloatSlider, dict(min=-1.0, max=6.0, step=0.1,
                                          description="bull OI z max")),
    ("bull_funding_max", W.FloatSlider, dict(min=0.0, max=0.2, step=0.0025,
                                             readout_format=".4f",
                                             description="bull funding max")),
]
# Bollinger bands on the USD premium: they drive the two premium alerts in the alerts table.
_ALERT_SPECS = [
    ("bb_length", W.IntSlider, dict(min=2, max=200, description="BB length")),
    ("bb_mult", W.FloatSlider, dict(min=0.5, max=5.0, step=0.1, description="BB multiplier")),
]
_EXTREME_SPECS = [
    ("cycle_k", W.FloatSlider, dict(min=0.5, max=5.0, step=0.1, description="cycle k (z)")),
    ("cycle_m", W.IntSlider, dict(min=1, max=3, description="cycle m (of 3)")),
]


class _DashboardBase(W.VBox):
    """Common machinery; subclasses build marks/controls and implement ``_render``.

    Every control that feeds ``flow_metrics`` is registered in ``self.controls`` under the name of
    the ``flow_metrics`` keyword it sets (``date_range`` sets ``start``/``end``); ``params()``
    returns the exact keyword arguments the marks were computed with.
    """

    _root_class = ""

    def __init__(self, md, *, timeframe: str | None, debounce_ms: float):
        super().__init__()
        self.md = md
        self.meta = dict(getattr(md, "meta", None) or {})
        self._guard = GuardedRunner()
        self._debounce = Debouncer(debounce_ms, self._refresh_now)
        self._suspended = 0
        self.metrics: pd.DataFrame | None = None
        self._full_index = pd.DatetimeIndex([], tz="UTC", name="time")
        self._cache: pd.DataFrame | None = None
        self._cache_key: str | None = None

        choices = timeframe_choices(md)
        if timeframe is None:
            timeframe = default_timeframe(md, choices)
        if timeframe not in choices:
            raise ValueError(f"timeframe={timeframe!r} is not available for this data; "
                             f"choose one of {choices}")
        #: The one date scale every figure of the dashboard shares.
        self.x_scale = ZoomDateScale()
        #: Decimation of every mark to the visible range (redone on pan/zoom, coalesced).
        self._window_debounce = Debouncer(debounce_ms,
                                          lambda: self._guard.run(self.viewport.redraw))
        self.viewport = Viewport(self.x_scale, schedule_redraw=self._window_debounce)
        self.controls: dict[str, W.Widget] = {}
        tf = W.Dropdown(options=choices, value=timeframe, description="timeframe",
                        layout=W.Layout(width="180px"))
        tf.add_class("btcflow-ctl-timeframe")
        self.controls["timeframe"] = tf
        rng = W.SelectionRangeSlider(options=[("-", 0)], index=(0, 0), description="dates",
                                     continuous_update=False, readout=False,
                                     layout=W.Layout(width="420px"))
        rng.add_class("btcflow-ctl-date-range")
        self.controls["date_range"] = rng
        #: Readout of the date range (the slider's own readout is too narrow for two dates).
        self.range_label = W.HTML(layout=W.Layout(width="240px"))
        rng.observe(lambda _c: self._update_range_label(), "index")
        self.reset_zoom_button = W.Button(description="reset zoom", layout=W.Layout(width="100px"))
        self.reset_zoom_button.on_click(lambda _b: self.reset_zoom())
        self.badge = synthetic_badge(self.meta)
        #: What was loaded: source, freshness, fallback reason, failed venues (one line).
        self.load_line = W.HTML(value=load_line_html(self.meta))
        self.load_line.add_class("btcflow-load-info")
        #: Alerts table and onset counts: closed bars only unless this is on (a bar whose period
        #: had not ended when the data was fetched is open, its signals provisional).
        self.include_open = W.Checkbox(value=False, description="include open bar", indent=False,
                                       layout=W.Layout(width="auto"))
        self.include_open.add_class("btcflow-ctl-include-open")
        self.include_open.observe(lambda _c: self._guard.run(self._update_alerts), "value")
        self._drawn: dict | None = None   # control values the charts were last drawn with

    # ----------------------------------------------------------------- wiring helpers
    def _wire(self) -> None:
        """Observe every control (call at the end of the subclass __init__).

        Every control also gets the DOM class ``btcflow-ctl-<keyword>`` (``_`` -> ``-``), e.g.
        ``btcflow-ctl-lookback``, ``btcflow-ctl-oi-hot-z``, for browser tests.
        """
        for name, ctl in self.controls.items():
            css = f"btcflow-ctl-{name.replace('_', '-')}"
            if css not in ctl._dom_classes:
                ctl.add_class(css)
        self.controls["timeframe"].observe(self._on_timeframe, "value")
        for name, ctl in self.controls.items():
            if name != "timeframe":
                ctl.observe(self._on_param, "value")
        self._guard.run(self._load_timeframe)

    def _update_range_label(self) -> None:
        rng = self.controls["date_range"]
        if rng.disabled or len(rng.options) < 2:
            self.range_label.value = "no dates"
            return
        lo, hi = rng.index
        labels = [label for label, _ in rng.options]
        self.range_label.value = f"{labels[lo]} → {labels[hi]}"

    def _on_param(self, _change) -> None:
        if not self._suspended:
            self._debounce()

    def _on_timeframe(self, _change) -> None:
        if self._suspended:
            return
        if not self._guard.run(self._load_timeframe):
            self._restore_drawn()

    # ----------------------------------------------------------------- consistency
    def _snapshot(self) -> dict:
        """The control values (and date-range options) the charts are drawn with now."""
        rng = self.controls["date_range"]
        snap = {name: ctl.value for name, ctl in self.controls.items() if name != "date_range"}
        snap["date_range"] = (tuple(rng.options), tuple(rng.index), rng.disabled)
        snap["_full_index"] = self._full_index
        snap["_default_lookback_bars"] = getattr(self, "_default_lookback_bars", None)
        return snap

    def _restore_drawn(self) -> None:
        """Put every control back to what the charts show (after a failed/refused change)."""
        snap = self._drawn
        if snap is None:
            return
        self._suspended += 1
        try:
            for name, ctl in self.controls.items():
                if name == "date_range" or ctl.value == snap[name]:
                    continue
                if hasattr(ctl, "max") and isinstance(snap[name], (int, float)) \
                        and snap[name] > ctl.max:
                    ctl.max = snap[name]
                ctl.value = snap[name]
            options, index, disabled = snap["date_range"]
            rng = self.controls["date_range"]
            if tuple(rng.options) != options:
                rng.options = options
            rng.index, rng.disabled = index, disabled
            self._full_index = snap["_full_index"]
            if snap["_default_lookback_bars"] is not None:
                self._default_lookback_bars = snap["_default_lookback_bars"]
        finally:
            self._suspended -= 1
        self._update_range_label()

    def _default_lookback(self) -> int:
        """``flow_metrics``' default lookback (one year, a duration) in bars of the timeframe."""
        return _metrics.lookback_bars(_metrics.DEFAULT_LOOKBACK,
                                      self.controls["timeframe"].value, "lookback", minimum=2)

    def _follow_default_lookback(self) -> None:
        """While a ``lookback`` slider is at the default in bars of the previous timeframe, move
        it to the default of the new one (365 on 1D, 52 on 1W, 12 on 1M); a lookback the user
        chose stays as chosen, in bars."""
        ctl = self.controls.get("lookback")
        if ctl is None or ctl.value != self._default_lookback_bars:
            return
        bars = self._default_lookback_bars = self._default_lookback()
        self._suspended += 1
        try:
            ctl.max = max(400, bars)
            ctl.value = bars
        finally:
            self._suspended -= 1

    def _load_timeframe(self) -> None:
        """New timeframe: rebuild the date-range options over the full history, then refresh."""
        self._follow_default_lookback()
        tf = self.controls["timeframe"].value
        bars = self.md.resample(tf)
        index = bars.spot.index.union(bars.perp.index)
        if len(index) == 0:  # no prices: let flow_metrics define the bars (OI/funding span)
            index = self._full_metrics(self.params(full_range=True)).index
        self._full_index = pd.DatetimeIndex(index, name="time")
        options = range_options(self._full_index, tf)
        rng = self.controls["date_range"]
        self._suspended += 1
        try:
            if options:
                rng.options = options
                rng.index = (0, len(options) - 1)
                rng.disabled = False
            else:
                rng.options = [("no data", 0)]
                rng.index = (0, 0)
                rng.disabled = True
        finally:
            self._suspended -= 1
        self._update_range_label()
        self.reset_zoom()
        self._refresh_now()

    def _full_metrics(self, params: dict) -> pd.DataFrame:
        """``flow_metrics`` over the whole history for ``params`` (without start/end), cached.

        ``flow_metrics`` computes on the whole history and then cuts ``start..end``, so the
        date-range control only slices this frame (no recomputation).
        """
        full = {k: v for k, v in params.items() if k not in ("start", "end")}
        key = repr(sorted(full.items()))
        if key != self._cache_key:
            self._cache = _metrics.flow_metrics(self.md, **full)
            self._cache_key = key
        return self._cache

    def _metrics_for(self, params: dict) -> pd.DataFrame:
        """``flow_metrics(md, **params)``: the cached full history cut to start..end."""
        return cut(self._full_metrics(params), params.get("start"), params.get("end"))

    # ----------------------------------------------------------------- parameters
    def _range_bounds(self, full_range: bool) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        rng = self.controls["date_range"]
        if full_range or rng.disabled or len(rng.options) < 2:
            return None, None
        lo, hi = rng.index
        start = rng.value[0] if lo > 0 else None
        end = rng.value[1] if hi < len(rng.options) - 1 else None
        return start, end

    def params(self, full_range: bool = False) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def n_bars(self) -> int:
        """Bars in the whole history at the current timeframe."""
        return len(self._full_index)

    # ----------------------------------------------------------------- refresh
    def _refresh_now(self) -> None:
        if self._guard.run(self._recompute_and_render):
            self._guard.clear_message()
            self._drawn = self._snapshot()
        else:
            self._restore_drawn()

    def _recompute_and_render(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def refresh(self) -> None:
        """Recompute now (skipping the debounce) and update the marks."""
        self._debounce.flush()
        self._refresh_now()

    def flush(self) -> None:
        """Run a debounced refresh that is still pending."""
        self._debounce.flush()

    def reset_zoom(self) -> None:
        """Show the whole drawn range: the shared date scale's min/max back to None (from the
        data). The state is sent even when Python already holds None: a wheel zoom or drag
        in the browser that did not reach Python would otherwise never be undone."""
        with self.x_scale.hold_trait_notifications():
            self.x_scale.min = None
            self.x_scale.max = None
        self.x_scale.send_state(("min", "max"))

    def _visible_window(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """Pan/zoom window of the shared x scale as UTC timestamps (None = not zoomed)."""
        lo, hi = self.x_scale.min, self.x_scale.max
        lo = None if lo is None else pd.Timestamp(lo).tz_localize("UTC")
        hi = None if hi is None else pd.Timestamp(hi).tz_localize("UTC")
        return lo, hi

    def _alert_hits_of(self, kinds):
        """Visible metrics and the (row, kind) positions of the boolean columns ``kinds`` that
        are set, newest bar first (kind positions index into ``kinds``)."""
        lo, hi = self._visible_window()
        return visible_alert_hits(self.metrics, kinds, lo, hi, self.include_open.value)

    def _open_note(self) -> str:
        """Caption note of the alerts table when the drawn range ends on an open bar."""
        m = self.metrics
        if m is None or not len(m) or not bool(m["open_bar"].iloc[-1]):
            return ""
        return ("open bar included (provisional)" if self.include_open.value
                else "open bar excluded (provisional; tick 'include open bar')")

    def _update_alerts(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # ----------------------------------------------------------------- info panel
    def _set_info(self, rows: list[list[str]], last_bar) -> None:
        """Fill the info panel (HTML table + source/freshness line) and remember it as text."""
        self._info_rows = [list(r) for r in rows]
        panel, self._freshness = info_html(rows, self.meta, last_bar)
        self.info.value = panel
        self.load_line.value = load_line_html(self.meta)   # keeps "n h ago" current

    def summary(self) -> str:
        """The info panel as plain text: latest values, active signals, source and freshness."""
        return summary_text(getattr(self, "_info_rows", []), getattr(self, "_freshness", ""))

    # ----------------------------------------------------------------- repr
    def __repr__(self) -> str:  # short and deterministic (it is stored in notebooks)
        tf = self.controls["timeframe"].value
        return (f"{type(self).__name__}(source={self.meta.get('source', 'unknown')!r}, "
                f"timeframe={tf!r}, bars={self.n_bars})")

    @property
    def status(self) -> W.HTML:
        """The message line (impossible settings, missing data, errors)."""
        return self._guard.status

    @property
    def errors(self) -> W.Output:
        """Visible Output widget receiving tracebacks from callbacks."""
        return self._guard.errors
