"""Configuration for live data: environment variables and an optional JSON/TOML file.

Environment variables
---------------------
``BTCFLOW_NB_CONFIG``
    Path of a JSON (``.json``) or TOML (``.toml``) file with any of these keys::

        api_base   = "http://127.0.0.1:8765"   # send every venue to one server (a fake exchange)
        archive_base = "https://data.binance.vision"  # bulk archives (btcflow_nb.sources.archives)
        cache_dir  = "/data/btcflow-cache"      # where the Parquet cache lives
        [exchanges.binanceusdm]                 # ccxt constructor options per ccxt exchange id
        httpsProxy = "http://proxy:3128"        #   (proxies, timeout, rateLimit, apiKey, ...)
        [retry]
        attempts = 5                            # tries per request (first one included)
        base_delay = 0.5                        # seconds; doubles per retry, capped by max_delay
        max_delay = 30.0
        [[venues]]                              # extra venues / symbols (fields of venue.Venue)
        key = "bybit_inverse"
        kind = "perp"
        exchange_id = "bybit"
        symbol = "BTC/USD:BTC"
        contract = "inverse"
        funding_history = true

``BTCFLOW_NB_API_BASE``
    ``http://127.0.0.1:PORT``: overrides ``api_base``.  Every ccxt URL
    ``https://HOST/PATH`` becomes ``API_BASE/EXCHANGE_ID/HOST/PATH``, which is what
    `btcflow_nb.testing.fake_exchange.FakeExchange` serves.  Notebooks and the command line pick it
    up, so they can run against the fake exchange offline.

``BTCFLOW_NB_ARCHIVE_BASE``
    Overrides ``archive_base``: where `btcflow_nb.sources.archives` downloads Binance's public
    data files from (a mirror, or `btcflow_nb.testing.FakeArchive` offline).

``BTCFLOW_NB_CACHE_DIR``
    Overrides ``cache_dir``.  Default: ``$XDG_CACHE_HOME/btcflow-nb`` or ``~/.cache/btcflow-nb``.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .venue import Venue

ENV_CONFIG = "BTCFLOW_NB_CONFIG"
ENV_API_BASE = "BTCFLOW_NB_API_BASE"
ENV_CACHE_DIR = "BTCFLOW_NB_CACHE_DIR"

_CONFIG_KEYS = ("api_base", "archive_base", "cache_dir", "exchanges", "retry", "venues")
_RETRY_KEYS = ("attempts", "base_delay", "max_delay")


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failed request is retried: `attempts` tries in all; the wait before retry n
    (n = 1, 2, ...) is ``min(max_delay, base_delay * 2**(n-1))`` seconds, or the server's
    Retry-After when it sends one (also capped by max_delay)."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def __post_init__(self):
        for key, low, high in (("attempts", 1, 100), ("base_delay", 0.0, 60.0),
                               ("max_delay", 0.0, 3600.0)):
            _check_number(f"retry.{key}", getattr(self, key), low, high,
                          whole=key == "attempts")
        object.__setattr__(self, "attempts", int(self.attempts))

    def delay(self, retry_number: int) -> float:
        return min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))


#: ccxt options whose values are numbers, with the range that cannot hang or flood a venue:
#: (low, high) -- rateLimit in ms between requests, timeout in ms per request.
_NUMERIC_OPTIONS = {"rateLimit": (0.0, 60_000.0), "timeout": (1.0, 600_000.0)}


def _check_number(key: str, value, low: float, high: float, *, whole: bool = False) -> None:
    """ValueError naming the configuration key unless `value` is a finite number in
    [low, high] (a whole one when `whole`): NaN, inf, strings and booleans are refused."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = value == value and low <= value <= high and (not whole or float(value).is_integer())
    if not ok:
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"configuration {key}={value!r} is not valid; valid: {kind} from "
                         f"{low:g} to {high:g}")


@dataclass(frozen=True)
class Config:
    api_base: Optional[str] = None
    archive_base: Optional[str] = None
    cache_dir: Optional[str] = None
    exchanges: dict = field(default_factory=dict)
    retry: RetryPolicy = RetryPolicy()
    venues: tuple = ()
    source: Optional[str] = None  # the file it came from


def default_cache_dir() -> Path:
    """``$BTCFLOW_NB_CACHE_DIR``, else the config file's cache_dir, else
    ``$XDG_CACHE_HOME/btcflow-nb`` (``~/.cache/btcflow-nb`` when XDG_CACHE_HOME is unset)."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    cfg = load_config()
    if cfg.cache_dir:
        return Path(cfg.cache_dir).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "btcflow-nb"


def read_config_file(path, what: str, valid_keys, named_by: Optional[str] = None) -> dict:
    """The top-level table of the TOML (``.toml``) or JSON (``.json``) file at `path`, every key
    among `valid_keys`.  Serves `load_config` and the watch configuration
    (`btcflow_nb.alerts.config`).  `what` names the file in errors ("configuration file",
    "watch config file"); `named_by` says where the path came from (``$BTCFLOW_NB_CONFIG``).
    Raises ValueError naming the file: missing, another suffix (the valid ones named),
    unparsable (the parser's message), not a table at the top, or unknown keys (the valid ones
    named)."""
    p = Path(path).expanduser()
    via = f" ({named_by} points at it)" if named_by else ""
    if not p.is_file():
        raise ValueError(f"{what} {str(p)!r}{via} is not a file")
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ValueError(f"{what} {str(p)!r}{via} must end in .toml or .json; got "
                         f"{suffix or 'no suffix'!r}")
    text = p.read_text(encoding="utf-8")
    try:
        if suffix == ".toml":
            import tomllib
            raw = tomllib.loads(text)
        else:
            raw = json.loads(text)
    except ValueError as exc:   # tomllib.TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"cannot parse {what} {p.name!r} ({p}): {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{what} {p.name!r} must hold a table/object (a mapping) at the top; "
                         f"got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(valid_keys))
    if unknown:
        raise ValueError(f"{what} {p.name!r}: unknown key(s) {unknown}; valid keys: "
                         f"{list(valid_keys)}")
    return raw


def load_config(path: Optional[str] = None) -> Config:
    """Read the configuration (``path`` or ``$BTCFLOW_NB_CONFIG``; none -> defaults), then apply
    ``$BTCFLOW_NB_API_BASE``.  Raises ValueError naming the file and the bad key."""
    named_by = None if path else f"${ENV_CONFIG}"
    path = path or os.environ.get(ENV_CONFIG) or None
    raw = read_config_file(path, "configuration file", _CONFIG_KEYS,
                           named_by=named_by) if path else {}
    retry_raw = raw.get("retry", {})
    if not isinstance(retry_raw, dict):
        raise ValueError(f"configuration 'retry' must be a table of {list(_RETRY_KEYS)}; got "
                         f"{retry_raw!r:.60}")
    bad = sorted(set(retry_raw) - set(_RETRY_KEYS))
    if bad:
        raise ValueError(f"configuration 'retry': unknown key(s) {bad}; valid: {list(_RETRY_KEYS)}")
    exchanges = raw.get("exchanges", {})
    if not isinstance(exchanges, dict):
        raise ValueError(f"configuration 'exchanges' must map ccxt exchange ids to option "
                         f"tables; got {exchanges!r:.60}")
    for eid, options in exchanges.items():
        if not isinstance(options, dict):
            raise ValueError(f"configuration 'exchanges.{eid}' must be a table of ccxt options; "
                             f"got {options!r:.60}")
        _check_exchange_id(eid)
        for option, (low, high) in _NUMERIC_OPTIONS.items():
            if option in options:
                _check_number(f"exchanges.{eid}.{option}", options[option], low, high)
    if "cache_dir" in raw:
        check_cache_dir(raw["cache_dir"])
    if not isinstance(raw.get("venues", []), list):
        raise ValueError(f"configuration 'venues' must be a list of venue tables; got "
                         f"{raw['venues']!r:.60}")
    api_base = os.environ.get(ENV_API_BASE) or raw.get("api_base")
    if api_base:
        api_base = _check_api_base(api_base)
    return Config(
        api_base=api_base,
        archive_base=raw.get("archive_base"),
        cache_dir=raw.get("cache_dir"),
        exchanges={str(k): dict(v) for k, v in exchanges.items()},
        retry=RetryPolicy(**retry_raw),
        venues=tuple(Venue.from_dict(dict(v)) for v in raw.get("venues", []) or []),
        source=str(path) if path else None,
    )


def _check_exchange_id(eid) -> None:
    import ccxt

    if eid not in ccxt.exchanges:
        raise ValueError(f"configuration 'exchanges': {eid!r} is not a ccxt exchange id; valid: "
                         f"ids such as 'binance', 'okx', 'krakenfutures' (ccxt.exchanges)")


def _check_api_base(url: str) -> str:
    url = str(url).rstrip("/")
    if not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", url):
        raise ValueError(f"api_base {url!r} is not an http(s) URL like http://127.0.0.1:8765")
    return url


def point_exchange_at(exchange, api_base: str) -> None:
    """Rewrite a ccxt exchange's API URLs so every request goes to `api_base`.

    ``https://HOST/PATH`` -> ``API_BASE/EXCHANGE_ID/HOST/PATH`` (``{hostname}`` placeholders are
    substituted with ``exchange.hostname`` first).  Used for the fake exchange and for
    corporate gateways that mirror venues under one host.
    """
    api_base = _check_api_base(api_base)
    hostname = getattr(exchange, "hostname", None) or ""

    def rewrite(value):
        if isinstance(value, str):
            value = value.replace("{hostname}", hostname)
            m = re.match(r"^(?:https?|wss?)://([^/]+)(.*)$", value)
            if not m:
                return value
            return f"{api_base}/{exchange.id}/{m.group(1)}{m.group(2)}"
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        return value

    urls = dict(exchange.urls)
    urls["api"] = rewrite(urls["api"])
    exchange.urls = urls


# ---- arguments every entry point of `btcflow_nb.sources` shares -----------------------------

def check_cache_dir(value, *, must_exist: bool = False):
    """`value` as a ``cache_dir`` argument: None (the default cache), False (no cache, where
    allowed) or a non-empty path (str or ``os.PathLike``); `must_exist`: a directory that is
    there (reading a cache that does not exist is a typo, not an empty cache)."""
    if value is None or value is False:
        return value
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)) \
            or not str(os.fspath(value)).strip():
        raise ValueError(f"cache_dir={value!r} is not a directory; valid: a path (str or "
                         f"pathlib.Path), None (the default cache) or False (no cache)")
    if must_exist and not Path(value).expanduser().is_dir():
        raise ValueError(f"cache_dir={str(value)!r} does not exist; valid: the directory of an "
                         f"existing cache, or None for the default one")
    return value


def check_flag(name: str, value) -> bool:
    """`value` as a True/False argument (no truthy strings or numbers)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} must be True or False")
    return bool(value)


def check_exchanges(value) -> dict:
    """`value` as ``exchanges=``: None or a dict {ccxt id or venue name: exchange}."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"exchanges={value!r:.80} must be a dict {{ccxt exchange id or venue "
                         f"name: ccxt.async_support exchange}}, or None")
    return dict(value)


def check_seconds(name: str, value, high: float = 3600.0) -> float:
    """`value` as a finite number of seconds in [0.001, `high`]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
            or not (0.001 <= float(value) <= high):
        raise ValueError(f"{name}={value!r} is not a time-out; valid: seconds in "
                         f"[0.001, {high:g}]")
    return float(value)
