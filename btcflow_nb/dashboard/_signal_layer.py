"""The signal layer of the flow dashboard's price panel: onsets, states, the open bar.

A signal such as "bullish" is a *state* that can hold on 40 % of bars; what a reader wants to
see is when it *starts*. So:

* **markers are onsets** — one marker per run of the signal, on its first bar
  (``<signal>_onset`` of :func:`~btcflow_nb.flow_metrics`), at the spot price of that bar;
* **states are shaded bands** (the "show states" switch): a translucent band of the signal's
  colour over every bar where the state holds, on a 0..1 scale of its own, so it never moves
  the price axis;
* **the open bar is provisional** — a bar whose period had not ended when the data was
  fetched (``open_bar``) can still change: its markers are drawn faded and a hollow grey ring
  marks the bar;
* **onset counts** per signal in the visible range (date range ∩ pan/zoom), closed bars only
  unless "include open bar" is on — the same bars the alerts table lists.

Private module: :mod:`~btcflow_nb.dashboard.flow` builds the marks and calls these functions.
"""
from __future__ import annotations

import html

import bqplot as bq
import numpy as np
import pandas as pd

from ._viewport import assign_xy
from ._widgets import GREEN, GREY, RED, tooltip
from .readouts import MAX_ALERT_ROWS, alerts_table_html, flow_alert_rows, visible_rows

#: Signal columns of ``flow_metrics`` -> (label, marker, colour) on the price panel.
SIGNAL_MARKERS = {
    "bullish": ("bullish", "triangle-up", GREEN),
    "bearish": ("bearish", "triangle-down", RED),
    "overleveraged": ("over-leveraged", "diamond", "#d4700f"),   # reads on light and dark
    "cycle_top": ("cycle top (experimental)", "cross", "#9467bd"),
    "cycle_bottom": ("cycle bottom (experimental)", "square", "#1f77b4"),
}
#: Everything listed in the alerts table (signal column -> label); the table lists onsets.
ALERT_KINDS = {
    **{k: v[0] for k, v in SIGNAL_MARKERS.items()},
    "alert_premium_high": "spot premium too high (above upper band)",
    "alert_premium_low": "futures premium too high (below lower band)",
}
#: The onset columns of :data:`ALERT_KINDS`, with the same labels.
ONSET_KINDS = {f"{k}_onset": label for k, label in ALERT_KINDS.items()}
#: Opacity of a marker on the open (provisional) bar; closed bars' markers are opaque.
OPEN_OPACITY = 0.35
#: Fill opacity of a state band.
BAND_OPACITY = 0.13


def build_signal_marks(x_scale, y_scale) -> dict:
    """The price panel's signal marks: ``<signal>`` (onset Scatter), ``<signal>_state`` (state
    band: Lines filled to the bottom, one rectangle per run (:func:`band_points`), on its own
    0..1 scale, hidden until "show states") and ``open_bar`` (hollow ring on the open bar)."""
    band_scale = bq.LinearScale(min=0.0, max=1.0)
    marks = {}
    for key, (label, marker, color) in SIGNAL_MARKERS.items():
        marks[f"{key}_state"] = bq.Lines(
            x=[], y=[], scales={"x": x_scale, "y": band_scale}, colors=[color],
            fill="bottom", fill_colors=[color], fill_opacities=[BAND_OPACITY], opacities=[0.0],
            stroke_width=0, visible=False)
    for key, (label, marker, color) in SIGNAL_MARKERS.items():
        marks[key] = bq.Scatter(x=[], y=[], scales={"x": x_scale, "y": y_scale}, marker=marker,
                                colors=[color], default_size=40, stroke="white",
                                labels=[f"{label} onset"], display_legend=True,
                                tooltip=tooltip(f"{label} onset, spot USD"))
    marks["open_bar"] = bq.Scatter(x=[], y=[], scales={"x": x_scale, "y": y_scale},
                                   marker="circle", default_size=420, fill=False, colors=[GREY],
                                   stroke=GREY, stroke_width=2.0,
                                   labels=["open bar (provisional)"], display_legend=False,
                                   visible=False, tooltip=tooltip("open bar, provisional"))
    return marks


def band_keys() -> list[str]:
    return [f"{k}_state" for k in SIGNAL_MARKERS]


def band_points(t: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The outline of a state band: for each run of bars ``a..b`` where ``state`` holds, the
    points ``(t_a, 1), (t_end, 1), (t_end, NaN)`` with ``t_end`` the next bar's open (the
    run's end; one bar's width past ``t_b`` for a run on the last bar). Filled down to 0 they
    draw one rectangle per run, exactly over its bars' periods; the NaN breaks the line."""
    state = np.asarray(state, dtype=bool)
    if not state.any():
        return t[:0], np.zeros(0)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], state.astype(np.int8), [0]])))
    starts, stops = edges[0::2], edges[1::2]          # run = bars starts[i] .. stops[i] - 1
    step = t[-1] - t[-2] if len(t) > 1 else np.timedelta64(1, "D")
    ends = np.array([t[s] if s < len(t) else t[-1] + step for s in stops], dtype=t.dtype)
    x = np.stack([t[starts], ends, ends], axis=1).ravel()
    y = np.tile([1.0, 1.0, np.nan], len(starts))
    return x, y


def render_signal_marks(marks: dict, m: pd.DataFrame, t: np.ndarray, anchor: np.ndarray,
                        show_states: bool) -> None:
    """Onset markers at ``anchor`` (spot, else perp), faded on the open bar; state bands
    (with ``show_states``); the open-bar ring. In place, inside ``hold_sync()``."""
    is_open = m["open_bar"].to_numpy(dtype=bool)
    finite = np.isfinite(anchor)
    for key in SIGNAL_MARKERS:
        mask = m[f"{key}_onset"].to_numpy(dtype=bool) & finite
        mark = marks[key]
        # one marker per pixel column (they would cover each other); all onsets stay exact
        assign_xy(mark, t[mask], anchor[mask], decimate="markers",
                  opacities=np.where(is_open[mask], OPEN_OPACITY, 1.0).tolist())
    render_state_bands(marks, m, t, show_states)
    ring = marks["open_bar"]
    at = is_open & finite
    with ring.hold_sync():
        assign_xy(ring, t[at], anchor[at], decimate=False)
        ring.visible = bool(at.any())   # (named in the HTML legend above the panel)


def render_state_bands(marks: dict, m: pd.DataFrame | None, t: np.ndarray, show: bool) -> None:
    """The state bands of ``m`` when ``show``; otherwise empty and hidden (a hidden mark
    carries no data: the browser would still draw it, and nothing is sent for nothing)."""
    for key in SIGNAL_MARKERS:
        band = marks[f"{key}_state"]
        bx, by = (band_points(t, m[key].to_numpy(dtype=bool)) if show and m is not None
                  else (t[:0], np.zeros(0)))
        with band.hold_sync():   # run outlines: rectangles, not a line to thin
            assign_xy(band, bx, by, decimate=False)
            band.visible = len(bx) > 0


def onset_counts(vis: pd.DataFrame | None) -> dict[str, int]:
    """Onsets per signal (keys of :data:`ALERT_KINDS`) among the bars of ``vis``."""
    if vis is None or len(vis) == 0:
        return {k: 0 for k in ALERT_KINDS}
    return {k: int(vis[f"{k}_onset"].to_numpy(dtype=bool).sum()) for k in ALERT_KINDS}


def onset_counts_html(counts: dict[str, int], open_onsets: list[str]) -> str:
    """One line: "onsets in view: bullish 12 · bearish 7 · …" (+ the open bar's, excluded)."""
    parts = [f"<span style='color:{SIGNAL_MARKERS[k][2] if k in SIGNAL_MARKERS else GREY}'>"
             f"{html.escape(ALERT_KINDS[k].split(' (')[0])}</span> <b>{n}</b>"
             for k, n in counts.items()]
    extra = ""
    if open_onsets:
        extra = (" · <i>open bar (provisional, not counted): "
                 f"{html.escape(', '.join(ALERT_KINDS[k].split(' (')[0] for k in open_onsets))}"
                 "</i>")
    return ("<div class='btcflow-onset-counts' style='font-size:12px'>onsets in view: "
            + " · ".join(parts) + extra + "</div>")


#: Most onsets the explain picker lists (newest first; any older bar: the date picker). A
#: dropdown of every onset of 8 years of hourly bars would ship ~5k labels per redraw.
MAX_ONSET_OPTIONS = 500


def onset_options(vis: pd.DataFrame | None, timeframe: str) -> list[tuple[str, pd.Timestamp]]:
    """(label, bar time) of the bars of ``vis`` with an onset, newest first (at most
    :data:`MAX_ONSET_OPTIONS`), for the explain picker: "2025-11-08 · bullish, over-leveraged"
    (+ " · provisional" on the open bar)."""
    if vis is None or len(vis) == 0:
        return []
    flags = vis[list(ONSET_KINDS)].to_numpy(dtype=bool)
    labels = [v.split(" (")[0] for v in ONSET_KINDS.values()]
    rows = np.flatnonzero(flags.any(axis=1))[::-1][:MAX_ONSET_OPTIONS]
    fmt = "%Y-%m-%d %H:%M" if timeframe in ("1h", "4h") else "%Y-%m-%d"
    is_open = vis["open_bar"].to_numpy(dtype=bool)[rows]
    # one names string per distinct combination of onsets (a handful), dates formatted at once
    codes = flags[rows] @ (1 << np.arange(flags.shape[1]))
    names = {int(c): ", ".join(lab for k, lab in enumerate(labels) if int(c) >> k & 1)
             for c in np.unique(codes)}
    times = vis.index[rows]
    dates = times.strftime(fmt)
    return [(f"{d} · {names[int(c)]}" + (" · provisional" if o else ""), t)
            for d, c, o, t in zip(dates, codes, is_open, times)]


class SignalLayerMixin:
    """The flow dashboard's alerts table (onsets), onset counts and explain panel (needs
    ``metrics``, ``_cache``, ``controls``, ``alerts``, ``include_open``, ``onset_line``,
    ``explain_view``, ``_visible_window``, ``_alert_hits_of``, ``_open_note``, ``_guard``)."""

    def _alert_hits(self):
        """Visible metrics and the (row, kind) positions of their onsets, newest bar first."""
        return self._alert_hits_of(ONSET_KINDS)

    def alert_rows(self, limit: int | None = None) -> list[tuple[pd.Timestamp, str, str]]:
        """(time, kind, values) of every signal onset and alert in the visible range, newest
        first: one row per run of a signal, on its first bar.

        The visible range is the date-range control intersected with the pan/zoom window,
        closed bars only unless ``include_open`` is ticked; ``limit`` keeps the newest rows.
        """
        return flow_alert_rows(self._alert_hits(), ONSET_KINDS, limit,
                               apr=self.controls["apr"].value)

    def _update_alerts(self) -> None:
        hits = self._alert_hits()
        tf = self.controls["timeframe"].value
        rows = flow_alert_rows(hits, ONSET_KINDS, MAX_ALERT_ROWS, apr=self.controls["apr"].value)
        self.alerts.value = alerts_table_html(rows, len(hits[1]), tf, "signal onsets",
                                              self._open_note())
        self._update_onsets_and_explain()

    def onset_counts(self) -> dict[str, int]:
        """Onsets per signal (keys of ``ALERT_KINDS``) in the visible range, on the bars the
        alerts table considers (closed unless ``include_open``)."""
        lo, hi = self._visible_window()
        return onset_counts(visible_rows(self.metrics, lo, hi, self.include_open.value))

    def _update_onsets_and_explain(self) -> None:
        lo, hi = self._visible_window()
        vis = visible_rows(self.metrics, lo, hi)
        excluded = []
        if not self.include_open.value and vis is not None and len(vis) \
                and bool(vis["open_bar"].iloc[-1]):
            excluded = [k for k in ALERT_KINDS if bool(vis[f"{k}_onset"].iloc[-1])]
        self.onset_line.value = onset_counts_html(self.onset_counts(), excluded)
        full = self._cache if self._cache is not None else self.metrics
        self.explain_view.set_metrics(full, onset_options(vis, self.controls["timeframe"].value))

    def _on_marker_click(self, mark, content) -> None:
        """A click on a signal marker: explain its bar (bqplot sends the point's index)."""
        def explain_point():
            data = content.get("data") or {}
            index = data.get("index")
            if index is None or not 0 <= int(index) < len(mark.x):
                raise ValueError(f"clicked point {data!r} is not a marker of this chart")
            self.explain_view.show(pd.Timestamp(mark.x[int(index)]).tz_localize("UTC"))
        self._guard.run(explain_point)
