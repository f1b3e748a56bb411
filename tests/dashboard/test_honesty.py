"""Depth honesty on the dashboards (issue 11): what was loaded and what failed, the OI
low-coverage band, the venue counts of the last bar, and why a z-score starts late.

Expectations come from ``flow_metrics`` / ``md.depth`` called here with explicit keywords and
from the ``meta`` the test wrote, never from the dashboards' own helpers.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import btcflow_nb as bf
from btcflow_nb.dashboard import FlowDashboard, PremiumIndexPanel, SignalStudyPanel
from btcflow_nb.dashboard._honesty import LOW_COVERAGE
from btcflow_nb.dashboard.readouts import age_text
from btcflow_nb.marketdata import MarketData

FETCHED = "2026-11-29T08:00:00+00:00"
ERRORS = {"okx": "RequestTimeout: okx GET https://www.okx.com/api/v5/market/history-candles "
                 "timed out after 10000 ms (attempt 4 of 4)\nTraceback ...",
          "htx": "ExchangeNotAvailable: 503 Service Unavailable"}


def _with_meta(md, **meta) -> MarketData:
    return MarketData.from_frames(spot=md.spot, perp=md.perp, funding=md.funding,
                                  open_interest=md.open_interest, meta=meta)


@pytest.fixture(scope="module")
def failing(demo):
    """The demo's frames as a live fetch in which two venues failed."""
    return _with_meta(demo, source="live", fetched_at=FETCHED, errors=dict(ERRORS))


# ------------------------------------------------------------------ what was loaded
@pytest.mark.parametrize("cls", [FlowDashboard, PremiumIndexPanel])
def test_info_panel_and_load_line_list_failed_venues_with_a_short_reason(failing, cls):
    d = cls(failing, debounce_ms=0)
    for text in (d.info.value, d.load_line.value, d.summary()):
        assert "okx" in text and "htx" in text
        assert "RequestTimeout" in text and "ExchangeNotAvailable" in text
        assert "Traceback" not in text                    # first line only
    row = [r for r in d.summary().splitlines() if r.startswith("failed venues")]
    assert len(row) == 1 and row[0].index("htx") < row[0].index("okx")   # sorted by name
    assert "…" in row[0] and len(row[0]) < 100            # long reasons shortened
    assert "503 Service Unavailable" in d.load_line.value     # the line has room for more
    assert "⚠" in d.load_line.value


def test_no_failures_no_failed_row(demo):
    d = FlowDashboard(_with_meta(demo, source="live", fetched_at=FETCHED, errors={}),
                      debounce_ms=0)
    assert "failed" not in d.info.value and "failed" not in d.load_line.value
    assert "⚠" not in d.load_line.value


def test_load_line_shows_source_freshness_and_the_fallback_reason(demo):
    fallback = "no network: using the cache from 2026-11-29 08:00 UTC"
    md = _with_meta(demo, source="cache", fetched_at=FETCHED, errors={},
                    load={"source": "cache", "requested": "auto", "fetched_at": FETCHED,
                          "fallback": fallback, "failures": {"bybit": "NetworkError: down"}})
    for d in (FlowDashboard(md, timeframe="1D", debounce_ms=0), PremiumIndexPanel(md, debounce_ms=0),
              SignalStudyPanel(md, n_boot=50)):
        line = d.load_line.value
        assert "loaded: cache" in line and fallback in line
        assert "fetched 2026-11-29 08:00 UTC, " in line and " ago" in line
        assert "bybit (NetworkError: down)" in line        # a failure the loader recorded
        assert d.load_line.layout.display != "none"
        assert d.load_line in d.children                  # visible, near the top
        assert list(d.children).index(d.load_line) <= 2
    flow = FlowDashboard(md, timeframe="1D", debounce_ms=0)
    assert "fetched 2026-11-29 08:00 UTC, " in flow.info.value    # the freshness readout


def test_demo_keeps_its_badge_and_says_so_in_the_load_line(demo):
    for d in (FlowDashboard(demo, timeframe="1D", debounce_ms=0), SignalStudyPanel(demo, n_boot=50)):
        assert "loaded: demo (synthetic demo data" in d.load_line.value
    d = FlowDashboard(demo, timeframe="1D", debounce_ms=0)
    assert "synthetic demo data" in d.badge.value and d.badge.layout.display != "none"


def test_bf_load_result_is_shown(demo, monkeypatch, tmp_path):
    monkeypatch.delenv("BTCFLOW_NB_SOURCE", raising=False)
    md = bf.load("demo", cache_dir=tmp_path)
    d = FlowDashboard(md, timeframe="1D", debounce_ms=0)
    assert "loaded: demo" in d.load_line.value


def test_age_text_units():
    now = pd.Timestamp("2026-11-30 08:00", tz="UTC")
    assert age_text("2026-11-30T07:48:00Z", now) == "12 min ago"
    assert age_text("2026-11-29T12:00:00Z", now) == "20 h ago"
    assert age_text("2026-11-25T08:00:00Z", now) == "5 days ago"
    assert age_text(None, now) == ""


# ------------------------------------------------------------------ OI coverage
def _band_bars(mark, index: pd.DatetimeIndex) -> np.ndarray:
    """Bars of ``index`` inside the band's rectangles ([start, end) per run)."""
    x = np.asarray(mark.x).astype("datetime64[ns]")
    t = index.tz_convert(None).to_numpy().astype("datetime64[ns]")
    inside = np.zeros(len(t), dtype=bool)
    for start, end in zip(x[0::3], x[1::3]):
        inside |= (t >= start) & (t < end)
    return inside


def test_low_coverage_band_covers_exactly_the_low_bars(demo):
    d = FlowDashboard(demo, timeframe="1D", debounce_ms=0)
    band = d.marks["oi_coverage"]
    assert band in d.figures["oi"].marks and band.visible
    assert (band.scales["y"].min, band.scales["y"].max) == (0.0, 1.0)
    m = bf.flow_metrics(demo, "1D")
    low = m["oi_coverage"].to_numpy(dtype=float) < LOW_COVERAGE
    assert 0 < low.sum() < len(low)                     # the demo has both
    np.testing.assert_array_equal(_band_bars(band, m.index), low)
    fig_id, mark_id = id(d.figures["oi"]), id(band)
    # a narrower date range: the band follows, in place
    rng = d.controls["date_range"]
    switch = m.index[np.flatnonzero(np.diff(low.astype(int)))[0]]  # low and full in range
    times = pd.DatetimeIndex([ts for _, ts in rng.options])
    lo = max(int(times.searchsorted(switch - pd.Timedelta(days=200))), 1)
    hi = int(times.searchsorted(switch + pd.Timedelta(days=200)))
    rng.index = (lo, hi)
    start, end = rng.options[lo][1], rng.options[hi][1]
    m2 = bf.flow_metrics(demo, "1D", start=start, end=end)
    low2 = m2["oi_coverage"].to_numpy(dtype=float) < LOW_COVERAGE
    np.testing.assert_array_equal(_band_bars(band, m2.index), low2)
    assert 0 < low2.sum() < len(low2)
    x = np.asarray(band.x).astype("datetime64[ns]")
    assert x.min() >= m2.index[0].tz_convert(None).to_datetime64()
    assert (id(d.figures["oi"]), id(d.marks["oi_coverage"])) == (fig_id, mark_id)
    # full coverage everywhere: no band
    one = MarketData.from_frames(spot=demo.spot, perp=demo.perp, funding=demo.funding,
                                 open_interest=demo.open_interest.query("venue == 'bybit'"),
                                 meta={"source": "frames"})
    d1 = FlowDashboard(one, timeframe="1D", debounce_ms=0)
    assert len(d1.marks["oi_coverage"].x) == 0 and not d1.marks["oi_coverage"].visible


def test_info_panel_shows_the_last_bar_venue_counts_and_coverage(demo):
    d = FlowDashboard(demo, timeframe="1D", debounce_ms=0)
    last = bf.flow_metrics(demo, "1D").iloc[-1]
    n_oi = len(demo.venues("open_interest"))
    rows = dict(r.split("  ", 1) for r in d.summary().splitlines()[:-1])
    rows = {k.strip(): v.strip() for k, v in rows.items()}
    assert rows["OI venues (last bar)"].startswith(
        f"{int(last['oi_venues'])} of {n_oi}, coverage {last['oi_coverage']:.0%}")
    assert rows["basket venues (last bar)"] == (f"spot {int(last['spot_venues'])}, "
                                                f"perp {int(last['perp_venues'])}")
    d.controls["perp_venues"].value = ("bybit", "deribit")
    last2 = bf.flow_metrics(demo, "1D", perp_venues=["bybit", "deribit"]).iloc[-1]
    assert f"{int(last2['oi_venues'])} of 2, coverage {last2['oi_coverage']:.0%}" in d.info.value


# ------------------------------------------------------------------ late z-scores
@pytest.fixture(scope="module")
def late_oi(demo):
    """OI only from 2024-06-01 (a venue serving shallow history), prices from 2018."""
    oi = demo.open_interest[demo.open_interest["time"] >= pd.Timestamp("2024-06-01", tz="UTC")]
    note = "bybit open interest: asked from 2018-01-01, served from 2024-06-01"
    return MarketData.from_frames(spot=demo.spot, perp=demo.perp, funding=demo.funding,
                                  open_interest=oi.reset_index(drop=True),
                                  meta={"source": "live", "notes": [note]})


def _first_z(m: pd.DataFrame, col: str) -> pd.Timestamp:
    return m.index[np.isfinite(m[col].to_numpy(dtype=float))][0]


def test_late_oi_z_says_from_when_and_why(late_oi):
    d = FlowDashboard(late_oi, timeframe="1D", debounce_ms=0)
    z_from = _first_z(bf.flow_metrics(late_oi, "1D"), "oi_z")    # 364 bars after 2024-06-01
    assert z_from == pd.Timestamp("2024-06-01", tz="UTC") + pd.Timedelta(days=364)
    msg = d.panel_messages["oi"].value
    assert f"OI z from {z_from:%Y-%m-%d}: no open interest before 2024-06-01" in msg
    assert "served from 2024-06-01" in msg                  # the fetch's note: why
    assert "OI z from" in d.figures["oi"].title
    assert d.panel_messages["premium"].value == "" and d.panel_messages["funding"].value == ""
    d.controls["lookback"].value = 30                           # the message follows
    z30 = _first_z(bf.flow_metrics(late_oi, "1D", lookback=30), "oi_z")
    assert f"OI z from {z30:%Y-%m-%d}" in d.panel_messages["oi"].value
    d.controls["timeframe"].value = "1W"
    m = bf.flow_metrics(late_oi, "1W", lookback=d.controls["lookback"].value)
    zw = _first_z(m, "oi_z") if np.isfinite(m["oi_z"].to_numpy(dtype=float)).any() else None
    text = d.panel_messages["oi"].value
    assert (f"OI z from {zw:%Y-%m-%d}" in text) if zw is not None else ("no OI z yet" in text)


def test_no_late_message_when_every_series_starts_with_the_prices(demo):
    d = FlowDashboard(demo, timeframe="1D", debounce_ms=0)
    assert all(" z from " not in w.value for w in d.panel_messages.values())


def test_a_lookback_change_runs_md_depth_again_only_when_a_series_starts_late(demo, late_oi,
                                                                              monkeypatch):
    """Whether a series starts after the first bar does not depend on the lookback: with no
    late series a new lookback does not recompute ``md.depth``; with one, the note follows."""
    import btcflow_nb.dashboard.flow as flow_module

    calls = []
    real = flow_module.late_z_for
    monkeypatch.setattr(flow_module, "late_z_for",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    d = FlowDashboard(demo, timeframe="1D", debounce_ms=0)
    assert len(calls) == 1
    d.controls["lookback"].value = 30
    d.controls["lookback"].value = 31
    assert len(calls) == 1 and all(" z from " not in w.value for w in d.panel_messages.values())
    d.controls["timeframe"].value = "1W"        # another timeframe: asked again
    assert len(calls) == 2
    late = FlowDashboard(late_oi, timeframe="1D", debounce_ms=0)
    late.controls["lookback"].value = 30
    assert len(calls) == 4
    z30 = _first_z(bf.flow_metrics(late_oi, "1D", lookback=30), "oi_z")
    assert f"OI z from {z30:%Y-%m-%d}" in late.panel_messages["oi"].value
