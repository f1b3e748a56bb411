"""JupyterLab: open notebooks/01_flow_dashboard.ipynb, Run All, and the dashboard draws.

The server works on a temporary copy of notebooks/ (autosave never touches the repo).
"""
from __future__ import annotations

import pytest

from _btcflow_dom import PANELS_DRAWN_JS, save_screenshot

pytestmark = pytest.mark.browser

PANEL_SELECTORS = [f".btcflow-flow-dashboard .btcflow-panel-{name}"
                   for name in ("price", "premium", "oi", "funding")]


def _run_all_cells(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def test_run_all_renders_the_flow_dashboard(lab_server, page):
    page.goto(f"{lab_server.url}/lab/tree/01_flow_dashboard.ipynb", timeout=120_000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    # Run All before the kernel connection is ready silently runs nothing: wait for the
    # status bar's "<kernel> | Idle", then focus the notebook.
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=120_000)
    page.wait_for_function("() => /\\| Idle/.test(document.querySelector('.jp-StatusBar-Widget')"
                           " ? document.body.innerText : '')", timeout=120_000)
    page.locator(".jp-NotebookPanel .jp-Cell").first.click()
    _run_all_cells(page)
    page.wait_for_selector(".jp-OutputArea .btcflow-flow-dashboard", timeout=180_000)
    page.wait_for_function(PANELS_DRAWN_JS, arg=PANEL_SELECTORS, timeout=180_000)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                          ", .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.all_inner_texts()
    page.locator(".btcflow-flow-dashboard").first.scroll_into_view_if_needed()
    save_screenshot(page, "jupyterlab-flow-dashboard")
    assert page.offsite == [], f"JupyterLab requested non-local URLs: {page.offsite}"


# JS: computed stroke of every drawn series line of the flow dashboard, the computed colour
# of the legend text, and the first opaque background behind the dashboard.
_COLOURS_JS = """
() => {
  const dash = document.querySelector('.jp-OutputArea .btcflow-flow-dashboard');
  let el = dash, bg = 'rgba(0, 0, 0, 0)';
  while (el && (bg === 'rgba(0, 0, 0, 0)' || bg === 'transparent')) {
    bg = getComputedStyle(el).backgroundColor; el = el.parentElement;
  }
  const lines = [...dash.querySelectorAll('svg.svg-figure path.line')]
    .filter(p => (p.getAttribute('d') || '').length > 40 && p.checkVisibility()
                 && parseFloat(getComputedStyle(p).opacity) > 0.5
                 && getComputedStyle(p).strokeOpacity !== '0')
    .map(p => getComputedStyle(p).stroke);
  const legend = getComputedStyle(dash.querySelector('.btcflow-legend')).color;
  return {bg, lines, legend};
}
"""


def _rgb(css: str) -> tuple[float, float, float]:
    import re
    r, g, b = (float(v) for v in re.findall(r"[\d.]+", css)[:3])
    return r, g, b


def _contrast(a: str, b: str) -> float:
    def lum(css):
        chans = [c / 255 for c in _rgb(css)]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in chans]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_series_and_legends_read_on_the_dark_theme(lab_server, page):
    """Issue 14: JupyterLab Dark drew the spot line black on a near-black page."""
    page.goto(f"{lab_server.url}/lab/tree/01_flow_dashboard.ipynb", timeout=120_000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=120_000)
    page.wait_for_function("() => /\\\\| Idle/.test(document.body.innerText)", timeout=120_000)
    page.locator(".jp-NotebookPanel .jp-Cell").first.click()
    _run_all_cells(page)
    page.wait_for_function(PANELS_DRAWN_JS, arg=PANEL_SELECTORS, timeout=180_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel", has_text="JupyterLab Dark").first.click()
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'",
                           timeout=60_000)
    page.wait_for_timeout(1500)
    colours = page.evaluate(_COLOURS_JS)
    assert sum(_rgb(colours["bg"])) < 3 * 80, colours["bg"]          # a dark background
    assert len(colours["lines"]) >= 4, colours                         # spot, perp, OI z, funding
    for stroke in colours["lines"]:
        assert _contrast(stroke, colours["bg"]) >= 3.0, (stroke, colours["bg"])
    assert _contrast(colours["legend"], colours["bg"]) >= 4.5, colours
    page.locator(".btcflow-flow-dashboard").first.scroll_into_view_if_needed()
    save_screenshot(page, "jupyterlab-dark-theme")
    # the info column: beside the charts when the dashboard itself is >= 1600 px wide (a
    # sidebar counts), below them otherwise; both looked at on the dark theme
    for width in (1920, 1280):
        page.set_viewport_size({"width": width, "height": 1100})
        page.wait_for_timeout(1500)
        layout = page.evaluate(_LAYOUT_JS)
        if layout["dash"] >= 1600:
            assert layout["info"]["left"] >= layout["price"]["right"] - 1, layout
        else:
            assert layout["info"]["top"] >= layout["funding"]["bottom"] - 1, layout
        page.locator(".btcflow-flow-dashboard .btcflow-panel-price").first \
            .scroll_into_view_if_needed()
        save_screenshot(page, f"jupyterlab-dark-{width}")


# JS: the flow dashboard's width and the boxes of its info panel, price and funding panels.
_LAYOUT_JS = """
() => { const d = document.querySelector('.jp-OutputArea .btcflow-flow-dashboard');
  const box = s => d.querySelector(s).getBoundingClientRect();
  return {dash: d.getBoundingClientRect().width, info: box('.btcflow-info'),
          price: box('.btcflow-panel-price'), funding: box('.btcflow-panel-funding')}; }
"""
