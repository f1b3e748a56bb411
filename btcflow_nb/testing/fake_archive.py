"""An offline fake of Binance's public data service (data.binance.vision), for tests.

`FakeArchive` is an HTTP server on 127.0.0.1 serving, from a deterministic `ArchiveTruth`, the
service's real layout and file formats::

    /data/<spot|futures/um|futures/cm>/<monthly|daily>/klines/<SYM>/<iv>/<SYM>-<iv>-<period>.zip
    /data/futures/<um|cm>/monthly/fundingRate/<SYM>/<SYM>-fundingRate-<YYYY-MM>.zip
    /data/futures/<um|cm>/daily/metrics/<SYM>/<SYM>-metrics-<YYYY-MM-DD>.zip
    ... and <file>.zip.CHECKSUM beside each: "<sha256 hex>  <file>.zip"

Formats as the real service: one CSV per zip; futures files from `header_from` on start with a
header line, older ones and every spot file have none; spot kline times are microseconds from
2025-01-01, milliseconds before; metrics rows every 5 minutes with ``create_time`` as
``YYYY-MM-DD HH:MM:SS``.  Only complete periods are published: months before the fake's `now`
month, days before its `now` day; nothing before a series' listing (404).

Faults (`inject`): ``"bad_checksum"`` (the .CHECKSUM names a wrong digest), ``"missing"`` (the
zip is a 404), ``"truncated"`` (half the zip served, the checksum of the whole one: the download
fails verification), ``"truncated_published"`` (a truncated zip whose published checksum matches
it: verification passes, reading fails), ``"no_checksum"`` (the .CHECKSUM is a 404),
``"implausible"`` (a well-formed, correctly checksummed file whose last row holds -1 in its
third field: a high price, a funding rate or an OI amount no venue can have).

This module shares no code with `btcflow_nb.sources.archives`, which it checks.
"""
from __future__ import annotations

import hashlib
import io
import math
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Optional

import pandas as pd

from .servers import BackgroundHTTPService

_DAY = 86_400_000
_INTERVAL_MS = {"1h": 3_600_000, "4h": 14_400_000, "1d": _DAY}


def _ms(text) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


@dataclass
class ArchiveTruth:
    """The deterministic history the fake serves.  All times epoch ms UTC.

    price(t) = 20000 + 15000 * (1 + sin(t / 40 days)) / 2 ... (USD, same for every market);
    funding rate at settlement k (every 8 h) = 1e-4 + 2e-4 * sin(k / 7);
    OI in BTC at t = 60000 + 20000 * sin(t / 11 days); COIN-M contracts = OI_btc * price / 100.
    """

    listing: dict = field(default_factory=lambda: {
        ("spot", "klines"): _ms("2017-08-17"), ("um", "klines"): _ms("2019-09-08"),
        ("cm", "klines"): _ms("2020-08-11"), ("um", "fundingRate"): _ms("2019-09-10"),
        ("cm", "fundingRate"): _ms("2020-08-11"), ("um", "metrics"): _ms("2021-12-01"),
        ("cm", "metrics"): _ms("2021-12-01")})
    header_from: int = _ms("2022-01-01")
    micros_from: int = _ms("2025-01-01")
    contract_usd: float = 100.0

    @staticmethod
    def price(t: int) -> float:
        return round(20000.0 + 7500.0 * (1.0 + math.sin(t / (40 * _DAY))) + (t % 7_000_000) / 1e5,
                     2)

    def bars(self, market: str, interval: str, start: int, end: int) -> list:
        """[(open_ms, open, high, low, close, volume)] for bars opening in [start, end)."""
        step = _INTERVAL_MS[interval]
        first = max(start, self.listing[(market, "klines")])
        first = -(-first // step) * step
        out = []
        for t in range(first, end, step):
            o, c = self.price(t), self.price(t + step)
            out.append((t, o, round(max(o, c) * 1.01, 2), round(min(o, c) * 0.99, 2), c,
                        round(1000 + (t // step) % 97, 3)))
        return out

    def funding(self, market: str, start: int, end: int) -> list:
        """[(settlement_ms, interval_hours, rate)] in [start, end)."""
        step = 8 * 3_600_000
        first = max(start, self.listing[(market, "fundingRate")])
        first = -(-first // step) * step
        return [(t, 8, round(1e-4 + 2e-4 * math.sin((t // step) / 7.0), 8))
                for t in range(first, end, step)]

    def oi_btc(self, t: int) -> float:
        return round(60000.0 + 20000.0 * math.sin(t / (11 * _DAY)), 3)

    def metrics(self, market: str, start: int, end: int) -> list:
        """[(time_ms, sum_open_interest, sum_open_interest_value)] every 5 minutes."""
        step = 300_000
        first = max(start, self.listing[(market, "metrics")])
        first = -(-first // step) * step
        out = []
        for t in range(first, end, step):
            btc = self.oi_btc(t)
            if market == "um":
                out.append((t, btc, round(btc * self.price(t), 2)))
            else:
                out.append((t, round(btc * self.price(t) / self.contract_usd, 0), btc))
        return out

    # ---------------------------------------------------------------- the files
    def csv(self, market: str, dataset: str, symbol: str, interval: Optional[str],
            start: int, end: int) -> Optional[str]:
        if (market, dataset) not in self.listing or end <= self.listing[(market, dataset)]:
            return None
        header = market != "spot" and start >= self.header_from
        lines = []
        if dataset == "klines":
            if header:
                vol = "base_volume" if market == "cm" else "quote_volume"
                lines.append("open_time,open,high,low,close,volume,close_time,"
                             f"{vol},count,taker_buy_volume,taker_buy_{vol},ignore")
            step = _INTERVAL_MS[interval]
            for t, o, h, lo, c, v in self.bars(market, interval, start, end):
                scale = 1000 if market == "spot" and t >= self.micros_from else 1
                lines.append(f"{t * scale},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{v:.3f},"
                             f"{(t + step - 1) * scale},{v * c:.4f},{int(v) * 3},"
                             f"{v / 2:.3f},{v * c / 2:.4f},0")
        elif dataset == "fundingRate":
            if header:
                lines.append("calc_time,funding_interval_hours,last_funding_rate")
            lines += [f"{t},{h},{r:.8f}" for t, h, r in self.funding(market, start, end)]
        else:
            lines.append("create_time,symbol,sum_open_interest,sum_open_interest_value,"
                         "count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,"
                         "count_long_short_ratio,sum_taker_long_short_vol_ratio")
            for t, a, v in self.metrics(market, start, end):
                stamp = pd.Timestamp(t, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")
                lines.append(f"{stamp},{symbol},{a:.8f},{v:.8f},1.1,1.2,1.3,0.9")
        return "\n".join(lines) + "\n"


def _zip(member: str, text: str) -> bytes:
    """Deterministic bytes (a fixed member date), so a zip and its CHECKSUM always agree."""
    buf = io.BytesIO()
    info = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, text)
    return buf.getvalue()


_MARKETS = {"spot": "spot", "futures/um": "um", "futures/cm": "cm"}
FAULTS = ("bad_checksum", "missing", "truncated", "truncated_published", "no_checksum",
          "implausible")


class FakeArchive(BackgroundHTTPService):
    """The fake service.  ``with FakeArchive(now="2024-03-15") as fa: fa.url`` -> base URL to
    give ``archive_base`` / ``$BTCFLOW_NB_ARCHIVE_BASE``.  `requests` lists the paths asked."""

    def __init__(self, truth: Optional[ArchiveTruth] = None, *, now="2024-03-15"):
        self.truth = truth or ArchiveTruth()
        self.now = _ms(now)
        self.faults: dict = {}            # file name -> fault kind
        self.requests: list = []

    def inject(self, kind: str, file_name: str) -> None:
        """Make `file_name` (e.g. ``BTCUSDT-metrics-2024-01-02.zip``) faulty."""
        if kind not in FAULTS:
            raise ValueError(f"fault {kind!r} is not valid; valid: {list(FAULTS)}")
        self.faults[file_name] = kind

    def file(self, path: str) -> Optional[bytes]:
        """The bytes served at `path` (no leading slash), or None for a 404."""
        checksum = path.endswith(".CHECKSUM")
        zip_path = path[:-len(".CHECKSUM")] if checksum else path
        name = zip_path.rsplit("/", 1)[-1]
        body = self._zip_for(zip_path)
        if body is None:
            return None
        fault = self.faults.get(name)
        if fault == "missing":
            return None
        if fault in ("truncated", "truncated_published"):
            cut = body[: len(body) // 2]
            if not checksum:
                return cut
            if fault == "truncated_published":
                body = cut
        if not checksum:
            return body
        if fault == "no_checksum":
            return None
        digest = hashlib.sha256(body).hexdigest()
        if fault == "bad_checksum":
            digest = hashlib.sha256(body + b"tampered").hexdigest()
        return f"{digest}  {name}\n".encode()

    def _zip_for(self, path: str) -> Optional[bytes]:
        parts = path.split("/")
        if len(parts) < 5 or parts[0] != "data" or not parts[-1].endswith(".zip"):
            return None
        if parts[1] == "spot":
            market, rest = "spot", parts[2:]
        elif parts[1] == "futures" and len(parts) > 2 and parts[2] in ("um", "cm"):
            market, rest = parts[2], parts[3:]
        else:
            return None
        freq, dataset, symbol = rest[0], rest[1], rest[2]
        stem = rest[-1][:-4]
        interval = rest[3] if dataset == "klines" and len(rest) == 5 else None
        prefix = f"{symbol}-{interval}-" if interval else f"{symbol}-{dataset}-"
        if not stem.startswith(prefix):
            return None
        period = stem[len(prefix):]
        try:
            start = _ms(period + ("-01" if freq == "monthly" else ""))
        except ValueError:
            return None
        if freq == "monthly" and len(period) == 7:
            end = _ms((pd.Timestamp(start, unit="ms") + pd.offsets.MonthBegin(1)).isoformat())
        elif freq == "daily" and len(period) == 10:
            end = start + _DAY
        else:
            return None
        if end > self.now - (self.now % _DAY) or (dataset == "fundingRate" and freq != "monthly") \
                or (dataset == "metrics" and freq != "daily"):
            return None
        text = self.truth.csv(market, dataset, symbol, interval, start, end)
        if text is not None and self.faults.get(rest[-1]) == "implausible":
            # the last row's third field (a high price, a funding rate, an OI amount) is -1
            lines = text.rstrip("\n").split("\n")
            fields = lines[-1].split(",")
            lines[-1] = ",".join(fields[:2] + ["-1"] + fields[3:])
            text = "\n".join(lines) + "\n"
        return None if text is None else _zip(stem + ".csv", text)

    # ---------------------------------------------------------------- the server
    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?", 1)[0].lstrip("/")
                fake.requests.append(path)
                body = fake.file(path)
                if body is None:
                    self.send_response(404)
                    body = b"<Error><Code>NoSuchKey</Code></Error>"
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler
