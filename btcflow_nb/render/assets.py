"""The widget JavaScript an exported page needs: where it is found, and fetching it once.

The bqplot/bqscales AMD bundles come from the installed wheels
(``jupyter_core.paths.jupyter_path("nbextensions")``); the html-manager's ``embed-amd.js``,
``require.js`` and MathJax come from the npm registry, fetched by :func:`fetch_widget_js`
(``btcflow-nb render --fetch-widget-js``); ``require.js`` falls back to voila's copy. Search
order: ``--widget-js DIR``, ``$BTCFLOW_NB_WIDGET_JS``, ``<sys.prefix>/share/btcflow-nb/widget-js``,
``$XDG_CACHE_HOME/btcflow-nb/widget-js``. Never from files in this repository, never from a CDN.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: npm package versions fetched by ``--fetch-widget-js``. html-manager 1.x is the kernel-less
#: manager of ipywidgets 8 (@jupyter-widgets/base 6, controls 5).
HTML_MANAGER_PACKAGE = "@jupyter-widgets/html-manager"
HTML_MANAGER_VERSION = "1.0.15"
REQUIREJS_PACKAGE = "requirejs"
REQUIREJS_VERSION = "2.3.8"
#: Optional: typesets LaTeX in Markdown cells offline (SVG output, no web fonts to fetch).
MATHJAX_PACKAGE = "mathjax"
MATHJAX_VERSION = "3.2.2"
_MATHJAX_FILE = "es5/tex-svg-full.js"

WIDGET_JS_ENV = "BTCFLOW_NB_WIDGET_JS"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"

# Provided by the html-manager itself; every other module needs an AMD bundle.
_CORE_WIDGET_MODULES = frozenset(
    {"@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/output"}
)


class RenderError(RuntimeError):
    """A notebook could not be rendered; the message says which notebook, cell and error."""


@dataclass(frozen=True)
class WidgetAssets:
    """Paths of the JavaScript files the exported HTML needs.

    ``modules`` maps a widget module name as it appears in the widget state
    (``_model_module`` / ``_view_module``, e.g. ``"bqplot"``) to its AMD bundle.
    """

    require_js: Path
    html_manager: Path
    modules: dict[str, Path] = field(default_factory=dict)
    mathjax: Path | None = None


def _default_widget_js_dirs() -> list[Path]:
    dirs = []
    env_dir = os.environ.get(WIDGET_JS_ENV)
    if env_dir:
        dirs.append(Path(env_dir))
    dirs.append(Path(sys.prefix) / "share" / "btcflow-nb" / "widget-js")
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    dirs.append(Path(cache_home) / "btcflow-nb" / "widget-js")
    return dirs


def _default_fetch_dir() -> Path:
    """Where ``--fetch-widget-js`` puts the packages: the venv if we run in one, else the cache."""
    env_dir = os.environ.get(WIDGET_JS_ENV)
    if env_dir:
        return Path(env_dir)
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix) / "share" / "btcflow-nb" / "widget-js"
    return _default_widget_js_dirs()[-1]


def _package_file(base: Path, package: str, relative: str) -> Path | None:
    for candidate in (base / package / relative, base / "node_modules" / package / relative):
        if candidate.is_file():
            return candidate
    return None


def _voila_require_js() -> Path | None:
    from jupyter_core.paths import jupyter_path

    for data_dir in jupyter_path("voila"):
        candidate = Path(data_dir) / "templates" / "base" / "static" / "require.min.js"
        if candidate.is_file():
            return candidate
    return None


def _nbextension_bundle(module: str) -> Path | None:
    from jupyter_core.paths import jupyter_path

    for data_dir in jupyter_path("nbextensions"):
        candidate = Path(data_dir) / module / "index.js"
        if candidate.is_file():
            return candidate
    return None


def find_widget_assets(modules: list[str] | tuple[str, ...] = ("bqplot", "bqscales"),
                       widget_js_dir: Path | None = None) -> WidgetAssets:
    """Locate require.js, the html-manager and an AMD bundle for each widget module.

    Raises RenderError naming what is missing and how to get it.
    """
    search = [Path(widget_js_dir)] if widget_js_dir else _default_widget_js_dirs()
    html_manager = require_js = None
    for base in search:
        html_manager = html_manager or _package_file(base, HTML_MANAGER_PACKAGE,
                                                     "dist/embed-amd.js")
        require_js = require_js or _package_file(base, REQUIREJS_PACKAGE, "require.js")
    require_js = require_js or _voila_require_js()
    if html_manager is None or require_js is None:
        missing = [name for name, path in (
            (f"{HTML_MANAGER_PACKAGE} (dist/embed-amd.js)", html_manager),
            (f"{REQUIREJS_PACKAGE} (require.js)", require_js)) if path is None]
        raise RenderError(
            "the widget JavaScript is not installed: missing " + ", ".join(missing)
            + ". Searched " + ", ".join(str(p) for p in search)
            + ". Fetch it once with `btcflow-nb render --fetch-widget-js` (npm), or point "
            f"--widget-js / ${WIDGET_JS_ENV} at a directory holding those npm packages.")
    bundles = {}
    for module in modules:
        if module in _CORE_WIDGET_MODULES:
            continue
        bundle = _nbextension_bundle(module)
        if bundle is None:
            raise RenderError(
                f"widget module {module!r} is used by the notebook but no AMD bundle "
                f"(share/jupyter/nbextensions/{module}/index.js) is installed: its widgets "
                "would be blank in the exported HTML.")
        bundles[module] = bundle
    return WidgetAssets(require_js=require_js, html_manager=html_manager, modules=bundles,
                        mathjax=_find_mathjax(widget_js_dir))


def _find_mathjax(widget_js_dir: Path | None) -> Path | None:
    search = [Path(widget_js_dir)] if widget_js_dir else _default_widget_js_dirs()
    for base in search:
        found = _package_file(base, MATHJAX_PACKAGE, _MATHJAX_FILE)
        if found:
            return found
    return None


def fetch_widget_js(target: Path | None = None) -> Path:
    """Download the html-manager, require.js and MathJax packages from npm into ``target``.

    Uses ``npm pack`` (tarballs only, no dependency tree: the dist files are self-contained
    bundles) and unpacks each package to ``target/<package name>/``. Returns ``target``.
    """
    target = Path(target) if target else _default_fetch_dir()
    npm = shutil.which("npm")
    if npm is None:
        raise RenderError("npm is not installed; it is needed once to fetch "
                          f"{HTML_MANAGER_PACKAGE}@{HTML_MANAGER_VERSION}, "
                          f"{REQUIREJS_PACKAGE}@{REQUIREJS_VERSION} and "
                          f"{MATHJAX_PACKAGE}@{MATHJAX_VERSION}")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".fetch-") as tmp:
        specs = {HTML_MANAGER_PACKAGE: HTML_MANAGER_VERSION, REQUIREJS_PACKAGE: REQUIREJS_VERSION,
                 MATHJAX_PACKAGE: MATHJAX_VERSION}
        proc = subprocess.run(
            [npm, "pack", "--json", "--pack-destination", tmp]
            + [f"{name}@{version}" for name, version in specs.items()],
            capture_output=True, text=True, cwd=tmp, check=False)
        if proc.returncode != 0:
            raise RenderError(f"npm pack failed (exit {proc.returncode}): {proc.stderr.strip()}")
        packed = {entry["name"]: entry["filename"] for entry in json.loads(proc.stdout)}
        for name in specs:
            tarball = Path(tmp) / packed[name]
            unpack_dir = Path(tmp) / ("unpacked-" + name.replace("/", "__"))
            with tarfile.open(tarball) as archive:
                archive.extractall(unpack_dir, filter="data")
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            if destination.exists():
                shutil.rmtree(destination)
            os.replace(unpack_dir / "package", destination)
    return target
