"""Shared plumbing for the dashboards: debouncing, error routing, date handling, HTML bits.

Private module. The public classes live in ``flow.py``, ``premium.py``, ``teach.py`` and
``coverage.py``; the text readouts (info panel, alerts table) in ``readouts.py``.
"""
from __future__ import annotations

import asyncio
import html
import re
import traceback

import bqplot as bq
import ipywidgets as W
import numpy as np
import pandas as pd

from ..timeframes import TIMEFRAMES, check_not_finer
from ._viewport import assign_xy

GREEN = "#2ca02c"
RED = "#d62728"
GREY = "#7f7f7f"

#: Timeframes offered when the data has a daily (or coarser) resolution.
_DAILY_TIMEFRAMES = ("1D", "3D", "1W", "1M")
#: Most options a date-range slider carries; longer histories are subsampled (ends kept).
_MAX_RANGE_OPTIONS = 1500


class UserMessage(Exception):
    """A problem the user can fix with the controls (shown as a message, not a traceback)."""


def timeframe_choices(md) -> list[str]:
    """Timeframes a dashboard offers for ``md``: 1D, 3D, 1W, 1M, plus 1h/4h when the data has them.

    Only timeframes the data can be re-barred into are offered (``check_not_finer``): intraday
    bars cannot be made from daily data, and weekly data cannot make 3-day or monthly bars.
    """
    resolution = getattr(md, "resolution", None)
    offered = []
    for tf in ("1h", "4h", *_DAILY_TIMEFRAMES):
        if tf in ("1h", "4h") and resolution not in TIMEFRAMES:
            continue
        try:
            check_not_finer(tf, resolution)
        except ValueError:
            continue
        offered.append(tf)
    return offered


#: Weekly bars are the default when the history holds at least this many of them: the
#: signals' seed works best weekly, and 104 weeks leave a full year after the default
#: one-year (52-week) z-score lookback.
MIN_WEEKS_FOR_WEEKLY = 104


def default_timeframe(md, choices: list[str]) -> str:
    """"1W" when it is offered and the prices span :data:`MIN_WEEKS_FOR_WEEKLY` weeks, else
    "1D" when offered, else the first choice."""
    spans = [frame.index.max() - frame.index.min()
             for frame in (getattr(md, "spot", None), getattr(md, "perp", None))
             if frame is not None and len(frame)]
    weeks = max(spans).days / 7 if spans else 0
    if "1W" in choices and weeks >= MIN_WEEKS_FOR_WEEKLY:
        return "1W"
    return "1D" if "1D" in choices else choices[0]


class Debouncer:
    """Answer a change at once, then coalesce a burst of changes into one call at its end.

    The first call after a quiet spell runs the callback immediately (a single slider move is
    not kept waiting) and opens a ``delay_ms`` window; calls inside the window only mark the
    state dirty, and when the window closes one call runs with the latest settings, opening a
    new window (so a drag or a held arrow key recomputes at most once per ``delay_ms``, and the
    last setting is always drawn). With ``delay_ms=0``, or when no asyncio loop is running
    (plain Python, tests), every call runs the callback at once, synchronously.
    """

    def __init__(self, delay_ms: float, callback):
        if delay_ms < 0:
            raise ValueError(f"debounce_ms={delay_ms!r} must be >= 0")
        self.delay_s = float(delay_ms) / 1000.0
        self._callback = callback
        self._handle = None      # the open window's timer
        self._dirty = False      # a call arrived inside the window

    @property
    def pending(self) -> bool:
        """A call is waiting for the window to close."""
        return self._dirty

    def __call__(self) -> None:
        if self.delay_s <= 0:
            self._callback()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._callback()
            return
        if self._handle is not None:
            self._dirty = True
            return
        self._handle = loop.call_later(self.delay_s, self._window_closed, loop)
        self._callback()

    def _window_closed(self, loop) -> None:
        self._handle = None
        if self._dirty:
            self._dirty = False
            self._handle = loop.call_later(self.delay_s, self._window_closed, loop)
            self._callback()

    def flush(self) -> None:
        """Run a waiting call now (no-op when nothing is waiting)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._dirty:
            self._dirty = False
            self._callback()


class GuardedRunner:
    """Run widget callbacks so that no error is lost.

    * :class:`UserMessage` and ``ValueError`` (bad settings) -> shown in ``status`` as a message.
    * anything else -> full traceback appended to the visible ``errors`` Output widget, and a
      one-line pointer in ``status``.
    ``Output.append_stderr`` is used (rather than ``with output:``) so the traceback lands in the
    widget even outside a kernel, which is what the tests check.
    """

    def __init__(self):
        self.status = W.HTML(value="")
        self.status.add_class("btcflow-status")
        self.errors = W.Output(layout=W.Layout(max_height="240px", overflow="auto"))
        self.errors.add_class("btcflow-errors")
        self.clear_errors_button = W.Button(description="clear errors", layout=W.Layout(width="110px",
                                            display="none"))
        self.clear_errors_button.on_click(lambda _b: self.clear_errors())

    def message(self, text: str, level: str = "warning") -> None:
        color = {"warning": "#8a6d00", "error": RED, "info": GREY}[level]
        self.status.value = (f'<div style="color:{color};font-weight:600" data-level="{level}">'
                             f"{html.escape(text)}</div>")

    def clear_message(self) -> None:
        self.status.value = ""

    def clear_errors(self) -> None:
        self.errors.outputs = ()
        self.clear_errors_button.layout.display = "none"

    def run(self, fn, *args) -> bool:
        """Call ``fn(*args)``; return True when it succeeded."""
        try:
            fn(*args)
        except (UserMessage, ValueError) as exc:
            self.message(str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - everything else must become visible
            self.errors.append_stderr(traceback.format_exc())
            self.clear_errors_button.layout.display = ""
            self.message(f"{type(exc).__name__} while updating: {exc} (traceback below)", "error")
            return False
        return True


def plot_times(index: pd.DatetimeIndex) -> np.ndarray:
    """UTC DatetimeIndex -> tz-naive datetime64 array for bqplot (never epoch integers)."""
    index = pd.DatetimeIndex(index)
    if index.tz is not None:
        index = index.tz_convert(None)
    return index.to_numpy()


def floats(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def is_empty(frame) -> bool:
    return frame is None or len(frame) == 0


def range_options(index: pd.DatetimeIndex, timeframe: str) -> list[tuple[str, pd.Timestamp]]:
    """(label, bar-open time) pairs for a date-range slider; at most _MAX_RANGE_OPTIONS."""
    n = len(index)
    if n == 0:
        return []
    if n > _MAX_RANGE_OPTIONS:
        positions = np.unique(np.linspace(0, n - 1, _MAX_RANGE_OPTIONS).round().astype(int))
    else:
        positions = np.arange(n)
    fmt = "%Y-%m-%d %H:%M" if timeframe in ("1h", "4h") else "%Y-%m-%d"
    picked = index[positions]
    return list(zip(picked.strftime(fmt), picked))


def fmt_num(value, spec: str, suffix: str = "", prefix: str = "") -> str:
    """Format a number; NaN/None -> "n/a". A "+" in ``spec`` puts the sign before ``prefix``
    ("+$3.14", "−$2.00")."""
    if value is None or pd.isna(value):
        return "n/a"
    if "+" in spec and prefix:
        sign = "+" if value >= 0 else "−"
        return f"{sign}{prefix}{abs(value):{spec.replace('+', '')}}{suffix}"
    return f"{prefix}{value:{spec}}{suffix}"


def synthetic_badge(meta: dict) -> W.HTML:
    badge = W.HTML(value=(
        '<span style="background:#b8860b;color:white;padding:2px 8px;border-radius:4px;'
        'font-weight:700">synthetic demo data</span>') if meta.get("synthetic") else "")
    badge.add_class("btcflow-synthetic-badge")
    if not meta.get("synthetic"):
        badge.layout.display = "none"
    return badge


def new_panel_figure(title: str, x_scale: bq.DateScale, y_scale, y_label: str, marks: list,
                     css_class: str, height: str = "230px") -> bq.Figure:
    """One dashboard panel: a Figure on the shared date scale, with its own PanZoom on x."""
    x_axis = bq.Axis(scale=x_scale, label="", grid_lines="none")
    y_axis = bq.Axis(scale=y_scale, side="left", label=y_label, grid_lines="dashed",
                     label_offset="45px")
    fig = bq.Figure(
        title=title, marks=marks, axes=[x_axis, y_axis],
        interaction=bq.PanZoom(scales={"x": [x_scale]}),
        fig_margin={"top": 30, "bottom": 30, "left": 60, "right": 20},
        layout=W.Layout(width="100%", height=height), legend_location="top-left",
        title_style={"font-size": "13px"},
        # a legend box that bqplot draws (premium index, study panels) is white with dark
        # text on every theme, and so in a figure saved with bqplot's toolbar (it was black)
        legend_style={"fill": "white", "fill-opacity": 0.85, "stroke": "#bbbbbb"},
        legend_text={"fill": "#222222"},
    )
    fig.add_class(css_class)
    return fig


def sign_bars(x_scale, y_scale, label: str, y_format: str = ".2f") -> bq.Bars:
    """Bars coloured per bar by sign: green where ``y >= 0``, red below.

    The colour is data (``color`` = 1.0 or 0.0 through a two-colour ``ColorScale``), so a
    redraw sends one float array instead of validating thousands of colour strings.
    """
    return bq.Bars(x=[], y=[], color=[], padding=0.1, tooltip=tooltip(label, y_format),
                   scales={"x": x_scale, "y": y_scale,
                           "color": bq.ColorScale(colors=[RED, GREEN], min=0.0, max=1.0)})


def set_hline(mark: bq.Lines, ends: np.ndarray, level: float, visible: bool = True) -> None:
    """Draw ``mark`` as a horizontal line at ``level`` between the times ``ends``, in place."""
    with mark.hold_sync():
        assign_xy(mark, ends, np.full(len(ends), float(level)))
        mark.visible = bool(visible) and len(ends) > 0


def set_sign_bars(mark: bq.Bars, x: np.ndarray, y: np.ndarray,
                  decimate: bool | str = True) -> None:
    """Show finite ``y`` at ``x`` on a :func:`sign_bars` mark, in place. ``decimate="bars"``:
    one bar per pixel column and sign (:func:`~btcflow_nb.indicators.decimate.bar_indices`);
    default: min and max per column."""
    ok = np.isfinite(y)
    assign_xy(mark, x[ok], y[ok], decimate=decimate, color=(y[ok] >= 0).astype(np.float64))


#: bqplot's front end accepts a date format only if every ``%X`` follows ``-``, ``/``, ``*`` or
#: white space (its ``is_date_format`` regular expression): ``"%H:%M"`` is not a date format
#: there and the tooltip view fails, so the time shows as ``"2024-01-01 13"`` (hour, UTC).
TOOLTIP_DATE_FORMAT = "%Y-%m-%d %H"
_BQPLOT_DATE_FORMAT = re.compile(r"^(((((\*)|(/*)|(-*))(\s*)%([aAbBdeHIjmMLpSUwWyYZ]{1}))+)"
                                 r"|((\s*)%([cxX]{1})))$")


def tooltip(label: str, y_format: str = ".2f") -> bq.Tooltip:
    """A hover tooltip showing the bar's time (UTC, to the hour) and its value."""
    return bq.Tooltip(fields=["x", "y"], formats=[TOOLTIP_DATE_FORMAT, y_format],
                      labels=["time UTC", label])


def set_frame_lines(mark: bq.Lines, frame: pd.DataFrame | None) -> None:
    """One line per column of ``frame`` (x: its index, labels: its columns), in place; empty
    and hidden when ``frame`` is None or has no rows or columns."""
    with mark.hold_sync():
        if frame is None or frame.shape[1] == 0 or len(frame) == 0:
            assign_xy(mark, np.array([], dtype="datetime64[ns]"), np.zeros(0))
            mark.labels = []
            mark.visible = False
            return
        assign_xy(mark, plot_times(frame.index), frame.to_numpy(dtype=np.float64).T)
        mark.labels = [str(c) for c in frame.columns]
        mark.visible = True


def cut(frame: pd.DataFrame, start, end) -> pd.DataFrame:
    """The rows of ``frame`` with ``start <= time <= end`` (None = open end)."""
    if start is not None:
        frame = frame.loc[frame.index >= start]
    if end is not None:
        frame = frame.loc[frame.index <= end]
    return frame

