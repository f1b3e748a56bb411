"""bf.explain(metrics, time): each condition of each signal at one bar, read from flow_metrics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import btcflow_nb as bf
from btcflow_nb import flow_metrics
from btcflow_nb.explanation import EXPLAIN_COLUMNS, explain
from btcflow_nb.marketdata import MarketData

SIGNALS = ["bullish", "bearish", "overleveraged", "cycle_top", "cycle_bottom",
           "alert_premium_high", "alert_premium_low"]


@pytest.fixture(scope="module")
def weekly(demo):
    return flow_metrics(demo, "1W")


def _verdicts(e: pd.DataFrame) -> dict:
    """Each signal recombined from explain's conditions alone."""
    out = {}
    for signal, rows in e.groupby("signal", sort=False):
        conds = rows.iloc[:-1]
        if signal == "bearish":   # the two "(either)" rows are combined in the "any" row
            conds = conds[~conds["condition"].str.contains("(either)", regex=False)]
        if signal.startswith("cycle"):   # at least m of the three z conditions
            z_rows = conds[conds["condition"].str.contains("_z ")]
            votes = conds[conds["condition"].str.startswith("votes")]
            assert votes["value"].iloc[0] == z_rows["passed"].sum()
            conds = conds[~conds.index.isin(z_rows.index)]
        out[signal] = bool(conds["passed"].all())
    return out


def test_explain_is_exported_lazily_and_tidy(weekly):
    assert bf.explain is explain
    e = bf.explain(weekly, "2024-03-13")   # a Wednesday: its week opens Monday 2024-03-11
    assert list(e.columns) == list(EXPLAIN_COLUMNS)
    assert e.attrs["time"] == pd.Timestamp("2024-03-11", tz="UTC")
    assert list(dict.fromkeys(e["signal"])) == SIGNALS
    assert e["passed"].dtype == bool


def test_explain_numbers_equal_flow_metrics_columns(weekly):
    p = weekly.attrs["params"]
    for t in weekly.index[300::17]:
        e = explain(weekly, t).set_index("condition")
        m = weekly.loc[t]
        np.testing.assert_array_equal(e.loc["oi_z < bull_oi_z_max", ["value", "mean", "std"]],
                                      m[["oi_z", "oi_z_mean", "oi_z_std"]].to_numpy(float))
        np.testing.assert_array_equal(
            e.loc["premium_z <= -cycle_k", ["value", "threshold", "mean", "std"]],
            [m["premium_z"], -p["cycle_k"], m["premium_z_mean"], m["premium_z_std"]])
        np.testing.assert_array_equal(e.loc["funding_z >= cycle_k", ["value", "mean", "std"]],
                                      m[["funding_z", "funding_z_mean", "funding_z_std"]]
                                      .to_numpy(float))
        assert e.loc["premium_pct > premium_trend (rising)", "threshold"] == m["premium_trend"]
        assert e.loc["premium_abs > bb_upper", "threshold"] == m["bb_upper"]
        assert e.loc["funding >= funding_hot", "value"] == m["funding"]
        # the window's mean and std rebuild the z-score
        if np.isfinite(m["oi_z"]):
            assert (m["oi_total"] - m["oi_z_mean"]) / m["oi_z_std"] == pytest.approx(m["oi_z"],
                                                                                     rel=1e-9)


@pytest.mark.parametrize("tf, kw", [("1W", {}), ("1D", {"apr": True, "lookback": 90}),
                                    ("1M", {"lookback": 12, "cycle_m": 1})])
def test_conditions_recombine_into_every_signal_on_every_bar(demo, tf, kw):
    m = flow_metrics(demo, tf, **kw)
    bars = m.index[1:] if tf != "1D" else m.index[1::7]
    for t in bars:
        e = explain(m, t)
        got = _verdicts(e)
        verdict_rows = e[e["condition"].str.startswith("=>")].set_index("signal")["passed"]
        for s in SIGNALS:
            assert got[s] == bool(m.loc[t, s]) == verdict_rows[s], (t, s)


def test_text_form_and_open_bar():
    days = pd.date_range("2025-01-01", periods=40, freq="D", tz="UTC", name="time")
    px = pd.DataFrame({"a": np.linspace(100.0, 140.0, 40)}, index=days)
    md = MarketData.from_frames(spot=px, perp=px * 1.001,
                                meta={"fetched_at": "2025-02-09T13:00:00+00:00"})
    m = flow_metrics(md, "1W", lookback=2)
    assert m.attrs["open_bar"] and m["open_bar"].iloc[-1] and not m["open_bar"].iloc[:-1].any()
    text = explain(m, m.index[-1], as_text=True)
    assert "OPEN: provisional" in text and "bullish:" in text and "[FAIL]" in text
    assert "closed" in explain(m, m.index[-2], as_text=True).splitlines()[0]


def test_explain_bad_input(weekly):
    with pytest.raises(ValueError, match=r"time='2030-01-01' is in no bar of metrics .*valid "
                                         r"range: 2018-01-01"):
        explain(weekly, "2030-01-01")
    with pytest.raises(ValueError, match="metrics must be a frame returned by flow_metrics"):
        explain(pd.DataFrame({"x": [1]}), "2024-01-01")
