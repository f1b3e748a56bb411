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

Modules: :mod:`~btcflow_nb.render.assets` (finding and fetching the widget JavaScript),
:mod:`~btcflow_nb.render.redact` (scrubbing local paths and secrets),
:mod:`~btcflow_nb.render.export` (execution and HTML export, all or nothing),
:mod:`~btcflow_nb.render.cli` (the command line) and :mod:`~btcflow_nb.render.refresh`
(re-executing the curated notebooks to store their small text outputs).
"""
from .assets import (HTML_MANAGER_PACKAGE, HTML_MANAGER_VERSION, MATHJAX_PACKAGE,  # noqa: F401
                     MATHJAX_VERSION, REQUIREJS_PACKAGE, REQUIREJS_VERSION, WIDGET_JS_ENV,
                     WIDGET_STATE_MIME, RenderError, WidgetAssets, fetch_widget_js,
                     find_widget_assets)
from .cli import main
from .export import RenderedNotebook, render_notebooks

__all__ = [
    "RenderError",
    "RenderedNotebook",
    "WidgetAssets",
    "find_widget_assets",
    "fetch_widget_js",
    "render_notebooks",
    "main",
]
