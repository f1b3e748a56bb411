"""Issue 14 without a browser: the hover crosshair and data window, the log axis' ticks, the
theme palette's contrast, the typed entries beside the sliders, the reset of the zoom."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import btcflow_nb as bf
from btcflow_nb.dashboard import FlowDashboard
from btcflow_nb.dashboard._flow_figures import log_ticks
from btcflow_nb.dashboard._theme import (DARK_BACKGROUND, LIGHT_BACKGROUND, MIN_CONTRAST,
                                         PALETTE, contrast_ratio)


@pytest.fixture
def dash(demo):
    return FlowDashboard(demo, timeframe="1W", debounce_ms=0)


def _hover(dash, row: int) -> None:
    """What bqplot's front end sends when the mouse enters catcher bar ``row``."""
    catcher = dash.crosshair.catchers["oi"]
    catcher._handle_custom_msgs(None, {"event": "hover", "point": {"index": row, "x": 0,
                                                                    "y": 1}})


def test_every_panel_has_a_catcher_under_its_marks_and_a_crosshair_on_top(dash):
    m = dash.metrics
    for name, fig in dash.figures.items():
        assert fig.marks[0] is dash.crosshair.catchers[name]
        assert fig.marks[-1] is dash.crosshair.lines[name]
        catcher = fig.marks[0]
        assert len(catcher.x) == len(m)     # one catcher bar per drawn bar
        assert not dash.crosshair.lines[name].visible


def test_hover_draws_the_crosshair_in_every_panel_and_fills_the_data_window(dash):
    m = bf.flow_metrics(dash.md, "1W")
    row = int(np.flatnonzero(m["bullish"].to_numpy(dtype=bool))[0])
    _hover(dash, row)
    t = m.index[row].tz_convert(None).to_datetime64()
    for line in dash.crosshair.lines.values():
        assert line.visible and list(np.asarray(line.x)) == [t, t]
    text = dash.data_window.value
    r = m.iloc[row]
    assert f"hovered {m.index[row]:%Y-%m-%d}" in text
    assert f"${r['spot']:,.2f}" in text and f"${r['perp_basket']:,.2f}" in text
    assert f"{r['premium_pct']:+.4f} %" in text and f"{r['oi_z']:+.2f}" in text
    assert f"{r['funding']:+.4f} %/8h" in text
    # the active signal with the conditions bf.explain found true
    explained = bf.explain(m, m.index[row])
    held = explained[(explained["signal"] == "bullish") & explained["passed"]
                     & ~explained["condition"].str.startswith("=> ")]["condition"]
    assert "<b>bullish</b>" in text and len(held) > 0
    for condition in held:
        assert condition.replace(">", "&gt;").replace("<", "&lt;") in text
    # a new drawing (another control) forgets the hovered bar: back to the latest bar
    dash.controls["apr"].value = True
    assert "latest " in dash.data_window.value
    assert not any(line.visible for line in dash.crosshair.lines.values())


def test_a_hover_outside_the_drawn_bars_is_an_error_shown_in_the_status(dash):
    _hover(dash, 10_000)
    assert "hovered bar 10000" in dash.status.value


def test_pan_zoom_mode_brings_the_panzoom_back_and_hides_the_crosshair(dash):
    _hover(dash, 3)
    dash.crosshair.mode.value = "pan/zoom"
    assert all(f.interaction is not None for f in dash.figures.values())
    assert not any(line.visible for line in dash.crosshair.lines.values())
    dash.crosshair.mode.value = "crosshair"
    assert all(f.interaction is None for f in dash.figures.values())


def test_log_ticks_are_the_1_2_5_sequence_over_the_data():
    assert log_ticks(3_200, 69_000) == [2_000, 5_000, 10_000, 20_000, 50_000, 100_000]
    assert log_ticks(5_000, 10_000) == [5_000, 10_000]
    assert log_ticks(0, 10) == [] and log_ticks(np.nan, 10) == []


def test_every_series_colour_reads_on_the_light_and_the_dark_theme():
    for name, color in PALETTE.items():
        assert contrast_ratio(color, LIGHT_BACKGROUND) >= MIN_CONTRAST, name
        assert contrast_ratio(color, DARK_BACKGROUND) >= MIN_CONTRAST, name
    assert contrast_ratio("#000000", DARK_BACKGROUND) < 1.2   # the old black spot line
    assert round(contrast_ratio("#000000", "#ffffff"), 1) == 21.0


def test_every_series_mark_uses_a_palette_colour(dash):
    allowed = set(PALETTE.values())
    for key in ("spot", "perp_basket", "oi_z", "funding", "oi_hot", "oi_build"):
        assert set(dash.marks[key].colors) <= allowed, key


def test_typed_entry_follows_its_slider_and_sets_it(dash):
    slider = dash.controls["lookback"]
    entry = dash._entries["lookback"].entry
    assert entry.value == slider.value and entry.max == slider.max
    entry.value = 30
    assert slider.value == 30 and dash.params()["lookback"] == 30
    slider.value = 40
    assert entry.value == 40


def test_titles_say_synthetic_on_demo_data(dash):
    for fig in dash.figures.values():
        assert "synthetic demo data" in fig.title


def test_reset_zoom_sends_the_full_range_even_when_python_never_saw_the_zoom(dash, monkeypatch):
    """The front end's zoom may not have reached Python (min/max still None): resetting must
    still send None to the browser, else nothing changes there."""
    sent = []
    monkeypatch.setattr(dash.x_scale, "send_state", lambda key=None: sent.append(key))
    dash.reset_zoom()
    assert sent and set(sent[-1]) == {"min", "max"}
    sent.clear()
    dash.controls["timeframe"].value = "1D"     # a new timeframe shows its whole range
    assert sent and set(sent[-1]) == {"min", "max"}
    assert dash.x_scale.min is None and dash.x_scale.max is None


def test_a_zoom_in_the_browser_reaches_python_and_the_visible_range_counts(dash):
    """bqplot's PanZoom sends the new min/max as JavaScript Date.toJSON strings ("...Z");
    the shared date scale must accept them, so the alerts table follows the zoom."""
    full = bf.flow_metrics(dash.md, "1W")
    dash.x_scale.set_state({"min": "2021-01-01T00:00:00.000Z", "max": "2021-12-31T00:00:00.000Z"})
    assert dash.x_scale.min == pd.Timestamp("2021-01-01").to_pydatetime()
    window = full.loc["2021-01-01":"2021-12-31", [c for c in full.columns
                                                  if c.endswith("_onset")]]
    n = int(window.drop(columns=[c for c in window.columns if c.startswith("open")],
                        errors="ignore").to_numpy().sum())
    assert f"{n} signal onsets in the visible range" in dash.alerts.value
    dash.reset_zoom()
    assert dash.x_scale.min is None


def test_default_timeframe_is_weekly_when_the_data_spans_two_years(demo):
    from btcflow_nb.marketdata import MarketData
    assert FlowDashboard(demo, debounce_ms=0).controls["timeframe"].value == "1W"
    short = MarketData.from_frames(spot=demo.spot.loc["2024-01-01":"2024-12-31"],
                                   perp=demo.perp.loc["2024-01-01":"2024-12-31"])
    assert FlowDashboard(short, debounce_ms=0).controls["timeframe"].value == "1D"


def _attribute_names(html_text: str) -> set[str]:
    from html.parser import HTMLParser

    names: set[str] = set()

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            names.update(name for name, _ in attrs)

    Collect().feed(html_text)
    return names


def test_the_html_the_dashboards_write_keeps_every_style_declaration(dash):
    """The font stack goes into single-quoted style attributes: a quoted family name there
    ended the attribute, so the legend's size, colour and line height (and the rest) were
    dropped and stray attributes ("segoe", "ui'") appeared."""
    from btcflow_nb.dashboard._theme import legend_html
    from btcflow_nb.render._static_page import NOTICE_HTML

    _hover(dash, 10)
    pieces = {"legend": legend_html([("spot", "#d9730d", "line"), ("onset", "#2ca02c", "marker")]),
              "data window": dash.data_window.value, "static notice": NOTICE_HTML}
    for name, piece in pieces.items():
        assert _attribute_names(piece) <= {"class", "style", "role", "data-hovered"}, name
    assert "font-size:11.5px" in pieces["legend"]


def test_a_legend_style_that_does_not_exist_names_the_valid_ones():
    from btcflow_nb.dashboard._theme import legend_html

    with pytest.raises(ValueError, match=r"style='dot' for 'onset' is not one of .*'marker'"):
        legend_html([("onset", "#2ca02c", "dot")])
