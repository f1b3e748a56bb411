"""Issue 14 in Chromium, on the Voila app (`make dashboard`): hover fills the data window,
the log axis' ticks follow the scale both ways, wheel zoom / reset / visible-range counts,
legends off the data, no horizontal overflow at 1280 px, no notebook prose in the app.

The expectations come from ``bf.flow_metrics`` on the demo data (what the app loads offline).
"""
from __future__ import annotations

import math

import pytest

from _btcflow_dom import PANELS_DRAWN_JS, X_TICKS_JS, save_screenshot, wheel_zoom_in

import btcflow_nb as bf

pytestmark = pytest.mark.browser

PANEL_SELECTORS = [f".btcflow-flow-dashboard .btcflow-panel-{name}"
                   for name in ("price", "premium", "oi", "funding")]
TIMEOUT_MS = 60_000

# JS: a point over catcher bar ``row`` (first mark of a panel) where no other mark lies on it
# (the mouse must reach the catcher, not a marker or a line drawn over it), searched from the
# bottom up: bqplot shows its figure toolbar over the top right corner while the mouse is in.
CATCHER_POINT_JS = """
([sel, row]) => {
  const g = document.querySelector(sel + ' svg.svg-figure > g > g > g:first-child');
  const rects = [...g.querySelectorAll('rect.bar')];
  const r = rects[row].getBoundingClientRect();
  const x = r.x + r.width / 2;
  for (let y = r.y + r.height - 4; y > r.y + 4; y -= 3) {
    if (document.elementFromPoint(x, y) === rects[row]) return {x: x, y: y, n: rects.length};
  }
  return {x: x, y: null, n: rects.length};
}
"""
# JS: every value axis of a panel that is displayed: its tick labels and their y pixels.
VISIBLE_VALUE_AXES_JS = """
(sel) => [...document.querySelectorAll(sel + ' svg.svg-background g.axis')]
  .filter(a => a.getBoundingClientRect().height > 50 && a.checkVisibility())
  .map(a => [...a.querySelectorAll('g.tick')].map(t => ({
      text: t.textContent, y: t.getBoundingClientRect().y + t.getBoundingClientRect().height / 2})))
"""


@pytest.fixture(scope="module")
def app(voila_server, open_page):
    page = open_page()
    page.goto(voila_server.url + "/", timeout=120_000)
    page.wait_for_selector(".btcflow-flow-dashboard", timeout=120_000)
    page.wait_for_function(PANELS_DRAWN_JS, arg=PANEL_SELECTORS, timeout=120_000)
    yield page


@pytest.fixture(scope="module")
def weekly():
    return bf.flow_metrics(bf.load_demo(), "1W")


def _cursor(page, mode: str) -> None:
    page.locator(".btcflow-ctl-cursor button", has_text=mode).click()


def test_the_app_is_only_the_dashboard_with_a_title(app):
    assert app.title() == "BTC flow dashboard"
    text = app.locator("body").inner_text()
    assert "How the spot market" not in text            # notebook 01's prose
    assert "<MarketData" not in text and "MarketData(" not in text   # no raw reprs
    assert app.locator(".jp-MarkdownOutput, .jp-RenderedMarkdown").count() == 0
    assert app.locator(".btcflow-synthetic-badge").inner_text() == "synthetic demo data"
    save_screenshot(app, "charting-app-top")


def test_hover_at_a_known_bar_fills_the_data_window(app, weekly):
    row = int(weekly["bullish_onset"].to_numpy().nonzero()[0][-3])
    expected = weekly.iloc[row]
    date = f"{weekly.index[row]:%Y-%m-%d}"
    sel = ".btcflow-flow-dashboard .btcflow-panel-price"
    app.locator(sel).scroll_into_view_if_needed()
    point = app.evaluate(CATCHER_POINT_JS, [sel, row])
    assert point["n"] == len(weekly) and point["y"] is not None
    app.mouse.move(point["x"] - 40, point["y"])
    app.mouse.move(point["x"], point["y"], steps=4)
    app.wait_for_function("(d) => document.querySelector('.btcflow-data-window')"
                          ".textContent.includes('hovered ' + d)", arg=date, timeout=TIMEOUT_MS)
    window = app.locator(".btcflow-data-window").inner_text()
    assert f"${expected['spot']:,.2f}" in window
    assert f"${expected['perp_basket']:,.2f}" in window
    assert f"{expected['premium_pct']:+.4f} %" in window
    assert f"{expected['oi_z']:+.2f}" in window and f"{expected['funding']:+.4f}" in window
    assert "bullish" in window and "oi_z < bull_oi_z_max" in window   # why (bf.explain)
    # the crosshair is drawn in all four panels at that bar
    crosshair_x = app.evaluate(
        "() => [...document.querySelectorAll('.btcflow-flow-dashboard .bqplot.figure')]"
        ".map(f => { const gs = [...f.querySelectorAll('svg.svg-figure > g > g > g')]"
        ".filter(g => !g.classList.contains('g_legend')); const p = gs[gs.length - 1]"
        ".querySelector('path.line'); return p ? p.getBoundingClientRect().x : null; })")
    assert len(crosshair_x) == 4 and all(x is not None for x in crosshair_x)
    assert max(crosshair_x) - min(crosshair_x) < 2 and abs(crosshair_x[0] - point["x"]) < 3
    save_screenshot(app, "charting-hover-data-window")


def _value_ticks(page):
    [axis] = page.evaluate(VISIBLE_VALUE_AXES_JS, ".btcflow-flow-dashboard .btcflow-panel-price")
    return axis


def _number(text: str) -> float:
    text = text.replace(",", "").replace("\u2212", "-")
    scale = {"k": 1e3, "M": 1e6}.get(text[-1:], 1.0)
    return float(text.rstrip("kM")) * scale


def test_log_axis_ticks_follow_the_scale_both_ways(app):
    sel = ".btcflow-flow-dashboard .btcflow-panel-price"

    def linear_spacing_ok(axis):
        values = [_number(t["text"]) for t in axis]
        ys = [t["y"] for t in axis]
        steps, pixels = set(round(b - a) for a, b in zip(values, values[1:])), \
            [b - a for a, b in zip(ys, ys[1:])]
        return len(steps) == 1 and max(pixels) - min(pixels) < 2

    for _ in range(2):      # on, off, on, off: the ticks always belong to the scale drawn
        assert linear_spacing_ok(_value_ticks(app))
        app.locator(".btcflow-ctl-log input").check()
        app.wait_for_function(f"(js) => {{ const a = eval(js)('{sel}'); return a.length === 1"
                              " && a[0].some(t => t.text === '10k'); }",
                              arg=VISIBLE_VALUE_AXES_JS, timeout=TIMEOUT_MS)
        axis = _value_ticks(app)
        labels = [t["text"] for t in axis]
        assert {"5k", "10k", "20k", "50k"} <= set(labels), labels
        y = {t["text"]: t["y"] for t in axis}
        # log scale: equal ratios, equal distances (10k->20k == 5k->10k; 20k->50k = log 2.5)
        d1, d2, d3 = y["5k"] - y["10k"], y["10k"] - y["20k"], y["20k"] - y["50k"]
        assert abs(d1 - d2) < 1.5 and abs(d3 / d2 - math.log(2.5) / math.log(2)) < 0.05
        save_screenshot(app, "charting-log-axis")
        app.locator(".btcflow-ctl-log input").uncheck()
        app.wait_for_function(f"(js) => {{ const a = eval(js)('{sel}'); return a.length === 1"
                              " && !a[0].some(t => t.text === '10k'); }",
                              arg=VISIBLE_VALUE_AXES_JS, timeout=TIMEOUT_MS)


def _reset_zoom(app, sel, ticks_before, counts_before):
    """Click "reset zoom"; wait until panel ``sel``'s x ticks and the onset counts are back."""
    app.locator(".btcflow-flow-dashboard button", has_text="reset zoom").click()
    app.wait_for_function("([js, sel, t]) => eval(js)(sel) === t",
                          arg=[X_TICKS_JS, sel, ticks_before], timeout=TIMEOUT_MS)
    app.wait_for_function("(c) => document.querySelector('.btcflow-onset-counts')"
                          ".innerText === c", arg=counts_before, timeout=TIMEOUT_MS)


def test_wheel_zoom_moves_the_counts_and_reset_restores_everything(app):
    sel = ".btcflow-flow-dashboard .btcflow-panel-oi"
    onsets = app.locator(".btcflow-onset-counts")
    counts_before, ticks_before = onsets.inner_text(), app.evaluate(X_TICKS_JS, sel)
    _cursor(app, "pan/zoom")
    app.locator(sel).scroll_into_view_if_needed()
    wheel_zoom_in(app, sel, ticks_before, TIMEOUT_MS)
    # the zoom reached Python: the onset counts of the visible range went down
    app.wait_for_function("(c) => document.querySelector('.btcflow-onset-counts')"
                          ".innerText !== c", arg=counts_before, timeout=TIMEOUT_MS)
    save_screenshot(app, "charting-zoomed")
    _reset_zoom(app, sel, ticks_before, counts_before)
    _cursor(app, "crosshair")


# JS: the catcher bar (row) whose centre is nearest the middle of a panel's plot.
MIDDLE_CATCHER_JS = """
(sel) => {
  const g = document.querySelector(sel + ' svg.svg-figure > g > g > g:first-child');
  const rects = [...g.querySelectorAll('rect.bar')];
  const box = document.querySelector(sel + ' svg.svg-figure').getBoundingClientRect();
  const mid = box.x + box.width / 2;
  let best = 0;
  rects.forEach((r, i) => { const b = r.getBoundingClientRect(),
    c = rects[best].getBoundingClientRect();
    if (Math.abs(b.x + b.width / 2 - mid) < Math.abs(c.x + c.width / 2 - mid)) best = i; });
  return best;
}
"""


def test_wheel_zoom_and_hover_in_the_same_mode(app, weekly):
    """Crosshair mode: the wheel zooms (Python, from ipyevents) and hover still fills the
    data window, without switching to pan/zoom; reset restores the range."""
    sel = ".btcflow-flow-dashboard .btcflow-panel-oi"
    price = ".btcflow-flow-dashboard .btcflow-panel-price"
    onsets = app.locator(".btcflow-onset-counts")
    counts_before, ticks_before = onsets.inner_text(), app.evaluate(X_TICKS_JS, sel)
    assert app.locator(".btcflow-ctl-cursor button.mod-active").inner_text() == "crosshair"
    app.locator(sel).scroll_into_view_if_needed()
    scroll_before = app.evaluate("() => [window.scrollY, "
                                 "document.querySelector('.jp-WindowedPanel-outer, body')"
                                 ".scrollTop]")
    wheel_zoom_in(app, sel, ticks_before, TIMEOUT_MS)
    app.wait_for_function("(c) => document.querySelector('.btcflow-onset-counts')"
                          ".innerText !== c", arg=counts_before, timeout=TIMEOUT_MS)
    assert app.evaluate("() => [window.scrollY, document.querySelector("
                        "'.jp-WindowedPanel-outer, body').scrollTop]") == scroll_before
    # hover in the same mode, on the zoomed chart: the bar under the mouse fills the window
    app.locator(price).scroll_into_view_if_needed()
    # the zoom re-sends the catcher bars (re-decimated for the new range); a hover on a rect
    # that is being replaced can be lost, so the bar is looked up and hovered again (up to
    # three times) -- the values it must show are checked the same way every time
    for attempt in range(3):
        row = app.evaluate(MIDDLE_CATCHER_JS, price)
        point = app.evaluate(CATCHER_POINT_JS, [price, row])
        assert point["y"] is not None
        app.mouse.move(point["x"] - 3, point["y"])
        app.mouse.move(point["x"], point["y"], steps=2)
        date = f"{weekly.index[row]:%Y-%m-%d}"
        try:
            app.wait_for_function("(d) => document.querySelector('.btcflow-data-window')"
                                  ".textContent.includes('hovered ' + d)", arg=date,
                                  timeout=TIMEOUT_MS // 3)
            break
        except Exception:
            if attempt == 2:
                raise
            app.mouse.move(point["x"], point["y"] - 200)    # leave the bar, then come back
    assert f"${weekly['spot'].iloc[row]:,.2f}" in app.locator(".btcflow-data-window").inner_text()
    save_screenshot(app, "charting-zoomed-and-hovered")
    _reset_zoom(app, sel, ticks_before, counts_before)


# JS: the page boxes of the info panel and of the price and funding panels.
BOXES_JS = """
() => Object.fromEntries(['.btcflow-flow-dashboard .btcflow-info',
  '.btcflow-flow-dashboard .btcflow-panel-price',
  '.btcflow-flow-dashboard .btcflow-panel-funding'].map((s, i) => {
    const b = document.querySelector(s).getBoundingClientRect();
    return [['info', 'price', 'funding'][i],
            {left: b.left, right: b.right, top: b.top + window.scrollY,
             bottom: b.bottom + window.scrollY}]; }))
"""


@pytest.mark.parametrize("width", [1920, 1280])
def test_info_column_beside_the_charts_when_wide_below_when_narrow(app, width):
    app.set_viewport_size({"width": width, "height": 1100})
    try:
        def placed(b):
            if width >= 1600:   # right column, level with the charts
                return b["info"]["left"] >= b["price"]["right"] - 1 \
                    and b["info"]["top"] < b["price"]["bottom"]
            return b["info"]["top"] >= b["funding"]["bottom"] - 1 \
                and b["info"]["left"] < b["price"]["left"] + 50
        app.wait_for_function(f"() => {{ const b = ({BOXES_JS})(); return ("
                              + ("b.info.left >= b.price.right - 1" if width >= 1600
                                 else "b.info.top >= b.funding.bottom - 1") + "); }",
                              timeout=TIMEOUT_MS)
        app.wait_for_timeout(1500)    # bqplot redraws its figures after a resize
        boxes = app.evaluate(BOXES_JS)
        assert placed(boxes), boxes
        # the charts fit the page (no figure cut at the right edge)
        assert boxes["price"]["right"] <= width and boxes["funding"]["right"] <= width
        overflow = app.evaluate("() => document.documentElement.scrollWidth - "
                                "document.documentElement.clientWidth")
        assert overflow <= 0
        app.evaluate("() => window.scrollTo(0, 0)")
        save_screenshot(app, f"charting-layout-{width}")
    finally:
        app.set_viewport_size({"width": 1400, "height": 1000})   # conftest VIEWPORT


def test_legends_never_cover_a_plotted_point(app):
    boxes = app.evaluate("""() => {
      const r = e => { const b = e.getBoundingClientRect();
                       return [b.left, b.top, b.right, b.bottom]; };
      const legends = [...document.querySelectorAll('.btcflow-legend-strip, g.g_legend')]
        .filter(e => e.getBoundingClientRect().width > 0).map(r);
      const points = [...document.querySelectorAll('.btcflow-flow-dashboard path.dot, '
        + '.btcflow-flow-dashboard rect.bar')]
        .filter(e => getComputedStyle(e).opacity !== '0' && e.getBoundingClientRect().width > 0)
        .map(r);
      return {legends, points};
    }""")
    assert len(boxes["legends"]) >= 4 and len(boxes["points"]) > 100
    for lx0, ly0, lx1, ly1 in boxes["legends"]:
        for px0, py0, px1, py1 in boxes["points"]:
            assert px1 <= lx0 or px0 >= lx1 or py1 <= ly0 or py0 >= ly1, \
                ((lx0, ly0, lx1, ly1), (px0, py0, px1, py1))


def test_controls_fit_1280_px_without_horizontal_overflow(app):
    app.set_viewport_size({"width": 1280, "height": 1000})
    try:
        app.wait_for_timeout(800)
        # a tab's controls are laid out when it is first opened (lazy_tabs): wait for one
        for tab, control in (("view", "lookback"), ("thresholds", "oi-hot-z"),
                             ("extremes (exp.)", "cycle-k"), ("venues", "spot-venues")):
            app.locator(".btcflow-controls .lm-TabBar-tab", has_text=tab).first.click()
            app.locator(f".btcflow-controls .btcflow-ctl-{control}").first.wait_for(
                state="visible", timeout=60_000)
            app.wait_for_timeout(300)
            overflow = app.evaluate("() => document.documentElement.scrollWidth - "
                                    "document.documentElement.clientWidth")
            assert overflow <= 0, (tab, overflow)
        save_screenshot(app, "charting-1280px-venues")
        app.locator(".btcflow-controls .lm-TabBar-tab", has_text="view").first.click()
    finally:
        app.set_viewport_size({"width": 1400, "height": 1000})   # conftest VIEWPORT


def test_the_url_parameter_chooses_the_data_source(voila_server, open_page):
    """?source= reaches the kernel (Voila's $QUERY_STRING): a bad value names the choices."""
    page = open_page()
    page.goto(voila_server.url + "/?source=bogus", timeout=120_000)
    page.wait_for_selector(".btcflow-app-error", timeout=120_000)
    text = page.locator(".btcflow-app-error").inner_text()
    assert "'bogus' is not a data source" in text and "auto, cache, live, demo" in text
    page.goto(voila_server.url + "/?source=demo", timeout=120_000)
    page.wait_for_selector(".btcflow-flow-dashboard .btcflow-load-info", timeout=120_000)
    assert "loaded: demo" in page.locator(".btcflow-load-info").inner_text()
    page.close()
