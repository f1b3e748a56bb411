"""Live data laid over a MarketData: one poll of tickers, funding and OI on the open bar.

`overlay(md, ticks, now_ms, timeframe)` is what a live dashboard shows between two bar closes
(`btcflow_nb.dashboard.live`): a new MarketData, the original untouched, in which

* each polled venue's close of the **open bar** (the bar containing now, at the data's own
  resolution ``timeframe``; a row is added when the bar is not there yet) is its last price in
  USD (`btcflow_nb.sources.ticks.VenueTick.last_usd`);
* each perpetual's current open interest is one more sample, at now (source ``"live"``);
* each perpetual's current funding rate is a provisional event at its next settlement (the rate
  accrues over the interval before it, so the open bar's funding TWAP is the current rate),
  unless that settlement is already cached;
* ``meta["fetched_at"]`` is now, so the bar containing now is the open bar (provisional) for
  `btcflow_nb.flow_metrics`, and ``meta["live"]`` holds the poll's time and failed venues.

`base_timeframe` and `venue_names` say what a live refresh fetches for a MarketData.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..marketdata import MarketData
from ..timeframes import bar_ms
from .venues import registry

#: sources live data can extend (anything else: the synthetic demo or user frames)
LIVE_SOURCES = ("live", "cache")


def base_timeframe(md) -> str:
    """The data's own bar size in ccxt spelling ("1h", "4h", "1d"), what fetch refreshes."""
    tf = md.meta.get("timeframe_fetched")
    if tf:
        return tf
    res = md.resolution
    mapping = {"1h": "1h", "4h": "4h", "1D": "1d"}
    if res not in mapping:
        raise ValueError(f"live mode needs hourly, 4-hourly or daily data; this data's "
                         f"resolution is {res!r}")
    return mapping[res]


def venue_names(md) -> list[str]:
    """Registry names of the data's venues ("spot:coinbase", "perp:binance", ...); venues the
    registry does not know (user frames) are left out."""
    known = {v.name for v in registry()}
    perp = set(md.venues("perp")) | set(md.venues("funding")) | set(md.venues("open_interest"))
    names = [f"spot:{k}" for k in md.venues("spot")] + [f"perp:{k}" for k in sorted(perp)]
    return [n for n in names if n in known]


def _with_row(frame: pd.DataFrame, bar: pd.Timestamp) -> pd.DataFrame:
    out = frame.copy()
    if bar not in out.index:
        out.loc[bar] = np.nan
        out = out.sort_index()
    return out


def _with_live_rows(frame: pd.DataFrame, rows: list) -> pd.DataFrame:
    """The long frame `frame` (OI or funding) with `rows` (dicts of its columns but ``source``)
    appended: ``source`` "live" when the frame carries sources, times in the frame's dtype,
    columns in its order."""
    add = pd.DataFrame(rows)
    if "source" in frame.columns:
        add["source"] = "live"
    if len(frame):
        add["time"] = add["time"].astype(frame["time"].dtype)
        add = add[list(frame.columns)]
    return pd.concat([frame, add], ignore_index=True)


def overlay(md, ticks, now_ms: int, timeframe: str) -> MarketData:
    """`md` with one poll laid over its open bar (see the module docstring): a new MarketData
    (the original is not changed) with ``meta["fetched_at"]`` = now and ``meta["live"]``."""
    step = bar_ms(timeframe)
    bar = pd.Timestamp((int(now_ms) // step) * step, unit="ms", tz="UTC")
    now = pd.Timestamp(int(now_ms), unit="ms", tz="UTC")
    frames = {}
    for kind in ("spot", "perp"):
        frame = getattr(md, kind)
        hits = {t.key: t.last_usd for t in ticks.venues.values()
                if t.kind == kind and t.last_usd is not None and t.key in frame.columns}
        if hits:
            frame = _with_row(frame, bar)
            for key, price in hits.items():
                frame.loc[bar, key] = price
        frames[kind] = frame
    oi, funding = md.open_interest, md.funding
    perps = [t for t in ticks.venues.values() if t.kind == "perp"]
    oi_rows = [{"venue": t.key, "time": now, "oi_btc": t.oi_btc, "oi_usd": t.oi_usd}
               for t in perps if t.oi_btc is not None]
    if oi_rows:
        oi = _with_live_rows(oi, oi_rows).sort_values("time", kind="stable", ignore_index=True)
    funding_rows = []
    for t in perps:
        if t.funding_rate is None:
            continue
        mine = funding[funding["venue"] == t.key] if len(funding) else funding
        hours = t.funding_interval_hours or (float(mine["interval_hours"].iloc[-1])
                                             if len(mine) else None)
        if not hours:
            continue
        settle = t.funding_time or ((int(now_ms) // int(hours * 3_600_000)) + 1) * int(
            hours * 3_600_000)
        when = pd.Timestamp(int(settle), unit="ms", tz="UTC")
        if len(mine) and when <= mine["time"].iloc[-1]:
            continue      # already settled and cached
        funding_rows.append({"venue": t.key, "time": when, "rate": t.funding_rate,
                             "interval_hours": float(hours)})
    if funding_rows:
        funding = _with_live_rows(funding, funding_rows)
    meta = dict(md.meta)
    meta["fetched_at"] = now.isoformat()
    meta["live"] = {"as_of": int(ticks.as_of), "now": int(now_ms), "errors": dict(ticks.errors),
                    "bar": bar.isoformat()}
    return MarketData(frames["spot"], frames["perp"], funding, oi, md.fx, meta)
