"""ccxt exchange objects: creation, data-only preparation, pacing, retries, redaction.

`_make_exchange` builds a ``ccxt.async_support`` exchange from the configuration (options per
exchange id, ``api_base``); `_prepare_exchange` loads only the product families the selected
venues need, detects malformed bodies, captures Retry-After, shares one TLS context and paces
requests with `_Pacer` (from request *start*: ``rateLimit`` x the endpoint's ccxt cost).
`_with_retry` retries network errors, timeouts, 429, 5xx and malformed bodies with exponential
backoff (`btcflow_nb.sources.config.RetryPolicy`).  `_redactor` hides the exchanges' secrets
(API keys, ...) in any text.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading

from .config import RetryPolicy, point_exchange_at

log = logging.getLogger("btcflow_nb.fetch")

_SECRET_ATTRS = ("apiKey", "secret", "password", "uid", "privateKey", "walletAddress", "token",
                 "login", "twofa")


def _redactor(exchanges):
    secrets = set()
    for ex in exchanges:
        for attr in _SECRET_ATTRS:
            v = getattr(ex, attr, None)
            if isinstance(v, str) and len(v) >= 4:
                secrets.add(v)

    def redact(text) -> str:
        text = str(text)
        for s in sorted(secrets, key=len, reverse=True):
            text = text.replace(s, "***")
        return text

    return redact


def _make_exchange(exchange_id: str, cfg):
    import ccxt.async_support as ccxt_async

    cls = getattr(ccxt_async, exchange_id, None)
    if cls is None:
        raise ValueError(f"ccxt has no exchange {exchange_id!r}")
    options = {"enableRateLimit": True}
    options.update(cfg.exchanges.get(exchange_id, {}))
    ex = cls(options)
    if cfg.api_base:
        point_exchange_at(ex, cfg.api_base)
    return ex


def _prepare_exchange(ex, venues) -> None:
    """Data-only tweaks, applied before markets are loaded: skip the currencies request and
    load only the product families the selected venues need; wrap `fetch` to detect malformed
    bodies and to capture Retry-After."""
    import ccxt.async_support as ccxt_async

    if getattr(ex, "_btcflow_prepared", False):
        return
    redact_own = _redactor([ex])

    def log(*args):   # ccxt's `verbose` prints request headers (API keys) through `log`
        print(redact_own(" ".join(str(a) for a in args)))

    ex.log = log
    if not ex.markets:
        ex.has = dict(ex.has, fetchCurrencies=False)
        if "fetchMargins" in ex.options:   # Binance: margin pairs are private and not needed
            ex.options["fetchMargins"] = False
        types = [t for v in venues for t in v.market_types]
        if types:
            current = ex.options.get("fetchMarkets")
            if isinstance(current, dict) and isinstance(current.get("types"), dict):
                new_types = {k: (k in types) for k in current["types"]}
            else:
                new_types = list(dict.fromkeys(types))
            if isinstance(current, dict):
                ex.options["fetchMarkets"] = dict(current, types=new_types)
            else:
                ex.options["fetchMarkets"] = {"types": new_types}
    original = ex.fetch
    _record_status(ex)

    async def fetch(url, method="GET", headers=None, body=None):
        seen = {}
        token = _LAST_STATUS.set(seen)
        try:
            response = await original(url, method, headers, body)
        except ccxt_async.BaseError as exc:
            transient = _transient(exc, seen.get("status"), ex.id, method, url)
            if transient is not None:
                raise transient from exc
            headers_seen = getattr(ex, "last_response_headers", None) or {}
            retry_after = headers_seen.get("Retry-After") or headers_seen.get("retry-after")
            if retry_after is not None:
                try:
                    exc.retry_after = float(retry_after)
                except ValueError:
                    pass
            raise
        finally:
            _LAST_STATUS.reset(token)
        if isinstance(response, (str, bytes, bytearray)) and len(response):
            raise ccxt_async.BadResponse(f"{ex.id} returned a malformed (non-JSON) body for "
                                         f"{method} {url.split('?')[0]}")
        return response

    ex.fetch = fetch
    _cap_replies(ex)
    if getattr(ex, "ssl_context", None) is None and ex.verify is True \
            and not ex.safe_bool(ex.options, "include_OS_certificates", False):
        # what ccxt's open() would build for each exchange, built once (~25 ms each)
        ex.ssl_context = _shared_ssl_context(ex.cafile)
    if getattr(ex, "enableRateLimit", False):
        ex.throttle = _Pacer(float(ex.rateLimit), label=ex.id)
    ex._btcflow_prepared = True


#: the HTTP status of the reply a `fetch` call is reading (a dict per call, so concurrent
#: requests of one exchange never see each other's status)
_LAST_STATUS: contextvars.ContextVar = contextvars.ContextVar("btcflow_last_status",
                                                              default=None)


def _record_status(ex) -> None:
    """Make `ex` note each reply's HTTP status for the `fetch` call reading it (through
    ccxt's ``on_rest_response`` hook, which every reply passes before ``handle_errors``)."""
    original = ex.on_rest_response

    def on_rest_response(code, *args):
        seen = _LAST_STATUS.get()
        if seen is not None:
            seen["status"] = code
        return original(code, *args)

    ex.on_rest_response = on_rest_response


def _transient(exc, status, exchange_id, method, url):
    """A retryable ccxt error in place of `exc` when the failure was the transport's, not the
    request's, whatever class the exchange's own error mapping gave it; else None.

    ccxt's per-exchange ``handle_errors`` runs before its status mapping, and some exchanges
    raise the generic ``ExchangeError`` for any error reply (Bitfinex for an HTTP 500 with a
    plain-text body), which a retry by class alone would never retry.  Transient are: HTTP 429
    (``RateLimitExceeded``) and 5xx (``ExchangeNotAvailable``) when ccxt found nothing more
    specific than ``ExchangeError`` in the body, and a connection that broke mid-reply (an
    aiohttp ``ClientError`` ccxt wraps as ``ExchangeError``).  A classified refusal -- a
    ``BadRequest``, ``BadSymbol``, ``AuthenticationError``, ``NotSupported``, ... (Bitfinex
    answers bad parameters with HTTP 500 and error code 10020, mapped to ``BadRequest``) -- and
    every 4xx but 429 are the request's fault and are not retried."""
    import aiohttp
    import ccxt

    if type(exc) is not ccxt.ExchangeError:    # already retryable, or classified as a refusal
        return None
    where = f"{exchange_id} {method} {url.split('?')[0]}"
    if status == 429:
        return ccxt.RateLimitExceeded(f"{where}: HTTP 429 ({exc})")
    if status is not None and 500 <= int(status) <= 599:
        return ccxt.ExchangeNotAvailable(f"{where}: HTTP {status} ({exc})")
    if status is None and isinstance(exc.__cause__, aiohttp.ClientError):
        return ccxt.ExchangeNotAvailable(f"{where}: connection failed mid-reply ({exc})")
    return None


#: the most bytes one reply may have; a larger body is refused while it is read (a 100 MB
#: reply would otherwise take gigabytes once parsed).  The largest legitimate reply, Kraken
#: Futures' whole funding history, is ~10 MB.
MAX_REPLY_BYTES = 48 * 1024 * 1024


def _cap_replies(ex) -> None:
    """Make `ex` read every reply body through `MAX_REPLY_BYTES`.

    ccxt reads the raw body with ``await response.text()`` on the aiohttp session it creates in
    ``open()``; the session is wrapped (`_CappedSession`) once ``open()`` made it, so the body is
    read in chunks and refused (``ccxt.ExchangeError``: not retried, the series fails and is
    reported) as soon as it grows past the cap."""
    original_open = ex.open

    def open_(*args, **kwargs):
        result = original_open(*args, **kwargs)
        if ex.session is not None and not isinstance(ex.session, _CappedSession):
            ex.session = _CappedSession(ex.session, ex.id)
        return result

    ex.open = open_


class _CappedSession:
    """An aiohttp session whose ``get`` / ``post`` replies read at most `MAX_REPLY_BYTES`."""

    def __init__(self, session, label):
        self._session, self._label = session, label

    def __getattr__(self, name):
        return getattr(self._session, name)

    def get(self, *args, **kwargs):
        return _CappedReply(self._session.get(*args, **kwargs), self._label)

    def post(self, *args, **kwargs):
        return _CappedReply(self._session.post(*args, **kwargs), self._label)


class _CappedReply:
    def __init__(self, manager, label):
        self._manager, self._label = manager, label

    async def __aenter__(self):
        import ccxt

        response = await self._manager.__aenter__()
        cap, label = MAX_REPLY_BYTES, self._label

        def refuse(size):
            return ccxt.ExchangeError(f"{label} reply of {size} bytes or more refused: replies "
                                      f"are capped at {cap} bytes (MAX_REPLY_BYTES)")

        if response.content_length is not None and response.content_length > cap:
            # `async with` calls no __aexit__ when __aenter__ raises: release the connection
            await self._manager.__aexit__(None, None, None)
            raise refuse(response.content_length)

        async def text(encoding=None, errors="strict"):
            body = bytearray()
            while True:
                chunk = await response.content.read(1 << 16)
                if not chunk:
                    break
                body += chunk
                if len(body) > cap:
                    raise refuse(len(body))
            return bytes(body).decode(encoding or response.charset or "utf-8", errors=errors)

        response.text = text
        return response

    async def __aexit__(self, *exc):
        return await self._manager.__aexit__(*exc)


@functools.lru_cache(maxsize=None)
def _shared_ssl_context(cafile):
    import ssl

    return ssl.create_default_context(cafile=cafile)


class _Pacer:
    """Rate-limit spacing counted from request *start*, in place of ccxt's throttler.

    ccxt calls ``await exchange.throttle(cost)`` before every request (``enableRateLimit``),
    with ``cost`` the endpoint's weight in units of ``rateLimit`` (Hyperliquid's ``info`` costs
    10, a Binance klines page of 1000 rows costs 5, most endpoints 1).  ccxt's token bucket
    refills only while a request is queued, so a request issued after the previous one's reply
    waits a further ``cost x rateLimit``: sequential pages cost ``latency + spacing`` each.
    Here request k+1 may start at ``start_k + cost_k x rateLimit / 1000`` seconds -- the same
    spacing ccxt enforces between queued requests, never closer -- so sequential pages cost
    ``max(latency, spacing)``.  Callers are served in arrival order (each reserves the next
    slot before it sleeps).

    rate_limit_ms: the exchange's ``rateLimit`` (ms per unit of cost).
    label: the exchange id (for logs and benchmarks).
    clock / sleep: injectable for tests (default: the event loop's clock, ``asyncio.sleep``).
    """

    def __init__(self, rate_limit_ms: float, clock=None, sleep=None, label: str = ""):
        self.rate_limit_s = max(0.0, float(rate_limit_ms)) / 1000.0
        self.label = label
        self._clock = clock
        self._sleep = sleep or asyncio.sleep
        self._next_start = None

    async def __call__(self, cost=None):
        now = self._clock() if self._clock else asyncio.get_running_loop().time()
        cost = 1.0 if cost is None else float(cost)
        start = now if self._next_start is None else max(now, self._next_start)
        self._next_start = start + cost * self.rate_limit_s
        if start > now:
            await self._sleep(start - now)


def _retryable():
    import ccxt

    return (ccxt.NetworkError, ccxt.BadResponse)


async def _with_retry(call, policy: RetryPolicy, what: str):
    retryable = _retryable()
    for attempt in range(1, policy.attempts + 1):
        try:
            return await call()
        except retryable as exc:
            if attempt >= policy.attempts:
                raise
            delay = getattr(exc, "retry_after", None)
            delay = policy.delay(attempt) if delay is None else min(float(delay), policy.max_delay)
            log.info("%s: %s, retry %d in %.2fs", what, type(exc).__name__, attempt, delay)
            await asyncio.sleep(delay)


def _run(coro):
    """Run a coroutine to completion, also from inside a running event loop (Jupyter): then in a
    worker thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box = {}

    def worker():
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=worker, name="btcflow-fetch")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
