"""Validation of a venue's rows before they are cached: pure functions on the raw frames of
`btcflow_nb.sources.parse` (no network, no disk).

A reply is checked twice:

* **the page** (`check_page`): a venue asked for at most ``limit`` rows that answers more did
  not answer the question asked (a 30,000-row reply to a 1,000-row page): the whole page is
  rejected (`ReplyRejected`).  ``limit`` is the page size sent (the registry's
  ``*_page_limit``), or `MAX_PAGE_ROWS` when none is sent (ccxt trims a reply to the limit it
  was given, so only there can a reply be larger); replies are also capped in bytes while
  they are read (`btcflow_nb.sources.exchanges.MAX_REPLY_BYTES`).
* **each row** (`check_ohlcv`, `check_funding`, `check_oi`): a row that cannot be a true value
  of the asked series is dropped, counted and kept as an example in a `Rejected` record:

  - OHLCV: ``close > 0`` and finite; open / high / low > 0 and volume >= 0 when present (NaN is
    "not reported"); the bar's open time on the timeframe's grid -- ``time mod bar`` (its
    *phase*) a whole hour and the phase of the series (that of the cached bars, else of most new
    bars; venues whose days start at UTC+8 midnight have phase 16 h) -- so rows 1 s apart are
    not daily bars; and the close within a factor `PRICE_BAND` of a reference close: the median
    of the other venues' closes of the same bar, else the venue's own cached close at most
    `OWN_REFERENCE_BARS` bars earlier.  ETH-scale prices (~1/20 of BTC's) served as BTC fail
    here: "does not parse as the asked instrument".  An fx series (USDT/USD, USDC/USD: a
    stablecoin's USD price, with no other venue to compare with) is instead held to the fixed
    band `FX_BAND` (0.5 to 1.5 USD: a stablecoin far outside it is not the asked pair, or has
    lost its peg so far that its bars are no premium correction at all).
  - funding: the rate finite and ``|rate| <= clamp``, the venue's documented clamp
    (``Venue.funding_clamp``, a fraction per interval) or `FUNDING_BOUND` (3 % per interval,
    far above any clamp a venue documents) when the registry does not know it.
  - OI: ``oi_base`` and ``oi_value`` finite and >= 0 where reported; an OI *snapshot* ("the
    OI now") stamped more than `SNAPSHOT_MAX_AGE_MS` before the open of the newest bar the
    venue serves (its own clock: the venue's "now" is at least that) is stale -- the venue
    repeats an old value -- and is reported, never stored (`stale_snapshot`).

Rejected rows are never cached; the caller reports them per venue (``meta["rejected"]``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

#: a close more than this factor away from its reference is not the asked instrument
PRICE_BAND = 1.5
#: [low, high] USD: the plausible closes of an fx series (a stablecoin's USD price)
FX_BAND = (0.5, 1.5)
#: an OI snapshot stamped this long before the open of the venue's newest bar [ms] is stale
#: (venues stamp it within a minute, or with the start of their current OI period: <= 1 h)
SNAPSHOT_MAX_AGE_MS = 2 * 3_600_000
#: own cached closes serve as reference for new bars at most this many bars later
OWN_REFERENCE_BARS = 3
#: |funding rate| per interval above which a row is rejected when the venue's clamp is unknown
FUNDING_BOUND = 0.03
#: rows one reply may hold when no page size was sent (Kraken Futures answers its whole
#: hourly funding history, ~70k rows by 2026, in one reply)
MAX_PAGE_ROWS = 250_000
#: examples kept per reason
_EXAMPLES = 3
_HOUR_MS = 3_600_000


class ReplyRejected(ValueError):
    """A whole reply was refused (it did not answer the question asked)."""


@dataclass
class Rejected:
    """Rows refused for one venue: ``counts[reason]``, and a few ``examples`` per reason."""

    counts: dict = field(default_factory=dict)
    examples: dict = field(default_factory=dict)

    def add(self, series: str, reason: str, frame: pd.DataFrame, mask) -> None:
        mask = np.asarray(mask, dtype=bool)
        n = int(mask.sum())
        if not n:
            return
        key = f"{series}: {reason}"
        self.counts[key] = self.counts.get(key, 0) + n
        ex = self.examples.setdefault(key, [])
        for _, row in frame[mask].head(_EXAMPLES - len(ex)).iterrows():
            ex.append({k: _plain(v) for k, v in row.items()})

    def add_count(self, series: str, reason: str, n: int, example=None) -> None:
        key = f"{series}: {reason}"
        self.counts[key] = self.counts.get(key, 0) + int(n)
        if example is not None and len(self.examples.setdefault(key, [])) < _EXAMPLES:
            self.examples[key].append(example)

    def merge(self, other: "Rejected") -> None:
        """Add `other`'s counts and examples to these."""
        for key, n in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
            self.examples.setdefault(key, []).extend(other.examples.get(key, ()))
            del self.examples[key][_EXAMPLES:]

    def __bool__(self) -> bool:
        return bool(self.counts)

    def as_dict(self) -> dict:
        return {"counts": dict(self.counts), "examples": {k: list(v) for k, v in
                                                          self.examples.items()}}

    def note(self, venue_name: str) -> str:
        parts = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
        return f"{venue_name}: rows rejected and not cached ({parts})"


def _plain(v):
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, (np.floating, float)):
        return float(v)
    return v if isinstance(v, (str, int, type(None))) else str(v)


def check_page(n_rows: int, limit: Optional[int], what: str) -> None:
    """Raise `ReplyRejected` when a page holds more rows than the `limit` asked."""
    if limit is not None and n_rows > limit:
        raise ReplyRejected(f"{what}: a reply of {n_rows} rows to a page of at most {limit} "
                            f"rows; rejected whole")


def _ms(frame: pd.DataFrame) -> np.ndarray:
    return pd.DatetimeIndex(frame["time"]).as_unit("ms").asi8


def _keep(frame, bad, rejected, series, reason):
    bad = np.asarray(bad, dtype=bool)
    if not bad.any() and frame.index.equals(pd.RangeIndex(len(frame))):
        return frame.copy(deep=False)   # every row kept: no copy of the rows (copy-on-write)
    rejected.add(series, reason, frame, bad)
    return frame[~bad].reset_index(drop=True)


def series_phase(times_ms, tf_ms: int) -> Optional[int]:
    """The most common ``time mod tf_ms`` of `times_ms` (None when empty)."""
    if len(times_ms) == 0:
        return None
    phases, counts = np.unique(np.asarray(times_ms, dtype="int64") % tf_ms, return_counts=True)
    return int(phases[np.argmax(counts)])


def check_ohlcv(frame: pd.DataFrame, tf_ms: int, rejected: Rejected, *, cached=None,
                peers=None, band: Optional[tuple] = None) -> pd.DataFrame:
    """The rows of an OHLCV `frame` that can be bars of the asked instrument and timeframe.

    band: (low, high), a fixed range the close must lie in (`FX_BAND` for fx series), checked
    before the reference band.
    cached: the venue's cached OHLCV frame (its bar phase and closes are references);
    peers: other venues' closes of the same timeframe, a frame indexed by bar open time (one
    column per venue), or None.  See the module docstring for the rules."""
    if len(frame) == 0:
        return frame
    close = frame["close"].to_numpy(dtype="float64")
    frame = _keep(frame, ~(np.isfinite(close) & (close > 0)), rejected, "ohlcv",
                  "close not a finite price > 0")
    if len(frame) == 0:
        return frame
    bad = np.zeros(len(frame), dtype=bool)
    for col in ("open", "high", "low"):
        v = frame[col].to_numpy(dtype="float64")
        bad |= ~np.isnan(v) & ~(np.isfinite(v) & (v > 0))
    vol = frame["volume"].to_numpy(dtype="float64")
    bad |= ~np.isnan(vol) & ~(np.isfinite(vol) & (vol >= 0))
    frame = _keep(frame, bad, rejected, "ohlcv", "open/high/low/volume not finite or negative")
    if len(frame) == 0:
        return frame
    t = _ms(frame)
    have_cache = cached is not None and len(cached)
    phase = series_phase(_ms(cached), tf_ms) if have_cache else series_phase(t, tf_ms)
    if phase % _HOUR_MS:
        phase = None      # no grid: nothing is aligned
    frame = _keep(frame, (t % tf_ms) != phase if phase is not None else np.ones(len(t), bool),
                  rejected, "ohlcv", f"open time off the {tf_ms // _HOUR_MS} h bar grid")
    if len(frame) == 0:
        return frame
    if band is not None:
        close = frame["close"].to_numpy(dtype="float64")
        frame = _keep(frame, (close < band[0]) | (close > band[1]), rejected, "ohlcv",
                      f"does not parse as the asked instrument (close outside "
                      f"{band[0]:g} to {band[1]:g})")
        if len(frame) == 0:
            return frame
    ref = _reference(frame, tf_ms, cached if have_cache else None, peers)
    close = frame["close"].to_numpy(dtype="float64")
    ratio = close / ref
    off = ~np.isnan(ref) & ((ratio > PRICE_BAND) | (ratio < 1 / PRICE_BAND))
    return _keep(frame, off, rejected, "ohlcv",
                 f"does not parse as the asked instrument (close more than x{PRICE_BAND} away "
                 f"from the other venues' or its own cached closes)")


def _reference(frame, tf_ms, cached, peers) -> np.ndarray:
    """Reference close per row: the peers' median at the same bar, else the own cached close
    as of at most `OWN_REFERENCE_BARS` bars earlier (the same bar included), else NaN."""
    t = _ms(frame)
    ref = np.full(len(t), np.nan)
    if peers is not None and len(peers) and len(peers.columns):
        idx = pd.DatetimeIndex(peers.index).as_unit("ms").asi8
        med = np.nanmedian(np.where(peers.to_numpy(dtype="float64") > 0,
                                    peers.to_numpy(dtype="float64"), np.nan), axis=1) \
            if peers.notna().any().any() else np.full(len(idx), np.nan)
        pos = pd.Index(idx).get_indexer(t)
        ref = np.where(pos >= 0, med[np.clip(pos, 0, None)], np.nan)
    if cached is not None and len(cached):
        own_t = _ms(cached)
        own_c = cached["close"].to_numpy(dtype="float64")
        ok = np.isfinite(own_c) & (own_c > 0)
        own_t, own_c = own_t[ok], own_c[ok]
        if len(own_t):
            i = np.searchsorted(own_t, t, side="right") - 1
            near = (i >= 0) & (t - own_t[np.clip(i, 0, None)] <= OWN_REFERENCE_BARS * tf_ms)
            own = np.where(near, own_c[np.clip(i, 0, None)], np.nan)
            ref = np.where(np.isnan(ref), own, ref)
    return ref


def stale_snapshot(stamp_ms: int, newest_bar_ms: Optional[int]) -> Optional[str]:
    """Why an OI snapshot stamped `stamp_ms` is not the venue's current OI: it is more than
    `SNAPSHOT_MAX_AGE_MS` older than `newest_bar_ms`, the open of the newest bar the venue
    serves (both epoch ms; None: unknown, nothing to judge by); None when it is fresh."""
    age = None if newest_bar_ms is None else newest_bar_ms - stamp_ms
    if age is None or age <= SNAPSHOT_MAX_AGE_MS:
        return None
    return (f"stale, stamped {pd.Timestamp(stamp_ms, unit='ms', tz='UTC'):%Y-%m-%d %H:%M} UTC, "
            f"{age / 3_600_000:.1f} h before the open of the venue's newest bar (more than "
            f"{SNAPSHOT_MAX_AGE_MS / 3_600_000:g} h)")


def funding_bound(venue) -> float:
    """The largest |rate| per interval a row of `venue` may have: its documented clamp
    (``venue.funding_clamp``) or `FUNDING_BOUND`."""
    return float(venue.funding_clamp) if venue.funding_clamp else FUNDING_BOUND


def check_funding(frame: pd.DataFrame, venue, rejected: Rejected) -> pd.DataFrame:
    """The rows of a funding `frame` whose rate is finite and within the venue's clamp."""
    if len(frame) == 0:
        return frame
    bound = funding_bound(venue)
    rate = frame["rate"].to_numpy(dtype="float64")
    return _keep(frame, ~(np.isfinite(rate) & (np.abs(rate) <= bound)), rejected, "funding",
                 f"rate not finite or |rate| > {bound:g} per interval")


def check_oi(frame: pd.DataFrame, rejected: Rejected) -> pd.DataFrame:
    """The rows of a raw OI `frame` whose reported amounts are finite and >= 0."""
    if len(frame) == 0:
        return frame
    bad = np.zeros(len(frame), dtype=bool)
    for col in ("oi_base", "oi_value"):
        v = frame[col].to_numpy(dtype="float64")
        bad |= ~np.isnan(v) & ~(np.isfinite(v) & (v >= 0))
    return _keep(frame, bad, rejected, "open interest", "amount not finite or negative")


def check_cached(frame: pd.DataFrame, series: str, venue, rejected: Rejected,
                 tf_ms: Optional[int] = None) -> pd.DataFrame:
    """Rows of a frame already in the cache that pass the row checks of `series` (alignment
    and the price band excepted: a cache is judged value by value), so a poisoned row written
    before validation existed is dropped and reported instead of failing every load."""
    if series == "ohlcv":
        close = frame["close"].to_numpy(dtype="float64")
        return _keep(frame, ~(np.isfinite(close) & (close > 0)), rejected, "cached ohlcv",
                     "close not a finite price > 0")
    if series == "funding":
        bound = funding_bound(venue)
        rate = frame["rate"].to_numpy(dtype="float64")
        return _keep(frame, ~(np.isfinite(rate) & (np.abs(rate) <= bound)), rejected,
                     "cached funding", f"rate not finite or |rate| > {bound:g}")
    bad = np.zeros(len(frame), dtype=bool)
    for col in ("oi_base", "oi_value"):
        v = frame[col].to_numpy(dtype="float64")
        bad |= ~np.isnan(v) & ~(np.isfinite(v) & (v >= 0))
    return _keep(frame, bad, rejected, "cached open interest", "amount not finite or negative")


def check_first_fetch(fresh: dict, peers, rejected: dict) -> dict:
    """The rows of venues fetched into an empty cache that pass the price band against the
    other venues of the same run, by bar: ``{name: kept frame}``.

    A venue's first fetch has no cached close of its own, and its peers may be fetched in the
    same run, so `check_ohlcv` may have had no reference at all.  `btcflow_nb.fetch` therefore
    holds such a venue's OHLCV write until every venue is in and then compares each bar's close
    with the median of the same bar's closes of every venue -- itself, the other first-fetched
    venues (`fresh`) and the cached ones (`peers`: a frame indexed by bar open time, one column
    per venue, or None): the majority decides.  A close more than `PRICE_BAND` away is
    rejected (into ``rejected[name]``, a `Rejected`) and never cached.  A bar no other venue
    has keeps its rows: a venue that is simply alone is cached.  With two venues at a bar that
    disagree (or a tie) the median is their mean, far from both: neither can be told to be the
    asked instrument, and both are rejected for that bar (reported; asked again next fetch).

    fresh: {venue name: OHLCV frame of new rows, already through `check_ohlcv`}."""
    closes = {name: pd.Series(f["close"].to_numpy(dtype="float64"),
                              index=pd.DatetimeIndex(f["time"]).as_unit("ms").asi8)
              for name, f in fresh.items() if len(f)}
    cols = dict(closes)
    if peers is not None and len(peers):
        for col in peers.columns:
            s = peers[col]
            cols[f"cached:{col}"] = pd.Series(s.to_numpy(dtype="float64"),
                                              index=pd.DatetimeIndex(s.index).as_unit("ms").asi8)
    table = pd.concat({k: v[~v.index.duplicated()] for k, v in cols.items()}, axis=1,
                      sort=True) if cols else None
    out = {}
    for name, frame in fresh.items():
        if name not in closes or table is None:
            out[name] = frame
            continue
        every = table.to_numpy(dtype="float64")       # this venue's column included
        rows = np.where(every > 0, every, np.nan)[table.index.get_indexer(closes[name].index)]
        ref = np.nanmedian(rows, axis=1)
        ratio = closes[name].to_numpy() / ref
        off = ~np.isnan(ref) & ((ratio > PRICE_BAND) | (ratio < 1 / PRICE_BAND))
        out[name] = _keep(frame, off, rejected.setdefault(name, Rejected()), "ohlcv",
                          f"does not parse as the asked instrument (first fetch: close more "
                          f"than x{PRICE_BAND} away from the other venues' closes of the bar)")
    return out
