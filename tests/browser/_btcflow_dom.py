"""What the browser tests read from bqplot's DOM, in one place.

bqplot draws a Figure as ``div.bqplot.figure`` holding ``svg.svg-background`` (axes, their
``text.axislabel``) and ``svg.svg-figure > g > g`` whose children are one ``<g>`` per mark (in
the order of ``Figure.marks``) plus ``g.g_legend``. Lines draw ``path.line``, Bars
``rect.bar``, Scatter ``path.dot``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def save_screenshot(page, name: str) -> Path:
    """Full-page PNG in test-artifacts/ (gitignored), named after ``name``."""
    ARTIFACTS.mkdir(exist_ok=True)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    path = ARTIFACTS / f"{safe}.png"
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception:  # a crashed page must not hide the test's own error
        pass
    return path

# JS: figure element -> statistics of its marks and axes.
FIGURE_STATS_JS = """
(figure) => {
  const container = figure.querySelector('svg.svg-figure > g > g');
  const groups = container ? [...container.children].filter(g => !g.classList.contains('g_legend')) : [];
  const shapes = g => [...g.querySelectorAll('path, rect, circle, polygon, line')]
      .filter(s => s.tagName !== 'path' || (s.getAttribute('d') || '').length > 2).length;
  const axes = [...figure.querySelectorAll('svg.svg-background g.axis')].map(axis => ({
    label: (axis.querySelector('text.axislabel') || {}).textContent || '',
    ticks: [...axis.querySelectorAll('g.tick text')].map(t => t.textContent),
  }));
  return {
    marks: groups.length,
    shapes: groups.map(shapes),
    lines: groups.map(g => [...g.querySelectorAll('path.line')].map(p => p.getAttribute('d') || '')),
    bars: figure.querySelectorAll('rect.bar').length,
    axes: axes,
  };
}
"""

# JS: selector -> FIGURE_STATS_JS of the first matching figure (or null).
PANEL_STATS_JS = "(selector) => { const f = document.querySelector(selector); return f ? (" \
                 + FIGURE_STATS_JS + ")(f) : null; }"

# JS: stats of every figure on the page, in document order.
ALL_FIGURES_JS = "() => [...document.querySelectorAll('div.bqplot.figure')].map(f => (" \
                 + FIGURE_STATS_JS + ")(f))"

#: The tick labels of the visible x axes of one panel (they change when the dates move).
X_TICKS_JS = """
(sel) => [...document.querySelectorAll(sel + ' svg.svg-background g.axis')]
  .filter(a => a.getBoundingClientRect().width > 200 && a.checkVisibility())
  .map(a => [...a.querySelectorAll('g.tick text')].map(t => t.textContent).join('|')).join('')
"""


def wheel_zoom_in(page, sel: str, ticks_before: str, timeout_ms: float) -> None:
    """Wheel-zoom into panel ``sel``: the mouse at 60 % of its width and half its height, six
    notches up (``wheel(0, -300)``), then wait until its x tick labels differ from
    ``ticks_before`` (the zoom was drawn)."""
    box = page.locator(sel + " svg.svg-figure").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
    for _ in range(6):
        page.mouse.wheel(0, -300)
    page.wait_for_function("([js, sel, t]) => eval(js)(sel) !== t",
                           arg=[X_TICKS_JS, sel, ticks_before], timeout=timeout_ms)


# JS predicate: every given panel has at least one mark with something drawn.
PANELS_DRAWN_JS = """
(selectors) => selectors.every(sel => {
  const f = document.querySelector(sel);
  if (!f) return false;
  const container = f.querySelector('svg.svg-figure > g > g');
  if (!container) return false;
  return [...container.querySelectorAll('path.line, rect.bar, path.dot')]
      .some(s => s.tagName === 'rect' || (s.getAttribute('d') || '').length > 10);
})
"""


def numeric_ticks(axis: dict) -> list[float]:
    """Tick labels of an axis as floats (thousands separators and unit signs dropped)."""
    values = []
    for text in axis["ticks"]:
        cleaned = text.replace(",", "").replace("\u2212", "-").strip().rstrip("%")
        try:
            values.append(float(cleaned))
        except ValueError:
            pass
    return values


def vertical_axis(stats: dict) -> dict:
    """The value axis of a panel: the one whose ticks are numbers that are not years."""
    for axis in stats["axes"]:
        ticks = numeric_ticks(axis)
        if ticks and not all(float(t).is_integer() and 1900 < t < 2200 for t in ticks):
            return axis
    raise AssertionError(f"no numeric value axis among {stats['axes']}")


# --------------------------------------------------------------------------- exported HTML

_STATE_RE = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-state\+json">\s*(.*?)\s*</script>', re.S)
_VIEW_RE = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-view\+json">\s*(.*?)\s*</script>', re.S)
_MODEL_REF = re.compile(r"IPY_MODEL_([0-9a-f]{32})")


def widget_state(html_text: str) -> tuple[dict, list[str]]:
    """(state by model id, model ids of the displayed views) stored in an exported page."""
    match = _STATE_RE.search(html_text)
    state = json.loads(match.group(1))["state"] if match else {}
    views = [json.loads(v)["model_id"] for v in _VIEW_RE.findall(html_text)]
    return state, views


def _data_size(value) -> int:
    if isinstance(value, dict) and "shape" in value:
        size = 1
        for dim in value["shape"]:
            size *= dim
        return size
    if isinstance(value, list):
        return len(value)
    return 0


def expected_figures(html_text: str) -> list[dict]:
    """For every bqplot Figure reachable from a displayed view: how many marks it has and
    how many of them are visible with data (so must draw something)."""
    state, views = widget_state(html_text)
    seen, stack = set(), list(views)
    while stack:
        model_id = stack.pop()
        if model_id in seen or model_id not in state:
            continue
        seen.add(model_id)
        stack.extend(_MODEL_REF.findall(json.dumps(state[model_id]["state"])))
    figures = []
    for model_id in seen:
        model = state[model_id]["state"]
        if model.get("_model_module") != "bqplot" or model.get("_model_name") != "FigureModel":
            continue
        marks = [state[ref]["state"] for ref in _MODEL_REF.findall(json.dumps(model["marks"]))
                 if ref in state]
        with_data = [m for m in marks if m.get("visible", True)
                     and _data_size(m.get("y", m.get("x"))) > 0]
        figures.append({"marks": len(marks), "with_data": len(with_data),
                        "classes": model.get("_dom_classes", [])})
    return figures
