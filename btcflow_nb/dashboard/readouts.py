"""The text beside the charts of the flow dashboard and the premium-index panel.

* **info panel** — the latest value of each series as a two-column table, then the source and
  freshness line ("source: demo · data through 2025-12-31 00:00 UTC (693 days ago) · fetched
  …"); a dashboard's ``summary()`` gives the same as plain text;
* **alerts table** — every signal *onset* and alert in the visible range (the date-range
  control intersected with the pan/zoom window), newest bar first, at most
  :data:`MAX_ALERT_ROWS` shown; closed bars only unless the "include open bar" toggle is on
  (a still-open bar's signals are provisional); a dashboard's ``alert_rows()`` gives them as
  ``(time, kind, values)``;
* **panel messages** — why a panel of the flow dashboard is empty (no OI data, a lookback
  longer than the OI history, OI weighting without OI ...).

Functions of the metrics frame and the parameters only; the dashboards
(:mod:`~btcflow_nb.dashboard.flow`, :mod:`~btcflow_nb.dashboard.premium`) put what they return
into their HTML widgets.
"""
from __future__ import annotations

import html
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from ..signals import vote_names
from ._widgets import floats, fmt_num, is_empty

#: Rows shown in the alerts table (newest first); the caption says how many exist.
MAX_ALERT_ROWS = 60


# ---------------------------------------------------------------------------- shared
def _utc(stamp) -> pd.Timestamp | None:
    if stamp is None or (not isinstance(stamp, str) and pd.isna(stamp)) or stamp == "":
        return None
    ts = pd.Timestamp(stamp)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def age_text(stamp, now=None) -> str:
    """How long ago ``stamp`` was: "12 min ago", "20 h ago", "3 days ago" ("" without one)."""
    ts = _utc(stamp)
    if ts is None:
        return ""
    now = pd.Timestamp(now or datetime.now(timezone.utc))
    secs = (now - ts).total_seconds()
    if secs < 0:
        return "in the future"
    if secs < 3600:
        return f"{int(secs // 60)} min ago"
    if secs < 48 * 3600:
        return f"{int(secs // 3600)} h ago"
    return f"{int(secs // 86400)} days ago"


def fetched_text(stamp, now=None) -> str:
    """"fetched 2026-11-29 08:00 UTC, 20 h ago" ("" when the data has no fetch time)."""
    ts = _utc(stamp)
    if ts is None:
        return ""
    return f"fetched {ts:%Y-%m-%d %H:%M} UTC, {age_text(ts, now)}"


def freshness_text(meta: dict, last_bar) -> str:
    """'source: live · data through 2026-11-29 00:00 UTC (0 days ago) · fetched 2026-11-29
    08:00 UTC, 20 h ago' (the demo has no fetch time)."""
    source = meta.get("source", "unknown")
    parts = [f"source: {source}"]
    if last_bar is not None and not pd.isna(last_bar):
        ts = pd.Timestamp(last_bar)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        age_days = (pd.Timestamp(datetime.now(timezone.utc)) - ts).days
        parts.append(f"data through {ts:%Y-%m-%d %H:%M} UTC ({age_days} days ago)")
    fetched = fetched_text(meta.get("fetched_at"))
    if fetched:
        parts.append(fetched)
    return " · ".join(parts)


def html_table(columns: list[str], rows: list[list[str]], *, caption: str = "",
               css_class: str = "btcflow-table") -> str:
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(c)}</th>"
                   for c in columns)
    body = "".join("<tr>" + "".join(f"<td style='padding:1px 8px;white-space:nowrap'>"
                                    f"{html.escape(v)}</td>" for v in row) + "</tr>"
                   for row in rows)
    cap = f"<caption style='text-align:left'>{html.escape(caption)}</caption>" if caption else ""
    return (f"<table class='{css_class}' style='border-collapse:collapse;font-size:12px'>{cap}"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def info_html(rows: list[list[str]], meta: dict, last_bar) -> tuple[str, str]:
    """The info panel as HTML (table + source/freshness line) and that line as plain text."""
    synthetic = bool(meta.get("synthetic"))
    fresh = freshness_text(meta, last_bar)
    freshness = fresh + (" · synthetic demo data" if synthetic else "")
    badge = " <b style='color:#b8860b'>[synthetic demo data]</b>" if synthetic else ""
    return (html_table(["latest", "value"], rows, css_class="btcflow-info-table")
            + f"<div class='btcflow-freshness' style='font-size:11px'>"
            f"{html.escape(fresh)}{badge}</div>"), freshness


def summary_text(rows: list[list[str]], freshness: str) -> str:
    """The info panel as plain text: one aligned ``name  value`` line per row, then freshness."""
    width = max((len(r[0]) for r in rows), default=0)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines + [freshness])


def visible_rows(m: pd.DataFrame | None, lo: pd.Timestamp | None, hi: pd.Timestamp | None,
                 include_open: bool = True) -> pd.DataFrame | None:
    """The bars of ``m`` within ``lo..hi`` (None = open end); without ``include_open`` the
    still-open bar (``open_bar`` column) is left out: its signals are provisional."""
    if m is None or len(m) == 0:
        return m
    keep = np.ones(len(m), dtype=bool)
    if lo is not None:
        keep &= m.index >= lo
    if hi is not None:
        keep &= m.index <= hi
    if not include_open and "open_bar" in m.columns:
        keep &= ~m["open_bar"].to_numpy(dtype=bool)
    return m if keep.all() else m.loc[keep]


def visible_alert_hits(m: pd.DataFrame | None, kinds, lo: pd.Timestamp | None,
                       hi: pd.Timestamp | None, include_open: bool = True):
    """Metrics within ``lo..hi`` (None = open end; the open bar left out unless
    ``include_open``) and the (row, kind) positions of the boolean columns ``kinds`` that are
    set, newest bar first (kind positions index into ``kinds``)."""
    if m is None or len(m) == 0:
        return m, np.array([], dtype=int), np.array([], dtype=int)
    vis = visible_rows(m, lo, hi, include_open)
    flags = vis[list(kinds)].to_numpy(dtype=bool)[::-1]
    rows, kind_pos = np.nonzero(flags)     # row-major: newest bar first, kinds in order
    return vis, len(vis) - 1 - rows, kind_pos


def alerts_table_html(rows: list[tuple[pd.Timestamp, str, str]], n: int, timeframe: str,
                      noun: str = "alerts", open_note: str = "") -> str:
    """The alerts table: ``rows`` (already cut to :data:`MAX_ALERT_ROWS`) of ``n`` hits;
    ``open_note`` (e.g. "open bar excluded") is added to the caption."""
    fmt = "%Y-%m-%d %H:%M" if timeframe in ("1h", "4h") else "%Y-%m-%d"
    shown = [[t.strftime(fmt), kind, values] for t, kind, values in rows]
    caption = (f"{n} {noun} in the visible range"
               + (f" (newest {MAX_ALERT_ROWS} shown)" if n > MAX_ALERT_ROWS else ""))
    if not n:
        caption = f"no {noun} in the visible range"
    if open_note:
        caption += f"; {open_note}"
    return html_table(["time", "kind", "values"], shown, caption=caption,
                      css_class="btcflow-alerts-table")


def bar_state_text(m: pd.DataFrame, timeframe: str) -> str:
    """The last bar of ``m`` and whether it is settled: "2025-12-31, closed" or
    "2025-12-31, provisional (bar open)" (its period had not ended when the data was fetched,
    so its close, z-scores and signals can still change)."""
    if m is None or len(m) == 0:
        return "n/a"
    fmt = "%Y-%m-%d %H:%M" if timeframe in ("1h", "4h") else "%Y-%m-%d"
    is_open = bool(m["open_bar"].iloc[-1]) if "open_bar" in m.columns else False
    return f"{m.index[-1]:{fmt}}, " + ("provisional (bar open)" if is_open else "closed")


def cycle_votes_text(row: pd.Series, p: dict) -> str:
    """Which metrics voted for a cycle top and a bottom at one bar ("top premium+oi (2 of 2
    needed) · bottom none"), from the ``cycle_*_votes`` masks of ``flow_metrics``."""
    if not p.get("extremes", True):
        return "engine off"
    need = p.get("cycle_m", 2)
    parts = []
    for side in ("top", "bottom"):
        mask = int(row[f"cycle_{side}_votes"])
        names = vote_names(mask)
        count = bin(mask).count("1")
        parts.append(f"{side} {names or 'none'}" + (f" ({count} of {need} needed)" if count
                                                     else ""))
    return " · ".join(parts)


# ---------------------------------------------------------------------------- flow dashboard
#: The flow dashboard's panels, top to bottom.
FLOW_PANELS = ("price", "premium", "oi", "funding")


def flow_info(m: pd.DataFrame, p: dict, alert_kinds: dict[str, str]):
    """Info-panel rows of the flow dashboard (latest finite value of each series, active
    signals of the last bar, venue counts) and the last bar's time (None without bars)."""
    def last(col):
        values = m[col].to_numpy(dtype=np.float64)
        finite = np.flatnonzero(np.isfinite(values))
        return (values[finite[-1]], m.index[finite[-1]]) if len(finite) else (np.nan, None)

    unit = "% APR" if p["apr"] else "% per 8h"
    spot, _ = last("spot")
    perp, _ = last("perp_basket")
    prem_abs, _ = last("premium_abs")
    prem_pct, _ = last("premium_pct")
    oi_z, _ = last("oi_z")
    funding, _ = last("funding")
    votes = "n/a"
    if len(m):
        row = m.iloc[-1]
        active = [alert_kinds[k] for k in alert_kinds if bool(row[k])]
        last_bar = m.index[-1]
        votes = cycle_votes_text(row, p)
        if bool(row.get("open_bar", False)) and active:
            active = [f"{a} (provisional)" for a in active]
    else:
        active, last_bar = [], None
    fut = "perp basket" if p["futures"] == "basket" else p["futures"]
    rows = [
        ["spot", fmt_num(spot, ",.2f", prefix="$")],
        ["perp basket", fmt_num(perp, ",.2f", prefix="$")],
        [f"premium vs {fut}", fmt_num(prem_abs, "+,.2f", prefix="$")],
        ["spot premium", fmt_num(prem_pct, "+.4f", " %")],
        ["OI z", fmt_num(oi_z, "+.2f")],
        ["funding", fmt_num(funding, "+.4f", f" {unit}")],
        ["last bar", bar_state_text(m, p["timeframe"])],
        ["active signals", ", ".join(active) if active else "none"],
        ["cycle votes", votes],
        ["venues", f"spot {len(p['spot_venues'] or [])}, perp {len(p['perp_venues'] or [])}"],
    ]
    return rows, last_bar


def flow_alert_rows(hits, alert_kinds: dict[str, str], limit: int | None,
                    apr: bool) -> list[tuple[pd.Timestamp, str, str]]:
    """(time, kind, values) of :func:`visible_alert_hits` ``hits``; ``limit`` keeps the newest."""
    vis, pos, kinds = hits
    if limit is not None:
        pos, kinds = pos[:limit], kinds[:limit]
    unit = "% APR" if apr else "%/8h"
    labels = list(alert_kinds.values())
    cols = {c: vis[c].to_numpy(dtype=float) for c in
            ("premium_pct", "premium_abs", "oi_z", "funding")} if vis is not None else {}
    out = []
    for p, k in zip(pos, kinds):
        values = (f"premium {fmt_num(cols['premium_pct'][p], '+.4f', ' %')}, "
                  f"USD {fmt_num(cols['premium_abs'][p], '+,.2f')}, "
                  f"OI z {fmt_num(cols['oi_z'][p], '+.2f')}, "
                  f"funding {fmt_num(cols['funding'][p], '+.4f', ' ' + unit)}")
        out.append((vis.index[p], labels[k], values))
    return out


#: Which panel each ``flow_metrics`` note is about (notes start with ``"<column>: "``).
_NOTE_PANELS = {"premium_z": "premium", "premium_trend": "premium", "bb_*": "premium_index",
                "premium_abs": "premium_index",
                "oi_z": "oi", "funding_z": "funding", "funding": "funding"}


def window_notes(m: pd.DataFrame | None, panel: str) -> list[str]:
    """``m.attrs["notes"]`` about ``panel`` (price, premium, oi, funding, premium_index): a
    window longer than the data ("oi_z: lookback 52 bars > 13 bars of data (1W)"), whose
    values are therefore NaN. The premium alerts' bands (``bb_*``) belong to the premium-index
    panel and, in the flow dashboard, to the premium panel (they drive its alerts)."""
    if m is None:
        return []
    out = []
    for note in m.attrs.get("notes", []):
        column = note.split(":", 1)[0]
        where = _NOTE_PANELS.get(column)
        if where == panel or (panel == "premium" and where == "premium_index"):
            out.append(note)
    return out


def flow_missing_reason(md, panel: str, m: pd.DataFrame, p: dict) -> str:
    """Why ``panel`` (price, premium, oi, funding) of the flow dashboard shows nothing, or ""."""
    tf = p["timeframe"]
    if panel == "price":
        if is_empty(md.spot) and is_empty(md.perp):
            return "no price data: this MarketData has neither spot nor perp closes"
        return ""
    oi_weighted_empty = (p["weighting"] == "oi"
                         and not np.isfinite(floats(m["perp_basket"])).any())
    weighting_hint = ("OI weighting: no bar has open interest for the selected perp venues, "
                      "so the OI-weighted basket is empty (switch weighting to equal)")
    if panel == "premium":
        if is_empty(md.spot):
            return "no spot data: the spot premium needs spot closes"
        if is_empty(md.perp):
            return "no perp data: the spot premium needs perpetual-futures closes"
        if oi_weighted_empty:
            return weighting_hint
        if not np.isfinite(floats(m["premium_pct"])).any():
            return "no bar in the selected range has both spot and perp closes"
        return ""
    if panel == "oi":
        if is_empty(md.open_interest):
            return ("no open-interest data in this MarketData: the OI z-score is unavailable "
                    "and OI does not vote in the signals")
        n = int(np.isfinite(floats(m["oi_total"])).sum())
        if not np.isfinite(floats(m["oi_z"])).any():
            return (f"the OI z-score needs {p['lookback']} bars of OI history; only {n} "
                    f"{tf} bars in range have OI (shorten the lookback)")
        return ""
    if panel == "funding":
        if is_empty(md.funding):
            return "no funding data in this MarketData: composite funding is unavailable"
        if not np.isfinite(floats(m["funding"])).any():
            return weighting_hint if p["weighting"] == "oi" and oi_weighted_empty \
                else "no funding events fall in the selected range"
        return ""
    raise ValueError(f"panel={panel!r}; choose one of {list(FLOW_PANELS)}")


# ---------------------------------------------------------------------------- premium index
def premium_info(m: pd.DataFrame, fut: str, unit: str = "usd", spot_name: str = ""):
    """Info-panel rows of the premium-index panel (latest non-NaN values) and the last bar;
    ``unit="pct"``: the premium and its bands in % of the futures leg."""
    def last(col):
        s = m[col].dropna()
        return s.iloc[-1] if len(s) else np.nan

    def prem(col):
        return (fmt_num(last(col), "+,.2f", prefix="$") if unit == "usd"
                else fmt_num(last(col), "+.4f", suffix=" %"))

    rows = [[f"spot ({spot_name})" if spot_name else "spot",
             fmt_num(last("spot"), ",.2f", prefix="$")],
            [f"futures ({fut})", fmt_num(last("futures"), ",.2f", prefix="$")],
            ["premium", fmt_num(last("premium_abs"), "+,.2f", prefix="$")]]
    if unit != "usd":
        rows.append(["premium %", prem("premium_pct")])
    rows += [["upper band", prem("bb_upper")],
             ["lower band", prem("bb_lower")],
            ["last bar", bar_state_text(m, m.attrs.get("timeframe", "1D"))]]
    return rows, m.index[-1] if len(m) else None


def premium_alert_rows(hits, alert_kinds: dict[str, str], limit: int | None,
                       unit: str = "usd") -> list[tuple[pd.Timestamp, str, str]]:
    """(time, kind, values) of the premium alerts in ``hits``; ``limit`` keeps the newest;
    ``unit``: the premium the bands are on (``"usd"`` or ``"pct"``)."""
    col, fmt, shown = ("premium_abs", "+,.2f", "USD") if unit == "usd" else \
        ("premium_pct", "+.4f", "%")
    vis, pos, kinds = hits
    if limit is not None:
        pos, kinds = pos[:limit], kinds[:limit]
    labels = list(alert_kinds.values())
    out = []
    for p, k in zip(pos, kinds):
        row = vis.iloc[p]
        out.append((vis.index[p], labels[k],
                    f"premium {fmt_num(row[col], fmt)} {shown}, "
                    f"upper {fmt_num(row['bb_upper'], fmt)}, "
                    f"lower {fmt_num(row['bb_lower'], fmt)}"))
    return out
