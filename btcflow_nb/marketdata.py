"""``MarketData``: the one object that flows from a data source into the indicators.

Times are UTC; bars are labelled by their open time. Four fields:

========================  =====================================================================
``spot``, ``perp``        wide frames, one column per venue: bar close in USD
``funding``               long frame ``venue, time, rate, interval_hours``: each settled funding
                          event; ``rate`` is the fraction paid for that interval (0.0001 = 0.01 %)
                          and ``time`` its settlement
``open_interest``         long frame ``venue, time, oi_btc, oi_usd``: OI sampled at ``time``
``fx``                    wide frame of stablecoin prices in USD (``USDT``, ``USDC`` columns)
``futures``               long frame ``venue, symbol, expiry, time, close``: dated futures' bars
                          (`btcflow_nb._futures_frame`; `btcflow_nb.basis` reads them)
========================  =====================================================================

Provenance: the long frames may carry a ``source`` column (`SOURCE_COLUMN`) naming where each
row came from -- ``ccxt`` (the venue's API), ``snapshot`` (current OI recorded at a fetch),
``archive:<name>`` (bulk files, ``archive:binance``), ``file:<name>`` (a CSV export); frames read
from the cache always carry it, frames given to `MarketData.from_frames` keep it when they have
it.  `source_rank` is the documented precedence (ccxt > archive > file > snapshot) that decides
which row wins for one (venue, time).  The wide price frames have one column per venue, so their
provenance is summarised in ``meta["provenance"]`` (per field and venue: each source's first and
last time and row count).

plus ``meta`` (a dict: ``source``, ``synthetic``, ``venues``, ``fetched_at``, ``notes``,
``errors``, ``quote_conversion``, ``resolution``).

Any field may be empty; the metrics that need it then come out NaN, they never raise.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._checks import check_choice
from ._futures_frame import empty_futures, futures_coverage, validate_futures
from ._frames import iter_venues, last_per_bar, last_valid_per_bar, venues_of
from .timeframes import (
    TIMEFRAMES,
    bar_open,
    bar_range,
    check_not_finer,
    lookback_bars,
    infer_resolution,
    normalize_timeframe,
)
from ._quotes import check_frame_args, convert_quotes
from ._validate import (FUNDING_COLUMNS, OI_COLUMNS, SOURCE_COLUMN, SOURCE_PRECEDENCE,
                        source_rank, validate_funding, validate_oi, validate_wide)

#: Where a MarketData came from (``meta["source"]``).
SOURCES = ("demo", "live", "cache", "frames")


@dataclass
class MarketData:
    """Multi-venue market data for the flow indicators. Build it with :meth:`from_frames`,
    :func:`btcflow_nb.load_demo`, :func:`btcflow_nb.fetch` or :func:`btcflow_nb.from_cache`.

    >>> md = MarketData.from_frames(spot=spot_df, perp=perp_df)   # doctest: +SKIP

    Treat an instance as immutable: derived series are memoised on it (``flow_metrics`` reuses
    them when only signal parameters change). To change data, build a new one.
    """

    spot: pd.DataFrame
    perp: pd.DataFrame
    funding: pd.DataFrame
    open_interest: pd.DataFrame
    fx: pd.DataFrame
    meta: dict = field(default_factory=dict)
    futures: pd.DataFrame = field(default_factory=empty_futures)
    #: memo of derived series (see :meth:`memo`); frames are treated as immutable after
    #: construction — build a new MarketData to change data.
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    #: How many derived results :meth:`memo` keeps (oldest dropped first).
    MEMO_SIZE = 32

    def memo(self, key: tuple, compute):
        """``compute()``'s result, remembered under ``key`` for the life of this object.

        Derived series that depend only on the data and a few parameters (``flow_metrics``'
        baskets, OI aggregate and funding TWAP per timeframe and venue selection) are computed
        once: moving a threshold slider then recomputes only z-scores and signals. At most
        :attr:`MEMO_SIZE` results are kept, oldest dropped first.
        """
        hit = self._memo.get(key)
        if hit is None:
            hit = compute()
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.pop(next(iter(self._memo)))
            self._memo[key] = hit
        return hit

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frames(
        cls,
        spot: pd.DataFrame | None = None,
        perp: pd.DataFrame | None = None,
        funding: pd.DataFrame | None = None,
        open_interest: pd.DataFrame | None = None,
        *,
        fx: pd.DataFrame | None = None,
        spot_quotes: dict | None = None,
        perp_quotes: dict | None = None,
        naive_tz: str | None = None,
        meta: dict | None = None,
        futures: pd.DataFrame | None = None,
    ) -> "MarketData":
        """Validate frames and build a ``MarketData``.

        Parameters
        ----------
        spot, perp : DataFrame, optional
            Wide: a DatetimeIndex of bar open times (strictly increasing, no duplicates) and one
            column per venue with the bar close (> 0; NaN for a missing bar). USD unless
            ``*_quotes`` say otherwise.
        funding : DataFrame, optional
            Long: ``venue, time, rate, interval_hours`` and optionally ``source`` (provenance,
            see the module docstring; rows that differ only in ``source`` collapse to the
            higher-precedence one). ``rate`` is a *fraction per interval*
            (0.0001 = 0.01 %); a median |rate| above 0.3 % per interval is refused as probably
            percent.
        open_interest : DataFrame, optional
            Long: ``venue, time, oi_btc, oi_usd`` (>= 0; NaN allowed), optionally ``source``.
        fx : DataFrame, optional
            Wide stablecoin prices in USD, columns ``USDT`` and/or ``USDC``.
        spot_quotes, perp_quotes : dict, optional
            ``{venue: "USD" | "USDT" | "USDC"}``. Closes quoted in a stablecoin are multiplied by
            the last known ``fx`` value at each bar; without an fx column the raw quote is kept
            and ``meta["quote_conversion"]`` says so.
        naive_tz : str, optional
            Time-zone-naive timestamps are rejected unless this names their zone (e.g. ``"UTC"``).
        meta : dict, optional
            Extra metadata; ``source`` defaults to ``"frames"``.
        futures : DataFrame, optional
            Dated futures, long: ``venue, symbol, expiry, time, close`` (USD), optionally
            ``source``; bars opening at or after their expiry are excluded, with a note.

        Rules
        -----
        Wide frames: duplicate or unsorted timestamps raise. Long frames: rows must be in time
        order within each venue (venues may interleave); exact duplicate rows collapse to one;
        duplicates with different values raise. Errors are ``ValueError`` naming the column,
        value and valid choices.
        """
        meta = check_frame_args(naive_tz, meta, spot_quotes, perp_quotes)
        source = meta.get("source", "frames")
        check_choice("meta source", source, SOURCES)
        spot_w = validate_wide(spot, "spot", naive_tz)
        perp_w = validate_wide(perp, "perp", naive_tz)
        fund = validate_funding(funding, naive_tz)
        oi = validate_oi(open_interest, naive_tz)
        fx_w = validate_wide(fx, "fx", naive_tz)
        dated, dated_note = validate_futures(futures, naive_tz)
        conversion = dict(meta.get("quote_conversion", {}))
        spot_w = convert_quotes(spot_w, spot_quotes, fx_w, "spot", conversion)
        perp_w = convert_quotes(perp_w, perp_quotes, fx_w, "perp", conversion)
        price_index = spot_w.index.union(perp_w.index)
        resolution = infer_resolution(price_index)
        if resolution is None and len(oi):
            resolution = infer_resolution(pd.DatetimeIndex(sorted(set(oi["time"]))))
        full_meta = {
            "source": source,
            "synthetic": bool(meta.get("synthetic", False)),
            "fetched_at": meta.get("fetched_at"),
            "notes": list(meta.get("notes", [])),
            "errors": dict(meta.get("errors", {})),
        }
        full_meta.update({k: v for k, v in meta.items() if k not in full_meta})
        full_meta["quote_conversion"] = conversion
        full_meta["resolution"] = resolution
        if dated_note:
            full_meta["notes"].append(dated_note)
        md = cls(spot_w, perp_w, fund, oi, fx_w, full_meta, dated)
        md.meta["venues"] = {f: md.venues(f) for f in _FIELDS}
        return md

    # ------------------------------------------------------------------ queries
    @property
    def resolution(self) -> str | None:
        """Finest timeframe of the price data (``"1D"`` for daily closes), or None if unknown."""
        return self.meta.get("resolution")

    def venues(self, field_name: str) -> list[str]:
        """Venues present in ``field_name`` (spot, perp, funding, open_interest, futures)."""
        check_choice("field", field_name, _FIELDS)
        frame = getattr(self, field_name)
        if field_name in ("spot", "perp"):
            return [c for c in frame.columns if frame[c].notna().any()]
        return venues_of(frame)

    def coverage(self) -> pd.DataFrame:
        """First/last time, row count and gaps per venue and field (``futures``: per contract).

        ``rows`` counts non-missing observations. ``gaps`` counts missing stretches inside the
        covered span: for prices, runs of NaN bars between the first and last close; for
        funding and OI, spacings longer than 1.5 x the venue's median spacing.
        """
        rows = []
        for fname in ("spot", "perp"):
            frame = getattr(self, fname)
            for v in frame.columns:
                s = frame[v]
                valid = s.notna().to_numpy()
                if not valid.any():
                    continue
                first, last = int(np.argmax(valid)), len(valid) - 1 - int(np.argmax(valid[::-1]))
                inner = valid[first:last + 1]
                gaps = int(np.sum(inner[1:] & ~inner[:-1])) if len(inner) > 1 else 0
                rows.append((fname, v, s.index[first], s.index[last], int(valid.sum()), gaps))
        for fname in ("funding", "open_interest"):
            frame = getattr(self, fname)
            for v, g in iter_venues(frame):
                t = pd.DatetimeIndex(g["time"]).as_unit("ns").asi8
                d = np.diff(t)
                gaps = int(np.sum(d > 1.5 * np.median(d))) if len(d) else 0
                rows.append((fname, v, g["time"].iloc[0], g["time"].iloc[-1], len(g), gaps))
        rows += futures_coverage(self.futures)   # venue "deribit BTC/USD:BTC-260327"
        return pd.DataFrame(rows, columns=["field", "venue", "first", "last", "rows", "gaps"])

    def depth(self, timeframe: str = "1D", lookback="365D") -> pd.DataFrame:
        """For each z-scored metric, from which bar on its z-score can exist, and why not earlier.

        A z-score over ``w`` bars needs ``w`` values (:func:`~btcflow_nb.indicators.zscore`), so
        it exists from the ``w``-th bar with data: ``z_from = first_data + (w - 1)`` bars, NaT
        when the data holds fewer than ``w`` bars. ``lookback`` is bars or a duration
        (``"365D"``, ``"52W"``, ``"12M"``: :func:`~btcflow_nb.timeframes.lookback_bars`).

        Returns a DataFrame indexed by metric (``premium``: the first bar with both a spot and
        a perp close; ``oi``: the first OI sample; ``funding``: the first bar a settled funding
        event covers) with ``first_data`` (bar open, UTC), ``first_venue``, ``lookback_bars``,
        ``bars_of_data`` (bars from ``first_data`` to the last price bar), ``z_from`` and
        ``reason`` -- e.g. ``"no open interest before 2026-10-31 (first: binance); the lookback
        needs 52 bars"``, with the fetch's note when a venue served less than asked
        (``meta["depth"]``). Bars of missing data inside the span are counted as bars (as
        :func:`~btcflow_nb.flow_metrics` does on a gapless bar grid).

        >>> md.depth("1W", "52W")                                     # doctest: +SKIP
        """
        tf = check_not_finer(timeframe, self.resolution)
        w = lookback_bars(lookback, tf, "lookback", minimum=2)
        return _depth_table(self, tf, w)

    def __repr__(self) -> str:
        span = ""
        idx = self.spot.index.union(self.perp.index)
        if len(idx):
            span = f" {idx[0]:%Y-%m-%d}..{idx[-1]:%Y-%m-%d}"
        badge = " SYNTHETIC" if self.meta.get("synthetic") else ""
        return (
            f"<MarketData source={self.meta.get('source')!r}{badge}{span} "
            f"resolution={self.resolution} spot={self.venues('spot')} perp={self.venues('perp')} "
            f"funding={len(self.funding)} events oi={len(self.open_interest)} samples>"
        )

    # ------------------------------------------------------------------ transforms
    def resample(self, timeframe: str) -> "MarketData":
        """Re-bar the data to ``timeframe`` (one of ``1h, 4h, 1D, 3D, 1W, 1M``).

        Prices take each venue's last close in each bar, even a stale one (a venue whose last
        close in the week was on Thursday keeps it); :func:`~btcflow_nb.flow_metrics` does not
        re-bar venues but baskets built at the data's own resolution, so pass it the
        un-resampled data. OI the last sample per venue in each bar
        (labelled with the bar's open time); funding events stay events — bar TWAPs are always
        computed from events, never averaged from averages. A timeframe finer than the data's own
        resolution is a ``ValueError``.
        """
        tf = check_not_finer(timeframe, self.resolution)
        spot = last_per_bar(self.spot, tf)
        perp = last_per_bar(self.perp, tf)
        fx = last_per_bar(self.fx, tf)
        oi = _last_sample_per_bar(self.open_interest, tf)
        meta = copy.deepcopy(self.meta)
        meta["resolution"] = tf
        meta["timeframe"] = tf
        return MarketData(spot, perp, self.funding, oi, fx, meta, self.futures)

    def select(self, spot_venues=None, perp_venues=None) -> "MarketData":
        """A copy restricted to the given venues (``None`` keeps all). Funding and OI follow
        the perp selection."""
        from ._checks import check_venues

        sv = check_venues("spot", spot_venues, list(self.spot.columns))
        pv = check_venues("perp", perp_venues, sorted(set(self.perp.columns)
                                                      | set(self.venues("funding"))
                                                      | set(self.venues("open_interest"))))
        fund = _rows_of(self.funding, pv)
        oi = _rows_of(self.open_interest, pv)
        perp = self.perp[[c for c in self.perp.columns if c in pv]]
        return MarketData(self.spot[sv], perp, fund, oi, self.fx, copy.deepcopy(self.meta),
                          self.futures)


_FIELDS = ("spot", "perp", "funding", "open_interest", "futures")


def _rows_of(frame: pd.DataFrame, venues: list[str]) -> pd.DataFrame:
    """Rows of a long frame whose venue is in ``venues`` (all rows: no copy)."""
    present = venues_of(frame)
    if set(present) <= set(venues):
        return frame
    return frame[frame["venue"].isin(venues)].reset_index(drop=True)


def _last_sample_per_bar(oi: pd.DataFrame, tf: str) -> pd.DataFrame:
    """Per venue, the last OI sample in each bar, labelled with the bar's open time.

    Each of ``oi_btc`` and ``oi_usd`` takes its last *non-missing* value in the bar, as
    :func:`~btcflow_nb.indicators.oi_at_bar_close` does, so ``flow_metrics(md.resample(tf), tf)``
    equals ``flow_metrics(md, tf)``. Rows are sorted by venue then time (``from_frames``
    guarantees it), so the last row of each run of equal (venue, bar) labels is the bar's last
    sample; a column whose last sample is missing falls back to the last value it has.
    """
    if len(oi) == 0:
        return oi
    labels = bar_open(pd.DatetimeIndex(oi["time"]), tf)
    codes = (oi["venue"].cat.codes.to_numpy() if isinstance(oi["venue"].dtype, pd.CategoricalDtype)
             else pd.factorize(oi["venue"])[0])
    cols = ["oi_btc", "oi_usd"]
    last, close = last_valid_per_bar(oi[cols].to_numpy(), labels.as_unit("ns").asi8, codes)
    out = oi.iloc[last].copy()
    out["time"] = labels[last]
    out[cols] = close
    return out.reset_index(drop=True)


__all__ = ["MarketData", "FUNDING_COLUMNS", "OI_COLUMNS", "SOURCE_COLUMN", "SOURCE_PRECEDENCE",
           "SOURCES", "TIMEFRAMES", "normalize_timeframe", "source_rank"]


_DEPTH_WORDS = {"premium": ("spot and perp prices", "ohlcv"),
                "oi": ("open interest", "open interest"), "funding": ("funding", "funding")}


def _first_price_bar(md: MarketData, tf: str):
    """(first bar with a spot and a perp close, the venue that starts last) or (None, None)."""
    has = {name: f.notna().any(axis=1) for name, f in (("spot", md.spot), ("perp", md.perp))}
    starts = {k: (v.index[v.to_numpy()][0] if v.any() else None) for k, v in has.items()}
    if None in starts.values():
        return None, None
    later = max(starts, key=lambda k: starts[k])
    both = has["spot"].index.intersection(has["perp"].index)
    both = both[has["spot"].reindex(both).to_numpy() & has["perp"].reindex(both).to_numpy()]
    if not len(both):
        return None, None
    frame = getattr(md, later)
    venue = next(str(c) for c in frame.columns if pd.notna(frame.at[starts[later], c]))
    return bar_open(both[:1], tf)[0], venue


def _first_long_bar(frame: pd.DataFrame, tf: str, value: str, funding: bool):
    rows = frame[frame[value].notna()] if len(frame) else frame
    if not len(rows):
        return None, None
    times = pd.DatetimeIndex(rows["time"])
    if funding:   # an event settled at t covers (t - interval, t]
        times = times - pd.to_timedelta(rows["interval_hours"].to_numpy(), unit="h") \
            + pd.Timedelta(1, "ns")
    i = int(np.argmin(times.asi8))
    return bar_open(times[i:i + 1], tf)[0], str(rows["venue"].iloc[i])


def _depth_table(md: MarketData, tf: str, w: int) -> pd.DataFrame:
    prices = md.spot.index.union(md.perp.index)
    ends = [prices.max()] if len(prices) else [pd.DatetimeIndex(f["time"]).max()
                                               for f in (md.open_interest, md.funding) if len(f)]
    last = bar_open(pd.DatetimeIndex(ends), tf).max() if ends else None
    firsts = {"premium": _first_price_bar(md, tf),
              "oi": _first_long_bar(md.open_interest, tf, "oi_btc", False),
              "funding": _first_long_bar(md.funding, tf, "rate", True)}
    notes = list(md.meta.get("notes", []))
    rows = []
    for metric, (first, venue) in firsts.items():
        words, note_words = _DEPTH_WORDS[metric]
        if first is None or last is None:
            rows.append((metric, pd.NaT, None, w, 0, pd.NaT, f"no {words} data"))
            continue
        grid = bar_range(first, max(first, last), tf)
        n = len(grid)
        z_from = grid[w - 1] if n >= w else pd.NaT
        reason = f"no {words} before {first:%Y-%m-%d} (first: {venue}); the lookback needs {w} bars"
        if n < w:
            reason += f", only {n} bars of data: no z-score yet"
        served_less = [x for x in notes if f" {note_words}: asked from " in x]
        if served_less:
            reason += f" [{served_less[0]}]"
        rows.append((metric, first, venue, w, n, z_from, reason))
    out = pd.DataFrame(rows, columns=["metric", "first_data", "first_venue", "lookback_bars",
                                      "bars_of_data", "z_from", "reason"]).set_index("metric")
    for col in ("first_data", "z_from"):
        out[col] = pd.to_datetime(out[col], utc=True)
    return out
