"""OpenInterestPanel and FundingSpendPanel driven without a browser (issue 16): each control
moves the marks to what venue_open_interest / funding_spend / flow_metrics compute, in place."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import btcflow_nb as bf
from btcflow_nb.dashboard import FundingSpendPanel, OpenInterestPanel
from btcflow_nb.marketdata import MarketData
from btcflow_nb.venue_metrics import funding_spend, venue_open_interest


def _t(index):
    return pd.DatetimeIndex(index).tz_convert(None).to_numpy().astype("datetime64[ns]")


def _x(mark):
    return np.asarray(mark.x).astype("datetime64[ns]")


def _ids(panel):
    return {k: id(v) for k, v in panel.marks.items()}, {k: id(f) for k, f in panel.figures.items()}


def assert_stack(mark, frame):
    """The stacked mark shows ``frame`` (bars x venues): NaN as 0, all-NaN bars left out."""
    keep = frame.notna().any(axis=1).to_numpy()
    np.testing.assert_array_equal(_x(mark), _t(frame.index[keep]))
    y = np.asarray(mark.y, dtype=float)
    np.testing.assert_array_equal(y, np.nan_to_num(frame.to_numpy(dtype=float)[keep].T))
    assert list(mark.labels) == list(frame.columns)


@pytest.fixture
def oi_panel(demo):
    return OpenInterestPanel(demo, timeframe="1D", debounce_ms=0)


def test_oi_panel_shows_each_venue_and_the_aggregate_z(demo, oi_panel):
    p = oi_panel
    assert "btcflow-open-interest" in p._dom_classes
    assert set(p.controls) == {"timeframe", "date_range", "oi_unit", "lookback"}
    assert all(m.scales["x"] is p.x_scale for f in p.figures.values() for m in f.marks)
    want = venue_open_interest(demo, "1D")
    assert_stack(p.marks["level"], want)
    assert_stack(p.marks["change"], venue_open_interest(demo, "1D", change=True))
    z = bf.flow_metrics(demo, "1D")["oi_z"]
    np.testing.assert_array_equal(np.asarray(p.marks["z"].y, dtype=float), z.to_numpy())
    last = want.iloc[-1]
    assert f"{last['binance']:,.0f} BTC" in p.info.value
    assert f"{last.sum():,.0f} BTC" in p.info.value
    assert f"{z.iloc[-1]:+.2f}" in p.info.value
    assert p.errors.outputs == () and p.status.value == ""


CASES = [
    ("oi_unit", "usd", {"oi_unit": "usd"}),
    ("timeframe", "1W", {"timeframe": "1W"}),
    ("lookback", 30, {"lookback": 30}),
]


@pytest.mark.parametrize("name,value,kwargs", CASES, ids=[c[0] for c in CASES])
def test_oi_panel_controls(demo, oi_panel, name, value, kwargs):
    p = oi_panel
    ids = _ids(p)
    before = np.asarray(p.marks["level"].y, dtype=float).copy()
    z_before = np.asarray(p.marks["z"].y, dtype=float).copy()
    p.controls[name].value = value
    tf = kwargs.get("timeframe", "1D")
    unit = kwargs.get("oi_unit", "btc")
    assert_stack(p.marks["level"], venue_open_interest(demo, tf, unit=unit))
    assert_stack(p.marks["change"], venue_open_interest(demo, tf, unit=unit, change=True))
    lookback = kwargs.get("lookback", 52 if tf == "1W" else 365)
    z = bf.flow_metrics(demo, tf, oi_unit=unit, lookback=lookback)["oi_z"]
    np.testing.assert_array_equal(np.asarray(p.marks["z"].y, dtype=float), z.to_numpy())
    if name == "lookback":
        assert not np.array_equal(z_before, z.to_numpy(), equal_nan=True)
    else:
        assert np.asarray(p.marks["level"].y).shape != before.shape or \
            not np.array_equal(before, np.asarray(p.marks["level"].y, dtype=float))
    if name == "oi_unit":
        assert p.figures["level"].axes[1].label == "USD" and " USD" in p.info.value
    assert _ids(p) == ids and p.errors.outputs == ()


def test_oi_panel_date_range_cuts_every_mark(demo, oi_panel):
    rng = oi_panel.controls["date_range"]
    rng.index = (400, 800)
    start, end = rng.options[400][1], rng.options[800][1]
    full = venue_open_interest(demo, "1D")
    assert_stack(oi_panel.marks["level"], full.loc[start:end])
    z = bf.flow_metrics(demo, "1D", start=start, end=end)["oi_z"]
    np.testing.assert_array_equal(_x(oi_panel.marks["z"]), _t(z.index))
    assert len(z) < len(full) / 2


def test_oi_panel_without_oi_says_so(demo):
    p = OpenInterestPanel(MarketData.from_frames(spot=demo.spot, perp=demo.perp), debounce_ms=0)
    assert p.errors.outputs == ()
    assert len(p.marks["level"].x) == 0 and "no OI in this data" in p.info.value


def test_funding_spend_panel(demo):
    p = FundingSpendPanel(demo, timeframe="1D", debounce_ms=0)
    assert "btcflow-funding-spend" in p._dom_classes
    ids = {k: id(v) for k, v in p.marks.items()}
    want = funding_spend(demo, "1D")
    venues = want.drop(columns=["total", "venues"])
    assert_stack(p.marks["venues"], venues / 1e6)
    np.testing.assert_allclose(np.asarray(p.marks["total"].y, dtype=float),
                               want["total"].to_numpy() / 1e6)
    last = want.dropna(subset=["total"]).iloc[-1]
    assert f"{last['total'] / 1e6:+,.3f} USD m/day" in p.info.value
    p.scale.value = "USD k/day"
    assert_stack(p.marks["venues"], venues / 1e3)
    assert p.figure.axes[1].label == "USD k/day"
    assert f"{last['total'] / 1e3:+,.3f} USD k/day" in p.info.value
    p.controls["timeframe"].value = "1W"
    weekly = funding_spend(demo, "1W")
    np.testing.assert_allclose(np.asarray(p.marks["total"].y, dtype=float),
                               weekly["total"].to_numpy() / 1e3)
    assert {k: id(v) for k, v in p.marks.items()} == ids
    assert p.errors.outputs == () and p.status.value == ""


# ----------------------------------------------------------------- theme, legends, decimation
def _readable(color):
    from btcflow_nb.dashboard._theme import (DARK_BACKGROUND, LIGHT_BACKGROUND, MIN_CONTRAST,
                                             contrast_ratio)
    return min(contrast_ratio(color, LIGHT_BACKGROUND),
               contrast_ratio(color, DARK_BACKGROUND)) >= MIN_CONTRAST


@pytest.mark.parametrize("kind", ["oi", "spend"])
def test_panels_use_the_theme_and_html_legends(demo, kind):
    """Every mark colour reads on light and dark themes; no bqplot legend inside the plots;
    the HTML legend names each venue drawn; the titles say 'synthetic demo data' on the demo
    and not on other data."""
    cls = OpenInterestPanel if kind == "oi" else FundingSpendPanel
    p = cls(demo, timeframe="1D", debounce_ms=0)
    for name, mark in p.marks.items():
        assert not mark.display_legend, name
        assert all(_readable(c) for c in mark.colors), (name, list(mark.colors))
    for fig in p.figures.values():
        assert fig.title.endswith("· synthetic demo data"), fig.title
    stack = p.marks["level" if kind == "oi" else "venues"]
    legend = (p.legends["level"] if kind == "oi" else p.legend).value
    assert list(stack.labels) and all(f"> {v}</span>" in legend for v in stack.labels)
    assert legend.count("btcflow-legend-item") == len(stack.labels) + (0 if kind == "oi" else 2)
    real = MarketData.from_frames(spot=demo.spot, perp=demo.perp, funding=demo.funding,
                                  open_interest=demo.open_interest)
    q = cls(real, timeframe="1D", debounce_ms=0)
    assert not any("synthetic" in f.title for f in q.figures.values())


def test_stacked_bars_decimate_keeping_each_venues_extremes(demo):
    """Through assign_xy: a 2-D (venues x bars) stack sent at 100 px keeps, for every venue,
    the points minmax_indices picks (each pixel column's min and max per venue) -- and so each
    venue's overall highest and lowest bar -- and the exact data stays in the viewport."""
    from btcflow_nb.indicators.decimate import decimated_size_bound, minmax_indices

    p = OpenInterestPanel(demo, timeframe="1D", debounce_ms=0)
    mark = p.marks["level"]
    x, y, _ = p.viewport.exact(mark)
    assert y.ndim == 2 and y.shape == (len(p.venue_oi.columns), len(x))
    assert len(mark.x) == len(x)                        # 2,900 bars fit 1,600 px: all sent
    p.viewport.set_width(100)
    sent_x, sent_y = np.asarray(mark.x), np.asarray(mark.y, dtype=float)
    assert len(sent_x) <= decimated_size_bound(100, lines=y.shape[0]) < len(x)
    idx = minmax_indices(x, y, 100)
    np.testing.assert_array_equal(sent_y, y[:, idx])
    for row_sent, row in zip(sent_y, y):
        assert row_sent.max() == row.max() and row_sent.min() == row.min()
    x2, y2, _ = p.viewport.exact(mark)                  # exact data untouched
    np.testing.assert_array_equal(y2, y)
    p.controls["oi_unit"].value = "usd"                 # a control change re-decimates
    assert len(mark.x) <= decimated_size_bound(100, lines=y.shape[0])
    assert_stack_exact = p.viewport.exact(mark)[1]
    np.testing.assert_array_equal(
        assert_stack_exact, np.nan_to_num(p.venue_oi.dropna(how="all").to_numpy().T))
