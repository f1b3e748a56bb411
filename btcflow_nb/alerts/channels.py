"""Where alerts go: webhooks, e-mail over SMTP, an append-only JSONL file, stdout, the desktop.

Every channel has an ``id`` (a hash: what the state file records, never the URL or a password),
a ``name`` safe to print (``webhook https://hooks.slack.com`` -- scheme and host only) and
``send(alert)``, which raises :class:`DeliveryError` with a message naming the channel and what
went wrong, with every secret of the channel replaced by ``***``.

- :class:`WebhookChannel`: HTTP POST of JSON. ``format``: ``"json"`` (the generic alert with its
  ``idempotency_key``; also sent as the ``Idempotency-Key`` header), ``"slack"``, ``"discord"``;
  ``"auto"`` picks Slack for ``hooks.slack.com``, Discord for ``discord.com/api/webhooks``,
  else JSON. Any 2xx is success; anything else, a timeout or a refused connection fails.

**Permanent or temporary.** A failure is *permanent* (``DeliveryError.permanent``: retrying the
same message cannot help) when the receiver said so: a webhook answering 4xx other than 408
(request timeout) and 429 (too many requests) -- 400 bad body, 401/403 refused token, 404/410
gone; an SMTP server answering 5xx (530/535 login refused, 550 mailbox unknown, 554 rejected)
or a server without STARTTLS. Everything else is *temporary* and retried: webhook 5xx, 408,
429, timeouts and refused connections; SMTP 4xx (421, 450, 451, 452), dropped connections.
``DeliveryError.code`` names the reply (``"HTTP 404"``, ``"SMTP 535"``, ``"no STARTTLS"``).
- :class:`EmailChannel`: SMTP with STARTTLS (required unless ``starttls=False``: credentials are
  never sent in clear), login with the user and password read from environment variables
  (``BTCFLOW_NB_SMTP_USER`` / ``BTCFLOW_NB_SMTP_PASSWORD`` by default). ``Message-ID`` and
  ``X-Btcflow-Idempotency-Key`` carry the idempotency key.
- :class:`JsonlChannel`: one JSON line per alert appended (``O_APPEND``, one ``write``, then
  ``fsync``); a key already in the file is not appended again, so the file holds each alert once.
- :class:`StdoutChannel`: the text body on standard output.
- :class:`DesktopChannel`: ``notify-send`` (libnotify) when it is on ``PATH``; otherwise the
  channel is *unavailable* and refused when configured (never faked).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

from .message import discord_body, generic_json, slack_body, subject, text_body

__all__ = ["Channel", "DeliveryError", "WebhookChannel", "EmailChannel", "JsonlChannel",
           "StdoutChannel", "DesktopChannel", "WEBHOOK_FORMATS", "ENV_SMTP_USER",
           "ENV_SMTP_PASSWORD"]

WEBHOOK_FORMATS = ("auto", "json", "slack", "discord")
ENV_SMTP_USER = "BTCFLOW_NB_SMTP_USER"
ENV_SMTP_PASSWORD = "BTCFLOW_NB_SMTP_PASSWORD"


class DeliveryError(RuntimeError):
    """A channel did not accept an alert (the message names the channel, never a secret).

    ``permanent``: the receiver refused for good (do not retry); ``code``: its reply code."""

    def __init__(self, message: str, *, permanent: bool = False, code: str | None = None):
        super().__init__(message)
        self.permanent, self.code = bool(permanent), code


def webhook_status_is_permanent(status: int) -> bool:
    """HTTP 4xx except 408 and 429: the same request will be refused again."""
    return 400 <= status < 500 and status not in (408, 429)


def _hash_id(kind: str, *parts) -> str:
    return f"{kind}-" + hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:16]


class Channel:
    """Base class: ``id``, ``name``, ``secrets`` (strings never to show) and ``send``."""

    id: str = ""
    name: str = ""
    secrets: tuple = ()
    timeout: float = 10.0

    def redact(self, text: str) -> str:
        """``text`` with every secret of this channel replaced by ``***``."""
        text = str(text)
        for s in sorted((s for s in self.secrets if s), key=len, reverse=True):
            text = text.replace(s, "***")
        return text

    def send(self, alert: dict) -> None:   # pragma: no cover - abstract
        raise NotImplementedError

    def deliver(self, alert: dict) -> None:
        """`send`, with any failure turned into a redacted DeliveryError naming the channel."""
        try:
            self.send(alert)
        except DeliveryError as exc:
            raise DeliveryError(self.redact(str(exc)), permanent=exc.permanent,
                                code=exc.code) from None
        except Exception as exc:  # noqa: BLE001 - reported per channel, never fatal to others
            raise DeliveryError(self.redact(f"{self.name}: {type(exc).__name__}: {exc}")) from None


class WebhookChannel(Channel):
    def __init__(self, url: str, *, format: str = "auto", timeout: float = 10.0):
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("webhook URL must be an http(s) URL with a host; got "
                             f"{parts.scheme or 'no scheme'}://{parts.hostname or '(no host)'}/...")
        if format not in WEBHOOK_FORMATS:
            raise ValueError(f"unknown webhook format {format!r}; valid choices: "
                             f"{', '.join(WEBHOOK_FORMATS)}")
        if format == "auto":
            host = parts.hostname.lower()
            format = ("slack" if host.endswith("slack.com") else
                      "discord" if host.endswith(("discord.com", "discordapp.com"))
                      and "/api/webhooks" in parts.path else "json")
        self.url, self.format, self.timeout = url, format, float(timeout)
        port = f":{parts.port}" if parts.port else ""
        self.host = f"{parts.hostname}{port}"
        self.name = f"webhook {parts.scheme}://{self.host} ({format})"
        self.id = _hash_id("webhook", url, format)
        secret_parts = [parts.path, parts.query, parts.password or "", parts.username or ""]
        if url.rstrip("/") != f"{parts.scheme}://{self.host}":
            secret_parts.append(url)   # a bare scheme://host is the channel's name, not a secret
        secret_parts += [p for p in parts.path.split("/") if len(p) >= 8]
        self.secrets = tuple(s for s in secret_parts if s and s != "/")

    def body(self, alert: dict) -> dict:
        return {"json": generic_json, "slack": slack_body, "discord": discord_body}[
            self.format](alert)

    def send(self, alert: dict) -> None:
        data = json.dumps(self.body(alert)).encode()
        req = urllib.request.Request(self.url, data=data, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "btcflow-nb-watch",
            "Idempotency-Key": alert["idempotency_key"]})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            exc.close()   # its response holds the socket
            permanent = webhook_status_is_permanent(exc.code)
            raise DeliveryError(f"{self.name} answered HTTP {exc.code} {exc.reason}"
                                + (" (permanent: not retried)" if permanent else ""),
                                permanent=permanent, code=f"HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise DeliveryError(f"{self.name}: no answer within {self.timeout:g} s") from None
            raise DeliveryError(f"{self.name} unreachable: {reason}") from None
        except (socket.timeout, TimeoutError):
            raise DeliveryError(f"{self.name}: no answer within {self.timeout:g} s") from None
        except (ConnectionError, OSError) as exc:
            raise DeliveryError(f"{self.name} unreachable: {type(exc).__name__}: {exc}") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"{self.name} answered HTTP {status}",
                                permanent=webhook_status_is_permanent(status),
                                code=f"HTTP {status}")


class EmailChannel(Channel):
    def __init__(self, to, *, host: str, port: int = 587, sender: str | None = None,
                 starttls: bool = True, username_env: str = ENV_SMTP_USER,
                 password_env: str = ENV_SMTP_PASSWORD, cafile: str | None = None,
                 timeout: float = 10.0):
        self.to = [to] if isinstance(to, str) else list(to)
        if not self.to or not all(isinstance(a, str) and "@" in a for a in self.to):
            raise ValueError(f"e-mail recipients must be addresses like name@example.com; got "
                             f"{self.to!r}")
        if not host:
            raise ValueError("e-mail needs an SMTP host: set host in the [email] section of the "
                             "watch config or $BTCFLOW_NB_SMTP_HOST")
        self.host, self.port, self.starttls = host, int(port), bool(starttls)
        self.sender = sender or f"btcflow-nb@{socket.gethostname()}"
        self.username = os.environ.get(username_env) or None
        self.password = os.environ.get(password_env) or None
        if self.password and not self.username:
            raise ValueError(f"${password_env} is set but ${username_env} is not: set both for "
                             f"SMTP login")
        self.cafile, self.timeout = cafile, float(timeout)
        self.name = f"email via {host}:{self.port} to {', '.join(self.to)}"
        self.id = _hash_id("email", host, self.port, ",".join(self.to))
        self.secrets = tuple(s for s in (self.password,) if s)

    def message(self, alert: dict) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = subject(alert)
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = f"<{alert['idempotency_key']}@btcflow-nb>"
        msg["X-Btcflow-Idempotency-Key"] = alert["idempotency_key"]
        msg.set_content(text_body(alert))
        return msg

    def send(self, alert: dict) -> None:
        where = f"{self.name}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    if not smtp.has_extn("starttls"):
                        raise DeliveryError(f"{where}: the server does not offer STARTTLS "
                                            f"(refusing to send credentials or alerts in clear)",
                                            permanent=True, code="no STARTTLS")
                    ctx = ssl.create_default_context(cafile=self.cafile)
                    smtp.starttls(context=ctx)
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(self.message(alert))
                if refused:
                    raise _recipients_refused(where, refused)
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(
                exc.smtp_error, bytes) else str(exc.smtp_error)
            permanent = 500 <= int(exc.smtp_code) < 600
            raise DeliveryError(f"{where}: server refused with {exc.smtp_code} {text}"
                                + (" (permanent: not retried)" if permanent else ""),
                                permanent=permanent, code=f"SMTP {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise _recipients_refused(where, exc.recipients) from None
        except (socket.timeout, TimeoutError):
            raise DeliveryError(f"{where}: no answer within {self.timeout:g} s") from None
        except (ConnectionError, OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{where} unreachable or failed: {type(exc).__name__}: "
                                f"{exc}") from None


def _recipients_refused(where: str, refused: dict) -> DeliveryError:
    """Refused recipients ({address: (code, text)}): permanent when every code is 5xx."""
    codes = sorted({int(c) for c, _ in refused.values()})
    permanent = bool(codes) and all(500 <= c < 600 for c in codes)
    return DeliveryError(f"{where}: recipients refused: {sorted(refused)} (SMTP "
                         f"{', '.join(map(str, codes))})"
                         + (" (permanent: not retried)" if permanent else ""),
                         permanent=permanent, code="SMTP " + ",".join(map(str, codes)))


class JsonlChannel(Channel):
    def __init__(self, path):
        self.path = Path(path).expanduser()
        self.name = f"jsonl {self.path}"
        self.id = _hash_id("jsonl", self.path.resolve())
        self._keys: set | None = None
        self._lock = threading.Lock()

    def _known_keys(self) -> set:
        keys = set()
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    keys.add(json.loads(line).get("idempotency_key"))
                except (ValueError, AttributeError):
                    continue   # a foreign or damaged line is left alone
        return keys

    def send(self, alert: dict) -> None:
        with self._lock:
            if self._keys is None:
                self._keys = self._known_keys()
            if alert["idempotency_key"] in self._keys:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = (json.dumps(alert, sort_keys=True) + "\n").encode()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._keys.add(alert["idempotency_key"])


class StdoutChannel(Channel):
    def __init__(self, stream=None):
        self.stream = stream
        self.name = "stdout"
        self.id = "stdout"

    def send(self, alert: dict) -> None:
        out = self.stream or sys.stdout
        out.write(text_body(alert) + "\n" + "-" * 72 + "\n")
        out.flush()


class DesktopChannel(Channel):
    """``notify-send TITLE BODY`` (libnotify); unavailable without it."""

    def __init__(self, command: str = "notify-send", timeout: float = 10.0):
        self.command = shutil.which(command)
        if self.command is None:
            raise ValueError(f"desktop notifications are unavailable on this machine: "
                             f"{command!r} is not on PATH (install libnotify-bin, or remove "
                             f"the desktop channel)")
        self.name, self.id, self.timeout = "desktop (notify-send)", "desktop", float(timeout)

    def send(self, alert: dict) -> None:
        summary = f"{alert['what']}\n{alert['timeframe']} bar {alert['bar_open']}"
        done = subprocess.run([self.command, "--app-name=btcflow-nb", alert["title"], summary],
                              capture_output=True, text=True, timeout=self.timeout)
        if done.returncode != 0:
            raise DeliveryError(f"{self.name} failed ({done.returncode}): "
                                f"{done.stderr.strip()[:200]}")
