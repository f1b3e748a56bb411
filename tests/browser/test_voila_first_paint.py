"""The app's server-rendered first paint (Voila template ``btcflow``): the chart is in the page
HTML before any JavaScript, and hidden once the interactive figures have drawn.

The app is served as ``make dashboard`` serves it (``voila_command``: the preheated pool, the
``btcflow`` template). One page loads with every JavaScript request aborted (Voila's ~3 MB of
labextensions never run): the first paint must still show the real chart -- the price panel's
spot and perp lines and the premium panel's sign-coloured bars -- and no spinner over it.
A second page loads normally: the first paint is hidden once bqplot has drawn.
"""
from __future__ import annotations

import re

import pytest

from _btcflow_dom import save_screenshot

pytestmark = pytest.mark.browser

LOAD_TIMEOUT_MS = 180_000


def _first_paint_stats(page) -> dict:
    return page.evaluate("""() => {
      const fp = document.querySelector('.btcflow-first-paint');
      if (!fp) return null;
      const box = fp.getBoundingClientRect();
      const panel = n => fp.querySelector('.btcflow-first-paint-' + n);
      const lines = [...panel('price').querySelectorAll('path.line')]
          .map(p => ({stroke: p.getAttribute('stroke'), points: (p.getAttribute('d').match(/[ML]/g) || []).length}));
      const bars = [...panel('premium').querySelectorAll('rect.bar')].map(r => r.getAttribute('fill'));
      const cells = document.getElementById('rendered_cells');
      const loading = document.getElementById('loading');
      return {visible: box.width > 0 && box.height > 0, top: box.top, lines, bars,
              insideCells: cells ? cells.contains(fp) : null,
              spinnerShown: loading ? loading.getBoundingClientRect().height > 0 : false,
              panels: fp.querySelectorAll('svg.btcflow-first-paint-figure').length,
              note: fp.querySelector('.btcflow-first-paint-note').textContent};
    }""")


def test_first_paint_shows_the_chart_before_any_javascript(voila_server, open_page):
    page = open_page()
    blocked = []

    def no_js(route):
        blocked.append(route.request.url)
        route.abort()

    page.route(re.compile(r".*\.js(\?.*)?$"), no_js)
    page.goto(voila_server.url + "/", timeout=LOAD_TIMEOUT_MS, wait_until="domcontentloaded")
    page.wait_for_selector(".btcflow-first-paint svg path.line", state="visible",
                           timeout=LOAD_TIMEOUT_MS)
    stats = _first_paint_stats(page)
    save_screenshot(page, "voila-first-paint-without-js")
    assert blocked, "no JavaScript was requested: the test would not show a page without it"
    assert page.locator(".bqplot").count() == 0          # no widget was rendered
    assert stats["visible"] and not stats["insideCells"] and stats["top"] < 200
    assert not stats["spinnerShown"]
    assert stats["panels"] == 4
    assert "loading" in stats["note"]
    strokes = {line["stroke"] for line in stats["lines"]}
    assert {"#d9730d", "#3b82c4"} <= strokes              # spot and perp basket lines
    assert max(line["points"] for line in stats["lines"]) > 100
    assert set(stats["bars"]) == {"#2ca02c", "#d62728"} and len(stats["bars"]) > 100
    # Voila's third-party (CDN) stylesheets do not block the first paint: they load as
    # media="print" (switched to "all" once loaded; here they were aborted: never loaded)
    cdn_media = page.evaluate("""() => [...document.querySelectorAll(
        'link[rel=stylesheet][href^="https://"]')].map(l => l.media)""")
    assert cdn_media and set(cdn_media) == {"print"}


def test_first_paint_is_hidden_once_the_interactive_chart_is_drawn(voila_server, open_page):
    page = open_page()
    page.goto(voila_server.url + "/", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector(".btcflow-first-paint", state="attached", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector(".btcflow-flow-dashboard .btcflow-panel-price path.line",
                           timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector(".btcflow-first-paint", state="hidden", timeout=30_000)
    assert page.locator(".btcflow-first-paint").count() == 1      # drawn once, as HTML
    assert page.locator(".btcflow-flow-dashboard").first.is_visible()
    assert page.errors == []
    save_screenshot(page, "voila-first-paint-replaced")


@pytest.mark.parametrize("theme, background, text", [
    ("light", "rgb(255, 255, 255)", "rgb(51, 51, 51)"),
    ("dark", "rgb(17, 17, 17)", "rgb(221, 221, 221)")])
def test_first_paint_reads_on_the_light_and_dark_themes(voila_server, open_page, theme,
                                                        background, text):
    page = open_page()
    page.route(re.compile(r".*\.js(\?.*)?$"), lambda route: route.abort())
    page.goto(f"{voila_server.url}/?theme={theme}", timeout=LOAD_TIMEOUT_MS,
              wait_until="domcontentloaded")
    page.wait_for_selector(".btcflow-first-paint svg path.line", state="visible",
                           timeout=LOAD_TIMEOUT_MS)
    colours = page.evaluate("""() => {
      const fp = document.querySelector('.btcflow-first-paint');
      const title = fp.querySelector('svg.btcflow-first-paint-figure > text');
      return [getComputedStyle(fp).backgroundColor, getComputedStyle(title).fill];
    }""")
    assert colours == [background, text]
    save_screenshot(page, f"voila-first-paint-{theme}")
