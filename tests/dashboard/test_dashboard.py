"""FlowDashboard driven without a browser: set each control, check marks, info and alerts.

Every expectation is computed independently with ``flow_metrics`` (explicit keywords, not the
dashboard's own ``params()``), so a control wired to the wrong keyword fails here.
"""
from __future__ import annotations

import inspect

import bqplot as bq
import ipywidgets as W
import numpy as np
import pandas as pd
import pytest

import btcflow_nb as bf
from btcflow_nb import metrics as metrics_module
from btcflow_nb.dashboard import FlowDashboard, PremiumIndexPanel
from btcflow_nb.dashboard.flow import ALERT_KINDS, SIGNAL_MARKERS
from btcflow_nb.marketdata import MarketData

GREEN, RED = "#2ca02c", "#d62728"


@pytest.fixture(scope="module")
def md(demo):
    return demo  # the shared session fixture (tests/conftest.py); never mutated here


@pytest.fixture
def dash(md):
    return FlowDashboard(md, timeframe="1D", debounce_ms=0)


def _times(index) -> np.ndarray:
    return pd.DatetimeIndex(index).tz_convert(None).to_numpy().astype("datetime64[ns]")


def _mark_times(mark) -> np.ndarray:
    return np.asarray(mark.x).astype("datetime64[ns]")


def assert_marks_match(dash: FlowDashboard, m: pd.DataFrame) -> None:
    """The four panels, the info panel and the alerts table show exactly ``m``."""
    mk = dash.marks
    t = _times(m.index)
    for key, col in (("spot", "spot"), ("perp_basket", "perp_basket"), ("oi_z", "oi_z"),
                     ("funding", "funding")):
        np.testing.assert_array_equal(_mark_times(mk[key]), t, err_msg=key)
        np.testing.assert_array_equal(np.asarray(mk[key].y, dtype=float),
                                      m[col].to_numpy(dtype=float), err_msg=key)
    pct = m["premium_pct"].to_numpy(dtype=float)
    ok = np.isfinite(pct)
    # the exact bars stay in Python; the browser gets those a pixel column shows (one per
    # column and sign, decimate.bar_indices): each one an exact bar
    x_exact, y_exact, _ = dash.viewport.exact(mk["premium_bars"])
    np.testing.assert_array_equal(np.asarray(x_exact).astype("datetime64[ns]"), t[ok])
    np.testing.assert_array_equal(np.asarray(y_exact, dtype=float), pct[ok])
    drawn = np.searchsorted(t[ok], _mark_times(mk["premium_bars"]))
    np.testing.assert_array_equal(t[ok][drawn], _mark_times(mk["premium_bars"]))
    np.testing.assert_array_equal(np.asarray(mk["premium_bars"].y, dtype=float), pct[ok][drawn])
    assert_sign_colours(mk["premium_bars"], pct[ok][drawn])
    spot = m["spot"].to_numpy(dtype=float)
    anchor = np.where(np.isfinite(spot), spot, m["perp_basket"].to_numpy(dtype=float))
    for key in SIGNAL_MARKERS:   # issue 12: one marker per onset; the state is a band
        mask = m[f"{key}_onset"].to_numpy(dtype=bool) & np.isfinite(anchor)
        np.testing.assert_array_equal(_mark_times(mk[key]), t[mask], err_msg=key)
        np.testing.assert_array_equal(np.asarray(mk[key].y, dtype=float), anchor[mask])
        band = mk[f"{key}_state"]
        if dash.show_states.value:
            np.testing.assert_array_equal(band_covers(band, t), m[key].to_numpy(dtype=bool),
                                          err_msg=key)
        else:   # hidden bands carry no data (a browser would draw it anyway)
            assert len(band.x) == 0
        assert band.visible == (dash.show_states.value and bool(m[key].any()))
    # info panel: latest values ("n/a" where a metric has no data)
    info = dash.info.value
    for col, fmt in (("spot", "${:,.2f}"), ("perp_basket", "${:,.2f}"),
                     ("premium_pct", "{:+.4f} %"), ("oi_z", "{:+.2f}"), ("funding", "{:+.4f}")):
        s = m[col].dropna()
        assert (fmt.format(s.iloc[-1]) if len(s) else "n/a") in info, col
    last = m.iloc[-1]
    active = [label for k, label in ALERT_KINDS.items() if bool(last[k])]
    assert (", ".join(active) if active else "none") in info
    # alerts table: every onset of the range on closed bars, counted (issue 12)
    onset_cols = [f"{k}_onset" for k in ALERT_KINDS]
    closed = m.loc[~m["open_bar"].to_numpy(dtype=bool)]
    n_alerts = int(closed[onset_cols].to_numpy(dtype=bool).sum())
    if n_alerts:
        assert f"{n_alerts} signal onsets in the visible range" in dash.alerts.value
        newest = closed.index[closed[onset_cols].any(axis=1)][-1]
        assert newest.strftime("%Y-%m-%d") in dash.alerts.value
    else:
        assert "no signal onsets in the visible range" in dash.alerts.value
    assert dash.onset_counts() == {k: int(closed[f"{k}_onset"].sum()) for k in ALERT_KINDS}


def band_covers(band, t: np.ndarray) -> np.ndarray:
    """Which bar times ``t`` a state band shades: its points are (start, 1), (end, 1),
    (end, NaN) per run, and a run covers ``start <= t < end``."""
    x = _mark_times(band).reshape(-1, 3)
    y = np.asarray(band.y, dtype=float).reshape(-1, 3)
    assert (y[:, :2] == 1.0).all() and np.isnan(y[:, 2]).all() and (x[:, 1] == x[:, 2]).all()
    assert (x[1:, 0] >= x[:-1, 1]).all()                 # runs in order, never overlapping
    return ((t[:, None] >= x[None, :, 0]) & (t[:, None] < x[None, :, 1])).any(axis=1)


def assert_sign_colours(bars, values) -> None:
    """Green bars where the value is >= 0, red below: per-bar colour data through a ColorScale."""
    np.testing.assert_array_equal(np.asarray(bars.color, dtype=float),
                                  (values >= 0).astype(float))
    scale = bars.scales["color"]
    assert isinstance(scale, bq.ColorScale)
    assert list(scale.colors) == [RED, GREEN] and (scale.min, scale.max) == (0.0, 1.0)


def _object_ids(dash):
    return ({k: id(f) for k, f in dash.figures.items()}, {k: id(m) for k, m in dash.marks.items()},
            {k: [id(m) for m in f.marks] for k, f in dash.figures.items()})


# ------------------------------------------------------------------------ structure
def test_structure_dom_hooks_and_shared_date_scale(dash):
    assert isinstance(dash, W.VBox)
    assert "btcflow-flow-dashboard" in dash._dom_classes
    assert [dash.figures[k]._dom_classes[0] for k in ("price", "premium", "oi", "funding")] == [
        "btcflow-panel-price", "btcflow-panel-premium", "btcflow-panel-oi",
        "btcflow-panel-funding"]
    # cursor "crosshair" (default): no interaction layer, the marks see the mouse (issue 14);
    # "pan/zoom": every panel has its PanZoom on the shared x scale
    assert dash.crosshair.mode.value == "crosshair"
    assert all(fig.interaction is None for fig in dash.figures.values())
    dash.crosshair.mode.value = "pan/zoom"
    for fig in dash.figures.values():
        assert isinstance(fig, bq.Figure)
        assert isinstance(fig.interaction, bq.PanZoom)
        assert fig.interaction.scales["x"] == [dash.x_scale]
        assert fig.axes[0].scale is dash.x_scale
        for mark in fig.marks:
            assert mark.scales["x"] is dash.x_scale
    assert isinstance(dash.x_scale, bq.DateScale)
    assert isinstance(dash.marks["oi_z"], bq.Lines) and dash.marks["oi_z"] in dash.figures["oi"].marks
    assert isinstance(dash.marks["premium_bars"], bq.Bars)
    for key in ("spot", "perp_basket", "premium_bars", "oi_z", "funding", *SIGNAL_MARKERS):
        assert isinstance(dash.marks[key].tooltip, bq.Tooltip), key
    c = dash.controls
    assert isinstance(c["lookback"], W.IntSlider) and "btcflow-ctl-lookback" in c["lookback"]._dom_classes
    assert "btcflow-ctl-apr" in c["apr"]._dom_classes
    assert isinstance(c["timeframe"], W.Dropdown)
    assert "btcflow-ctl-timeframe" in c["timeframe"]._dom_classes
    # every flow_metrics keyword control; date_range stands for start/end
    for name, ctl in c.items():
        assert f"btcflow-ctl-{name.replace('_', '-')}" in ctl._dom_classes, name
    # max_gap (the basket gap limit, issue 12) has no control yet
    # the premium legs and unit (issue 16) are PremiumIndexPanel's controls
    keywords = set(inspect.signature(bf.flow_metrics).parameters) - {
        "md", "max_gap", "spot_leg", "futures_leg", "premium_unit"}
    assert set(c) - {"date_range"} | {"start", "end"} == keywords  # one control per keyword
    assert "experimental" in c["extremes"].description
    # venue pickers toggle with one click each (issue 14: SelectMultiple needed Ctrl-click)
    picker = c["spot_venues"]
    assert [b.description for b in picker._buttons] == list(picker.options)
    picker._buttons[0].value = False
    assert picker.value == tuple(picker.options[1:])
    picker._buttons[0].value = True
    assert picker.value == tuple(picker.options)
    assert "btcflow-errors" in dash.errors._dom_classes and dash.errors in dash.children


def test_timeframes_offered_follow_the_resolution(md):
    assert FlowDashboard(md, timeframe="1D", debounce_ms=0).controls["timeframe"].options == (
        "1D", "3D", "1W", "1M")
    idx = pd.date_range("2025-01-01", periods=24 * 40, freq="h", tz="UTC", name="time")
    px = pd.DataFrame({"coinbase": np.linspace(90000, 95000, len(idx))}, index=idx)
    hourly = MarketData.from_frames(spot=px, perp=px.rename(columns={"coinbase": "bybit"}) * 1.001)
    d = FlowDashboard(hourly, timeframe="4h", debounce_ms=0)
    assert d.controls["timeframe"].options == ("1h", "4h", "1D", "3D", "1W", "1M")
    assert d.errors.outputs == ()
    assert_marks_match(d, bf.flow_metrics(hourly, "4h"))
    with pytest.raises(ValueError, match="1h"):
        FlowDashboard(md, timeframe="1h")


def test_initial_state_equals_flow_metrics_defaults(md, dash):
    expected = bf.flow_metrics(md, "1D")
    pd.testing.assert_frame_equal(dash.metrics, expected)
    assert_marks_match(dash, expected)
    assert dash.errors.outputs == () and dash.status.value == ""
    assert repr(dash) == "FlowDashboard(source='demo', timeframe='1D', bars=2922)"
    colours = np.asarray(dash.marks["premium_bars"].color)
    assert (colours == 1.0).any() and (colours == 0.0).any()  # both green and red bars occur


# ------------------------------------------------------------------------ every control
SPOT2 = ["coinbase", "kraken"]
PERP2 = ["bybit", "deribit"]
CASES = [
    # (control, value, flow_metrics keywords, columns that must change)
    ("timeframe", "1W", {"timeframe": "1W"}, ["spot"]),
    ("timeframe", "3D", {"timeframe": "3D"}, ["spot"]),
    ("timeframe", "1M", {"timeframe": "1M"}, ["spot"]),
    ("lookback", 20, {"lookback": 20}, ["oi_z", "premium_z", "funding_z"]),
    ("funding_smoothing", 7, {"funding_smoothing": 7}, ["funding"]),
    ("apr", True, {"apr": True}, ["funding"]),
    ("premium_min", 0.05, {"premium_min": 0.05}, ["bullish", "bearish"]),
    ("trend_length", 30, {"trend_length": 30}, ["bullish"]),
    ("oi_build_z", 0.2, {"oi_build_z": 0.2}, ["bearish"]),
    ("oi_hot_z", 1.0, {"oi_hot_z": 1.0}, ["overleveraged"]),
    ("funding_hot", 0.01, {"funding_hot": 0.01}, ["overleveraged"]),
    ("bull_oi_z_max", 0.0, {"bull_oi_z_max": 0.0}, ["bullish"]),
    ("bull_funding_max", 0.01, {"bull_funding_max": 0.01}, ["bullish"]),
    ("bb_length", 40, {"bb_length": 40}, ["bb_basis", "alert_premium_high"]),
    ("bb_mult", 1.5, {"bb_mult": 1.5}, ["bb_upper", "alert_premium_low"]),
    ("cycle_k", 1.2, {"cycle_k": 1.2}, ["cycle_top", "cycle_bottom"]),
    ("cycle_m", 1, {"cycle_m": 1}, ["cycle_top", "cycle_bottom"]),
    ("extremes", False, {"extremes": False}, ["cycle_top", "cycle_bottom"]),
    ("spot_venues", tuple(SPOT2), {"spot_venues": SPOT2}, ["spot"]),
    ("perp_venues", tuple(PERP2), {"perp_venues": PERP2}, ["perp_basket", "oi_total"]),
    ("weighting", "oi", {"weighting": "oi"}, ["perp_basket", "funding"]),
    ("futures", "okx", {"futures": "okx"}, ["premium_abs"]),
    ("oi_unit", "usd", {"oi_unit": "usd"}, ["oi_total"]),
]


@pytest.mark.parametrize("name,value,kwargs,changed", CASES,
                         ids=[f"{c[0]}={c[1]}" for c in CASES])
def test_each_control_updates_marks_to_flow_metrics(md, dash, name, value, kwargs, changed):
    before = dash.metrics.copy()
    ids = _object_ids(dash)
    dash.controls[name].value = value
    assert dash.errors.outputs == () and dash.status.value == ""
    expected = bf.flow_metrics(md, **{"timeframe": "1D", **kwargs})
    pd.testing.assert_frame_equal(dash.metrics, expected)
    assert_marks_match(dash, expected)
    for col in changed:  # the setting really changed what is drawn (the test can fail)
        same_shape = len(before) == len(expected)
        assert not (same_shape and before[col].equals(expected[col])), col
    assert _object_ids(dash) == ids  # updated in place, never rebuilt


def test_threshold_lines_follow_their_controls(dash):
    mk = dash.marks
    dash.controls["oi_hot_z"].value = 2.5
    dash.controls["oi_build_z"].value = 0.7
    dash.controls["cycle_k"].value = 1.7
    assert list(mk["oi_hot"].y) == [2.5, 2.5] and list(mk["oi_build"].y) == [0.7, 0.7]
    assert list(mk["oi_cycle_high"].y) == [1.7, 1.7] and list(mk["oi_cycle_low"].y) == [-1.7, -1.7]
    assert mk["oi_cycle_high"].visible and mk["oi_cycle_low"].visible
    dash.controls["extremes"].value = False
    assert not mk["oi_cycle_high"].visible and not mk["oi_cycle_low"].visible
    assert len(mk["cycle_top"].x) == 0 and len(mk["cycle_bottom"].x) == 0
    # funding hot line is % per 8h, shown in the display unit
    dash.controls["funding_hot"].value = 0.02
    assert list(mk["funding_hot"].y) == [0.02, 0.02]
    assert list(mk["funding_zero"].y) == [0.0, 0.0] and list(mk["premium_zero"].y) == [0.0, 0.0]
    dash.controls["apr"].value = True
    np.testing.assert_allclose(mk["funding_hot"].y, [0.02 * 1095] * 2)


def _state_times(dash, key) -> set:
    dash.show_states.value = True
    t = _mark_times(dash.marks["spot"])
    return set(t[band_covers(dash.marks[f"{key}_state"], t)].tolist())


def test_raising_a_threshold_only_removes_states_and_never_adds_a_new_onset(dash):
    """States (bands) shrink; an onset of the stricter signal lies inside a run of the looser
    one (a run split in two gains an onset inside it: signals.py, "Monotonicity")."""
    for name, key, higher in (("oi_hot_z", "overleveraged", 2.8), ("premium_min", "bullish", 0.04),
                              ("cycle_k", "cycle_top", 2.6)):
        states_before = _state_times(dash, key)
        onsets_before = set(_mark_times(dash.marks[key]).tolist())
        dash.controls[name].value = higher
        assert _state_times(dash, key) < states_before, name
        onsets_after = set(_mark_times(dash.marks[key]).tolist())
        assert onsets_after and onsets_after <= states_before, name
        assert onsets_after != onsets_before, name


def test_apr_toggle_changes_axis_label_and_units(md, dash):
    axis = dash.figures["funding"].axes[1]
    assert "8h" in axis.label and "APR" not in axis.label
    f8 = dash.marks["funding"].y.copy()
    dash.controls["apr"].value = True
    assert "APR" in axis.label
    np.testing.assert_allclose(dash.marks["funding"].y, f8 * 1095, rtol=1e-12)
    assert "% APR" in dash.info.value
    dash.controls["apr"].value = False
    assert "8h" in axis.label and "% per 8h" in dash.info.value


def test_date_range_cuts_marks_and_alerts(md, dash):
    rng = dash.controls["date_range"]
    lo, hi = 400, 900
    rng.index = (lo, hi)
    start, end = rng.options[lo][1], rng.options[hi][1]
    assert dash.params()["start"] == start and dash.params()["end"] == end
    assert dash.range_label.value == f"{start:%Y-%m-%d} → {end:%Y-%m-%d}"
    expected = bf.flow_metrics(md, "1D", start=start, end=end)
    assert expected.index[0] == start and expected.index[-1] == end
    assert_marks_match(dash, expected)
    rng.index = (0, len(rng.options) - 1)
    assert dash.params()["start"] is None and dash.params()["end"] is None
    assert_marks_match(dash, bf.flow_metrics(md, "1D"))


def test_pan_zoom_window_filters_the_alerts_table(md, dash):
    full = bf.flow_metrics(md, "1D")
    lo, hi = pd.Timestamp("2021-01-01", tz="UTC"), pd.Timestamp("2021-03-31", tz="UTC")
    dash.x_scale.min = lo.tz_convert(None).to_pydatetime()
    dash.x_scale.max = hi.tz_convert(None).to_pydatetime()
    onset_cols = [f"{k}_onset" for k in ALERT_KINDS]
    window = full.loc[lo:hi, onset_cols]
    n = int(window.to_numpy().sum())
    assert n > 0
    assert f"{n} signal onsets in the visible range" in dash.alerts.value
    times = {t for t, _, _ in dash.alert_rows()}
    assert min(times) >= lo and max(times) <= hi
    dash.reset_zoom()
    assert f"{int(full[onset_cols].to_numpy().sum())} signal onsets" in dash.alerts.value


def test_log_scale_and_venue_lines_switch_in_place(md, dash):
    ids = _object_ids(dash)
    def shown_axis():   # the one visible value axis of the price panel
        [axis] = [a for a in dash.figures["price"].axes[1:] if a.visible]
        return axis

    # issue 14: the axis shown is always the one of the scale the marks use, both ways
    for _ in range(2):
        dash.log_scale.value = True
        assert isinstance(shown_axis().scale, bq.LogScale)
        assert all(dash.marks[k].scales["y"] is shown_axis().scale
                   for k in ("spot", "perp_basket", *SIGNAL_MARKERS))
        ticks = list(shown_axis().tick_values)
        assert 5_000 in ticks and 10_000 in ticks and 20_000 in ticks and 50_000 in ticks
        assert shown_axis().tick_format == "~s"    # 5k, 10k, 20k, 50k, 100k
        dash.log_scale.value = False
        assert isinstance(shown_axis().scale, bq.LinearScale)
        assert all(dash.marks[k].scales["y"] is shown_axis().scale
                   for k in ("spot", "perp_basket", *SIGNAL_MARKERS))
    assert not dash.marks["funding_venues"].visible
    dash.venue_lines.value = True
    mark = dash.marks["funding_venues"]
    vf = metrics_module.venue_funding(md, "1D")
    assert mark.visible and list(mark.labels) == list(vf.columns)
    np.testing.assert_array_equal(np.asarray(mark.y, dtype=float), vf.to_numpy(dtype=float).T)
    dash.controls["apr"].value = True
    dash.controls["perp_venues"].value = ("bybit", "okx")
    vf = metrics_module.venue_funding(md, "1D", apr=True, perp_venues=["bybit", "okx"])
    assert list(mark.labels) == ["bybit", "okx"]
    np.testing.assert_allclose(np.asarray(mark.y, dtype=float), vf.to_numpy(dtype=float).T)
    assert _object_ids(dash) == ids


def test_changing_every_control_keeps_figure_and_mark_identity(dash):
    ids = _object_ids(dash)
    children = [id(c) for c in dash.children]
    for name, value, _kw, _changed in CASES:
        dash.controls[name].value = value
    dash.log_scale.value = True
    dash.venue_lines.value = True
    dash.controls["date_range"].index = (3, 60)
    assert dash.errors.outputs == ()
    assert _object_ids(dash) == ids
    assert [id(c) for c in dash.children] == children


# ------------------------------------------------------------------------ errors & bad settings
def test_callback_error_is_shown_in_the_output_widget(monkeypatch, dash):
    spot_before = np.asarray(dash.marks["spot"].y).copy()

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure in flow_metrics")

    monkeypatch.setattr(metrics_module, "flow_metrics", broken)
    dash.controls["lookback"].value = 30
    text = "".join(o.get("text", "") for o in dash.errors.outputs)
    assert "RuntimeError: injected failure in flow_metrics" in text
    assert "Traceback" in text
    assert "RuntimeError" in dash.status.value
    np.testing.assert_array_equal(dash.marks["spot"].y, spot_before)
    monkeypatch.undo()
    dash.controls["lookback"].value = 31  # recovers on the next change
    assert "RuntimeError" not in dash.status.value
    dash._guard.clear_errors()
    assert dash.errors.outputs == ()


def test_lookback_longer_than_the_data_shows_a_message(md, dash):
    """Issue 12: no refusal (which left controls and charts disagreeing): the charts show what
    the controls say, z-scores are NaN and the OI panel says why."""
    dash.controls["timeframe"].value = "1M"
    assert dash.controls["lookback"].value == 12      # the default follows the timeframe
    dash.controls["lookback"].value = 200
    assert dash.errors.outputs == () and dash.status.value == ""
    assert_marks_match(dash, bf.flow_metrics(md, "1M", lookback=200))
    assert "needs 200 bars" in dash.panel_messages["oi"].value
    dash.controls["lookback"].value = 12
    assert dash.status.value == ""
    assert_marks_match(dash, bf.flow_metrics(md, "1M", lookback=12))


def test_empty_venue_selection_shows_a_message(dash):
    dash.controls["spot_venues"].value = ()
    assert "select at least one spot venue" in dash.status.value
    assert dash.errors.outputs == ()


# ------------------------------------------------------------------------ missing data
def _variant(md, **fields):
    frames = dict(spot=md.spot, perp=md.perp, funding=md.funding, open_interest=md.open_interest)
    frames.update(fields)
    return MarketData.from_frames(**frames, meta={"source": "frames"})


def test_no_open_interest_renders_with_a_message(md):
    d = FlowDashboard(_variant(md, open_interest=None), timeframe="1D", debounce_ms=0)
    assert d.errors.outputs == ()
    assert "no open-interest data" in d.panel_messages["oi"].value
    assert "no open-interest data" in d.figures["oi"].title
    assert np.isnan(np.asarray(d.marks["oi_z"].y, dtype=float)).all()
    assert d.panel_messages["funding"].value == "" and d.panel_messages["premium"].value == ""
    assert np.isfinite(np.asarray(d.marks["funding"].y, dtype=float)).any()


def test_oi_weighting_without_oi_says_why_the_basket_is_empty(md):
    no_oi = _variant(md, open_interest=None)
    d = FlowDashboard(no_oi, timeframe="1D", debounce_ms=0)
    assert d.controls["weighting"].disabled and d.controls["oi_unit"].disabled
    d.controls["weighting"].value = "oi"   # still settable from code: the message explains
    assert d.errors.outputs == ()
    assert_marks_match(d, bf.flow_metrics(no_oi, "1D", weighting="oi"))
    assert "OI weighting" in d.panel_messages["premium"].value
    assert "switch weighting to equal" in d.figures["funding"].title
    d.controls["weighting"].value = "equal"
    assert d.panel_messages["premium"].value == ""


def test_no_funding_renders_with_a_message(md):
    d = FlowDashboard(_variant(md, funding=None), timeframe="1D", debounce_ms=0)
    assert d.errors.outputs == ()
    assert "no funding data" in d.panel_messages["funding"].value
    assert "no funding data" in d.figures["funding"].title
    d.venue_lines.value = True
    assert not d.marks["funding_venues"].visible
    assert d.errors.outputs == ()


def test_single_venue_each_side_renders(md):
    one = _variant(md, spot=md.spot[["coinbase"]], perp=md.perp[["bybit"]],
                   funding=md.funding[md.funding["venue"] == "bybit"],
                   open_interest=md.open_interest[md.open_interest["venue"] == "bybit"])
    d = FlowDashboard(one, timeframe="1D", debounce_ms=0)
    assert d.errors.outputs == () and d.status.value == ""
    assert all(m.value == "" for m in d.panel_messages.values())
    assert d.controls["perp_venues"].options == ("bybit",)
    assert_marks_match(d, bf.flow_metrics(one, "1D"))
    d.controls["futures"].value = "bybit"
    assert_marks_match(d, bf.flow_metrics(one, "1D", futures="bybit"))


def test_funding_only_venue_is_selectable_and_counted(md):
    no_hl_closes = _variant(md, perp=md.perp.drop(columns=["hyperliquid"]))
    d = FlowDashboard(no_hl_closes, timeframe="1D", debounce_ms=0)
    assert "hyperliquid" in d.controls["perp_venues"].options
    assert "hyperliquid" in d.controls["perp_venues"].value
    assert "hyperliquid" not in d.controls["futures"].options
    assert_marks_match(d, bf.flow_metrics(no_hl_closes, "1D"))  # same as perp_venues=None
    d.controls["perp_venues"].value = ("bybit", "deribit")
    assert_marks_match(d, bf.flow_metrics(no_hl_closes, "1D", perp_venues=["bybit", "deribit"]))


def test_spot_only_data_says_the_premium_needs_perps(md):
    d = FlowDashboard(MarketData.from_frames(spot=md.spot), timeframe="1D", debounce_ms=0)
    assert d.errors.outputs == ()
    assert "no perp data" in d.panel_messages["premium"].value
    assert "no open-interest" in d.panel_messages["oi"].value
    assert "no funding" in d.panel_messages["funding"].value
    assert len(d.marks["premium_bars"].x) == 0


# ------------------------------------------------------------------------ badge & freshness
def test_synthetic_badge_and_freshness(md, dash):
    assert "synthetic demo data" in dash.badge.value and dash.badge.layout.display != "none"
    assert "synthetic demo data" in dash.info.value
    assert "source: demo" in dash.info.value and "data through 2025-12-31" in dash.info.value
    plain = FlowDashboard(_variant(md), timeframe="1D", debounce_ms=0)
    assert plain.badge.layout.display == "none" and "synthetic" not in plain.info.value
    assert "source: frames" in plain.info.value


# ------------------------------------------------------------------------ debounce
def _count_lookbacks(monkeypatch) -> list:
    """Record the ``lookback`` of every ``flow_metrics`` call the dashboards make from now on
    (the real function still answers; monkeypatch restores it after the test)."""
    calls = []
    real = metrics_module.flow_metrics

    def counting(*args, **kwargs):
        calls.append(kwargs.get("lookback"))
        return real(*args, **kwargs)

    monkeypatch.setattr(metrics_module, "flow_metrics", counting)
    return calls


def test_a_change_is_answered_at_once_and_a_burst_after_it_coalesced(md, monkeypatch):
    """Leading-edge debounce: the first change recomputes inside the widget callback (no
    waiting), changes within the following ``debounce_ms`` are coalesced into one recompute
    with the last value when the window closes, and then the dashboard is quiet again."""
    import asyncio

    async def wait_until_quiet(d):
        for _ in range(300):  # no timing assertion: wait until the window has closed
            await asyncio.sleep(0.01)
            if d._debounce._handle is None:
                return
        raise AssertionError("the debounce window never closed")

    async def scenario():
        d = FlowDashboard(md, timeframe="1D", debounce_ms=30)
        calls = _count_lookbacks(monkeypatch)
        d.controls["lookback"].value = 20
        assert calls == [20] and not d._debounce.pending          # answered at once
        for w in (21, 22, 23):
            d.controls["lookback"].value = w
        assert calls == [20] and d._debounce.pending              # held inside the window
        await wait_until_quiet(d)
        assert calls == [20, 23]                                  # one run, the last value
        d.controls["lookback"].value = 24                         # quiet again: at once
        assert calls == [20, 23, 24]
        await wait_until_quiet(d)
        return d, calls

    d, calls = asyncio.run(scenario())
    assert calls == [20, 23, 24]
    assert_marks_match(d, metrics_module.flow_metrics(md, "1D", lookback=24))


def test_refresh_runs_a_held_change_without_waiting_for_the_window(md, monkeypatch):
    import asyncio

    async def scenario():
        d = FlowDashboard(md, timeframe="1D", debounce_ms=10_000)
        calls = _count_lookbacks(monkeypatch)
        d.controls["lookback"].value = 30
        d.controls["lookback"].value = 31
        assert calls == [30] and d._debounce.pending
        d.flush()
        assert calls == [30, 31] and not d._debounce.pending
        assert d._debounce._handle is None                        # the window is closed too
        return d

    d = asyncio.run(scenario())
    assert_marks_match(d, metrics_module.flow_metrics(md, "1D", lookback=31))


def test_timeframe_choices_offer_only_what_the_data_can_make(md):
    from btcflow_nb.dashboard._widgets import timeframe_choices

    assert timeframe_choices(md) == ["1D", "3D", "1W", "1M"]
    # weekly bars cannot make 3-day or monthly bars (they straddle both)
    assert timeframe_choices(md.resample("1W")) == ["1W"]
    assert timeframe_choices(md.resample("3D")) == ["3D"]


def test_every_tooltip_date_format_is_one_bqplot_accepts(md):
    # bqplot's front end tests date formats with this regular expression (is_date_format in its
    # bundle); a format it rejects (e.g. "%H:%M") makes every tooltip view fail in the browser
    from btcflow_nb.dashboard._widgets import _BQPLOT_DATE_FORMAT

    assert not _BQPLOT_DATE_FORMAT.match("%Y-%m-%d %H:%M")  # the check can fail
    dashboards = [FlowDashboard(md, timeframe="1D", debounce_ms=0), PremiumIndexPanel(md, debounce_ms=0)]
    seen = 0
    for dash in dashboards:
        for fig in dash.figures.values() if isinstance(dash.figures, dict) else dash.figures:
            for mark in fig.marks:
                if mark.tooltip is not None:
                    seen += 1
                    assert _BQPLOT_DATE_FORMAT.match(mark.tooltip.formats[0]), mark.tooltip.formats
    assert seen >= 5
