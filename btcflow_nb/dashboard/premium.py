"""PremiumIndexPanel: the BTC Spot vs Futures Premium Index (premium in USD with Bollinger bands)."""
from __future__ import annotations

import bqplot as bq
import ipywidgets as W
import numpy as np
import pandas as pd

from ._base import _ALERT_SPECS, _DashboardBase, _defaults
from ._widgets import (GREY, RED, floats, new_panel_figure, plot_times, set_sign_bars, sign_bars,
                       tooltip)
from ._honesty import failed_rows
from ._signal_layer import OPEN_OPACITY
from ._viewport import assign_xy
from .readouts import (MAX_ALERT_ROWS, alerts_table_html, premium_alert_rows, premium_info,
                       window_notes)

_STYLE = {"description_width": "110px"}


class PremiumIndexPanel(_DashboardBase):
    """Spot vs futures premium index on any :class:`~btcflow_nb.MarketData`.

    premium = ``S − F`` in USD (``F``: the perp basket or one futures venue), drawn as green
    (spot-led, ``≥ 0``) / red (futures-led) bars with a zero line and Bollinger bands
    ``SMA(premium, L) ± m·σ(premium, L)`` (population σ). Markers show the two alerts:
    premium crossing above the upper band ("spot premium too high") and crossing below the
    lower band ("futures premium too high / spot selling pressure").

    Controls (each a ``flow_metrics`` keyword): timeframe, date range (start/end),
    ``bb_length``, ``bb_mult``, ``futures``. The info panel shows the latest spot, futures and
    premium, and whether the last bar is closed or *provisional (bar open)*; an alert on the open
    bar is drawn faded and the alerts table lists closed bars unless ``include_open`` is
    ticked. A ``bb_length`` longer than the data draws no bands and says so above the chart
    (``flow_metrics``' ``attrs["notes"]``). Marks are updated in place inside ``hold_sync()``; a change is answered at once
    and a burst after it coalesced by ``debounce_ms`` (0 = synchronous).

    Attributes: ``controls``, ``figure`` (DOM class ``btcflow-panel-premium-index``), ``marks``
    (``premium_bars``, ``zero``, ``bb_basis``, ``bb_upper``, ``bb_lower``, ``alert_high``,
    ``alert_low``), ``x_scale``, ``metrics``, ``info``, ``alerts``, ``status``, ``errors``;
    methods ``params()``, ``summary()``, ``alert_rows()``, ``refresh()``.
    """

    _root_class = "btcflow-premium-index"

    def __init__(self, md, *, timeframe: str | None = None, debounce_ms: float = 150):
        super().__init__(md, timeframe=timeframe, debounce_ms=debounce_ms)
        self.add_class(self._root_class)
        d = _defaults()
        c = self.controls
        for name, cls, kw in _ALERT_SPECS:  # bb_length, bb_mult
            c[name] = cls(value=d[name], continuous_update=False, style=_STYLE, **kw)
        perp = list(self.md.venues("perp"))
        c["futures"] = W.Dropdown(options=["basket"] + perp, value=d["futures"],
                                  description="futures", style=_STYLE)
        for name in ("bb_length", "bb_mult", "futures"):
            c[name].add_class(f"btcflow-ctl-{name.replace('_', '-')}")

        xs = self.x_scale
        sc = {"x": xs, "y": bq.LinearScale()}
        m = {
            "premium_bars": sign_bars(xs, sc["y"], "premium USD"),
            "zero": bq.Lines(x=[], y=[], scales=sc, colors=[GREY]),
            "bb_basis": bq.Lines(x=[], y=[], scales=sc, colors=["#ff7f0e"], labels=["basis"],
                                 display_legend=True),
            "bb_upper": bq.Lines(x=[], y=[], scales=sc, colors=["#1f77b4"], labels=["upper"],
                                 display_legend=True, line_style="dashed"),
            "bb_lower": bq.Lines(x=[], y=[], scales=sc, colors=["#1f77b4"], labels=["lower"],
                                 display_legend=True, line_style="dashed"),
            "alert_high": bq.Scatter(x=[], y=[], scales=sc, marker="triangle-down",
                                     colors=[RED], default_size=36,
                                     labels=["spot premium too high"], display_legend=True,
                                     tooltip=tooltip("premium USD")),
            "alert_low": bq.Scatter(x=[], y=[], scales=sc, marker="triangle-up",
                                    colors=["#9467bd"], default_size=36,
                                    labels=["futures premium too high"], display_legend=True,
                                    tooltip=tooltip("premium USD")),
        }
        self.marks = m
        self.figure = new_panel_figure("Spot − futures premium (USD)", xs, sc["y"], "USD",
                                       list(m.values()), "btcflow-panel-premium-index",
                                       height="380px")
        self.figures = {"premium_index": self.figure}
        self._base_title = self.figure.title
        self.panel_message = W.HTML(value="")
        self.info = W.HTML(layout=W.Layout(width="340px"))
        self.info.add_class("btcflow-info")
        self.alerts = W.HTML(layout=W.Layout(flex="1", max_height="260px", overflow="auto"))
        self.alerts.add_class("btcflow-alerts")
        header = W.HBox([W.HTML("<h3 style='margin:4px 0'>BTC spot vs futures premium index</h3>"),
                         self.badge], layout=W.Layout(align_items="center"))
        self.children = [
            header, self.load_line, self.status,
            W.HBox([c["timeframe"], c["date_range"], self.range_label, self.reset_zoom_button]),
            W.HBox([c["bb_length"], c["bb_mult"], c["futures"], self.include_open]),
            self.panel_message, self.figure,
            W.HBox([self.info, self.alerts], layout=W.Layout(justify_content="space-between")),
            self._guard.clear_errors_button, self.errors,
        ]
        self.x_scale.observe(lambda _c: self._guard.run(self._update_alerts), ["min", "max"])
        self._wire()

    def params(self, full_range: bool = False) -> dict:
        """Keyword arguments of ``flow_metrics`` for the current control values."""
        c = self.controls
        start, end = self._range_bounds(full_range)
        return {"timeframe": c["timeframe"].value,
                "bb_length": c["bb_length"].value, "bb_mult": c["bb_mult"].value,
                "futures": c["futures"].value,
                "start": start, "end": end}

    def _recompute_and_render(self) -> None:
        p = self.params()
        m = self._metrics_for(p)
        self.metrics = m
        t = plot_times(m.index)
        mk = self.marks
        prem = floats(m["premium_abs"])
        ok = np.isfinite(prem)
        set_sign_bars(mk["premium_bars"], t, prem)
        ends = t[[0, -1]] if len(t) else t
        assign_xy(mk["zero"], ends, np.zeros(len(ends)))
        for key in ("bb_basis", "bb_upper", "bb_lower"):
            assign_xy(mk[key], t, floats(m[key]))
        is_open = m["open_bar"].to_numpy(dtype=bool)
        for key, col in (("alert_high", "alert_premium_high"), ("alert_low", "alert_premium_low")):
            mask = m[f"{col}_onset"].to_numpy(dtype=bool) & np.isfinite(prem)
            with mk[key].hold_sync():   # an alert on the open bar is provisional: faded
                assign_xy(mk[key], t[mask], prem[mask], decimate=False)
                mk[key].opacities = np.where(is_open[mask], OPEN_OPACITY, 1.0).tolist()
        fut = "perp basket" if p["futures"] == "basket" else p["futures"]
        reason = ""
        if len(self.md.spot) == 0:
            reason = "no spot data: the premium needs spot closes"
        elif len(self.md.perp) == 0:
            reason = "no perp data: the premium needs futures closes"
        elif not ok.any():
            reason = f"no bar in the selected range has both spot and {fut} closes"
        reason = " · ".join(r for r in (reason, *window_notes(m, "premium_index")) if r)
        self.panel_message.value = f"<div style='color:#8a6d00'>⚠ {reason}</div>" if reason else ""
        self.figure.title = (f"{self._base_title} — {reason}" if reason
                             else f"Spot − {fut} premium (USD), BB({p['bb_length']}, "
                                  f"{p['bb_mult']:g})")
        rows, last_bar = premium_info(m, fut)
        self._set_info(rows + failed_rows(self.meta), last_bar)
        self._update_alerts()

    # cross events: an alert is its own onset (a cross cannot hold on two bars in a row)
    _KINDS = {"alert_premium_high_onset": "spot premium too high (crossed above upper band)",
              "alert_premium_low_onset": "futures premium too high (crossed below lower band)"}

    def _alert_hits(self):
        return self._alert_hits_of(self._KINDS)

    def alert_rows(self, limit: int | None = None) -> list[tuple[pd.Timestamp, str, str]]:
        """(time, kind, values) of the two premium alerts in the visible range, newest first."""
        return premium_alert_rows(self._alert_hits(), self._KINDS, limit)

    def _update_alerts(self) -> None:
        if self.metrics is None:
            return
        n = len(self._alert_hits()[1])
        rows = self.alert_rows(limit=MAX_ALERT_ROWS)
        self.alerts.value = alerts_table_html(rows, n, self.controls["timeframe"].value,
                                              open_note=self._open_note())
