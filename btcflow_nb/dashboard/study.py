"""SignalStudyPanel: does a signal work? The signal study (:mod:`btcflow_nb.study`) as a widget."""
from __future__ import annotations

import html
import re

import bqplot as bq
import ipywidgets as W
import numpy as np

from .. import study as _study
from ._honesty import load_line_html
from ._widgets import GREY, Debouncer, GuardedRunner, floats, synthetic_badge, timeframe_choices

_BLUE = "#1f77b4"
_TABLE_CSS = ("<style>.btcflow-study th, .btcflow-study td {padding: 2px 10px; "
              "text-align: right; font-variant-numeric: tabular-nums}</style>")


def parse_horizons(text: str) -> tuple[int, ...]:
    """``"1, 4, 12"`` -> ``(1, 4, 12)``; anything else raises ValueError naming the bad item."""
    items = []
    for tok in (t for t in re.split(r"[,\s;]+", str(text).strip()) if t):
        items.append(int(tok) if re.fullmatch(r"[+-]?\d+", tok) else tok)
    return _study.check_horizons(items if items else text)


class SignalStudyPanel(W.VBox):
    """What did the spot price do after each onset of a signal? Table and event-study chart.

    Controls: ``timeframe``, ``signal`` (:data:`btcflow_nb.study.SIGNALS`) and ``horizons``
    (bars, comma-separated). The table is :meth:`btcflow_nb.study.SignalStudy.table` for the
    chosen signal (mean forward return after onsets with its block-bootstrap interval, median,
    excess over all bars, hit rate, base rate); the chart is the event study: the mean
    cumulative spot return ``k = 0..H`` bars after an onset with its bootstrap band, against the
    mean over all bars. On synthetic (demo) data the numbers mean nothing, and the panel says so.

    Marks are updated in place inside ``hold_sync()``; a setting that cannot be computed is
    shown in ``status`` and the controls return to the settings the table and chart show;
    unexpected errors go to the visible ``errors`` Output.

    Attributes: ``controls``, ``figure`` (DOM class ``btcflow-panel-study``), ``marks``
    (``band``, ``mean``, ``all_bars``, ``zero``, ``horizons``), ``table``, ``notes``,
    ``result`` (the last :class:`~btcflow_nb.study.SignalStudy`), ``status``, ``errors``.
    """

    def __init__(self, md, *, timeframe: str = "1W", signal: str = "cycle_top",
                 horizons=_study.DEFAULT_HORIZONS, n_boot: int = 2000, seed: int = 0,
                 debounce_ms: float = 0, **flow_metrics_kwargs):
        super().__init__()
        self.add_class("btcflow-signal-study")
        self.md = md
        self.meta = dict(getattr(md, "meta", None) or {})
        choices = timeframe_choices(md)
        if timeframe not in choices:
            raise ValueError(f"timeframe={timeframe!r} is not available for this data; "
                             f"choose one of {choices}")
        _study.check_signals([signal])
        hs = _study.check_horizons(horizons)
        self.n_boot, self.seed, self.kwargs = n_boot, seed, dict(flow_metrics_kwargs)
        self._guard = GuardedRunner()
        self._suspended = 0
        self.result = None
        self.controls = {
            "timeframe": W.Dropdown(options=choices, value=timeframe, description="timeframe",
                                    layout=W.Layout(width="180px")),
            "signal": W.Dropdown(options=list(_study.SIGNALS), value=signal,
                                 description="signal", layout=W.Layout(width="260px")),
            "horizons": W.Text(value=", ".join(map(str, hs)), description="horizons",
                               continuous_update=False, layout=W.Layout(width="220px")),
        }
        for name, ctl in self.controls.items():
            ctl.add_class(f"btcflow-ctl-{name}")
        self._shown = self._values()

        sx, sy = bq.LinearScale(), bq.LinearScale()
        sc = {"x": sx, "y": sy}
        self.marks = {
            "band": bq.Lines(x=[], y=[[], []], scales=sc, fill="between", colors=[_BLUE, _BLUE],
                             fill_colors=[_BLUE], fill_opacities=[0.18], opacities=[0, 0],
                             labels=["bootstrap band"]),
            "mean": bq.Lines(x=[], y=[], scales=sc, colors=[_BLUE], stroke_width=2.5,
                             labels=["after onsets"], display_legend=True),
            "all_bars": bq.Lines(x=[], y=[], scales=sc, colors=[GREY], line_style="dashed",
                                 labels=["all bars"], display_legend=True),
            "zero": bq.Lines(x=[], y=[], scales=sc, colors=["#bbbbbb"]),
            "horizons": bq.Scatter(x=[], y=[], scales=sc, colors=[_BLUE], default_size=40,
                                   tooltip=bq.Tooltip(fields=["x", "y"], formats=["d", ".2f"],
                                                      labels=["bars after onset", "mean %"])),
        }
        self.figure = bq.Figure(
            title="", marks=list(self.marks.values()),
            axes=[bq.Axis(scale=sx, label="bars after onset", grid_lines="none"),
                  bq.Axis(scale=sy, side="left", label="spot return %",
                          grid_lines="dashed", label_offset="45px")],
            fig_margin={"top": 30, "bottom": 40, "left": 60, "right": 20},
            layout=W.Layout(width="100%", height="320px"), legend_location="top-left",
            title_style={"font-size": "13px"})
        self.figure.add_class("btcflow-panel-study")
        self.table = W.HTML()
        self.table.add_class("btcflow-study-table")
        self.notes = W.HTML()
        self.notes.add_class("btcflow-study-notes")
        header = W.HBox([W.HTML("<h3 style='margin:4px 0'>Does a signal work?</h3>"),
                         synthetic_badge(self.meta)], layout=W.Layout(align_items="center"))
        #: What was loaded: source, freshness, fallback reason, failed venues (one line).
        self.load_line = W.HTML(value=load_line_html(self.meta))
        self.load_line.add_class("btcflow-load-info")
        c = self.controls
        self.children = [header, self.load_line, W.HBox([c["timeframe"], c["signal"], c["horizons"]]),
                         self.status, self.notes, self.table, self.figure,
                         self._guard.clear_errors_button, self.errors]
        self._debounce = Debouncer(debounce_ms, self._refresh_now)
        for ctl in self.controls.values():
            ctl.observe(self._on_change, "value")
        self._refresh_now()

    # ------------------------------------------------------------------ plumbing
    @property
    def status(self) -> W.HTML:
        return self._guard.status

    @property
    def errors(self) -> W.Output:
        return self._guard.errors

    def _values(self) -> dict:
        return {k: c.value for k, c in self.controls.items()}

    def _on_change(self, _change) -> None:
        if not self._suspended:
            self._debounce()

    def refresh(self) -> None:
        """Recompute now (skipping the debounce) and update the table and marks."""
        self._debounce.flush()
        self._refresh_now()

    def _refresh_now(self) -> None:
        if self._guard.run(self._compute_and_render):
            self._guard.clear_message()
            self._shown = self._values()
        else:  # the controls go back to what the table and chart show
            self._suspended += 1
            try:
                for k, v in self._shown.items():
                    self.controls[k].value = v
            finally:
                self._suspended -= 1

    def params(self) -> dict:
        """Arguments of :func:`btcflow_nb.study.study` for the current controls."""
        c = self.controls
        return {"timeframe": c["timeframe"].value, "signals": [c["signal"].value],
                "horizons": parse_horizons(c["horizons"].value), "n_boot": self.n_boot,
                "seed": self.seed, **self.kwargs}

    # ------------------------------------------------------------------ render
    def _compute_and_render(self) -> None:
        p = self.params()
        res = _study.study(self.md, **p)
        name = p["signals"][0]
        path = res.paths[res.paths["signal"] == name]
        k = floats(path["bars"])
        mean, low, high = floats(path["mean"]), floats(path["low"]), floats(path["high"])
        mk = self.marks
        with mk["band"].hold_sync():
            mk["band"].x, mk["band"].y = k, np.vstack([low, high])
        with mk["mean"].hold_sync():
            mk["mean"].x, mk["mean"].y = k, mean
        with mk["all_bars"].hold_sync():
            mk["all_bars"].x, mk["all_bars"].y = k, floats(path["all_bars"])
        with mk["zero"].hold_sync():
            mk["zero"].x, mk["zero"].y = k[[0, -1]], np.zeros(2)
        at = np.isin(k, p["horizons"]) & np.isfinite(mean)
        with mk["horizons"].hold_sync():
            mk["horizons"].x, mk["horizons"].y = k[at], mean[at]
        n_on = int(res.summary["n_onsets"].iloc[0])
        self.figure.title = (f"{name} at {res.timeframe}: mean spot return after {n_on} onsets "
                             f"({res.ci:.0%} band) vs all bars")
        self.table.value = _TABLE_CSS + res.table().drop(columns=["signal"]).to_html(
            index=False, classes="btcflow-study", border=0)
        notes = ([_study.SYNTHETIC_NOTE] if res.synthetic else []) + list(res.warnings)
        self.notes.value = "".join(f"<div style='color:#8a6d00'>⚠ {html.escape(n)}</div>"
                                   for n in notes)
        self.result = res

    def __repr__(self) -> str:  # short and deterministic (it is stored in notebooks)
        c = self.controls
        return (f"SignalStudyPanel(source={self.meta.get('source', 'unknown')!r}, "
                f"timeframe={c['timeframe'].value!r}, signal={c['signal'].value!r}, "
                f"horizons=({c['horizons'].value}))")
