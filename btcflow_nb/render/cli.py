"""The ``btcflow-nb render`` command line: its parser and :func:`main`.

Also run as ``python -m btcflow_nb.render`` (``__main__``); ``btcflow-nb`` dispatches to it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .assets import (HTML_MANAGER_PACKAGE, HTML_MANAGER_VERSION, MATHJAX_PACKAGE,
                     MATHJAX_VERSION, REQUIREJS_PACKAGE, REQUIREJS_VERSION, WIDGET_JS_ENV,
                     RenderError, fetch_widget_js)
from .export import _LINKED_ASSET_DIR, render_notebooks


def _human_size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def _default_notebooks() -> list[Path]:
    return sorted(Path("notebooks").glob("[0-9][0-9]_*.ipynb"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="btcflow-nb render",
        description="Execute notebooks and export HTML whose widget charts render without a "
                    "kernel or network. Writes nothing unless every notebook succeeds.")
    parser.add_argument("notebooks", nargs="*", type=Path, metavar="NOTEBOOK",
                        help="notebooks to render (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--out", type=Path, default=Path("build/html"), metavar="DIR",
                        help="output directory (default: build/html)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--self-contained", dest="self_contained", action="store_true",
                      default=True, help="one .html per notebook with every script inlined "
                                         "(default)")
    mode.add_argument("--linked", dest="self_contained", action="store_false",
                      help=f"reference the scripts in DIR/{_LINKED_ASSET_DIR}/ instead "
                           "(smaller pages, ship the directory with them)")
    parser.add_argument("--no-input", action="store_true",
                        help="hide code cells, keep outputs (a report rather than a notebook)")
    parser.add_argument("--timeout", type=int, default=600, metavar="SECONDS",
                        help="per-cell execution timeout (default: 600)")
    parser.add_argument("--kernel", default="python3", metavar="NAME",
                        help="kernel to execute with (default: python3)")
    parser.add_argument("--widget-js", type=Path, metavar="DIR",
                        help=f"directory holding {HTML_MANAGER_PACKAGE} and {REQUIREJS_PACKAGE} "
                             f"(default: ${WIDGET_JS_ENV}, then the venv, then the user cache)")
    parser.add_argument("--fetch-widget-js", action="store_true",
                        help=f"download {HTML_MANAGER_PACKAGE}@{HTML_MANAGER_VERSION}, "
                             f"{REQUIREJS_PACKAGE}@{REQUIREJS_VERSION} and "
                             f"{MATHJAX_PACKAGE}@{MATHJAX_VERSION} with npm into "
                             "--widget-js DIR (or the default location) and exit unless "
                             "notebooks are given")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``btcflow-nb render``; returns the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be a positive number of seconds, got {args.timeout}")
    try:
        if args.fetch_widget_js:
            target = fetch_widget_js(args.widget_js)
            print(f"widget JavaScript in {target}")
            if not args.notebooks:
                return 0
            args.widget_js = target
        notebooks = args.notebooks or _default_notebooks()
        if not notebooks:
            parser.error("no notebooks given and none found in ./notebooks")
        results = render_notebooks(
            notebooks, args.out, self_contained=args.self_contained, timeout=args.timeout,
            kernel_name=args.kernel, widget_js_dir=args.widget_js, exclude_input=args.no_input,
            progress=lambda nb: print(f"render: executing {nb}", file=sys.stderr, flush=True))
    except RenderError as exc:
        print(f"render: error: {exc}", file=sys.stderr)
        print("render: nothing was written", file=sys.stderr)
        return 1
    total = 0
    for result in results:
        total += result.size_bytes
        print(f"wrote {result.html_path} ({_human_size(result.size_bytes)}"
              f"{', self-contained' if args.self_contained else ''})")
    if not args.self_contained and (Path(args.out) / _LINKED_ASSET_DIR).is_dir():
        asset_dir = Path(args.out) / _LINKED_ASSET_DIR
        asset_size = sum(p.stat().st_size for p in asset_dir.iterdir() if p.is_file())
        total += asset_size
        print(f"wrote {asset_dir}/ ({_human_size(asset_size)}, shared by the pages)")
    print(f"total {_human_size(total)} in {len(results)} notebook(s)")
    return 0
