"""The watcher's configuration: a TOML or JSON file for everything, command-line flags on top.

Example ``watch.toml`` (every key optional)::

    state = "~/.local/state/btcflow-nb/watch-state.json"
    every = "1m"                 # how often to evaluate (s, m, h, d)
    since = "2026-11-01"         # first run only: evaluate the bars closed after this time
    venues = ["spot:coinbase", "spot:kraken", "perp:binance", "perp:okx", "perp:bybit"]
    cache_dir = "/var/cache/btcflow-nb"
    stdout = false
    desktop = false
    jsonl = ["~/btcflow-alerts.jsonl"]

    [[rules]]
    alerts = ["premium_high", "premium_low", "bullish", "bearish"]
    timeframe = "1D"
    intrabar = false
    [rules.settings]             # any flow_metrics keyword
    lookback = "365D"
    bb_mult = 2.0

    [[webhooks]]
    url_env = "SLACK_WEBHOOK_URL"   # the URL from the environment (keeps tokens out of files)
    format = "slack"                # auto, json, slack, discord

    [email]
    to = ["me@example.com"]
    host = "smtp.example.com"       # or $BTCFLOW_NB_SMTP_HOST
    port = 587                      # or $BTCFLOW_NB_SMTP_PORT
    from = "btcflow@example.com"
    starttls = true
    username_env = "BTCFLOW_NB_SMTP_USER"
    password_env = "BTCFLOW_NB_SMTP_PASSWORD"
    cafile = "/etc/ssl/my-ca.pem"   # optional: trust this CA for STARTTLS

    [retry]                          # per channel and alert
    attempts = 4                     # tries per cycle
    base_delay = 1.0                 # seconds, doubled per retry, capped by max_delay
    max_delay = 30.0
    timeout = 10.0                   # seconds per webhook request / SMTP session

Flags replace (``--alerts``/``--timeframe``: one rule; ``--state``, ``--every``, ``--since``)
or add to (``--webhook``, ``--email``, ``--jsonl``) what the file says. No channel at all means
stdout.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..sources.config import read_config_file
from .channels import (DesktopChannel, EmailChannel, JsonlChannel, StdoutChannel,
                       WebhookChannel)
from .rules import Rule
from .state import default_state_path

__all__ = ["WatchConfig", "RetrySettings", "parse_duration", "load_watch_config"]

_TOP_KEYS = ("state", "every", "since", "venues", "cache_dir", "stdout", "desktop", "jsonl",
             "rules", "webhooks", "email", "retry")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNIT_S = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(value, name: str = "every") -> float:
    """``"30s"``, ``"15m"``, ``"1h"``, ``"1d"`` or a number of seconds -> seconds (> 0)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value)) if isinstance(value, str) else None
        if not match:
            raise ValueError(f"{name}={value!r} is not a duration; valid: a number with s, m, h "
                             f"or d, e.g. '30s', '15m', '1h'")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{name}={value!r} must be longer than 0 seconds")
    return seconds


@dataclass(frozen=True)
class RetrySettings:
    """Per channel and alert: ``attempts`` tries; the wait before try n+1 is
    ``min(max_delay, base_delay * 2**(n-1))`` seconds; ``timeout`` seconds per request."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    timeout: float = 10.0

    def __post_init__(self):
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or \
                self.attempts < 1:
            raise ValueError(f"retry attempts={self.attempts!r} must be a whole number >= 1")
        for k in ("base_delay", "max_delay", "timeout"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or \
                    (k == "timeout" and v == 0):
                raise ValueError(f"retry {k}={v!r} must be a number of seconds >= 0")

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1))


@dataclass
class WatchConfig:
    rules: list = field(default_factory=lambda: [Rule(("premium_high", "premium_low"), "1D")])
    channels: list = field(default_factory=list)
    state: Path = field(default_factory=default_state_path)
    every: float = 60.0
    since: object = None
    venues: object = None
    cache_dir: object = None
    retry: RetrySettings = field(default_factory=RetrySettings)


def _read_file(path) -> dict:
    return read_config_file(path, "watch config file", _TOP_KEYS)


def _split(values) -> list:
    out = []
    for v in values or ():
        out += [p.strip() for p in str(v).split(",") if p.strip()]
    return out


def _webhook(spec: dict, timeout: float) -> WebhookChannel:
    if not isinstance(spec, dict):
        raise ValueError(f"each [[webhooks]] entry must be a table; got {type(spec).__name__}")
    url = spec.get("url")
    if spec.get("url_env"):
        url = os.environ.get(spec["url_env"])
        if not url:
            raise ValueError(f"webhook url_env: ${spec['url_env']} is not set")
    if not url:
        raise ValueError("a [[webhooks]] entry needs url or url_env")
    return WebhookChannel(url, format=spec.get("format", "auto"), timeout=timeout)


def _email(spec: dict, extra_to: list, timeout: float):
    to = list(spec.get("to") or []) if isinstance(spec.get("to"), list) else (
        [spec["to"]] if spec.get("to") else [])
    to += extra_to
    if not to:
        return None
    port = spec.get("port") or os.environ.get("BTCFLOW_NB_SMTP_PORT") or 587
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise ValueError(f"SMTP port {port!r} is not a port number") from None
    return EmailChannel(to, host=spec.get("host") or os.environ.get("BTCFLOW_NB_SMTP_HOST", ""),
                        port=port, sender=spec.get("from") or os.environ.get(
                            "BTCFLOW_NB_SMTP_FROM"),
                        starttls=spec.get("starttls", True),
                        username_env=spec.get("username_env", "BTCFLOW_NB_SMTP_USER"),
                        password_env=spec.get("password_env", "BTCFLOW_NB_SMTP_PASSWORD"),
                        cafile=spec.get("cafile"), timeout=timeout)


def load_watch_config(path=None, *, webhooks=(), emails=(), jsonl=(), alerts=None,
                      timeframe=None, intrabar=None, every=None, state=None, since=None,
                      stdout=None, desktop=None, venues=None, cache_dir=None) -> WatchConfig:
    """The configuration from the file at ``path`` (TOML/JSON, or None) with the command-line
    values on top. Every bad value raises ValueError naming it and the valid choices."""
    data = _read_file(path) if path else {}
    retry = RetrySettings(**{k: v for k, v in (data.get("retry") or {}).items()}) \
        if isinstance(data.get("retry") or {}, dict) else None
    if retry is None:
        raise ValueError("[retry] must be a table")
    rules = []
    for spec in data.get("rules") or []:
        if not isinstance(spec, dict):
            raise ValueError("each [[rules]] entry must be a table")
        bad = sorted(set(spec) - {"alerts", "timeframe", "intrabar", "settings"})
        if bad:
            raise ValueError(f"unknown key(s) {bad} in a [[rules]] entry; valid: alerts, "
                             f"timeframe, intrabar, settings")
        rules.append(Rule(tuple(_split(spec.get("alerts") or [])), spec.get("timeframe", "1D"),
                          spec.get("settings") or {}, bool(spec.get("intrabar", False))))
    if alerts is not None or timeframe is not None or (intrabar and not rules):
        kinds = tuple(_split([alerts])) if alerts else (
            rules[0].kinds if rules else ("premium_high", "premium_low"))
        settings = rules[0].settings if rules else {}
        rules = [Rule(kinds, timeframe or (rules[0].timeframe if rules else "1D"), settings,
                      bool(intrabar))]
    elif intrabar:
        rules = [Rule(r.kinds, r.timeframe, r.settings, True) for r in rules]
    cfg = WatchConfig()
    if rules:
        cfg.rules = rules
    cfg.retry = retry
    cfg.state = Path(state or data.get("state") or default_state_path()).expanduser()
    cfg.every = parse_duration(every if every is not None else data.get("every", "1m"))
    cfg.since = since if since is not None else data.get("since")
    cfg.venues = venues if venues is not None else data.get("venues")
    cfg.cache_dir = cache_dir if cache_dir is not None else data.get("cache_dir")
    channels = [_webhook(w, retry.timeout) for w in data.get("webhooks") or []]
    channels += [WebhookChannel(u, timeout=retry.timeout) for u in webhooks or ()]
    mail = _email(data.get("email") or {}, list(emails or ()), retry.timeout)
    if mail is not None:
        channels.append(mail)
    files = data.get("jsonl") or []
    files = [files] if isinstance(files, str) else list(files)
    channels += [JsonlChannel(p) for p in [*files, *(jsonl or ())]]
    if desktop if desktop is not None else data.get("desktop", False):
        channels.append(DesktopChannel())
    if (stdout if stdout is not None else data.get("stdout", False)) or not channels:
        channels.append(StdoutChannel())
    seen = {}
    for ch in channels:
        seen.setdefault(ch.id, ch)
    cfg.channels = list(seen.values())
    return cfg
