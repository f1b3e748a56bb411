"""Dated (expiring) BTC futures: the venue registry, the contracts a venue lists, their cache.

Perpetuals are one series per venue; dated futures are a *family* per venue whose members
come and go.  `DATED_VENUES` names the families (one `DatedVenue` each); the contracts are
discovered at every fetch from ccxt's ``load_markets``: every market with ``future`` true,
base BTC, quote USD, settled in BTC and an ``expiry`` (epoch ms, read by ccxt from the venue:
Deribit ``expiration_timestamp``, OKX ``expTime``, Binance ``deliveryDate``, Bybit
``deliveryTime``) -- never a hard-coded list of expiries.  Each becomes a `DatedContract`.

What each venue serves through ccxt (4.5.x):

=================  ===================  ===================================================
venue (key)        venue id of a        history
                   contract
=================  ===================  ===================================================
``deribit``        ``BTC-27MAR26``      weeklies, monthlies, quarterlies; chart data of the
                                        listed ones and of the **expired** ones that
                                        ``public/get_instruments`` with ``expired=true``
                                        lists ("recently expired"), asked by instrument name
                                        (``get_tradingview_chart_data``, ccxt's implicit API)
``okx``            ``BTC-USD-260327``   coin-margined this/next week, quarter, next quarter;
                                        candles of the listed ones only: expired contracts
                                        are not listed, so not fetched (their bars cached
                                        while listed stay); said in ``meta["notes"]``
``binance_coinm``  ``BTCUSD_260327``    CURRENT_QUARTER and NEXT_QUARTER; **expired
                                        quarters** from the continuous-contract klines
                                        (``continuousKlines``, ccxt's implicit
                                        ``dapiPublicGetContinuousKlines``), each bar given to
                                        the quarterly that held the contract type then
``bybit_inverse``  ``BTCUSDH26``        inverse quarterlies; klines of the listed ones only
                                        (expired: as OKX, said in ``meta["notes"]``)
=================  ===================  ===================================================

All four are inverse (coin-margined) contracts quoted in USD, so a close is a USD price.

Cache: a contract's bars are an OHLCV series under ``<cache dir>/v1/dated/`` (the format of
`btcflow_nb.sources.cache`, same atomic writes, locks and checks), in a file named by the
contract's key ``<venue>_<YYYYMMDD>_<HHMM>`` -- its expiry in UTC -- whose identity (checked
on every read) holds that key and the ccxt symbol.  A contract that has expired is no longer
listed, but its file stays: history grows locally, as OI snapshots do.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .cache import CacheError, read_series, series_path

DAY_MS = 86_400_000
#: a contract with no known listing time is asked from this many days before its expiry
LISTING_SPAN_DAYS = 400


@dataclass(frozen=True)
class DatedVenue:
    """One venue's family of dated BTC futures.

    key: the venue key (``venue`` column of `MarketData.futures`).
    exchange_id: the ccxt exchange id.
    id_format: the venue's contract id, for the reader (``BTC-<DDMMMYY>``).
    market_types: ccxt ``options['fetchMarkets']['types']`` that load these markets.
    ohlcv_page_limit / until_param / limit_param: as `btcflow_nb.sources.venue.Venue` (the
        venue's page size; whether ccxt sends an end time and a page size).
    continuous: the venue's continuous-contract types, nearest first (Binance:
        CURRENT_QUARTER, NEXT_QUARTER), read for expired contracts' history; () when none.
    continuous_from: ISO date of the first continuous bar (the quarterlies' listing).
    expired_instruments: the venue lists its expired contracts and serves their candles by
        name (Deribit); otherwise `expired_text` says what becomes of expired history.
    """

    key: str
    exchange_id: str
    id_format: str
    market_types: tuple = ()
    ohlcv_page_limit: int = 300
    until_param: tuple = ("ohlcv",)
    limit_param: tuple = ("ohlcv",)
    continuous: tuple = ()
    continuous_from: Optional[str] = None
    expired_instruments: bool = False
    expired_text: str = ""

    @property
    def name(self) -> str:
        return f"future:{self.key}"


_NO_EXPIRED = ("expired contracts' history is not fetched: {0}'s {1} lists live contracts "
               "only (no equivalent of Deribit's expired=true), so expired ids are not "
               "discovered and their {2} not asked; an expired contract keeps the bars cached "
               "while it was listed")

#: the dated-futures registry (page sizes as the same venues' perpetuals, `venues.py`)
DATED_VENUES = (
    DatedVenue("deribit", "deribit", "BTC-<DMMMYY>", ohlcv_page_limit=5000,
               expired_instruments=True),
    DatedVenue("okx", "okx", "BTC-USD-<YYMMDD>", market_types=("future",),
               ohlcv_page_limit=100, expired_text=_NO_EXPIRED.format(
                   "OKX", "public/instruments", "market/history-candles")),
    # klines: "up to 200 days" between startTime and endTime, so 200 daily bars a page
    DatedVenue("binance_coinm", "binancecoinm", "BTCUSD_<YYMMDD>", market_types=("inverse",),
               ohlcv_page_limit=200, continuous=("CURRENT_QUARTER", "NEXT_QUARTER"),
               continuous_from="2020-08-10"),
    DatedVenue("bybit_inverse", "bybit", "BTCUSD<M><YY>", market_types=("inverse",),
               ohlcv_page_limit=1000, expired_text=_NO_EXPIRED.format(
                   "Bybit", "v5/market/instruments-info", "v5/market/kline")),
)

_KEY = re.compile(r"(?P<venue>[a-z][a-z0-9_]*?)_(?P<day>\d{8})_(?P<hm>\d{4})")


@dataclass(frozen=True)
class DatedContract:
    """One dated future: its venue, ccxt symbol and expiry (epoch ms, UTC).

    Duck-types the `Venue` attributes the cache and the pager read (``kind``, ``key``,
    ``name``, ``exchange_id``, ``symbol``, ``until_param``, ``limit_param``)."""

    venue: DatedVenue
    symbol: str
    expiry_ms: int
    listed_ms: Optional[int] = None

    kind = "future"

    @property
    def key(self) -> str:
        """``<venue>_<YYYYMMDD>_<HHMM>``: the expiry in UTC, part of the file name."""
        return f"{self.venue.key}_{self.expiry:%Y%m%d_%H%M}"

    @property
    def name(self) -> str:
        return f"future:{self.key}"

    @property
    def expiry(self) -> pd.Timestamp:
        return pd.Timestamp(int(self.expiry_ms), unit="ms", tz="UTC")

    @property
    def exchange_id(self) -> str:
        return self.venue.exchange_id

    @property
    def until_param(self) -> tuple:
        return self.venue.until_param

    @property
    def limit_param(self) -> tuple:
        return self.venue.limit_param


def resolve_dated(venues=None) -> list:
    """`DatedVenue` objects for a selection: None (all), a key or a list of keys / objects.
    Raises ValueError naming an unknown key and the valid ones."""
    if venues is None:
        return list(DATED_VENUES)
    if isinstance(venues, (str, DatedVenue)):
        venues = [venues]
    known = {v.key: v for v in DATED_VENUES}
    out = []
    for item in venues:
        if isinstance(item, DatedVenue):
            out.append(item)
            continue
        key = str(item).strip().lower().removeprefix("future:")
        if key not in known:
            raise ValueError(f"unknown dated-futures venue {item!r}; valid: {sorted(known)}")
        out.append(known[key])
    return out


def dated_selection(dated, venues=None) -> list:
    """The dated-futures venues a `btcflow_nb.fetch` / `load` / `from_cache` call covers:
    ``True`` (every venue of `DATED_VENUES`), ``False`` (none), a venue key ("deribit", "okx",
    "binance_coinm", "bybit_inverse") or a list of them; ``None`` (the default) is True for
    the default selection (`venues` None) and False when `venues` names venues (a call for
    ``["spot:coinbase"]`` asks nothing else).  Anything else raises ValueError naming the
    value and the valid choices."""
    if dated is None:
        dated = venues is None
    if dated is True:
        return resolve_dated(None)
    if dated is False:
        return []
    if isinstance(dated, str) or (isinstance(dated, (list, tuple)) and all(
            isinstance(x, str) for x in dated)):
        return resolve_dated(dated)
    raise ValueError(f"dated={dated!r} is not a dated-futures selection; valid: True (every "
                     f"venue), False (none), or key(s) among "
                     f"{sorted(v.key for v in resolve_dated(None))}")


def listed_contracts(markets: dict, venue: DatedVenue) -> list:
    """The venue's dated BTC futures in ccxt's loaded `markets`, nearest expiry first: every
    market with ``future`` true, base BTC, quote USD, settle BTC and an ``expiry``."""
    out = []
    for m in markets.values():
        if (m.get("future") and m.get("base") == "BTC" and m.get("quote") == "USD"
                and m.get("settle") == "BTC" and m.get("expiry")):
            out.append(DatedContract(venue, m["symbol"], int(m["expiry"]), m.get("created")))
    return sorted(out, key=lambda c: c.expiry_ms)


def quarterly_expiry(t_ms, rank: int = 0):
    """Expiry (epoch ms) of the quarterly that is the `rank`-th (0: current, 1: next) to
    expire after each time `t_ms` -- 08:00 UTC on the last Friday of Mar/Jun/Sep/Dec, the
    Binance COIN-M delivery rule -- for continuous-contract bars (an array of times)."""
    t = np.asarray(t_ms, dtype="int64")
    if len(t) == 0:
        return t
    lo = pd.Timestamp(int(t.min()), unit="ms", tz="UTC") - pd.Timedelta(days=1)
    hi = pd.Timestamp(int(t.max()), unit="ms", tz="UTC") + pd.Timedelta(days=400)
    expiries = []
    for month_end in pd.date_range(lo.normalize(), hi, freq="QE-DEC"):
        friday = month_end - pd.Timedelta(days=(month_end.weekday() - 4) % 7)
        expiries.append(int((friday + pd.Timedelta(hours=8)).value // 1_000_000))
    expiries = np.array(sorted(expiries), dtype="int64")
    return expiries[np.searchsorted(expiries, t, side="right") + rank]


def contract_for(venue: DatedVenue, expiry_ms: int, listed: list) -> DatedContract:
    """The listed contract expiring at `expiry_ms`, else one named as ccxt names it
    (``BTC/USD:BTC-<YYMMDD>``: an expired contract known from continuous bars)."""
    for c in listed:
        if c.expiry_ms == expiry_ms:
            return c
    day = _dt.datetime.fromtimestamp(expiry_ms / 1000, _dt.timezone.utc)
    return DatedContract(venue, f"BTC/USD:BTC-{day:%y%m%d}", int(expiry_ms))


def dated_root(root: Path) -> Path:
    """Where dated futures live under a cache root (``<cache dir>/v1/dated``)."""
    return Path(root) / "dated"


def cached_contracts(root: Path, timeframe: str, venues=None) -> list:
    """The contracts with a cached `timeframe` file under cache root `root` (read from the
    file names and identities; no network)."""
    import json

    import pyarrow.parquet as pq

    keys = {v.key: v for v in resolve_dated(venues)}
    folder = dated_root(root) / "ohlcv" / timeframe
    out = []
    for path in sorted(folder.glob("future-*.parquet")) if folder.exists() else ():
        m = _KEY.fullmatch(path.stem[len("future-"):])
        if not m or m["venue"] not in keys:
            continue
        try:
            meta = json.loads((pq.read_schema(path).metadata or {}).get(b"btcflow_nb", b"{}"))
        except Exception:  # noqa: BLE001 - reported when the file itself is read
            meta = {}
        expiry = pd.Timestamp(f"{m['day']}T{m['hm']}", tz="UTC")
        out.append(DatedContract(keys[m["venue"]], meta.get("symbol") or "?",
                                 int(expiry.value // 1_000_000)))
    return out


def read_dated(root: Path, timeframe: str, since_ms=None, until_ms=None, venues=None,
               errors: Optional[dict] = None) -> Optional[pd.DataFrame]:
    """The cached dated futures as the long frame of `MarketData.futures` (``venue, symbol,
    expiry, time, close, source``), clipped to [since, until]; None when none is cached.  A
    bad file is set aside by the cache and named in `errors` (the others still load)."""
    frames = []
    for c in cached_contracts(root, timeframe, venues):
        try:
            bars, _ = read_series(series_path(dated_root(root), "ohlcv", c, timeframe), "ohlcv",
                                  c, timeframe)
        except CacheError as exc:
            if errors is not None:
                errors[c.name] = str(exc)
            continue
        t = pd.DatetimeIndex(bars["time"]).as_unit("ms").asi8
        keep = np.ones(len(t), dtype=bool)
        if since_ms is not None:
            keep &= t >= since_ms
        if until_ms is not None:
            keep &= t <= until_ms
        bars = bars[keep]
        if len(bars):
            frames.append(pd.DataFrame({
                "venue": c.venue.key, "symbol": c.symbol, "expiry": c.expiry,
                "time": bars["time"].to_numpy(), "close": bars["close"].to_numpy(),
                "source": bars["source"].to_numpy()}))
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True)

