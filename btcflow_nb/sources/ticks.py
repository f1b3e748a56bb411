"""Live ticks: one poll of the selected venues' last prices, current funding and current OI.

>>> poller = TickPoller(["spot:coinbase", "perp:binance"])      # doctest: +SKIP
>>> ticks = await poller.poll()                                  # doctest: +SKIP
>>> ticks.frame()                                                # doctest: +SKIP
>>> await poller.close()                                         # doctest: +SKIP

What one poll asks, per ccxt exchange (all exchanges concurrently, each within its rate limit)
--------------------------------------------------------------------------------------------
1. **Last prices**: one ``fetch_tickers`` request for the venue's symbols of one product family
   (spot, or swaps; Bybit asks per category: linear / inverse) when the exchange has several
   selected there and ccxt offers it -- Kraken's spot BTC/USD with the USDT/USD and USDC/USD fx
   pairs, OKX's two swaps --, else ``fetch_ticker`` per symbol (one request each).
2. **Funding** (perpetuals): ``fetch_funding_rate`` -> the rate accruing over the current
   interval (``funding_rate``, a fraction per interval, settling at ``funding_time``) and the
   next / predicted rate when the venue publishes one (``next_funding_rate``: OKX, Gate,
   Bitfinex, Kraken Futures).  Deribit's is read from its ticker (``funding_8h / 8`` per hour,
   the same basis as its history), because ccxt's ``fetch_funding_rate`` there asks a window on
   the wall clock and returns a sum over it.  Rates are on the venue's basis converted as the
   funding history is (`btcflow_nb.sources.venue`: Kraken Futures' relative rate, ...).
3. **Open interest** (venues with an OI snapshot): ``fetch_open_interest``, or the ticker's own
   field where ccxt has none (Kraken Futures ``openInterest`` in BTC, Gate ``total_size`` in
   contracts), converted to BTC and USD exactly as fetched snapshots are
   (`btcflow_nb.sources.parse.oi_frame`, `~btcflow_nb.sources.parse.oi_to_btc_usd`) with the
   tick's own prices and fx.

Exchanges are built once (`btcflow_nb.sources.exchanges`: configuration, ``api_base``, the
same pacing from request start, ``rateLimit`` x the endpoint's cost, across polls) and keep
their markets between polls.  Nothing is retried inside a poll: a step that fails is recorded
for its venue (``Ticks.errors``, secrets redacted) and the next poll asks again; the other
venues and steps are unaffected, and `poll` never raises for a venue.  An exchange that takes
longer than ``timeout_s`` fails all its venues for this poll.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from . import parse
from .assemble import _with_fx
from .config import load_config
from .exchanges import _make_exchange, _prepare_exchange, _redactor
from .series import _market_interval
from .venue import Venue
from .venues import fetchable_venues, resolve_venues

#: ticker ``info`` fields holding the current OI where ccxt has no fetch_open_interest
#: (exchange id -> field; the amount is in the venue's ``oi_amount`` unit)
TICKER_OI_FIELDS = {"gate": "total_size"}
#: exchanges whose fetch_tickers needs one product category per request (Bybit: linear and
#: inverse swaps are separate categories)
_TICKERS_BY_SETTLE = {"bybit"}


@dataclass(frozen=True)
class VenueTick:
    """What one venue said in one poll (None: not asked, not served, or failed).

    last: last trade price in the venue's `quote`; last_usd: the same in USD (USDT / USDC
    converted with the poll's fx tick, else the fallback fx).
    funding_rate: fraction per interval accruing now; funding_time: its settlement (epoch ms);
    next_funding_rate / next_funding_time: the following interval's, when published;
    funding_interval_hours: the interval.  oi_btc / oi_usd: current open interest.
    """

    venue: str
    kind: str
    key: str
    quote: str
    time: int
    last: Optional[float] = None
    last_usd: Optional[float] = None
    funding_rate: Optional[float] = None
    funding_time: Optional[int] = None
    next_funding_rate: Optional[float] = None
    next_funding_time: Optional[int] = None
    funding_interval_hours: Optional[float] = None
    oi_btc: Optional[float] = None
    oi_usd: Optional[float] = None


@dataclass
class Ticks:
    """One poll: `as_of` (epoch ms, when it started; `finished` when it ended), a `VenueTick`
    per venue name that answered anything, `errors` {venue name: reason} for every step that
    failed, and how many requests were sent."""

    as_of: int
    finished: int = 0
    venues: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    requests: int = 0

    def frame(self) -> pd.DataFrame:
        """One row per venue (the `VenueTick` fields), failed venues with NaN values and
        their reason in ``error``."""
        names = list(dict.fromkeys([*self.venues, *self.errors]))
        rows = []
        for name in names:
            tick = self.venues.get(name)
            row = dict(tick.__dict__) if tick else {"venue": name}
            row["error"] = self.errors.get(name, "")
            rows.append(row)
        return pd.DataFrame(rows)


@dataclass
class _Raw:
    """One venue's replies before unit conversion."""

    venue: Venue
    market: dict
    ticker: Optional[dict] = None
    funding: Optional[dict] = None
    oi: Optional[dict] = None
    oi_unit: Optional[str] = None
    errors: list = field(default_factory=list)


class TickPoller:
    """Polls the selected venues (`poll`); keep one per dashboard or runner, `close` at the end.

    venues: as for `btcflow_nb.fetch` (None: every spot and perp venue of the registry); the
        USDT/USD and USDC/USD fx pairs are added when a venue is quoted in them.
    exchanges: {ccxt id or venue name: ready ``ccxt.async_support`` exchange} to use instead of
        building them from the configuration.
    fx_fallback: {"USDT": usd per usdt, ...} used when the fx pair's tick is missing.
    clock: epoch ms now (default: the wall clock); stamps `Ticks.as_of` and the OI samples.
    timeout_s: the longest one exchange may take within a poll.
    """

    def __init__(self, venues=None, *, exchanges=None, fx_fallback=None, clock=None,
                 timeout_s: float = 20.0):
        self.venues = _with_fx(fetchable_venues(resolve_venues(venues), venues))
        self._given = dict(exchanges or {})
        self.fx_fallback = dict(fx_fallback or {})
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.timeout_s = float(timeout_s)
        self._objects: dict = {}     # venue name -> exchange
        self._owned: list = []       # exchanges built here (closed by `close`)

    def _exchanges(self) -> dict:
        if self._objects:
            return self._objects
        cfg, built = load_config(), {}
        for v in self.venues:
            ex = self._given.get(v.name) or self._given.get(v.exchange_id)
            if ex is None:
                ex = built.get(v.exchange_id)
                if ex is None:
                    ex = built[v.exchange_id] = _make_exchange(v.exchange_id, cfg)
                    self._owned.append(ex)
            self._objects[v.name] = ex
        for ex in dict.fromkeys(self._objects.values()):
            _prepare_exchange(ex, [v for v in self.venues if self._objects[v.name] is ex])
        return self._objects

    async def poll(self) -> Ticks:
        """One poll of every venue; never raises for a venue (see the module docstring)."""
        objects = self._exchanges()
        ticks = Ticks(as_of=int(self.clock()))
        redact = _redactor(set(objects.values()))
        groups: dict = {}
        for v in self.venues:
            groups.setdefault(id(objects[v.name]), (objects[v.name], []))[1].append(v)

        async def one(ex, venues):
            counter = [0]
            try:
                return await asyncio.wait_for(_poll_exchange(ex, venues, counter),
                                              self.timeout_s), counter[0]
            except asyncio.TimeoutError:
                reason = f"{ex.id}: no answer within {self.timeout_s:g} s"
                return [_Raw(v, {}, errors=[reason]) for v in venues], counter[0]

        done = await asyncio.gather(*(one(ex, vs) for ex, vs in groups.values()))
        raws = [r for rows, _ in done for r in rows]
        ticks.requests = sum(n for _, n in done)
        ticks.finished = int(self.clock())
        _convert(raws, ticks, self.fx_fallback, redact)
        return ticks

    async def close(self) -> None:
        """Close the exchanges built here (ready ones passed in are left to their owner)."""
        owned, self._owned, self._objects = self._owned, [], {}
        await asyncio.gather(*(ex.close() for ex in owned), return_exceptions=True)


def _errors() -> tuple:
    import ccxt

    return (ccxt.BaseError, ValueError, KeyError, TypeError, OSError, RuntimeError,
            asyncio.TimeoutError)


async def _step(raw: _Raw, what: str, counter: list, call):
    """``await call()`` counting one request; a failure is recorded on `raw`, returns None."""
    counter[0] += 1
    try:
        return await call()
    except _errors() as exc:
        raw.errors.append(f"{what}: {type(exc).__name__}: {exc}")
        return None


async def _poll_exchange(ex, venues, counter) -> list:
    """The replies of one exchange's venues (prices, then funding and OI per perpetual)."""
    try:
        if not ex.markets:
            counter[0] += 1
            await ex.load_markets()
        missing = [v.symbol for v in venues if v.symbol not in ex.markets]
        if missing:
            raise ValueError(f"unknown symbol(s) {missing} at {ex.id}")
    except _errors() as exc:
        return [_Raw(v, {}, errors=[f"markets: {type(exc).__name__}: {exc}"]) for v in venues]
    raws = {v.name: _Raw(v, ex.market(v.symbol)) for v in venues}
    families: dict = {}
    for v in venues:
        m = raws[v.name].market
        family = (m.get("type"), m.get("linear") if ex.id in _TICKERS_BY_SETTLE else None)
        families.setdefault(family, []).append(v)
    for members in families.values():
        if len(members) > 1 and ex.has.get("fetchTickers"):
            first = raws[members[0].name]
            got = await _step(first, "tickers", counter,
                              lambda: ex.fetch_tickers([v.symbol for v in members]))
            for v in members:
                if got is None:
                    raws[v.name].errors = list(first.errors)
                elif v.symbol in got:
                    raws[v.name].ticker = got[v.symbol]
                else:
                    raws[v.name].errors.append(f"tickers: {v.symbol} missing from the reply")
        else:
            for v in members:
                raws[v.name].ticker = await _step(raws[v.name], "ticker", counter,
                                                  lambda s=v.symbol: ex.fetch_ticker(s))
    for v in venues:
        raw = raws[v.name]
        if v.kind != "perp":
            continue
        info = (raw.ticker or {}).get("info") or {}
        if v.funding_basis == "8h_equivalent" and "funding_8h" in info:   # Deribit
            raw.funding = {"fundingRate": float(info["funding_8h"]), "interval": None}
        elif ex.has.get("fetchFundingRate"):
            raw.funding = await _step(raw, "funding rate", counter,
                                      lambda s=v.symbol: ex.fetch_funding_rate(s))
        if not (v.oi_snapshot or ex.id in TICKER_OI_FIELDS):
            continue
        field_name = v.oi_ticker_field or (TICKER_OI_FIELDS.get(ex.id)
                                           if not ex.has.get("fetchOpenInterest") else None)
        if field_name:
            if raw.ticker is not None:
                raw.oi = parse.oi_from_ticker(field_name, raw.ticker)
                raw.oi_unit = v.oi_amount
        elif ex.has.get("fetchOpenInterest"):
            raw.oi = await _step(raw, "open interest", counter,
                                 lambda s=v.symbol: ex.fetch_open_interest(s))
            raw.oi_unit = v.oi_snapshot_amount or v.oi_amount
    return list(raws.values())


def _num(x) -> Optional[float]:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


def _interval_hours(v: Venue, funding: dict, market: dict) -> Optional[float]:
    text = str(funding.get("interval") or "")
    if text.endswith("h") and _num(text[:-1]):
        return _num(text[:-1])
    if v.funding_interval_source == "fixed":
        return v.funding_interval_hours
    return _market_interval(v, market)


def _convert(raws: list, ticks: Ticks, fx_fallback: dict, redact) -> None:
    """Fill `ticks` from the replies: prices in USD, funding per interval, OI in BTC and USD."""
    now = ticks.finished or ticks.as_of
    fx = dict(fx_fallback)
    for raw in raws:    # the poll's own fx ticks first
        if raw.venue.kind == "fx" and raw.ticker and _num(raw.ticker.get("last")):
            fx[raw.venue.key.upper()] = _num(raw.ticker.get("last"))
    for raw in raws:
        v = raw.venue
        if raw.errors:
            ticks.errors[v.name] = redact("; ".join(raw.errors))[:600]
        ticker = raw.ticker or {}
        last = _num(ticker.get("last")) or _num(ticker.get("close"))
        rate_usd = 1.0 if v.quote == "USD" else fx.get(v.quote)
        values = {"last": last,
                  "last_usd": None if last is None or rate_usd is None else last * rate_usd}
        if raw.funding:
            f = raw.funding
            rate = _num(f.get("fundingRate"))
            nxt = _num(f.get("nextFundingRate"))
            hours = _interval_hours(v, f, raw.market)
            if v.funding_basis == "8h_equivalent":      # the 8-hour rate of an hourly interval
                hours = hours or v.funding_interval_hours or 1.0
                rate = None if rate is None else rate * hours / 8
                nxt = None if nxt is None else nxt * hours / 8
            settle = f.get("fundingTimestamp") or f.get("nextFundingTimestamp")
            following = f.get("nextFundingTimestamp") if f.get("fundingTimestamp") else None
            values.update(funding_rate=rate, next_funding_rate=nxt, funding_interval_hours=hours,
                          funding_time=None if settle is None else int(settle),
                          next_funding_time=None if following is None else int(following))
        if raw.oi and last is not None:
            snap = dict(raw.oi, timestamp=now)
            frame = parse.oi_frame([snap], v, raw.market.get("contractSize"), kind="snapshot",
                                   amount_unit=raw.oi_unit)
            if len(frame):
                when = frame["time"].iloc[0]
                fx_series = {k: pd.Series([val], index=[when]) for k, val in fx.items()}
                out = parse.oi_to_btc_usd(frame, pd.Series([last], index=[when]), v.quote,
                                          fx_series)
                values.update(oi_btc=_num(out["oi_btc"].iloc[0]),
                              oi_usd=_num(out["oi_usd"].iloc[0]))
        if any(val is not None for val in values.values()):
            ticks.venues[v.name] = VenueTick(v.name, v.kind, v.key, v.quote, now, **values)
