"""Execute notebooks and export them as HTML whose widget charts render without a kernel.

``btcflow-nb render [NOTEBOOK ...] --out DIR`` (also ``python -m btcflow_nb.render``):

1. **Execute** each notebook with nbclient in its own directory, with
   ``store_widget_state=True`` so the final state of every live widget (bqplot figures,
   marks, scales, sliders ...) is saved in the notebook metadata under
   ``application/vnd.jupyter.widget-state+json``.
2. **Redact** local details from sources, outputs and widget state: absolute paths (home,
   Python prefix, site-packages, temp dir, working directory) and the values of environment
   variables whose names look secret (``*KEY*``, ``*SECRET*``, ``*TOKEN*`` ...).
3. **Export** with nbconvert's ``HTMLExporter`` (lab template). The browser needs JavaScript
   to turn the stored state back into charts:

   - ``require.js`` (an AMD loader),
   - ``@jupyter-widgets/html-manager``'s ``embed-amd.js`` (the kernel-less widget manager;
     it defines ``@jupyter-widgets/base``, ``controls`` and ``output``),
   - one AMD bundle per third-party widget module used by the state (``bqplot``,
     ``bqscales``): the ``share/jupyter/nbextensions/<module>/index.js`` files that the
     Python wheels install.

   By default (**self-contained**) all of it is inlined, so the single ``.html`` file renders
   with no network at all. With ``--linked`` the scripts are written once to
   ``DIR/widget-js/`` and referenced relatively (the directory can be shipped together).
   Either way nothing is fetched from a CDN.

Where the JavaScript comes from (never from files in this repository): the bqplot/bqscales
bundles from the installed wheels (``jupyter_core.paths.jupyter_path("nbextensions")``).
No Python package ships an embeddable html-manager (widgetsnbextension's bundle is the
classic-notebook extension, voila's is a kernel-backed app), so ``embed-amd.js`` and
``require.js`` come from the npm registry's ``@jupyter-widgets/html-manager`` and
``requirejs`` packages, fetched once by ``btcflow-nb render --fetch-widget-js`` (runs
``npm pack``; ``make test`` does it into ``.venv/share/btcflow-nb/widget-js``). ``require.js``
falls back to the copy that voila installs. The same command fetches ``mathjax`` (3.x): when
a notebook's Markdown has LaTeX, ``es5/tex-svg-full.js`` is embedded too (+2.3 MB) so the
formulas are typeset offline; without it they show as TeX source (render says so). A page
without widgets carries no widget JavaScript. The directory is looked up in this order:
``--widget-js DIR``, ``$BTCFLOW_NB_WIDGET_JS``, ``<sys.prefix>/share/btcflow-nb/widget-js``,
``$XDG_CACHE_HOME/btcflow-nb/widget-js`` (default ``~/.cache/...``). It may hold the
packages directly (``DIR/@jupyter-widgets/html-manager/dist/embed-amd.js``) or as
``DIR/node_modules/...`` (``npm install --prefix DIR ...`` works too).

Failure is atomic: everything is written to a temporary directory inside ``--out`` and moved
into place only when every notebook executed and exported; a failing cell is named with its
index and error, nothing is left behind, and the exit status is 1.

A static page has no kernel: charts are drawn from the stored state and browser-side
interactions (bqplot pan/zoom, hover) work, but moving a control recomputes nothing. Mermaid
diagrams are not rendered offline.
"""
from __future__ import annotations

import argparse
import getpass
import html
import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = [
    "RenderError",
    "RenderedNotebook",
    "WidgetAssets",
    "find_widget_assets",
    "fetch_widget_js",
    "render_notebooks",
    "main",
]

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
_LINKED_ASSET_DIR = "widget-js"
_SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSW|PASSPHRASE|CREDENTIAL|AUTH|PRIVATE", re.I)
_MIN_SECRET_LENGTH = 6


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


@dataclass(frozen=True)
class RenderedNotebook:
    """One written HTML file: where it went, its size in bytes, the widget modules it uses."""

    notebook: Path
    html_path: Path
    size_bytes: int
    widget_modules: tuple[str, ...]


# --------------------------------------------------------------------------- JS lookup


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


# --------------------------------------------------------------------------- execution


def _execute(nb, notebook: Path, timeout: int, kernel_name: str):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    client = NotebookClient(
        nb, timeout=timeout, kernel_name=kernel_name, store_widget_state=True,
        resources={"metadata": {"path": str(notebook.parent)}})
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        raise RenderError(_describe_failure(nb, notebook, exc)) from None
    return nb


def _describe_failure(nb, notebook: Path, exc: Exception) -> str:
    """"<notebook>: cell N of M (`first line`) failed: <Error>: <message>", N counted from 1
    over all cells as JupyterLab's status bar counts them."""
    from nbclient.exceptions import CellExecutionError

    def has_error(cell) -> bool:
        return any(o.get("output_type") == "error" for o in cell.get("outputs", []))

    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    failing = next(((i, c) for i, c in code if has_error(c)), None)
    if failing is None:  # timeouts and dead kernels leave no error output: the last one started
        started = [(i, c) for i, c in code if c.get("execution_count") is not None]
        failing = started[-1] if started else None
    if isinstance(exc, CellExecutionError):
        error = f"{exc.ename}: {exc.evalue}"
    else:
        message = str(exc).strip()
        error = f"{type(exc).__name__}: {message.splitlines()[0] if message else ''}"
    where = "before any cell ran"
    if failing is not None:
        index, cell = failing
        first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
        where = f"cell {index + 1} of {len(nb.cells)} (`{first_line.strip()[:80]}`)"
    return f"{notebook}: {where} failed: {error}"


# --------------------------------------------------------------------------- redaction


def _local_replacements(notebook_dir: Path) -> list[tuple[str, str]]:
    """(literal, replacement) pairs, longest literal first, for paths and secrets."""
    pairs: dict[str, str] = {}

    def add(path_like, label: str) -> None:
        if not path_like:
            return
        text = str(path_like).rstrip("/")
        if len(text) > 1:
            pairs.setdefault(text, label)
            real = os.path.realpath(text)
            if real != text and len(real) > 1:
                pairs.setdefault(real, label)

    site_dirs = set(site.getsitepackages()) if hasattr(site, "getsitepackages") else set()
    site_dirs |= {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        site_dirs.add(site.getusersitepackages())
    for directory in site_dirs:
        add(directory, "<packages>")
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        add(prefix, "<python>")
    add(notebook_dir.resolve(), "<notebook-dir>")
    add(Path.cwd(), "<cwd>")
    add(Path.home(), "~")
    add(tempfile.gettempdir(), "<tmp>")
    for name, value in os.environ.items():
        if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET_LENGTH:
            pairs.setdefault(value, f"<{name}>")
    return sorted(pairs.items(), key=lambda item: len(item[0]), reverse=True)


_PATH_END = r"(?=$|[/\\\s\"'<>:;,)\]}`|])"
_USER_HOME = re.compile(r"(?:/home|/Users)/[^/\s\"'<>:;,)\]}`|]+|/root" + _PATH_END)


def _redactor(notebook_dir: Path):
    pairs = _local_replacements(notebook_dir)
    user = getpass.getuser()
    pattern = re.compile("|".join(
        re.escape(literal) + (_PATH_END if literal.startswith(("/", "\\")) or ":\\" in literal else "")
        for literal, _ in pairs)) if pairs else None
    lookup = dict(pairs)

    def redact(text: str) -> str:
        if pattern is not None:
            text = pattern.sub(lambda m: lookup[m.group(0)], text)
        text = _USER_HOME.sub("~", text)
        if len(user) > 2:
            text = re.sub(r"(?<=[/\\])" + re.escape(user) + _PATH_END, "<user>", text)
        return text

    return redact


def _redact_tree(value, redact):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_tree(item, redact) for item in value]
    if isinstance(value, dict):
        return type(value)((key, _redact_tree(item, redact)) for key, item in value.items())
    return value


def _redact_notebook(nb, notebook_dir: Path) -> None:
    """Scrub sources, outputs and widget state in place (binary buffers are left alone)."""
    redact = _redactor(notebook_dir)
    for cell in nb.cells:
        cell.source = redact(cell.source)  # e.g. a path typed into a cell names its user
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            for key in ("text", "traceback", "evalue"):
                if key in output:
                    output[key] = _redact_tree(output[key], redact)
            if "data" in output:
                for mime, payload in list(output["data"].items()):
                    if mime.startswith("text/") or mime.endswith("json"):
                        output["data"][mime] = _redact_tree(payload, redact)
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})
    for model in state.values():
        buffers = model.pop("buffers", None)
        model["state"] = _redact_tree(model.get("state", {}), redact)
        if buffers is not None:
            model["buffers"] = buffers


# --------------------------------------------------------------------------- export


def _widget_modules(nb) -> list[str]:
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})
    modules = set()
    for model in state.values():
        for key in ("_model_module", "_view_module"):
            name = model.get("state", {}).get(key)
            if name:
                modules.add(name)
    return sorted(modules - _CORE_WIDGET_MODULES)


_NAMED_DEFINE_SHIM = """(function () {{
  /* Name the next anonymous define() {name!r}: the bundle below is an anonymous AMD module. */
  var amdDefine = window.define;
  window.define = function () {{
    var args = Array.prototype.slice.call(arguments);
    if (typeof args[0] !== "string") {{ args.unshift({name_json}); }}
    window.define = amdDefine;
    return amdDefine.apply(this, args);
  }};
  window.define.amd = amdDefine.amd;
}}());
"""


def _module_script(module: str, bundle: Path) -> str:
    shim = _NAMED_DEFINE_SHIM.format(name=module, name_json=json.dumps(module))
    return shim + bundle.read_text(encoding="utf-8") + "\n"


_MATH_IN_MARKDOWN = re.compile(r"\$[^$\n]+\$|\$\$|\\\(|\\\[|\\begin\{")
# MathJax 3 configuration. ``Hub.Queue`` is the MathJax 2 call the html-manager's HTML/Label
# widgets make when ``window.MathJax`` exists; it is mapped onto MathJax 3's typesetPromise.
_MATHJAX_CONFIG = """(function () {
  function hub() {
    return {Queue: function (job) {
      var element = job && job[2];
      if (element && window.MathJax && window.MathJax.typesetPromise) {
        window.MathJax.typesetPromise([element]).catch(function () {});
      }
    }};
  }
  window.MathJax = {
    tex: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
          processEscapes: true, processEnvironments: true},
    options: {enableMenu: false},
    svg: {fontCache: "global"},
    startup: {ready: function () { window.MathJax.startup.defaultReady(); window.MathJax.Hub = hub(); }},
    Hub: hub()
  };
}());
"""


_CODE_IN_MARKDOWN = re.compile(r"```.*?```|~~~.*?~~~|`[^`\n]*`", re.S)


def _has_math(nb) -> bool:
    """LaTeX delimiters in Markdown text outside code (`$HOME` in a code span is not math)."""
    return any(cell.cell_type == "markdown"
               and _MATH_IN_MARKDOWN.search(_CODE_IN_MARKDOWN.sub("", cell.source))
               for cell in nb.cells)


def _asset_scripts(assets: WidgetAssets | None, modules: list[str],
                   mathjax: Path | None) -> list[tuple[str, str]]:
    """(file name, JavaScript) in load order: loader, manager, third-party modules (when the
    page has widgets), then MathJax, configuration first (when ``mathjax`` is given)."""
    scripts = []
    if assets is not None:
        scripts += [("require.js", assets.require_js.read_text(encoding="utf-8")),
                    ("html-manager-embed-amd.js", _manager_with_inline_fonts(assets.html_manager))]
        for module in modules:
            file_name = re.sub(r"[^A-Za-z0-9_.-]", "_", module) + ".js"
            scripts.append((file_name, _module_script(module, assets.modules[module])))
    if mathjax is not None:
        scripts.append(("mathjax-config.js", _MATHJAX_CONFIG))
        scripts.append(("mathjax-tex-svg-full.js", mathjax.read_text(encoding="utf-8")))
    return scripts


_FONT_ASSET = re.compile(r'\b[A-Za-z_$][\w$]*\.p\+"([0-9a-f]{16,}\.woff2)"')


def _manager_with_inline_fonts(embed_amd: Path) -> str:
    """The html-manager bundle with its Font Awesome woff2 files as data: URLs.

    The bundle's @font-face rules point at files next to the script (``<publicPath> +
    "<hash>.woff2"``); a page opened from anywhere else would request missing files. Browsers
    take the first usable format (woff2), so only those are inlined, once, in a lookup table.
    A bundle without that pattern is used unchanged (icons then need the files).
    """
    import base64

    javascript = embed_amd.read_text(encoding="utf-8")
    fonts: dict[str, str] = {}

    def inline(match: re.Match) -> str:
        font_file = embed_amd.parent / match.group(1)
        if not font_file.is_file():
            return match.group(0)
        fonts[match.group(1)] = ("data:font/woff2;base64,"
                                 + base64.b64encode(font_file.read_bytes()).decode("ascii"))
        return f"window.__btcflowWidgetFonts[{json.dumps(match.group(1))}]"

    javascript = _FONT_ASSET.sub(inline, javascript)
    if not fonts:
        return javascript
    return f"window.__btcflowWidgetFonts = {json.dumps(fonts)};\n" + javascript


def _inline_script(javascript: str) -> str:
    """A <script> element holding ``javascript`` verbatim (HTML-safe escapes of `</script`)."""
    safe = re.sub(r"</(script)", r"<\\/\1", javascript, flags=re.I).replace("<!--", "<\\!--")
    return "<script>\n" + safe + "\n</script>"


_TEMPLATE_NAME = "btcflow_offline.html.j2"
_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}
{{ resources.btcflow_widget_scripts }}
{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def _export_html(nb, notebook: Path, widget_scripts: str, exclude_input: bool) -> str:
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab", extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        template_file=_TEMPLATE_NAME, embed_images=True, exclude_input=exclude_input)
    resources = {"metadata": {"name": notebook.stem, "path": str(notebook.parent)},
                 "btcflow_widget_scripts": widget_scripts}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


def _render_one(notebook: Path, *, self_contained: bool, timeout: int, kernel_name: str,
                widget_js_dir: Path | None, exclude_input: bool
                ) -> tuple[str, list[tuple[str, str]], list[str]]:
    import nbformat

    try:
        nb = nbformat.read(notebook, as_version=4)
    except (OSError, ValueError) as exc:  # unreadable file or invalid JSON/schema
        raise RenderError(f"{notebook}: cannot read notebook: {exc}") from None
    _execute(nb, notebook, timeout, kernel_name)
    _redact_notebook(nb, notebook.parent)
    modules = _widget_modules(nb)
    has_widgets = bool(nb.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state"))
    assets = find_widget_assets(modules, widget_js_dir) if has_widgets else None
    mathjax = None
    if _has_math(nb):
        mathjax = assets.mathjax if assets else _find_mathjax(widget_js_dir)
        if mathjax is None:
            print(f"render: {notebook.name}: LaTeX will show as TeX source; fetch MathJax with "
                  "`btcflow-nb render --fetch-widget-js` to typeset it", file=sys.stderr)
    scripts = _asset_scripts(assets, modules, mathjax)
    if self_contained:
        tags = "\n".join(_inline_script(js) for _, js in scripts)
    else:
        tags = "\n".join(f'<script src="{_LINKED_ASSET_DIR}/{html.escape(name)}"></script>'
                         for name, _ in scripts)
    return _export_html(nb, notebook, tags, exclude_input), scripts, modules


def render_notebooks(notebooks: list[Path], out_dir: Path, *, self_contained: bool = True,
                     timeout: int = 600, kernel_name: str = "python3",
                     widget_js_dir: Path | None = None, exclude_input: bool = False,
                     progress: Callable[[Path], None] | None = None,
                     ) -> list[RenderedNotebook]:
    """Execute and export ``notebooks`` to ``out_dir/<stem>.html``; all or nothing.

    ``timeout`` is per cell, in seconds. With ``self_contained=False`` the scripts are
    written to ``out_dir/widget-js/`` and referenced relatively. ``progress`` is called with
    each notebook before it executes. Raises RenderError (and writes nothing) if any notebook
    fails to execute or export.
    """
    notebooks = [Path(nb) for nb in notebooks]
    for notebook in notebooks:
        if not notebook.is_file():
            raise RenderError(f"{notebook}: no such notebook")
    stems = [nb.stem for nb in notebooks]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise RenderError(f"two notebooks would write the same file: {', '.join(duplicates)}.html")
    out_dir = Path(out_dir)
    created_out_dir = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".render-"))
    try:
        staged: list[tuple[Path, str, tuple[str, ...]]] = []
        linked: dict[str, str] = {}
        for notebook in notebooks:
            if progress is not None:
                progress(notebook)
            body, scripts, modules = _render_one(
                notebook, self_contained=self_contained, timeout=timeout,
                kernel_name=kernel_name, widget_js_dir=widget_js_dir,
                exclude_input=exclude_input)
            (staging / f"{notebook.stem}.html").write_text(body, encoding="utf-8")
            staged.append((notebook, f"{notebook.stem}.html", tuple(modules)))
            if not self_contained:
                linked.update(scripts)
        if linked:
            (staging / _LINKED_ASSET_DIR).mkdir()
            for name, javascript in linked.items():
                (staging / _LINKED_ASSET_DIR / name).write_text(javascript, encoding="utf-8")
        # Every notebook succeeded: move into place (renames within one file system).
        results = []
        if linked:
            asset_dir = out_dir / _LINKED_ASSET_DIR
            asset_dir.mkdir(exist_ok=True)
            for name in linked:
                os.replace(staging / _LINKED_ASSET_DIR / name, asset_dir / name)
        for notebook, file_name, modules in staged:
            final = out_dir / file_name
            os.replace(staging / file_name, final)
            results.append(RenderedNotebook(notebook, final, final.stat().st_size, modules))
        return results
    except BaseException:
        if created_out_dir:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------- CLI


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


if __name__ == "__main__":
    sys.exit(main())
