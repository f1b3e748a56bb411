"""Wheel zoom and drag pan of the shared date axis, done in Python, so hover keeps working.

bqplot's ``PanZoom`` is an SVG rectangle over the marks: while it is a figure's interaction no
mark sees the mouse (bqplot issue #1352), so hover and pan/zoom exclude each other. Here the
figures keep no interaction layer; ``ipyevents`` (jupyter-widgets' DOM-event widget) reports
the browser's ``wheel``, ``mousedown``, ``mousemove`` and ``mouseup`` events on each figure to
Python, which sets the shared scale's ``min``/``max``:

* **wheel**: zoom around the date under the mouse. A wheel step of ``deltaY`` pixels scales the
  visible span by ``exp(ZOOM_PER_PIXEL × deltaY)`` (one 100 px notch ≈ ×1.16; up = in), the
  date under the mouse stays put:
  ``lo' = a − (a − lo)·f``, ``hi' = a + (hi − a)·f`` with ``a`` the anchor date;
* **drag** (left button): pan by the mouse's travel, ``Δt = −Δx / plot_width × (hi − lo)``.

Pixel → date: the plot area starts ``fig_margin["left"] + pad`` px into the figure and is
``width − left − right − 2·pad`` px wide (``pad``: the x padding every panel shares, see
``_crosshair.x_padding_mark``); ``ipyevents`` gives the mouse's ``relativeX`` and the figure's
``boundingRectWidth``. The span is kept within ``[MIN_BARS bars, the data's extent × 1.5]``.

Every mouse event also tells the plot area's width (``on_width``): the viewport decimates to
the panels' real width from then on (a resize is seen at the next mouse event).

The scale's ``min``/``max`` then reach the viewport decimation and the visible-range counts
as any zoom does; "reset zoom" sets them back to None. Needs a kernel (exported HTML keeps
bqplot's own PanZoom behind the cursor switch).

Private module: :class:`~btcflow_nb.dashboard._crosshair.Crosshair` owns a :class:`MouseZoom`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from ipyevents import Event

#: Zoom factor per wheel pixel (deltaY): exp(0.0015 × 100) ≈ 1.16 per notch.
ZOOM_PER_PIXEL = 0.0015
#: Narrowest span a zoom may reach, in bars of the data.
MIN_BARS = 5
#: Widest span, as a multiple of the data's extent.
MAX_SPAN_RATIO = 1.5


def zoom_range(lo: float, hi: float, anchor: float, factor: float) -> tuple[float, float]:
    """``[lo, hi]`` scaled by ``factor`` about ``anchor`` (< 1 zooms in): the anchor stays."""
    if not (hi > lo and factor > 0):
        raise ValueError(f"zoom of [{lo}, {hi}] by factor={factor!r}: need hi > lo, factor > 0")
    return anchor - (anchor - lo) * factor, anchor + (hi - anchor) * factor


def pan_range(lo: float, hi: float, dx_px: float, plot_px: float) -> tuple[float, float]:
    """``[lo, hi]`` moved as the mouse dragged ``dx_px`` pixels right over ``plot_px`` px."""
    shift = -dx_px / max(plot_px, 1.0) * (hi - lo)
    return lo + shift, hi + shift


def _ns(value) -> float:
    return float(pd.Timestamp(value).as_unit("ns").value)


def _date(ns: float):
    """ns since the epoch -> naive datetime, to the microsecond (what a datetime holds)."""
    return pd.Timestamp(int(round(ns / 1e3)), unit="us").to_pydatetime()


class MouseZoom:
    """Wheel zoom and drag pan of ``x_scale`` from the mouse events of ``figures``.

    ``extent()``: the drawn data's ``(first, last)`` naive UTC times and bar count (the range
    bqplot shows when the scale's min/max are None); ``pad_px``: the panels' x padding;
    ``guard``: runs the handlers (errors become visible); ``enabled()``: whether to act."""

    def __init__(self, x_scale, figures: dict, *, extent, pad_px: float, guard, enabled,
                 on_width=None):
        self.x_scale, self._extent, self._pad = x_scale, extent, float(pad_px)
        self._guard, self._enabled = guard, enabled
        #: ``on_width(px)``: the plot area's width, from each mouse event's bounding rect
        #: (bqplot does not report its width; the viewport decimates to it).
        self._on_width = on_width
        self._drag: dict | None = None
        self.events = {}
        for name, fig in figures.items():
            # wheel without page scroll; press/release not throttled (never lost) ...
            keys = Event(source=fig, watched_events=["wheel", "mousedown", "mouseup"],
                         prevent_default_action=True)
            # ... the drag's moves at most every 40 ms (one kernel round trip each)
            moves = Event(source=fig, watched_events=["mousemove", "mouseleave"],
                          throttle_or_debounce="throttle", wait=40)
            for event in (keys, moves):
                event.on_dom_event(lambda e, fig=fig: self._guard.run(self.handle, fig, e))
            self.events[name] = (keys, moves)

    # ------------------------------------------------------------------ geometry
    def _plot_px(self, fig, event) -> tuple[float, float]:
        """(left edge, width) of the plot area in px from the figure's left edge."""
        margin = fig.fig_margin or {}
        left = float(margin.get("left", 60)) + self._pad
        width = float(event.get("boundingRectWidth") or 0) - left \
            - float(margin.get("right", 60)) - self._pad
        return left, max(width, 1.0)

    def visible(self) -> tuple[float, float] | None:
        """The visible range in ns (the data's extent while the scale has no min/max)."""
        first, last, _bars = self._extent()
        if first is None:
            return None
        lo = self.x_scale.min if self.x_scale.min is not None else first
        hi = self.x_scale.max if self.x_scale.max is not None else last
        return _ns(lo), _ns(hi)

    def _set(self, lo: float, hi: float) -> None:
        first, last, bars = self._extent()
        full = _ns(last) - _ns(first)
        narrowest = full / max(bars - 1, 1) * MIN_BARS
        span = min(max(hi - lo, narrowest), full * MAX_SPAN_RATIO)
        middle = (lo + hi) / 2
        lo, hi = middle - span / 2, middle + span / 2
        with self.x_scale.hold_sync():
            self.x_scale.min, self.x_scale.max = _date(lo), _date(hi)

    # ------------------------------------------------------------------ events
    def handle(self, fig, event: dict) -> None:
        """Act on one DOM event of ``fig`` (as ipyevents sends it)."""
        kind = event.get("type")
        if self._on_width is not None and float(event.get("boundingRectWidth") or 0) > 0:
            self._on_width(self._plot_px(fig, event)[1])
        if kind in ("mouseup", "mouseleave"):
            self._drag = None
            return
        if not self._enabled():
            return
        window = self.visible()
        if window is None:
            return
        left, width = self._plot_px(fig, event)
        x = float(event.get("relativeX", 0.0))
        if kind == "wheel":
            delta = float(event.get("deltaY", 0.0)) * (16.0 if event.get("deltaMode") == 1 else 1)
            if delta == 0 or not math.isfinite(delta):
                return
            lo, hi = window
            anchor = lo + np.clip((x - left) / width, 0.0, 1.0) * (hi - lo)
            self._set(*zoom_range(lo, hi, anchor, math.exp(ZOOM_PER_PIXEL * delta)))
        elif kind == "mousedown" and event.get("button", 0) == 0:
            self._drag = {"x": x, "window": window, "width": width}
        elif kind == "mousemove" and self._drag is not None:
            if not int(event.get("buttons", 0)) & 1:      # released outside the figure
                self._drag = None
                return
            d = self._drag
            self._set(*pan_range(*d["window"], x - d["x"], d["width"]))
