"""The Voila app (notebook 01) on each of `bf.load`'s three outcomes, in Chromium (issue 11).

One Voila server per source, its kernels inheriting the environment `source_env` builds (see
tests/conftest.py): **live** (``$BTCFLOW_NB_SOURCE=live``, every venue at the fake exchange, an
empty cache), **cache** (a cache filled from the fake, no network, ``"auto"``), **demo** (neither).
The page must print the matching ``bf.load_summary`` line, the dashboard's freshness line must
name the source, the "synthetic demo data" badge must show on the demo only, and all four panels
must draw. A screenshot per source goes to test-artifacts/voila-source-<source>.png.
"""
from __future__ import annotations

import sys

import pytest

from _btcflow_dom import PANEL_STATS_JS, PANELS_DRAWN_JS, save_screenshot

from btcflow_nb.testing.servers import ServerProcess, free_port

pytestmark = pytest.mark.browser

SOURCES = ("live", "cache", "demo")
PANELS = ["price", "premium", "oi", "funding"]
PANEL_SELECTORS = [f".btcflow-flow-dashboard .btcflow-panel-{name}" for name in PANELS]
#: What the printed ``bf.load_summary`` line starts with, and what else it says.
SUMMARY = {"live": ("live: fetched ", "$BTCFLOW_NB_API_BASE"),
           "cache": ("cache: fetched ", "no network: using the cache from"),
           "demo": ("demo: SYNTHETIC DEMO DATA", "no network and an empty cache")}
LOAD_TIMEOUT_MS = 240_000   # the live kernel fetches the fake's whole history first


@pytest.fixture(scope="module", params=SOURCES)
def app(request, jupyter_env, notebook_workdir, source_env, short_fake, open_page,
        tmp_path_factory):
    """(source, page, the venues the fake served, all the fake's venues): notebook 01 in Voila
    on one source."""
    source = request.param
    tmp = tmp_path_factory.mktemp(f"voila-{source}")
    env = dict(jupyter_env, **source_env(source, tmp))
    port = free_port()
    server = ServerProcess(
        f"voila-{source}",
        [sys.executable, "-m", "voila", "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}",
         "--Voila.port_retries=0", "01_flow_dashboard.ipynb"],
        env, notebook_workdir, port, None, tmp / "voila.log")
    short_fake.clear_log()
    try:
        page = open_page()
        page.goto(server.url + "/", timeout=LOAD_TIMEOUT_MS)
        page.wait_for_selector(".btcflow-flow-dashboard", timeout=LOAD_TIMEOUT_MS)
        page.wait_for_function(PANELS_DRAWN_JS, arg=PANEL_SELECTORS, timeout=LOAD_TIMEOUT_MS)
        yield (source, page, {r.exchange_id for r in short_fake.log()},
               set(short_fake.venues))
        # Voila scrolls inside its own container (a full-page shot is one viewport): show the
        # printed load line and the dashboard under it
        page.get_by_text(SUMMARY[source][0]).first.scroll_into_view_if_needed()
        page.evaluate("() => { const el = [...document.querySelectorAll('pre, div')].find("
                      "e => e.children.length === 0 && /^(live|cache|demo): /.test(e.textContent));"
                      " if (el) el.scrollIntoView({block: 'start'}); }")
        save_screenshot(page, f"voila-source-{source}")
        page.context.close()
    except Exception:
        print(server.log())
        raise
    finally:
        server.stop()


def test_the_printed_load_line_names_the_source(app):
    source, page, *_ = app
    start, says = SUMMARY[source]
    lines = [line for line in page.locator("body").inner_text().splitlines()
             if line.startswith(start)]
    assert len(lines) == 1, page.locator("body").inner_text()[:3000]
    assert says in lines[0], lines[0]
    assert "127.0.0.1" not in lines[0] and "/tmp" not in lines[0]


def test_the_dashboard_says_which_data_it_draws(app):
    source, page, *_ = app
    freshness = page.locator(".btcflow-flow-dashboard .btcflow-freshness").first.inner_text()
    assert freshness.startswith(f"source: {source}"), freshness
    badge = page.locator(".btcflow-flow-dashboard .btcflow-synthetic-badge").first
    dashboard = page.locator(".btcflow-flow-dashboard").first.inner_text().lower()
    if source == "demo":
        assert badge.is_visible() and "synthetic demo data" in badge.inner_text()
        assert "synthetic demo data" in freshness
    else:   # real (fake-exchange) data: nothing the dashboard shows calls it synthetic (the
        # notebook's markdown explains the demo, so the page as a whole may name it)
        assert not badge.is_visible()
        assert "synthetic" not in dashboard, dashboard[:3000]


def test_all_four_panels_draw(app):
    source, page, served, venues = app
    for name in PANELS:
        stats = page.evaluate(PANEL_STATS_JS, f".btcflow-flow-dashboard .btcflow-panel-{name}")
        assert stats is not None, f"panel {name} missing"
        assert stats["marks"] >= 1 and max(stats["shapes"]) > 0, (name, stats["shapes"])
    # the premium bars: the panel's second mark, above the hover catcher (issue 14)
    bars = page.locator(".btcflow-flow-dashboard .btcflow-panel-premium svg.svg-figure"
                        " > g > g > g:nth-child(2) rect.bar").count()
    # one premium bar per bar: the fake's ~45 days (daily: too short for weekly bars), or the
    # demo's 8 years (weekly by default, issue 14)
    assert (bars > 400) if source == "demo" else (30 <= bars <= 60), bars
    if source == "live":   # the kernel's own fetch reached the fake for every venue
        assert served == venues
    else:
        assert served == set(), "an offline app reached the fake exchange"
    unexpected = [url for url in page.offsite if "/@fortawesome/fontawesome-free@" not in url]
    assert unexpected == [], f"requests left 127.0.0.1: {unexpected}"
    assert page.errors == []
