"""Alert messages: what fired, on which bar, the values and thresholds, and why.

An alert is one plain dict (JSON-ready; it is also what the state file keeps, so a restart can
deliver it without recomputing anything) built by :func:`build_alert` from one bar of a
``flow_metrics`` frame. The *why* is :func:`btcflow_nb.explain` of that bar: the conditions of the
fired signal with value, operator, threshold and pass/fail, and the same text ``bf.explain(m, bar,
as_text=True)`` prints for that signal.

Bodies per channel: :func:`text_body` (e-mail, stdout, desktop), :func:`generic_json` (webhooks:
the alert itself, ``"type": "btcflow-nb.alert"``), :func:`slack_body` (``text`` + ``blocks``, what
Slack's incoming webhooks take), :func:`discord_body` (``content`` + one embed, Discord's
webhook format and limits: 2000 / 4096 characters).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..explanation import explain
from ..timeframes import next_bar_open
from .rules import KIND_SIGNAL, KIND_TEXT, alert_key

__all__ = ["build_alert", "text_body", "generic_json", "slack_body", "discord_body", "subject"]

#: the values every alert carries (columns of flow_metrics)
VALUE_COLUMNS = ("spot", "perp_basket", "premium_abs", "premium_pct", "premium_z", "bb_basis",
                 "bb_upper", "bb_lower", "premium_trend", "oi_total", "oi_z", "funding",
                 "funding_z", "spot_venues", "perp_venues", "oi_coverage")
#: the parameters shown as thresholds, per signal
_THRESHOLDS = {
    "bullish": ("premium_min", "bull_oi_z_max", "bull_funding_max", "trend_length", "lookback"),
    "bearish": ("premium_min", "oi_build_z", "funding_hot", "trend_length", "lookback"),
    "overleveraged": ("oi_hot_z", "funding_hot", "lookback"),
    "cycle_top": ("cycle_k", "cycle_m", "lookback"),
    "cycle_bottom": ("cycle_k", "cycle_m", "lookback"),
    "alert_premium_high": ("bb_length", "bb_mult"),
    "alert_premium_low": ("bb_length", "bb_mult"),
}


def _num(x):
    """A JSON-safe number: NaN/inf -> None, numpy scalars -> Python."""
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    return None if not math.isfinite(x) else x


def _signal_text(text: str, signal: str) -> str:
    """The header line and the block of ``signal`` from ``explain(..., as_text=True)``."""
    lines = text.splitlines()
    out, inside = lines[:1], False
    for line in lines[1:]:
        if line.startswith(f"{signal}:"):
            inside = True
        elif not line.startswith(" "):
            inside = False
        if inside:
            out.append(line)
    return "\n".join(out)


def build_alert(metrics: pd.DataFrame, bar: pd.Timestamp, kind: str, *, rule_id: str,
                provisional: bool, evaluated_at: pd.Timestamp, data: dict | None = None) -> dict:
    """The alert for ``kind`` at ``bar`` of ``metrics`` (a ``flow_metrics`` frame), as a dict:
    ``idempotency_key``, ``kind``, ``signal``, ``what``, ``title``, ``timeframe``, ``bar_open``,
    ``bar_close``, ``provisional``, ``values``, ``thresholds`` (the rule's parameters),
    ``conditions`` (explain rows of the signal), ``explanation`` (explain's text for it),
    ``rule_id``, ``evaluated_at`` and ``data`` (source, failed venues)."""
    signal = KIND_SIGNAL[kind]
    params = metrics.attrs["params"]
    tf = params["timeframe"]
    bar = pd.Timestamp(bar)
    row = metrics.loc[bar]
    frame = explain(metrics, bar)
    rows = frame[frame["signal"] == signal]
    conditions = [{"condition": r.condition, "value": _num(r.value), "op": r.op,
                   "threshold": _num(r.threshold), "passed": bool(r.passed),
                   **({"z_mean": _num(r.mean), "z_std": _num(r.std)}
                      if not np.isnan(r.std) else {})}
                  for r in rows.itertuples() if not r.condition.startswith("=>")]
    text = _signal_text(explain(metrics, bar, as_text=True), signal)
    close = next_bar_open(pd.DatetimeIndex([bar]), tf)[0]
    label = " [PROVISIONAL: bar still open]" if provisional else ""
    title = f"btcflow-nb {tf} {kind} at bar {bar:%Y-%m-%d %H:%M} UTC{label}"
    return {
        "type": "btcflow-nb.alert", "version": 1,
        "idempotency_key": alert_key(rule_id, kind, bar, provisional),
        "kind": kind, "signal": signal, "what": KIND_TEXT[kind], "title": title,
        "timeframe": tf, "bar_open": bar.isoformat(), "bar_close": close.isoformat(),
        "provisional": bool(provisional),
        "values": {c: _num(row[c]) for c in VALUE_COLUMNS if c in row.index},
        "funding_unit": metrics.attrs.get("funding_unit", "% per 8h"),
        "oi_unit": metrics.attrs.get("oi_unit", "btc"),
        "thresholds": {p: params[p] for p in _THRESHOLDS[signal] if p in params},
        "conditions": conditions,
        "explanation": text,
        "rule_id": rule_id,
        "evaluated_at": pd.Timestamp(evaluated_at).isoformat(),
        "data": dict(data or {}),
    }


def subject(alert: dict) -> str:
    return alert["title"]


def _fmt(x) -> str:
    return "n/a" if x is None else (f"{x:.6g}" if isinstance(x, float) else str(x))


def text_body(alert: dict) -> str:
    """The alert as plain text: what fired, the bar, values, thresholds, why, the key."""
    v = alert["values"]
    state = ("PROVISIONAL (the bar is still open: values can change)" if alert["provisional"]
             else "closed")
    lines = [alert["title"], ""]
    if alert.get("notice"):   # LATE / RETRACTED (btcflow_nb.alerts.revisions)
        lines += [alert["notice"]]
        if alert.get("retracts"):
            lines += [f"Retracts the alert with idempotency key {alert['retracts']}"]
        lines += [""]
    lines += [
        f"What: {alert['what']}",
        f"Bar: {alert['timeframe']} bar opened {alert['bar_open']}, closes {alert['bar_close']}"
        f" ({state})",
        f"Values: spot {_fmt(v.get('spot'))} USD, perp basket {_fmt(v.get('perp_basket'))} USD, "
        f"premium {_fmt(v.get('premium_abs'))} USD ({_fmt(v.get('premium_pct'))} %), "
        f"bands {_fmt(v.get('bb_lower'))} .. {_fmt(v.get('bb_upper'))} USD, "
        f"premium z {_fmt(v.get('premium_z'))}, OI z {_fmt(v.get('oi_z'))}, "
        f"funding {_fmt(v.get('funding'))} {alert.get('funding_unit', '')} "
        f"(z {_fmt(v.get('funding_z'))})",
        "Thresholds: " + (", ".join(f"{k}={_fmt(x)}" for k, x in alert["thresholds"].items())
                          or "none"),
        "",
        "Why (bf.explain):",
        alert["explanation"],
    ]
    data = alert.get("data") or {}
    if data.get("failed_venues"):
        lines += ["", f"Venues that failed this refresh: {', '.join(data['failed_venues'])}"]
    if data.get("summary"):
        lines += [f"Data: {data['summary']}"]
    lines += ["", f"Idempotency key: {alert['idempotency_key']}"]
    return "\n".join(lines)


def generic_json(alert: dict) -> dict:
    """The generic webhook body: the alert dict itself (it carries ``idempotency_key``)."""
    return dict(alert)


def slack_body(alert: dict) -> dict:
    """A Slack incoming-webhook body: ``text`` (the fallback) and ``blocks`` (Slack takes no
    other fields; the idempotency key is in the text and the ``Idempotency-Key`` header)."""
    text = text_body(alert)
    return {"text": alert["title"],
            "blocks": [{"type": "header", "text": {"type": "plain_text",
                                                   "text": alert["title"][:150]}},
                       {"type": "section", "text": {"type": "mrkdwn",
                                                    "text": "```" + text[:2900] + "```"}}]}


def discord_body(alert: dict) -> dict:
    """A Discord webhook body: ``content`` (<= 2000 chars) and one embed (<= 4096 chars)."""
    text = text_body(alert)
    return {"content": alert["title"][:2000],
            "embeds": [{"title": alert["kind"][:256], "description": text[:4096],
                        "footer": {"text": f"idempotency key {alert['idempotency_key']}"}}]}
