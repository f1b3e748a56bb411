"""Issue 16 in Chromium, on the Voila app: the tabs below the flow dashboard (open interest
by venue, funding spend, term structure) are empty at first paint and draw their marks when
selected -- a stacked bar per venue and bar, the total / z / constant-maturity lines."""
from __future__ import annotations

import pytest

from _btcflow_dom import PANELS_DRAWN_JS, save_screenshot

pytestmark = pytest.mark.browser

TABS = {
    "Open interest": [".btcflow-panel-oi-venues", ".btcflow-panel-oi-change",
                               ".btcflow-panel-oi-z"],
    "Funding spend": [".btcflow-panel-funding-spend"],
    "Term structure": [".btcflow-term-structure .bqplot.figure"],
}
# JS: the number of drawn bars and of non-empty line paths inside the elements of `sel`.
COUNT_MARKS_JS = """
(sel) => [...document.querySelectorAll(sel)].map(f => ({
  bars: f.querySelectorAll('svg.svg-figure rect.bar').length,
  lines: [...f.querySelectorAll('svg.svg-figure path.line')]
           .filter(p => (p.getAttribute('d') || '').length > 10).length}))
"""


@pytest.fixture(scope="module")
def app(voila_server, open_page):
    page = open_page()
    page.goto(voila_server.url + "/", timeout=120_000)
    page.wait_for_selector(".btcflow-flow-dashboard", timeout=120_000)
    page.wait_for_selector(".btcflow-more-views", timeout=120_000)
    yield page


def test_the_extra_tabs_render_their_marks(app):
    # first paint: no extra panel built yet
    assert app.locator(".btcflow-open-interest, .btcflow-funding-spend, "
                       ".btcflow-term-structure").count() == 0
    for title, selectors in TABS.items():
        app.locator(".btcflow-more-views .lm-TabBar-tab", has_text=title).first.click()
        app.wait_for_function(PANELS_DRAWN_JS, arg=selectors, timeout=120_000)
        counts = [c for sel in selectors for c in app.evaluate(COUNT_MARKS_JS, sel)]
        assert counts, title
        if title == "Term structure":
            assert all(c["lines"] >= 1 for c in counts), counts       # now / at date; CM
        elif title == "Funding spend":
            assert counts[0]["bars"] > 100 and counts[0]["lines"] >= 1, counts
        else:
            assert counts[0]["bars"] > 100 and counts[1]["bars"] > 100, counts   # stacks
            assert counts[2]["lines"] >= 1, counts                               # z line
        save_screenshot(app, "app-tab-" + title.split()[0].lower())
