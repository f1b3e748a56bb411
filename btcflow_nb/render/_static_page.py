"""What makes an exported page say it is a static snapshot (issue 14).

An exported notebook draws its charts from the stored widget state with no kernel: pan and
zoom work (bqplot's client-side PanZoom: `render` runs the notebooks with `STATIC_EXPORT_ENV`
set, so the dashboards start in pan/zoom mode), tabs switch; but a control
that recomputes something (a slider, a dropdown, a checkbox) needs a kernel and does nothing.
So every exported page gets

* a notice at the top: "Static snapshot … pan and zoom work; the controls need a running
  kernel (open the notebook in JupyterLab or run `make dashboard`)";
* its controls shown disabled: dimmed, ``pointer-events: none`` (CSS, from the first paint)
  and the ``disabled`` attribute set on their inputs, selects and buttons once the widgets
  are drawn (a MutationObserver; tab bars and the charts stay live);
* links to other notebooks rewritten to the exported pages (``02_premium_index.ipynb`` ->
  ``02_premium_index.html``): a static site has no ``.ipynb`` viewer;
* JupyterLab's sans-serif UI font for the text.

Private module of :mod:`btcflow_nb.render`.
"""
from __future__ import annotations

import re

#: JupyterLab's UI font stack (``--jp-ui-font-family`` of its light theme), family names
#: unquoted (valid CSS): it goes into a single-quoted ``style='...'`` attribute too.
JUPYTERLAB_FONT = ("system-ui, -apple-system, blinkmacsystemfont, Segoe UI, helvetica, "
                   "arial, sans-serif, Apple Color Emoji, Segoe UI Emoji, Segoe UI Symbol")

#: Set in the kernels `render` executes notebooks in: the dashboards then start with bqplot's
#: own pan/zoom (``dashboard._crosshair`` reads the same name), the one interaction that works
#: in a page without a kernel.
STATIC_EXPORT_ENV = "BTCFLOW_NB_STATIC_EXPORT"

NOTICE_HTML = (
    "<div class='btcflow-static-notice' role='note' style='position:sticky;top:0;z-index:1000;"
    "background:#fff8e1;color:#3d3000;border-bottom:1px solid #e0c060;padding:8px 16px;"
    f"font-family:{JUPYTERLAB_FONT};font-size:13.5px'>"
    "<b>Static snapshot</b> of an executed notebook: pan (drag) and zoom (wheel) the charts; "
    "the data window, hover values and the controls are shown without effect or disabled "
    "because they need a running kernel — open the notebook in JupyterLab, or run "
    "<code>make dashboard</code> for the live app.</div>")

# Widget controls (not the bqplot charts, not the tab bars) are dimmed and take no input.
_CONTROL_SELECTOR = ", ".join(
    c for c in (
        ".widget-slider", ".widget-dropdown", ".widget-checkbox", ".widget-toggle-button",
        ".widget-toggle-buttons", ".widget-button", ".widget-text", ".widget-datepicker",
        ".widget-select-multiple", ".widget-inline-hbox.widget-text"))
STATIC_CSS = f"""
body, .jp-Notebook, .jp-RenderedHTMLCommon {{ font-family: {JUPYTERLAB_FONT}; }}
{_CONTROL_SELECTOR} {{ opacity: 0.55; pointer-events: none; cursor: not-allowed; }}
"""

# Once the widget manager has drawn the views: set `disabled` on the controls' form elements,
# so that they are disabled for the keyboard and assistive technology too.
DISABLE_SCRIPT = """
(function () {
  var selector = %s;
  function disable(root) {
    root.querySelectorAll(selector).forEach(function (control) {
      control.setAttribute('aria-disabled', 'true');
      control.classList.add('btcflow-static-disabled');
      control.querySelectorAll('input, select, button, textarea').forEach(function (el) {
        el.disabled = true;
      });
      if (/^(INPUT|SELECT|BUTTON)$/.test(control.tagName)) { control.disabled = true; }
    });
  }
  function start() {
    disable(document);
    new MutationObserver(function () { disable(document); })
      .observe(document.body, {childList: true, subtree: true});
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else { start(); }
}());
""" % repr(_CONTROL_SELECTOR).replace("'", '"')

_NOTEBOOK_LINK = re.compile(r'href="(?![a-z][a-z0-9+.-]*:|/)([^"#?]+)\.ipynb(#[^"]*)?"', re.I)


def html_links(page: str) -> str:
    """Relative links to notebooks (``href="02_x.ipynb#part"``) pointed at the exported pages
    (``href="02_x.html#part"``); absolute and other links unchanged."""
    return _NOTEBOOK_LINK.sub(lambda m: f'href="{m.group(1)}.html{m.group(2) or ""}"', page)


def head_html() -> str:
    """The <style> and <script> the exported page's head gets."""
    return f"<style>{STATIC_CSS}</style>\n<script>{DISABLE_SCRIPT}</script>"
