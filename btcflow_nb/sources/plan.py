"""What a fetch or a cache read asks for: a timeframe and a time range, parsed once.

`FETCH_TIMEFRAMES` are the bar sizes venues are asked for (`fetch_timeframe` accepts every
spelling `btcflow_nb.timeframes` knows, ``"1D"`` for ``"1d"``); ``since`` / ``until`` go through
the package's one time parser, `btcflow_nb.timeframes.to_ms` (an int is epoch milliseconds,
naive times are UTC, ``"90D"`` is 90 days before now); `_Plan` carries the timeframe and the range to every
series of every venue (`btcflow_nb.sources.series`) -- the one place the timeframe travels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..timeframes import ccxt_timeframe

#: timeframes `fetch` asks venues for, in the venues' (ccxt) spelling, which is also the
#: spelling of the cache's file names (coarser bars: fetch "1d", then ``md.resample("1W")``)
FETCH_TIMEFRAMES = ("1h", "4h", "1d")


def fetch_timeframe(timeframe: str) -> str:
    """The ccxt spelling of a timeframe `fetch` can ask venues for (``"1D"`` -> ``"1d"``), or a
    ValueError naming the value and the valid choices."""
    try:
        tf = ccxt_timeframe(timeframe)
    except ValueError:
        tf = None
    if tf not in FETCH_TIMEFRAMES:
        raise ValueError(
            f"fetch timeframe {timeframe!r} is not supported; valid choices: "
            f"{list(FETCH_TIMEFRAMES)} (for 3D/1W/1M bars fetch '1d' and use md.resample(...))")
    return tf


@dataclass
class _Plan:
    """What every series of every venue is asked for (the one place the timeframe travels).

    since / until: epoch ms; `since` is 0 and `explicit_since` False when the caller gave none
    (each series then resumes from its cache, or starts at its default history: see
    `btcflow_nb.sources.series`); `until` is
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
