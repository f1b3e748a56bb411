"""The flow dashboard served by Voila (as `make dashboard` does), driven in Chromium.

One Voila server and one page for the module: each test reads the chart, moves one control
and waits (bounded) for the kernel's update to reach the SVG.
"""
from __future__ import annotations

import pytest

from _btcflow_dom import (PANEL_STATS_JS, PANELS_DRAWN_JS, numeric_ticks, save_screenshot,
                          vertical_axis)

pytestmark = pytest.mark.browser

PANELS = ["price", "premium", "oi", "funding"]
PANEL_SELECTORS = [f".btcflow-flow-dashboard .btcflow-panel-{name}" for name in PANELS]
UPDATE_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def dashboard(voila_server, open_page):
    page = open_page()
    page.goto(voila_server.url + "/", timeout=120_000)
    page.wait_for_selector(".btcflow-flow-dashboard", timeout=120_000)
    page.wait_for_function(PANELS_DRAWN_JS, arg=PANEL_SELECTORS, timeout=120_000)
    yield page
    save_screenshot(page, "voila-flow-dashboard-final")


def panel(page, name: str) -> dict:
    return page.evaluate(PANEL_STATS_JS, f".btcflow-flow-dashboard .btcflow-panel-{name}")


def test_all_four_panels_render_their_marks(dashboard):
    for name in PANELS:
        stats = panel(dashboard, name)
        assert stats is not None, f"panel {name} missing"
        assert stats["marks"] >= 1 and max(stats["shapes"]) > 0, (name, stats["shapes"])
        assert dashboard.locator(f".btcflow-panel-{name}").first.is_visible()
    assert _bar_count(dashboard) > 400  # one bar per weekly bar of 8 years
    # Voila's own page template links Font Awesome from a CDN (voila/templates/lab/index.html.j2);
    # those requests were aborted and the dashboard rendered without them. Nothing else may leave.
    unexpected = [url for url in dashboard.offsite if "/@fortawesome/fontawesome-free@" not in url]
    assert unexpected == [], f"requests left 127.0.0.1: {unexpected}"
    assert dashboard.errors == []
    save_screenshot(dashboard, "voila-flow-dashboard")


def _drag_lookback_handle(page, dx: float) -> None:
    """Drag the slider's handle by dx pixels with the mouse (the value is sent on release)."""
    handle = page.locator(".btcflow-ctl-lookback .noUi-handle").first
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()


def test_lookback_slider_changes_the_oi_zscore_line(dashboard):
    before = panel(dashboard, "oi")
    # the OI z line is the OI panel's third mark: above the hover catcher (issue 14) and the
    # low-coverage band (issue 11)
    z_line_before = before["lines"][2]
    assert any(len(d) > 10 for d in z_line_before)
    entry = dashboard.locator(".btcflow-ctl-lookback-entry input")   # the typed entry
    old_value = int(entry.input_value())
    _drag_lookback_handle(dashboard, 30)
    dashboard.wait_for_function(
        "([sel, old]) => parseInt(document.querySelector(sel).value) !== old",
        arg=[".btcflow-ctl-lookback-entry input", old_value], timeout=UPDATE_TIMEOUT_MS)
    new_value = int(entry.input_value())
    assert new_value > old_value
    dashboard.wait_for_function(
        "([sel, before]) => { const f = document.querySelector(sel);"
        " const d = [...f.querySelectorAll('svg.svg-figure > g > g > g:nth-child(3) path.line')]"
        ".map(p => p.getAttribute('d') || ''); return JSON.stringify(d) !== JSON.stringify(before); }",
        arg=[".btcflow-flow-dashboard .btcflow-panel-oi", z_line_before], timeout=UPDATE_TIMEOUT_MS)
    after = panel(dashboard, "oi")
    assert int(entry.input_value()) == new_value
    assert after["lines"][2] != z_line_before
    assert after["marks"] == before["marks"]  # updated in place, not rebuilt
    save_screenshot(dashboard, "voila-lookback-changed")


def _funding_axis(page) -> dict:
    return vertical_axis(panel(page, "funding"))


def test_apr_toggle_changes_funding_values_and_axis_label(dashboard):
    before = _funding_axis(dashboard)
    assert "8h" in before["label"] and "APR" not in before["label"], before["label"]
    span_before = max(abs(v) for v in numeric_ticks(before))
    dashboard.locator(".btcflow-ctl-apr").click()
    dashboard.wait_for_function(
        "(sel) => { const t = [...document.querySelectorAll(sel + ' text.axislabel')]"
        ".map(e => e.textContent).join(' '); return t.includes('APR'); }",
        arg=".btcflow-flow-dashboard .btcflow-panel-funding", timeout=UPDATE_TIMEOUT_MS)
    # the ticks follow the new values: % per 8h x 3 x 365 = % APR
    dashboard.wait_for_function(
        "([sel, span]) => { const ax = [...document.querySelectorAll(sel + ' svg.svg-background g.axis')];"
        " const vals = ax.flatMap(a => [...a.querySelectorAll('g.tick text')].map(t => Math.abs(parseFloat("
        "t.textContent.replace(/,/g, '').replace('\u2212', '-'))))).filter(v => isFinite(v) && v < 1900);"
        " return vals.length > 0 && Math.max(...vals) > 100 * span; }",
        arg=[".btcflow-flow-dashboard .btcflow-panel-funding", span_before],
        timeout=UPDATE_TIMEOUT_MS)
    after = _funding_axis(dashboard)
    assert "APR" in after["label"]
    span_after = max(abs(v) for v in numeric_ticks(after))
    assert 300 < span_after / span_before < 3000  # 1095x, up to the axis' tick rounding
    save_screenshot(dashboard, "voila-apr-on")
    dashboard.locator(".btcflow-ctl-apr").click()
    dashboard.wait_for_function(
        "(sel) => [...document.querySelectorAll(sel + ' text.axislabel')]"
        ".some(e => e.textContent.includes('8h'))",
        arg=".btcflow-flow-dashboard .btcflow-panel-funding", timeout=UPDATE_TIMEOUT_MS)


#: The premium panel's sign bars: its second mark, above the hover catcher (issue 14).
PREMIUM_BARS = ".btcflow-flow-dashboard .btcflow-panel-premium svg.svg-figure > g > g > g:nth-child(2)"


def _bar_count(page) -> int:
    return page.locator(PREMIUM_BARS + " rect.bar").count()


def test_timeframe_changes_the_number_of_bars(dashboard):
    select = dashboard.locator(".btcflow-ctl-timeframe select")
    start_tf = select.input_value()
    assert start_tf == "1W"      # weekly by default on 8 years of data (issue 14)
    weekly = _bar_count(dashboard)
    select.select_option("1D")
    dashboard.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel + ' rect.bar').length !== n",
        arg=[PREMIUM_BARS, weekly], timeout=UPDATE_TIMEOUT_MS)
    daily = _bar_count(dashboard)
    # ~7 daily bars per weekly bar; the 2.9k daily bars outnumber the panel's pixel columns,
    # so one bar per column and sign is drawn (decimate.bar_indices): 2-7x the 418 weekly ones
    assert 2 * weekly < daily <= 7.5 * weekly, (daily, weekly)
    save_screenshot(dashboard, "voila-timeframe-1D")
    select.select_option("1W")
    dashboard.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel + ' rect.bar').length === n",
        arg=[PREMIUM_BARS, weekly], timeout=UPDATE_TIMEOUT_MS)


def test_make_dashboard_serves_the_app_with_the_shared_voila_options():
    """`make dashboard` runs btcflow_nb.dashboard.app on notebooks/app.ipynb: the same
    voila_command as the fixture above (loopback only, idle kernels culled)."""
    from pathlib import Path

    from btcflow_nb.dashboard.app import VOILA_ARGS, voila_command

    repo = Path(__file__).resolve().parents[2]
    makefile = (repo / "Makefile").read_text()
    recipe = makefile.split("\ndashboard:", 1)[1].split("\n\n", 1)[0]
    command = next(line.strip() for line in recipe.splitlines() if "python" in line)
    assert command.split()[1:] == ["-m", "btcflow_nb.dashboard.app", "notebooks/app.ipynb"]
    assert (repo / "notebooks" / "app.ipynb").is_file()
    full = voila_command("notebooks/app.ipynb")
    assert "--Voila.ip=127.0.0.1" in full and "--no-browser" in full
    assert any("cull_idle_timeout" in a for a in VOILA_ARGS)
