"""Part of section 3 — the app's start: Voila page open -> first chart with Voila's preheated
kernel pool, against a plain static HTML page served by the same server (the floor).

Voila runs the app notebook (:data:`APP_NOTEBOOK`, a parameter: ``$BTCFLOW_BENCH_APP_NOTEBOOK``
overrides it) started exactly as ``make dashboard`` starts it
(:func:`btcflow_nb.dashboard.app.voila_command`, whose options include the preheated pool
``--preheat_kernel=True --pool_size=1``): a kernel has already executed the notebook when the
page is requested, so the page opens on a computed dashboard; after each
use Voila refills the pool (``POOL_REFILL_S`` is left for that between opens). The static page
``static.html`` (one inline SVG path: a "chart" with no kernel) is served by the same server
through its ``/voila/files/`` handler. Each open uses a fresh browser context (no cache: a
first visit), static and Voila opens alternate so load drift hits both alike.

- ``t`` Voila = ``page.goto`` until the price panel's SVG holds a drawn path (first chart);
  also until all four panels are drawn (INFO);
- ``t`` static = ``page.goto`` until its ``svg path`` is in the DOM.
Target: Voila with the pool <= 3x the static page.
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

_DRAWN_JS = """
(names) => names.every(n => {
  const f = document.querySelector('.btcflow-panel-' + n);
  return f && [...f.querySelectorAll('path.line, rect.bar, path.dot')]
      .some(s => s.tagName === 'rect' || (s.getAttribute('d') || '').length > 10);
})
"""


def _open(browser, url: str, wait, offsite, errors) -> tuple[float, float | None]:
    from .bench_browser import new_page

    page = new_page(browser, offsite, errors)
    try:
        t0 = time.perf_counter()
        page.goto(url, timeout=LOAD_TIMEOUT_MS)
        if wait == "static":
            page.wait_for_selector("svg path", state="attached", timeout=LOAD_TIMEOUT_MS)
            return time.perf_counter() - t0, None
        page.wait_for_function(_DRAWN_JS, arg=["price"], timeout=LOAD_TIMEOUT_MS)
        first = time.perf_counter() - t0
        page.wait_for_function(_DRAWN_JS, arg=["price", "premium", "oi", "funding"],
                               timeout=LOAD_TIMEOUT_MS)
        return first, time.perf_counter() - t0
    finally:
        page.context.close()


def _start_app(workdir: Path) -> ServerProcess:
    """The app as ``make dashboard`` serves it, on a copy of the notebook in ``workdir``."""
    import shutil

    nbdir = workdir / "notebooks"
    nbdir.mkdir(parents=True)
    shutil.copy2(APP_NOTEBOOK, nbdir / APP_NOTEBOOK.name)
    port = free_port()
    return ServerProcess("voila", voila_command(APP_NOTEBOOK.name, port, extra=STATIC_ARGS),
                         private_jupyter_env(workdir), nbdir, port, None,
                         workdir / "voila.log", timeout_s=120)


def measure_app_start(browser, size: str, offsite: list, errors: list):
    """Rows and details of the pool-vs-static page opens."""
    if not APP_NOTEBOOK.exists():
        raise RuntimeError(f"app notebook {APP_NOTEBOOK} does not exist "
                           "(set $BTCFLOW_BENCH_APP_NOTEBOOK)")
    static, first, panels = [], [], []
    with tempfile.TemporaryDirectory(prefix="btcflow-bench-pool-") as tmp:
        server = _start_app(Path(tmp))
        try:
            (Path(tmp) / "notebooks" / "static.html").write_text(STATIC_HTML)
            static_url = server.url + "/voila/files/static.html"
            _open(browser, static_url, "static", offsite, errors)   # warm-up of the handler
            for _ in range(REPEATS[size]):
                time.sleep(POOL_REFILL_S[size])   # the pool (re)fills: a kernel runs the app
                static.append(_open(browser, static_url, "static", offsite, errors)[0])
                f, p = _open(browser, server.url + "/", "voila", offsite, errors)
                first.append(f)
                panels.append(p)
        except Exception as exc:
            log = server.log()
            server.stop()
            raise RuntimeError(f"Voila pool benchmark failed ({type(exc).__name__}: {exc}); "
                               f"voila log tail:\n{log}") from exc
        server.stop()
    ref = median(static)
    rows = [
        Row("Voila (preheated pool) page open -> first chart", median(first), "s",
            reference="static page, same server", reference_value=ref,
            note=f"{APP_NOTEBOOK.name}, {len(first)} opens"),
        Row("Voila (preheated pool) open / static page open", median(first) / ref, "x",
            target=Target("<=", TARGET_RATIO, f"<= {TARGET_RATIO:g}x static page")),
        Row("Voila (preheated pool) page open -> 4 panels drawn", median(panels), "s"),
    ]
    details = {"notebook": str(APP_NOTEBOOK), "voila_args": [*VOILA_ARGS, *STATIC_ARGS],
               "static_s": static, "first_chart_s": first, "four_panels_s": panels}
    return rows, details
