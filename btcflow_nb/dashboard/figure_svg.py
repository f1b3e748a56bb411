"""Static SVG of bqplot figures as they are now: the server-rendered first paint of the app.

:func:`figures_svg` draws each ``bqplot.Figure`` from the data its marks hold at this moment
(already decimated by :mod:`~btcflow_nb.dashboard._viewport`: at most ~2 points per pixel
column), so the picture is exactly what the interactive figure will draw, not a picture of
something else. Pure and deterministic: no browser, no widget messages.

What is drawn, per figure (visible marks only; a mark whose opacities are all 0, such as a
hover catcher, is skipped):

* ``Lines`` -> one ``<path class="line">`` per line (2-D ``y``: one line per row, colours
  cycling through ``colors``); a NaN ends a segment (``M`` starts the next), so a gap stays a
  gap; ``line_style`` dashed/dotted -> ``stroke-dasharray``; ``fill="bottom"`` -> a filled
  area down to the plot's bottom;
* ``Bars`` -> one ``<rect class="bar">`` per finite value, from the base 0 to ``y``; a bar's
  colour is its ``color`` value through the mark's ``ColorScale`` (its two ``colors`` for
  0.0 and 1.0: the sign colours), else ``colors[0]``; width: the smallest x spacing times
  ``1 - padding``;
* ``Scatter`` -> a marker per finite point (circle, triangles, diamond, square, cross), area
  ``default_size`` px^2 as in bqplot;
* the title, the visible axes' labels and a few tick labels (first/last date, y ticks on a
  1-2-5 step or the axis' ``tick_values``), dashed y grid lines.

Scales: a scale's domain is its ``min``/``max`` when set, else the extent of the data of every
mark on it in all the figures passed together (bqplot shares one x scale between the panels,
so they get one x domain); Bars add their base 0 to the y domain. A ``LinearScale`` /
``DateScale`` maps its domain linearly onto ``[0, plot width]`` (y: ``[plot height, 0]``); a
``LogScale`` maps ``log10`` of it. Dates are ``datetime64`` (naive UTC), as the dashboards
give bqplot.

Text colours are ``var(--jp-ui-font-color1, #333)`` (JupyterLab's variables when the theme is
loaded, dark grey before): readable on the light and the dark theme.
"""
from __future__ import annotations

import html
import math
import re

import numpy as np

from ._theme import MUTED, TEXT

__all__ = ["DEFAULT_HEIGHT_PX", "DEFAULT_WIDTH_PX", "css_px", "figure_svg", "figures_svg",
           "line_path", "nice_ticks", "scale_domains"]

#: Size of a figure whose layout gives no usable pixel width/height (CSS ``100%``).
DEFAULT_WIDTH_PX = 1340
DEFAULT_HEIGHT_PX = 240
GRID = "var(--jp-border-color2, #d8d8d8)"
_DASH = {"dashed": "6,4", "dotted": "2,3", "dash_dotted": "6,3,2,3"}
_CLAMP = re.compile(r"clamp\(\s*([\d.]+)px\s*,\s*([\d.]+)vw\s*,\s*([\d.]+)px\s*\)")


def css_px(value, default: float, viewport_px: float = 1400) -> float:
    """A CSS length as pixels: ``"240px"`` -> 240, ``"clamp(180px, 13vw, 340px)"`` at a
    ``viewport_px``-wide window -> 182; anything else (``"100%"``, None) -> ``default``."""
    text = str(value or "").strip()
    if text.endswith("px"):
        try:
            return float(text[:-2])
        except ValueError:
            return default
    match = _CLAMP.fullmatch(text)
    if match:
        low, vw, high = (float(g) for g in match.groups())
        return min(high, max(low, vw * viewport_px / 100.0))
    return default


def _numbers(values) -> np.ndarray:
    """Floats of ``values``; datetime64 -> epoch nanoseconds as float (NaT -> NaN)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        out = arr.astype("datetime64[ns]").astype(np.int64).astype(np.float64)
        out[np.isnat(arr)] = np.nan
        return out
    if arr.dtype.kind == "O" and arr.size and hasattr(arr.flat[0], "year"):
        return _numbers(np.asarray(arr, dtype="datetime64[ns]"))
    return arr.astype(np.float64)


def _bound(value) -> float | None:
    if value is None:
        return None
    if hasattr(value, "year"):          # datetime / Timestamp (naive UTC)
        return float(np.datetime64(value, "ns").astype(np.int64))
    return float(value)


def _seq(mark, name: str, default: list) -> list:
    """``mark.<name>`` as a list (traits may hold numpy arrays); ``default`` when empty."""
    value = getattr(mark, name, None)
    value = [] if value is None else list(value)
    return value or default


def _visible(mark) -> bool:
    opacities = _seq(mark, "opacities", [])
    fills = _seq(mark, "fill_opacities", [])
    if opacities and all(o == 0 for o in opacities) and not any(fills):
        return False
    return bool(mark.visible) and len(np.asarray(mark.x)) > 0


def scale_domains(figures) -> dict[str, tuple[float, float]]:
    """Scale model id -> ``(lo, hi)`` (floats; dates as epoch ns) over every visible mark of
    ``figures``: the scale's ``min``/``max`` when set, else its data's finite extent (Bars
    include their base 0 on y). A scale without finite data gets ``(0, 1)``."""
    extent: dict[str, list[float]] = {}
    scales = {}
    for fig in figures:
        for mark in fig.marks:
            if not _visible(mark):
                continue
            for axis in ("x", "y"):
                scale = mark.scales.get(axis)
                if scale is None:
                    continue
                scales[scale.model_id] = scale
                values = _numbers(getattr(mark, axis)).ravel()
                values = values[np.isfinite(values)]
                if type(mark).__name__ == "Bars" and axis == "y":
                    values = np.append(values, 0.0)
                if values.size:
                    lo, hi = extent.get(scale.model_id, [math.inf, -math.inf])
                    extent[scale.model_id] = [min(lo, values.min()), max(hi, values.max())]
    out = {}
    for key, scale in scales.items():
        lo, hi = extent.get(key, [0.0, 1.0])
        lo = _bound(scale.min) if getattr(scale, "min", None) is not None else lo
        hi = _bound(scale.max) if getattr(scale, "max", None) is not None else hi
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        out[key] = (lo, hi)
    return out


def _mapper(scale, domain, start: float, stop: float):
    """values -> pixels: ``domain`` onto ``[start, stop]`` (log10 for a LogScale)."""
    lo, hi = domain
    if type(scale).__name__ == "LogScale":
        lo, hi = math.log10(max(lo, 1e-300)), math.log10(max(hi, 1e-300))

        def apply(values):
            v = _numbers(values)
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.log10(np.where(v > 0, v, np.nan))
            return start + (v - lo) / (hi - lo) * (stop - start)
        return apply
    return lambda values: start + (_numbers(values) - lo) / (hi - lo) * (stop - start)


def line_path(px: np.ndarray, py: np.ndarray) -> str:
    """SVG path data through the points (``px``, ``py``), one ``M``/``L`` per finite point; a
    non-finite point ends the segment (the next finite one starts with ``M``)."""
    parts, pen_down = [], False
    for x, y in zip(px.tolist(), py.tolist()):
        if not (math.isfinite(x) and math.isfinite(y)):
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        pen_down = True
    return "".join(parts)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round values (steps of 1, 2 or 5 x 10^k) inside ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return []
    raw = (hi - lo) / max(1, count)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step)
    return [round(k * step, 12) for k in range(first, math.floor(hi / step) + 1)]


def _tick_label(value: float, fmt: str | None) -> str:
    if fmt == "~s" and abs(value) >= 1000:
        for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= div:
                return f"{value / div:.3g}{suffix}"
    return f"{value:.6g}"


def _date_label(ns: float) -> str:
    return str(np.datetime64(int(ns), "ns").astype("datetime64[D]"))


def _marker(shape: str, cx: float, cy: float, size: float, color: str, fill: bool) -> str:
    half = math.sqrt(size) / 2
    paint = (f"fill='{color}' stroke='white' stroke-width='0.6'" if fill else
             f"fill='none' stroke='{color}' stroke-width='2'")
    if shape == "circle":
        r = math.sqrt(size / math.pi)
        return f"<circle class='dot' cx='{cx:.1f}' cy='{cy:.1f}' r='{r:.1f}' {paint}/>"
    points = {
        "triangle-up": [(0, -half), (half, half), (-half, half)],
        "triangle-down": [(0, half), (half, -half), (-half, -half)],
        "diamond": [(0, -half * 1.3), (half, 0), (0, half * 1.3), (-half, 0)],
        "square": [(-half, -half), (half, -half), (half, half), (-half, half)],
    }.get(shape)
    if points is None:    # cross and anything else: a plus sign
        return (f"<path class='dot' d='M{cx - half:.1f},{cy:.1f}H{cx + half:.1f}"
                f"M{cx:.1f},{cy - half:.1f}V{cy + half:.1f}' stroke='{color}' "
                f"stroke-width='2' fill='none'/>")
    d = "M" + "L".join(f"{cx + dx:.1f},{cy + dy:.1f}" for dx, dy in points) + "Z"
    return f"<path class='dot' d='{d}' {paint}/>"


def _lines(mark, fx, fy, plot_h: float) -> list[str]:
    x = np.asarray(mark.x)
    y = np.atleast_2d(_numbers(mark.y))
    colors = _seq(mark, "colors", ["steelblue"])
    opac = _seq(mark, "opacities", [1.0])
    fills = _seq(mark, "fill_colors", colors)
    fill_opac = _seq(mark, "fill_opacities", [1.0])
    dash = _DASH.get(mark.line_style)
    px = fx(x)
    out = []
    for i, row in enumerate(y):
        d = line_path(px, fy(row))
        if not d:
            continue
        if mark.fill == "bottom":
            ok = np.isfinite(row)
            xs = px[ok]
            area = d + f"L{xs[-1]:.1f},{plot_h:.1f}L{xs[0]:.1f},{plot_h:.1f}Z"
            out.append(f"<path class='area' d='{area}' fill='{fills[i % len(fills)]}' "
                       f"fill-opacity='{fill_opac[i % len(fill_opac)]}' stroke='none'/>")
            if not mark.stroke_width:
                continue
        style = f" stroke-dasharray='{dash}'" if dash else ""
        out.append(f"<path class='line' d='{d}' fill='none' stroke='{colors[i % len(colors)]}' "
                   f"stroke-width='{mark.stroke_width:g}' stroke-opacity='"
                   f"{opac[i % len(opac)]:g}'{style}/>")
    return out


def _bars(mark, fx, fy) -> list[str]:
    px, py = fx(mark.x), fy(np.asarray(mark.y, dtype=np.float64))
    y0 = float(fy(np.array([0.0]))[0])
    finite = np.sort(px[np.isfinite(px)])
    gaps = np.diff(finite)
    gaps = gaps[gaps > 0]
    width = max(1.0, (gaps.min() if gaps.size else 8.0) * (1.0 - float(mark.padding)))
    color_scale = mark.scales.get("color")
    values = np.asarray(mark.color if mark.color is not None else [], dtype=np.float64)
    base = _seq(mark, "colors", ["steelblue"])[0]
    sign_colors = list(color_scale.colors) if color_scale is not None else []
    out = []
    for i, (x, y) in enumerate(zip(px.tolist(), py.tolist())):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        fill = base
        if sign_colors and i < len(values) and math.isfinite(values[i]):
            fill = sign_colors[-1] if values[i] >= 0.5 else sign_colors[0]
        top, height = min(y, y0), abs(y0 - y)
        out.append(f"<rect class='bar' x='{x - width / 2:.1f}' y='{top:.1f}' "
                   f"width='{width:.1f}' height='{height:.1f}' fill='{fill}'/>")
    return out


def _scatter(mark, fx, fy) -> list[str]:
    px, py = fx(mark.x), fy(np.asarray(mark.y, dtype=np.float64))
    color = _seq(mark, "colors", ["steelblue"])[0]
    return [_marker(mark.marker, x, y, float(mark.default_size), color, bool(mark.fill))
            for x, y in zip(px.tolist(), py.tolist()) if math.isfinite(x) and math.isfinite(y)]


def figure_svg(fig, domains: dict | None = None, *, width: float | None = None,
               height: float | None = None) -> str:
    """One figure as an ``<svg>`` string (``domains``: from :func:`scale_domains`, default: of
    this figure alone; ``width``/``height`` [px]: default from ``fig.layout``)."""
    domains = scale_domains([fig]) if domains is None else domains
    w = width or css_px(fig.layout.width, DEFAULT_WIDTH_PX)
    h = height or css_px(fig.layout.height, DEFAULT_HEIGHT_PX)
    margin = {"top": 30, "bottom": 30, "left": 60, "right": 20, **(fig.fig_margin or {})}
    plot_w, plot_h = w - margin["left"] - margin["right"], h - margin["top"] - margin["bottom"]
    # bqplot pads the x range by half the widest Scatter marker (hidden ones too)
    pad = max([math.sqrt(float(m.default_size)) / 2 for m in fig.marks
               if type(m).__name__ == "Scatter"] or [0.0])
    body, axes = [], []
    for mark in fig.marks:
        if not _visible(mark):
            continue
        xs, ys = mark.scales["x"], mark.scales["y"]
        fx = _mapper(xs, domains.get(xs.model_id, (0.0, 1.0)), pad, plot_w - pad)
        fy = _mapper(ys, domains.get(ys.model_id, (0.0, 1.0)), plot_h, 0.0)
        kind = type(mark).__name__
        if kind == "Lines":
            body += _lines(mark, fx, fy, plot_h)
        elif kind == "Bars":
            body += _bars(mark, fx, fy)
        elif kind == "Scatter":
            body += _scatter(mark, fx, fy)
    for axis in fig.axes:
        if not axis.visible or axis.scale.model_id not in domains:
            continue
        lo, hi = domains[axis.scale.model_id]
        if axis.side in ("bottom", "top"):
            fx = _mapper(axis.scale, (lo, hi), pad, plot_w - pad)
            for value, anchor in ((lo, "start"), (hi, "end")):
                axes.append(f"<text x='{float(fx(np.array([value]))[0]):.1f}' "
                            f"y='{plot_h + 18:.1f}' text-anchor='{anchor}'>"
                            f"{_date_label(value)}</text>")
            continue
        fy = _mapper(axis.scale, (lo, hi), plot_h, 0.0)
        ticks = list(axis.tick_values) if axis.tick_values is not None and len(
            axis.tick_values) else nice_ticks(lo, hi)
        for value in ticks:
            y = float(fy(np.array([float(value)]))[0])
            if not 0 <= y <= plot_h:
                continue
            axes.append(f"<line x1='0' x2='{plot_w:.1f}' y1='{y:.1f}' y2='{y:.1f}' "
                        f"stroke='{GRID}' stroke-dasharray='3,3'/>")
            axes.append(f"<text x='-6' y='{y + 4:.1f}' text-anchor='end'>"
                        f"{html.escape(_tick_label(float(value), axis.tick_format))}</text>")
        if axis.label:
            axes.append(f"<text transform='translate({-margin['left'] + 12},{plot_h / 2:.1f}) "
                        f"rotate(-90)' text-anchor='middle' fill='{MUTED}'>"
                        f"{html.escape(str(axis.label))}</text>")
    title = html.escape(str(fig.title or ""))
    return (f"<svg class='btcflow-first-paint-figure' xmlns='http://www.w3.org/2000/svg' "
            f"viewBox='0 0 {w:.0f} {h:.0f}' width='100%' preserveAspectRatio='xMinYMin meet' "
            f"font-family='sans-serif' font-size='11' fill='{TEXT}'>"
            f"<text x='{w / 2:.1f}' y='18' text-anchor='middle' font-size='13'>{title}</text>"
            f"<g transform='translate({margin['left']},{margin['top']})'>"
            f"<line x1='0' x2='{plot_w:.1f}' y1='{plot_h:.1f}' y2='{plot_h:.1f}' "
            f"stroke='{MUTED}'/>{''.join(axes)}{''.join(body)}</g></svg>")


def figures_svg(figures, *, width: float | None = None) -> list[str]:
    """:func:`figure_svg` of each figure, with one set of scale domains for all of them (a
    shared x scale maps a date to the same x in every panel)."""
    figures = list(figures)
    domains = scale_domains(figures)
    return [figure_svg(fig, domains, width=width) for fig in figures]
