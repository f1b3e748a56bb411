"""The dashboards send each mark at most ~2 points per pixel of the visible range (8 years of
hourly bars), re-decimate on zoom and width changes, and keep the exact values in Python."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.dashboard import FlowDashboard, PremiumIndexPanel
from btcflow_nb.dashboard._viewport import DEFAULT_WIDTH_PX, assign_xy, viewport_of
from btcflow_nb.indicators.decimate import decimated_size_bound
from btcflow_nb.marketdata import MarketData

N_BARS = 70_128   # 8 years of hourly bars
SCATTERS = ("bullish", "bearish", "overleveraged", "cycle_top", "cycle_bottom", "open_bar",
            "alert_high", "alert_low")


def _hourly_market(n: int) -> MarketData:
    rng = np.random.default_rng(3)
    t = pd.date_range("2018-01-01", periods=n, freq="h", tz="UTC", name="time")
    price = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    spot = pd.DataFrame({"coinbase": price * (1 + rng.normal(0, 5e-4, n)),
                         "kraken": price * (1 + rng.normal(0, 5e-4, n))}, index=t)
    spot.iloc[1000:1010, 0] = np.nan
    perp = pd.DataFrame({"binance": price * (1 + rng.normal(0, 5e-4, n)),
                         "bybit": price * (1 + rng.normal(0, 5e-4, n))}, index=t)
    settle = t[t.hour % 8 == 0]
    funding = pd.concat([pd.DataFrame({"venue": v, "time": settle, "interval_hours": 8.0,
                                       "rate": rng.normal(1e-4, 5e-5, len(settle))})
                         for v in perp.columns], ignore_index=True)
    oi = pd.concat([pd.DataFrame({"venue": v, "time": t,
                                  "oi_btc": 5e4 * np.exp(np.cumsum(rng.normal(0, 2e-3, n))),
                                  "oi_usd": np.nan}) for v in perp.columns], ignore_index=True)
    oi["oi_usd"] = oi["oi_btc"] * np.tile(price, 2)
    return MarketData.from_frames(spot=spot, perp=perp, funding=funding, open_interest=oi)


@pytest.fixture(scope="module")
def dash():
    return FlowDashboard(_hourly_market(N_BARS), timeframe="1h", debounce_ms=0)


def _lines_and_bars(marks):
    return {k: m for k, m in marks.items() if k not in SCATTERS and not k.endswith("_state")
            and k != "oi_coverage"}


def test_every_mark_holds_at_most_two_points_per_pixel(dash):
    width = dash.viewport.width_px
    assert width == DEFAULT_WIDTH_PX   # bqplot does not report its width: the default
    assert len(dash.metrics) == N_BARS
    bound = decimated_size_bound(width)
    for name, mark in _lines_and_bars(dash.marks).items():
        assert len(mark.x) <= bound, f"{name} holds {len(mark.x)} points for {width} px"
    assert len(dash.marks["oi_z"].x) > width   # decimated, not emptied
    # the exact values stay in Python
    x, y, _ = dash.viewport.exact(dash.marks["oi_z"])
    np.testing.assert_array_equal(y, dash.metrics["oi_z"].to_numpy(dtype=float))
    assert len(x) == N_BARS


def test_extremes_and_bar_signs_survive(dash):
    m = dash.metrics
    oi = dash.marks["oi_z"]
    z = m["oi_z"].to_numpy(dtype=float)
    assert np.nanmax(oi.y) == np.nanmax(z) and np.nanmin(oi.y) == np.nanmin(z)
    bars = dash.marks["premium_bars"]
    prem = m["premium_pct"].to_numpy(dtype=float)
    assert len(bars.x) <= decimated_size_bound(dash.viewport.width_px)
    assert bars.y.max() == np.nanmax(prem) and bars.y.min() == np.nanmin(prem)
    np.testing.assert_array_equal(bars.color, (bars.y >= 0).astype(float))


def test_zoom_redecimates_to_the_exact_bars_in_view(dash):
    m = dash.metrics
    t = m.index.tz_convert(None)
    lo, hi = t[40_000], t[40_599]            # 600 hours: fewer than 2 per pixel
    try:
        dash.x_scale.min, dash.x_scale.max = lo.to_pydatetime(), hi.to_pydatetime()
        for key, col in (("oi_z", "oi_z"), ("funding", "funding"), ("spot", "spot")):
            mark = dash.marks[key]
            x = pd.DatetimeIndex(mark.x)
            inside = (x >= lo) & (x <= hi)
            np.testing.assert_array_equal(x[inside], t[40_000:40_600])
            np.testing.assert_array_equal(np.asarray(mark.y)[inside],
                                          m[col].to_numpy(dtype=float)[40_000:40_600])
            assert len(mark.x) <= 600 + decimated_size_bound(dash.viewport.width_px)
        # a control change keeps the zoom and decimates the new data to it
        dash.controls["lookback"].value = dash.controls["lookback"].value + 1
        x = pd.DatetimeIndex(dash.marks["oi_z"].x)
        assert ((x >= lo) & (x <= hi)).sum() == 600
    finally:
        dash.reset_zoom()
    assert len(dash.marks["oi_z"].x) <= decimated_size_bound(dash.viewport.width_px)


def test_width_change_redecimates(dash):
    try:
        dash.viewport.set_width(400)
        assert len(dash.marks["funding"].x) <= decimated_size_bound(400)
    finally:
        dash.viewport.set_width(DEFAULT_WIDTH_PX)
    assert len(dash.marks["funding"].x) > decimated_size_bound(400)
    with pytest.raises(ValueError, match="width_px"):
        dash.viewport.set_width(0)


def test_premium_panel_is_decimated_too():
    panel = PremiumIndexPanel(_hourly_market(20_000), timeframe="1h", debounce_ms=0)
    bound = decimated_size_bound(panel.viewport.width_px)
    for key in ("premium_bars", "bb_basis", "bb_upper", "bb_lower"):
        assert len(panel.marks[key].x) <= bound, key


def test_a_mark_without_viewport_gets_its_data_as_is():
    import bqplot as bq

    mark = bq.Lines(x=[], y=[], scales={"x": bq.LinearScale(), "y": bq.LinearScale()})
    assert viewport_of(mark) is None
    assign_xy(mark, np.arange(10_000.0), np.arange(10_000.0))
    assert len(mark.x) == 10_000


def test_explain_picker_lists_the_newest_onsets_only(dash):
    from btcflow_nb.dashboard._signal_layer import MAX_ONSET_OPTIONS, ONSET_KINDS, onset_options

    m = dash.metrics
    opts = onset_options(m, "1h")
    onset_rows = m.index[m[list(ONSET_KINDS)].to_numpy(dtype=bool).any(axis=1)]
    assert len(onset_rows) > MAX_ONSET_OPTIONS           # 8 years of hourly bars: thousands
    assert [t for _, t in opts] == list(onset_rows[::-1][:MAX_ONSET_OPTIONS])
    label, t = opts[0]
    want = ", ".join(v.split(" (")[0] for k, v in ONSET_KINDS.items() if m.loc[t, k])
    assert label.startswith(f"{t:%Y-%m-%d %H:%M} · {want}")


def test_onset_markers_one_per_pixel_column_exact_onsets_kept(dash):
    from btcflow_nb.indicators.decimate import first_per_bucket

    m = dash.metrics
    mark = dash.marks["bullish"]
    x, _, per_point = dash.viewport.exact(mark)
    onsets = m.index[m["bullish_onset"].to_numpy(dtype=bool)].tz_convert(None)
    assert len(x) == len(onsets) > dash.viewport.width_px // 4   # every onset, exactly
    drawn = pd.DatetimeIndex(mark.x)
    assert set(drawn) <= set(onsets) and len(drawn) <= dash.viewport.width_px + 1
    assert len(mark.opacities) == len(drawn) and len(per_point["opacities"]) == len(x)
    assert first_per_bucket(np.arange(5.0), 5).tolist() == [0, 1, 2, 3, 4]


def _hover_catcher(dash, drawn: int) -> None:
    """What bqplot's front end sends when the mouse enters catcher bar ``drawn``."""
    dash.crosshair.catchers["price"]._handle_custom_msgs(
        None, {"event": "hover", "point": {"index": drawn, "x": 0, "y": 1}})


def test_hover_catchers_one_per_pixel_column_and_hover_maps_to_the_exact_bar(dash):
    width = dash.viewport.width_px
    t = dash.metrics.index.tz_convert(None).to_numpy()
    for catcher in dash.crosshair.catchers.values():
        assert width // 2 < len(catcher.x) <= width + 2, len(catcher.x)  # not 70k rects
    catcher = dash.crosshair.catchers["price"]
    drawn = len(catcher.x) // 2
    _hover_catcher(dash, drawn)
    row = int(np.searchsorted(t, np.asarray(catcher.x)[drawn]))
    assert t[row] == np.asarray(catcher.x)[drawn] and dash.crosshair.row == row
    assert f"hovered {pd.Timestamp(t[row]):%Y-%m-%d %H:%M}" in dash.data_window.value
    # zoomed in to 600 hours: every bar has its own catcher, hover is exact bar by bar
    lo, hi = pd.Timestamp(t[40_000]), pd.Timestamp(t[40_599])
    try:
        dash.x_scale.min, dash.x_scale.max = lo.to_pydatetime(), hi.to_pydatetime()
        x = np.asarray(catcher.x)
        assert len(x) == 602 and x[1] == t[40_000] and x[-2] == t[40_599]
        _hover_catcher(dash, 11)
        assert dash.crosshair.row == 40_010
        assert f"hovered {pd.Timestamp(t[40_010]):%Y-%m-%d %H:%M}" in dash.data_window.value
    finally:
        dash.reset_zoom()


def test_a_lookback_change_resends_only_the_marks_whose_data_changed(dash):
    """A lookback moves the z-scores, not the prices: the price, premium, funding, coverage
    and hover marks are not re-sent (a NaN-holding line used to be: NaN != NaN), and each
    panel title is set at most once (the funding title flip-flopped through its base)."""
    still = ["spot", "perp_basket", "premium_bars", "funding", "funding_zero", "oi_coverage"]
    marks = {k: dash.marks[k] for k in still}
    marks.update({f"catcher {k}": c for k, c in dash.crosshair.catchers.items()})
    assert np.isnan(np.asarray(dash.marks["funding"].y, dtype=float)).any()   # the NaN case
    changed, titles = [], []
    watchers = [(mark, lambda c, name=name: changed.append((name, c["name"])),
                 ["x", "y", "color"]) for name, mark in marks.items()]
    watchers += [(fig, lambda c, key=key: titles.append(key), ["title"])
                 for key, fig in dash.figures.items()]
    for widget, handler, names in watchers:
        widget.observe(handler, names)
    z_before = np.asarray(dash.marks["oi_z"].y).copy()
    try:
        dash.controls["lookback"].value = dash.controls["lookback"].value - 1
        assert changed == []
        assert titles == []
        assert not np.array_equal(np.asarray(dash.marks["oi_z"].y), z_before, equal_nan=True)
    finally:
        for widget, handler, names in watchers:
            widget.unobserve(handler, names)
        dash.controls["lookback"].value = dash.controls["lookback"].value + 1


def test_a_mark_set_behind_the_viewport_s_back_is_drawn_again():
    """The skip of unchanged data trusts only what the mark still holds: data set on the
    mark directly is replaced by the next assign_xy of the same exact data."""
    import bqplot as bq

    from btcflow_nb.dashboard._viewport import Viewport

    xs = bq.DateScale()
    viewport = Viewport(xs, width_px=10)
    line = bq.Lines(x=[], y=[], scales={"x": xs, "y": bq.LinearScale()})
    t = np.datetime64("2024-01-01") + np.arange(100) * np.timedelta64(1, "h")
    y = np.where(np.arange(100) % 7 == 0, np.nan, np.arange(100.0))
    assign_xy(line, t, y)
    sent = line.x
    assign_xy(line, t, y.copy())
    assert line.x is sent                       # same data: nothing set, nothing sent
    line.x, line.y = t[:3], y[:3]
    assign_xy(line, t, y)
    assert len(line.x) == len(sent) and viewport.exact(line)[1] is not None


def test_a_control_change_sends_every_mark_in_one_burst(dash, monkeypatch):
    """The marks' changes are held until every mark is set, then sent together: the browser
    redraws the panels in one frame or two, not one frame per mark as the kernel goes."""
    from ipywidgets import Widget

    log = []
    monkeypatch.setattr(Widget, "_send",
                        lambda self, msg, buffers=None: log.append(self.model_id))
    real = dash._render_marks

    def render_marks(*args):
        out = real(*args)
        log.append("all marks set")
        return out

    monkeypatch.setattr(dash, "_render_marks", render_marks)
    ids = {w.model_id for w in (*dash.marks.values(), *dash.figures.values())}
    dash.controls["lookback"].value = dash.controls["lookback"].value - 1
    dash.controls["lookback"].value = dash.controls["lookback"].value + 1
    assert log.count("all marks set") == 2
    first_end = log.index("all marks set")
    sent = [i for i, mid in enumerate(log) if mid in ids]
    assert sent and dash.marks["oi_z"].model_id in log[:first_end + 10]
    assert not [i for i in sent if i < first_end], "a mark was sent before all were set"


def test_a_zoom_sends_the_redecimated_marks_in_one_burst(dash, monkeypatch):
    from ipywidgets import Widget

    log = []
    monkeypatch.setattr(Widget, "_send",
                        lambda self, msg, buffers=None: log.append(self.model_id))
    real = dash.viewport._draw
    monkeypatch.setattr(dash.viewport, "_draw", lambda e: (real(e), log.append("drawn")))
    t = dash.metrics.index.tz_convert(None)
    ids = {m.model_id for m in dash.marks.values()}
    try:
        with dash.x_scale.hold_trait_notifications():   # as a zoom from the browser arrives
            dash.x_scale.min = t[30_000].to_pydatetime()
            dash.x_scale.max = t[50_000].to_pydatetime()
        last_draw = len(log) - 1 - log[::-1].index("drawn")
        sent = [i for i, mid in enumerate(log) if mid in ids]
        assert sent and min(sent) > last_draw     # every mark drawn before any is sent
    finally:
        dash.reset_zoom()
