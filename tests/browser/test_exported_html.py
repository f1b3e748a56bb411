"""Exported notebooks (`btcflow-nb render`, self-contained) opened from disk with the network
cut off: every bqplot chart the notebook displays is drawn with all its marks.

The expected figures come from the widget state stored in the page itself: every Figure
reachable from a displayed widget, its number of marks, and how many of those are visible
with data. The browser must draw the same: one ``<g>`` per mark, and SVG shapes in each mark
that has data.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from _btcflow_dom import (ALL_FIGURES_JS, X_TICKS_JS, expected_figures, save_screenshot,
                          wheel_zoom_in)

from btcflow_nb.testing.servers import PRIVATE_ENV_VARS

pytestmark = pytest.mark.browser

NOTEBOOK_STEMS = sorted(p.stem for p in
                        (Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RENDER_TIMEOUT_MS = 60_000


def test_there_are_notebooks_to_export():
    assert NOTEBOOK_STEMS, "no notebooks/NN_*.ipynb found"


@pytest.mark.parametrize("stem", NOTEBOOK_STEMS)
def test_exported_notebook_draws_every_chart_offline(stem, exported_notebooks, page):
    html_path = exported_notebooks[stem]
    html_text = html_path.read_text(encoding="utf-8")
    expected = expected_figures(html_text)
    page.goto(html_path.as_uri())
    page.wait_for_function(
        "(n) => document.querySelectorAll('div.bqplot.figure').length >= n"
        " && [...document.querySelectorAll('div.bqplot.figure')].every("
        "f => f.querySelector('svg.svg-figure > g > g'))",
        arg=len(expected), timeout=RENDER_TIMEOUT_MS)
    # marks draw asynchronously after the figure's skeleton: wait until every figure with
    # data has shapes, then compare exactly
    wanted = sum(f["with_data"] for f in expected)
    page.wait_for_function(
        "([js, wanted]) => { const stats = eval(js)();"
        " return stats.reduce((n, f) => n + f.shapes.filter(s => s > 0).length, 0) >= wanted; }",
        arg=[ALL_FIGURES_JS, wanted], timeout=RENDER_TIMEOUT_MS)
    drawn = page.evaluate(ALL_FIGURES_JS)
    save_screenshot(page, f"exported-{stem}")

    if "window.MathJax = {" in html_text:  # LaTeX in Markdown: typeset offline, as SVG
        page.wait_for_function("() => document.querySelectorAll('mjx-container svg').length > 0",
                               timeout=RENDER_TIMEOUT_MS)
        assert page.locator("mjx-container merror").count() == 0  # no TeX errors

    assert page.offsite == [], f"the page needed the network: {page.offsite}"
    assert page.errors == [], page.errors
    assert len(drawn) == len(expected), (len(drawn), len(expected))
    got = sorted((f["marks"], sum(1 for s in f["shapes"] if s > 0)) for f in drawn)
    want = sorted((f["marks"], f["with_data"]) for f in expected)
    assert got == want
    total_shapes = sum(sum(f["shapes"]) for f in drawn)
    assert total_shapes >= len(expected)  # not vacuous: something was drawn per figure


def test_linked_export_draws_offline_from_the_scripts_beside_it(widget_js_dir, jupyter_env,
                                                               tmp_path, page, monkeypatch):
    """--linked: small pages + widget-js/ beside them; still no network."""
    from btcflow_nb import render

    for var in PRIVATE_ENV_VARS:     # private Jupyter dirs, empty cache, no network
        monkeypatch.setenv(var, jupyter_env[var])
    for var in ("BTCFLOW_NB_CONFIG", "BTCFLOW_NB_SOURCE"):
        monkeypatch.delenv(var, raising=False)
    notebook = Path(__file__).resolve().parents[2] / "notebooks" / "02_premium_index.ipynb"
    [result] = render.render_notebooks([notebook], tmp_path / "site", self_contained=False,
                                       widget_js_dir=widget_js_dir)
    html_text = result.html_path.read_text(encoding="utf-8")
    assert '<script src="widget-js/bqplot.js"></script>' in html_text
    expected = expected_figures(html_text)
    assert expected
    page.goto(result.html_path.as_uri())
    page.wait_for_function(
        "([js, wanted]) => { const stats = eval(js)();"
        " return stats.reduce((n, f) => n + f.shapes.filter(s => s > 0).length, 0) >= wanted; }",
        arg=[ALL_FIGURES_JS, sum(f["with_data"] for f in expected)], timeout=RENDER_TIMEOUT_MS)
    drawn = page.evaluate(ALL_FIGURES_JS)
    assert sorted((f["marks"], sum(1 for s in f["shapes"] if s > 0)) for f in drawn) == \
        sorted((f["marks"], f["with_data"]) for f in expected)
    assert page.offsite == [] and page.errors == []


def test_exported_dashboard_says_it_is_static_and_shows_its_controls_disabled(
        exported_notebooks, page):
    """Issue 14: the exported page's controls looked live and did nothing."""
    html_path = exported_notebooks["01_flow_dashboard"]
    page.goto(html_path.as_uri())
    page.wait_for_selector(".btcflow-flow-dashboard .btcflow-ctl-lookback-entry input",
                           state="attached", timeout=RENDER_TIMEOUT_MS)
    notice = page.locator(".btcflow-static-notice")
    assert notice.is_visible() and "Static snapshot" in notice.inner_text()
    assert "kernel" in notice.inner_text()
    box = notice.bounding_box()
    first_cell = page.locator(".jp-Cell").first.bounding_box()
    assert box["y"] < 40 and box["y"] + box["height"] <= first_cell["y"] + 1   # on top
    page.wait_for_function("() => document.querySelectorAll("
                           "'.btcflow-flow-dashboard input:disabled').length > 5",
                           timeout=RENDER_TIMEOUT_MS)
    live = page.evaluate("""() => [...document.querySelectorAll(
        '.btcflow-flow-dashboard input, .btcflow-flow-dashboard select, '
        + '.btcflow-flow-dashboard button')]
        .filter(e => !e.closest('.bqplot') && !e.disabled).map(e => e.outerHTML.slice(0, 80))""")
    assert live == []                                      # every control is disabled
    assert page.evaluate("() => getComputedStyle(document.querySelector("
                         "'.btcflow-ctl-lookback')).pointerEvents") == "none"
    links = page.evaluate("() => [...document.querySelectorAll('a[href]')]"
                          ".map(a => a.getAttribute('href'))")
    local = [h for h in links if h.endswith((".html", ".ipynb")) and "://" not in h]
    assert local and all(h.endswith(".html") for h in local), local
    assert all(Path(html_path.parent / h).is_file() for h in local)   # the other pages exist
    font = page.evaluate("() => getComputedStyle(document.body).fontFamily")
    assert font.startswith("system-ui"), font
    save_screenshot(page, "exported-static-notice")



def test_exported_dashboard_pans_and_zooms_without_a_kernel(exported_notebooks, page):
    """The notice promises pan and zoom: the exported dashboard starts in bqplot's pan/zoom
    mode (crosshair mode zooms from Python, and a static page has no kernel)."""
    page.goto(exported_notebooks["01_flow_dashboard"].as_uri())
    sel = ".btcflow-flow-dashboard .btcflow-panel-oi"
    page.wait_for_selector(sel + " svg.svg-figure", timeout=RENDER_TIMEOUT_MS)
    assert page.locator(".btcflow-ctl-cursor button.mod-active").inner_text() == "pan/zoom"
    page.locator(sel).scroll_into_view_if_needed()
    page.wait_for_function("([js, sel]) => eval(js)(sel).length > 0", arg=[X_TICKS_JS, sel],
                           timeout=RENDER_TIMEOUT_MS)
    before = page.evaluate(X_TICKS_JS, sel)
    wheel_zoom_in(page, sel, before, RENDER_TIMEOUT_MS)
    save_screenshot(page, "exported-zoomed")

