"""`CoverageChart`: one horizontal line per (field, venue) from its first to its last row.

A bqplot figure with a date axis (pan/zoom) and tooltips (rows, gaps); built once from
``md.coverage()``.  Nothing is computed here beyond what `MarketData.coverage` reports.
"""
from __future__ import annotations

import bqplot as bq
import ipywidgets as W
import numpy as np
import pandas as pd

_FIELD_COLORS = {"spot": "#1f77b4", "perp": "#ff7f0e", "funding": "#2ca02c",
                 "open_interest": "#9467bd", "futures": "#8c564b"}   # futures: one row a contract


class CoverageChart(W.VBox):
    """Coverage of a MarketData: first/last time, rows and gaps per field and venue (dated
    futures: one row per contract).  `fields`: the fields drawn (default: all).

    >>> CoverageChart(md)                          # doctest: +SKIP
    """

    def __init__(self, md, *, height_per_row: int = 18, fields=None):
        self.coverage = md.coverage()
        if fields is not None:
            from .._checks import check_choice

            for f in [fields] if isinstance(fields, str) else fields:
                check_choice("field", f, tuple(_FIELD_COLORS))
            keep = self.coverage["field"].isin([fields] if isinstance(fields, str) else fields)
            self.coverage = self.coverage[keep].reset_index(drop=True)
        cov = self.coverage
        labels = [f"{f} · {v}" for f, v in zip(cov["field"], cov["venue"])]
        first = pd.to_datetime(cov["first"], utc=True).dt.tz_convert(None).to_numpy()
        last = pd.to_datetime(cov["last"], utc=True).dt.tz_convert(None).to_numpy()
        x_scale = bq.DateScale()
        y_scale = bq.OrdinalScale(domain=labels[::-1])
        marks = []
        for field, color in _FIELD_COLORS.items():
            rows = np.flatnonzero(cov["field"].to_numpy() == field)
            if not len(rows):
                continue
            x = np.stack([first[rows], last[rows]], axis=1)
            y = np.array([[labels[i], labels[i]] for i in rows])
            marks.append(bq.Lines(x=x, y=y, scales={"x": x_scale, "y": y_scale},
                                  colors=[color], stroke_width=6,
                                  labels=[labels[i] for i in rows]))
            marks.append(bq.Scatter(x=last[rows], y=[labels[i] for i in rows],
                                    scales={"x": x_scale, "y": y_scale}, colors=[color],
                                    default_size=24,
                                    names=[f"{int(cov['rows'].iloc[i])} rows, "
                                           f"{int(cov['gaps'].iloc[i])} gaps" for i in rows],
                                    display_names=False,
                                    tooltip=bq.Tooltip(fields=["x", "y"], formats=["%Y-%m-%d", ""])))
        self.figure = bq.Figure(
            marks=marks,
            axes=[bq.Axis(scale=x_scale, label="time (UTC)"),
                  bq.Axis(scale=y_scale, side="left", tick_style={"font-size": "10px"})],
            fig_margin={"top": 10, "bottom": 40, "left": 170, "right": 20},
            interaction=bq.interacts.PanZoom(scales={"x": [x_scale]}),
            layout=W.Layout(width="100%", height=f"{max(160, 40 + height_per_row * len(cov))}px"))
        super().__init__([self.figure])

    def __repr__(self) -> str:  # short and deterministic (it is stored in notebooks)
        fields = list(dict.fromkeys(self.coverage["field"]))
        return f"CoverageChart(rows={len(self.coverage)}, fields={fields})"
