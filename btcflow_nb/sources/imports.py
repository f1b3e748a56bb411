"""History import: bulk archives and CSV exports merged into the cache, with provenance.

>>> import_history("binance", dataset="metrics", symbol="BTCUSDT", market="um",
...                since="2021-01-01")                                   # doctest: +SKIP
>>> import_history("tv_export.csv", format="tradingview", venue="perp:binance")  # doctest: +SKIP

Every imported row carries its ``source``: ``archive:binance`` for Binance's public archives
(`btcflow_nb.sources.archives`), ``file:<file name>`` for a CSV (`btcflow_nb.sources.files`),
with ``;btc=usd/close`` or ``;btc=usd/basket`` appended when OI given only in USD was converted
to BTC with the venue's own close or with the basket's (mean of every cached venue's close) at
the sample time.  Rows are merged into the venue's cache files by the documented precedence
(`btcflow_nb.sources.cache.merge`: ccxt > archive > file > snapshot; at equal rank the import
replaces), so a later fetch keeps the imported rows it does not itself serve again.

All or nothing: every file is downloaded, verified and parsed, and every merged frame built, in
memory, before the first cache file is written (each write atomic); any bad input raises
ValueError naming the file, line and column, and the cache is left as it was.
"""
from __future__ import annotations

import datetime as _dt
import os as _os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._checks import check_choice
from ..timeframes import bar_ms
from . import archives, files, parse
from .cache import (CacheError, cache_root, empty_series, merge, merge_into, read_series,
                    series_path)
from .config import check_cache_dir, check_seconds
from .plan import FETCH_TIMEFRAMES
from .venue import Venue
from .venues import registry, resolve_venues

_DATASET_SERIES = {"klines": "ohlcv", "fundingRate": "funding", "metrics": "open_interest"}
_QUOTES = ("USDT", "USDC", "USD")


@dataclass
class ImportReport:
    """What one import did to one cache file."""

    venue: str
    series: str
    source: str
    rows: int                    # rows imported
    added: int                   # times the cache did not have
    replaced: int                # cached rows replaced (lower or equal precedence)
    kept: int                    # imported rows not taken: the cache had a higher-ranked row
    first: object = None
    last: object = None
    files: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def _venue(name) -> Venue:
    if isinstance(name, Venue):
        return name
    found = resolve_venues([name])
    if len(found) != 1:
        raise ValueError(f"venue {name!r} names {len(found)} venues ({[v.name for v in found]}); "
                         f"name one, such as 'perp:binance'")
    return found[0]


def binance_venue(market: str, symbol: str) -> Venue:
    """The registry venue a Binance archive symbol belongs to (``um``/BTCUSDT ->
    ``perp:binance``); ValueError listing the choices when the registry has none."""
    check_choice("market", market, archives.MARKETS)
    if market == "cm":
        base = symbol.split("USD_")[0]
        ccxt_id, ccxt_symbol = "binancecoinm", f"{base}/USD:{base}"
    else:
        quote = next((q for q in _QUOTES if symbol.endswith(q)), None)
        if quote is None:
            raise ValueError(f"symbol {symbol!r}: quote not one of {_QUOTES}; pass venue=")
        base = symbol[: -len(quote)]
        ccxt_id = "binance" if market == "spot" else "binanceusdm"
        ccxt_symbol = f"{base}/{quote}" if market == "spot" else f"{base}/{quote}:{quote}"
    for v in registry():
        if v.exchange_id == ccxt_id and v.symbol == ccxt_symbol:
            return v
    raise ValueError(f"no registry venue reads {ccxt_id} {ccxt_symbol}; pass venue= (a registry "
                     f"name, or a Venue, e.g. from the configuration file's [[venues]])")


def import_binance(dataset: str, symbol: str = "BTCUSDT", market: str = "um", since=None,
                   until=None, *, interval: str = "1d", sample: str = "1h", venue=None,
                   contract_size: float = 100.0, base=None, cache_dir=None, now=None,
                   timeout: float = 30.0) -> list:
    """Download Binance archive files (`btcflow_nb.sources.archives.get_binance`) and merge
    them into the cache as ``archive:binance`` rows.  dataset: ``klines`` (-> OHLCV at
    `interval`), ``fundingRate``, ``metrics`` (-> OI, sampled per `sample`).  Returns
    [`ImportReport`]."""
    check_choice("dataset", dataset, archives.DATASETS)
    if since is None:
        raise ValueError("since is required (e.g. since='2021-01-01')")
    check_choice("sample", sample, ("5m", "1h", "1d"))
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError(f"symbol={symbol!r} must be a Binance symbol such as 'BTCUSDT'")
    if isinstance(contract_size, bool) or not isinstance(contract_size, (int, float)) \
            or not (0 < contract_size < 1e9):
        raise ValueError(f"contract_size={contract_size!r} is not a contract size; valid: USD "
                         f"per contract > 0 (100 for Binance's BTCUSD coin-margined perpetual)")
    timeout = check_seconds("timeout", timeout)
    check_cache_dir(cache_dir)
    v = _venue(venue) if venue is not None else binance_venue(market, symbol)
    series = _DATASET_SERIES[dataset]
    tf = _timeframe(interval) if series == "ohlcv" else None
    frame, info = archives.get_binance(dataset, symbol, market, since, until, interval=interval,
                                       sample=sample, contract_size=contract_size, base=base,
                                       timeout=timeout, now=now)
    if frame is None or len(frame) == 0:
        return [ImportReport(v.name, series, "archive:binance", 0, 0, 0, 0,
                             files=info["files"], missing=info["missing"],
                             notes=["no archive file covered the range"])]
    reports = _merge_all([(v, series, tf, frame, "archive:binance")], cache_dir)
    reports[0].files, reports[0].missing = info["files"], info["missing"]
    return reports


def import_file(path, format: str, *, venue=None, oi_unit: str = "usd", timeframe=None,
                series=None, cache_dir=None) -> list:
    """Read a CSV export (`btcflow_nb.sources.files.read_file`) and merge it into the cache as
    ``file:<file name>`` rows.  timeframe: bar size of OHLCV rows (``1h``, ``4h``, ``1d``;
    default: inferred from the spacing).  series: import only that series (``ohlcv``,
    ``funding``, ``open_interest``).  Returns [`ImportReport`], one per venue and series."""
    name = getattr(venue, "name", venue)
    if isinstance(path, bool) or not isinstance(path, (str, _os.PathLike)):
        raise ValueError(f"path={path!r} is not a file path; valid: a str or pathlib.Path")
    if not _os.path.isfile(path):
        raise ValueError(f"path={str(path)!r}: no such file")
    check_cache_dir(cache_dir)
    pieces = files.read_file(path, format, venue=name, oi_unit=oi_unit)
    if series is not None:
        held = sorted({s for _, s in pieces})
        pieces = {k: f for k, f in pieces.items() if k[1] == series}
        if not pieces:
            raise ValueError(f"file {str(path).rsplit('/', 1)[-1]!r} ({format}) holds no "
                             f"{series!r} rows; it holds {held}")
    label = f"file:{pd.io.common.stringify_path(path).rsplit('/', 1)[-1]}"
    items = []
    for (vname, kind), frame in pieces.items():
        v = venue if isinstance(venue, Venue) else _venue(vname)
        tf = None
        if kind == "ohlcv":
            tf = _timeframe(timeframe) if timeframe else _infer_timeframe(frame, label)
        items.append((v, kind, tf, frame, label))
    return _merge_all(items, cache_dir)


def import_history(source, **kwargs) -> list:
    """``"binance"`` -> `import_binance` (dataset=, symbol=, market=, since=, ...); a path ->
    `import_file` (format=, venue=, ...)."""
    if str(source) == "binance":
        return import_binance(**kwargs)
    return import_file(source, **kwargs)


def _timeframe(tf) -> str:
    tf = str(tf)
    if tf not in FETCH_TIMEFRAMES:
        raise ValueError(f"timeframe {tf!r} is not a cache timeframe; valid: "
                         f"{list(FETCH_TIMEFRAMES)}")
    return tf


def _infer_timeframe(frame, label) -> str:
    if len(frame) < 2:
        raise ValueError(f"{label}: one bar; pass timeframe= (one of {list(FETCH_TIMEFRAMES)})")
    step = int(np.median(np.diff(pd.DatetimeIndex(frame["time"]).asi8)))
    for tf in FETCH_TIMEFRAMES:
        if bar_ms(tf) == step:
            return tf
    raise ValueError(f"{label}: bars are {pd.Timedelta(step, unit='ms')} apart, not one of "
                     f"{list(FETCH_TIMEFRAMES)}; pass timeframe= or resample the export")


def _check_kind(v: Venue, series: str):
    if series in ("funding", "open_interest") and v.kind != "perp":
        raise ValueError(f"{series} rows belong to a perpetual venue; {v.name!r} is {v.kind}")


def _merge_all(items, cache_dir) -> list:
    """Merge [(venue, series, timeframe, frame, source)] in memory, then write every file."""
    root = cache_root(cache_dir)
    pending_closes = {v.name: (tf, f) for v, s, tf, f, _ in items if s == "ohlcv"}
    writes, reports = [], []
    for v, series, tf, frame, source in items:
        _check_kind(v, series)
        frame = frame.copy()
        frame["source"] = source
        if series == "open_interest":
            frame = _btc_from_usd(frame, v, root, pending_closes)
        path = series_path(root, series, v, tf)
        try:
            cached, meta = read_series(path, series, v, tf)
        except CacheError as exc:        # set aside by read_series: start afresh, say so
            cached, meta = empty_series(series), {"note": str(exc)}
        merged = merge(cached, frame, series)
        before = pd.DatetimeIndex(cached["time"]).asi8
        imported = pd.DatetimeIndex(frame["time"]).asi8
        taken = merged[merged["source"].isin(pd.unique(frame["source"]))]
        taken_t = pd.DatetimeIndex(taken["time"]).asi8
        added = int(np.sum(~np.isin(imported, before)))
        replaced = int(np.sum(np.isin(taken_t, before)))
        report = ImportReport(v.name, series, source, len(frame), added, replaced,
                              len(frame) - added - replaced, frame["time"].min(),
                              frame["time"].max())
        if meta.get("note"):
            report.notes.append(meta["note"])
        conv = sorted(set(frame["source"]) - {source})
        if conv:
            report.notes.append(f"OI given in USD converted to BTC: {conv}")
        reports.append(report)
        writes.append((path, frame, series, v, tf, meta))
    # every file was read and checked above; now merge again under each series' lock, so rows
    # another process wrote since are kept (the merge is the same, with the file as it is now)
    for path, frame, series, v, tf, meta in writes:
        merge_into(path, frame, series, v, tf, meta.get("fetched_at") or
                   _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                   covered_from=meta.get("covered_from"))
    return reports


def _closes(root, v: Venue, pending) -> pd.Series:
    """The venue's closes indexed by bar *close* time (cached at the finest timeframe, plus
    closes imported in the same call)."""
    parts = []
    if v.name in pending:
        tf, f = pending[v.name]
        parts.append(pd.Series(f["close"].to_numpy(),
                               index=pd.DatetimeIndex(f["time"]) + pd.Timedelta(milliseconds=bar_ms(tf))))
    for tf in FETCH_TIMEFRAMES:
        path = series_path(root, "ohlcv", v, tf)
        if path.exists():
            try:
                f, _ = read_series(path, "ohlcv", v, tf)
            except CacheError:
                continue
            parts.append(pd.Series(f["close"].to_numpy(), index=pd.DatetimeIndex(f["time"])
                                   + pd.Timedelta(milliseconds=bar_ms(tf))))
    if not parts:
        return pd.Series(dtype="float64")
    s = pd.concat(parts)
    return s[~s.index.duplicated(keep="first")].sort_index()


def _btc_from_usd(frame, v: Venue, root, pending):
    """oi_base = oi_value (USD) / close at the sample time where only USD is given."""
    need = frame["oi_base"].isna().to_numpy() & frame["oi_value"].notna().to_numpy()
    if not need.any():
        return frame
    times = frame["time"]
    own = parse.asof(_closes(root, v, pending), times)
    basket = []
    for other in registry():
        if other.kind in ("spot", "perp") and other.name != v.name:
            basket.append(parse.asof(_closes(root, other, pending), times))
    with warnings.catch_warnings():        # all-NaN columns: no basket close then
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(np.vstack(basket), axis=0) if basket else np.full(len(frame), np.nan)
    price = np.where(np.isnan(own), mean, own)
    missing = need & np.isnan(price)
    if missing.any():
        i = int(np.argmax(missing))
        raise ValueError(f"{frame['source'].iloc[i]}: open interest at {times.iloc[i]} is given "
                         f"only in USD and no close of {v.name} nor of any cached venue is known "
                         f"then; import or fetch prices for that time first, or give oi_btc")
    frame = frame.copy()
    frame.loc[need, "oi_base"] = frame.loc[need, "oi_value"].to_numpy() / price[need]
    how = np.where(np.isnan(own), "basket", "close")
    frame.loc[need, "source"] = [f"{s};btc=usd/{h}" for s, h in
                                 zip(frame.loc[need, "source"], how[need])]
    return frame
