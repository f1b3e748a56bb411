"""Section 3 — browser interaction: slider move to repaint in Voila, through Playwright.

Set-up: Voila serves a temporary copy of ``notebooks/01_flow_dashboard.ipynb`` on 127.0.0.1
(ephemeral port, private Jupyter/IPython directories); Debian's Chromium (``/usr/bin/chromium``,
the flags of COMMON.md) opens it through Playwright; every request to anything but 127.0.0.1 is
aborted.

One measurement: the page arms a ``MutationObserver`` on the OI panel (``.btcflow-panel-oi``)
watching the ``d`` attribute of its SVG paths, and a capturing ``keydown`` listener. Playwright
presses ArrowRight (then ArrowLeft, alternating) on the focused handle of the z-lookback slider
(``.btcflow-ctl-lookback``). With ``performance.now()`` in the page:

- ``t0`` — the keydown reaches the page;
- ``t1`` — the first change of a path's ``d`` in the OI panel (the kernel has recomputed and
  bqplot has redrawn the marks): **slider to repaint**;
- ``t2`` — the second ``requestAnimationFrame`` after ``t1`` (the frame with the new path has been
  painted).

The latency is the widget round trip (browser -> kernel -> browser), the recompute and bqplot's
redraw. The dashboard answers a change at once and only coalesces the changes that follow it
within ``debounce_ms`` (read from ``FlowDashboard``'s signature: the notebook uses the default);
key presses here are ``SETTLE_S`` apart, longer than that window, so none is held. The issue
sets no numeric target for it; the kernel-side part has its own targets in the ``dashboard``
section. Also reported: the time from opening the page to all four panels drawn.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from btcflow_nb.testing.servers import (ServerProcess, free_port, is_loopback_url,
                                        private_jupyter_env)

from ._harness import ROOT, Row, Unavailable, median, percentile

NAME = "browser"
TITLE = "Browser interaction in Voila (slider key -> OI panel repainted), Playwright + Chromium"
REQUIRES = ("notebooks/01_flow_dashboard.ipynb", "btcflow_nb/dashboard/__init__.py")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
NOTEBOOK = "01_flow_dashboard.ipynb"
REPEATS = {"tiny": 2, "full": 30}
SETTLE_S = 0.4          # quiet time after each repaint before the next key press
STEP_TIMEOUT_MS = 30_000
LOAD_TIMEOUT_MS = 180_000
PANELS = ("price", "premium", "oi", "funding")

_PANELS_DRAWN_JS = """
(names) => names.every(n => {
  const f = document.querySelector('.btcflow-panel-' + n);
  return f && [...f.querySelectorAll('path.line, rect.bar, path.dot')]
      .some(s => s.tagName === 'rect' || (s.getAttribute('d') || '').length > 10);
})
"""

_ARM_JS = """
() => {
  const panel = document.querySelector('.btcflow-panel-oi');
  const b = window.__btcflowBench = window.__btcflowBench || {};
  b.t0 = null; b.t1 = null; b.t2 = null; b.armed = true;
  if (!b.installed) {
    b.installed = true;
    document.addEventListener('keydown', () => {
      if (b.armed && b.t0 === null) b.t0 = performance.now();
    }, true);
    b.observer = new MutationObserver(() => {
      if (b.t0 !== null && b.t1 === null) {
        b.t1 = performance.now();
        requestAnimationFrame(() => requestAnimationFrame(() => { b.t2 = performance.now(); }));
      }
    });
    b.observer.observe(panel, {subtree: true, attributes: true, attributeFilter: ['d']});
  }
  return true;
}
"""

_RESULT_JS = "() => { const b = window.__btcflowBench; b.armed = false; " \
             "return {t0: b.t0, t1: b.t1, t2: b.t2}; }"


def _start_voila(workdir: Path) -> ServerProcess:
    """Voila on 127.0.0.1 serving a copy of the notebook, with private Jupyter dirs."""
    nbdir = workdir / "notebooks"
    nbdir.mkdir()
    shutil.copy2(ROOT / "notebooks" / NOTEBOOK, nbdir / NOTEBOOK)
    env = private_jupyter_env(workdir)   # private empty cache, no network: bf.load() -> demo
    port = free_port()
    return ServerProcess(
        "voila", [sys.executable, "-m", "voila", "--no-browser", "--Voila.ip=127.0.0.1",
                  f"--port={port}", "--Voila.port_retries=0", NOTEBOOK],
        env, nbdir, port, None, workdir / "voila.log")


def _default_debounce_ms() -> float:
    """The debounce the notebook's ``FlowDashboard(md)`` runs with (its default)."""
    import inspect

    from btcflow_nb.dashboard import FlowDashboard

    return float(inspect.signature(FlowDashboard).parameters["debounce_ms"].default)


def _measure(page, repeats: int) -> tuple[list[float], list[float], list[int]]:
    """Alternate ArrowRight/ArrowLeft on the lookback slider; (t1-t0, t2-t0) in ms, values."""
    handle = page.locator(".btcflow-ctl-lookback .noUi-handle").first
    # the slider's value as its typed entry shows it (issue 14 replaced the readout)
    readout = page.locator(".btcflow-ctl-lookback-entry input").first
    handle.focus()
    repaint, frame, values = [], [], []
    for i in range(repeats):
        page.evaluate(_ARM_JS)
        handle.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        page.wait_for_function("() => { const b = window.__btcflowBench;"
                               " return b.t1 !== null && b.t2 !== null; }",
                               timeout=STEP_TIMEOUT_MS)
        r = page.evaluate(_RESULT_JS)
        if r["t0"] is None:
            raise RuntimeError("the key press never reached the page")
        repaint.append(r["t1"] - r["t0"])
        frame.append(r["t2"] - r["t0"])
        values.append(int(readout.input_value()))
        time.sleep(SETTLE_S)
    return repaint, frame, values


def run(size: str):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise Unavailable(f"playwright not importable ({exc})") from None
    if not os.access(CHROMIUM, os.X_OK):
        raise Unavailable(f"{CHROMIUM} not installed (make browser)")
    if not (ROOT / "notebooks" / NOTEBOOK).exists():
        raise Unavailable(f"notebooks/{NOTEBOOK} does not exist yet")
    repeats = REPEATS[size]
    offsite: list[str] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="btcflow-bench-voila-") as tmp:
        server = _start_voila(Path(tmp))
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
                try:
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()

                    def route(r):
                        if is_loopback_url(r.request.url):
                            r.continue_()
                        else:
                            offsite.append(r.request.url)
                            r.abort()

                    page.route("**/*", route)
                    page.on("pageerror", lambda e: errors.append(str(e)))
                    t_open = time.perf_counter()
                    page.goto(server.url + "/", timeout=LOAD_TIMEOUT_MS)
                    page.wait_for_function(_PANELS_DRAWN_JS, arg=list(PANELS),
                                           timeout=LOAD_TIMEOUT_MS)
                    load_s = time.perf_counter() - t_open
                    start_value = int(page.locator(".btcflow-ctl-lookback-entry input")
                                      .first.input_value())
                    # one untimed warm-up move (first-use JIT, caches), back to where we were
                    _measure(page, 2 if size == "full" else 1)
                    repaint, frame, values = _measure(page, repeats)
                finally:
                    browser.close()
        except Exception as exc:
            log = server.log()
            server.stop()
            raise RuntimeError(f"browser benchmark failed ({type(exc).__name__}: {exc}); "
                               f"voila log tail:\n{log}") from exc
        server.stop()
    debounce_ms = _default_debounce_ms()
    if len(set(values)) != 2 or max(values) - min(values) != 1:
        raise RuntimeError(f"slider values {values} did not alternate between two neighbours "
                           f"(started at {start_value}): the key presses did not move it")
    if SETTLE_S * 1e3 <= debounce_ms:
        raise RuntimeError(f"SETTLE_S={SETTLE_S} s is inside the {debounce_ms:.0f} ms debounce "
                           "window: key presses would be held and the latency would include it")
    rows = [
        Row("slider key -> OI path 'd' changed, median", median(repaint) / 1e3, "s",
            note=f"{repeats} moves: round trip + recompute + redraw"),
        Row("slider key -> OI path 'd' changed, p95", percentile(repaint, 95) / 1e3, "s"),
        Row("slider key -> next painted frame, median", median(frame) / 1e3, "s"),
        Row("Voila page open -> 4 panels drawn", load_s, "s", note="kernel start + notebook run"),
    ]
    details = {"debounce_ms": debounce_ms, "repaint_ms": repaint, "frame_ms": frame,
               "slider_values": values,
               "start_value": start_value, "page_load_s": load_s, "offsite_requests": offsite,
               "page_errors": errors}
    return rows, details
