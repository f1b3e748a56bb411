"""Binance's public bulk archives (data.binance.vision): `get_binance` downloads, `read_*` parse.

pvlib style: ``get_*`` does the I/O (HTTP, checksum verification), ``read_*`` parse one zip
file already on disk or in memory; both are tested, ``read_*`` without any network.

Layout of the service (base URL ``https://data.binance.vision``; configurable, see
`archive_base`)::

    data/<market>/<freq>/klines/<SYMBOL>/<interval>/<SYMBOL>-<interval>-<period>.zip
    data/<market>/monthly/fundingRate/<SYMBOL>/<SYMBOL>-fundingRate-<YYYY-MM>.zip
    data/<market>/daily/metrics/<SYMBOL>/<SYMBOL>-metrics-<YYYY-MM-DD>.zip

``<market>`` is ``spot``, ``futures/um`` (USDⓈ-M) or ``futures/cm`` (COIN-M); ``<freq>`` is
``monthly`` (period ``YYYY-MM``) or ``daily`` (``YYYY-MM-DD``).  Funding files are monthly only,
metrics files daily only and futures only.  Every zip has a sidecar ``<file>.zip.CHECKSUM``
holding ``<sha256 hex>  <file>.zip``; a zip whose sha256 differs is refused, naming the file.

Each zip holds one CSV.  Columns (a header line in newer files, none in older ones -- the
readers accept both and check the header when there is one):

* klines: ``open_time, open, high, low, close, volume, close_time, quote_volume, count,
  taker_buy_volume, taker_buy_quote_volume, ignore`` (COIN-M: ``base_volume`` in place of the
  quote volume).  Times in epoch milliseconds, **microseconds** in spot files from 2025 on
  (told apart by magnitude).
* fundingRate: ``calc_time, funding_interval_hours, last_funding_rate``: settlement time (ms),
  interval (h), fraction paid for the interval.  The API's ``fundingTime`` for the same event
  may lag the settlement instant by a few ms, differently from ``calc_time``: both are
  rounded to the second (`btcflow_nb.sources.parse.settlement_times`), so an archive row and
  a ccxt row of one event share one time.
* metrics: ``create_time, symbol, sum_open_interest, sum_open_interest_value,
  count_toptrader_long_short_ratio, sum_toptrader_long_short_ratio, count_long_short_ratio,
  sum_taker_long_short_vol_ratio``; ``create_time`` is ``YYYY-MM-DD HH:MM:SS`` UTC, one row per
  5 minutes.  USDⓈ-M: ``sum_open_interest`` in BTC, ``..._value`` in USDT.  COIN-M:
  ``sum_open_interest`` in contracts (100 USD each for BTCUSD_PERP), ``..._value`` in BTC.

The readers return frames in the cache's raw formats (`btcflow_nb.sources.parse`): OHLCV
``time, open, high, low, close, volume``; funding ``time, rate, interval_hours``; OI
``time, oi_base, oi_value, value_currency, kind`` (kind ``history``).  Implausible values
(price <= 0, negative OI, |funding| > 5 % per interval), missing columns, unreadable times and
conflicting duplicate rows raise ValueError naming the file, the line and the column.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .._checks import check_choice
from ..timeframes import to_ms
from .config import load_config
from .parse import settlement_times

DEFAULT_ARCHIVE_BASE = "https://data.binance.vision"
ENV_ARCHIVE_BASE = "BTCFLOW_NB_ARCHIVE_BASE"
MARKETS = {"spot": "spot", "um": "futures/um", "cm": "futures/cm"}
DATASETS = ("klines", "fundingRate", "metrics")
KLINE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time",
                 "quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore")
FUNDING_COLUMNS = ("calc_time", "funding_interval_hours", "last_funding_rate")
METRICS_COLUMNS = ("create_time", "symbol", "sum_open_interest", "sum_open_interest_value",
                   "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio",
                   "count_long_short_ratio", "sum_taker_long_short_vol_ratio")
#: |rate| above this per interval is not a funding rate (the data model's bound).
MAX_FUNDING = 0.05
_MS_2009, _MS_2100 = 1_230_768_000_000, 4_102_444_800_000


def archive_base(base=None) -> str:
    """The archive service's base URL: `base`, else ``$BTCFLOW_NB_ARCHIVE_BASE``, else
    ``archive_base`` in the configuration file, else ``https://data.binance.vision``."""
    url = base or os.environ.get(ENV_ARCHIVE_BASE) or load_config().archive_base \
        or DEFAULT_ARCHIVE_BASE
    url = str(url).rstrip("/")
    if not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", url):
        raise ValueError(f"archive base {url!r} is not an http(s) URL like "
                         f"{DEFAULT_ARCHIVE_BASE}")
    return url


def archive_path(dataset: str, market: str, symbol: str, period: str, interval: str = "1d"):
    """Path (under the base URL) of one archive file; `period` is ``YYYY-MM`` (monthly) or
    ``YYYY-MM-DD`` (daily)."""
    check_choice("dataset", dataset, DATASETS)
    check_choice("market", market, MARKETS)
    freq = "daily" if len(period) == 10 else "monthly"
    prefix = f"data/{MARKETS[market]}/{freq}"
    if dataset == "klines":
        return f"{prefix}/klines/{symbol}/{interval}/{symbol}-{interval}-{period}.zip"
    if market == "spot":
        raise ValueError(f"dataset {dataset!r} exists only for futures markets; valid: um, cm")
    if dataset == "fundingRate" and freq != "monthly":
        raise ValueError("fundingRate archives are monthly only (period YYYY-MM)")
    if dataset == "metrics" and freq != "daily":
        raise ValueError("metrics archives are daily only (period YYYY-MM-DD)")
    return f"{prefix}/{dataset}/{symbol}/{symbol}-{dataset}-{period}.zip"


def archive_periods(dataset: str, since, until, now=None) -> list:
    """The periods covering [since, until]: monthly files for months that ended before `now`'s
    month (daily ones for klines in the current month; funding has none), daily for metrics.
    Days after yesterday (files not published yet) are left out."""
    check_choice("dataset", dataset, DATASETS)
    now = pd.Timestamp(to_ms(now, "now") if now is not None else pd.Timestamp.now(tz="UTC"),
                       unit="ms", tz="UTC") if now is not None else pd.Timestamp.now(tz="UTC")
    start = pd.Timestamp(to_ms(since, "since"), unit="ms", tz="UTC").normalize()
    end = min(pd.Timestamp(to_ms(until, "until"), unit="ms", tz="UTC") if until is not None
              else now, now.normalize() - pd.Timedelta(days=1))
    if end < start:
        return []
    if dataset == "metrics":
        return [d.strftime("%Y-%m-%d") for d in pd.date_range(start, end, freq="D")]
    this_month = now.normalize().replace(day=1)
    months = pd.period_range(start.tz_localize(None), end.tz_localize(None), freq="M")
    out = [m.strftime("%Y-%m") for m in months if m.to_timestamp().tz_localize("UTC")
           < this_month]
    if dataset == "klines" and end >= this_month:
        out += [d.strftime("%Y-%m-%d")
                for d in pd.date_range(max(start, this_month), end.normalize(), freq="D")]
    return out


# ------------------------------------------------------------------------------- I/O (get_*)
def get_archive(url: str, *, timeout: float = 30.0) -> bytes:
    """Download one file and its ``.CHECKSUM``; return the zip's bytes once the sha256 matches.

    Raises FileNotFoundError when the service has no such file (HTTP 404), ValueError when the
    checksum is missing, malformed or different (naming the file), OSError for other network
    failures."""
    name = url.rsplit("/", 1)[-1]
    data = _download(url, timeout)
    try:
        checksum = _download(url + ".CHECKSUM", timeout)
    except FileNotFoundError:
        raise ValueError(f"archive {name!r}: no published checksum ({name}.CHECKSUM is "
                         f"missing); refused") from None
    verify_checksum(data, checksum, name)
    return data


def _download(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http(s) only
            return resp.read()
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 404:
            raise FileNotFoundError(f"{url.rsplit('/', 1)[-1]}: not on the archive service "
                                    f"(HTTP 404)") from None
        raise OSError(f"{url.rsplit('/', 1)[-1]}: HTTP {exc.code} {exc.reason}") from None


def verify_checksum(data: bytes, checksum: bytes, name: str) -> None:
    """Check `data` against a ``.CHECKSUM`` file's text (``<sha256 hex>  <name>``)."""
    text = checksum.decode("utf-8", "replace").strip()
    m = re.match(r"^([0-9a-fA-F]{64})\s+\*?(\S+)$", text)
    if not m:
        raise ValueError(f"archive {name!r}: its .CHECKSUM file is not '<sha256>  {name}' "
                         f"({text[:80]!r}); refused")
    if m.group(2) != name:
        raise ValueError(f"archive {name!r}: its .CHECKSUM names {m.group(2)!r}; refused")
    got = hashlib.sha256(data).hexdigest()
    if got != m.group(1).lower():
        raise ValueError(f"archive {name!r} fails its checksum (sha256 {got}, published "
                         f"{m.group(1).lower()}): corrupted or truncated download; refused, "
                         f"nothing imported")


def get_binance(dataset: str, symbol: str, market: str, since, until=None, *,
                interval: str = "1d", sample: str = "1h", contract_size: float = 100.0,
                base=None, timeout: float = 30.0, now=None):
    """Download, verify and parse every archive file of `dataset` covering [since, until].

    Returns ``(frame, report)``: the rows in [since, until] (formats as the ``read_*``
    functions), and ``{"files": [names read], "missing": [names the service does not have]}``.
    A file that is missing (404: before the listing, or a day Binance never published) is
    skipped and listed; a file failing its checksum or its parsing raises ValueError naming it,
    before anything is returned -- so nothing of a failed download is ever merged.
    """
    check_choice("dataset", dataset, DATASETS)
    url_base = archive_base(base)
    frames, files, missing = [], [], []
    for period in archive_periods(dataset, since, until, now):
        path = archive_path(dataset, market, symbol, period, interval)
        name = path.rsplit("/", 1)[-1]
        try:
            data = get_archive(f"{url_base}/{path}", timeout=timeout)
        except FileNotFoundError:
            missing.append(name)
            continue
        if dataset == "klines":
            frames.append(read_klines(data, name=name))
        elif dataset == "fundingRate":
            frames.append(read_funding(data, name=name))
        else:
            frames.append(read_metrics(data, name=name, market=market, sample=sample,
                                       contract_size=contract_size))
        files.append(name)
    frame = pd.concat(frames, ignore_index=True) if frames else None
    if frame is not None and len(frame):
        t = frame["time"]
        lo = pd.Timestamp(to_ms(since, "since"), unit="ms", tz="UTC")
        keep = t >= lo
        if until is not None:
            keep &= t <= pd.Timestamp(to_ms(until, "until"), unit="ms", tz="UTC")
        frame = frame[keep].sort_values("time", kind="stable").reset_index(drop=True)
        _no_conflicts(frame, "archives", list(frame.columns[1:]))
        frame = frame.drop_duplicates("time").reset_index(drop=True)
    return frame, {"files": files, "missing": missing}


# ---------------------------------------------------------------------------- parse (read_*)
def _csv_of(source, name):
    """(text lines, file name) of the one CSV inside a zip given as bytes or a path."""
    if isinstance(source, (str, Path)):
        name = name or Path(source).name
        source = Path(source).read_bytes()
    name = name or "archive"
    try:
        with zipfile.ZipFile(io.BytesIO(source)) as zf:
            members = [m for m in zf.namelist() if m.lower().endswith(".csv")]
            if len(members) != 1:
                raise ValueError(f"archive {name!r} holds {len(members)} CSV files "
                                 f"({zf.namelist()}); expected exactly one")
            text = zf.read(members[0]).decode("utf-8-sig")
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"archive {name!r} is not a readable zip file ({exc}); "
                         f"truncated or corrupted") from None
    return [ln for ln in text.splitlines() if ln.strip()], name


def _table(lines, name, expected, required):
    """Rows of a CSV with an optional header; the header, when present, must name the
    `required` columns (extra columns are ignored); without one, columns are positional."""
    if not lines:
        return pd.DataFrame(columns=list(required)), 1
    first = lines[0].split(",")
    has_header = not re.match(r"^\s*-?\d", first[0])
    if has_header:
        header = [c.strip().lower() for c in first]
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(f"archive {name!r}: header {header} lacks column(s) {missing}; "
                             f"expected {list(expected)}")
        body = lines[1:]
    else:
        header = list(expected[:len(first)])
        if len(first) < len(required) or any(c not in header for c in required):
            raise ValueError(f"archive {name!r} line 1 has {len(first)} fields; expected "
                             f"{len(expected)} ({', '.join(expected)})")
        body = lines
    rows = [ln.split(",") for ln in body]
    for i, r in enumerate(rows):
        if len(r) < len(header):
            raise ValueError(f"archive {name!r} line {i + 1 + has_header} has {len(r)} fields, "
                             f"expected {len(header)} ({', '.join(header)})")
    frame = pd.DataFrame([r[:len(header)] for r in rows], columns=header)
    return frame[list(required)], 1 + int(has_header)


def _numbers(frame, col, name, first_line):
    vals = pd.to_numeric(frame[col].str.strip(), errors="coerce").to_numpy(dtype="float64")
    bad = np.isnan(vals)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"archive {name!r} line {i + first_line} column {col!r}: "
                         f"{frame[col].iloc[i]!r} is not a number")
    return vals


def _epoch_times(frame, col, name, first_line):
    raw = _numbers(frame, col, name, first_line).astype("int64")
    ms = np.where(raw > 10 ** 14, raw // 1000, raw)      # microseconds (spot from 2025)
    bad = (ms < _MS_2009) | (ms > _MS_2100)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"archive {name!r} line {i + first_line} column {col!r}: {raw[i]} is "
                         f"not an epoch time in milliseconds or microseconds (2009..2100)")
    return pd.DatetimeIndex(pd.to_datetime(ms, unit="ms", utc=True)).as_unit("ms")


def _fail_where(mask, name, first_line, col, vals, expected):
    if mask.any():
        i = int(np.argmax(mask))
        raise ValueError(f"archive {name!r} line {i + first_line} column {col!r}: "
                         f"{vals[i]!r} is implausible; expected {expected}")


def _no_conflicts(frame, name, value_cols, first_line=None):
    dup = frame.duplicated("time", keep=False)
    if dup.any():
        conflict = dup & ~frame.duplicated(["time"] + value_cols, keep=False)
        if conflict.any():
            i = int(np.argmax(conflict.to_numpy()))
            where = f"line {i + first_line}" if first_line is not None else "rows"
            raise ValueError(f"archive {name!r} {where}: conflicting duplicate rows for "
                             f"{frame['time'].iloc[i]} (same time, different values)")


def _finish(frame, name, first_line, value_cols):
    _no_conflicts(frame, name, value_cols, first_line)
    return frame.drop_duplicates("time").sort_values("time", kind="stable") \
        .reset_index(drop=True)


def read_klines(source, *, name=None) -> pd.DataFrame:
    """A klines zip (bytes or path) -> ``time, open, high, low, close, volume`` (bar open time,
    prices in the symbol's quote; volume as the file says: base units, COIN-M contracts)."""
    lines, name = _csv_of(source, name)
    table, first = _table(lines, name, KLINE_COLUMNS, KLINE_COLUMNS[:6])
    out = pd.DataFrame({"time": _epoch_times(table, "open_time", name, first)})
    for col in ("open", "high", "low", "close", "volume"):
        out[col] = _numbers(table, col, name, first)
    for col in ("open", "high", "low", "close"):
        _fail_where(~(out[col].to_numpy() > 0), name, first, col, out[col].to_numpy(),
                    "a price > 0")
    _fail_where(out["volume"].to_numpy() < 0, name, first, "volume", out["volume"].to_numpy(),
                "a volume >= 0")
    return _finish(out, name, first, ["open", "high", "low", "close", "volume"])


def read_funding(source, *, name=None) -> pd.DataFrame:
    """A fundingRate zip -> ``time, rate, interval_hours`` (settlement time, fraction paid for
    the interval, hours)."""
    lines, name = _csv_of(source, name)
    table, first = _table(lines, name, FUNDING_COLUMNS, FUNDING_COLUMNS)
    times = settlement_times(_epoch_times(table, "calc_time", name, first))
    out = pd.DataFrame({"time": times,
                        "rate": _numbers(table, "last_funding_rate", name, first),
                        "interval_hours": _numbers(table, "funding_interval_hours", name,
                                                   first)})
    rate, hours = out["rate"].to_numpy(), out["interval_hours"].to_numpy()
    _fail_where(np.abs(rate) > MAX_FUNDING, name, first, "last_funding_rate", rate,
                f"a fraction per interval with |rate| <= {MAX_FUNDING}")
    _fail_where(~((hours > 0) & (hours <= 168)), name, first, "funding_interval_hours", hours,
                "hours in (0, 168]")
    return _finish(out, name, first, ["rate", "interval_hours"])


def read_metrics(source, *, name=None, market: str = "um", sample: str = "1h",
                 contract_size: float = 100.0) -> pd.DataFrame:
    """A daily metrics zip -> raw OI ``time, oi_base, oi_value, value_currency, kind``.

    market "um": oi_base = sum_open_interest (BTC), oi_value = sum_open_interest_value (USDT).
    market "cm": oi_base = sum_open_interest_value (BTC), oi_value = sum_open_interest x
    `contract_size` (USD; 100 USD per BTCUSD_PERP contract).
    sample: "5m" keeps every row; "1h" (default) the rows on whole hours; "1d" those at 00:00 --
    the sample times the venue's API serves for those periods."""
    check_choice("market", market, ("um", "cm"))
    check_choice("sample", sample, ("5m", "1h", "1d"))
    lines, name = _csv_of(source, name)
    table, first = _table(lines, name, METRICS_COLUMNS, METRICS_COLUMNS[:4])
    stamps = table["create_time"].str.strip()
    if len(stamps) and stamps.str.fullmatch(r"\d+").all():
        times = _epoch_times(table, "create_time", name, first)
    else:
        parsed = pd.to_datetime(stamps, format="%Y-%m-%d %H:%M:%S", errors="coerce", utc=True)
        if parsed.isna().any():
            i = int(np.argmax(parsed.isna().to_numpy()))
            raise ValueError(f"archive {name!r} line {i + first} column 'create_time': "
                             f"{stamps.iloc[i]!r} is not 'YYYY-MM-DD HH:MM:SS' (UTC)")
        times = pd.DatetimeIndex(parsed).as_unit("ms")
    amount = _numbers(table, "sum_open_interest", name, first)
    value = _numbers(table, "sum_open_interest_value", name, first)
    _fail_where(amount < 0, name, first, "sum_open_interest", amount, "open interest >= 0")
    _fail_where(value < 0, name, first, "sum_open_interest_value", value, "open interest >= 0")
    if market == "um":
        base, val, cur = amount, value, "USDT"
    else:
        base, val, cur = value, amount * float(contract_size), "USD"
    out = pd.DataFrame({"time": times, "oi_base": base, "oi_value": val,
                        "value_currency": [cur] * len(times), "kind": ["history"] * len(times)})
    out = _finish(out, name, first, ["oi_base", "oi_value"])
    t = pd.DatetimeIndex(out["time"])
    if sample == "1h":
        out = out[(t.minute == 0) & (t.second == 0)]
    elif sample == "1d":
        out = out[(t.hour == 0) & (t.minute == 0) & (t.second == 0)]
    return out.reset_index(drop=True)
