"""Venue registry: which exchanges and symbols `btcflow_nb.fetch` reads, as data.

`DEFAULT_VENUES` is the registry (one `btcflow_nb.sources.venue.Venue` per series: the
per-venue semantics -- funding basis, interval, OI units -- are documented there); `registry()`
adds the configuration file's venues, `resolve_venues()` turns a user's selection into venues,
`venue_table()` and `ccxt_has()` say what each venue offers.

Users add venues without editing the package: pass `Venue` objects in ``fetch(venues=[...])``
or list them under ``"venues"`` in the configuration file (see `btcflow_nb.sources.config`).
"""
from __future__ import annotations

from typing import Iterable, Optional

from .config import load_config
from .venue import Venue


def _perp(key, exchange_id, symbol, quote, contract="linear", **kw):
    return Venue(key=key, kind="perp", exchange_id=exchange_id, symbol=symbol, quote=quote,
                 contract=contract, funding_history=True, **kw)


#: The default registry (see DESIGN.md, "Data sources").
#:
#: Page sizes are each venue's real maximum per request where ccxt's source (4.5.x,
#: ``ccxt/async_support/<id>.py``) or the venue's documentation states it, because a page
#: shorter than the page size ends a series (see `btcflow_nb.sources.paging`): a size larger
#: than the venue serves would end series early.  `btcflow_nb.testing.fake_exchange` enforces
#: the same maxima, and tests/sources/test_venues.py checks that every declared page size comes
#: back full.
#:
#: History depth (``listed``, ``funding_from``, ``oi_history_from`` and the rolling limits, see
#: `btcflow_nb.sources.venue`): documented limits are cited beside each venue; first dates are
#: the market's listing (the venue's own market info -- Binance ``onboardDate``, Bybit
#: ``launchTime``, OKX ``listTime`` -- or its launch announcement), set at or before the first
#: bar (a date too early costs a few empty windows, one too late would lose rows).  The fake
#: exchange models the same depths in its own dialect data, independently.
DEFAULT_VENUES: tuple = (
    # --- spot ------------------------------------------------------------------------------
    # coinbase.fetch_ohlcv: ``maxLimit = 300`` (ccxt caps the window at 300 candles)
    # first candle 2015-07-20 (Coinbase Exchange's BTC-USD candles start there)
    Venue("coinbase", "spot", "coinbase", "BTC/USD", "USD", ohlcv_page_limit=300,
          listed="2015-07-20"),
    # kraken: the newest 720 bars only (paginate(..., 720))
    # (Kraken REST OHLC docs: "Returns up to 720 OHLC data points since now")
    Venue("kraken", "spot", "kraken", "BTC/USD", "USD", ohlcv_page_limit=720, until_param=(),
          ohlcv_depth_bars=720),
    # bitstamp.fetch_ohlcv: ``request['limit'] = min(limit, 1000)  # min 1, max 1000``
    # BTC/USD trading since 2011-08
    Venue("bitstamp", "spot", "bitstamp", "BTC/USD", "USD", ohlcv_page_limit=1000,
          listed="2011-08-01"),
    # binance.fetch_ohlcv: ``maxLimit = 1000``
    # BTCUSDT listed 2017-08-17 (Binance's opening day; its public-data klines start there)
    Venue("binance", "spot", "binance", "BTC/USDT", "USDT", market_types=("spot",),
          ohlcv_page_limit=1000, listed="2017-08-14"),
    # okx: /market/history-candles serves 100 rows (ccxt: ``requestMaxLimit`` 100 outside
    # /market/candles, which serves 300 of the newest 1440 bars only)
    # history-candles "from recent years" (OKX v5 docs); BTC-USDT traded since 2017
    Venue("okx", "spot", "okx", "BTC/USDT", "USDT", market_types=("spot",), ohlcv_page_limit=100,
          listed="2017-10-01"),
    # bybit.fetch_ohlcv: ``request['limit'] = limitResolved  # max 1000``
    # Bybit spot opened 2021-07
    Venue("bybit", "spot", "bybit", "BTC/USDT", "USDT", market_types=("spot",),
          ohlcv_page_limit=1000, listed="2021-07-01"),
    # --- perpetuals with funding and OI history --------------------------------------------
    # binance (usdm): klines ``maxLimit = 1000``; /fapi/v1/fundingRate "limit: default 100;
    # max 1000" (Binance USDS-M docs); openInterestHist paginate(..., 500) and "Only the data
    # of the latest 1 month is available" (Binance docs, Open Interest Statistics).
    # BTCUSDT perpetual: first kline 2019-09-08 (data.binance.vision futures/um klines; an
    # older exchangeInfo said onboardDate 1567965300000 = 2019-09-08 17:55, today's says
    # 1569398400000 = 2019-09-25, Binance's docs example), first funding 2019-09-10.
    _perp("binance", "binanceusdm", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=True,
          oi_amount="base", oi_value="quote", market_types=("linear",), ohlcv_page_limit=1000,
          funding_page_limit=1000, oi_page_limit=500, listed="2019-09-08",
          oi_history_days=30),
    # bybit: kline "max 1000"; funding history "Limit for data size per page. [1, 200]";
    # open interest "Max 200" (fetch_open_interest_history docstring).  BTCUSDT's
    # ``launchTime`` is 1585526400000 = 2020-03-30 (ccxt bybit.py fetch_markets example), but
    # its funding history starts 2020-03-25 16:00, so the listing is set to 2020-03-25
    _perp("bybit", "bybit", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=True,
          funding_interval_source="market", funding_interval_field="fundingInterval",
          funding_interval_units_per_hour=60, oi_amount="base", market_types=("linear",),
          ohlcv_page_limit=1000, funding_page_limit=200, oi_page_limit=200,
          listed="2020-03-25", oi_history_from="2020-03-25"),
    # okx: candles 100 (above); funding-rate-history paginate(..., 100); open interest
    # history "at most 100 for a swap or future market"
    _perp("okx", "okx", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=True,
          oi_amount="contracts", oi_value="usd", market_types=("swap",), ohlcv_page_limit=100,
          funding_page_limit=100, oi_page_limit=100,
          oi_timeframes=("1h", "1d"), until_param=("ohlcv", "oi_history"),
          # funding-rate-history "can retrieve data from the last 3 months"; open-interest
          # history "the latest 1,440 data entries" (OKX v5 docs); USDT swaps since 2019-12
          listed="2019-12-01", funding_depth_days=92, oi_history_rows=1440),
    # bitfinex: candles ``min(limit, 10000)``; derivatives status history (funding and OI):
    # "limit: Number of records in response (max. 5000)", default 100, newest first, ``start``
    # / ``end`` in ms (docs.bitfinex.com/reference/rest-public-derivatives-status-history;
    # rate limit 90 req/min, which ccxt encodes as cost 2.7 x its 250 ms rateLimit).  ccxt's
    # fetch_funding_rate_history sends no limit (its paginate uses 5000), so the 5000 goes
    # through params (limit_in_params): ~8,000 settlements since 2019-09 in 2 pages, not 80
    _perp("bitfinex", "bitfinex", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=True,
          oi_amount="base", oi_history_source="funding_info", oi_info_index=17,
          funding_interval_source="fixed", funding_interval_hours=8.0, ohlcv_page_limit=10000,
          funding_page_limit=5000, limit_in_params=("funding",), listed="2019-09-01"),
    # gate: contract candles ``maxLimit = 1999``; funding_rate: documented default 100 (no
    # maximum in ccxt, so the default is kept); contract_stats paginate(..., 100); BTC_USDT
    # perpetual: the oldest candle Gate serves is 2019-11-18 (public candle collections)
    _perp("gate", "gate", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=False,
          funding_interval_source="market", funding_interval_field="funding_interval",
          funding_interval_units_per_hour=3600, oi_amount="contracts", oi_value="usd",
          market_types=("swap",), until_param=("ohlcv", "funding"), ohlcv_page_limit=1999,
          funding_page_limit=100, oi_page_limit=100, listed="2019-11-18"),
    # htx: kline ``min(limit, 2000)``; linear funding ``min(limit, 100)  # max 100``; OI history:
    # the newest 200 periods
    _perp("htx", "htx", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=True,
          oi_amount="base", oi_snapshot_amount="contracts", oi_value="quote",
          market_types=("linear",), until_param=("ohlcv",), limit_param=("funding", "oi_history"),
          ohlcv_page_limit=2000, funding_page_limit=100, oi_page_limit=200,
          listed="2020-10-01", oi_history_rows=200),
    # kucoin futures (ccxt/async_support/kucoin.py):
    # * klines: fetch_contract_ohlcv ``maxLimit = 200`` ("For each query, the system would
    #   return at most 200 pieces of data"), and ccxt sends ``to = since + limit x timeframe``
    #   (it reads no ``until``: until_as_limit).  The venue keeps less kline history than the
    #   contract's life: a window from 2020-03-30 comes back empty (live fetch, 2026-11; also
    #   ccxt issue #25019, Kucoin/kucoin-api-docs#423), so the first bar is discovered
    #   (gallop_series) rather than assumed;
    # * funding: /api/v1/contract/funding-rates ``from`` / ``to`` (fetch_funding_rate_history,
    #   no page size sent by ccxt; the venue answers at most 100 rows, the newest of the window)
    #   and only recent months: "hard-limited to 100 records", >= 92 days kept (ccxt issue
    #   #27461), so 92 days, discovered from there;
    # * open interest: fetch_open_interest_history ``maxLimit = 200``, ``startAt`` / ``endAt``
    #   passed through unclamped, first sample unknown: discovered by galloping;
    # * XBTUSDTM ``firstOpenDate`` 1585555200000 = 2020-03-30 (contracts/active market info).
    _perp("kucoin", "kucoinfutures", "BTC/USDT:USDT", "USDT", oi_history=True, oi_snapshot=True,
          funding_interval_source="market", funding_interval_field="fundingRateGranularity",
          funding_interval_units_per_hour=3_600_000, oi_amount="contracts",
          market_types=("swap",), until_param=("funding", "oi_history"),
          until_as_limit=("ohlcv",), ohlcv_page_limit=200, funding_page_limit=100,
          oi_page_limit=200, listed="2020-03-30", funding_depth_days=92,
          gallop_series=("ohlcv", "funding", "oi_history")),
    # --- funding-only perpetuals -------------------------------------------------------------
    # deribit: chart data paginate(..., 5000); funding history by time window of hourly rows,
    # ``maxEntriesPerRequest = 744  # seems exchange returns max 744 items per request``;
    # BTC-PERPETUAL ``creation_timestamp`` 1534242287000 = 2018-08-14, ``contract_size`` 10
    # USD (ccxt deribit.py fetch_markets example)
    _perp("deribit", "deribit", "BTC/USD:BTC", "USD", contract="inverse", oi_snapshot=True,
          funding_basis="8h_equivalent", funding_interval_source="fixed",
          funding_interval_hours=1.0, oi_amount="contracts", oi_value="usd",
          ohlcv_page_limit=5000, funding_page_limit=744, listed="2018-08-14"),
    # Kraken Futures' funding endpoint has no paging: every reply is the whole history. Sending
    # no page size keeps ccxt from trimming it, and one reply then covers the series.
    # Charts: ``windowLimit = 2000``.  No OI history, and ccxt has no fetch_open_interest
    # there, but its ticker (/derivatives/api/v3/tickers/PF_XBTUSD, ccxt fetch_ticker) carries
    # ``openInterest`` in BTC (PF_ contracts are 1 BTC): recorded on every fetch as a snapshot.
    _perp("krakenfutures", "krakenfutures", "BTC/USD:USD", "USD", oi_snapshot=True,
          oi_amount="base", oi_ticker_field="openInterest",
          funding_basis="relative_per_interval", until_param=(),
          limit_param=("ohlcv", "oi_history"), ohlcv_page_limit=2000,
          funding_page_limit=1_000_000, listed="2022-01-01"),
    # hyperliquid: candleSnapshot serves 5000 candles, and "Only the most recent 5000 candles
    # are available"; fundingHistory at most 500 rows per request (Hyperliquid info-endpoint
    # docs; ccxt's default window is 500 hours); mainnet perps since 2023-05
    _perp("hyperliquid", "hyperliquid", "BTC/USDC:USDC", "USDC", oi_snapshot=True,
          funding_interval_source="fixed", funding_interval_hours=1.0, oi_amount="base",
          market_types=("swap",), ohlcv_page_limit=5000, funding_page_limit=500,
          ohlcv_depth_bars=5000, funding_from="2023-05-01"),
    # --- coin-margined (inverse) perpetuals: contracts worth USD, margined in BTC ----------
    # binance COIN-M BTCUSD_PERP: ``onboardDate`` 1596006000000 = 2020-07-29 and
    # ``contractSize`` 100 (USD; ccxt binance.py fetch_markets dapi example); first kline
    # 2020-08-10 (the listing is set to onboardDate, at or before it); klines: "The difference
    # between startTime and endTime can only be up to 200 days" (Binance COIN-M docs), so 200
    # bars per page; funding
    # "limit: default 100; max 1000"; openInterestHist (pair + contractType) paginate(..., 500),
    # "latest 1 month" only; its sumOpenInterestValue is in BTC (ccxt: openInterestValue)
    _perp("binance_coinm", "binancecoinm", "BTC/USD:BTC", "USD", contract="inverse",
          oi_history=True, oi_snapshot=True, oi_amount="contracts", oi_value=None,
          oi_btc_field="openInterestValue", market_types=("inverse",), ohlcv_page_limit=200,
          funding_page_limit=1000, oi_page_limit=500, listed="2020-07-29", oi_history_days=30),
    # bybit inverse BTCUSD (traded since 2018-11; set early): 1 USD per contract (ccxt bybit.py
    # parse_market: an inverse market's contractSize is its minimum order quantity, 1 for
    # BTCUSD); open interest in USD (ccxt: openInterestValue for inverse); pages as linear
    _perp("bybit_inverse", "bybit", "BTC/USD:BTC", "USD", contract="inverse", oi_history=True,
          oi_snapshot=True, funding_interval_source="market",
          funding_interval_field="fundingInterval", funding_interval_units_per_hour=60,
          oi_amount="contracts", oi_value="usd", market_types=("inverse",),
          ohlcv_page_limit=1000, funding_page_limit=200, oi_page_limit=200,
          listed="2018-11-01", oi_history_from="2018-11-01"),
    # okx BTC-USD-SWAP (since 2018-12; set early): ``ctVal`` 100 USD (ccxt okx.py parse_market:
    # contractSize = ctVal); OI history rows carry contracts, BTC (ccxt baseVolume = oiCcy) and
    # USD; depths as OKX's USDT swap
    _perp("okx_inverse", "okx", "BTC/USD:BTC", "USD", contract="inverse", oi_history=True,
          oi_snapshot=True, oi_amount="contracts", oi_value="usd", oi_btc_field="baseVolume",
          market_types=("swap",), ohlcv_page_limit=100, funding_page_limit=100,
          oi_page_limit=100, oi_timeframes=("1h", "1d"), until_param=("ohlcv", "oi_history"),
          listed="2018-12-01", funding_depth_days=92, oi_history_rows=1440),
    # --- stablecoin fx: USD per USDT / USDC (Kraken spot closes) -----------------------------
    Venue("usdt", "fx", "kraken", "USDT/USD", "USD", ohlcv_page_limit=720, until_param=()),
    Venue("usdc", "fx", "kraken", "USDC/USD", "USD", ohlcv_page_limit=720, until_param=()),
)


#: Venues whose history only an import brings (`Venue.import_only`): `fetch` never asks them.
#: BitMEX XBTUSD, the largest BTC perpetual until 2019-20, is no longer in ccxt (no ``bitmex``
#: exchange class since ccxt 4.x): import its history with ``btcflow-nb import FILE --format
#: long`` (venue ``perp:bitmex``).  Inverse: 1 USD per contract; funding every 8 h (24 h before
#: 2016-06, an imported row's ``interval_hours`` says which).
IMPORT_ONLY_VENUES: tuple = (
    _perp("bitmex", "bitmex", "BTC/USD:BTC", "USD", contract="inverse", oi_history=True,
          funding_interval_source="fixed", funding_interval_hours=8.0, oi_amount="contracts",
          oi_value="usd", listed="2016-05-13", import_only=True),
)


def registry(extra: Iterable[Venue] = ()) -> tuple:
    """Default venues, the import-only ones, then venues from the configuration file, then
    `extra`.

    A later entry with the same qualified name (``kind:key``) replaces an earlier one, so a
    configuration file can change a default venue's symbol.
    """
    merged = {v.name: v for v in DEFAULT_VENUES + IMPORT_ONLY_VENUES}
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
    if not isinstance(venues, (list, tuple, set, frozenset)):
        raise ValueError(f"venues={venues!r:.80} must be a venue name, a Venue, or a list of "
                         f"them (or None for every spot and perp venue); known venues: "
                         f"{sorted(by_name)}")
    if not venues:
        raise ValueError(f"venues={venues!r} selects no venue; pass None for every spot and "
                         f"perp venue, or some of {sorted(by_name)}")
    chosen: dict = {}
    for item in venues:
        if isinstance(item, Venue):
            chosen[item.name] = item
            continue
        if not isinstance(item, str):
            raise ValueError(f"venues: {item!r} must be a venue name (a string) or a Venue")
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


def fetchable_venues(chosen, venues) -> list:
    """`chosen` without import-only venues (`Venue.import_only`: skipped when a group such as
    "perp" or all venues were asked); one named itself is a ValueError saying how its history
    is brought in."""
    items = [venues] if isinstance(venues, (str, Venue)) else list(venues or ())
    asked = {i.name if isinstance(i, Venue) else str(i).strip().lower() for i in items}
    named = [v.name for v in chosen if v.import_only and ({v.name, v.key, v} & asked)]
    if named:
        raise ValueError(f"venue(s) {named} cannot be fetched: not in ccxt, import only -- use "
                         f"btcflow_nb.sources.imports.import_file(path, 'long') or `btcflow-nb "
                         f"import file PATH --format long` with venue {named[0]!r}")
    return [v for v in chosen if not v.import_only]
