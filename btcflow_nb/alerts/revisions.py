"""Revisions: onsets that appear or vanish after a bar was first evaluated, and venues whose
cached bars are not final.

Late onsets
-----------
A bar is first evaluated at the first cycle after it closed, but not all of its data is known
then: its **funding** TWAP is built from *settled* funding events, and a venue settles the
hours before a settlement only at the settlement (every 8 h on Binance, OKX and Bybit; 1 h on
some venues), so an hourly bar's funding can be NaN for up to 8 h after it closed -- and a
signal needing funding (bearish, over-leveraged, cycle votes) can first pass then.

So every cycle also **re-evaluates the closed bars of a recent window**: the bars whose close is
within :func:`revision_window` of now (the longest funding interval among the data's funding
events, :data:`DEFAULT_WINDOW` when there are none), already evaluated (not after the watermark)
and not before the first bar this (rule, kind) ever evaluated (a new watcher never sends
history as "late"). An onset there whose idempotency key is not in the state yet is sent as a
**late** alert: the same key it would have had on time (a receiver that has it drops it), marked
``"late": true`` with ``late_reason`` and ``[LATE ...]`` in the title.

Retractions
-----------
An alert already recorded whose onset is **gone** is followed by a **retraction notice** (sent to
every channel, at least once like any alert): ``"retraction": true``, ``retracts`` (the key of the
alert it withdraws), ``retraction_reason``, ``[RETRACTED ...]`` in the title, values and
conditions of the bar as they are now (the *why* shows which condition fails), and its own key
from the same family (:func:`~btcflow_nb.alerts.rules.alert_key` with ``retraction=True``).
Two cases:

- a **provisional** (intrabar) alert whose onset is not there when its bar closed (checked at
  the bar's first evaluation as a closed bar, then in the window; a flicker while the bar is
  still open is not retracted: the close decides);
- a **closed** alert whose onset vanished after late data within the window (e.g. funding
  settled and moved the onset to an earlier bar: the earlier bar gets a late alert, this one a
  retraction). A retraction is never itself retracted or re-sent; an onset that comes back
  after a retraction is not sent again (its key is in the state).

Stale venues
------------
The cache keeps each venue's *open* bar as it was at the fetch (re-fetched by the next one). When
a venue fails to refresh, its last cached bar can be a partial bar: a close from mid-bar, or an
OI sample from before the close. :func:`mask_unfinal` removes, for each venue that failed this
refresh, every price and OI row of a bar that closed after the venue's last good refresh (the
watcher records it per timeframe in the state; unknown: the bars not yet evaluated), so
``flow_metrics`` treats them as *missing*: carried with the other venues' move for up to
``max_gap`` base bars (:func:`~btcflow_nb.indicators.carry_gaps`), then out of the basket -- a
stale close never enters the basket as if it were the bar's close. The alert names the venue
(``data.failed_venues``) and the masked bars (``data.unfinal_venues``).
"""
from __future__ import annotations

import dataclasses
import math

import pandas as pd

from ..timeframes import bar_open, next_bar_open
from .message import build_alert
from .rules import KIND_SIGNAL, alert_key

__all__ = ["DEFAULT_WINDOW", "revision_window", "revisions", "mask_unfinal", "venue_names"]

#: the re-evaluation window when the data holds no funding event (8 h: the usual interval)
DEFAULT_WINDOW = pd.Timedelta(hours=8)
LATE_REASON = ("late data: funding settled (or a venue answered) after the bar closed; the "
               "onset first appeared at a re-evaluation")


def revision_window(md) -> pd.Timedelta:
    """The longest funding interval among ``md``'s funding events (``interval_hours``), or
    :data:`DEFAULT_WINDOW`: how long after a close a bar's data can still change."""
    funding = md.funding
    if len(funding) and "interval_hours" in funding:
        hours = float(pd.to_numeric(funding["interval_hours"], errors="coerce").max())
        if math.isfinite(hours) and hours > 0:
            return pd.Timedelta(hours=hours)
    return DEFAULT_WINDOW


def _notice(alert: dict, label: str, field: str, reason: str) -> dict:
    alert[field] = reason
    alert["title"] = f"{alert['title']} [{label}]"
    alert["notice"] = f"{label}: {reason}"
    return alert


def revisions(metrics: pd.DataFrame, kind: str, *, rule_id: str, now: pd.Timestamp, watermark,
              first_bar, window: pd.Timedelta, recorded: list, data: dict) -> list:
    """Late alerts and retraction notices of one (rule, kind) this cycle (see the module
    docstring). ``recorded``: the state's alerts of this rule and kind; ``watermark``: the last
    bar evaluated *before* this cycle; ``first_bar``: the first bar ever evaluated."""
    if watermark is None or first_bar is None or len(metrics) == 0:
        return []
    tf = metrics.attrs["params"]["timeframe"]
    index = metrics.index
    closes = next_bar_open(index, tf)
    onset = pd.Series(metrics[f"{KIND_SIGNAL[kind]}_onset"].to_numpy(dtype=bool), index=index)
    closed = closes <= now
    in_window = closed & (closes > now - window) & (index <= watermark) & (index >= first_bar)
    keys = {a["idempotency_key"] for a in recorded}
    out = []
    for bar in index[in_window & onset.to_numpy()]:
        if alert_key(rule_id, kind, bar, False) not in keys:
            alert = build_alert(metrics, bar, kind, rule_id=rule_id, provisional=False,
                                evaluated_at=now, data=data)
            out.append(_notice(alert, "LATE", "late_reason", LATE_REASON))
            out[-1]["late"] = True
    window_bars = set(index[in_window])
    for old in recorded:
        if old.get("retraction"):
            continue
        bar = pd.Timestamp(old["bar_open"])
        if bar not in onset.index or onset[bar]:
            continue
        bar_closed = bool(closed[index.get_loc(bar)])
        if old.get("provisional"):
            if not bar_closed:
                continue   # still open: the close decides
            reason = ("the bar closed without this onset (the provisional alert was sent while "
                      "the bar was open)")
        elif bar in window_bars:
            reason = ("late data (funding settled after the bar closed) changed the bar: the "
                      "onset is no longer there")
        else:
            continue
        key = alert_key(rule_id, kind, bar, bool(old.get("provisional")), retraction=True)
        if key in keys:
            continue
        notice = build_alert(metrics, bar, kind, rule_id=rule_id, provisional=False,
                             evaluated_at=now, data=data)
        notice.update(idempotency_key=key, retraction=True, retracts=old["idempotency_key"],
                      retracts_provisional=bool(old.get("provisional")),
                      what=f"RETRACTION of: {old['what']}")
        out.append(_notice(notice, "RETRACTED", "retraction_reason", reason))
    return out


def venue_names(md) -> list:
    """The venue names (``spot:coinbase``) of ``md``'s price columns (``coinbase`` in the
    spot frame; frames built by hand may already use full names)."""
    return [c if ":" in str(c) else f"{kind}:{c}"
            for kind, frame in (("spot", md.spot), ("perp", md.perp)) for c in frame.columns]


def _column(frame, venue: str, kind: str):
    """The column of ``venue`` (``spot:kraken``) in a price frame of ``kind``, or None."""
    if venue in frame.columns:
        return venue
    prefix, _, key = venue.partition(":")
    return key if prefix == kind and key in frame.columns else None


def mask_unfinal(md, failed: list, final_until: dict, fallback: pd.Timestamp | None, tf: str):
    """``md`` with the price and OI rows of each ``failed`` venue removed at the bars that
    closed after ``final_until[venue]`` (its last good refresh; missing: ``fallback``, a bar
    open: rows at or after it), and ``{venue: first masked bar ISO}``. ``md`` itself is left
    untouched (a new MarketData is returned when anything is masked)."""
    masked, spot, perp, oi = {}, md.spot, md.perp, md.open_interest
    for venue in failed:
        until = final_until.get(venue)
        # the first bar not yet closed at the venue's last good refresh (its rows are partial)
        first = (bar_open(pd.DatetimeIndex([pd.Timestamp(until)]), tf)[0]
                 if until is not None else fallback)
        if first is None:
            continue
        first = pd.Timestamp(first)
        for name in ("spot", "perp"):
            frame = spot if name == "spot" else perp
            column = _column(frame, venue, name)
            if column is not None and (frame.index >= first).any():
                frame = frame.copy()
                frame.loc[frame.index >= first, column] = float("nan")
                masked[venue] = first.isoformat()
                spot, perp = (frame, perp) if name == "spot" else (spot, frame)
        if len(oi) and "venue" in oi and venue.startswith("perp:"):
            names = oi["venue"].astype(str)
            drop = names.isin([venue, venue.partition(":")[2]]) & (oi["time"] >= first)
            if drop.any():
                oi = oi.loc[~drop.to_numpy()]
                masked[venue] = first.isoformat()
    if not masked:
        return md, {}
    return dataclasses.replace(md, spot=spot, perp=perp, open_interest=oi, _memo={}), masked
