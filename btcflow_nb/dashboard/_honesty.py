"""Depth honesty on the dashboards (issue 11): what was loaded, which venues failed, how many
venues stand behind the OI aggregate, and why a z-score starts late.

* **load line** — one visible line under each dashboard's title: the source (``demo``,
  ``live``, ``cache``, ``frames``), when the data was fetched and how long ago, why
  :func:`btcflow_nb.load` fell back ("no network: using the cache from …") and the failed
  venues with a short reason (``meta["errors"]`` and ``meta["load"]["failures"]``);
* **low-coverage band** — on the OI panel, a shaded rectangle over every bar whose
  ``oi_coverage`` (the share of the latest total OI behind the aggregate, from
  :func:`~btcflow_nb.flow_metrics`) is below :data:`LOW_COVERAGE`: there the aggregate and its
  z-score rest on venues holding less than half of today's OI, so a jump may be a venue
  joining, not positions opening;
* **late z-scores** — :meth:`MarketData.depth <btcflow_nb.MarketData.depth>` says from which bar
  each z-score can exist; when a metric's data begins after the chart's first bar (a venue
  serves less history than the prices), the panel says from when and why.

Functions of ``meta``, the metrics frame and :meth:`MarketData.depth`; nothing is computed here
that those do not report.
"""
from __future__ import annotations

import html

import bqplot as bq
import numpy as np
import pandas as pd

from ._signal_layer import band_points
from ._viewport import assign_xy
from .readouts import fetched_text

#: ``oi_coverage`` below this (a share, 0..1) shades the bar on the OI panel ("low coverage").
LOW_COVERAGE = 0.5
#: The band's fill: a neutral grey that reads on light and dark themes.
COVERAGE_COLOR = "#888888"
COVERAGE_OPACITY = 0.22
#: Characters of a failure reason shown in the load line and in the (narrow) info panel; the
#: full text stays in ``meta["errors"]``.
REASON_CHARS = 70
INFO_REASON_CHARS = 24


# ---------------------------------------------------------------------------- load line
def failed_venues(meta: dict, chars: int = REASON_CHARS) -> dict[str, str]:
    """Failed venue -> short reason (first line, at most ``chars`` characters), from
    ``meta["errors"]`` and ``meta["load"]["failures"]`` (a fetch that failed as a whole)."""
    out = {}
    for source in ((meta.get("load") or {}).get("failures") or {}, meta.get("errors") or {}):
        for venue, reason in dict(source).items():
            text = (str(reason).strip().splitlines() or [""])[0]
            if len(text) > chars:
                text = text[:chars - 1] + "…"
            out[str(venue)] = text or "failed"
    return dict(sorted(out.items()))


def load_source(meta: dict) -> str:
    """What was loaded: ``meta["load"]["source"]`` (a :func:`btcflow_nb.load` result) or
    ``meta["source"]`` (demo, live, cache, frames ...)."""
    return str((meta.get("load") or {}).get("source") or meta.get("source") or "unknown")


def load_parts(meta: dict, now=None) -> list[str]:
    """The load line's parts: source, freshness, fallback reason, failed venues."""
    parts = [f"loaded: {load_source(meta)}"]
    if meta.get("synthetic"):
        parts[0] += " (synthetic demo data, not market data)"
    fetched = fetched_text(meta.get("fetched_at"), now)
    if fetched:
        parts.append(fetched)
    fallback = (meta.get("load") or {}).get("fallback")
    if fallback:
        parts.append(str(fallback))
    failed = failed_venues(meta)
    if failed:
        parts.append("failed venues: " + "; ".join(f"{v} ({r})" for v, r in failed.items()))
    return parts


def load_line_html(meta: dict, now=None) -> str:
    """The load line as HTML; a fallback or failed venues turn it amber."""
    parts = load_parts(meta, now)
    warn = bool((meta.get("load") or {}).get("fallback")) or bool(failed_venues(meta))
    colour = "#b36b00" if warn else "inherit"
    mark = "⚠ " if warn else ""
    return (f"<div class='btcflow-load-line' style='font-size:12px;color:{colour}'>"
            f"{mark}{html.escape(' · '.join(parts))}</div>")


# ---------------------------------------------------------------------------- OI coverage
def build_coverage_band(x_scale) -> bq.Lines:
    """The OI panel's low-coverage band: Lines filled to the bottom on their own 0..1 scale
    (spanning the panel's height), one rectangle per run of low-coverage bars."""
    return bq.Lines(x=[], y=[], scales={"x": x_scale, "y": bq.LinearScale(min=0.0, max=1.0)},
                    colors=[COVERAGE_COLOR], fill="bottom", fill_colors=[COVERAGE_COLOR],
                    fill_opacities=[COVERAGE_OPACITY], stroke_width=0,
                    labels=[f"OI coverage < {LOW_COVERAGE:.0%}"], display_legend=True,
                    visible=False)


def low_coverage(m: pd.DataFrame) -> np.ndarray:
    """Bars whose ``oi_coverage`` is below :data:`LOW_COVERAGE` (NaN — no OI venue — is not
    shaded: there is no aggregate to doubt, and the panel says so)."""
    cov = m["oi_coverage"].to_numpy(dtype=np.float64) if "oi_coverage" in m else np.zeros(len(m))
    with np.errstate(invalid="ignore"):
        return cov < LOW_COVERAGE


def render_coverage_band(mark: bq.Lines, m: pd.DataFrame, t: np.ndarray) -> None:
    """Shade the low-coverage bars of ``m`` (``t``: their plot times), in place."""
    x, y = band_points(t, low_coverage(m)) if len(m) else (t[:0], np.zeros(0))
    with mark.hold_sync():   # run outlines: rectangles, not a line to thin
        assign_xy(mark, x, y, decimate=False)
        mark.visible = len(x) > 0


def coverage_rows(md, m: pd.DataFrame, p: dict) -> list[list[str]]:
    """Info-panel rows for the latest bar: OI venues behind the aggregate and their share of
    the latest total OI, and the spot/perp basket venue counts."""
    if not len(m):
        return []
    row = m.iloc[-1]
    oi_all = set(md.venues("open_interest"))
    chosen = oi_all & set(p.get("perp_venues") or oi_all)
    cov = float(row.get("oi_coverage", np.nan))
    n_oi = int(row.get("oi_venues", 0))
    oi = (f"{n_oi} of {len(chosen)}, coverage {cov:.0%}" if np.isfinite(cov)
          else f"{n_oi} of {len(chosen)}")
    if np.isfinite(cov) and cov < LOW_COVERAGE:
        oi += " (low)"
    return [["OI venues (last bar)", oi],
            ["basket venues (last bar)", f"spot {int(row.get('spot_venues', 0))}, "
                                         f"perp {int(row.get('perp_venues', 0))}"]]


def failed_rows(meta: dict) -> list[list[str]]:
    """An info-panel row naming the failed venues with a short reason (none: no row)."""
    failed = failed_venues(meta, INFO_REASON_CHARS)
    return [["failed venues", "; ".join(f"{v}: {r}" for v, r in failed.items())]] if failed \
        else []


# ---------------------------------------------------------------------------- late z-scores
#: Panel of each ``md.depth`` metric and the name of its z-score.
_Z_PANELS = {"premium": ("premium", "premium z"), "oi": ("oi", "OI z"),
             "funding": ("funding", "funding z")}


def late_z_notes(depth: pd.DataFrame, first_bar, timeframe: str) -> dict[str, str]:
    """Panel -> "OI z from 2026-11-30: <why>" for each metric whose data begins after
    ``first_bar`` (the chart's first bar), so its z-score starts later than the lookback alone
    would make it ("no OI z: …" when it cannot exist yet). ``depth``: ``md.depth(tf, lookback)``."""
    out = {}
    if first_bar is None or depth is None:
        return out
    fmt = "%Y-%m-%d %H:%M" if timeframe in ("1h", "4h") else "%Y-%m-%d"
    for metric, (panel, name) in _Z_PANELS.items():
        if metric not in depth.index:
            continue
        row = depth.loc[metric]
        first = row["first_data"]
        if pd.isna(first) or first <= first_bar:
            continue
        z_from = row["z_from"]
        head = f"{name} from {z_from:{fmt}}" if not pd.isna(z_from) else f"no {name} yet"
        out[panel] = f"{head}: {row['reason']}"
    return out


def late_z_for(md, p: dict, full_index: pd.DatetimeIndex) -> dict[str, str]:
    """:func:`late_z_notes` of ``md.depth`` for the selected venues, timeframe and lookback
    (``p``: ``flow_metrics`` keywords) against the first bar of ``full_index``."""
    if not len(full_index):
        return {}
    depth = md.select(p.get("spot_venues"), p.get("perp_venues")).depth(p["timeframe"],
                                                                        p["lookback"])
    return late_z_notes(depth, full_index[0], p["timeframe"])
