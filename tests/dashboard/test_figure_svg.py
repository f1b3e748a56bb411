"""figure_svg: the static SVG of bqplot figures drawn from the data the marks hold."""
from __future__ import annotations

import re

import bqplot as bq
import numpy as np

from btcflow_nb.dashboard.figure_svg import (css_px, figure_svg, figures_svg, line_path,
                                             nice_ticks, scale_domains)

T = np.array(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"],
             dtype="datetime64[ns]")


def _fig(marks, title="t"):
    return bq.Figure(marks=marks, title=title,
                     axes=[bq.Axis(scale=marks[0].scales["x"]),
                           bq.Axis(scale=marks[0].scales["y"], label="y",
                                   side="left")],
                     fig_margin={"top": 30, "bottom": 30, "left": 60, "right": 20})


def _paths(svg, cls="line"):
    return re.findall(rf"<path class='{cls}' d='([^']*)'", svg)


def test_line_path_one_point_per_finite_value_and_nan_breaks_the_line():
    d = line_path(np.array([0.0, 1, 2, 3, 4]), np.array([5.0, np.nan, 7, 8, np.nan]))
    assert d == "M0.0,5.0M2.0,7.0L3.0,8.0"
    assert line_path(np.array([0.0]), np.array([np.nan])) == ""


def test_lines_drawn_from_the_marks_data_with_gaps():
    xs, ys = bq.DateScale(), bq.LinearScale()
    line = bq.Lines(x=T, y=[1.0, 2.0, np.nan, 4.0, 5.0], scales={"x": xs, "y": ys},
                    colors=["#d9730d"])
    svg = figure_svg(_fig([line]), width=480, height=130)
    (d,) = _paths(svg)
    assert d.count("M") == 2 and d.count("L") == 2          # 4 finite points, 1 gap
    assert "stroke='#d9730d'" in svg
    # domain [Jan 1, Jan 5] -> [0, plot width 400]; y [1, 5] -> [plot height 70, 0]
    assert d.startswith("M0.0,70.0") and d.endswith("L400.0,0.0")
    assert "2024-01-01" in svg and "2024-01-05" in svg


def test_two_dimensional_lines_one_path_per_row_with_their_colours():
    xs, ys = bq.DateScale(), bq.LinearScale()
    lines = bq.Lines(x=T, y=np.array([[1.0, 2, 3, 4, 5], [5.0, 4, 3, 2, 1]]),
                     scales={"x": xs, "y": ys}, colors=["red", "blue"])
    svg = figure_svg(_fig([lines]))
    assert len(_paths(svg)) == 2
    assert "stroke='red'" in svg and "stroke='blue'" in svg


def test_bars_one_rect_per_finite_value_in_the_sign_colours():
    xs, ys = bq.DateScale(), bq.LinearScale()
    y = np.array([0.5, -0.2, np.nan, 0.1, -0.4])
    bars = bq.Bars(x=T, y=y, color=(y >= 0).astype(float), padding=0.1,
                   scales={"x": xs, "y": ys,
                           "color": bq.ColorScale(colors=["#d62728", "#2ca02c"], min=0, max=1)})
    svg = figure_svg(_fig([bars]), width=480, height=130)
    rects = re.findall(r"<rect class='bar'[^>]*fill='([^']*)'", svg)
    assert rects == ["#2ca02c", "#d62728", "#2ca02c", "#d62728"]
    # the y domain holds the base 0: a positive bar ends at the zero line
    assert scale_domains([_fig([bars])])[ys.model_id] == (-0.4, 0.5)


def test_hidden_and_transparent_marks_are_not_drawn():
    xs, ys = bq.DateScale(), bq.LinearScale()
    hidden = bq.Lines(x=T, y=[1.0] * 5, scales={"x": xs, "y": ys}, visible=False)
    catcher = bq.Bars(x=T, y=[1.0] * 5, scales={"x": xs, "y": ys}, opacities=[0.0])
    svg = figure_svg(_fig([hidden, catcher]))
    assert "class='line'" not in svg and "class='bar'" not in svg


def test_scatter_markers_and_scale_min_max_win_over_the_data():
    xs, ys = bq.DateScale(min=T[0].astype("datetime64[ms]").item(),
                          max=T[2].astype("datetime64[ms]").item()), bq.LinearScale(min=0.0, max=10.0)
    dots = bq.Scatter(x=T, y=[1.0, 2, 3, 4, np.nan], scales={"x": xs, "y": ys},
                      marker="triangle-up", colors=["#2ca02c"], default_size=40)
    fig = _fig([dots])
    lo, hi = scale_domains([fig])[xs.model_id]
    assert (lo, hi) == (float(T[0].astype(np.int64)), float(T[2].astype(np.int64)))
    assert scale_domains([fig])[ys.model_id] == (0.0, 10.0)
    assert len(re.findall(r"class='dot'", figure_svg(fig))) == 4


def test_a_shared_x_scale_gets_one_domain_over_all_figures():
    xs = bq.DateScale()
    a = bq.Lines(x=T[:2], y=[1.0, 2.0], scales={"x": xs, "y": bq.LinearScale()})
    b = bq.Lines(x=T[3:], y=[1.0, 2.0], scales={"x": xs, "y": bq.LinearScale()})
    first, second = figures_svg([_fig([a]), _fig([b])], width=480)
    assert _paths(first)[0].startswith("M0.0,") and _paths(second)[0].endswith(",0.0")
    assert float(_paths(second)[0].split("L")[-1].split(",")[0]) == 400.0


def test_log_scale_maps_log10():
    xs, ys = bq.DateScale(), bq.LogScale()
    line = bq.Lines(x=T[:3], y=[10.0, 100.0, 1000.0], scales={"x": xs, "y": ys})
    (d,) = _paths(figure_svg(_fig([line]), width=480, height=130))
    assert [float(p.split(",")[1]) for p in re.split("[ML]", d)[1:]] == [70.0, 35.0, 0.0]


def test_title_and_labels_are_escaped():
    xs, ys = bq.DateScale(), bq.LinearScale()
    line = bq.Lines(x=T, y=[1.0] * 5, scales={"x": xs, "y": ys})
    svg = figure_svg(_fig([line], title="<b>spot & perp</b>"))
    assert "&lt;b&gt;spot &amp; perp&lt;/b&gt;" in svg and "<b>" not in svg


def test_css_px_and_nice_ticks():
    assert css_px("240px", 1) == 240 and css_px("100%", 7) == 7 and css_px(None, 7) == 7
    assert css_px("clamp(180px, 13vw, 340px)", 0, viewport_px=1400) == 182
    assert css_px("clamp(180px, 13vw, 340px)", 0, viewport_px=1000) == 180
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(1.0, 1.0) == []
