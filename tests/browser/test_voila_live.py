"""The Voila app's live toggle in Chromium (issue 13): the flow dashboard (notebook 01) on a
cache filled from the fake exchange, the fake reachable; a click on "live" starts live mode in
the kernel and the header's "as of HH:MM:SS UTC (n s ago)" line appears, then moves on with the
next tick (every 15 s). A screenshot goes to test-artifacts/voila-live.png."""
from __future__ import annotations

import re
import shutil
import sys

import pytest

from _btcflow_dom import PANELS_DRAWN_JS, save_screenshot

from btcflow_nb.testing.servers import ServerProcess, free_port

pytestmark = pytest.mark.browser

PANEL_SELECTORS = [f".btcflow-flow-dashboard .btcflow-panel-{name}"
                   for name in ("price", "premium", "oi", "funding")]
LOAD_TIMEOUT_MS = 180_000
AS_OF = re.compile(r"as of \d\d:\d\d:\d\d UTC \(\d+ s ago\)")
STATUS_JS = ("() => { const el = document.querySelector('.btcflow-flow-dashboard "
             ".btcflow-live-status'); return el ? el.textContent : ''; }")


@pytest.fixture(scope="module")
def page(jupyter_env, notebook_workdir, short_fake, filled_cache, open_page,
         tmp_path_factory):
    tmp = tmp_path_factory.mktemp("voila-live")
    shutil.copytree(filled_cache, tmp / "cache")
    env = dict(jupyter_env, **short_fake.env(tmp / "config"))
    env.update(BTCFLOW_NB_SOURCE="cache", BTCFLOW_NB_CACHE_DIR=str(tmp / "cache"))
    port = free_port()
    server = ServerProcess(
        "voila-live",
        [sys.executable, "-m", "voila", "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}",
         "--Voila.port_retries=0", "01_flow_dashboard.ipynb"],
        env, notebook_workdir, port, None, tmp / "voila.log")
    try:
        pg = open_page()
        pg.goto(server.url + "/", timeout=LOAD_TIMEOUT_MS)
        pg.wait_for_selector(".btcflow-flow-dashboard", timeout=LOAD_TIMEOUT_MS)
        pg.wait_for_function(PANELS_DRAWN_JS, arg=PANEL_SELECTORS, timeout=LOAD_TIMEOUT_MS)
        yield pg
        save_screenshot(pg, "voila-live")
        pg.context.close()
    except Exception:
        print(server.log())
        raise
    finally:
        server.stop()


def test_the_toggle_starts_live_mode_and_the_as_of_line_moves(page):
    toggle = page.locator(".btcflow-flow-dashboard .btcflow-live-toggle")
    assert toggle.is_visible()
    assert not AS_OF.search(page.evaluate(STATUS_JS))
    toggle.click()
    page.wait_for_function(f"() => /{AS_OF.pattern}/.test(({STATUS_JS})())", timeout=60_000)
    first = AS_OF.search(page.evaluate(STATUS_JS)).group(0)
    assert "failed" not in page.evaluate(STATUS_JS)
    # the next tick (15 s later) writes a later time
    page.wait_for_function(
        f"(first) => {{ const m = ({STATUS_JS})().match(/{AS_OF.pattern}/);"
        " return m && m[0].slice(6, 14) !== first.slice(6, 14); }", arg=first, timeout=60_000)
    second = AS_OF.search(page.evaluate(STATUS_JS)).group(0)
    assert second[6:14] != first[6:14], (first, second)
    # the info panel says it too
    assert AS_OF.search(page.locator(".btcflow-flow-dashboard .btcflow-info").inner_text())
    toggle.click()
    page.wait_for_function(f"() => ({STATUS_JS})().includes('live: off')", timeout=30_000)
