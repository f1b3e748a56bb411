"""Section 3 — browser interaction: slider move to repaint in Voila, through Playwright.

Set-up: for each history size (:data:`CASES`: the demo's 2.9k daily bars, 2 and 8 years of
hourly bars of the synthetic market of ``bench_compute`` at the 1h timeframe) Voila serves a
generated notebook that builds ``FlowDashboard`` on that data, on 127.0.0.1 (ephemeral port,
private Jupyter/IPython directories, :func:`btcflow_nb.testing.servers.start_voila`); Debian's
Chromium (``/usr/bin/chromium``, the flags of COMMON.md) opens it through Playwright; every
request to anything but 127.0.0.1 is aborted. Each size's slider latency and page-open time is
also given as a ratio to the demo case's, measured in the same run. Bytes per control change:
the WebSocket frames the page receives from the kernel after the key press (comm messages with
the new mark data), summed per move. The app start (Voila's preheated kernel pool against a
static page on the same server) is measured by :mod:`benchmarks._voila_pool`.

One measurement: the page arms a ``MutationObserver`` on the OI panel (``.btcflow-panel-oi``)
watching the ``d`` attribute of its SVG paths, and a capturing ``keydown`` listener. Playwright
presses ArrowLeft (then ArrowRight, alternating) on the focused handle of the z-lookback slider
(``.btcflow-ctl-lookback``). With ``performance.now()`` in the page:

- ``t0`` — the keydown reaches the page;
- ``t1`` — the first change of a path's ``d`` in the OI panel (the kernel has recomputed and
  bqplot has redrawn the marks): **slider to repaint**;
- ``t2`` — the second ``requestAnimationFrame`` after ``t1`` (the frame with the new path has been
  painted).

The latency is the widget round trip (browser -> kernel -> browser), the recompute and bqplot's
redraw. The dashboard answers a change at once and only coalesces the changes that follow it
within ``debounce_ms`` (read from ``FlowDashboard``'s signature: the notebook uses the default);
key presses here are ``SETTLE_S`` apart, longer than that window, so none is held. Targets
(issue 15): at 70k hourly bars the median <= 150 ms and <= 1.5x the demo's; the page open at
70k <= 1.5x the demo's. Also reported: the time from opening the page to all four panels drawn,
and, from a Chromium performance trace of a few more presses (CDP ``Tracing``), the renderer
main thread's busy time per press and its ``Layerize`` part: the compositor walks every
painted SVG element of the page in every frame that paints, so this grows with the elements
drawn (hover catchers, bars, markers) and the frames a change takes, and it is less at the
mercy of a loaded machine than the latency.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from btcflow_nb.testing.servers import is_loopback_url, start_voila

from ._harness import ROOT, Row, Target, Unavailable, median, percentile

NAME = "browser"
TITLE = "Browser interaction in Voila (slider key -> OI panel repainted), Playwright + Chromium"
REQUIRES = ("notebooks/01_flow_dashboard.ipynb", "btcflow_nb/dashboard/__init__.py")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
#: (label, hourly bars of the synthetic market or None for the demo, timeframe) per size; the
#: first case is the reference of the ratios.
CASES = {
    # tiny: 10k hourly bars, more than the default 1-year z lookback (8,760 h): the OI path
    # the measurement watches is drawn
    "tiny": (("demo 2.9k daily", None, "1D"), ("10k hourly", 10_000, "1h")),
    "full": (("demo 2.9k daily", None, "1D"), ("17.5k hourly", 17_520, "1h"),
             ("70k hourly", 70_128, "1h")),
}
REPEATS = {"tiny": 2, "full": 30}
SETTLE_S = 0.4          # quiet time after each repaint before the next key press
STEP_TIMEOUT_MS = 30_000
LOAD_TIMEOUT_MS = 180_000
PANELS = ("price", "premium", "oi", "funding")
SLIDER_TARGET_RATIO, SLIDER_TARGET_S, OPEN_TARGET_RATIO = 1.5, 0.150, 1.5

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


def case_notebook(n_bars: int | None, timeframe: str) -> dict:
    """A two-cell notebook: the data (demo, or ``n_bars`` synthetic hourly bars) and the
    dashboard at ``timeframe`` with its default debounce (what a user gets)."""
    load = ("md = bf.load_demo()" if n_bars is None else
            "from benchmarks.bench_compute import synthetic_hourly_market\n"
            f"md = synthetic_hourly_market({int(n_bars)})")
    cells = [f"import btcflow_nb as bf\nfrom btcflow_nb.dashboard import FlowDashboard\n{load}",
             f"dash = FlowDashboard(md, timeframe={timeframe!r})\ndash"]
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": src,
                       "outputs": [], "execution_count": None} for i, src in enumerate(cells)]}


def _default_debounce_ms() -> float:
    """The debounce the notebook's ``FlowDashboard(md)`` runs with (its default)."""
    import inspect

    from btcflow_nb.dashboard import FlowDashboard

    return float(inspect.signature(FlowDashboard).parameters["debounce_ms"].default)


class _Frames:
    """Bytes of the WebSocket frames the page receives (kernel -> browser messages)."""

    def __init__(self, page):
        self.received = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._count))

    def _count(self, payload) -> None:
        self.received += len(payload.encode() if isinstance(payload, str) else payload)


def _measure(page, frames: _Frames, repeats: int):
    """Alternate ArrowLeft/ArrowRight on the lookback slider; (t1-t0, t2-t0) in ms, values,
    bytes received per move."""
    handle = page.locator(".btcflow-ctl-lookback .noUi-handle").first
    # the slider's value as its typed entry shows it (issue 14 replaced the readout)
    readout = page.locator(".btcflow-ctl-lookback-entry input").first
    handle.focus()
    repaint, frame, values, sizes = [], [], [], []
    for i in range(repeats):
        page.evaluate(_ARM_JS)
        before = frames.received
        # left first: at 1h the default lookback (8,760 bars) is the slider's maximum
        handle.press("ArrowLeft" if i % 2 == 0 else "ArrowRight")
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
        page.evaluate("() => 1")          # let Playwright deliver the frames that arrived
        sizes.append(frames.received - before)
    return repaint, frame, values, sizes


#: Chromium trace categories of the main-thread breakdown (tasks, layout, paint, layerize).
TRACE_CATEGORIES = "devtools.timeline,disabled-by-default-devtools.timeline"
TRACED_PRESSES = {"tiny": 2, "full": 6}


def _main_thread_ms(page, frames: _Frames, presses: int) -> dict:
    """Key presses as in :func:`_measure`, under a Chromium performance trace (CDP): per press,
    the renderer main thread's busy time in the ``SETTLE_S`` after the keydown (``RunTask``,
    all of it) and the part spent in ``Layerize`` (compositing every painted SVG element of
    the page, once per frame that paints). Medians over the presses [ms]. A separate run: the
    trace's overhead stays out of the latency figures."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Tracing.start", {"categories": TRACE_CATEGORIES, "transferMode": "ReturnAsStream"})
    try:
        _measure(page, frames, presses)
    finally:
        done: dict = {}
        cdp.on("Tracing.tracingComplete", lambda event: done.update(event))
        cdp.send("Tracing.end")
        for _ in range(600):
            if done:
                break
            page.wait_for_timeout(50)
    chunks = []
    while True:
        part = cdp.send("IO.read", {"handle": done["stream"]})
        chunks.append(part["data"])
        if part.get("eof"):
            break
    cdp.send("IO.close", {"handle": done["stream"]})
    events = json.loads("".join(chunks))
    events = events["traceEvents"] if isinstance(events, dict) else events
    main = {(e["pid"], e["tid"]) for e in events
            if e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"}
    spans = sorted((e["ts"], e["name"], e.get("dur", 0)) for e in events
                   if (e.get("pid"), e.get("tid")) in main and e.get("ph") == "X")
    keys = [e["ts"] for e in events if (e.get("pid"), e.get("tid")) in main
            and e.get("name") == "EventDispatch"
            and e.get("args", {}).get("data", {}).get("type") == "keydown"]
    busy, layerize = [], []
    for k in keys:
        inside = [(n, d) for t, n, d in spans if k <= t < k + SETTLE_S * 1e6]
        busy.append(sum(d for n, d in inside if n == "RunTask") / 1e3)
        layerize.append(sum(d for n, d in inside if n == "Layerize") / 1e3)
    if not keys:
        raise RuntimeError("the performance trace holds no keydown on the page")
    return {"busy_ms": busy, "layerize_ms": layerize}


def loopback_only(target, offsite: list):
    """Route every request of ``target`` (a Playwright page or context): requests to 127.0.0.1
    continue, any other is aborted and its URL appended to ``offsite``. Returns ``target``."""
    def route(r):
        if is_loopback_url(r.request.url):
            r.continue_()
        else:
            offsite.append(r.request.url)
            r.abort()

    target.route("**/*", route)
    return target


def new_page(browser, offsite: list, errors: list):
    """A page that aborts every request leaving 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = loopback_only(context.new_page(), offsite)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def _run_case(browser, label, n_bars, timeframe, repeats, size, offsite, errors) -> dict:
    with tempfile.TemporaryDirectory(prefix="btcflow-bench-voila-") as tmp:
        nb = Path(tmp) / f"bench_{label.split()[0].replace('.', '_')}.ipynb"
        nb.write_text(json.dumps(case_notebook(n_bars, timeframe)))
        server = start_voila(nb, Path(tmp) / "voila",
                             env={"PYTHONPATH": os.pathsep.join(
                                 p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)})
        try:
            page = new_page(browser, offsite, errors)
            frames = _Frames(page)
            t_open = time.perf_counter()
            page.goto(server.url + "/", timeout=LOAD_TIMEOUT_MS)
            page.wait_for_function(_PANELS_DRAWN_JS, arg=list(PANELS), timeout=LOAD_TIMEOUT_MS)
            load_s = time.perf_counter() - t_open
            start = int(page.locator(".btcflow-ctl-lookback-entry input").first.input_value(
                timeout=LOAD_TIMEOUT_MS))   # a loaded machine can take >30 s to lay it out
            # one untimed warm-up move (first-use JIT, caches), back to where we were
            _measure(page, frames, 2 if size == "full" else 1)
            repaint, frame, values, sizes = _measure(page, frames, repeats)
            main_thread = _main_thread_ms(page, frames, TRACED_PRESSES[size])
            page.context.close()
        except Exception as exc:
            log = server.log()
            server.stop()
            raise RuntimeError(f"browser benchmark ({label}) failed ({type(exc).__name__}: "
                               f"{exc}); voila log tail:\n{log}") from exc
        server.stop()
    if len(set(values)) != 2 or max(values) - min(values) != 1:
        raise RuntimeError(f"{label}: slider values {values} did not alternate between two "
                           f"neighbours (started at {start}): the key presses did not move it")
    return {"repaint_ms": repaint, "frame_ms": frame, "slider_values": values,
            "main_thread": main_thread,
            "start_value": start, "page_load_s": load_s, "bytes_per_change": sizes,
            "bars": n_bars, "timeframe": timeframe}


def _rows(results: dict, size: str) -> list[Row]:
    (ref_label, ref), *others = results.items()
    ref_repaint = median(ref["repaint_ms"]) / 1e3
    rows = []
    for label, r in results.items():
        rep = median(r["repaint_ms"]) / 1e3
        is_ref = label == ref_label
        last = label == list(results)[-1] and not is_ref
        rows += [
            Row(f"slider key -> OI path 'd' changed, median, {label}", rep, "s",
                target=Target("<=", SLIDER_TARGET_S, f"<= {SLIDER_TARGET_S * 1e3:.0f} ms")
                if last else None,
                note=f"{len(r['repaint_ms'])} moves, p95 "
                     f"{percentile(r['repaint_ms'], 95):.0f} ms"),
            Row(f"slider key -> next painted frame, median, {label}",
                median(r["frame_ms"]) / 1e3, "s"),
            Row(f"browser main thread busy per key press, median, {label}",
                median(r["main_thread"]["busy_ms"]) / 1e3, "s",
                note=f"Chromium trace, {len(r['main_thread']['busy_ms'])} presses; of it "
                     f"Layerize {median(r['main_thread']['layerize_ms']):.0f} ms"),
            Row(f"bytes received per control change, median, {label}",
                median(r["bytes_per_change"]), "bytes", note="WebSocket frames, kernel -> page"),
            Row(f"Voila page open -> 4 panels drawn, {label}", r["page_load_s"], "s",
                note="kernel start + notebook run"),
        ]
        if not is_ref:
            rows += [
                Row(f"slider -> repaint, {label} / {ref_label}", rep / ref_repaint, "x",
                    target=Target("<=", SLIDER_TARGET_RATIO, f"<= {SLIDER_TARGET_RATIO}x")
                    if last else None,
                    reference=f"{ref_label} median = {ref_repaint * 1e3:.0f} ms"),
                Row(f"page open -> 4 panels, {label} / {ref_label}",
                    r["page_load_s"] / ref["page_load_s"], "x",
                    target=Target("<=", OPEN_TARGET_RATIO, f"<= {OPEN_TARGET_RATIO}x")
                    if last else None,
                    reference=f"{ref_label} = {ref['page_load_s']:.2f} s"),
            ]
    return rows


def run(size: str):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise Unavailable(f"playwright not importable ({exc})") from None
    if not os.access(CHROMIUM, os.X_OK):
        raise Unavailable(f"{CHROMIUM} not installed (make browser)")
    from ._voila_pool import measure_app_start

    debounce_ms = _default_debounce_ms()
    if SETTLE_S * 1e3 <= debounce_ms:
        raise RuntimeError(f"SETTLE_S={SETTLE_S} s is inside the {debounce_ms:.0f} ms debounce "
                           "window: key presses would be held and the latency would include it")
    offsite: list[str] = []
    errors: list[str] = []
    results = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            for label, n_bars, tf in CASES[size]:
                results[label] = _run_case(browser, label, n_bars, tf, REPEATS[size], size,
                                           offsite, errors)
            app_rows, app_details = measure_app_start(browser, size, offsite, errors)
        finally:
            browser.close()
    rows = _rows(results, size) + app_rows
    details = {"debounce_ms": debounce_ms, "cases": results, "app_start": app_details,
               "offsite_requests": offsite, "page_errors": errors}
    return rows, details
