"""The `Venue` record: where one series lives and how to read it, and its vocabularies.

Each `Venue` says where a series lives (ccxt exchange id and unified symbol), what it is
(spot / perpetual / the USDT and USDC fx series), what it is quoted and margined in, and what
the venue's API offers through ccxt (funding history, open-interest history, a current OI
snapshot).  It also says how the funding interval is known and what the venue's funding rate
means, because venues disagree:

* most venues report the fraction paid at each settlement (``"per_interval"``);
* Deribit reports, on *hourly* rows, the rate scaled to 8 hours (``interest_8h``), so the
  fraction paid for the hour is ``interest_8h / 8`` (``"8h_equivalent"``);
* Kraken Futures reports an absolute rate (USD per contract) and a *relative* rate
  (absolute / price, per settlement period); ccxt returns the relative one, which is the
  fraction we want (``"relative_per_interval"``).

Open interest is converted to BTC and USD from what each venue reports:

* ``oi_amount``: what ccxt's ``openInterestAmount`` counts -- ``"contracts"`` (multiply by the
  market's contract size: BTC for linear contracts, USD for inverse ones) or ``"base"`` (BTC);
* ``oi_value``: what ``openInterestValue`` is -- ``"quote"`` (in the venue's quote currency,
  converted to USD with the fx series), or ``None`` (not reported; USD = BTC x USD price).
* inverse (coin-margined) contracts are worth a fixed USD amount each (ccxt's contractSize:
  Binance COIN-M 100, Bybit inverse 1, OKX 100, Deribit 10), so USD = contracts x size exactly
  and BTC = USD / price -- unless the venue reports the BTC amount itself, named by
  ``oi_btc_field`` (the ccxt structure's field: OKX's ``baseVolume`` is its ``oiCcy``, Binance
  COIN-M's ``openInterestValue`` is its ``sumOpenInterestValue`` in BTC).

History depth (what the venue's API serves, cited per venue in the registry) is data too:
``listed`` / ``funding_from`` / ``oi_history_from`` (the first bar, funding event, OI sample the
API serves, ISO dates) and rolling limits (``ohlcv_depth_bars``: only the newest N bars;
``funding_depth_days`` / ``oi_history_days``: only the last N days; ``oi_history_rows``: only the
newest N periods).  `Venue.first_served` turns them into the earliest time worth asking for, so
an early ``since`` costs no requests over windows the venue cannot fill.  ``None`` means "not
known": the series is then discovered by paging -- in a few requests for a series in
``gallop_series`` (windows grow x64 until the first row, `btcflow_nb.sources.paging`), for a
venue asked without ``until`` by its own answer (it returns its oldest rows from ``since``),
else window by window.  A date set too late would lose rows, one set too early only costs a few empty
windows, so uncertain dates are set early.

The venues `btcflow_nb.fetch` reads by default are in `btcflow_nb.sources.venues` (the registry).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Optional

DAY_MS = 86_400_000

KINDS = ("spot", "perp", "fx")
QUOTES = ("USD", "USDT", "USDC")
CONTRACTS = ("spot", "linear", "inverse")
FUNDING_BASES = ("per_interval", "8h_equivalent", "relative_per_interval")
INTERVAL_SOURCES = ("market", "spacing", "fixed")
OI_AMOUNTS = ("contracts", "base")
OI_VALUES = ("quote", "usd", None)
OI_HISTORY_SOURCES = ("ccxt", "funding_info")
SERIES = ("ohlcv", "funding", "oi_history")


#: A venue key is a safe file name: it is part of every cache file's name.
_SAFE_KEY = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Venue:
    """One series at one exchange.

    key: short lower-case venue key used as the column / ``venue`` value in MarketData.
    kind: "spot", "perp" or "fx" (fx: the USD price of a stablecoin, e.g. Kraken USDT/USD).
    exchange_id: the ccxt exchange id ("binanceusdm", "kucoinfutures", ...).
    symbol: the ccxt unified symbol ("BTC/USDT:USDT").
    quote: currency of the prices ("USD", "USDT", "USDC").
    contract: "spot", "linear" (contract size in BTC) or "inverse" (contract size in USD).
    funding_history / oi_history / oi_snapshot: what the venue serves through ccxt.
    funding_basis: meaning of ccxt's fundingRate (see module docstring).
    funding_interval_source: "market" (read ``funding_interval_field`` from the market's info;
        hours = value / ``funding_interval_units_per_hour``, e.g. 60 for minutes), "spacing"
        (hours between consecutive settlements) or "fixed" (``funding_interval_hours``).
    oi_amount / oi_value: meaning of ccxt's openInterestAmount / openInterestValue;
        oi_snapshot_amount: the amount's meaning in fetch_open_interest when it differs (HTX
        reports coins in its OI history but contracts in its current OI).
    market_types: ccxt ``options['fetchMarkets']['types']`` needed to load this market (keeps
        load_markets to one request instead of one per product family).
    oi_ticker_field: for a venue whose ccxt exchange has no fetch_open_interest but whose
        ticker carries the current OI (Kraken Futures): the field of the ticker's raw ``info``
        read as the snapshot's ``openInterestAmount`` (None: fetch_open_interest is used).
    oi_history_source: "ccxt" (fetch_open_interest_history) or "funding_info" (the OI column
        `oi_info_index` of the funding rows' raw arrays, for Bitfinex whose status history
        carries both and whose ccxt OI-history parser drops the timestamps).
    oi_timeframes: OI-history periods the venue serves among 1h/4h/1d.
    *_page_limit: rows per request: the venue's page size, i.e. exactly what it returns when
        more rows exist (its maximum, or its default when ccxt sends no size).  A page at
        least two rows shorter ends the series, so this must never exceed what the venue
        serves.
    until_param: series for which ccxt turns ``params={"until": ms}`` into the venue's end
        parameter (for the others it would leak into the query string, so it is not sent).
    limit_param: series for which a page size is sent (HTX ignores its time window when given
        one, so its candles are paged by time window only).
    limit_in_params: series whose page size ccxt drops from the request it builds (Bitfinex's
        derivatives-status history: ccxt's ``fetch_funding_rate_history`` sends ``symbol``,
        ``start`` and ``end`` only, so the venue answers its default of 100 rows): the page size
        is also passed as the venue's own ``limit`` query parameter through ``params`` (ccxt
        appends unknown params to the query), so the venue serves its maximum.
    until_as_limit: series whose window end ccxt derives from the page size instead of reading
        ``until`` -- KuCoin Futures' klines: ccxt sends ``to = since + limit x timeframe``
        (``fetch_contract_ohlcv``) -- so a window ``[since, until]`` is asked as the page size
        ``(until - since) // step`` (`btcflow_nb.sources.paging._page_call`) and paged like a
        series with ``until``: an empty window then moves on instead of ending the series.
    listed / funding_from / oi_history_from: ISO dates of the first bar, funding event and OI
        history sample the venue's API serves (None: unknown; ``funding_from`` defaults to
        ``listed``).
    ohlcv_depth_bars: the venue serves only its newest N bars (Kraken 720).
    funding_depth_days / oi_history_days: the venue serves only the last N days.
    oi_history_rows: the venue serves only the newest N OI-history periods.
    gallop_series: series whose empty windows may grow (`btcflow_nb.sources.paging`): only
        where the venue and ccxt honour any ``until`` window asked (a venue or ccxt that
        clamped a long window would make rows be skipped), e.g. KuCoin's OI history.
    import_only: the venue is not reachable through ccxt (BitMEX left it): its rows come only
        from imports (`btcflow_nb.sources.imports`, ``btcflow-nb import``); `fetch` never asks
        it and refuses it by name, the cache and `MarketData` read it like any venue.
    funding_clamp: the largest |funding rate| per interval the venue documents (a fraction),
        or None (unknown: `btcflow_nb.sources.checks.FUNDING_BOUND`, 3 %, applies); a row
        beyond it is rejected before it is cached.
    """

    key: str
    kind: str
    exchange_id: str
    symbol: str
    quote: str = "USD"
    contract: str = "spot"
    funding_history: bool = False
    oi_history: bool = False
    oi_snapshot: bool = False
    funding_basis: str = "per_interval"
    funding_interval_source: str = "spacing"
    funding_interval_field: Optional[str] = None
    funding_interval_units_per_hour: float = 1.0
    funding_interval_hours: Optional[float] = None
    oi_amount: str = "contracts"
    oi_snapshot_amount: Optional[str] = None
    oi_value: Optional[str] = None
    oi_btc_field: Optional[str] = None
    oi_ticker_field: Optional[str] = None
    market_types: tuple = ()
    oi_history_source: str = "ccxt"
    oi_info_index: Optional[int] = None
    oi_timeframes: tuple = ("1h", "4h", "1d")
    ohlcv_page_limit: int = 300
    funding_page_limit: int = 100
    oi_page_limit: int = 100
    until_param: tuple = SERIES
    limit_param: tuple = SERIES
    limit_in_params: tuple = ()
    until_as_limit: tuple = ()
    listed: Optional[str] = None
    funding_from: Optional[str] = None
    oi_history_from: Optional[str] = None
    ohlcv_depth_bars: Optional[int] = None
    funding_depth_days: Optional[float] = None
    oi_history_days: Optional[float] = None
    oi_history_rows: Optional[int] = None
    gallop_series: tuple = ()
    funding_clamp: Optional[float] = None
    import_only: bool = False

    def __post_init__(self):
        _check_choice("kind", self.kind, KINDS)
        _check_choice("quote", self.quote, QUOTES)
        _check_choice("contract", self.contract, CONTRACTS)
        _check_choice("funding_basis", self.funding_basis, FUNDING_BASES)
        _check_choice("funding_interval_source", self.funding_interval_source, INTERVAL_SOURCES)
        _check_choice("oi_amount", self.oi_amount, OI_AMOUNTS)
        _check_choice("oi_value", self.oi_value, OI_VALUES)
        if self.oi_snapshot_amount is not None:
            _check_choice("oi_snapshot_amount", self.oi_snapshot_amount, OI_AMOUNTS)
        _check_choice("oi_history_source", self.oi_history_source, OI_HISTORY_SOURCES)
        for series in (self.until_param + self.limit_param + tuple(self.gallop_series)
                       + tuple(self.until_as_limit) + tuple(self.limit_in_params)):
            _check_choice("until_param / limit_param / limit_in_params / until_as_limit entry",
                          series, SERIES)
        if not isinstance(self.key, str) or not _SAFE_KEY.fullmatch(self.key):
            raise ValueError(f"venue key {self.key!r} is not valid; valid: lower-case letters, "
                             f"digits and '_' (starting with a letter), e.g. 'binance_coinm' -- "
                             f"it names cache files, so no '/', '..' or spaces")
        if self.kind == "spot" and self.contract != "spot":
            raise ValueError(f"spot venue {self.key!r} must have contract='spot'")
        if self.kind == "perp" and self.contract == "spot":
            raise ValueError(f"perp venue {self.key!r} needs contract 'linear' or 'inverse'")
        if self.funding_interval_source == "fixed" and not self.funding_interval_hours:
            raise ValueError(f"venue {self.key!r}: funding_interval_source='fixed' needs "
                             "funding_interval_hours")
        if self.funding_interval_source == "market" and not self.funding_interval_field:
            raise ValueError(f"venue {self.key!r}: funding_interval_source='market' needs "
                             "funding_interval_field")
        for name in ("market_types", "oi_timeframes", "until_param", "limit_param",
                     "gallop_series", "until_as_limit", "limit_in_params"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("listed", "funding_from", "oi_history_from"):
            _date_ms(getattr(self, name), f"venue {self.key!r} {name}")

    def first_served(self, series: str, now_ms: int, step_ms: int) -> Optional[int]:
        """Earliest time (epoch ms) the venue's API serves for `series` ("ohlcv", "funding",
        "oi_history") as of `now_ms`, or None when unknown.

        The later of the first date (``listed`` / ``funding_from`` / ``oi_history_from``) and
        the rolling limit (``now - depth``; `step_ms` is the bar or OI period for a limit in
        rows).  A rolling limit is widened by `DEPTH_MARGIN_MS` (the venue's clock and ours may
        differ by days, e.g. a cache filled earlier), so a clamp never drops a served row."""
        _check_choice("series", series, SERIES)
        first = {"ohlcv": self.listed, "funding": self.funding_from or self.listed,
                 "oi_history": self.oi_history_from}[series]
        depth = {"ohlcv": self.ohlcv_depth_bars and self.ohlcv_depth_bars * step_ms,
                 "funding": self.funding_depth_days and self.funding_depth_days * DAY_MS,
                 "oi_history": _min_known(
                     self.oi_history_days and self.oi_history_days * DAY_MS,
                     self.oi_history_rows and self.oi_history_rows * step_ms)}[series]
        bounds = [b for b in (_date_ms(first, series),
                              None if not depth else int(now_ms - depth - DEPTH_MARGIN_MS))
                  if b is not None]
        return max(bounds) if bounds else None

    def depth_text(self, series: str) -> str:
        """What limits `series` at this venue, in words ("" when nothing is known)."""
        if series == "ohlcv" and self.ohlcv_depth_bars:
            return f"the venue serves only its newest {self.ohlcv_depth_bars} bars"
        if series == "funding" and self.funding_depth_days:
            return f"the venue serves only the last {self.funding_depth_days:g} days"
        if series == "oi_history" and self.oi_history_days:
            return f"the venue serves only the last {self.oi_history_days:g} days"
        if series == "oi_history" and self.oi_history_rows:
            return f"the venue serves only the newest {self.oi_history_rows} periods"
        first = {"ohlcv": self.listed, "funding": self.funding_from or self.listed,
                 "oi_history": self.oi_history_from}[series]
        if first and series in self.gallop_series:   # a first row found by asking
            return f"listed {first}, but it serves less; its first row was discovered"
        return f"the venue's history starts {first}" if first else ""

    @property
    def name(self) -> str:
        """Qualified name, unique across kinds: "spot:binance", "perp:binance", "fx:usdt"."""
        return f"{self.kind}:{self.key}"

    @property
    def field(self) -> str:
        """MarketData field holding this venue's closes ("spot", "perp" or "fx")."""
        return self.kind

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, entry: dict) -> "Venue":
        """Build a venue from a plain mapping (e.g. a configuration file entry)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ValueError(f"unknown venue field(s) {unknown}; valid fields: {sorted(known)}")
        return cls(**entry)


#: slack added to rolling depth limits (see `Venue.first_served`)
DEPTH_MARGIN_MS = 7 * DAY_MS


def _min_known(*values):
    known = [v for v in values if v]
    return min(known) if known else None


def _date_ms(text, what) -> Optional[int]:
    """An ISO date (UTC) as epoch ms; None stays None; anything else is a ValueError."""
    if text is None:
        return None
    import pandas as pd

    try:
        ts = pd.Timestamp(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}={text!r} is not an ISO date such as '2019-09-08'") from exc
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value // 1_000_000)


def _check_choice(what, value, choices):
    if value not in choices:
        raise ValueError(f"{what}={value!r} is not valid; choose one of {list(choices)}")
