#!/usr/bin/env python3
"""Regenerate the README pictures from the real rendering, not by hand.

Renders notebooks/01_flow_dashboard.ipynb and notebooks/02_premium_index.ipynb with
``btcflow-nb render`` (executed on the bundled synthetic demo data, self-contained HTML), opens
the pages in the system Chromium through Playwright with every non-file request aborted, and
screenshots the dashboard widgets:

- ``docs/images/flow_dashboard.png``: the FlowDashboard controls and its four panels;
- ``docs/images/premium_index.png``: the PremiumIndexPanel.

Each PNG must stay under 300 kB (the script fails otherwise). Needs the widget JavaScript
(``btcflow-nb render --fetch-widget-js``) and Chromium (``make browser``).

Usage: ``python scripts/make_screenshots.py [--out docs/images] [--chromium /usr/bin/chromium]``
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 300_000
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
# (notebook, widget root, last element of the picture or None for the whole root, file name)
SHOTS = [
    ("01_flow_dashboard.ipynb", ".btcflow-flow-dashboard", ".btcflow-panel-funding",
     "flow_dashboard.png"),
    ("02_premium_index.ipynb", ".btcflow-premium-index", None, "premium_index.png"),
]
VIEWPORT = {"width": 1180, "height": 900}
RENDER_TIMEOUT_MS = 60_000


def _shoot(page, html_path: Path, root_selector: str, last_selector: str | None,
           target: Path) -> None:
    page.goto(html_path.as_uri())
    root = page.locator(root_selector).first
    root.wait_for(timeout=RENDER_TIMEOUT_MS)
    # wait until every chart inside the root has drawn its marks
    page.wait_for_function(
        "(sel) => { const figs = [...document.querySelector(sel).querySelectorAll('div.bqplot.figure')];"
        " return figs.length > 0 && figs.every(f => f.querySelector("
        "'svg.svg-figure path.line[d*=L], svg.svg-figure rect.bar')); }",
        arg=root_selector, timeout=RENDER_TIMEOUT_MS)
    page.wait_for_timeout(500)  # let transitions settle
    # clip in page coordinates (bounding_box() is relative to the scrolled viewport)
    clip = page.evaluate(
        "([rootSel, lastSel]) => { const r = document.querySelector(rootSel).getBoundingClientRect();"
        " const l = lastSel ? document.querySelector(rootSel + ' ' + lastSel).getBoundingClientRect() : r;"
        " return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width,"
        " height: l.bottom - r.top + (lastSel ? 8 : 0)}; }",
        [root_selector, last_selector])
    page.screenshot(path=str(target), full_page=True, clip=clip)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from btcflow_nb.render import RenderError, render_notebooks

    notebooks = [REPO / "notebooks" / name for name, *_ in SHOTS]
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="btcflow-shots-") as tmp:
        try:
            rendered = render_notebooks(notebooks, Path(tmp) / "html")
        except RenderError as exc:
            print(f"make_screenshots: {exc}", file=sys.stderr)
            return 1
        pages = {r.notebook.name: r.html_path for r in rendered}
        offsite: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium,
                                                 args=CHROMIUM_ARGS)
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            page = context.new_page()

            def offline(route):
                if route.request.url.startswith(("file:", "data:", "blob:")):
                    route.continue_()
                else:
                    offsite.append(route.request.url)
                    route.abort()

            page.route("**/*", offline)
            for notebook, root, last, file_name in SHOTS:
                staging = Path(tmp) / file_name
                _shoot(page, pages[notebook], root, last, staging)
                size = staging.stat().st_size
                if size > MAX_BYTES:
                    print(f"make_screenshots: {file_name} is {size / 1e3:.0f} kB, over the "
                          f"{MAX_BYTES / 1e3:.0f} kB budget", file=sys.stderr)
                    return 1
                partial = args.out / f".{file_name}.tmp"  # same file system: atomic rename
                shutil.copyfile(staging, partial)
                os.replace(partial, args.out / file_name)
                print(f"wrote {args.out / file_name} ({size / 1e3:.0f} kB)")
            browser.close()
        if offsite:
            print(f"make_screenshots: the pages requested the network: {offsite}",
                  file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
