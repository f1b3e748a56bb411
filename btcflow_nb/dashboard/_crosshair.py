"""The crosshair and data window of the flow dashboard (the TradingView habit).

bqplot's PanZoom interaction is an SVG rectangle laid over the marks: while it is the
figure's interaction no mark sees the mouse, so no tooltip ever shows (bqplot issue #1352).
The dashboard therefore has a **cursor** switch:

* ``crosshair`` (default): no interaction layer. Under all other marks of each panel lies a
  *hover catcher*: one transparent full-height bar per bar of the data (a ``bqplot.Bars`` on a
  0..1 scale of its own), decimated like every mark to one bar per pixel column of the visible
  range (``_viewport``, ``decimate="columns"``: at 70k hourly bars ~1,600, not 70k, rects per
  panel; a hovered catcher maps back to the first exact bar of its column). Moving the mouse over a bar's column sends bqplot's ``hover`` event
  with the bar's index; the dashboard then draws a vertical line at that bar in every panel
  (the crosshair on the shared date axis) and fills the **data window**: the bar's spot, perp
  basket, premium, OI z, funding and active signals, each with the conditions
  :func:`btcflow_nb.explain` found true. The marks above the catcher keep their own tooltips
  and clicks (a click on a signal marker explains its bar).
  In this mode the wheel zooms and a drag pans the shared date axis too, from Python
  (:mod:`._mouse_zoom`: ipyevents reports the mouse, no layer covers the marks), so hover and
  pan/zoom work at the same time.
* ``pan/zoom``: every panel gets its ``bqplot.PanZoom`` back (drag pans, the wheel zooms the
  shared date scale in the browser alone: the one that works without a kernel, e.g. in the
  exported HTML); hover is off while it is on.

Without a hovered bar the data window shows the latest bar, so it doubles as the header strip
of latest values.

Private module: :class:`~btcflow_nb.dashboard.flow.FlowDashboard` owns a :class:`Crosshair`.
"""
from __future__ import annotations

import html
import os

import bqplot as bq
import ipywidgets as W
import numpy as np
import pandas as pd

from ..explanation import explain
from ._theme import FONT, MUTED, PALETTE, TEXT
from ._mouse_zoom import MouseZoom
from ._viewport import assign_xy, viewport_of
from ._widgets import fmt_num

#: The cursor modes, in the order of the switch.
CURSOR_MODES = ("crosshair", "pan/zoom")
#: Set by ``btcflow-nb render`` in the kernels it runs (``render._static_page`` names it too).
STATIC_EXPORT_ENV = "BTCFLOW_NB_STATIC_EXPORT"


def initial_cursor_mode() -> str:
    """"crosshair", except in a notebook being exported as a static page: there no kernel
    answers hover or ipyevents' wheel, and the cursor switch is disabled, so the charts start
    with bqplot's own pan/zoom, which the browser runs alone."""
    return "pan/zoom" if os.environ.get(STATIC_EXPORT_ENV) == "1" else "crosshair"


def catcher_bars(x_scale) -> bq.Bars:
    """A hover catcher: transparent full-height bars (filled by :meth:`Crosshair.set_bars`)."""
    return bq.Bars(x=[], y=[], scales={"x": x_scale, "y": bq.LinearScale(min=0.0, max=1.0)},
                   padding=0.0, colors=[PALETTE["grey"]], opacities=[0.0], stroke=None,
                   enable_hover=True, interactions={"hover": "tooltip"})


#: ``default_size`` of the largest Scatter marker of any panel (the open-bar ring).
PAD_MARKER_SIZE = 420
#: The x padding bqplot gives every panel for that marker [px] (Scatter: sqrt(size) / 2 + 1).
PAD_PX = PAD_MARKER_SIZE ** 0.5 / 2 + 1.0


def x_padding_mark(x_scale) -> bq.Scatter:
    """An empty, hidden Scatter whose marker size sets the panel's horizontal padding.

    bqplot pads a figure's x range by its largest mark padding (a Scatter: half its marker
    width), so a panel with a big marker maps the same date ~8 px away from a panel without
    one; with this mark in every panel, all use the same padding and a date is at the same x
    in all four: the crosshair is one vertical line."""
    return bq.Scatter(x=[], y=[], scales={"x": x_scale, "y": bq.LinearScale()},
                      default_size=PAD_MARKER_SIZE, visible=False, enable_hover=False)


def crosshair_line(x_scale) -> bq.Lines:
    """The vertical line at the hovered bar (hidden until the mouse is over a bar)."""
    return bq.Lines(x=[], y=[], scales={"x": x_scale, "y": bq.LinearScale(min=0.0, max=1.0)},
                    colors=[PALETTE["crosshair"]], line_style="dashed", stroke_width=1,
                    visible=False, enable_hover=False)


def _explained_signals(explained: pd.DataFrame | None, active: list[str]) -> dict[str, str]:
    """Signal -> "cond ✓ · cond ✓" of the conditions that held, for the ``active`` signals."""
    out = {}
    if explained is None:
        return out
    for signal in active:
        rows = explained[(explained["signal"] == signal)
                         & ~explained["condition"].str.startswith("=> ")]
        held = [str(c) for c, ok in zip(rows["condition"], rows["passed"]) if ok]
        out[signal] = " · ".join(held)
    return out


def data_window_html(m: pd.DataFrame, row: int, *, apr: bool, hovered: bool,
                     alert_kinds: dict[str, str], explained: pd.DataFrame | None) -> str:
    """The data window of bar ``row`` of ``m`` (flow_metrics frame): one strip of values, then
    the active signals with the conditions that hold (``explained``: ``explain`` of the bar)."""
    if m is None or len(m) == 0 or not 0 <= row < len(m):
        return (f"<div class='btcflow-data-window' style='font-family:{FONT};color:{TEXT}'>"
                "no bars to show</div>")
    r = m.iloc[row]
    time = m.index[row]
    tf = m.attrs.get("timeframe", "1D")
    stamp = f"{time:%Y-%m-%d %H:%M}" if tf in ("1h", "4h") else f"{time:%Y-%m-%d}"
    state = " (open bar, provisional)" if bool(r.get("open_bar", False)) else ""
    unit = "% APR" if apr else "%/8h"
    cells = [("bar", ("hovered " if hovered else "latest ") + stamp + state),
             ("spot", fmt_num(r["spot"], ",.2f", prefix="$")),
             ("perp basket", fmt_num(r["perp_basket"], ",.2f", prefix="$")),
             ("premium", f"{fmt_num(r['premium_pct'], '+.4f', ' %')} "
                         f"({fmt_num(r['premium_abs'], '+,.2f', prefix='$')})"),
             ("OI z", fmt_num(r["oi_z"], "+.2f")),
             ("funding", fmt_num(r["funding"], "+.4f", f" {unit}"))]
    keys = {"bar": "bar", "spot": "spot", "perp basket": "perp", "premium": "premium",
            "OI z": "oi-z", "funding": "funding"}
    strip = " ".join(   # a space between cells: where a long strip may wrap
        f"<span class='btcflow-dw-{keys[name]}' style='margin-right:16px;white-space:nowrap'>"
        f"<span style='color:{MUTED}'>{html.escape(name)}</span> <b>{html.escape(value)}</b>"
        "</span>" for name, value in cells)
    active = [k for k in alert_kinds if bool(r.get(k, False))]
    why = _explained_signals(explained, active)
    if active:
        signals = "; ".join(
            f"<b>{html.escape(alert_kinds[k])}</b>"
            + (f" <span style='color:{MUTED}'>({html.escape(why[k])})</span>" if why.get(k)
               else "") for k in active)
    else:
        signals = "none"
    return (f"<div class='btcflow-data-window' data-hovered='{int(hovered)}' "
            f"style='font-family:{FONT};font-size:12.5px;color:{TEXT};line-height:20px;white-space:normal'>"
            f"{strip}<div class='btcflow-dw-signals'><span style='color:{MUTED}'>"
            f"active signals</span> {signals}</div></div>")


def premium_window_html(m: pd.DataFrame | None, row: int, *, hovered: bool, spot_name: str,
                        futures_name: str, unit: str, alert_kinds: dict[str, str]) -> str:
    """The premium index's data window of bar ``row``: its spot leg, futures leg, premium
    ``S − F`` (USD and % of F), Bollinger basis / upper / lower on the premium shown
    (``unit``: "usd" or "pct") and which alert state holds (a ``*_onset`` column of
    ``alert_kinds`` marks the bar that crossed; the state without "_onset" stays on after)."""
    if m is None or len(m) == 0 or not 0 <= row < len(m):
        return (f"<div class='btcflow-data-window' style='font-family:{FONT};color:{TEXT}'>"
                "no bars to show</div>")
    r, time = m.iloc[row], m.index[row]
    tf = m.attrs.get("timeframe", "1D")
    stamp = f"{time:%Y-%m-%d %H:%M}" if tf in ("1h", "4h") else f"{time:%Y-%m-%d}"
    state = " (open bar, provisional)" if bool(r.get("open_bar", False)) else ""
    band = (lambda v: fmt_num(v, "+,.2f", prefix="$")) if unit == "usd" else \
        (lambda v: fmt_num(v, "+.4f", " %"))
    cells = [("bar", ("hovered " if hovered else "latest ") + stamp + state),
             (f"spot ({spot_name})", fmt_num(r["spot"], ",.2f", prefix="$")),
             (f"futures ({futures_name})", fmt_num(r["futures"], ",.2f", prefix="$")),
             ("premium", f"{fmt_num(r['premium_abs'], '+,.2f', prefix='$')} "
                         f"({fmt_num(r['premium_pct'], '+.4f', ' %')})"),
             ("basis", band(r["bb_basis"])), ("upper", band(r["bb_upper"])),
             ("lower", band(r["bb_lower"]))]
    strip = " ".join(   # a space between cells: where a long strip may wrap
        f"<span style='margin-right:16px;white-space:nowrap'><span style='color:{MUTED}'>"
        f"{html.escape(name)}</span> <b>{html.escape(value)}</b></span>" for name, value in cells)
    states = []
    for onset, label in alert_kinds.items():
        held = onset.removesuffix("_onset")
        if bool(r.get(onset, False)):
            states.append(f"<b>{html.escape(label)}</b> (crossed on this bar)")
        elif bool(r.get(held, False)):
            states.append(f"{html.escape(label.split(' (')[0])} (beyond the band)")
    return (f"<div class='btcflow-data-window' data-hovered='{int(hovered)}' "
            f"style='font-family:{FONT};font-size:12.5px;color:{TEXT};line-height:20px;white-space:normal'>"
            f"{strip}<div class='btcflow-dw-signals'><span style='color:{MUTED}'>alert state"
            f"</span> {'; '.join(states) or 'inside the bands'}</div></div>")


class Crosshair:
    """Hover catchers, crosshair lines and the data window over ``figures`` (one shared date
    scale). ``frame()`` returns the drawn ``flow_metrics`` frame, ``full()`` the full-history
    one (for :func:`~btcflow_nb.explain`), ``apr()`` the funding unit; ``guard`` runs the
    callbacks (errors become visible)."""

    def __init__(self, x_scale, figures: dict[str, bq.Figure], *, frame, guard,
                 full=lambda: None, apr=lambda: False, alert_kinds: dict[str, str] | None = None,
                 window_html=None, window_height: str = "64px"):
        self._frame, self._full, self._apr, self._guard = frame, full, apr, guard
        self._kinds = alert_kinds or {}
        #: ``window_html(m, row, hovered) -> str``: another dashboard's data window (the
        #: premium index); None = the flow dashboard's (:func:`data_window_html`).
        self._window_html = window_html
        self.catchers = {name: catcher_bars(x_scale) for name in figures}
        self.lines = {name: crosshair_line(x_scale) for name in figures}
        self.panzooms = {name: fig.interaction for name, fig in figures.items()}
        self._figures = figures
        for name, fig in figures.items():
            fig.marks = [self.catchers[name], *fig.marks, x_padding_mark(x_scale),
                         self.lines[name]]
            self.catchers[name].on_hover(self._on_hover)
        #: The hovered bar (row of the drawn frame), None = the latest bar.
        self.row: int | None = None
        self.mode = W.ToggleButtons(options=list(CURSOR_MODES), value=initial_cursor_mode(),
                                    description="cursor", style={"button_width": "82px",
                                                                 "description_width": "initial"},
                                    tooltips=["hover a bar: crosshair and data window; "
                                              "the wheel zooms, a drag pans the dates",
                                              "bqplot's own pan/zoom layer (no hover)"])
        self.mode.add_class("btcflow-ctl-cursor")
        #: Wheel zoom and drag pan from Python (ipyevents), active in crosshair mode.
        self.mouse_zoom = MouseZoom(x_scale, figures, extent=self._extent, pad_px=PAD_PX,
                                    guard=guard, enabled=lambda: self.mode.value == "crosshair",
                                    on_width=self._plot_width)
        self.mode.observe(lambda _c: self._guard.run(self.apply_mode), "value")
        # a fixed height: a data window that grew or shrank with its text would move the
        # charts under a still mouse (and the hovered bar with them)
        self.window = W.HTML(layout=W.Layout(height=window_height, overflow="hidden",
                                             width="100%"))
        self.window.add_class("btcflow-data-window-widget")
        self.apply_mode()

    def _plot_width(self, px: float) -> None:
        """The panels' plot area is ``px`` wide (from a mouse event): decimate to it. Moves
        under 1 % (sub-pixel layout, panels a pixel apart) do not re-send every mark."""
        viewport = viewport_of(next(iter(self.lines.values())))
        if viewport is not None and abs(px - viewport.width_px) > max(2.0,
                                                                      0.01 * viewport.width_px):
            viewport.set_width(px)

    # ------------------------------------------------------------------ modes
    def apply_mode(self) -> None:
        """Crosshair: no interaction layer (marks see the mouse); pan/zoom: the PanZoom back."""
        crosshair = self.mode.value == "crosshair"
        for name, fig in self._figures.items():
            fig.interaction = None if crosshair else self.panzooms[name]
        if not crosshair:
            self.hide_line()

    def _extent(self):
        """(first, last, bars) of the drawn frame, naive UTC; (None, None, 0) when empty."""
        m = self._frame()
        if m is None or len(m) == 0:
            return None, None, 0
        index = pd.DatetimeIndex(m.index)
        if index.tz is not None:
            index = index.tz_convert(None)
        return index[0], index[-1], len(index)

    # ------------------------------------------------------------------ data
    def set_bars(self, t: np.ndarray) -> None:
        """One catcher bar per drawn bar (times ``t``), in place; forget the hovered bar."""
        ones = np.ones(len(t))
        for bars in self.catchers.values():   # one per pixel column of the visible range
            assign_xy(bars, t, ones, decimate="columns")
        self.row = None
        self.hide_line()
        self.update_window()

    def hide_line(self) -> None:
        for line in self.lines.values():
            line.visible = False

    def _on_hover(self, _mark, content) -> None:
        point = content.get("point") or content.get("data") or {}
        index = point.get("index")
        if index is not None:
            self._guard.run(self.hover, self._exact_row(_mark, int(index)))

    @staticmethod
    def _exact_row(catcher, drawn: int) -> int:
        """The bar of the drawn frame under catcher bar ``drawn`` (catchers are decimated to
        one per pixel column: the first bar of that column)."""
        viewport = viewport_of(catcher)
        try:
            return drawn if viewport is None else viewport.exact_position(catcher, drawn)
        except (KeyError, IndexError):
            return drawn    # not drawn through the viewport: hover() names the bad row

    def hover(self, row: int) -> None:
        """Show bar ``row`` of the drawn frame: crosshair in every panel and the data window."""
        m = self._frame()
        if m is None or not 0 <= row < len(m):
            raise ValueError(f"hovered bar {row} is not one of the {0 if m is None else len(m)} "
                             "bars drawn")
        self.row = row
        t = np.full(2, pd.Timestamp(m.index[row]).tz_convert(None).to_datetime64())
        for line in self.lines.values():
            with line.hold_sync():
                line.x, line.y = t, np.array([0.0, 1.0])
                line.visible = True
        self.update_window()

    def update_window(self) -> None:
        """The data window of the hovered bar, or of the latest bar."""
        m = self._frame()
        if self._window_html is not None:
            hovered = self.row is not None and m is not None and self.row < len(m)
            row = self.row if hovered else (len(m) - 1 if m is not None else -1)
            self.window.value = self._window_html(m, row, hovered)
            return
        if m is None or len(m) == 0:
            self.window.value = data_window_html(m, -1, apr=False, hovered=False,
                                                 alert_kinds=self._kinds, explained=None)
            return
        hovered = self.row is not None and self.row < len(m)
        row = self.row if hovered else len(m) - 1
        full = self._full()
        explained = None
        active = any(bool(m[k].iloc[row]) for k in self._kinds if k in m.columns)
        if active and full is not None and len(full):
            explained = explain(full, m.index[row])
        self.window.value = data_window_html(m, row, apr=self._apr(), hovered=hovered,
                                             alert_kinds=self._kinds, explained=explained)
