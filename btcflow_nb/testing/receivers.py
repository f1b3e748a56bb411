"""Local alert receivers on 127.0.0.1 for tests: a webhook endpoint and a real SMTP server.

`WebhookReceiver` (http.server in a thread) records every POST and can answer errors or stall:

    with WebhookReceiver() as hook:
        hook.fail_next(2, status=500)     # the next two POSTs get HTTP 500
        hook.stall_next(1, seconds=3)     # the next one is held 3 s (a client timeout)
        ... hook.accepted                 # bodies answered 2xx in time, in arrival order

`SMTPReceiver` is aiosmtpd's SMTP server (the real protocol: EHLO, STARTTLS, AUTH, DATA) with
STARTTLS required, optional AUTH LOGIN/PLAIN with one user, and refusals on demand:

    cert, key = self_signed_cert(tmp_path)          # for 127.0.0.1, via `cryptography`
    with SMTPReceiver(cert, key, user="alerts", password="s3cret") as smtp:
        smtp.refuse_next(1, code=451)               # the next DATA gets "451 try again later"
        ... smtp.messages                           # email.message.Message objects

Neither imports anything of btcflow_nb: they speak the real formats, so what is tested is the
real client code path.
"""
from __future__ import annotations

import datetime as _dt
import email
import ipaddress
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from .servers import BackgroundHTTPService, free_port

__all__ = ["WebhookReceiver", "SMTPReceiver", "self_signed_cert"]


class WebhookReceiver(BackgroundHTTPService):
    """Records POSTs: ``requests`` (every one, in arrival order: path, headers, body, status,
    outcome ``arriving`` / ``accepted`` / ``refused`` / ``stalled``) and ``accepted`` (the JSON
    bodies answered 2xx without a stall). ``delay`` seconds are spent on
    every request before answering (to widen the window of a crash during delivery)."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.requests: list = []
        self._faults: list = []   # ("status", code) or ("stall", seconds)
        self._lock = threading.Lock()

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        with self._lock:
            self._faults += [("status", int(status))] * n

    def stall_next(self, n: int = 1, seconds: float = 5.0) -> None:
        with self._lock:
            self._faults += [("stall", float(seconds))] * n

    @property
    def accepted(self) -> list:
        with self._lock:
            return [r["body"] for r in self.requests if r["outcome"] == "accepted"]

    def _handler_class(self):
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with hook._lock:
                    fault = hook._faults.pop(0) if hook._faults else None
                record = {"path": self.path, "headers": dict(self.headers), "body": body,
                          "status": 200, "outcome": "arriving", "time": time.time()}
                with hook._lock:
                    hook.requests.append(record)   # in arrival order
                if hook.delay:
                    time.sleep(hook.delay)
                if fault and fault[0] == "stall":
                    record["outcome"] = "stalled"
                    time.sleep(fault[1])
                elif fault:
                    record.update(status=fault[1], outcome="refused")
                else:
                    record["outcome"] = "accepted"   # set just before the answer leaves
                data = b"ok" if record["status"] < 300 else b"error"
                try:
                    self.send_response(record["status"])
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass   # the client gave up (a stall)

            def log_message(self, *args):
                pass

        return Handler


def self_signed_cert(directory, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate and key for ``host`` (an IP address SAN), written as PEM files
    ``cert.pem`` / ``key.pem`` in ``directory``; the certificate is also the CA to trust."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5))
            .not_valid_after(now + _dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(
                ipaddress.ip_address(host))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class SMTPReceiver:
    """aiosmtpd on 127.0.0.1 (a free port) requiring STARTTLS; ``messages`` holds what was
    accepted (``email.message.Message``), ``sessions`` one dict per DATA: ``tls`` (bool),
    ``user`` (the authenticated login or None), ``outcome``."""

    def __init__(self, cert, key, *, user: str | None = None, password: str | None = None,
                 delay: float = 0.0):
        import ssl

        self.delay = delay   # seconds spent in DATA before answering
        self.cert, self.key = Path(cert), Path(key)
        self.user, self.password = user, password
        self.port = free_port()
        self.host = "127.0.0.1"
        self.messages: list = []
        self.sessions: list = []
        self._refusals: list = []
        self._lock = threading.Lock()
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(str(self.cert), str(self.key))
        self._controller = None

    def refuse_next(self, n: int = 1, code: int = 451, text: str = "try again later") -> None:
        with self._lock:
            self._refusals += [(int(code), text)] * n

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        ok = (self.user is not None and auth_data.login.decode() == self.user
              and auth_data.password.decode() == self.password)
        return AuthResult(success=ok, auth_data=auth_data)

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        with self._lock:
            refusal = self._refusals.pop(0) if self._refusals else None
            info = {"tls": session.ssl is not None,
                    "user": session.auth_data.login.decode() if session.authenticated
                    and session.auth_data is not None else None,
                    "outcome": "refused" if refusal else "accepted"}
            self.sessions.append(info)
            if refusal:
                return f"{refusal[0]} {refusal[1]}"
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def start(self) -> "SMTPReceiver":
        from aiosmtpd.controller import Controller

        auth = {}
        if self.user is not None:
            auth = dict(authenticator=self._authenticator, auth_required=True,
                        auth_require_tls=True)
        self._controller = Controller(self, hostname=self.host, port=self.port,
                                      tls_context=self._tls, require_starttls=True, **auth)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
