"""Every mark's x/y goes through :func:`assign_xy`: the browser gets at most about two points
per horizontal pixel of the visible range, Python keeps the exact values.

Why: at 70k hourly bars a dashboard would ship ~380k points (~6 MB) per control change and
bqplot would redraw them all as SVG, while a panel 1,000-1,900 px wide cannot show more than
two values per pixel column (its lowest and highest). :func:`~btcflow_nb.indicators.decimate.
minmax_indices` picks those (every extreme, the sign of every bar, every NaN break survive).

How:

* a dashboard makes one :class:`Viewport` on its shared x scale; marks on that scale are
  found through the scale (no mark is registered by hand);
* :func:`assign_xy` (``mark, x, y`` + per-point arrays such as a bar's ``color``) stores the
  exact arrays and sets the decimated ones on the mark, in place inside ``hold_sync()``;
  ``decimate=False`` for marks whose every point matters (state-band outlines),
  ``decimate="markers"`` for markers: the first of each pixel column (markers in one column
  cover each other; every onset stays in the exact data, the alerts table and the picker);
  ``decimate="bars"`` for bar charts (bars from 0): one bar per pixel column and sign of its
  bars (:func:`~btcflow_nb.indicators.decimate.bar_indices`);
  ``decimate="columns"`` for hover catchers: the first bar of each pixel column of the visible
  range only (:meth:`Viewport.exact_position` maps a hovered one back to its exact bar);
* the decimation is redone for the **visible range**: when the front end pans/zooms (the x
  scale's ``min``/``max`` traits), when the panel width changes (:meth:`Viewport.set_width`, or
  a figure's ``layout.width`` in px; :data:`DEFAULT_WIDTH_PX` when unknown — bqplot does not
  report its pixel width) and on every control change (the dashboard re-assigns);
* a mark whose exact data did not change and was already decimated for the current range and
  width is not drawn again: nothing is sent, the browser does not redraw it (NaN compares equal
  to NaN here, unlike in bqplot's own traits);
* :meth:`Viewport.exact` gives back the exact arrays (crosshair, data window); the dashboard's
  ``metrics`` frame is exact too.

A mark whose x scale has no viewport (a chart outside the dashboards) gets its data as is.
"""
from __future__ import annotations

import weakref
from contextlib import ExitStack

import bqplot as bq
import numpy as np

from ..indicators.decimate import bar_indices, first_per_bucket, minmax_indices

#: Width assumed for a panel whose pixel width the front end has not told us [px].
DEFAULT_WIDTH_PX = 1600
_VIEWPORTS: dict[str, weakref.ref] = {}   # x scale model id -> its Viewport


class _Exact:
    __slots__ = ("mark", "x", "y", "per_point", "keep", "decimate", "shown", "drawn_for",
                 "sent")

    def __init__(self, mark, x, y, per_point, keep, decimate):
        self.mark, self.x, self.y = mark, x, y
        self.per_point, self.keep, self.decimate = per_point, keep, decimate
        self.shown = None    # positions (into x) of the points drawn; None = all of them
        self.drawn_for = None   # (window, width) the mark was last decimated for
        self.sent = None        # the (x, y) objects the mark held after that

    def same_data(self, other: "_Exact") -> bool:
        """Same exact data and options (NaN equal to NaN: a NaN-holding array compares
        unequal to itself under ``==``, so traitlets would re-send it every time)."""
        return (self.decimate == other.decimate and _equal(self.x, other.x)
                and _equal(self.y, other.y) and _equal(self.keep, other.keep)
                and self.per_point.keys() == other.per_point.keys()
                and all(_equal(v, other.per_point[k]) for k, v in self.per_point.items()))


def _equal(a, b) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fcmM"))


class Viewport:
    """The visible x range and pixel width of the panels sharing ``x_scale``, and the exact
    data behind each of their marks.

    ``schedule_redraw``: called instead of :meth:`redraw` when the range changes (e.g. a
    debouncer that runs the redraw through the dashboard's error guard)."""

    def __init__(self, x_scale, *, width_px: float | None = None, schedule_redraw=None):
        self.x_scale = x_scale
        self.width_px = int(width_px or DEFAULT_WIDTH_PX)
        self._marks: dict[str, _Exact] = {}
        self._schedule = schedule_redraw or self.redraw
        _VIEWPORTS[x_scale.model_id] = weakref.ref(self)
        x_scale.observe(lambda _c: self._schedule(), ["min", "max"])

    # --------------------------------------------------------------------- the range
    @property
    def buckets(self) -> int:
        """Pixel columns of the visible range: at most 2 points each are sent."""
        return max(1, int(self.width_px))

    def window(self):
        """The visible x range ``(lo, hi)`` (None = the data's own end)."""
        return self.x_scale.min, self.x_scale.max

    def set_width(self, width_px: float) -> None:
        """The panels' width in pixels changed: re-decimate if the bucket count moves."""
        width = int(width_px)
        if width < 1:
            raise ValueError(f"width_px={width_px!r} must be >= 1 pixel")
        if width != self.width_px:
            self.width_px = width
            self._schedule()

    def watch_figure(self, figure) -> None:
        """Follow ``figure.layout.width`` when it is set in pixels (e.g. ``"1200px"``)."""
        def follow(change):
            value = str(change["new"] or "")
            if value.endswith("px"):
                self.set_width(float(value[:-2]))
        figure.layout.observe(follow, "width")
        follow({"new": figure.layout.width})

    # --------------------------------------------------------------------- the data
    def assign(self, mark, x, y, *, keep=None, decimate: bool | str = True,
               **per_point) -> None:
        """Store the exact ``x, y`` (and per-point arrays) of ``mark`` and draw it.

        Nothing is drawn or sent when the mark already shows the same data decimated for the
        same range and width (a lookback change moves the z-scores, not the prices: the
        price, premium and hover marks stay as they are in the browser)."""
        entry = _Exact(mark, np.asarray(x), np.asarray(y), per_point, keep, decimate)
        old = self._marks.get(mark.model_id)
        if old is not None and self._current(old) and old.same_data(entry):
            return
        self._marks[mark.model_id] = entry
        self._draw(entry)

    def _current(self, entry: _Exact) -> bool:
        """``entry``'s mark still shows what :meth:`_draw` gave it, for the current range and
        width (nobody set its x/y since)."""
        return (entry.drawn_for == (self.window(), self.width_px) and entry.sent is not None
                and entry.mark.x is entry.sent[0] and entry.mark.y is entry.sent[1])

    def exact(self, mark) -> tuple[np.ndarray, np.ndarray, dict]:
        """``(x, y, per_point)`` as given to :func:`assign_xy` (not decimated)."""
        entry = self._marks.get(mark.model_id)
        if entry is None:
            raise KeyError(f"mark {mark.model_id} has no data from assign_xy")
        return entry.x, entry.y, dict(entry.per_point)

    def exact_position(self, mark, drawn: int) -> int:
        """Position in the exact data of the ``drawn``-th point the browser holds for ``mark``
        (e.g. the index a bqplot hover event reports)."""
        entry = self._marks.get(mark.model_id)
        if entry is None:
            raise KeyError(f"mark {mark.model_id} has no data from assign_xy")
        count = len(entry.x) if entry.shown is None else len(entry.shown)
        if not 0 <= drawn < count:
            raise IndexError(f"drawn point {drawn} is not one of the {count} points drawn")
        return int(drawn if entry.shown is None else entry.shown[drawn])

    def redraw(self) -> None:
        """Decimate every mark again for the current range and width (in place); a mark
        already drawn for them is left alone. The marks' changes are sent together once all
        are drawn (one browser redraw for the panels, not one per mark)."""
        stale = [e for e in self._marks.values() if not self._current(e)]
        with ExitStack() as held:
            for entry in reversed(stale):   # released (sent) in the marks' order
                held.enter_context(entry.mark.hold_sync())
            for entry in stale:
                self._draw(entry)

    def points_sent(self) -> dict[str, int]:
        """Mark model id -> number of x values the mark holds now (what the browser draws)."""
        return {k: len(e.mark.x) for k, e in self._marks.items()}

    def _indices(self, entry: _Exact):
        x, y = entry.x, entry.y
        if not entry.decimate or x.ndim != 1 or y.shape[-1] != len(x):
            return None
        lo, hi = self.window()
        if entry.decimate == "columns":   # hover catchers: one per visible pixel column
            return None if len(x) <= self.buckets else _visible_columns(x, self.buckets, lo, hi)
        if entry.decimate == "bars":   # bars from 0: one per column and sign of its bars
            return None if len(x) <= self.buckets or y.ndim != 1 else \
                bar_indices(x, y, self.buckets, lo, hi)
        if entry.decimate == "markers":   # one marker per pixel column: they would overlap
            return None if len(x) <= self.buckets // 4 else \
                first_per_bucket(x, self.buckets, lo, hi)
        if len(x) <= 2 * self.buckets:
            return None
        return minmax_indices(x, y, self.buckets, lo, hi, keep=entry.keep)

    def _draw(self, entry: _Exact) -> None:
        idx = self._indices(entry)
        entry.shown = idx
        mark = entry.mark
        with mark.hold_sync():
            if idx is None:
                _set_unless_equal(mark, "x", entry.x)
                _set_unless_equal(mark, "y", entry.y)
                for name, values in entry.per_point.items():
                    setattr(mark, name, values)
            else:
                _set_unless_equal(mark, "x", entry.x[idx])
                _set_unless_equal(mark, "y", entry.y[..., idx])
                for name, values in entry.per_point.items():
                    picked = np.asarray(values)[idx]
                    setattr(mark, name, picked.tolist() if isinstance(values, list) else picked)
        entry.drawn_for = (self.window(), self.width_px)
        entry.sent = (mark.x, mark.y)


def _set_unless_equal(mark, name: str, values) -> None:
    """Set a data trait only when it changes: bqplot's array traits compare with ``==``, under
    which NaN differs from itself, so a line with a gap would be re-sent unchanged."""
    if not _equal(getattr(mark, name), values):
        setattr(mark, name, values)


def _visible_columns(x, buckets: int, lo, hi) -> np.ndarray:
    """The first point of each pixel column inside ``[lo, hi]`` plus the nearest point on each
    side: at most ``buckets + 2`` points, however far the range is zoomed in."""
    idx = first_per_bucket(x, buckets, lo, hi)
    start = 0 if lo is None else int(np.searchsorted(x[idx], np.datetime64(lo, "ns")
                                                     if x.dtype.kind == "M" else lo))
    stop = len(idx) if hi is None else int(np.searchsorted(
        x[idx], np.datetime64(hi, "ns") if x.dtype.kind == "M" else hi, side="right"))
    return idx[max(0, start - 1):min(len(idx), stop + 1)]


def viewport_of(mark) -> Viewport | None:
    """The viewport of ``mark``'s x scale, if its dashboard made one."""
    scale = (getattr(mark, "scales", None) or {}).get("x")
    ref = _VIEWPORTS.get(getattr(scale, "model_id", None))
    return ref() if ref is not None else None


def assign_xy(mark: bq.Mark, x, y, *, keep=None, decimate: bool | str = True, **per_point) -> None:
    """Set ``mark``'s ``x``, ``y`` (and per-point traits such as ``color``), in place inside
    ``hold_sync()``: decimated to the visible range when its x scale has a :class:`Viewport`,
    as given otherwise. ``keep``: positions never dropped; ``decimate=False``: every point;
    ``decimate="markers"``: the first point of each pixel column."""
    viewport = viewport_of(mark)
    if viewport is not None:
        viewport.assign(mark, x, y, keep=keep, decimate=decimate, **per_point)
        return
    with mark.hold_sync():
        mark.x, mark.y = x, y
        for name, values in per_point.items():
            setattr(mark, name, values)
