"""Alert rules: which signal onsets fire, at which timeframe, with which ``flow_metrics`` settings,
and which bars a watcher evaluates.

Kinds
-----
Each alert kind is the *onset* of one signal column of :func:`~btcflow_nb.flow_metrics` (the
first bar of a run, ``<signal>_onset``), so ten bullish hours in a row are one alert:

==============  ====================  ===================================================
kind            flow_metrics column   fires when
==============  ====================  ===================================================
premium_high    alert_premium_high    the USD premium crosses above its upper Bollinger band
premium_low     alert_premium_low     the USD premium crosses below its lower Bollinger band
bullish         bullish               a bullish confluence run starts
bearish         bearish               a bearish confluence run starts
overleveraged   overleveraged         an over-leveraged run starts (OI z and funding hot)
cycle_top       cycle_top             an extreme-cycle top starts (experimental)
cycle_bottom    cycle_bottom          an extreme-cycle bottom starts (experimental)
==============  ====================  ===================================================

Which bars are evaluated
------------------------
A bar is **closed** when its period has ended by the watcher's clock (``next bar open <= now``).
Each (rule, kind) keeps a *watermark*: the last closed bar it evaluated. An evaluation looks at
the closed bars after the watermark, fires on every onset among them, and moves the watermark to
the last closed bar -- so a watcher that was down for three bars catches up on the three, and no
bar is evaluated twice.

**First run** (no watermark for the rule and kind yet): only the **latest closed bar** is
evaluated, never the whole history -- a new watcher does not send every onset since 2019. A
``since`` time (``--since``) evaluates every bar closed after it instead, on the first run only.

**Intrabar** (``intrabar=True``, opt-in): the still-open bar is evaluated too; its alerts are
labelled **provisional** (its close, z-scores and signals can still change), fire at most once per
bar, and have their own idempotency key, distinct from the alert of the same bar once closed.
When the bar closes it is evaluated again like any other; an onset that vanished by the close
is followed by a **retraction** notice (`btcflow_nb.alerts.revisions`).

Between bar closes a cycle costs nothing: the data is refreshed only when some (rule, kind) has
a closed bar after its watermark (or no watermark yet), or a rule is intrabar -- a daily rule
with ``--every 1m`` asks the venues once a day, one request per series.

Data can change after a bar's first evaluation: a bar's **funding** TWAP is built from settled
funding events, and an 8-hourly venue settles the hours before 08:00 only at 08:00, so an
hourly bar's funding can still be NaN when the bar closes (a condition on a NaN never passes).
Each cycle therefore re-evaluates the recently closed bars (within the longest funding interval)
and sends an onset that appeared late, labelled **late**, or a **retraction** of one that
vanished: see `btcflow_nb.alerts.revisions`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pandas as pd

from .._checks import choice_error
from ..timeframes import TIMEFRAMES, bar_open, next_bar_open, normalize_timeframe

__all__ = ["KINDS", "KIND_SIGNAL", "KIND_TEXT", "Rule", "fired_bars", "alert_key",
           "fetch_timeframe_for", "latest_closed_bar"]

#: alert kind -> the flow_metrics signal column whose onset fires it
KIND_SIGNAL = {
    "premium_high": "alert_premium_high",
    "premium_low": "alert_premium_low",
    "bullish": "bullish",
    "bearish": "bearish",
    "overleveraged": "overleveraged",
    "cycle_top": "cycle_top",
    "cycle_bottom": "cycle_bottom",
}
KINDS = tuple(KIND_SIGNAL)
#: what each kind means, in one line (the first line of every message)
KIND_TEXT = {
    "premium_high": "premium crossed above the upper Bollinger band (spot premium too high)",
    "premium_low": "premium crossed below the lower Bollinger band (futures premium too high)",
    "bullish": "bullish confluence started (spot-led premium rising, leverage not overheated)",
    "bearish": "bearish confluence started (futures-led premium falling, leverage building)",
    "overleveraged": "over-leveraged started (OI z-score and funding both hot)",
    "cycle_top": "extreme-cycle TOP started (experimental)",
    "cycle_bottom": "extreme-cycle BOTTOM started (experimental)",
}
#: the ccxt timeframe fetched for each bar size (coarser bars are built from daily bars)
_FETCH_TF = {"1h": "1h", "4h": "4h", "1D": "1d", "3D": "1d", "1W": "1d", "1M": "1d"}
#: flow_metrics keywords a rule may set (its ``settings``)
SETTINGS = ("lookback", "spot_venues", "perp_venues", "futures", "weighting", "oi_unit",
            "funding_smoothing", "apr", "bb_length", "bb_mult", "trend_length", "premium_min",
            "oi_build_z", "oi_hot_z", "funding_hot", "bull_oi_z_max", "bull_funding_max",
            "cycle_k", "cycle_m", "extremes", "max_gap")


def check_kind(kind) -> str:
    """An alert kind, or a ValueError naming it and the valid kinds."""
    if kind not in KIND_SIGNAL:
        raise choice_error("alert kind", kind, KINDS)
    return kind


def check_watch_timeframe(timeframe) -> str:
    """A timeframe the watcher can build from fetched data (``1h`` .. ``1M``), canonical."""
    try:
        return normalize_timeframe(timeframe)
    except ValueError:
        raise ValueError(f"timeframe {timeframe!r} cannot be made from the venues' data; valid "
                         f"choices: {', '.join(TIMEFRAMES)} (1h and 4h are fetched as such, "
                         f"1D/3D/1W/1M are built from daily bars)") from None


def fetch_timeframe_for(timeframe: str) -> str:
    """The ccxt timeframe fetched to build ``timeframe`` bars."""
    return _FETCH_TF[check_watch_timeframe(timeframe)]


@dataclass(frozen=True)
class Rule:
    """Which alert kinds to watch at one timeframe, with ``flow_metrics`` settings.

    kinds: alert kinds (:data:`KINDS`); timeframe: ``1h``, ``4h``, ``1D``, ``3D``, ``1W``,
    ``1M``; settings: keyword arguments of :func:`~btcflow_nb.flow_metrics` (thresholds,
    lookbacks, venue selections); intrabar: also evaluate the open bar (provisional alerts).
    """

    kinds: tuple
    timeframe: str = "1D"
    settings: dict = field(default_factory=dict)
    intrabar: bool = False

    def __post_init__(self):
        kinds = (self.kinds,) if isinstance(self.kinds, str) else tuple(self.kinds)
        if not kinds:
            raise ValueError(f"a rule needs at least one alert kind; valid kinds: "
                             f"{', '.join(KINDS)}")
        object.__setattr__(self, "kinds", tuple(dict.fromkeys(check_kind(k) for k in kinds)))
        object.__setattr__(self, "timeframe", check_watch_timeframe(self.timeframe))
        unknown = sorted(set(self.settings) - set(SETTINGS))
        if unknown:
            raise ValueError(f"unknown flow_metrics setting(s) {unknown} in a rule; valid: "
                             f"{', '.join(SETTINGS)}")
        if not isinstance(self.intrabar, bool):
            raise ValueError(f"intrabar must be true or false; got {self.intrabar!r}")
        object.__setattr__(self, "settings", dict(self.settings))

    @property
    def rule_id(self) -> str:
        """A short stable id of the timeframe and settings (not of the kinds: each kind keeps
        its own watermark under ``<rule_id>:<kind>``). Changed settings make a new rule."""
        blob = json.dumps({"timeframe": self.timeframe, "settings": self.settings},
                          sort_keys=True, default=str)
        return f"{self.timeframe}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"

    def describe(self) -> str:
        sets = ", ".join(f"{k}={v!r}" for k, v in sorted(self.settings.items())) or "defaults"
        return (f"{','.join(self.kinds)} on {self.timeframe} ({sets})"
                + (", intrabar" if self.intrabar else ""))


def latest_closed_bar(now: pd.Timestamp, timeframe: str) -> pd.Timestamp:
    """The open time of the last bar whose period ended at or before ``now``."""
    tf = check_watch_timeframe(timeframe)
    current = bar_open(pd.DatetimeIndex([pd.Timestamp(now)]), tf)[0]
    return bar_open(pd.DatetimeIndex([current - pd.Timedelta(microseconds=1)]), tf)[0]


def alert_key(rule_id: str, kind: str, bar: pd.Timestamp, provisional: bool,
              retraction: bool = False) -> str:
    """The idempotency key of an alert: a hash of the rule, the bar, the kind and whether it is
    provisional. The same alert always gets the same key, so a receiver can drop a repeat.
    ``retraction``: the key of the notice retracting that alert (same family: the text of the
    alert's key with ``|retracted`` appended, hashed)."""
    state = "provisional" if provisional else "closed"
    if retraction:
        state += "|retracted"
    text = f"{rule_id}|{kind}|{pd.Timestamp(bar).isoformat()}|{state}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def fired_bars(metrics: pd.DataFrame, kind: str, now: pd.Timestamp, watermark, *,
               since=None, intrabar: bool = False):
    """Which bars of ``metrics`` fire ``kind`` now, and the new watermark.

    Returns ``(closed, provisional, new_watermark)``: the closed bars after the watermark (or,
    without one, the latest closed bar, or those after ``since``) whose onset is true; the open
    bar when ``intrabar`` and its onset is true (else empty); the last closed bar (the old
    watermark when no bar closed since).
    """
    column = f"{KIND_SIGNAL[check_kind(kind)]}_onset"
    tf = metrics.attrs["params"]["timeframe"]
    index = metrics.index
    if len(index) == 0:
        return [], [], watermark
    closes = next_bar_open(index, tf)
    is_closed = closes <= now
    closed_index = index[is_closed]
    onset = metrics[column].to_numpy(dtype=bool)
    if watermark is not None:
        wanted = is_closed & (index > watermark)
    elif since is not None:
        wanted = is_closed & (index >= since)
    else:
        wanted = is_closed & (index == closed_index[-1]) if len(closed_index) else is_closed
    closed = list(index[wanted & onset])
    provisional = []
    if intrabar:
        open_now = (~is_closed) & (index <= now)
        provisional = list(index[open_now & onset])
    new_watermark = closed_index[-1] if len(closed_index) else watermark
    if watermark is not None and new_watermark is not None and new_watermark < watermark:
        new_watermark = watermark
    return closed, provisional, new_watermark
