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


def test_voila_javascript_and_stylesheets_wait_for_the_first_paint(voila_server, open_page):
    """Nothing in the page blocks the first paint: the lab stylesheets load as media="print"
    (switched to "all" once loaded), voila-style.js is only preloaded in the head, and it and
    voila.js are started by the template's loader after the first contentful paint -- then
    run in order, with the lab stylesheets applied, and the dashboard still works."""
    page = open_page()
    page.goto(voila_server.url + "/", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector(".btcflow-flow-dashboard .btcflow-panel-price path.line",
                           timeout=LOAD_TIMEOUT_MS)
    timing = page.evaluate("""() => {
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      const resources = performance.getEntriesByType('resource');
      const started = name => resources.filter(r => r.name.split('?')[0].endsWith(name))
          .map(r => r.startTime);
      const scripts = [...document.scripts].map(s => s.src.split('?')[0])
          .filter(s => /voila(-style)?\\.js$/.test(s));
      return {fcp: fcp ? fcp.startTime : null,
              blocking: resources.filter(r => r.renderBlockingStatus === 'blocking' &&
                  (!fcp || r.startTime < fcp.startTime)).map(r => r.name),
              voilaJs: started('/voila/static/voila.js'),
              headScripts: [...document.head.querySelectorAll('script[src]')]
                  .map(s => s.src).filter(s => /voila(-style)?\\.js/.test(s)),
              scripts: scripts.map(s => s.replace(/^.*\\//, '')),
              labSheets: [...document.querySelectorAll('link[data-btcflow-css]')].map(
                  l => [l.href.split('?')[0].replace(/^.*\\//, ''), l.media, !!l.sheet]),
              background: getComputedStyle(document.body).getPropertyValue(
                  '--jp-layout-color0').trim()};
    }""")
    assert timing["blocking"] == []     # (Voila's labextensions, requested later, may be)
    assert timing["headScripts"] == []
    assert timing["fcp"] is not None
    assert timing["voilaJs"] and min(timing["voilaJs"]) >= timing["fcp"]
    assert timing["scripts"] == ["voila-style.js", "voila.js"]      # in this order
    assert sorted(timing["labSheets"]) == [["index.css", "all", True],
                                           ["theme-light.css", "all", True]]
    assert timing["background"] == "white"                           # the theme applied
    page.wait_for_selector(".btcflow-first-paint", state="hidden", timeout=30_000)
    assert page.errors == []


def test_the_spinner_waits_half_a_second_where_there_is_no_first_paint(voila_server,
                                                                        open_page):
    """Voila's spinner fades in after 0.5 s (it would otherwise flash before a first paint);
    without a first paint it still shows."""
    page = open_page()
    page.route(re.compile(r".*\.js(\?.*)?$"), lambda route: route.abort())
    page.goto(voila_server.url + "/", timeout=LOAD_TIMEOUT_MS, wait_until="domcontentloaded")
    page.wait_for_selector(".btcflow-first-paint svg path.line", state="visible",
                           timeout=LOAD_TIMEOUT_MS)
    page.evaluate("() => document.querySelector('.btcflow-first-paint').remove()")
    page.wait_for_function("() => getComputedStyle(document.getElementById('loading'))"
                           ".opacity === '1'", timeout=5_000)
    assert page.locator("#loading").is_visible()
    assert page.evaluate("() => getComputedStyle(document.getElementById('loading'))"
                         ".animationDelay") == "0.5s"


def test_a_page_without_a_first_paint_still_starts_voila(voila_server, open_page):
    """A bad ?source= gives a page with no figures, so no first paint and nothing contentful
    to paint before Voila's widgets: the loader's fallback starts Voila's JavaScript anyway
    (after 1 s), and the page says what is wrong."""
    page = open_page()
    page.goto(voila_server.url + "/?source=nonsense", timeout=LOAD_TIMEOUT_MS)
    error = page.locator(".btcflow-app-error")
    error.wait_for(state="visible", timeout=LOAD_TIMEOUT_MS)
    assert "not a data source" in error.inner_text()
    assert page.locator(".btcflow-first-paint").count() == 0
    assert page.errors == []
