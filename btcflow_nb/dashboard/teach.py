"""ZScoreExplorer: a small teaching widget — how a rolling z-score reacts to its lookback."""
from __future__ import annotations

import bqplot as bq
import ipywidgets as W
import numpy as np
import pandas as pd

from .. import indicators as _ind
from ._widgets import Debouncer, GuardedRunner, floats, fmt_num, plot_times, tooltip


class ZScoreExplorer(W.VBox):
    """Show a series with its rolling mean ± 1σ band, and its z-score, for a chosen lookback.

    ``z_t = (x_t − SMA(x, w)_t) / σ(x, w)_t`` with the population σ
    (:func:`btcflow_nb.indicators.zscore`). A short lookback makes the z-score jumpy and
    quick to forget; a long one makes it slow and leaves the first ``w − 1`` bars without a
    value. The readout counts how often ``|z| ≥ threshold`` — the rate at which a threshold
    rule (OI hot, cycle extremes) would fire for that lookback.

    Parameters
    ----------
    series : pandas.Series
        Values indexed by time (e.g. ``flow_metrics(md, "1W")["oi_total"]``).
    lookback : int
        Initial window in bars.
    threshold : float
        |z| level counted in the readout.
    debounce_ms : float
        After an answered slider move, coalesce further moves into one update per window
        [ms]; 0 = synchronous.
    """

    def __init__(self, series: pd.Series, *, lookback: int = 52, threshold: float = 2.0,
                 title: str | None = None, debounce_ms: float = 100):
        super().__init__()
        if not isinstance(series, pd.Series) or not isinstance(series.index, pd.DatetimeIndex):
            raise ValueError("series must be a pandas Series with a DatetimeIndex; got "
                             f"{type(series).__name__}")
        self.series = series.dropna()
        if len(self.series) < 3:
            raise ValueError(f"series has {len(self.series)} non-NaN values; need at least 3")
        self.add_class("btcflow-zscore-explorer")
        self.threshold = float(threshold)
        self._guard = GuardedRunner()
        self.lookback = W.IntSlider(value=min(lookback, len(self.series)), min=2,
                                    max=len(self.series), description="lookback",
                                    continuous_update=True)
        self.lookback.add_class("btcflow-ctl-teach-lookback")
        xs = bq.DateScale()
        t = plot_times(self.series.index)
        x_vals = floats(self.series)
        top = {"x": xs, "y": bq.LinearScale()}
        self.marks = {
            "x": bq.Lines(x=t, y=x_vals, scales=top, colors=["black"], labels=["x"],
                          display_legend=True, tooltip=tooltip("x", ".4g")),
            "band": bq.Lines(x=t, y=np.full((3, len(t)), np.nan), scales=top,
                             colors=["#ff7f0e", "#1f77b4", "#1f77b4"],
                             line_style="dashed", labels=["SMA", "SMA+σ", "SMA−σ"],
                             display_legend=True),
        }
        bottom = {"x": xs, "y": bq.LinearScale()}
        self.marks["z"] = bq.Lines(x=t, y=np.full(len(t), np.nan), scales=bottom,
                                   colors=["#8c564b"], labels=["z"], display_legend=True,
                                   tooltip=tooltip("z"))
        self.marks["levels"] = bq.Lines(x=t[[0, -1]], y=[[threshold] * 2, [-threshold] * 2],
                                        scales=bottom, colors=["#d62728"], line_style="dotted")
        self.figures = [
            bq.Figure(title=title or "series with SMA ± 1σ", marks=[self.marks["x"],
                      self.marks["band"]], axes=[bq.Axis(scale=xs), bq.Axis(
                          scale=top["y"], side="left")],
                      interaction=bq.PanZoom(scales={"x": [xs]}),
                      fig_margin={"top": 30, "bottom": 30, "left": 60, "right": 20},
                      layout=W.Layout(width="100%", height="220px")),
            bq.Figure(title="z-score", marks=[self.marks["z"], self.marks["levels"]],
                      axes=[bq.Axis(scale=xs), bq.Axis(scale=bottom["y"],
                                                       side="left", label="z")],
                      interaction=bq.PanZoom(scales={"x": [xs]}),
                      fig_margin={"top": 30, "bottom": 30, "left": 60, "right": 20},
                      layout=W.Layout(width="100%", height="200px")),
        ]
        self.readout = W.HTML()
        self._debounce = Debouncer(debounce_ms, lambda: self._guard.run(self._update))
        self.lookback.observe(lambda _c: self._debounce(), "value")
        self.children = [self.lookback, self.readout, *self.figures, self._guard.status,
                         self._guard.errors]
        self._guard.run(self._update)

    def _update(self) -> None:
        w = self.lookback.value
        z = _ind.zscore(self.series, w)
        basis = _ind.sma(self.series, w)
        sd = _ind.stdev(self.series, w)
        with self.marks["band"].hold_sync():
            self.marks["band"].y = np.vstack([floats(basis), floats(basis + sd),
                                              floats(basis - sd)])
        with self.marks["z"].hold_sync():
            self.marks["z"].y = floats(z)
        valid = z.dropna()
        share = float((valid.abs() >= self.threshold).mean() * 100) if len(valid) else np.nan
        self.readout.value = (
            f"lookback <b>{w}</b> bars: first z at bar {w} of {len(self.series)}; "
            f"latest z = <b>{fmt_num(valid.iloc[-1] if len(valid) else np.nan, '+.2f')}</b>; "
            f"|z| ≥ {self.threshold:g} on {fmt_num(share, '.1f')} % of bars")

    def __repr__(self) -> str:
        return f"ZScoreExplorer(n={len(self.series)}, lookback={self.lookback.value})"
