"""Issue 12 in the dashboards, driven without a browser: onsets instead of states, the explain
view, the open bar, onset counts that follow the visible range, and controls that always agree
with the charts (a lookback longer than the data, a refused change).

Expectations come from ``flow_metrics`` called with explicit keywords, never from the
dashboard's own ``params()``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import btcflow_nb as bf
from btcflow_nb import metrics as metrics_module
from btcflow_nb.dashboard import FlowDashboard, PremiumIndexPanel
from btcflow_nb.dashboard.flow import ALERT_KINDS, SIGNAL_MARKERS
from btcflow_nb.marketdata import MarketData

from test_dashboard import band_covers


@pytest.fixture(scope="module")
def md(demo):
    return demo


@pytest.fixture
def dash(md):
    return FlowDashboard(md, timeframe="1D", debounce_ms=0)


def _times(index) -> np.ndarray:
    return pd.DatetimeIndex(index).tz_convert(None).to_numpy().astype("datetime64[ns]")


def _x(mark) -> np.ndarray:
    return np.asarray(mark.x).astype("datetime64[ns]")


def _utc(value) -> pd.Timestamp:
    return pd.Timestamp(value).tz_localize("UTC")


def _click(mark, index: int) -> None:
    """What bqplot's front end sends when a Scatter point is clicked."""
    mark._handle_custom_msgs(None, {"event": "element_click",
                                    "data": {"index": index, "x": str(mark.x[index])}})


def _cut(md, last_day: str, fetched_at: str | None) -> MarketData:
    """``md`` up to the end of ``last_day``, fetched at ``fetched_at`` (inside that day: the
    day's bar is still open)."""
    end = pd.Timestamp(last_day, tz="UTC") + pd.Timedelta(days=1)
    meta = {"source": "frames"}
    if fetched_at is not None:
        meta["fetched_at"] = fetched_at
    return MarketData.from_frames(
        spot=md.spot.loc[md.spot.index < end], perp=md.perp.loc[md.perp.index < end],
        funding=md.funding[md.funding["time"] < end],
        open_interest=md.open_interest[md.open_interest["time"] < end], meta=meta)


# ------------------------------------------------------------------------ onsets, not states
def test_markers_are_the_onsets_of_the_visible_range(md, dash):
    dash.controls["timeframe"].value = "1W"
    rng = dash.controls["date_range"]
    rng.index = (60, 300)
    start, end = rng.options[60][1], rng.options[300][1]
    m = bf.flow_metrics(md, "1W", start=start, end=end)
    for key in SIGNAL_MARKERS:
        onset_times = _times(m.index[m[f"{key}_onset"].to_numpy(dtype=bool)])
        np.testing.assert_array_equal(_x(dash.marks[key]), onset_times, err_msg=key)
        assert list(dash.marks[key].opacities) == [1.0] * len(onset_times)   # all closed
    # the old behaviour drew one marker per state bar: the test can tell them apart
    assert m["bullish"].sum() > m["bullish_onset"].sum() > 0
    assert not dash.marks["open_bar"].visible


def test_states_are_bands_behind_the_prices_and_toggle_in_place(md, dash):
    fig = dash.figures["price"]
    bands = [dash.marks[f"{k}_state"] for k in SIGNAL_MARKERS]
    # behind the prices, above only the hover catcher (issue 14)
    assert fig.marks[0] is dash.crosshair.catchers["price"]
    assert [id(m) for m in fig.marks[1:1 + len(bands)]] == [id(b) for b in bands]
    assert all(b.fill == "bottom" for b in bands)
    assert all(b.scales["y"].min == 0.0 and b.scales["y"].max == 1.0 for b in bands)
    assert not any(b.visible or len(b.x) for b in bands)
    ids = [id(m) for m in fig.marks]
    dash.show_states.value = True
    assert all(b.visible for b in bands)
    m = bf.flow_metrics(md, "1D")
    for key in SIGNAL_MARKERS:   # one rectangle per run, over exactly the state's bars
        band = dash.marks[f"{key}_state"]
        np.testing.assert_array_equal(band_covers(band, _times(m.index)),
                                      m[key].to_numpy(dtype=bool), err_msg=key)
        assert len(band.x) == 3 * int(m[f"{key}_onset"].sum())
    dash.controls["oi_hot_z"].value = 2.5        # a redraw keeps them shown
    assert dash.marks["overleveraged_state"].visible
    dash.show_states.value = False
    assert not any(b.visible or len(b.x) for b in bands)
    assert [id(m) for m in fig.marks] == ids


def test_alerts_table_lists_one_row_per_onset(md, dash):
    m = bf.flow_metrics(md, "1D")
    rows = dash.alert_rows()
    labels = {label: key for key, label in ALERT_KINDS.items()}
    got = sorted((t, labels[kind]) for t, kind, _ in rows)
    want = sorted((t, k) for k in ALERT_KINDS for t in m.index[m[f"{k}_onset"]])
    assert got == want
    n_states = int(m[list(ALERT_KINDS)].to_numpy().sum())
    assert len(rows) < n_states                                  # not one row per state bar
    assert f"{len(rows)} signal onsets in the visible range" in dash.alerts.value


def test_onset_counts_follow_the_date_range_and_the_zoom(md, dash):
    full = bf.flow_metrics(md, "1D")
    assert dash.onset_counts() == {k: int(full[f"{k}_onset"].sum()) for k in ALERT_KINDS}
    lo, hi = pd.Timestamp("2022-01-01", tz="UTC"), pd.Timestamp("2022-06-30", tz="UTC")
    dash.x_scale.min = lo.tz_convert(None).to_pydatetime()
    dash.x_scale.max = hi.tz_convert(None).to_pydatetime()
    window = full.loc[lo:hi]
    counts = {k: int(window[f"{k}_onset"].sum()) for k in ALERT_KINDS}
    assert dash.onset_counts() == counts and sum(counts.values()) > 0
    line = dash.onset_line.value
    assert f"bullish</span> <b>{counts['bullish']}</b>" in line
    assert f"bearish</span> <b>{counts['bearish']}</b>" in line
    # the explain dropdown offers exactly the onset bars in view
    offered = {v for _, v in dash.explain_view.picker.options if v is not None}
    assert offered == set(window.index[window[[f"{k}_onset" for k in ALERT_KINDS]].any(axis=1)])
    dash.reset_zoom()
    rng = dash.controls["date_range"]
    rng.index = (100, 400)
    cut = full.loc[rng.options[100][1]:rng.options[400][1]]
    assert dash.onset_counts() == {k: int(cut[f"{k}_onset"].sum()) for k in ALERT_KINDS}


# ------------------------------------------------------------------------ explain a bar
def _assert_explains(view, m: pd.DataFrame, t: pd.Timestamp) -> None:
    """The explain view's numbers are flow_metrics' columns at bar ``t``."""
    row = m.loc[t]
    frame = view.frame
    assert view.time == t and frame.attrs["time"] == t
    by = {(r.signal, r.condition): r for r in frame.itertuples()}
    checks = [(("bullish", "oi_z < bull_oi_z_max"), "oi_z", "oi_z"),
              (("bullish", "premium_pct > premium_min"), "premium_pct", None),
              (("bullish", "premium_pct > premium_trend (rising)"), "premium_pct", None),
              (("bullish", "funding < bull_funding_max"), "funding", None),
              (("cycle_top", "premium_z <= -cycle_k"), "premium_z", "premium_z"),
              (("cycle_top", "oi_z >= cycle_k"), "oi_z", "oi_z"),
              (("cycle_bottom", "funding_z <= -cycle_k"), "funding_z", "funding_z"),
              (("alert_premium_high", "premium_abs > bb_upper"), "premium_abs", None)]
    for key, col, z in checks:
        r = by[key]
        np.testing.assert_equal(r.value, float(row[col]), err_msg=str(key))
        if z is not None:
            np.testing.assert_equal(r.mean, float(row[f"{z}_mean"]), err_msg=str(key))
            np.testing.assert_equal(r.std, float(row[f"{z}_std"]), err_msg=str(key))
            # shown as they are: the panel prints each number to 6 significant digits
            for v in (r.value, r.mean, r.std):
                if np.isfinite(v):
                    assert f"{v:.6g}" in view.output.value, (key, v)
    np.testing.assert_equal(by[("bullish", "premium_pct > premium_trend (rising)")].threshold,
                            float(row["premium_trend"]))
    np.testing.assert_equal(by[("alert_premium_high", "premium_abs > bb_upper")].threshold,
                            float(row["bb_upper"]))
    for signal in ALERT_KINDS:   # each verdict is the signal's column
        assert by[(signal, f"=> {signal}")].passed == bool(row[signal]), signal


def test_a_click_on_a_marker_explains_its_bar(md, dash):
    dash.controls["timeframe"].value = "1W"
    m = bf.flow_metrics(md, "1W")
    assert dash.explain_view.frame is None
    mark = dash.marks["bullish"]
    _click(mark, 5)
    t = _utc(mark.x[5])
    assert bool(m.loc[t, "bullish_onset"])
    _assert_explains(dash.explain_view, m, t)
    assert dash.explain_view.picker.value == t           # the dropdown says which bar
    assert "ON (onset)" in dash.explain_view.output.value
    assert dash.status.value == "" and dash.errors.outputs == ()


def test_explain_view_shows_which_metrics_voted_for_a_cycle_top(md, dash):
    m = bf.flow_metrics(md, "1D")
    mark = dash.marks["cycle_top"]
    _click(mark, 0)
    t = _utc(mark.x[0])
    mask = int(m.loc[t, "cycle_top_votes"])
    names = bf.signals.vote_names(mask)
    assert bin(mask).count("1") >= 2 and names
    assert f"top: {names}" in dash.explain_view.output.value
    assert f"voted: {names}" in dash.explain_view.output.value
    _assert_explains(dash.explain_view, m, t)


def test_the_dropdown_and_the_date_picker_explain_any_bar(md, dash):
    m = bf.flow_metrics(md, "1D")
    view = dash.explain_view
    label, t = view.picker.options[3]
    view.picker.value = t
    _assert_explains(view, m, t)
    assert label.startswith(f"{t:%Y-%m-%d} · ")
    view.date.value = pd.Timestamp("2020-05-06").date()     # any bar, onset or not
    t2 = pd.Timestamp("2020-05-06", tz="UTC")
    _assert_explains(view, m, t2)
    assert view.picker.value is None                         # not an onset: the dropdown says so
    view.date.value = pd.Timestamp("2031-01-01").date()      # no such bar: a message
    assert "no bar of metrics" in dash.status.value and dash.errors.outputs == ()
    assert view.time == t2                                   # the shown bar is unchanged
    # a new setting explains the same bar with the new numbers
    dash.controls["lookback"].value = 90
    _assert_explains(view, bf.flow_metrics(md, "1D", lookback=90), t2)


# ------------------------------------------------------------------------ open bar
@pytest.fixture(scope="module")
def open_md(md):
    """The demo up to a day with a bullish onset, fetched at noon that day: the last daily
    bar is open (and carries that onset)."""
    full = bf.flow_metrics(md, "1D")
    day = full.index[full["bullish_onset"]][-3]
    return _cut(md, f"{day:%Y-%m-%d}", f"{day:%Y-%m-%d}T12:00:00+00:00"), day


def test_the_open_bar_is_provisional(open_md):
    omd, day = open_md
    m = bf.flow_metrics(omd, "1D")
    assert m.attrs["open_bar"] and m.index[-1] == day and bool(m["bullish_onset"].iloc[-1])
    d = FlowDashboard(omd, timeframe="1D", debounce_ms=0)
    assert f"{day:%Y-%m-%d}, provisional (bar open)" in d.summary()
    assert "bullish (provisional)" in d.summary()
    # the marker is drawn, faded, and ringed
    mark = d.marks["bullish"]
    assert _x(mark)[-1] == _times(m.index[-1:])[0]
    assert mark.opacities[-1] < 1.0 and set(mark.opacities[:-1]) == {1.0}
    ring = d.marks["open_bar"]
    assert ring.visible and not ring.fill and list(_x(ring)) == list(_times(m.index[-1:]))
    # alerts and counts: closed bars unless asked otherwise
    closed = m.iloc[:-1]
    n_closed = int(closed[[f"{k}_onset" for k in ALERT_KINDS]].to_numpy().sum())
    assert day not in {t for t, _, _ in d.alert_rows()}
    assert f"{n_closed} signal onsets in the visible range" in d.alerts.value
    assert "open bar excluded" in d.alerts.value
    assert d.onset_counts()["bullish"] == int(closed["bullish_onset"].sum())
    assert "open bar (provisional, not counted): bullish" in d.onset_line.value
    d.include_open.value = True
    assert day in {t for t, _, _ in d.alert_rows()}
    assert d.onset_counts()["bullish"] == int(m["bullish_onset"].sum())
    assert "open bar included" in d.alerts.value
    # explaining it says so
    _click(mark, len(mark.x) - 1)
    assert d.explain_view.frame.attrs["open_bar"]
    assert "provisional (bar open)" in d.explain_view.output.value


def test_a_settled_bar_is_not_provisional(md, open_md):
    _, day = open_md
    closed = _cut(md, f"{day:%Y-%m-%d}", f"{day + pd.Timedelta(days=1):%Y-%m-%d}T00:00:00Z")
    d = FlowDashboard(closed, timeframe="1D", debounce_ms=0)
    assert f"{day:%Y-%m-%d}, closed" in d.summary() and "provisional" not in d.summary()
    assert not d.marks["open_bar"].visible and set(d.marks["bullish"].opacities) == {1.0}
    assert day in {t for t, _, _ in d.alert_rows()}


def test_premium_panel_marks_the_open_bar(open_md):
    omd, day = open_md
    p = PremiumIndexPanel(omd, timeframe="1D", debounce_ms=0)
    assert "provisional (bar open)" in p.summary()
    assert "open bar excluded" in p.alerts.value
    p.include_open.value = True
    assert "open bar included" in p.alerts.value


# ------------------------------------------------------------------------ consistency
def test_lookback_longer_than_the_data_shows_the_notes_with_consistent_controls(md):
    """90 days on 1W: 13 bars for a 52-bar z window. The charts show 1W (what the dropdown
    says), the z-scores are NaN, and each panel says why in flow_metrics' own words."""
    short = _cut(md, "2025-12-31", None)
    short = MarketData.from_frames(
        spot=short.spot.loc["2025-10-02":], perp=short.perp.loc["2025-10-02":],
        funding=short.funding[short.funding["time"] >= "2025-10-02"],
        open_interest=short.open_interest[short.open_interest["time"] >= "2025-10-02"],
        meta={"source": "frames"})
    d = FlowDashboard(short, timeframe="1D", debounce_ms=0)
    d.controls["timeframe"].value = "1W"
    expected = bf.flow_metrics(short, "1W")
    notes = expected.attrs["notes"]
    assert any(n.startswith("oi_z: lookback 52 bars > ") for n in notes)
    assert d.status.value == "" and d.errors.outputs == ()
    assert d.controls["timeframe"].value == "1W" and d.metrics.attrs["timeframe"] == "1W"
    assert d.controls["lookback"].value == 52 == d.metrics.attrs["params"]["lookback"]
    pd.testing.assert_frame_equal(d.metrics, expected)
    assert len(d.controls["date_range"].options) == len(expected)
    for panel, prefix in (("oi", "oi_z:"), ("funding", "funding_z:"), ("premium", "premium_z:")):
        for note in (n for n in notes if n.startswith(prefix)):
            assert note in d.panel_messages[panel].value, (panel, note)
            assert note in d.figures[panel].title
    assert np.isnan(np.asarray(d.marks["oi_z"].y, dtype=float)).all()
    d.controls["lookback"].value = 8          # later changes are not refused
    assert d.status.value == "" and d.metrics.attrs["params"]["lookback"] == 8
    assert not any(n.startswith("oi_z:") for n in d.metrics.attrs["notes"])
    assert "oi_z:" not in d.panel_messages["oi"].value


def test_a_failed_timeframe_switch_puts_the_controls_back(md, dash, monkeypatch):
    dash.controls["timeframe"].value = "1W"
    dash.controls["date_range"].index = (10, 200)
    before = dash.params()
    options = dash.controls["date_range"].options
    real = metrics_module.flow_metrics

    def refuse_monthly(md_, timeframe="1D", **kw):
        if timeframe == "1M":
            raise ValueError("injected refusal of 1M")
        return real(md_, timeframe, **kw)

    monkeypatch.setattr(metrics_module, "flow_metrics", refuse_monthly)
    dash.controls["timeframe"].value = "1M"
    assert "injected refusal of 1M" in dash.status.value
    # never the dropdown on one timeframe and the charts on another
    assert dash.controls["timeframe"].value == "1W" and dash.metrics.attrs["timeframe"] == "1W"
    assert dash.controls["date_range"].options == options
    assert dash.params() == before
    assert dash.controls["lookback"].value == 52
    # and the next change works
    dash.controls["oi_hot_z"].value = 2.4
    assert dash.metrics.attrs["params"]["oi_hot_z"] == 2.4
    assert dash.controls["timeframe"].value == "1W" and dash.status.value == ""


def test_a_refused_setting_reverts_its_control(dash):
    before = dash.controls["spot_venues"].value
    dash.controls["spot_venues"].value = ()
    assert "select at least one spot venue" in dash.status.value
    assert dash.controls["spot_venues"].value == before       # the charts still show these
    assert dash.params()["spot_venues"] == list(before)


def test_markers_see_the_mouse_in_crosshair_mode_and_pan_zoom_covers_them(dash):
    """bqplot's PanZoom layer lies over the marks and takes their clicks: in the default
    "crosshair" cursor mode no panel has it (a click on a marker explains its bar); "pan/zoom"
    puts every panel's PanZoom back, in place (issue 14 replaced "click markers to explain")."""
    import bqplot as bq
    assert all(f.interaction is None for f in dash.figures.values())
    dash.crosshair.mode.value = "pan/zoom"
    panzooms = [f.interaction for f in dash.figures.values()]
    assert all(isinstance(p, bq.PanZoom) for p in panzooms)
    dash.crosshair.mode.value = "crosshair"
    dash.crosshair.mode.value = "pan/zoom"
    assert [f.interaction for f in dash.figures.values()] == panzooms   # the same objects