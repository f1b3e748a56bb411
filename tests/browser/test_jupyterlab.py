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
