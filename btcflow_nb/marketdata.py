"""``MarketData``: the one object that flows from a data source into the indicators.

Times are UTC; bars are labelled by their open time. Four fields:

========================  =====================================================================
``spot``, ``perp``        wide frames, one column per venue: bar close in USD
``funding``               long frame ``venue, time, rate, interval_hours``: each settled funding
                          event; ``rate`` is the fraction paid for that interval (0.0001 = 0.01 %)
                          and ``time`` its settlement
``open_interest``         long frame ``venue, time, oi_btc, oi_usd``: OI sampled at ``time``
``fx``                    wide frame of stablecoin prices in USD (``USDT``, ``USDC`` columns)
========================  =====================================================================

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
from ._frames import iter_venues, last_valid_per_bar, venues_of
from .timeframes import (
    TIMEFRAMES,
    bar_open,
    bar_open_ns,
    check_not_finer,
    infer_resolution,
    normalize_timeframe,
)

FUNDING_COLUMNS = ("venue", "time", "rate", "interval_hours")
OI_COLUMNS = ("venue", "time", "oi_btc", "oi_usd")
SOURCES = ("demo", "live", "cache", "frames")
QUOTES = ("USD", "USDT", "USDC")

#: Above this median |rate| per interval the funding column is almost surely in percent.
_FUNDING_PERCENT_SUSPICION = 0.003
#: Hard bound on the size of one funding payment (fraction per interval).
_FUNDING_MAX_ABS = 0.05


def _empty_wide() -> pd.DataFrame:
    return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="time"), dtype="float64")


def _empty_long(columns) -> pd.DataFrame:
    data = {c: pd.Series(dtype="float64") for c in columns}
    data["venue"] = pd.Series(dtype="object")
    data["time"] = pd.Series(pd.DatetimeIndex([], tz="UTC"))
    return pd.DataFrame(data)[list(columns)]


def _to_utc(idx: pd.DatetimeIndex, what: str, naive_tz) -> pd.DatetimeIndex:
    if idx.tz is None:
        if naive_tz is None:
            raise ValueError(
                f"{what} has time-zone-naive timestamps; pass naive_tz='UTC' (or the zone they "
                f"are in) to from_frames, or localise them with .tz_localize('UTC')"
            )
        try:
            idx = idx.tz_localize(naive_tz)
        except (KeyError, TypeError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"naive_tz={naive_tz!r} is not a time zone ({type(exc).__name__}); "
                             f"valid: an IANA name such as 'UTC' or 'Europe/Berlin'") from None
    return idx.tz_convert("UTC")


def _validate_wide(frame, what: str, naive_tz) -> pd.DataFrame:
    """Check a wide price frame and return a clean float64 copy with a UTC index."""
    if frame is None:
        return _empty_wide()
    if isinstance(frame, pd.Series):
        frame = frame.to_frame(frame.name or "venue")
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame; got {type(frame).__name__}")
    if not isinstance(frame.index, pd.DatetimeIndex):
        if "time" in frame.columns:
            frame = frame.set_index("time")
            frame.index = pd.DatetimeIndex(frame.index)
        else:
            raise ValueError(
                f"{what} needs a DatetimeIndex (bar open times) or a 'time' column; "
                f"got index of type {type(frame.index).__name__}"
            )
    idx = _to_utc(frame.index, what, naive_tz)
    if idx.hasnans:
        raise ValueError(f"{what} index contains NaT")
    dup = idx[idx.duplicated()]
    if len(dup):
        raise ValueError(
            f"{what} has duplicate timestamp {dup[0]} ({len(dup)} duplicates); wide frames need "
            f"one row per bar: de-duplicate first, e.g. frame[~frame.index.duplicated(keep='last')]"
        )
    if not idx.is_monotonic_increasing:
        pos = int(np.argmax(np.diff(idx.asi8) < 0)) + 1
        raise ValueError(
            f"{what} index is not sorted (timestamp {idx[pos]} comes after {idx[pos - 1]}); "
            f"call .sort_index() first"
        )
    dup_cols = frame.columns[frame.columns.duplicated()]
    if len(dup_cols):
        raise ValueError(f"{what} has duplicate column {dup_cols[0]!r}; one column per venue: "
                         f"merge or rename them")
    cols = []
    for col in frame.columns:
        if not isinstance(col, str) or not col:
            raise ValueError(f"{what} column {col!r}: venue names must be non-empty strings")
        cols.append(col)
    out = pd.DataFrame(index=pd.DatetimeIndex(idx, name="time"))
    for col in cols:
        try:
            values = pd.to_numeric(frame[col], errors="raise").astype("float64").to_numpy()
        except (TypeError, ValueError):
            raise ValueError(f"{what} column {col!r} is not numeric (dtype {frame[col].dtype})") from None
        bad = ~np.isnan(values) & ~(values > 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"{what} column {col!r} has a non-positive or infinite price {float(values[i])!r} at "
                f"{idx[i]}; closes must be > 0 USD (use NaN for a missing bar)"
            )
        if np.isinf(values).any():
            i = int(np.argmax(np.isinf(values)))
            raise ValueError(f"{what} column {col!r} has an infinite price at {idx[i]}")
        out[col] = values
    return out


def _validate_long(frame, what: str, columns: tuple[str, ...], naive_tz) -> pd.DataFrame:
    if frame is None:
        return _empty_long(columns)
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame; got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} is missing column(s) {', '.join(repr(m) for m in missing)}; "
            f"required columns: {', '.join(columns)}"
        )
    extra = [c for c in frame.columns if c not in columns]
    if extra:
        raise ValueError(
            f"{what} has unexpected column(s) {', '.join(repr(e) for e in extra)}; "
            f"valid columns: {', '.join(columns)}"
        )
    if len(frame) == 0:
        return _empty_long(columns)
    venue = frame["venue"]
    if isinstance(venue.dtype, pd.CategoricalDtype):
        good_cat = np.array([isinstance(c, str) and c != "" for c in venue.cat.categories])
        codes = venue.cat.codes.to_numpy()
        is_name = pd.Series((codes >= 0) & good_cat[np.maximum(codes, 0)] if len(good_cat)
                            else np.zeros(len(codes), dtype=bool), index=venue.index)
    elif pd.api.types.is_string_dtype(venue.dtype) and venue.dtype != object:
        is_name = venue.notna() & (venue.str.len() > 0)
    else:
        is_name = venue.map(lambda v: isinstance(v, str) and v != "").astype(bool)
    if not is_name.all():
        bad = venue[~is_name.to_numpy()].iloc[0]
        raise ValueError(f"{what} column 'venue' has an invalid venue name {bad!r}; "
                         f"venue names are non-empty strings")
    times = _to_utc(pd.DatetimeIndex(frame["time"]), f"{what} column 'time'", naive_tz)
    if times.hasnans:
        raise ValueError(f"{what} column 'time' contains NaT")
    names = venue if isinstance(venue.dtype, pd.CategoricalDtype) else venue.astype(str)
    out = pd.DataFrame({"venue": pd.Categorical(names.to_numpy() if not isinstance(
        names.dtype, pd.CategoricalDtype) else names.astype(str).to_numpy()), "time": times})
    for col in columns[2:]:
        try:
            out[col] = pd.to_numeric(frame[col], errors="raise").astype("float64").to_numpy()
        except (TypeError, ValueError):
            raise ValueError(f"{what} column {col!r} is not numeric (dtype {frame[col].dtype})") from None
        if np.isinf(out[col]).any():
            i = int(np.argmax(np.isinf(out[col].to_numpy())))
            raise ValueError(f"{what} column {col!r} is infinite at {out['time'].iloc[i]} "
                             f"({out['venue'].iloc[i]})")
    # order within each venue must be chronological (venues may interleave)
    for v, rows in iter_venues(out):
        t = rows["time"]
        if not t.is_monotonic_increasing:
            pos = int(np.argmax(np.diff(pd.DatetimeIndex(t).asi8) < 0)) + 1
            raise ValueError(
                f"{what} for venue {v!r} is not in time order ({t.iloc[pos]} comes after "
                f"{t.iloc[pos - 1]}); sort by ['venue', 'time'] first"
            )
    # duplicates: identical rows collapse to one (documented rule); conflicting ones raise
    key_dup = out.duplicated(subset=["venue", "time"], keep=False)
    if key_dup.any():
        full_dup = out.duplicated(keep=False)
        conflict = key_dup & ~full_dup
        if conflict.any():
            i = int(np.argmax(conflict.to_numpy()))
            raise ValueError(
                f"{what} has conflicting duplicate rows for venue {out['venue'].iloc[i]!r} at "
                f"{out['time'].iloc[i]}: same venue and time, different values; keep one"
            )
        out = out.drop_duplicates(keep="first")
    # stored sorted by venue then time, venue as a categorical: per-venue slices are contiguous
    return out.sort_values(["venue", "time"], kind="stable").reset_index(drop=True)


def _validate_funding(frame, naive_tz) -> pd.DataFrame:
    out = _validate_long(frame, "funding", FUNDING_COLUMNS, naive_tz)
    if len(out) == 0:
        return out
    if out["rate"].isna().any():
        i = int(np.argmax(out["rate"].isna().to_numpy()))
        raise ValueError(f"funding column 'rate' is NaN at {out['time'].iloc[i]} "
                         f"({out['venue'].iloc[i]}); drop events that did not settle")
    ih = out["interval_hours"].to_numpy()
    if not (ih > 0).all() or (ih > 24 * 7).any():
        i = int(np.argmax(~((ih > 0) & (ih <= 168))))
        raise ValueError(
            f"funding column 'interval_hours' has {float(ih[i])!r} at {out['time'].iloc[i]} "
            f"({out['venue'].iloc[i]}); valid range: (0, 168] hours (typically 1, 4 or 8)"
        )
    rate = out["rate"].to_numpy()
    if (np.abs(rate) > _FUNDING_MAX_ABS).any():
        i = int(np.argmax(np.abs(rate) > _FUNDING_MAX_ABS))
        raise ValueError(
            f"funding column 'rate' has {float(rate[i])!r} at {out['time'].iloc[i]} "
            f"({out['venue'].iloc[i]}): larger than {_FUNDING_MAX_ABS} per interval; rates are "
            f"fractions per interval (0.0001 = 0.01 %), not percent"
        )
    for v, rows in iter_venues(out):
        r = rows["rate"]
        med = float(np.median(np.abs(r)))
        if len(r) >= 10 and med > _FUNDING_PERCENT_SUSPICION:
            raise ValueError(
                f"funding for venue {v!r} has median |rate| {med:.4g} per interval, which looks "
                f"like percent; pass fractions (0.0001 = 0.01 %)"
            )
    return out


def _validate_oi(frame, naive_tz) -> pd.DataFrame:
    out = _validate_long(frame, "open_interest", OI_COLUMNS, naive_tz)
    for col in ("oi_btc", "oi_usd"):
        vals = out[col].to_numpy()
        neg = vals < 0
        if neg.any():
            i = int(np.argmax(neg))
            raise ValueError(f"open_interest column {col!r} is negative ({float(vals[i])!r}) at "
                             f"{out['time'].iloc[i]} ({out['venue'].iloc[i]}); OI is >= 0")
    return out


def _convert_quotes(prices: pd.DataFrame, quotes, fx: pd.DataFrame, kind: str, record: dict):
    """Turn USDT/USDC closes into USD closes with the fx series (as of each bar, last known)."""
    if not quotes:
        for v in prices.columns:
            record[f"{kind}:{v}"] = "USD (as given)"
        return prices
    unknown = [v for v in quotes if v not in prices.columns]
    if unknown:
        raise ValueError(f"{kind}_quotes names venue(s) {unknown} not in {kind}; "
                         f"valid choices: {list(prices.columns)}")
    out = prices.copy()
    for v in prices.columns:
        q = quotes.get(v, "USD")
        check_choice(f"quote currency for {kind} venue {v!r}", q, QUOTES)
        if q == "USD":
            record[f"{kind}:{v}"] = "USD (as given)"
        elif q in fx.columns and fx[q].notna().any():
            rate = fx[q].dropna()
            aligned = rate.reindex(rate.index.union(prices.index)).ffill().reindex(prices.index)
            factor = aligned.to_numpy()
            note = f"{q} converted to USD with the {q}/USD series"
            # closes before the first fx value are kept in their raw quote, not dropped
            early = np.isnan(factor) & prices[v].notna().to_numpy()
            if early.any():
                note += (f"; raw {q} quote kept for {int(early.sum())} bar(s) before the series "
                         f"starts ({rate.index[0]})")
            out[v] = prices[v] * np.where(np.isnan(factor), 1.0, factor)
            record[f"{kind}:{v}"] = note
        else:
            record[f"{kind}:{v}"] = f"raw {q} quote used as USD (no {q}/USD series available)"
    return out


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
    #: memo of derived series (per timeframe and venue selection); frames are treated as
    #: immutable after construction — build a new MarketData to change data.
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

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
    ) -> "MarketData":
        """Validate frames and build a ``MarketData``.

        Parameters
        ----------
        spot, perp : DataFrame, optional
            Wide: a DatetimeIndex of bar open times (strictly increasing, no duplicates) and one
            column per venue with the bar close (> 0; NaN for a missing bar). USD unless
            ``*_quotes`` say otherwise.
        funding : DataFrame, optional
            Long: ``venue, time, rate, interval_hours``. ``rate`` is a *fraction per interval*
            (0.0001 = 0.01 %); a median |rate| above 0.3 % per interval is refused as probably
            percent.
        open_interest : DataFrame, optional
            Long: ``venue, time, oi_btc, oi_usd`` (>= 0; NaN allowed).
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

        Rules
        -----
        Wide frames: duplicate or unsorted timestamps raise. Long frames: rows must be in time
        order within each venue (venues may interleave); exact duplicate rows collapse to one;
        duplicates with different values raise. Errors are ``ValueError`` naming the column,
        value and valid choices.
        """
        meta = dict(meta or {})
        source = meta.get("source", "frames")
        check_choice("meta source", source, SOURCES)
        spot_w = _validate_wide(spot, "spot", naive_tz)
        perp_w = _validate_wide(perp, "perp", naive_tz)
        fund = _validate_funding(funding, naive_tz)
        oi = _validate_oi(open_interest, naive_tz)
        fx_w = _validate_wide(fx, "fx", naive_tz)
        conversion = dict(meta.get("quote_conversion", {}))
        spot_w = _convert_quotes(spot_w, spot_quotes, fx_w, "spot", conversion)
        perp_w = _convert_quotes(perp_w, perp_quotes, fx_w, "perp", conversion)
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
        md = cls(spot_w, perp_w, fund, oi, fx_w, full_meta)
        md.meta["venues"] = {f: md.venues(f) for f in ("spot", "perp", "funding", "open_interest")}
        return md

    # ------------------------------------------------------------------ queries
    @property
    def resolution(self) -> str | None:
        """Finest timeframe of the price data (``"1D"`` for daily closes), or None if unknown."""
        return self.meta.get("resolution")

    def venues(self, field_name: str) -> list[str]:
        """Venues present in ``field_name`` (one of spot, perp, funding, open_interest)."""
        check_choice("field", field_name, ("spot", "perp", "funding", "open_interest"))
        frame = getattr(self, field_name)
        if field_name in ("spot", "perp"):
            return [c for c in frame.columns if frame[c].notna().any()]
        return venues_of(frame)

    def coverage(self) -> pd.DataFrame:
        """First/last time, row count and gaps per venue and field.

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
        return pd.DataFrame(rows, columns=["field", "venue", "first", "last", "rows", "gaps"])

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

        Prices take the last close in each bar; OI the last sample per venue in each bar
        (labelled with the bar's open time); funding events stay events — bar TWAPs are always
        computed from events, never averaged from averages. A timeframe finer than the data's own
        resolution is a ``ValueError``.
        """
        tf = check_not_finer(timeframe, self.resolution)
        spot = _last_per_bar(self.spot, tf)
        perp = _last_per_bar(self.perp, tf)
        fx = _last_per_bar(self.fx, tf)
        oi = _last_sample_per_bar(self.open_interest, tf)
        meta = copy.deepcopy(self.meta)
        meta["resolution"] = tf
        meta["timeframe"] = tf
        return MarketData(spot, perp, self.funding, oi, fx, meta)

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
        return MarketData(self.spot[sv], perp, fund, oi, self.fx, copy.deepcopy(self.meta))


def _rows_of(frame: pd.DataFrame, venues: list[str]) -> pd.DataFrame:
    """Rows of a long frame whose venue is in ``venues`` (all rows: no copy)."""
    present = venues_of(frame)
    if set(present) <= set(venues):
        return frame
    return frame[frame["venue"].isin(venues)].reset_index(drop=True)


def _last_per_bar(frame: pd.DataFrame, tf: str) -> pd.DataFrame:
    """Last non-missing value per column in each bar (the bar's close)."""
    if len(frame) == 0:
        return frame
    ns = frame.index.as_unit("ns").asi8
    labels_ns = bar_open_ns(ns, tf)
    if np.array_equal(labels_ns, ns):  # already one row per bar of this timeframe
        return frame
    last, close = last_valid_per_bar(frame.to_numpy(), labels_ns)  # the index is sorted
    bars = pd.DatetimeIndex(bar_open(frame.index[last], tf), name="time")
    return pd.DataFrame(close, index=bars, columns=frame.columns)


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


__all__ = ["MarketData", "FUNDING_COLUMNS", "OI_COLUMNS", "SOURCES", "TIMEFRAMES",
           "normalize_timeframe"]
