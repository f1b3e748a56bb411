"""What every venue dialect is made of: a `Dialect` (its routes), the `Ctx` its handlers get, and
`_num`, the number format of JSON string fields.

A handler is ``handler(ctx, match) -> (status, payload)``: `match` is the route's path regex
match, `payload` is JSON-serialisable (the server encodes it).  Handlers read the request through
`Ctx` and take rows with `Ctx.select`, which also applies the request's injected fault
("empty", "overlap", "duplicate") so every dialect serves faults the same way.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np


class Ctx:
    """Per-request context handed to venue handlers: the query, the JSON body (or None), the
    fault drawn for this request (or None), the server's clock `now` (epoch ms) and its truth."""

    def __init__(self, fake, query, body, fault, first=None):
        self.fake, self.query, self.body, self.fault = fake, query, body, fault
        self.now = fake.now_ms
        self.first = first or {}   # the dialect's `Dialect.first`

    @property
    def truth(self):
        """The server's truth, seen through the request's value fault when it has one
        (`_Poisoned`)."""
        kind = self.fault.kind if self.fault else None
        if kind in _Poisoned.KINDS:
            return _Poisoned(self.fake.truth, kind)
        return self.fake.truth

    def first_ms(self, series, kind):
        """The venue's first `kind` ("ohlcv", "funding", "oi_history") of `series` (epoch ms),
        from its dialect's `Dialect.first`, or None (served from the truth's start)."""
        return (self.first.get(series) or {}).get(kind)

    def q(self, name, default=None):
        return self.query.get(name, default)

    def qi(self, name, default=None):
        v = self.query.get(name)
        return default if v in (None, "") else int(float(v))

    def page(self, name, limits):
        """Rows asked by query parameter `name`, capped: limits = (default when not asked, the
        most the venue serves in one reply)."""
        return min(self.qi(name, limits[0]), limits[1])

    def bars(self, series, tf_ms):
        """`Truth.bars` of `series` as of the server's clock, from the venue's first bar on
        (the bar containing its first trade)."""
        b = self.truth.bars(series, tf_ms, self.now)
        first = self.first_ms(series, "ohlcv")
        if first is None:
            return b
        keep = b["t"] >= (first // tf_ms) * tf_ms
        return {k: v[keep] for k, v in b.items()}

    def funding(self, key):
        """`Truth.funding` of ``perp:<key>`` from the venue's first funding event on."""
        out = self.truth.funding(key)
        first = self.first_ms(f"perp:{key}", "funding")
        return out if first is None else tuple(a[out[0] >= first] for a in out)

    def oi_native(self, key):
        """`Truth.oi_native` of ``perp:<key>`` from the venue's first OI-history sample on."""
        out = self.truth.oi_native(key)
        first = self.first_ms(f"perp:{key}", "oi_history")
        return out if first is None else tuple(a[out[0] >= first] for a in out)

    def select(self, times, lo=None, hi=None, limit=None, newest=False, lo_open=False,
               hi_open=False):
        """Indices of `times` within [lo, hi] (bounds optionally open), capped at `limit` rows
        (the oldest, or the newest with newest=True), with the request's fault applied."""
        ok = times <= self.now
        if lo is not None:
            ok &= (times > lo) if lo_open else (times >= lo)
        if hi is not None:
            ok &= (times < hi) if hi_open else (times <= hi)
        idx = np.flatnonzero(ok)
        kind = self.fault.kind if self.fault else None
        if kind == "oversized" and len(idx):
            # the page asked ignored: 30 x the page size, the window's rows over and over
            return np.resize(idx, 30 * (limit or 1000))
        if limit is not None and len(idx) > limit:
            idx = idx[-limit:] if newest else idx[:limit]
        if kind == "empty":
            return idx[:0]
        if kind == "overlap" and len(idx):
            first = idx[0]
            idx = np.concatenate([np.arange(max(0, first - 3), first), idx])
        if kind == "duplicate":
            idx = np.repeat(idx, 2)
        return idx


class _Poisoned:
    """A `Truth` whose values one fault spoils, for checking that the client refuses them:

    * ``"zero_close"`` / ``"inf_close"``: the close of every bar from the third on is 0 / inf
      (the first two stay true, so a venue still has good rows);
    * ``"wrong_instrument"``: every price x 0.05 (ETH-scale candles served as BTC);
    * ``"doubled_price"``: every price x 2 (unrounded: a stablecoin's 1 USD served as 2);
    * ``"misaligned"``: bar open times 1 s apart from the first bar's time + 1 s;
    * ``"absurd_funding"``: every funding rate from the third event on is 0.5 (50 % per
      interval); ``"inf_funding"``: +inf;
    * ``"negative_oi"``: every OI value from the third sample on is negated.
    """

    KINDS = ("zero_close", "inf_close", "wrong_instrument", "doubled_price", "misaligned", "absurd_funding",
             "inf_funding", "negative_oi")

    def __init__(self, truth, kind):
        self._truth, self._kind = truth, kind

    def __getattr__(self, name):
        return getattr(self._truth, name)

    def bars(self, name, tf_ms, now_ms):
        b = {k: np.array(v, copy=True) for k, v in self._truth.bars(name, tf_ms, now_ms).items()}
        if self._kind == "zero_close":
            b["c"][2:] = 0.0
        elif self._kind == "inf_close":
            b["c"][2:] = np.inf
        elif self._kind == "wrong_instrument":
            for k in ("o", "h", "l", "c"):
                b[k] = np.round(b[k] * 0.05, 1)
        elif self._kind == "doubled_price":
            for k in ("o", "h", "l", "c"):
                b[k] = b[k] * 2.0
        elif self._kind == "misaligned" and len(b["t"]):
            b["t"] = b["t"][0] + 1000 * (1 + np.arange(len(b["t"]), dtype=np.int64))
        return b

    def funding(self, key):
        t, rate, hours = self._truth.funding(key)
        rate = np.array(rate, copy=True)
        if self._kind == "absurd_funding":
            rate[2:] = 0.5
        elif self._kind == "inf_funding":
            rate[2:] = np.inf
        return t, rate, hours

    def oi_native(self, key):
        t, native = self._truth.oi_native(key)
        native = np.array(native, copy=True)
        if self._kind == "negative_oi":
            native[2:] = -native[2:]
        return t, native


def _ms(iso: str) -> int:
    """An ISO UTC time ("2019-09-08", "2019-09-10T08:00") as epoch ms."""
    from datetime import datetime, timezone

    t = datetime.fromisoformat(iso)
    return int(t.replace(tzinfo=timezone.utc).timestamp() * 1000)


def _num(x) -> str:
    """Shortest decimal string that parses back to exactly the same float."""
    return np.format_float_positional(float(x), trim="-", unique=True)


@dataclass(frozen=True)
class Dialect:
    """One ccxt exchange id's REST format.

    exchange_id: the ccxt id (the first path segment of a URL to the fake).
    routes: ((method, path regex, endpoint kind, handler), ...), tried in order; the endpoint
        kind (one of `server.ENDPOINT_KINDS`) is what faults match and the request log records.
    first: the venue's real first bar / funding event / OI-history sample per series name:
        ``{"perp:binance": {"ohlcv": ms, "funding": ms, "oi_history": ms}}`` (epoch ms; a kind
        left out is served from the truth's start).  Before it the venue answers as it really
        does -- an empty page (`Ctx.bars`, `Ctx.funding`, `Ctx.oi_native` drop those rows).
    body_endpoints: for a venue with one URL for everything (Hyperliquid's POST /info): endpoint
        kind by the JSON body's "type", overriding the route's kind (None: the route decides).
    """

    exchange_id: str
    routes: tuple
    body_endpoints: Optional[dict] = None
    first: Optional[dict] = None

    def route(self, method, path):
        """(endpoint kind, handler, match) of the first route matching, or None."""
        for m, pattern, kind, handler in self.routes:
            if m == method:
                match = re.fullmatch(pattern, path)
                if match:
                    return kind, handler, match
        return None

    def endpoint_of(self, kind, body):
        """The endpoint kind of a routed request (see `body_endpoints`)."""
        if self.body_endpoints is not None and isinstance(body, dict):
            return self.body_endpoints.get(body.get("type"), kind)
        return kind
