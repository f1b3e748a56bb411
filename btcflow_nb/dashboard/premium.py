"""PremiumIndexPanel: the BTC Spot vs Futures Premium Index (premium in USD with Bollinger bands)."""
from __future__ import annotations

import bqplot as bq
import ipywidgets as W
import numpy as np
import pandas as pd

from ..legs import COINBASE_PREMIUM, Leg, leg_choices
from ._base import _ALERT_SPECS, _DashboardBase, _defaults
from ._widgets import (GREEN, GREY, RED, floats, new_panel_figure, plot_times, set_sign_bars,
                       sign_bars, tooltip)
from ._honesty import failed_rows
from ._theme import PALETTE, charts_and_side, legend_widget, style_widget
from ._crosshair import Crosshair, premium_window_html
from ._signal_layer import OPEN_OPACITY
from ._viewport import assign_xy
from .readouts import (MAX_ALERT_ROWS, alerts_table_html, premium_alert_rows, premium_info,
                       window_notes)

_STYLE = {"description_width": "110px"}


class PremiumIndexPanel(_DashboardBase):
    """Spot vs futures premium index on any :class:`~btcflow_nb.MarketData`.

    premium = ``S − F`` between any two legs (:mod:`btcflow_nb.legs`): ``S`` the spot leg (the
    spot basket or one spot venue), ``F`` the futures leg (the perp basket, one perp, another
    spot venue, a listed dated future or a venue's constant-maturity 90-day future), in USD or as % of ``F`` (``(S − F) / F × 100``), drawn as green (spot-led,
    ``≥ 0``) / red (futures-led) bars with a zero line and Bollinger bands
    ``SMA(premium, L) ± m·σ(premium, L)`` (population σ) on the premium shown. Markers show the
    two alerts: premium crossing above the upper band ("spot premium too high") and crossing
    below the lower band ("futures premium too high / spot selling pressure").

    The **Coinbase premium** button (``coinbase_button``, :meth:`show_coinbase_premium`) sets
    the legs to Coinbase BTC/USD − Binance BTC/USDT, both in USD (Binance's close × USDT/USD):
    ``C − B`` in USD, ``(C − B) / B × 100`` in %.

    Controls (each a ``flow_metrics`` keyword): timeframe, date range (start/end),
    ``bb_length``, ``bb_mult``, ``spot_leg``, ``futures_leg``, ``premium_unit`` (``"usd"`` /
    ``"pct"``). The info panel shows the latest spot, futures and
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
        spot_legs = leg_choices(self.md, ["spot"]) or ["spot:basket"]
        futures_legs = [v for v in leg_choices(self.md) if v != "spot:basket"]
        if "perp:basket" not in futures_legs:   # no perps: the default still says so
            futures_legs.append("perp:basket")
        c["spot_leg"] = W.Dropdown(options=[(_leg_label(v), v) for v in spot_legs],
                                   value=spot_legs[0], description="spot leg", style=_STYLE)
        c["futures_leg"] = W.Dropdown(options=[(_leg_label(v), v) for v in futures_legs],
                                      value="perp:basket",
                                      description="futures leg", style=_STYLE)
        c["premium_unit"] = W.ToggleButtons(options=[("USD", "usd"), ("%", "pct")],
                                            value=d["premium_unit"], description="premium in",
                                            style={"button_width": "52px"})
        for name in ("bb_length", "bb_mult", "spot_leg", "futures_leg", "premium_unit"):
            c[name].add_class(f"btcflow-ctl-{name.replace('_', '-')}")
        #: One click to the Coinbase premium index (Coinbase USD − Binance USDT, in USD).
        self.coinbase_button = W.Button(description="Coinbase premium",
                                        tooltip="Coinbase BTC/USD − Binance BTC/USDT (in USD)",
                                        layout=W.Layout(width="150px"))
        self.coinbase_button.add_class("btcflow-preset-coinbase-premium")
        self.coinbase_button.disabled = not all(
            v in spot_legs + futures_legs for v in COINBASE_PREMIUM)
        self.coinbase_button.on_click(lambda _b: self._guard.run(self.show_coinbase_premium))

        xs = self.x_scale
        sc = {"x": xs, "y": bq.LinearScale()}
        m = {
            "premium_bars": sign_bars(xs, sc["y"], "premium USD"),
            "zero": bq.Lines(x=[], y=[], scales=sc, colors=[GREY]),
            "bb_basis": bq.Lines(x=[], y=[], scales=sc, colors=[PALETTE["build"]], labels=["basis"],
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
        for mark in m.values():          # the legend is HTML above the chart, off the data
            mark.display_legend = False
        self.legend = legend_widget(
            [("spot-led", GREEN, "band"), ("futures-led", RED, "band"),
             ("basis", PALETTE["build"], "line"), ("upper / lower band", "#1f77b4", "dashed"),
             ("spot premium too high", RED, "marker"),
             ("futures premium too high", "#9467bd", "marker")], "btcflow-legend-premium-index")
        self.figure = new_panel_figure("Spot − futures premium (USD)", xs, sc["y"], "USD",
                                       list(m.values()), "btcflow-panel-premium-index",
                                       height="380px")
        self.figures = {"premium_index": self.figure}
        #: Crosshair, data window (the hovered or latest bar), wheel zoom / drag pan and the
        #: cursor switch, as in the flow dashboard (see _crosshair)
        self.crosshair = Crosshair(xs, self.figures, frame=lambda: self.metrics,
                                   guard=self._guard, window_html=self._window_html,
                                   window_height="84px")   # 7 values + the alert state
        self.cursor, self.data_window = self.crosshair.mode, self.crosshair.window
        self._base_title = self.figure.title
        self.panel_message = W.HTML(value="")
        self.info = W.HTML(layout=W.Layout(width="340px"))
        self.info.add_class("btcflow-info")
        self.alerts = W.HTML(layout=W.Layout(flex="1 1 560px", max_height="260px",
                                             overflow="auto"))
        self.alerts.add_class("btcflow-alerts")
        header = W.HBox([W.HTML("<h3 style='margin:4px 0'>BTC spot vs futures premium index</h3>"),
                         self.badge], layout=W.Layout(align_items="center"))
        self.add_class("btcflow-dashboard-root")
        self.children = [
            style_widget(), header, self.load_line, self.status,
            W.HBox([c["timeframe"], c["date_range"], self.range_label, self.reset_zoom_button]),
            W.HBox([c["bb_length"], c["bb_mult"], self.include_open]),
            W.HBox([c["spot_leg"], c["futures_leg"], c["premium_unit"], self.coinbase_button]),
            self.cursor, self.data_window,
            charts_and_side([self.panel_message, self.legend, self.figure],
                            [self.info, self.alerts]),
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
                "spot_leg": c["spot_leg"].value, "futures_leg": c["futures_leg"].value,
                "premium_unit": c["premium_unit"].value,
                "start": start, "end": end}

    def _recompute_and_render(self) -> None:
        p = self.params()
        m = self._metrics_for(p)
        self.metrics = m
        t = plot_times(m.index)
        mk = self.marks
        unit = p["premium_unit"]
        prem = floats(m["premium_abs" if unit == "usd" else "premium_pct"])
        ok = np.isfinite(prem)
        set_sign_bars(mk["premium_bars"], t, prem)
        self.crosshair.set_bars(t)
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
        spot_name = _leg_label(p["spot_leg"])
        spot_title = "Spot" if p["spot_leg"] == "spot:basket" else spot_name
        fut = _leg_label(p["futures_leg"])
        shown = "USD" if unit == "usd" else "%"
        self.figure.axes[1].label = shown
        reason = ""
        if len(self.md.spot) == 0:
            reason = "no spot data: the premium needs spot closes"
        elif len(self.md.perp) == 0 and p["futures_leg"].startswith("perp:"):
            reason = "no perp data: the premium needs futures closes"
        elif not ok.any():
            reason = f"no bar in the selected range has both {spot_name} and {fut} closes"
        reason = " · ".join(r for r in (reason, *window_notes(m, "premium_index")) if r)
        self.panel_message.value = f"<div style='color:#8a6d00'>⚠ {reason}</div>" if reason else ""
        self.figure.title = (f"{self._base_title} — {reason}" if reason
                             else f"{spot_title} − {fut} premium ({shown}), "
                                  f"BB({p['bb_length']}, {p['bb_mult']:g})")
        rows, last_bar = premium_info(m, fut, unit,
                                      "" if p["spot_leg"] == "spot:basket" else spot_name)
        self._set_info(rows + failed_rows(self.meta), last_bar)
        self._update_alerts()

    def _window_html(self, m, row: int, hovered: bool) -> str:
        p = self.params()
        spot = "basket" if p["spot_leg"] == "spot:basket" else _leg_label(p["spot_leg"])
        return premium_window_html(m, row, hovered=hovered, spot_name=spot,
                                   futures_name=_leg_label(p["futures_leg"]),
                                   unit=p["premium_unit"], alert_kinds=self._KINDS)

    # cross events: an alert is its own onset (a cross cannot hold on two bars in a row)
    _KINDS = {"alert_premium_high_onset": "spot premium too high (crossed above upper band)",
              "alert_premium_low_onset": "futures premium too high (crossed below lower band)"}

    def _alert_hits(self):
        return self._alert_hits_of(self._KINDS)

    def alert_rows(self, limit: int | None = None) -> list[tuple[pd.Timestamp, str, str]]:
        """(time, kind, values) of the two premium alerts in the visible range, newest first."""
        return premium_alert_rows(self._alert_hits(), self._KINDS, limit,
                                  self.controls["premium_unit"].value)

    def show_coinbase_premium(self) -> None:
        """The preset: spot leg Coinbase, futures leg Binance spot (USDT converted to USD), one
        refresh; the unit and the bands stay as they are."""
        c = self.controls
        self._suspended += 1
        try:
            c["spot_leg"].value, c["futures_leg"].value = COINBASE_PREMIUM
        finally:
            self._suspended -= 1
        self.refresh()

    def _update_alerts(self) -> None:
        if self.metrics is None:
            return
        n = len(self._alert_hits()[1])
        rows = self.alert_rows(limit=MAX_ALERT_ROWS)
        self.alerts.value = alerts_table_html(rows, n, self.controls["timeframe"].value,
                                              open_note=self._open_note())


def _leg_label(spec: str) -> str:
    """``"perp:basket"`` -> ``"perp basket"``, ``"spot:coinbase"`` -> ``"coinbase spot"``."""
    kind, _, venues = spec.partition(":")
    return Leg(kind, () if venues == "basket" else tuple(venues.split("+"))).label
