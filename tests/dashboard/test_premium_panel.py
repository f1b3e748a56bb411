"""PremiumIndexPanel and ZScoreExplorer driven without a browser."""
from __future__ import annotations

import bqplot as bq
import ipywidgets as W
import numpy as np
import pandas as pd
import pytest

import btcflow_nb as bf
from btcflow_nb import indicators
from btcflow_nb import metrics as metrics_module
from btcflow_nb.dashboard import PremiumIndexPanel, ZScoreExplorer
from btcflow_nb.marketdata import MarketData

from test_dashboard import assert_sign_colours


@pytest.fixture(scope="module")
def md(demo):
    return demo  # the shared session fixture (tests/conftest.py); never mutated here


@pytest.fixture
def panel(md):
    return PremiumIndexPanel(md, timeframe="1D", debounce_ms=0)


def _t(index):
    return pd.DatetimeIndex(index).tz_convert(None).to_numpy().astype("datetime64[ns]")


def _x(mark):
    return np.asarray(mark.x).astype("datetime64[ns]")


def assert_panel_shows(panel: PremiumIndexPanel, m: pd.DataFrame, unit: str = "usd") -> None:
    mk = panel.marks
    t = _t(m.index)
    prem = m["premium_abs" if unit == "usd" else "premium_pct"].to_numpy(dtype=float)
    ok = np.isfinite(prem)
    np.testing.assert_array_equal(_x(mk["premium_bars"]), t[ok])
    np.testing.assert_array_equal(np.asarray(mk["premium_bars"].y, dtype=float), prem[ok])
    assert_sign_colours(mk["premium_bars"], prem[ok])
    for key in ("bb_basis", "bb_upper", "bb_lower"):
        np.testing.assert_array_equal(_x(mk[key]), t)
        np.testing.assert_array_equal(np.asarray(mk[key].y, dtype=float),
                                      m[key].to_numpy(dtype=float))
    for key, col in (("alert_high", "alert_premium_high"), ("alert_low", "alert_premium_low")):
        mask = m[col].to_numpy(dtype=bool) & ok
        np.testing.assert_array_equal(_x(mk[key]), t[mask], err_msg=key)
        np.testing.assert_array_equal(np.asarray(mk[key].y, dtype=float), prem[mask])
    assert list(mk["zero"].y) == [0.0, 0.0]
    info = panel.info.value
    last = m.dropna(subset=["spot"]).iloc[-1]
    assert f"${last['spot']:,.2f}" in info
    assert f"${m['futures'].dropna().iloc[-1]:,.2f}" in info
    p = m["premium_abs"].dropna().iloc[-1]
    assert f"{'+' if p >= 0 else '−'}${abs(p):,.2f}" in info
    if unit == "pct":
        assert f"{m['premium_pct'].dropna().iloc[-1]:+.4f} %" in info
    assert panel.figure.axes[1].label == ("USD" if unit == "usd" else "%")
    n = int(m[["alert_premium_high", "alert_premium_low"]].to_numpy().sum())
    assert (f"{n} alerts in the visible range" if n else "no alerts") in panel.alerts.value


def test_structure_and_dom_hooks(panel):
    assert isinstance(panel, W.VBox)
    assert "btcflow-premium-index" in panel._dom_classes
    assert "btcflow-panel-premium-index" in panel.figure._dom_classes
    assert panel.figure.interaction is None            # cursor "crosshair": tooltips work
    panel.cursor.value = "pan/zoom"
    assert isinstance(panel.figure.interaction, bq.PanZoom)
    assert all(m.scales["x"] is panel.x_scale for m in panel.figure.marks)
    assert isinstance(panel.marks["premium_bars"], bq.Bars)
    assert set(panel.controls) == {"timeframe", "date_range", "bb_length", "bb_mult",
                                   "spot_leg", "futures_leg", "premium_unit"}
    legs = panel.controls["futures_leg"]
    assert legs.value == "perp:basket"
    assert [v for _, v in legs.options] == ["spot:coinbase", "spot:kraken", "spot:bitstamp",
                                            "spot:binance", "perp:basket", "perp:deribit",
                                            "perp:bybit", "perp:binance", "perp:okx", "perp:htx",
                                            "perp:hyperliquid",
                                            "dated:binance_coinm-2026-03-27",
                                            "dated:binance_coinm-2026-06-26",
                                            "dated:deribit-2026-03-27", "dated:deribit-2026-06-26",
                                            "dated:deribit-2026-09-25",
                                            "dated:binance_coinm-cm90", "dated:deribit-cm90"]
    assert [v for _, v in panel.controls["spot_leg"].options][:2] == ["spot:basket",
                                                                       "spot:coinbase"]
    assert "btcflow-preset-coinbase-premium" in panel.coinbase_button._dom_classes


def test_initial_state_equals_flow_metrics(md, panel):
    assert_panel_shows(panel, bf.flow_metrics(md, "1D"))
    assert panel.errors.outputs == () and panel.status.value == ""
    assert "synthetic demo data" in panel.badge.value


CASES = [
    ("bb_length", 50, {"bb_length": 50}, ["bb_basis", "alert_premium_high"]),
    ("bb_mult", 1.0, {"bb_mult": 1.0}, ["bb_upper", "alert_premium_low"]),
    ("futures_leg", "perp:deribit", {"futures_leg": "perp:deribit"}, ["premium_abs", "futures"]),
    ("spot_leg", "spot:kraken", {"spot_leg": "spot:kraken"}, ["premium_abs", "spot"]),
    ("premium_unit", "pct", {"premium_unit": "pct"}, ["bb_upper"]),
    ("timeframe", "1W", {"timeframe": "1W"}, ["premium_abs"]),
]


@pytest.mark.parametrize("name,value,kwargs,changed", CASES, ids=[c[0] for c in CASES])
def test_each_control(md, panel, name, value, kwargs, changed):
    before = panel.metrics.copy()
    ids = (id(panel.figure), {k: id(v) for k, v in panel.marks.items()})
    panel.controls[name].value = value
    expected = bf.flow_metrics(md, **{"timeframe": "1D", **kwargs})
    assert_panel_shows(panel, expected, kwargs.get("premium_unit", "usd"))
    for col in changed:
        assert not (len(before) == len(expected) and before[col].equals(expected[col])), col
    assert (id(panel.figure), {k: id(v) for k, v in panel.marks.items()}) == ids
    assert panel.errors.outputs == ()
    if name == "futures_leg":
        assert "deribit perp" in panel.info.value and "deribit perp" in panel.figure.title


def test_date_range_and_zoom(md, panel):
    rng = panel.controls["date_range"]
    rng.index = (100, 700)
    start, end = rng.options[100][1], rng.options[700][1]
    assert_panel_shows(panel, bf.flow_metrics(md, "1D", start=start, end=end))
    panel.x_scale.min = pd.Timestamp("2019-01-01").to_pydatetime()
    panel.x_scale.max = pd.Timestamp("2019-06-30").to_pydatetime()
    rows = panel.alert_rows()
    full = bf.flow_metrics(md, "1D").loc["2019-01-01":"2019-06-30"]
    assert len(rows) == int(full[["alert_premium_high", "alert_premium_low"]].to_numpy().sum())


def test_bb_length_longer_than_data_is_a_message(md, panel):
    """Issue 12: no refusal (the control said 150 while the chart kept 20): the chart draws
    what the control says (no bands: NaN) and the panel message says why."""
    panel.controls["timeframe"].value = "1M"
    panel.controls["bb_length"].value = 150
    assert panel.status.value == "" and panel.errors.outputs == ()
    expected = bf.flow_metrics(md, "1M", bb_length=150)
    assert_panel_shows(panel, expected)
    assert panel.params()["bb_length"] == 150
    note = "bb_*: bb_length 150 bars > 96 bars of data (1M)"
    assert note in expected.attrs["notes"]
    assert note in panel.panel_message.value and note in panel.figure.title
    assert np.isnan(np.asarray(panel.marks["bb_upper"].y, dtype=float)).all()
    panel.controls["bb_length"].value = 20
    assert panel.panel_message.value == ""
    assert_panel_shows(panel, bf.flow_metrics(md, "1M"))


def test_callback_error_reaches_the_output(monkeypatch, panel):
    monkeypatch.setattr(metrics_module, "flow_metrics",
                        lambda *a, **k: (_ for _ in ()).throw(KeyError("injected")))
    panel.controls["bb_mult"].value = 3.0
    text = "".join(o.get("text", "") for o in panel.errors.outputs)
    assert "KeyError: 'injected'" in text


def test_missing_perps_renders_with_message(md):
    p = PremiumIndexPanel(MarketData.from_frames(spot=md.spot), timeframe="1D", debounce_ms=0)
    assert p.errors.outputs == ()
    assert "no perp data" in p.panel_message.value and "no perp data" in p.figure.title
    assert len(p.marks["premium_bars"].x) == 0


def test_zscore_explorer_follows_the_lookback(md):
    series = bf.flow_metrics(md, "1W")["oi_total"]
    z = ZScoreExplorer(series, lookback=52, debounce_ms=0)
    mark = z.marks["z"]
    np.testing.assert_array_equal(mark.y, indicators.zscore(series, 52).to_numpy(dtype=float))
    z.lookback.value = 8
    expected = indicators.zscore(series, 8)
    np.testing.assert_array_equal(mark.y, expected.to_numpy(dtype=float))
    np.testing.assert_array_equal(z.marks["band"].y[0], indicators.sma(series, 8).to_numpy())
    assert f"{expected.iloc[-1]:+.2f}" in z.readout.value
    assert z.marks["z"] is mark
    with pytest.raises(ValueError, match="DatetimeIndex"):
        ZScoreExplorer(pd.Series([1.0, 2.0, 3.0]))


def test_coinbase_premium_is_one_click(md, panel):
    """The preset: Coinbase USD − Binance USDT (in USD), its bars and bands, in USD and in %."""
    from btcflow_nb.venue_metrics import coinbase_premium

    ids = {k: id(v) for k, v in panel.marks.items()}
    panel.coinbase_button.click()
    assert panel.controls["spot_leg"].value == "spot:coinbase"
    assert panel.controls["futures_leg"].value == "spot:binance"
    expected = bf.flow_metrics(md, "1D", spot_leg="spot:coinbase", futures_leg="spot:binance")
    assert_panel_shows(panel, expected)
    want = coinbase_premium(md)["premium_abs"]
    finite = want.notna().to_numpy()
    np.testing.assert_allclose(np.asarray(panel.marks["premium_bars"].y, dtype=float),
                               want.to_numpy()[finite])
    assert panel.figure.title.startswith("coinbase spot − binance spot premium (USD)")
    panel.controls["premium_unit"].value = "pct"
    pct = bf.flow_metrics(md, "1D", spot_leg="spot:coinbase", futures_leg="spot:binance",
                          premium_unit="pct")
    assert_panel_shows(panel, pct, "pct")
    np.testing.assert_allclose(np.asarray(panel.marks["premium_bars"].y, dtype=float),
                               coinbase_premium(md, unit="pct")["premium"].dropna().to_numpy())
    assert "%" in panel.alerts.value or "no alerts" in panel.alerts.value
    assert {k: id(v) for k, v in panel.marks.items()} == ids
    assert panel.errors.outputs == () and panel.status.value == ""


def test_a_leg_against_itself_is_refused_and_the_controls_restored(md, panel):
    panel.controls["spot_leg"].value = "spot:coinbase"
    drawn = panel.metrics.copy()
    panel.controls["futures_leg"].value = "spot:coinbase"
    assert "is the spot leg itself" in panel.status.value
    assert "valid choices" in panel.status.value
    assert panel.controls["futures_leg"].value == "perp:basket"    # put back: charts agree
    pd.testing.assert_frame_equal(panel.metrics, drawn)


def test_preset_is_disabled_without_coinbase(md):
    p = PremiumIndexPanel(MarketData.from_frames(spot=md.spot[["kraken", "binance"]],
                                                 perp=md.perp), debounce_ms=0)
    assert p.coinbase_button.disabled


def test_a_dated_future_is_a_futures_leg(md, panel):
    """Choosing a listed dated contract shows flow_metrics(futures_leg=that contract); the
    contract's bars exist only while it trades (NaN before listing: no bar drawn)."""
    ids = {k: id(v) for k, v in panel.marks.items()}
    labels = dict((v, k) for k, v in panel.controls["futures_leg"].options)
    assert labels["dated:deribit-2026-03-27"] == "deribit future 2026-03-27"
    panel.controls["futures_leg"].value = "dated:deribit-2026-03-27"
    expected = bf.flow_metrics(md, "1D", futures_leg="dated:deribit-2026-03-27")
    assert_panel_shows(panel, expected)
    assert expected["futures"].notna().sum() < len(expected) // 4     # listed late in the data
    assert "deribit future 2026-03-27" in panel.figure.title
    assert {k: id(v) for k, v in panel.marks.items()} == ids and panel.errors.outputs == ()


def test_premium_index_hover_fills_its_data_window_and_draws_the_crosshair(md):
    panel = PremiumIndexPanel(md, timeframe="1W", debounce_ms=0)   # every bar has a catcher
    m = panel.metrics
    fig = panel.figure
    assert fig.marks[0] is panel.crosshair.catchers["premium_index"]
    assert len(fig.marks[0].x) == len(m)
    assert "latest " in panel.data_window.value       # no hover: the latest bar
    row = int(np.flatnonzero(m["alert_premium_high_onset"].to_numpy(dtype=bool))[0])
    fig.marks[0]._handle_custom_msgs(None, {"event": "hover",
                                            "point": {"index": row, "x": 0, "y": 1}})
    r, text = m.iloc[row], panel.data_window.value
    assert f"hovered {m.index[row]:%Y-%m-%d}" in text
    assert f"${r['spot']:,.2f}" in text and f"${r['futures']:,.2f}" in text
    usd = lambda v: ("+" if v >= 0 else "\u2212") + f"${abs(v):,.2f}"  # noqa: E731
    assert usd(r["premium_abs"]) in text
    assert f"{r['premium_pct']:+.4f} %".replace("-", "\u2212") in text
    for band in ("bb_basis", "bb_upper", "bb_lower"):
        assert usd(r[band]) in text
    assert "spot premium too high" in text and "crossed on this bar" in text
    line = panel.crosshair.lines["premium_index"]
    assert line.visible and pd.Timestamp(np.asarray(line.x)[0]) == m.index[row].tz_convert(None)
    # a bar inside the bands says so; the unit switch puts the bands in %
    inside = int(np.flatnonzero(~(m["alert_premium_high"] | m["alert_premium_low"])
                                .to_numpy(dtype=bool))[-1])
    panel.controls["premium_unit"].value = "pct"
    m = panel.metrics
    fig.marks[0]._handle_custom_msgs(None, {"event": "hover",
                                            "point": {"index": inside, "x": 0, "y": 1}})
    text = panel.data_window.value
    upper = f"{m['bb_upper'].iloc[inside]:+.4f} %".replace("-", "\u2212")
    assert "inside the bands" in text and upper in text
