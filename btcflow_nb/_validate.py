"""Validation of what goes into a :class:`~btcflow_nb.marketdata.MarketData` (internal).

Each ``_validate_*`` takes what a user or a source hands to ``MarketData.from_frames`` and returns
a clean frame (float64 values, UTC times, venues as categoricals, long frames sorted by venue then
time) or raises a ``ValueError`` naming the field, the column, the bad value and what is valid.
Times go through :func:`btcflow_nb.timeframes.to_timestamp`'s rule: an integer time is epoch
milliseconds, naive times need ``naive_tz``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._frames import distinct, iter_venues

#: Required columns of the long frames.  Both may also carry the optional `SOURCE_COLUMN`.
FUNDING_COLUMNS = ("venue", "time", "rate", "interval_hours")
OI_COLUMNS = ("venue", "time", "oi_btc", "oi_usd")
#: Optional provenance column of the long frames: where each row came from.
SOURCE_COLUMN = "source"
#: Provenance kinds, highest precedence first (see `source_rank`).
SOURCE_PRECEDENCE = ("ccxt", "archive:<name>", "file:<name>", "snapshot")
_RANKS = {"ccxt": 3, "archive": 2, "file": 1, "snapshot": 0}
QUOTES = ("USD", "USDT", "USDC")

#: Above this median |rate| per interval the funding column is almost surely in percent.
_FUNDING_PERCENT_SUSPICION = 0.003
#: Hard bound on the size of one funding payment (fraction per interval).
_FUNDING_MAX_ABS = 0.05
#: Prices a close may have [USD]: a denormal or near-zero price divides into inf downstream
#: (a premium over a 1e-300 close overflows), an astronomical one overflows squared sums.
PRICE_RANGE = (1e-6, 1e9)
#: Largest open interest an ``oi_btc`` / ``oi_usd`` value may have (BTC or USD).
OI_MAX = 1e15



def _numeric(values: pd.Series, what: str, col) -> np.ndarray:
    """A column as float64, refusing what is no number though pandas would cast it: booleans
    (True -> 1.0), datetimes and durations (-> nanoseconds), complex numbers, and object
    columns holding any of these."""
    dtype = values.dtype
    kinds = set()
    if dtype == object:
        kinds = {type(v) for v in values.to_numpy() if v is not None and v is not pd.NaT
                 and not isinstance(v, (float, int, np.floating, np.integer, str))
                 or isinstance(v, (bool, np.bool_))}
    if (pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)
            or pd.api.types.is_timedelta64_dtype(dtype) or pd.api.types.is_complex_dtype(dtype)
            or kinds):
        held = dtype if not kinds else sorted(k.__name__ for k in kinds)
        raise ValueError(f"{what} column {col!r} holds {held} values, not numbers; valid: "
                         f"floats or ints (NaN for a missing value)")
    try:
        return pd.to_numeric(values, errors="raise").astype("float64").to_numpy()
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what} column {col!r} is not numeric (dtype {dtype})") from None


def source_rank(source: str) -> int:
    """Precedence of a provenance label: the row with the higher rank wins for one (venue, time).

    ========================  ====  ==========================================================
    ``ccxt``                  3     the venue's own API, fetched now and re-fetchable: a
                                    re-fetched bar (the one still open at the last fetch) must
                                    always replace what was stored
    ``archive:<name>``        2     the same venue's bulk files (``archive:binance``): the same
                                    numbers for completed periods, but published once a day
    ``file:<name>``           1     a third party's export (TradingView, vendors): resampled,
                                    rounded or converted by someone else -- deeper history,
                                    lower authority
    ``snapshot``              0     the current OI recorded at a fetch: a point sample, never
                                    allowed to override history
    ========================  ====  ==========================================================

    Within one rank the newer row wins (a later import or fetch replaces an earlier one).
    Raises ValueError for any other label.
    """
    if isinstance(source, str):
        kind, sep, name = source.partition(":")
        if kind in ("ccxt", "snapshot") and not sep:
            return _RANKS[kind]
        if kind in ("archive", "file") and sep and name.strip():
            return _RANKS[kind]
    raise ValueError(f"provenance {source!r} is not valid; valid: 'ccxt', 'snapshot', "
                     f"'archive:<name>' or 'file:<name>'")


def empty_wide() -> pd.DataFrame:
    return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="time"), dtype="float64")


def empty_long(columns) -> pd.DataFrame:
    data = {c: pd.Series(dtype="float64") for c in columns}
    data["venue"] = pd.Series(dtype="object")
    data["time"] = pd.Series(pd.DatetimeIndex([], tz="UTC"))
    return pd.DataFrame(data)[list(columns)]


def _as_times(values, what: str) -> pd.DatetimeIndex:
    """Times as a DatetimeIndex; integers are epoch **milliseconds** (the package's one rule,
    :func:`btcflow_nb.timeframes.to_timestamp`), floats and booleans are refused."""
    kind = getattr(getattr(values, "dtype", None), "kind", None)
    if kind in ("i", "u"):
        return pd.DatetimeIndex(pd.to_datetime(np.asarray(values, dtype="int64"), unit="ms",
                                               utc=True))
    if kind in ("f", "b", "c", "m"):
        raise ValueError(f"{what} holds {values.dtype} values, not times; valid: datetimes, "
                         f"date strings, or epoch milliseconds as integers")
    return pd.DatetimeIndex(values)


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


def validate_wide(frame, what: str, naive_tz) -> pd.DataFrame:
    """Check a wide price frame and return a clean float64 copy with a UTC index."""
    if frame is None:
        return empty_wide()
    if isinstance(frame, pd.Series):
        frame = frame.to_frame(frame.name or "venue")
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame; got {type(frame).__name__}")
    if not isinstance(frame.index, pd.DatetimeIndex):
        if "time" in frame.columns:
            frame = frame.set_index("time")
            frame.index = _as_times(frame.index, f"{what} column 'time'")
        elif pd.api.types.is_integer_dtype(frame.index.dtype) and not isinstance(
                frame.index, pd.RangeIndex):
            frame = frame.set_axis(_as_times(frame.index, f"{what} index"), axis=0)
        else:
            raise ValueError(
                f"{what} needs a DatetimeIndex (bar open times), an integer index of epoch "
                f"milliseconds, or a 'time' column; "
                f"got index of type {type(frame.index).__name__}"
            )
    idx = _to_utc(frame.index, what, naive_tz)
    if idx.hasnans:
        raise ValueError(f"{what} index contains NaT")
    strictly_increasing = len(idx) < 2 or bool((np.diff(idx.asi8) > 0).all())
    dup = idx[:0] if strictly_increasing else idx[idx.duplicated()]
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
    data = {}
    low, high = PRICE_RANGE
    for col in cols:
        values = _numeric(frame[col], what, col)
        odd = ~np.isnan(values) & np.isfinite(values) & ((values < low) | (values > high)) \
            & (values > 0)
        if odd.any():
            i = int(np.argmax(odd))
            raise ValueError(f"{what} column {col!r} has an implausible price "
                             f"{float(values[i])!r} at {idx[i]}; valid range: {low:g} to "
                             f"{high:g} USD (use NaN for a missing bar)")
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
        data[col] = values
    return pd.DataFrame(data, index=pd.DatetimeIndex(idx, name="time"))


def validate_long(frame, what: str, columns: tuple[str, ...], naive_tz) -> pd.DataFrame:
    if frame is None:
        return empty_long(columns)
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame; got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} is missing column(s) {', '.join(repr(m) for m in missing)}; "
            f"required columns: {', '.join(columns)}"
        )
    extra = [c for c in frame.columns if c not in columns and c != SOURCE_COLUMN]
    if extra:
        raise ValueError(
            f"{what} has unexpected column(s) {', '.join(repr(e) for e in extra)}; "
            f"valid columns: {', '.join(columns)} (and optionally {SOURCE_COLUMN!r})"
        )
    has_source = SOURCE_COLUMN in frame.columns
    if len(frame) == 0:
        out = empty_long(columns)
        if has_source:
            out[SOURCE_COLUMN] = pd.Series(dtype="object")
        return out
    venue = frame["venue"]
    if isinstance(venue.dtype, pd.CategoricalDtype):
        good_cat = np.array([isinstance(c, str) and c != "" for c in venue.cat.categories])
        codes = venue.cat.codes.to_numpy()
        if len(good_cat) and good_cat.all() and codes.min() >= 0:
            is_name = np.ones(1, dtype=bool)    # every row names a good category
        else:
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
    times = _to_utc(_as_times(frame["time"], f"{what} column 'time'"), f"{what} column 'time'",
                    naive_tz)
    if times.hasnans:
        raise ValueError(f"{what} column 'time' contains NaT")
    data = {"venue": _venue_categories(venue), "time": times}
    for col in columns[2:]:
        data[col] = values = _numeric(frame[col], what, col)
        inf = np.isinf(values)
        if inf.any():
            i = int(np.argmax(inf))
            raise ValueError(f"{what} column {col!r} is infinite at {times[i]} "
                             f"({data['venue'][i]})")
    out = pd.DataFrame(data)
    if has_source:
        labels = frame[SOURCE_COLUMN]
        if not isinstance(labels.dtype, pd.CategoricalDtype):   # (a categorical: its codes)
            labels = labels.astype(object).to_numpy()
        ranks = {}
        unique_labels = distinct(labels)
        for label in unique_labels:
            try:
                ranks[label] = source_rank(label)
            except ValueError as exc:
                raise ValueError(f"{what} column {SOURCE_COLUMN!r}: {exc}") from None
        if len(unique_labels) == 1:   # one source: its label repeated, in the inferred dtype
            one = pd.array(np.asarray(unique_labels, dtype=object))
            out[SOURCE_COLUMN] = one.take(np.zeros(len(labels), dtype=np.intp))
        else:
            out[SOURCE_COLUMN] = np.asarray(labels, dtype=object)
    # order within each venue must be chronological (venues may interleave); checked on the
    # integer codes and times in one pass: rows stably sorted by venue code keep each venue's
    # own order, so a step back in time between neighbours of one venue is the violation
    codes = out["venue"].cat.codes.to_numpy()
    t_ns = times.asi8
    order = None if (codes[1:] >= codes[:-1]).all() else np.argsort(codes, kind="stable")
    c = codes if order is None else codes[order]
    t = t_ns if order is None else t_ns[order]
    same_venue = c[1:] == c[:-1]
    back = same_venue & (t[1:] < t[:-1])
    if back.any():
        _raise_out_of_order(what, out, codes, c, back, order)
    # duplicates: identical rows collapse to one (documented rule); conflicting ones raise
    if not (same_venue & (t[1:] == t[:-1])).any():   # no (venue, time) key twice
        # each venue's times already increase: sorting by venue then time is a stable sort
        # by the venue's code (categories sorted), nothing to do when the codes already are
        return out if order is None else out.take(order).reset_index(drop=True)
    key_dup = out.duplicated(subset=["venue", "time"], keep=False)
    full_dup = out.duplicated(subset=list(columns), keep=False)
    conflict = key_dup & ~full_dup
    if conflict.any():
        i = int(np.argmax(conflict.to_numpy()))
        raise ValueError(
            f"{what} has conflicting duplicate rows for venue {out['venue'].iloc[i]!r} at "
            f"{out['time'].iloc[i]}: same venue and time, different values; keep one"
        )
    if has_source:  # equal values from two sources: keep the higher-precedence label
        rank = out[SOURCE_COLUMN].map(ranks).to_numpy()
        out = (out.assign(_rank=-rank).sort_values(["venue", "time", "_rank"], kind="stable")
               .drop_duplicates(subset=["venue", "time"], keep="first")
               .drop(columns="_rank"))
    else:
        out = out.drop_duplicates(subset=list(columns), keep="first")
    # stored sorted by venue then time, venue as a categorical: per-venue slices are contiguous
    return out.sort_values(["venue", "time"], kind="stable").reset_index(drop=True)


def _venue_categories(venue: pd.Series) -> pd.Categorical:
    """Validated venue names as a categorical with sorted string categories (what
    ``pd.Categorical(names)`` gives), made from the codes when ``venue`` already is one."""
    if not isinstance(venue.dtype, pd.CategoricalDtype):
        return pd.Categorical(venue.astype(str).to_numpy())
    cat = venue.array
    used = np.zeros(len(cat.categories), dtype=bool)
    used[cat.codes] = True                     # (the codes are >= 0: validated names)
    if not used.all():
        cat = cat.remove_unused_categories()
    names = [str(c) for c in cat.categories]
    if names == sorted(names):                 # the codes are the sorted categories' already
        return pd.Categorical.from_codes(cat.codes, categories=names)
    rank = np.empty(len(names), dtype=np.int64)
    rank[np.argsort(names, kind="stable")] = np.arange(len(names))
    return pd.Categorical.from_codes(rank[cat.codes], categories=sorted(names))


def _raise_out_of_order(what, out, codes, sorted_codes, back, order) -> None:
    """The error for rows of a venue out of time order: the first such venue in order of
    first appearance, at its first step back (positions in frame order)."""
    n_cat = len(out["venue"].cat.categories)
    first_seen = np.full(n_cat, len(codes))
    np.minimum.at(first_seen, codes, np.arange(len(codes)))
    at = np.flatnonzero(back) + 1                      # positions in code-sorted order
    bad = sorted_codes[at]
    worst = bad[np.argmin(first_seen[bad])]
    k = int(at[np.argmax(bad == worst)])
    pos, prev = (k, k - 1) if order is None else (int(order[k]), int(order[k - 1]))
    t = out["time"]
    raise ValueError(
        f"{what} for venue {str(out['venue'].cat.categories[worst])!r} is not in time order "
        f"({t.iloc[pos]} comes after {t.iloc[prev]}); sort by ['venue', 'time'] first"
    )


def validate_funding(frame, naive_tz) -> pd.DataFrame:
    out = validate_long(frame, "funding", FUNDING_COLUMNS, naive_tz)
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


def validate_oi(frame, naive_tz) -> pd.DataFrame:
    out = validate_long(frame, "open_interest", OI_COLUMNS, naive_tz)
    for col in ("oi_btc", "oi_usd"):
        vals = out[col].to_numpy()
        neg = vals < 0
        if (vals > OI_MAX).any():
            i = int(np.argmax(vals > OI_MAX))
            raise ValueError(f"open_interest column {col!r} has an implausible {float(vals[i])!r} "
                             f"at {out['time'].iloc[i]} ({out['venue'].iloc[i]}); valid range: "
                             f"0 to {OI_MAX:g}")
        if neg.any():
            i = int(np.argmax(neg))
            raise ValueError(f"open_interest column {col!r} is negative ({float(vals[i])!r}) at "
                             f"{out['time'].iloc[i]} ({out['venue'].iloc[i]}); OI is >= 0")
    return out

