"""The term-structure panel of notebook 02, exported (`btcflow-nb render`) while the fake
exchange is reachable -- so ``bf.load()`` fetches the dated futures of the four venues with the
perps through ccxt -- and opened from disk with the network cut off: both of its figures are
drawn, every line mark with a path (one per venue), the readout names the venues."""
from __future__ import annotations

from pathlib import Path

import pytest

from _btcflow_dom import FIGURE_STATS_JS, save_screenshot

from btcflow_nb.testing.servers import PRIVATE_ENV_VARS

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02_premium_index.ipynb"
TITLES = ("annualised basis by days to expiry (%)", "constant-maturity basis (%)")
VENUES = ("binance_coinm", "bybit_inverse", "deribit", "okx")
TIMEOUT_MS = 60_000

#: JS: title -> stats of the bqplot figure with that title (or null)
BY_TITLE_JS = ("(title) => { const f = [...document.querySelectorAll('div.bqplot.figure')]"
               ".find(f => [...f.querySelectorAll('text.mainheading')]"
               ".some(t => t.textContent === title));"
               " return f ? (" + FIGURE_STATS_JS + ")(f) : null; }")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, jupyter_env):
    from btcflow_nb import render
    from btcflow_nb.testing.fake_exchange import FakeExchange, Truth

    work = tmp_path_factory.mktemp("term-structure")
    with FakeExchange(Truth.recent(60)) as fake, pytest.MonkeyPatch.context() as mp:
        for var in PRIVATE_ENV_VARS:
            mp.setenv(var, jupyter_env[var])
        for var in ("BTCFLOW_NB_CONFIG", "BTCFLOW_NB_SOURCE"):
            mp.delenv(var, raising=False)
        for var, value in fake.env(work / "fake").items():
            mp.setenv(var, value)
        [result] = render.render_notebooks([NOTEBOOK], work / "site", timeout=300)
        dated_asked = {r.exchange_id for r in fake.log()
                       if r.endpoint == "ohlcv" and "BTC-" in str(r.query)}
    return result.html_path, dated_asked


def test_exported_term_structure_panel_draws_its_marks_offline(exported, page):
    html_path, dated_asked = exported
    # the notebook's bf.load() asked the venues for their dated contracts' candles
    assert {"deribit", "okx"} <= dated_asked, dated_asked
    page.goto(html_path.as_uri())
    stats = {}
    for title in TITLES:
        page.wait_for_function(
            "([js, title]) => { const s = eval(js)(title);"
            " return s && s.lines.length && s.lines.every(ls => ls.some(d => d.length > 10)); }",
            arg=[BY_TITLE_JS, title], timeout=TIMEOUT_MS)
        stats[title] = page.evaluate(BY_TITLE_JS, title)
    save_screenshot(page, "term-structure-02")
    assert page.offsite == [], page.offsite
    assert page.errors == [], page.errors
    term, cm = stats[TITLES[0]], stats[TITLES[1]]
    # term structure: "at date" (dashed) and "now" lines, one path per venue, drawn
    assert term["marks"] == 2
    for paths in term["lines"]:
        assert sum(1 for d in paths if len(d) > 10) == len(VENUES), paths
    # constant maturity: one line per venue with a path, and the date cursor
    assert cm["marks"] == 2
    assert sum(1 for d in cm["lines"][0] if len(d) > 10) == len(VENUES)
    assert any(len(d) > 4 for d in cm["lines"][1])
    axes = [a["label"] for a in term["axes"]]
    assert "days to expiry" in axes and "% a year" in axes
    text = page.inner_text("body")
    assert "constant-maturity basis now" in text
    for venue in VENUES:
        assert f"{venue}:" in text
