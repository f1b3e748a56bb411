"""The flow dashboard as a Voila app: ``notebooks/app.ipynb`` calls :func:`flow_app`, and
``python -m btcflow_nb.dashboard.app`` (what ``make dashboard`` runs) serves it.

The data source is chosen by the page's URL parameter ``?source=demo|cache|live|auto`` (Voila
passes the query string to the kernel as ``$QUERY_STRING``), else by ``$BTCFLOW_NB_SOURCE``
(read by :func:`btcflow_nb.load`), else ``auto`` (the cache, refreshed when online; the
labelled synthetic demo with neither). A bad value is shown on the page with the valid
choices; nothing else but the dashboards is shown (no notebook prose, no raw reprs).

Below the flow dashboard, :func:`more_views` adds tabs with the per-venue views of issue 16:
open interest by venue, funding spend, the dated-futures term structure. The first paint stays
that of the flow dashboard alone: no tab is selected at first, and a tab's panel is built on
the same data the first time the tab is selected (a failure is shown in the tab).
Likewise the dashboard's control tabs other than "view" are laid out when first opened
(``FlowDashboard(lazy_tabs=True)``): the first page carries fewer widget models.

:data:`VOILA_ARGS` are the server's options, in one place (the Makefile, the browser tests
and the benchmarks start Voila with :func:`voila_command`):

* loopback only, no browser opened, the code cells hidden (Voila's default) and so the
  JupyterLab syntax-highlighting extension (``jupyterlab_pygments``) not loaded;
* idle kernels culled: a kernel whose page was closed is shut down once it has been idle for
  :data:`CULL_IDLE_S` seconds (checked every :data:`CULL_INTERVAL_S` s); a page that is still
  open keeps its kernel (``cull_connected=False``);
* the page title is the notebook's ``metadata.title``;
* a preheated kernel pool (Voila's ``--preheat_kernel``, :data:`POOL_SIZE` kernels): a kernel
  has already loaded the data and built the dashboard when a page is requested, so the page
  opens on a computed dashboard. A preheated kernel runs before any URL exists, so
  :func:`flow_app` builds the dashboard for the environment's source first, then waits for the
  request's query string (``voila.utils.get_query_string``) and rebuilds only when ``?source=``
  asks for another source. Kernels started beyond the pool get ``$QUERY_STRING`` directly;
* the app's own Voila template ``btcflow`` (:data:`TEMPLATE`, Voila's ``lab`` plus a
  server-rendered first paint), shipped in the package under :data:`JUPYTER_DATA` and found
  through ``$JUPYTER_PATH``, which :func:`voila_command` prepends before starting Voila.

**First paint.** Under Voila, :func:`flow_app` also displays :func:`first_paint_html` of the
page it returns -- static SVG of the dashboard's four figures, drawn by
:mod:`~btcflow_nb.dashboard.figure_svg` from the data the interactive figures hold -- as the
one mime type :data:`FIRST_PAINT_MIME`. The ``btcflow`` template writes that output into the
page HTML above the (hidden) cells, so the chart shows before Voila's JavaScript has loaded,
and hides it once an interactive figure has drawn. It is always the dashboard that becomes
interactive (with the pool and another ``?source=``, the rebuilt one: the cell's outputs are
sent when the cell ends). Outside Voila nothing is displayed; and a front end that does not
know the mime type (JupyterLab, Voila's own templates) shows nothing for it (no
``text/plain`` fallback).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import parse_qs

import ipywidgets as W

__all__ = ["APP_NOTEBOOK", "CULL_IDLE_S", "CULL_INTERVAL_S", "FIRST_PAINT_MIME", "JUPYTER_DATA",
           "MORE_VIEWS", "POOL_SIZE", "SOURCES", "TEMPLATE", "VOILA_ARGS", "first_paint_html",
           "flow_app", "more_views", "source_from_query", "voila_command"]

#: Data sources a page can ask for with ``?source=``.
SOURCES = ("auto", "cache", "live", "demo")
#: The app's notebook, relative to the repository root.
APP_NOTEBOOK = Path("notebooks") / "app.ipynb"
#: Idle seconds after which a kernel without a connected page is shut down, and how often the
#: server checks (a dashboard kernel holds ~240 MB).
CULL_IDLE_S = 300
CULL_INTERVAL_S = 60
#: Preheated kernels kept ready (each holds a built dashboard, ~240 MB; pooled kernels are
#: never culled, Voila refills the pool after each page open).
POOL_SIZE = 1
#: The app's Voila template and the Jupyter data directory that holds it
#: (``voila/templates/btcflow``: ``conf.json`` with ``base_template: lab``, ``index.html.j2``).
TEMPLATE = "btcflow"
JUPYTER_DATA = Path(__file__).resolve().parent / "jupyter_data"
#: The mime type of the first-paint output, which only the ``btcflow`` template renders.
FIRST_PAINT_MIME = "application/vnd.btcflow.first-paint+html"
#: Voila's options for the app (see the module docstring).
VOILA_ARGS = (
    "--no-browser",
    "--Voila.ip=127.0.0.1",
    "--strip_sources=True",
    # no code cells are shown: the syntax-highlighting extension is 3 requests for nothing
    "--VoilaConfiguration.extension_denylist=['jupyterlab_pygments']",
    f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_S}",
    f"--MappingKernelManager.cull_interval={CULL_INTERVAL_S}",
    "--MappingKernelManager.cull_connected=False",
    "--preheat_kernel=True",
    f"--pool_size={POOL_SIZE}",
    f"--template={TEMPLATE}",
)
#: Python that runs Voila with :data:`JUPYTER_DATA` first on ``$JUPYTER_PATH`` (Voila finds
#: templates only on the Jupyter data path; a test's private environment drops JUPYTER_PATH,
#: so the command itself adds the directory).
_LAUNCH_VOILA = ("import os, sys; os.environ['JUPYTER_PATH'] = os.pathsep.join(filter(None, "
                 "[{data!r}, os.environ.get('JUPYTER_PATH')])); sys.argv[0] = 'voila'; "
                 "from voila.app import main; sys.exit(main())")


def voila_command(notebook: str | Path = APP_NOTEBOOK, port: int | None = None,
                  python: str = sys.executable, extra: tuple[str, ...] = ()) -> list[str]:
    """The command that serves ``notebook`` with :data:`VOILA_ARGS` (``port``: fixed, no
    retry on another one; None: Voila's default 8866; ``extra``: more Voila options): Voila's
    own ``main`` run by ``python -c`` after putting :data:`JUPYTER_DATA` on the Jupyter path."""
    command = [python, "-c", _LAUNCH_VOILA.format(data=str(JUPYTER_DATA)), *VOILA_ARGS]
    if port is not None:
        command += [f"--port={port}", "--Voila.port_retries=0"]
    return command + [*extra, str(notebook)]


def source_from_query(query: str | None) -> str | None:
    """The ``source`` URL parameter of ``query`` ("source=demo&x=1" -> "demo"), None when
    absent; a value outside :data:`SOURCES` raises ValueError naming the choices."""
    values = parse_qs(query or "").get("source")
    if not values:
        return None
    value = values[-1].strip().lower()
    if value not in SOURCES:
        raise ValueError(f"?source={values[-1]!r} is not a data source; choose one of "
                         f"{', '.join(SOURCES)}")
    return value


#: The app's extra tabs: (title, what the panel needs) -- built lazily by :func:`more_views`.
MORE_VIEWS = ("Open interest", "Funding spend", "Term structure")


def _build_view(title: str, md, debounce_ms: float) -> W.Widget:
    from .funding_spend import FundingSpendPanel
    from .open_interest import OpenInterestPanel
    from .term_structure import TermStructurePanel

    if title == MORE_VIEWS[0]:
        return OpenInterestPanel(md, debounce_ms=debounce_ms)
    if title == MORE_VIEWS[1]:
        return FundingSpendPanel(md, debounce_ms=debounce_ms)
    return TermStructurePanel(md)


def more_views(md, *, debounce_ms: float = 150) -> W.Tab:
    """Tabs of :data:`MORE_VIEWS` on ``md``, none selected; the panel of a tab is built the
    first time it is selected (``tabs.views`` maps title -> panel once built; until then a tab
    is an empty box: no widget models, no DOM). A panel that cannot be built (e.g. no dated
    futures in the data) shows the reason in its tab."""
    from ._controls import lazy_tabs

    tabs = lazy_tabs({title: (lambda title=title: _build_view(title, md, debounce_ms))
                      for title in MORE_VIEWS}, selected=None)
    tabs.add_class("btcflow-more-views")
    tabs.views = tabs.built
    return tabs


def flow_app(query: str | None = None, **dashboard_kw) -> W.Widget:
    """The app's page: the flow dashboard on the data the URL (``query``; default: the
    request's query string) or ``$BTCFLOW_NB_SOURCE`` asks for, with :func:`more_views` below
    it (``page.more_views``). A bad ``?source=`` gives a page that says so and lists the
    choices.

    In a preheated Voila kernel (``$VOILA_PREHEAT=True``) the dashboard for the environment's
    source is built before the request arrives; the query string is then awaited and the
    dashboard rebuilt only if it asks for a different source.

    Under Voila (``$VOILA_BASE_URL`` set) the page's :func:`first_paint_html` is displayed
    first, as :data:`FIRST_PAINT_MIME` (see the module docstring)."""
    page = _app_page(query, **dashboard_kw)
    if "VOILA_BASE_URL" in os.environ:
        _display_first_paint(page)
    return page


def first_paint_html(page: W.Widget) -> str:
    """Static HTML of ``page``'s figures (a dashboard with ``figures``): a discreet note that
    the interactive controls are loading, then each figure's SVG
    (:func:`~btcflow_nb.dashboard.figure_svg.figures_svg`, one x domain for all) with its
    legend strip. '' for a page without figures (e.g. the bad-``?source=`` page)."""
    from .figure_svg import figures_svg

    figures = getattr(page, "figures", None)
    if not figures:
        return ""
    legends = getattr(page, "legends", {}) or {}
    parts = ["<p class='btcflow-first-paint-note'>BTC flow dashboard &middot; "
             "interactive charts and controls are loading&hellip;</p>"]
    for key, svg in zip(figures, figures_svg(figures.values())):
        legend = legends.get(key)
        parts.append(f"<div class='btcflow-first-paint-panel btcflow-first-paint-{key}'>"
                     f"{legend.value if legend is not None else ''}{svg}</div>")
    return "".join(parts)


def _display_first_paint(page: W.Widget) -> None:
    from IPython.display import display

    markup = first_paint_html(page)
    if markup:
        display({FIRST_PAINT_MIME: markup}, raw=True)


def _app_page(query: str | None, **dashboard_kw) -> W.Widget:
    if query is not None or os.environ.get("VOILA_PREHEAT", "False") != "True":
        if query is None:
            query = os.environ.get("QUERY_STRING", "")
        return _page_for(query, **dashboard_kw)
    from voila.utils import get_query_string

    preheated = _page_for("", **dashboard_kw)        # the work done before any request
    query = get_query_string() or ""                  # blocks until a page is requested
    try:
        requested = source_from_query(query)
    except ValueError:
        return _page_for(query)
    if requested is None or requested == _environment_source():
        return preheated
    return _page_for(query, **dashboard_kw)


def _environment_source() -> str:
    """The source a page without ``?source=`` gets: ``$BTCFLOW_NB_SOURCE`` else auto."""
    from ..sources.load import ENV_SOURCE

    return (os.environ.get(ENV_SOURCE) or "auto").strip().lower()


def _page_for(query: str, **dashboard_kw) -> W.Widget:
    from ..sources.load import load
    from .flow import FlowDashboard

    try:
        source = source_from_query(query)
    except ValueError as exc:
        page = W.HTML(f"<h3>BTC flow dashboard</h3><p class='btcflow-app-error'>{exc}</p>")
        page.add_class("btcflow-app")
        return page
    md = load(source, progress=False)
    dash = FlowDashboard(md, **{"lazy_tabs": True, **dashboard_kw})
    dash.add_class("btcflow-app")
    dash.more_views = more_views(md, debounce_ms=dashboard_kw.get("debounce_ms", 150))
    dash.children = (*dash.children, dash.more_views)
    return dash


def main(argv: list[str] | None = None) -> int:
    """``python -m btcflow_nb.dashboard.app [notebook]``: serve the app (blocks)."""
    import subprocess

    argv = sys.argv[1:] if argv is None else argv
    notebook = argv[0] if argv else APP_NOTEBOOK
    return subprocess.call(voila_command(notebook))


if __name__ == "__main__":  # pragma: no cover - the Makefile's entry point
    raise SystemExit(main())
