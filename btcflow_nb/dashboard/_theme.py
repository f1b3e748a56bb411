"""Colours that read on JupyterLab's light and dark themes, and the compact HTML legends.

Every series colour is a mid-tone: its WCAG contrast ratio is at least 3:1 (the WCAG 2.1
minimum for graphical objects, success criterion 1.4.11) against both the light theme's
background (white) and the dark theme's (``--jp-layout-color0`` = ``#111111``). The ratio is
``(L1 + 0.05) / (L2 + 0.05)`` of the two relative luminances
``L = 0.2126 R + 0.7152 G + 0.0722 B`` (linearised sRGB channels), as WCAG defines it.
A series drawn in black (the old spot line) has a ratio of 1.1 on the dark theme: invisible.

Legends are HTML strips above each panel (coloured swatch + label), never inside the plot
area, so they cannot cover data; their text takes the theme's font colour
(``--jp-ui-font-color1``) and falls back to dark grey outside JupyterLab.

Private module.
"""
from __future__ import annotations

import html

import ipywidgets as W

#: Backgrounds every series colour must stand out from: JupyterLab light and dark.
LIGHT_BACKGROUND = "#ffffff"
DARK_BACKGROUND = "#111111"
#: Least contrast ratio of a series colour against both backgrounds (WCAG 1.4.11).
MIN_CONTRAST = 3.0

#: Series colours (name -> hex), each readable on both themes (see the module docstring).
PALETTE = {
    "spot": "#d9730d",          # orange
    "perp": "#3b82c4",          # blue
    "green": "#2ca02c",
    "red": "#d62728",
    "grey": "#7f7f7f",
    "oi": "#a0674f",            # brown
    "funding": "#0e9aa7",       # teal
    "build": "#d4700f",         # amber
    "purple": "#9467bd",
    "navy": "#1f77b4",
    "magenta": "#c0399f",
    "olive": "#6b8e23",
    "crosshair": "#7f7f7f",
}

#: The page font of JupyterLab, for HTML the dashboards write. Family names unquoted (valid
#: CSS for names made of identifiers): it goes into single-quoted ``style='...'`` attributes,
#: which a quote inside would end, dropping every declaration after it.
FONT = "var(--jp-ui-font-family, system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif)"
TEXT = "var(--jp-ui-font-color1, #333333)"
MUTED = "var(--jp-ui-font-color2, #666666)"


def relative_luminance(color: str) -> float:
    """WCAG relative luminance of a ``#rrggbb`` colour (0 = black, 1 = white)."""
    value = color.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"color={color!r} is not #rrggbb")
    channels = [int(value[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours, 1 (none) to 21 (black on white)."""
    hi, lo = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


_LEGEND_BORDERS = {"line": "solid", "dashed": "dashed", "dotted": "dotted"}


def legend_html(items: list[tuple[str, str, str]]) -> str:
    """A one-line legend: ``items`` = (label, colour, style) with style ``line``, ``dashed``,
    ``dotted``, ``marker`` or ``band``."""
    parts = []
    for label, color, style in items:
        if style == "marker":
            swatch = (f"<span style='display:inline-block;width:8px;height:8px;"
                      f"border-radius:50%;background:{color}'></span>")
        elif style == "band":
            swatch = (f"<span style='display:inline-block;width:14px;height:9px;"
                      f"background:{color};opacity:0.35'></span>")
        elif style in _LEGEND_BORDERS:
            border = _LEGEND_BORDERS[style]
            swatch = (f"<span style='display:inline-block;width:16px;height:0;"
                      f"border-top:2px {border} {color};vertical-align:middle'></span>")
        else:
            raise ValueError(f"legend style={style!r} for {label!r} is not one of "
                             f"{[*_LEGEND_BORDERS, 'marker', 'band']}")
        parts.append(f"<span class='btcflow-legend-item' style='margin-right:12px;"
                     f"white-space:nowrap'>{swatch} {html.escape(label)}</span>")
    return (f"<div class='btcflow-legend' style='font-family:{FONT};font-size:11.5px;"
            f"color:{TEXT};line-height:16px'>" + "".join(parts) + "</div>")


def legend_widget(items: list[tuple[str, str, str]], css_class: str) -> W.HTML:
    """:func:`legend_html` in an HTML widget with DOM class ``css_class``."""
    widget = W.HTML(value=legend_html(items), layout=W.Layout(margin="0 0 0 60px"))
    widget.add_class("btcflow-legend-strip")
    widget.add_class(css_class)
    return widget


#: Page CSS of the dashboards (one ``<style>`` in an HTML widget, so it travels with them into
#: Voila and exported pages):
#: * filled areas (state bands, the OI coverage band) let the mouse through to the hover
#:   catcher under them, so the crosshair works over shaded bars too;
#: * the controls' rows wrap instead of overflowing (no horizontal scrollbar at 1280 px);
#: * text follows JupyterLab's font and colours (light and dark);
#: * :func:`charts_and_side`: the info panel and the alerts table in a right column beside
#:   the charts when the dashboard is at least :data:`SIDE_COLUMN_MIN_PX` wide (a CSS
#:   container query on the dashboard's own width, so a JupyterLab sidebar counts), below
#:   the charts, side by side, when it is narrower.
SIDE_COLUMN_MIN_PX = 1600
SIDE_COLUMN_WIDTH = "480px"
DASHBOARD_CSS = """
.btcflow-dashboard-root { container-type: inline-size; container-name: btcflow; }
.btcflow-body { flex-wrap: wrap; align-items: flex-start; width: 100%%; }
.btcflow-body > .btcflow-charts { flex: 1 1 100%%; min-width: 0; }
.btcflow-body > .btcflow-side { flex: 1 1 100%%; flex-direction: row; flex-wrap: wrap;
                                justify-content: space-between; }
@container btcflow (min-width: %(side_min)spx) {
  .btcflow-body { flex-wrap: nowrap; }
  .btcflow-body > .btcflow-charts { flex: 1 1 auto; }
  .btcflow-body > .btcflow-side { flex: 0 0 %(side_width)s; flex-direction: column;
                                  margin-left: 12px; }
  .btcflow-side > .btcflow-info { width: auto !important; }
  .btcflow-side > .btcflow-alerts { flex: 0 1 auto !important; max-height: 70vh !important; }
  .btcflow-side .btcflow-alerts-table td { white-space: normal !important; }
  .btcflow-side .btcflow-alerts-table td:first-child { white-space: nowrap !important; }
}
.btcflow-dashboard-root .bqplot path.area { pointer-events: none; }
.btcflow-dashboard-root { font-family: %(font)s; color: %(text)s; max-width: 100%%;
                          overflow-x: hidden; box-sizing: border-box; }
.btcflow-dashboard-root .widget-hbox { flex-wrap: wrap; }
.btcflow-dashboard-root .widget-tab { max-width: 100%%; }
.btcflow-dashboard-root .btcflow-alerts-table td:last-child { white-space: normal !important; }
""" % {"font": FONT, "text": TEXT, "side_min": SIDE_COLUMN_MIN_PX,
       "side_width": SIDE_COLUMN_WIDTH}


def style_widget() -> W.HTML:
    """An HTML widget holding :data:`DASHBOARD_CSS` (display it once inside the dashboard)."""
    widget = W.HTML(value=f"<style>{DASHBOARD_CSS}</style>",
                    layout=W.Layout(height="0px", margin="0", padding="0"))
    widget.add_class("btcflow-style")
    return widget


def charts_and_side(charts: list, side: list) -> W.HBox:
    """The charts (left) and ``side`` (info panel, alerts table): beside each other on a wide
    dashboard, the side below the charts on a narrow one (see :data:`DASHBOARD_CSS`). DOM
    classes ``btcflow-body``, ``btcflow-charts``, ``btcflow-side``."""
    left, right = W.VBox(charts), W.VBox(side)
    left.add_class("btcflow-charts")
    right.add_class("btcflow-side")
    body = W.HBox([left, right])
    body.add_class("btcflow-body")
    return body
