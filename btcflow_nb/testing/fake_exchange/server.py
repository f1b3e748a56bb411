"""The fake exchange's HTTP server: routing, faults, the clock, the request log, `FakeExchange`.

Requests arrive as ``/<ccxt exchange id>/<original host>/<original path>``; the exchange id picks
the venue's dialect (`dialects.DIALECTS`), whose routes pick the handler and the endpoint kind
(`ENDPOINT_KINDS`).  An injected `Fault` matching the exchange id and endpoint kind then decides
what happens: ``"latency"`` / ``"timeout"`` hold the request `Fault.delay` seconds first;
``"429"``, ``"500"``, ``"503"`` answer a plain-text gateway error instead of the handler;
``"malformed"`` cuts the JSON body in half; ``"empty"``, ``"overlap"``, ``"duplicate"``,
``"oversized"`` (30 x the page size) shape the rows (`dialects.Ctx.select`); the value faults
(``"zero_close"``, ``"inf_close"``, ``"wrong_instrument"``, ``"doubled_price"``,
``"misaligned"``,
``"absurd_funding"``, ``"inf_funding"``, ``"negative_oi"``) spoil the values served
(`dialects.dialect._Poisoned`); ``"stale_oi"`` answers as of `STALE_MS` ago (a venue repeating
an old open-interest snapshot, its old timestamp included).  Each request is logged
(`RequestRecord`) before its reply leaves.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Optional
from urllib.parse import parse_qsl, urlsplit

from ..servers import BackgroundHTTPService
from .dialects import DIALECTS, Ctx
from .truth import Truth

FAULT_KINDS = ("latency", "429", "500", "503", "timeout", "malformed", "empty", "overlap",
               "duplicate", "oversized", "zero_close", "inf_close", "wrong_instrument",
               "doubled_price", "stale_oi", "misaligned", "absurd_funding", "inf_funding",
               "negative_oi")
#: "ticker": last prices (fetch_ticker / fetch_tickers); "funding_rate": the current and next
#: funding rate (fetch_funding_rate); "oi": the current open interest
#: how old the answers of a ``"stale_oi"`` fault are [ms]
STALE_MS = 86_400_000
ENDPOINT_KINDS = ("markets", "ohlcv", "funding", "oi_history", "oi", "ticker", "funding_rate")

# --------------------------------------------------------------------------------------------
# Faults and the request log
# --------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """An injected fault: applies to the next `times` matching requests (None = forever)."""

    kind: str
    exchange_id: Optional[str] = None
    endpoint: Optional[str] = None
    times: Optional[int] = 1
    delay: float = 0.0          # latency / timeout: seconds to hold the request
    retry_after: str = "1"      # 429: the Retry-After header value
    after: int = 0              # let this many matching requests through first
    fired: int = 0
    seen: int = 0

    def matches(self, exchange_id: str, endpoint: str) -> bool:
        return ((self.exchange_id in (None, exchange_id)) and (self.endpoint in (None, endpoint))
                and (self.times is None or self.fired < self.times))


@dataclass
class RequestRecord:
    exchange_id: str
    endpoint: str          # one of ENDPOINT_KINDS, or "unknown"
    method: str
    path: str
    query: dict
    status: int
    fault: Optional[str]
    started: float          # time.monotonic() at arrival
    finished: float


class _PlainText(str):
    """A non-JSON response body."""


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class FakeExchange(BackgroundHTTPService):
    """Local HTTP server for all default venues.  See `btcflow_nb.testing.fake_exchange`.

    truth: a `Truth` (default: `Truth.recent(days)`).
    now_ms: the server's clock (default: the truth's last hour); bars open after it are not
        served and the bar containing it is still open.  Change it with `set_now`.
    """

    def __init__(self, truth: Optional[Truth] = None, *, days: int = 30,
                 now_ms: Optional[int] = None):
        self.truth = truth or Truth.recent(days)
        self.now_ms = int(now_ms) if now_ms is not None else int(time.time() * 1000)
        self.now_ms = min(self.now_ms, self.truth.end - 1)
        self.venues = dict(DIALECTS)   # ccxt exchange id -> its dialect
        self.requests: list = []
        self.faults: list = []
        self._lock = threading.Lock()

    # ---- lifecycle --------------------------------------------------------------------------
    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

            def log_message(self, *args):  # keep test output clean
                pass

        return Handler

    # ---- control ------------------------------------------------------------------------------
    def set_now(self, now_ms: int) -> None:
        """Move the server's clock to `now_ms` (epoch ms; capped at the truth's last ms)."""
        self.now_ms = min(int(now_ms), self.truth.end - 1)

    def advance(self, ms: int) -> int:
        """Move the server's clock forward by `ms` milliseconds (capped at the truth's last
        ms); returns the new time.  Tickers, current funding and OI follow the clock, and a
        bar whose period ends on the way is served closed."""
        if ms < 0:
            raise ValueError(f"advance(ms={ms}): the clock only moves forward; use set_now")
        self.set_now(self.now_ms + int(ms))
        return self.now_ms

    def inject(self, kind: str, *, exchange_id: Optional[str] = None,
               endpoint: Optional[str] = None, times: Optional[int] = 1, delay: float = 0.0,
               retry_after: str = "1", after: int = 0) -> Fault:
        """Make the next `times` (None: all) matching requests fail with `kind` (see
        FAULT_KINDS), after letting `after` matching requests through."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose one of {list(FAULT_KINDS)}")
        if endpoint is not None and endpoint not in ENDPOINT_KINDS:
            raise ValueError(f"unknown endpoint {endpoint!r}; choose one of {list(ENDPOINT_KINDS)}")
        if exchange_id is not None and exchange_id not in self.venues:
            raise ValueError(f"unknown exchange {exchange_id!r}; known: {sorted(self.venues)}")
        fault = Fault(kind, exchange_id, endpoint, times, delay, retry_after, after)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def log(self, exchange_id: Optional[str] = None, endpoint: Optional[str] = None) -> list:
        """Logged requests, optionally of one exchange id and/or endpoint kind."""
        with self._lock:
            rows = list(self.requests)
        return [r for r in rows if (exchange_id in (None, r.exchange_id))
                and (endpoint in (None, r.endpoint))]

    # ---- request handling ----------------------------------------------------------------------
    def _take_fault(self, exchange_id, endpoint) -> Optional[Fault]:
        with self._lock:
            for fault in self.faults:
                if fault.matches(exchange_id, endpoint):
                    fault.seen += 1
                    if fault.seen <= fault.after:
                        continue
                    fault.fired += 1
                    return fault
        return None

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        started = time.monotonic()
        parts = urlsplit(req.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(req.headers.get("Content-Length") or 0)
        raw_body = req.rfile.read(length) if length else b""
        body = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = None
        segments = parts.path.split("/", 3)   # '', exchange id, host, rest
        exchange_id = segments[1] if len(segments) > 1 else ""
        path = "/" + segments[3] if len(segments) > 3 else "/"
        venue = self.venues.get(exchange_id)
        routed = venue.route(method, path) if venue else None
        endpoint = routed[0] if routed else "unknown"
        ctx = Ctx(self, query, body, None, venue.first if venue else None)
        status, payload, fault_kind, extra_headers = 404, {"error": "not found"}, None, {}
        if routed:
            kind, handler, match = routed
            # a venue with one URL for everything (Hyperliquid) decides its endpoint kind from
            # the body: peek before faults
            endpoint = venue.endpoint_of(kind, body)
            fault = self._take_fault(exchange_id, endpoint)
            fault_kind = fault.kind if fault else None
            ctx.fault = fault
            if fault and fault.kind == "stale_oi":
                ctx.now -= STALE_MS   # the reply (and its timestamp) as of a day ago
            if fault and fault.kind in ("latency", "timeout"):
                time.sleep(fault.delay)
            # gateway-style errors: a plain-text body, as a load balancer or CDN sends it
            if fault and fault.kind == "429":
                status, payload = 429, _PlainText("Too Many Requests")
                extra_headers["Retry-After"] = fault.retry_after
            elif fault and fault.kind in ("500", "503"):
                status = int(fault.kind)
                payload = _PlainText("Internal Server Error" if status == 500
                                     else "Service Unavailable")
            else:
                try:
                    status, payload = handler(ctx, match)
                except Exception as exc:  # noqa: BLE001 - a bug here must show up as a 500
                    status, payload = 500, {"error": f"fake exchange bug: {exc!r}"}
        if isinstance(payload, _PlainText):
            data, content_type = str(payload).encode(), "text/plain"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json"
        if fault_kind == "malformed":
            data = data[: max(1, len(data) // 2)]
        # logged before the reply leaves, so a client that has its answer always finds the
        # request in the log; `finished` is stamped once the bytes are written
        record = RequestRecord(exchange_id, endpoint, method, path, query, status, fault_kind,
                               started, time.monotonic())
        with self._lock:
            self.requests.append(record)
        try:
            req.send_response(status)
            req.send_header("Content-Type", content_type)
            req.send_header("Content-Length", str(len(data)))
            for k, v in extra_headers.items():
                req.send_header(k, v)
            req.end_headers()
            req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the client gave up (timeout fault)
        finally:
            record.finished = time.monotonic()

    # ---- convenience -----------------------------------------------------------------------------
    def env(self, directory, *, rate_limit_ms: Optional[float] = 1, retry_base_delay: float = 0.01,
            retry_attempts: int = 4, timeout_ms: Optional[int] = None) -> dict:
        """Environment variables that point `btcflow_nb.fetch` (and notebooks, the CLI) at this
        server: writes ``<directory>/btcflow-nb-config.json`` and returns
        ``{"BTCFLOW_NB_CONFIG": ..., "BTCFLOW_NB_API_BASE": ..., "BTCFLOW_NB_CACHE_DIR": ...}``.
        rate_limit_ms: ccxt ``rateLimit`` for every venue (None keeps ccxt's real limits)."""
        from pathlib import Path

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        options = {}
        if rate_limit_ms is not None:
            options["rateLimit"] = rate_limit_ms
        if timeout_ms is not None:
            options["timeout"] = timeout_ms
        config = {"exchanges": {eid: dict(options) for eid in self.venues},
                  "retry": {"attempts": retry_attempts, "base_delay": retry_base_delay,
                            "max_delay": 5.0}}
        path = directory / "btcflow-nb-config.json"
        path.write_text(json.dumps(config, indent=1))
        return {"BTCFLOW_NB_CONFIG": str(path), "BTCFLOW_NB_API_BASE": self.url,
                "BTCFLOW_NB_CACHE_DIR": str(directory / "cache")}

    def exchange(self, exchange_id: str, **config):
        """A ccxt.async_support exchange pointed at this server (options as for ccxt)."""
        import ccxt.async_support as ccxt_async

        from ...sources.config import point_exchange_at

        ex = getattr(ccxt_async, exchange_id)(dict(config))
        point_exchange_at(ex, self.url)
        return ex
