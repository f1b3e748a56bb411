"""TermStructurePanel driven without a browser: its marks show `term_structure` now and at the
chosen date and `constant_maturity` for the chosen maturity, updated in place."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb import MarketData
from btcflow_nb.basis import annualized_basis, constant_maturity, term_structure
from btcflow_nb.dashboard.term_structure import TermStructurePanel

RATES = {"deribit": 0.08, "okx": 0.06}


@pytest.fixture(scope="module")
def md():
    times = pd.date_range("2026-01-01", periods=60, freq="D", tz="UTC")
    spot = 90_000 + 5_000 * np.sin(np.arange(60) / 7)
    expiries = {"deribit": ["2026-01-30", "2026-02-27", "2026-03-27", "2026-06-26"],
                "okx": ["2026-03-27", "2026-06-26", "2026-09-25"]}
    rows = []
    for venue, days in expiries.items():
        for e in days:
            expiry = pd.Timestamp(e + " 08:00", tz="UTC")
            for t, s in zip(times, spot):
                d = (expiry - (t + pd.Timedelta(days=1))) / pd.Timedelta(days=1)
                if t < expiry:
                    rows.append({"venue": venue, "symbol": f"BTC/USD:BTC-{expiry:%y%m%d}",
                                 "expiry": expiry, "time": t,
                                 "close": round(s * (1 + RATES[venue] * d / 365), 1)})
    return MarketData.from_frames(spot=pd.DataFrame({"coinbase": spot}, index=times),
                                  futures=pd.DataFrame(rows))


def _rows(mark):
    return np.atleast_2d(np.asarray(mark.x, dtype=float)), np.atleast_2d(
        np.asarray(mark.y, dtype=float))


def _assert_curve(panel, name, ts):
    x, y = _rows(panel.marks[name])
    for i, venue in enumerate(panel.venues):
        rows = ts[ts["venue"] == venue]
        n = len(rows)
        np.testing.assert_allclose(x[i, :n], rows["days_to_expiry"].to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(y[i, :n], rows["annualized"].to_numpy() * 100, rtol=1e-12)
        assert np.isnan(x[i, n:]).all()


def test_panel_shows_term_structure_now_and_at_the_date(md):
    panel = TermStructurePanel(md)
    b = annualized_basis(md)
    _assert_curve(panel, "now", term_structure(b))
    figures = list(panel.figures)
    panel.at.value = panel.times[5]
    _assert_curve(panel, "then", term_structure(b, panel.times[5]))
    assert list(panel.figures) == figures       # updated in place, never rebuilt
    assert len(term_structure(b, panel.times[5])) == 7
    assert "7 on 2026-01-06" in panel.readout.value
    # the basis of this data is each venue's rate
    np.testing.assert_allclose(np.asarray(panel.marks["now"].y, dtype=float)[0, :2], 8.0,
                               atol=0.01)


def test_panel_constant_maturity_follows_the_days_control(md):
    panel = TermStructurePanel(md)
    b = annualized_basis(md)
    for days in (90.0, 30.0):
        panel.days.value = days
        want = constant_maturity(b, days).reindex(index=panel.times, columns=panel.venues)
        y = np.asarray(panel.marks["cm"].y, dtype=float)
        np.testing.assert_allclose(y, want.to_numpy().T * 100, rtol=1e-12)
        assert np.isfinite(y[0]).sum() > 10
        assert f"{days:g}-day constant-maturity basis now" in panel.readout.value
    assert panel._guard.status.value == ""


def test_panel_without_dated_futures_says_so(demo):
    with pytest.raises(ValueError, match="no dated futures"):
        TermStructurePanel(MarketData.from_frames(spot=demo.spot))


def test_panel_on_the_demo_data(demo):
    panel = TermStructurePanel(demo)
    assert panel.venues == ["binance_coinm", "deribit"]
    cm = np.asarray(panel.marks["cm"].y, dtype=float)
    assert np.isfinite(cm).mean() > 0.6
    assert panel._guard.status.value == ""


def test_theme_legends_and_decimation(md, demo):
    """Palette colours readable on both themes, HTML legends naming each venue (no bqplot
    legend), 'synthetic demo data' only on the demo, and the constant-maturity series through
    assign_xy: decimated on its viewport, exact data kept."""
    from btcflow_nb.dashboard._theme import PALETTE
    from btcflow_nb.indicators.decimate import minmax_indices

    p = TermStructurePanel(md)
    assert not any(f.title.endswith("synthetic demo data") for f in p.figures)
    assert set(p.marks["now"].colors) <= set(PALETTE.values())
    assert not any(m.display_legend for m in p.marks.values())
    assert all(f"> {v} now</span>" in p.legends[0].value for v in p.venues)
    assert all(f"> {v} 90 d</span>" in p.legends[1].value for v in p.venues)
    p.days.value = 60
    assert all(f"> {v} 60 d</span>" in p.legends[1].value for v in p.venues)
    d = TermStructurePanel(demo)
    assert all(f.title.endswith("· synthetic demo data") for f in d.figures)
    cm = d.marks["cm"]
    x, y, _ = d.viewport.exact(cm)
    d.viewport.set_width(120)
    np.testing.assert_array_equal(np.asarray(cm.y, dtype=float), y[:, minmax_indices(x, y, 120)])
    assert len(cm.x) < len(x) == len(d.times)
