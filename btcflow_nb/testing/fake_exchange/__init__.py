"""A fake multi-venue crypto exchange on 127.0.0.1 that speaks each venue's own REST format.

`FakeExchange` serves the endpoints ccxt calls for ``load_markets``, ``fetch_ohlcv``,
``fetch_funding_rate_history``, ``fetch_open_interest_history``, ``fetch_open_interest`` and --
for live polling (`btcflow_nb.sources.ticks`) -- ``fetch_ticker`` / ``fetch_tickers`` and
``fetch_funding_rate`` (current and next rate) for
every default venue of `btcflow_nb.sources.venues` -- Coinbase, Kraken, Bitstamp, Binance (spot and
USDⓈ-M), OKX, Bybit, Bitfinex, Gate, HTX, KuCoin Futures, Deribit, Kraken Futures and
Hyperliquid -- from a deterministic `Truth`, so a test can check that what comes out of the real
ccxt code path equals what went in.

URLs: ``http://127.0.0.1:PORT/<ccxt exchange id>/<original host>/<original path>``, which is
what `btcflow_nb.sources.config.point_exchange_at` (and ``BTCFLOW_NB_API_BASE``) produce.

The server runs in a background thread (`http.server.ThreadingHTTPServer`), so synchronous
tests, notebooks and benchmarks can all use it::

    with FakeExchange(days=30) as fake:
        os.environ["BTCFLOW_NB_API_BASE"] = fake.url
        md = btcflow_nb.fetch(since=fake.truth.start)

Faults (`inject`): ``"latency"`` (delay, then answer), ``"429"`` (Too Many Requests with a
Retry-After header), ``"500"`` / ``"503"``, ``"timeout"`` (hold the connection longer than the
client waits), ``"malformed"`` (200 with a truncated JSON body), ``"empty"`` (a well-formed
page without rows), ``"overlap"`` (the page also repeats rows before the requested start) and
``"duplicate"`` (every row twice).  Gaps are part of the truth (`Truth.gaps`).

The clock (`FakeExchange.set_now`, `FakeExchange.advance`) decides what is served: bars open
after it are not served, the bar containing it is open, and tickers, current funding (the rate
accruing until the next settlement, and the one after: `Truth.upcoming_funding`) and current OI
are the truth at the clock (the open bar's latest hour).

Every request is logged (`requests`, `log()`) with its exchange id, endpoint kind ("markets",
"ohlcv", "funding", "oi_history", "oi"; Hyperliquid's markets and current OI share one request,
logged as "markets"; "ticker" and "funding_rate" are the live endpoints), query, status and start/end times (``time.monotonic()``), for
concurrency and rate-limit spacing checks and for benchmarks.

`FakeExchange.env(directory)` returns the environment variables (``BTCFLOW_NB_CONFIG``,
``BTCFLOW_NB_API_BASE``, ``BTCFLOW_NB_CACHE_DIR``) that point fetch, notebooks and the CLI at
the server, with rate limits scaled down (``rate_limit_ms``) for tests that are not about them.

Modules: `truth` (the deterministic market truth), `server` (the HTTP server, routing, faults,
clock, request log, `FakeExchange`) and `dialects` (one module per ccxt exchange id: its routes,
page limits, history depth and reply format).  The fake shares no code with what it checks.
"""
from __future__ import annotations

from .server import ENDPOINT_KINDS, FAULT_KINDS, FakeExchange, Fault, RequestRecord
from .truth import DAY_MS, HOUR_MS, Truth

__all__ = ["DAY_MS", "ENDPOINT_KINDS", "FAULT_KINDS", "FakeExchange", "Fault", "HOUR_MS",
           "RequestRecord", "Truth"]
