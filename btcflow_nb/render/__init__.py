"""Execute notebooks and export them as HTML whose widget charts render without a kernel."""
from .export import (HTML_MANAGER_PACKAGE, HTML_MANAGER_VERSION, MATHJAX_PACKAGE,
                     MATHJAX_VERSION, REQUIREJS_PACKAGE, REQUIREJS_VERSION, WIDGET_JS_ENV,
                     WIDGET_STATE_MIME, RenderedNotebook, RenderError, WidgetAssets,
                     fetch_widget_js, find_widget_assets, main, render_notebooks)

__all__ = [
    "RenderError",
    "RenderedNotebook",
    "WidgetAssets",
    "find_widget_assets",
    "fetch_widget_js",
    "render_notebooks",
    "main",
]
