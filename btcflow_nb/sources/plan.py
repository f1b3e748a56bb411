"""What a fetch or a cache read asks for: a timeframe and a time range, parsed once.

`FETCH_TIMEFRAMES` are the bar sizes venues are asked for (``"1D"`` is accepted for ``"1d"``);
`_to_ms` turns ``since`` / ``until`` (dates, Timestamps, epoch ms, durations before now) into
epoch milliseconds, naive times being UTC; `_Plan` carries the timeframe and the range to every
series of every venue (`btcflow_nb.sources.series`) -- the one place the timeframe travels.
"""
from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

#: timeframes `fetch` asks venues for (coarser bars: fetch "1d", then ``md.resample("1W")``)
FETCH_TIMEFRAMES = ("1h", "4h", "1d")
_TF_MS = {"1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}


def _to_ms(value, what: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (pd.Timedelta, _dt.timedelta)):
        return int(time.time() * 1000) - int(pd.Timedelta(value).total_seconds() * 1000)
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        try:   # a duration ("90D", "12 hours"): that long before now
            return int(time.time() * 1000) - int(pd.Timedelta(value).total_seconds() * 1000)
        except (TypeError, ValueError):
            pass
        raise ValueError(f"{what}={value!r} is not a date/time (e.g. '2024-01-01', a "
                         "pandas Timestamp, epoch milliseconds, or a duration before now "
                         "such as '90D')") from None
    if ts is pd.NaT:
        raise ValueError(f"{what}={value!r} is not a date/time")
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.tz_convert("UTC").value // 1_000_000)


def _check_timeframe(timeframe: str) -> str:
    tf = {"1D": "1d", "1H": "1h", "4H": "4h"}.get(timeframe, timeframe)
    if tf not in FETCH_TIMEFRAMES:
        raise ValueError(
            f"fetch timeframe {timeframe!r} is not supported; valid choices: "
            f"{list(FETCH_TIMEFRAMES)} (for 3D/1W/1M bars fetch '1d' and use md.resample(...))")
    return tf


@dataclass
class _Plan:
    """What every series of every venue is asked for (the one place the timeframe travels).

    since / until: epoch ms; `since` is 0 and `explicit_since` False when the caller gave none
    (each series then resumes from its cache, or starts 365 days before `until`); `until` is
    the time of the call and `explicit_until` False when the caller gave none ("up to now").
    """

    timeframe: str
    since: int
    until: int
    explicit_since: bool
    explicit_until: bool = True

    @property
    def since_or_none(self) -> Optional[int]:
        return self.since if self.explicit_since else None
