"""Venue registry: which exchanges and symbols `btcflow_nb.fetch` reads, as data.

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

Users add venues without editing the package: pass `Venue` objects in ``fetch(venues=[...])``
or list them under ``"venues"`` in the configuration file (see `btcflow_nb.config`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Optional

KINDS = ("spot", "perp", "fx")
QUOTES = ("USD", "USDT", "USDC")
CONTRACTS = ("spot", "linear", "inverse")
FUNDING_BASES = ("per_interval", "8h_equivalent", "relative_per_interval")
INTERVAL_SOURCES = ("market", "spacing", "fixed")
OI_AMOUNTS = ("contracts", "base")
OI_VALUES = ("quote", "usd", None)
OI_HISTORY_SOURCES = ("ccxt", "funding_info")
SERIES = ("ohlcv", "funding", "oi_history")


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
    market_types: tuple = ()
    oi_history_source: str = "ccxt"
    oi_info_index: Optional[int] = None
    oi_timeframes: tuple = ("1h", "4h", "1d")
    ohlcv_page_limit: int = 300
    funding_page_limit: int = 100
    oi_page_limit: int = 100
    until_param: tuple = SERIES
    limit_param: tuple = SERIES

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
        for series in self.until_param + self.limit_param:
            _check_choice("until_param / limit_param entry", series, SERIES)
        if not self.key or self.key != self.key.lower():
            raise ValueError(f"venue key must be non-empty lower case, got {self.key!r}")
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
        for name in ("market_types", "oi_timeframes", "until_param", "limit_param"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

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


def _check_choice(what, value, choices):
    if value not in choices:
        raise ValueError(f"{what}={value!r} is not valid; choose one of {list(choices)}")


def _perp(key, exchange_id, symbol, quote, contract="linear", **kw):
    return Venue(key=key, kind="perp", exchange_id=exchange_id, symbol=symbol, quote=quote,
                 contract=contract, funding_history=True, **kw)


#: The default registry (see DESIGN.md, "Data sources").
#:
#: Page sizes are each venue's real maximum per request where ccxt's source (4.5.x,
#: ``ccxt/async_support/<id>.py``) or the venue's documentation states it, because a page
#: shorter than the page size ends a series (see `btcflow_nb._fetch`): a size larger than the
#: venue serves would end series early.  `btcflow_nb.testing.fake_exchange` enforces the same
#: maxima, and tests/test_venues.py checks that every declared page size comes back full.
DEFAULT_VENUES: tuple = (
    # --- spot ------------------------------------------------------------------------------
    # coinbase.fetch_ohlcv: ``maxLimit = 300`` (ccxt caps the window at 300 candles)
    Venue("coinbase", "spot", "coinbase", "BTC/USD", "USD", ohlcv_page_limit=300),
    # kraken: the newest 720 bars only (paginate(..., 720))
    Venue("kraken", "spot", "kraken", "BTC/USD", "USD", ohlcv_page_limit=720, until_param=()),
    # bitstamp.fetch_ohlcv: ``request['limit'] = min(limit, 1000)  # min 1, max 1000``
    Venue("bitstamp", "spot", "bitstamp", "BTC/USD", "USD", ohlcv_page_limit=1000),
    # binance.fetch_ohlcv: ``maxLimit = 1000``
    Venue("binance", "spot", "binance", "BTC/USDT", "USDT", market_types=("spot",),
          ohlcv_page_limit=1000),
    # okx: /market/history-candles serves 100 rows (ccxt: ``requestMaxLimit`` 100 outside
    # /market/candles, which serves 300 of the newest 1440 bars only)
    Venue("okx", "spot", "okx", "BTC/USDT", "USDT", market_types=("spot",), ohlcv_page_limit=100),
    # bybit.fetch_ohlcv: ``request['limit'] = limitResolved  # max 1000``
    Venue("bybit", "spot", "bybit", "BTC/USDT", "USDT", market_types=("spot",),
          ohlcv_page_limit=1000),
    # --- perpetuals with funding and OI history --------------------------------------------
    # binance (usdm): klines ``maxLimit = 1000``; /fapi/v1/fundingRate "limit: default 100;
    # max 1000" (Binance USDS-M docs); openInterestHist paginate(..., 500)
    _perp("binance", "binanceusdm", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=True,
          oi_amount="base", oi_value="quote", market_types=("linear",), ohlcv_page_limit=1000,
          funding_page_limit=1000, oi_page_limit=500),
    # bybit: kline "max 1000"; funding history "Limit for data size per page. [1, 200]";
    # open interest "Max 200" (fetch_open_interest_history docstring)
    _perp("bybit", "bybit", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=True,
          funding_interval_source="market", funding_interval_field="fundingInterval",
          funding_interval_units_per_hour=60, oi_amount="base", market_types=("linear",),
          ohlcv_page_limit=1000, funding_page_limit=200, oi_page_limit=200),
    # okx: candles 100 (above); funding-rate-history paginate(..., 100); open interest
    # history "at most 100 for a swap or future market"
    _perp("okx", "okx", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=True,
          oi_amount="contracts", oi_value="usd", market_types=("swap",), ohlcv_page_limit=100,
          funding_page_limit=100, oi_page_limit=100,
          oi_timeframes=("1h", "1d"), until_param=("ohlcv", "oi_history")),
    # bitfinex: candles ``min(limit, 10000)``; status history: ccxt sends no limit, so the
    # venue's default of 100 rows applies (its maximum, 5000, needs an explicit limit)
    _perp("bitfinex", "bitfinex", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=True,
          oi_amount="base", oi_history_source="funding_info", oi_info_index=17,
          funding_interval_source="fixed", funding_interval_hours=8.0, ohlcv_page_limit=10000,
          funding_page_limit=100),
    # gate: contract candles ``maxLimit = 1999``; funding_rate: documented default 100 (no
    # maximum in ccxt, so the default is kept); contract_stats paginate(..., 100)
    _perp("gate", "gate", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=False,
          funding_interval_source="market", funding_interval_field="funding_interval",
          funding_interval_units_per_hour=3600, oi_amount="contracts", oi_value="usd",
          market_types=("swap",), until_param=("ohlcv", "funding"), ohlcv_page_limit=1999,
          funding_page_limit=100, oi_page_limit=100),
    # htx: kline ``min(limit, 2000)``; linear funding ``min(limit, 100)  # max 100``; OI history:
    # the newest 200 periods
    _perp("htx", "htx", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=True,
          oi_amount="base", oi_snapshot_amount="contracts", oi_value="quote",
          market_types=("linear",), until_param=("ohlcv",), limit_param=("funding", "oi_history"),
          ohlcv_page_limit=2000, funding_page_limit=100, oi_page_limit=200),
    # kucoin futures: klines 500 per request (KuCoin docs; the registry asks 300); public funding
    # history 100 rows; open interest ``maxLimit = 200``
    _perp("kucoin", "kucoinfutures", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=True,
          funding_interval_source="market", funding_interval_field="fundingRateGranularity",
          funding_interval_units_per_hour=3_600_000, oi_amount="contracts",
          market_types=("swap",), until_param=("funding", "oi_history"), ohlcv_page_limit=300,
          funding_page_limit=100, oi_page_limit=200),
    # --- funding-only perpetuals -------------------------------------------------------------
    # deribit: chart data paginate(..., 5000); funding history by time window of hourly rows,
    # ``maxEntriesPerRequest = 744  # seems exchange returns max 744 items per request``
    _perp("deribit", "deribit", "BTC/USD:BTC", "USD", contract="inverse", oi_snapshot=True,
          funding_basis="8h_equivalent", funding_interval_source="fixed",
          funding_interval_hours=1.0, oi_amount="contracts", oi_value="usd",
          ohlcv_page_limit=5000, funding_page_limit=744),
    # Kraken Futures' funding endpoint has no paging: every reply is the whole history. Sending
    # no page size keeps ccxt from trimming it, and one reply then covers the series.
    # Charts: ``windowLimit = 2000``.
    _perp("krakenfutures", "krakenfutures", "BTC/USD:USD", "USD",
          funding_basis="relative_per_interval", until_param=(),
          limit_param=("ohlcv", "oi_history"), ohlcv_page_limit=2000,
          funding_page_limit=1_000_000),
    # hyperliquid: candleSnapshot serves 5000 candles; fundingHistory at most 500 rows per
    # request (Hyperliquid info-endpoint docs; ccxt's default window is 500 hours)
    _perp("hyperliquid", "hyperliquid", "BTC/USDC:USDC", "USDC", oi_snapshot=True,
          funding_interval_source="fixed", funding_interval_hours=1.0, oi_amount="base",
          market_types=("swap",), ohlcv_page_limit=5000, funding_page_limit=500),
    # --- stablecoin fx: USD per USDT / USDC (Kraken spot closes) -----------------------------
    Venue("usdt", "fx", "kraken", "USDT/USD", "USD", ohlcv_page_limit=720, until_param=()),
    Venue("usdc", "fx", "kraken", "USDC/USD", "USD", ohlcv_page_limit=720, until_param=()),
)


def registry(extra: Iterable[Venue] = ()) -> tuple:
    """Default venues, then venues from the configuration file, then `extra`.

    A later entry with the same qualified name (``kind:key``) replaces an earlier one, so a
    configuration file can change a default venue's symbol.
    """
    from .config import load_config

    merged = {v.name: v for v in DEFAULT_VENUES}
    for venue in list(load_config().venues) + list(extra):
        merged[venue.name] = venue
    return tuple(merged.values())


def resolve_venues(venues=None, *, known: Optional[Iterable[Venue]] = None) -> list:
    """Turn a user's venue selection into `Venue` objects (fx venues are added by `fetch`).

    venues: None (all spot and perp venues of the registry) or an iterable of `Venue` objects
        and strings.  A string is a qualified name ("spot:binance", "perp:kucoin"), a bare key
        ("binance" = every kind with that key), "spot" / "perp" (every venue of that kind).
    Raises ValueError naming an unknown venue and listing the known ones.
    """
    known = tuple(known) if known is not None else registry()
    by_name = {v.name: v for v in known}
    if venues is None:
        return [v for v in known if v.kind in ("spot", "perp")]
    if isinstance(venues, (str, Venue)):
        venues = [venues]
    chosen: dict = {}
    for item in venues:
        if isinstance(item, Venue):
            chosen[item.name] = item
            continue
        if not isinstance(item, str):
            raise ValueError(f"venue {item!r} must be a string or a Venue")
        text = item.strip().lower()
        if text in ("spot", "perp"):
            matches = [v for v in known if v.kind == text]
        elif text in by_name:
            matches = [by_name[text]]
        else:
            matches = [v for v in known if v.key == text and v.kind in ("spot", "perp")]
        if not matches:
            listed = sorted(n for n in by_name if not n.startswith("fx:"))
            raise ValueError(f"unknown venue {item!r}; known venues: {listed} (or a bare key "
                             "such as 'binance', or 'spot' / 'perp')")
        for v in matches:
            chosen[v.name] = v
    return list(chosen.values())


def venue_table(venues: Optional[Iterable[Venue]] = None, *, with_ccxt: bool = True):
    """What each venue offers: a DataFrame, one row per venue, for notebooks and the CLI.

    Columns: name, exchange_id, symbol, quote, contract, funding_history, oi_history,
    oi_snapshot, funding_interval (how it is known), and ccxt_has (what the installed ccxt
    declares for fetchOHLCV / fetchFundingRateHistory / fetchOpenInterestHistory /
    fetchOpenInterest, read from the exchange class without any network; left out with
    ``with_ccxt=False``, e.g. for output that must not change with the ccxt version).
    """
    import pandas as pd

    rows = []
    for v in (registry() if venues is None else venues):
        rows.append({
            "name": v.name, "exchange_id": v.exchange_id, "symbol": v.symbol, "quote": v.quote,
            "contract": v.contract, "funding_history": v.funding_history,
            "oi_history": v.oi_history, "oi_snapshot": v.oi_snapshot,
            "funding_interval": _interval_text(v) if v.funding_history else "",
            "ccxt_has": _ccxt_has_text(v.exchange_id) if with_ccxt else "",
        })
    frame = pd.DataFrame(rows)
    return frame if with_ccxt else frame.drop(columns="ccxt_has")


def _interval_text(v: Venue) -> str:
    if v.funding_interval_source == "fixed":
        return f"fixed {v.funding_interval_hours:g}h"
    if v.funding_interval_source == "market":
        return f"market info ({v.funding_interval_field})"
    return "event spacing"


CCXT_CAPABILITIES = ("fetchOHLCV", "fetchFundingRateHistory", "fetchOpenInterestHistory",
                     "fetchOpenInterest")


def ccxt_has(exchange_id: str) -> dict:
    """The installed ccxt's `has` flags relevant here, for one exchange id (no network)."""
    import ccxt

    cls = getattr(ccxt, exchange_id, None)
    if cls is None:
        raise ValueError(f"ccxt has no exchange {exchange_id!r}")
    has = cls().has
    return {name: bool(has.get(name)) for name in CCXT_CAPABILITIES}


def _ccxt_has_text(exchange_id: str) -> str:
    try:
        has = ccxt_has(exchange_id)
    except ValueError:
        return "not in ccxt"
    short = {"fetchOHLCV": "ohlcv", "fetchFundingRateHistory": "funding",
             "fetchOpenInterestHistory": "oi_history", "fetchOpenInterest": "oi"}
    return " ".join(short[k] for k, ok in has.items() if ok)
