"""Execute notebooks and export them to HTML that renders their widgets without a kernel.

:func:`render_notebooks` executes each notebook with nbclient (widget state stored), redacts it
(:mod:`~btcflow_nb.render.redact`), and exports it with nbconvert's lab template, the widget
JavaScript (:mod:`~btcflow_nb.render.assets`) inlined (self-contained) or written once to
``DIR/widget-js/`` (linked). All or nothing: everything is staged in a temporary directory
inside ``out_dir`` and moved into place only when every notebook succeeded.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .assets import (_CORE_WIDGET_MODULES, WIDGET_STATE_MIME, RenderError, WidgetAssets,
                     _find_mathjax, find_widget_assets)
from ._static_page import NOTICE_HTML, STATIC_EXPORT_ENV, head_html, html_links
from .redact import _redact_notebook

_LINKED_ASSET_DIR = "widget-js"


@dataclass(frozen=True)
class RenderedNotebook:
    """One written HTML file: where it went, its size in bytes, the widget modules it uses."""

    notebook: Path
    html_path: Path
    size_bytes: int
    widget_modules: tuple[str, ...]


# --------------------------------------------------------------------------- execution


def _execute(nb, notebook: Path, timeout: int, kernel_name: str):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    client = NotebookClient(
        nb, timeout=timeout, kernel_name=kernel_name, store_widget_state=True,
        resources={"metadata": {"path": str(notebook.parent)}})
    try:
        # the dashboards start in pan/zoom mode: a static page has no kernel to zoom from
        # Python, and its controls (the cursor switch too) are disabled
        client.execute(env={**os.environ, STATIC_EXPORT_ENV: "1"})
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



# --------------------------------------------------------------------------- export


#: Widget modules whose models only relay browser events to a kernel (no view, nothing drawn):
#: dropped from an exported page's widget state, where no kernel would hear them.
KERNEL_ONLY_MODULES = frozenset({"ipyevents"})


def _drop_kernel_only_models(nb) -> None:
    """Remove the models of :data:`KERNEL_ONLY_MODULES` from ``nb``'s saved widget state."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})
    for model_id in [k for k, model in state.items()
                     if model.get("state", {}).get("_model_module") in KERNEL_ONLY_MODULES]:
        del state[model_id]


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
{{ resources.btcflow_static_head }}
{%- endblock html_head_js -%}
{%- block body_header -%}
{{ super() }}
{{ resources.btcflow_static_notice }}
{%- endblock body_header -%}
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
                 "btcflow_widget_scripts": widget_scripts,
                 "btcflow_static_head": head_html(), "btcflow_static_notice": NOTICE_HTML}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return html_links(body)


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
    _drop_kernel_only_models(nb)
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
