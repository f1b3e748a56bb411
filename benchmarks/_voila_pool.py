"""Part of section 3 — the app's start: Voila page open -> first chart with Voila's preheated
kernel pool, against a plain static HTML page served by the same server (the floor).

Voila runs the app notebook (:data:`APP_NOTEBOOK`, a parameter: ``$BTCFLOW_BENCH_APP_NOTEBOOK``
overrides it) started exactly as ``make dashboard`` starts it
(:func:`btcflow_nb.dashboard.app.voila_command`, whose options include the preheated pool
``--preheat_kernel=True --pool_size=1``): a kernel has already executed the notebook when the
page is requested, so the page opens on a computed dashboard; after each
use Voila refills the pool (``POOL_REFILL_S`` is left for that between opens). The static page
``static.html`` (one inline SVG path: a "chart" with no kernel) is served by the same server
through its ``/voila/files/`` handler. Static and Voila opens alternate so load drift hits
both alike.

Two kinds of visit, both reported:

- **first visit** (the target's method): each open in a fresh browser context, so an empty HTTP
  cache -- Voila's ~3 MB of page and widget-manager JavaScript is downloaded and compiled on
  every open, as for a new user;
- **returning visit** (INFO): one context kept for the whole run (opened once, untimed, before
  the first timed open), so the HTTP cache holds Voila's assets, as for a user coming back.

Per open:

- **first chart** (the target's ``t`` Voila) = ``page.goto`` until the real price chart is on
  screen, whichever comes first: the app's server-rendered first paint (template ``btcflow``:
  the price panel's static SVG, drawn by the kernel from the data the interactive figure holds,
  visible with a drawn ``path.line``) or the interactive bqplot price panel drawn;
- **interactive** (INFO) = ``page.goto`` until the bqplot price panel's SVG holds a drawn path
  (what "first chart" measured before the first paint existed); and until all four bqplot
  panels are drawn;
- ``t`` static = ``page.goto`` until its ``svg path`` is in the DOM.

Also the **Voila floor** (INFO): a second Voila, same options and pool, serving a notebook whose
only output is one ``HTML`` widget holding an SVG path (no bqplot, one widget model), opened
like the app: what any ipywidgets page on Voila costs before the app's own widgets, so the part
of the app's time that the app can cut is the difference.
Target: Voila with the pool <= 3x the static page (first visit).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from btcflow_nb.dashboard.app import VOILA_ARGS, voila_command
from btcflow_nb.testing.servers import ServerProcess, free_port, private_jupyter_env

from ._harness import ROOT, Row, Target, median

APP_NOTEBOOK = Path(os.environ.get("BTCFLOW_BENCH_APP_NOTEBOOK",
                                   ROOT / "notebooks" / "app.ipynb"))
#: Beyond the app's own options: let the same server serve the static page.
STATIC_ARGS = ("--VoilaConfiguration.file_allowlist=['.*\\.html']",)
REPEATS = {"tiny": 1, "full": 5}
POOL_REFILL_S = {"tiny": 15.0, "full": 25.0}
TARGET_RATIO = 3.0
LOAD_TIMEOUT_MS = 180_000
STATIC_HTML = ("<!doctype html><html><head><title>static</title></head><body>"
               "<svg width='400' height='200'><path class='line' d='M0,100 L100,40 L200,160 "
               "L300,80 L400,120' stroke='black' fill='none'/></svg></body></html>")
#: Epoch ms of the page's first contentful paint (Chromium's paint timing) when it came at or
#: after the mark ``name`` (null: no such mark needed), else null.
_PAINT_EPOCH_MS_JS = """
(name) => {
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  if (!paint) return null;
  if (name !== null) {
    const mark = performance.getEntriesByName(name, 'mark')[0];
    if (!mark || mark.startTime > paint.startTime) return null;
  }
  return performance.timeOrigin + paint.startTime;
}
"""

#: The first paint's price chart visible with a drawn line, or else the interactive one drawn
#: (the first paint hides itself once a bqplot figure has drawn).
_FIRST_CHART_JS = """
() => {
  const svg = document.querySelector('.btcflow-first-paint-price svg');
  if (svg && svg.getBoundingClientRect().height > 0 &&
      [...svg.querySelectorAll('path.line')].some(p => (p.getAttribute('d') || '').length > 10))
    return true;
  const f = document.querySelector('.btcflow-panel-price');
  return !!f && [...f.querySelectorAll('path.line')]
      .some(p => (p.getAttribute('d') || '').length > 10);
}
"""
_DRAWN_JS = """
(names) => names.every(n => {
  const f = document.querySelector('.btcflow-panel-' + n);
  return f && [...f.querySelectorAll('path.line, rect.bar, path.dot')]
      .some(s => s.tagName === 'rect' || (s.getAttribute('d') || '').length > 10);
})
"""


FLOOR_NOTEBOOK_SOURCE = ("import ipywidgets as W\n"
                         "W.HTML(\"<div class='btcflow-panel-price'><svg width='400' height='200'>"
                         "<path class='line' d='M0,100 L100,40 L200,160 L300,80 L400,120'/>"
                         "</svg></div>\")")


def _open(browser, url: str, wait, offsite, errors, context=None,
          panels=("price", "premium", "oi", "funding")) -> tuple:
    """Seconds from ``goto`` to the first chart, to the interactive price panel drawn and to
    ``panels`` drawn (the last two None for "static"), in a fresh context unless ``context``
    (a returning visit) is given."""
    from .bench_browser import new_page

    page = new_page(browser, offsite, errors) if context is None else context.new_page()
    try:
        t0, wall0 = time.perf_counter(), time.time()
        # "commit": the clock for the first chart runs while the page HTML still streams
        page.goto(url, timeout=LOAD_TIMEOUT_MS, wait_until="commit")
        if wait == "static":
            page.wait_for_selector("svg path", state="attached", timeout=LOAD_TIMEOUT_MS)
            return _painted_s(page, None, wall0, time.perf_counter() - t0), None, None
        page.wait_for_function(_FIRST_CHART_JS, timeout=LOAD_TIMEOUT_MS, polling=10)
        # the paint showing the first paint (the poll above may run late: the page's main
        # thread then runs Voila's JavaScript); without a first paint: when the poll saw one
        first = _painted_s(page, "btcflow-first-paint-inserted", wall0,
                           time.perf_counter() - t0)
        page.wait_for_function(_DRAWN_JS, arg=["price"], timeout=LOAD_TIMEOUT_MS)
        interactive = time.perf_counter() - t0
        page.wait_for_function(_DRAWN_JS, arg=list(panels), timeout=LOAD_TIMEOUT_MS)
        return first, interactive, time.perf_counter() - t0
    finally:
        page.close() if context is not None else page.context.close()


def _painted_s(page, mark: str | None, wall0: float, polled_s: float) -> float:
    """Seconds from ``wall0`` (epoch s, at ``goto``) to the page's first contentful paint if
    the chart was in the page by then (``mark``: the performance mark the page set when it
    inserted the chart; None: the chart is in the HTML itself), else ``polled_s`` (when a poll
    saw the chart: later, as a poll waits for the page's main thread)."""
    try:
        page.wait_for_function("() => performance.getEntriesByName("
                               "'first-contentful-paint').length > 0", timeout=5_000)
    except Exception:   # noqa: BLE001 - no paint entry: keep the poll's time
        return polled_s
    painted = page.evaluate(_PAINT_EPOCH_MS_JS, mark)
    return polled_s if painted is None else min(polled_s, painted / 1e3 - wall0)


def _start_app(workdir: Path, notebook: Path = APP_NOTEBOOK) -> ServerProcess:
    """``notebook`` served as ``make dashboard`` serves the app, from a copy in ``workdir``."""
    import shutil

    nbdir = workdir / "notebooks"
    nbdir.mkdir(parents=True)
    shutil.copy2(notebook, nbdir / notebook.name)
    port = free_port()
    return ServerProcess("voila", voila_command(notebook.name, port, extra=STATIC_ARGS),
                         private_jupyter_env(workdir), nbdir, port, None,
                         workdir / "voila.log", timeout_s=120)


def _floor_notebook(path: Path) -> Path:
    import json

    cell = {"cell_type": "code", "execution_count": None, "id": "floor", "metadata": {},
            "outputs": [], "source": FLOOR_NOTEBOOK_SOURCE}
    path.write_text(json.dumps({"cells": [cell], "nbformat": 4, "nbformat_minor": 5,
                                "metadata": {"kernelspec": {"name": "python3",
                                                            "display_name": "Python 3",
                                                            "language": "python"}}}))
    return path


def _returning_context(browser, offsite: list):
    from .bench_browser import loopback_only

    return loopback_only(browser.new_context(viewport={"width": 1400, "height": 1000}), offsite)


def measure_app_start(browser, size: str, offsite: list, errors: list):
    """Rows and details of the pool-vs-static page opens (first and returning visits) and of
    the Voila floor."""
    if not APP_NOTEBOOK.exists():
        raise RuntimeError(f"app notebook {APP_NOTEBOOK} does not exist "
                           "(set $BTCFLOW_BENCH_APP_NOTEBOOK)")
    t = {k: [] for k in ("static", "first", "interactive", "panels", "floor", "static_back",
                         "first_back", "interactive_back", "panels_back")}
    with tempfile.TemporaryDirectory(prefix="btcflow-bench-pool-") as tmp:
        server = _start_app(Path(tmp) / "app")
        floor = None
        try:
            floor = _start_app(Path(tmp) / "floor", _floor_notebook(Path(tmp) / "floor.ipynb"))
            (Path(tmp) / "app" / "notebooks" / "static.html").write_text(STATIC_HTML)
            static_url = server.url + "/voila/files/static.html"
            _open(browser, static_url, "static", offsite, errors)   # warm-up of the handler
            back = _returning_context(browser, offsite)
            time.sleep(POOL_REFILL_S[size])
            _open(browser, server.url + "/", "voila", offsite, errors, back)   # first visit
            for _ in range(REPEATS[size]):
                time.sleep(POOL_REFILL_S[size])   # the pools (re)fill: a kernel runs the app
                t["static"].append(_open(browser, static_url, "static", offsite, errors)[0])
                f, i, p = _open(browser, server.url + "/", "voila", offsite, errors)
                t["first"].append(f)
                t["interactive"].append(i)
                t["panels"].append(p)
                t["floor"].append(_open(browser, floor.url + "/", "voila", offsite, errors,
                                        panels=("price",))[1])
                time.sleep(POOL_REFILL_S[size])
                t["static_back"].append(_open(browser, static_url, "static", offsite, errors,
                                              back)[0])
                f, i, p = _open(browser, server.url + "/", "voila", offsite, errors, back)
                t["first_back"].append(f)
                t["interactive_back"].append(i)
                t["panels_back"].append(p)
            back.close()
        except Exception as exc:
            log = server.log()
            raise RuntimeError(f"Voila pool benchmark failed ({type(exc).__name__}: {exc}); "
                               f"voila log tail:\n{log}") from exc
        finally:
            server.stop()
            if floor is not None:
                floor.stop()
    m = {k: median(v) for k, v in t.items()}
    ref, ref_back = m["static"], m["static_back"]
    rows = [
        Row("Voila (preheated pool) page open -> first chart (first paint or interactive)",
            m["first"], "s", reference="static page, same server", reference_value=ref,
            note=f"{APP_NOTEBOOK.name}, {len(t['first'])} opens, first visits (fresh context); "
                 "the server-rendered price chart visible"),
        Row("Voila (preheated pool) open / static page open", m["first"] / ref, "x",
            target=Target("<=", TARGET_RATIO, f"<= {TARGET_RATIO:g}x static page")),
        Row("Voila (preheated pool) page open -> interactive: bqplot price figure drawn",
            m["interactive"], "s", reference="static page, same server", reference_value=ref),
        Row("Voila (preheated pool) page open -> four panels drawn (interactive)",
            m["panels"], "s"),
        Row("Voila floor (one HTML widget, same options) page open -> drawn", m["floor"], "s",
            reference="static page, same server", reference_value=ref,
            note="what Voila + ipywidgets cost before any app widget"),
        Row("Voila (preheated pool) returning visit -> first chart", m["first_back"], "s",
            reference="static page, returning visit", reference_value=ref_back,
            note="one context for the run: HTTP cache warm"),
        Row("Voila (preheated pool) returning visit -> interactive price figure drawn",
            m["interactive_back"], "s"),
        Row("Voila (preheated pool) returning visit -> four panels drawn (interactive)",
            m["panels_back"], "s"),
    ]
    details = {"notebook": str(APP_NOTEBOOK), "voila_args": [*VOILA_ARGS, *STATIC_ARGS],
               "static_s": t["static"], "first_chart_s": t["first"],
               "interactive_price_s": t["interactive"],
               "four_panels_s": t["panels"], "voila_floor_s": t["floor"],
               "returning_static_s": t["static_back"], "returning_first_chart_s":
               t["first_back"], "returning_interactive_price_s": t["interactive_back"],
               "returning_four_panels_s": t["panels_back"]}
    return rows, details
