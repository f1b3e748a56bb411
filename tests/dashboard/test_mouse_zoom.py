"""Wheel zoom and drag pan from Python (ipyevents) in the crosshair mode: the shared date
scale moves as the browser's mouse events say, hover keeps working, reset zoom undoes it."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from btcflow_nb.dashboard import FlowDashboard
from btcflow_nb.dashboard._mouse_zoom import MIN_BARS, ZOOM_PER_PIXEL, pan_range, zoom_range
from btcflow_nb.render.export import _drop_kernel_only_models

WIDTH = 1000.0     # the figure's bounding rect [px]


@pytest.fixture
def dash(demo):
    return FlowDashboard(demo, timeframe="1W", debounce_ms=0)


def _send(dash, panel: str, **event) -> None:
    """What ipyevents' front end sends for one DOM event over ``panel``'s figure."""
    keys, moves = dash.crosshair.mouse_zoom.events[panel]
    target = moves if event["type"] in ("mousemove", "mouseleave") else keys
    target._handle_mouse_msg(None, {"boundingRectWidth": WIDTH, **event}, None)


def _plot_fraction(dash, panel: str, x_px: float) -> float:
    fig, pad = dash.figures[panel], dash.crosshair.mouse_zoom._pad
    left = fig.fig_margin["left"] + pad
    return (x_px - left) / (WIDTH - left - fig.fig_margin["right"] - pad)


def _ns(value) -> float:
    return float(pd.Timestamp(value).as_unit("ns").value)


def test_zoom_and_pan_range_math():
    assert zoom_range(0.0, 100.0, 40.0, 0.5) == (20.0, 70.0)     # the anchor stays at 40
    assert zoom_range(0.0, 100.0, 40.0, 2.0) == (-40.0, 160.0)
    assert pan_range(0.0, 100.0, 50.0, 500.0) == (-10.0, 90.0)   # drag right: earlier dates
    with pytest.raises(ValueError, match="factor=0"):
        zoom_range(0.0, 100.0, 40.0, 0.0)


def test_wheel_zooms_about_the_date_under_the_mouse_and_reset_undoes_it(dash):
    t = dash.metrics.index.tz_convert(None)
    lo, hi = _ns(t[0]), _ns(t[-1])
    x_px = 600.0
    anchor = lo + _plot_fraction(dash, "oi", x_px) * (hi - lo)
    counts_before = dash.onset_line.value
    _send(dash, "oi", type="wheel", relativeX=x_px, deltaY=-300, deltaMode=0)
    new_lo, new_hi = _ns(dash.x_scale.min), _ns(dash.x_scale.max)
    factor = math.exp(ZOOM_PER_PIXEL * -300)
    assert new_hi - new_lo == pytest.approx((hi - lo) * factor, rel=1e-9)
    # the date under the mouse is where it was
    assert (anchor - new_lo) / (new_hi - new_lo) == pytest.approx((anchor - lo) / (hi - lo))
    # the visible-range counts followed, and the marks were decimated to it
    assert dash.onset_line.value != counts_before
    # hover still works in the same mode, with the zoom on
    dash.crosshair.catchers["price"]._handle_custom_msgs(
        None, {"event": "hover", "point": {"index": 50, "x": 0, "y": 1}})
    assert f"hovered {t[50]:%Y-%m-%d}" in dash.data_window.value
    assert dash.crosshair.mode.value == "crosshair"
    assert all(f.interaction is None for f in dash.figures.values())
    dash.reset_zoom()
    assert dash.x_scale.min is None and dash.x_scale.max is None
    assert dash.onset_line.value == counts_before


def test_drag_pans_by_the_mouse_travel(dash):
    _send(dash, "price", type="wheel", relativeX=500.0, deltaY=-500, deltaMode=0)
    lo, hi = _ns(dash.x_scale.min), _ns(dash.x_scale.max)
    fig, pad = dash.figures["price"], dash.crosshair.mouse_zoom._pad
    plot_px = WIDTH - fig.fig_margin["left"] - fig.fig_margin["right"] - 2 * pad
    _send(dash, "price", type="mousedown", relativeX=400.0, button=0, buttons=1)
    _send(dash, "price", type="mousemove", relativeX=300.0, buttons=1)   # 100 px left
    shift = 100.0 / plot_px * (hi - lo)
    assert _ns(dash.x_scale.min) == pytest.approx(lo + shift, abs=2e3)
    assert _ns(dash.x_scale.max) == pytest.approx(hi + shift, abs=2e3)
    _send(dash, "price", type="mouseup", relativeX=300.0, button=0, buttons=0)
    moved = dash.x_scale.min
    _send(dash, "price", type="mousemove", relativeX=100.0, buttons=0)   # no button: no pan
    assert dash.x_scale.min == moved


def test_zoom_stops_at_a_few_bars_and_is_off_in_panzoom_mode(dash):
    for _ in range(60):
        _send(dash, "funding", type="wheel", relativeX=500.0, deltaY=-1000, deltaMode=0)
    t = dash.metrics.index.tz_convert(None)
    bar = (_ns(t[-1]) - _ns(t[0])) / (len(t) - 1)
    span = _ns(dash.x_scale.max) - _ns(dash.x_scale.min)
    assert span == pytest.approx(MIN_BARS * bar, rel=1e-6)
    dash.reset_zoom()
    dash.crosshair.mode.value = "pan/zoom"      # bqplot's own PanZoom does it in the browser
    _send(dash, "funding", type="wheel", relativeX=500.0, deltaY=-300, deltaMode=0)
    assert dash.x_scale.min is None


def test_exported_pages_drop_the_event_relays():
    state = {"a": {"state": {"_model_module": "ipyevents"}},
             "b": {"state": {"_model_module": "bqplot"}}}
    nb = type("NB", (), {})()
    nb.metadata = {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": state}}}
    _drop_kernel_only_models(nb)
    assert list(state) == ["b"]


def test_a_mouse_event_tells_the_plot_width_and_the_marks_are_decimated_to_it(demo):
    """bqplot does not report its width; ipyevents' bounding rect does: the viewport takes
    the plot area's width (figure minus margins and padding) and re-decimates to it."""
    from btcflow_nb.dashboard._viewport import DEFAULT_WIDTH_PX

    dash = FlowDashboard(demo, timeframe="1D", debounce_ms=0)    # 2.9k bars: decimated
    vp = dash.viewport
    assert len(dash.crosshair.catchers["oi"].x) > WIDTH
    assert vp.width_px == DEFAULT_WIDTH_PX
    fig, pad = dash.figures["oi"], dash.crosshair.mouse_zoom._pad
    plot_px = WIDTH - fig.fig_margin["left"] - fig.fig_margin["right"] - 2 * pad
    # a plain move (no drag, no zoom) is enough
    _send(dash, "oi", type="mousemove", relativeX=300.0, buttons=0)
    assert vp.width_px == int(plot_px)
    assert dash.x_scale.min is None                      # nothing else moved
    catcher = dash.crosshair.catchers["oi"]
    assert len(catcher.x) <= vp.width_px + 2 < len(dash.metrics)   # one per real column
    drawn = catcher.x
    _send(dash, "oi", type="mousemove", relativeX=310.0, buttons=0)   # same width: kept
    assert catcher.x is drawn
