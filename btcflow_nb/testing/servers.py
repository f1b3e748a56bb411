"""Local server processes for the browser tests and the browser benchmark (loopback only).

Voila and JupyterLab run as subprocesses on ``127.0.0.1`` with private Jupyter/IPython
directories, so a developer's own configuration cannot leak in and nothing is written to it.
"""
from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["JUPYTER_DIR_VARS", "OFFLINE_API_BASE", "PRIVATE_ENV_VARS", "ServerProcess",
           "free_port", "is_loopback_url", "offline_data_env", "private_jupyter_env",
           "start_voila"]

#: The environment variables that place Jupyter's and IPython's configuration, data and
#: runtime directories, with the subdirectory each gets in :func:`private_jupyter_env`.
JUPYTER_DIR_VARS = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data",
                    "JUPYTER_RUNTIME_DIR": "runtime", "IPYTHONDIR": "ipython"}


def free_port() -> int:
    """An ephemeral TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_loopback_url(url: str) -> bool:
    """True for URLs that stay on this machine: file/data/blob/about, or http(s)/ws(s) on
    127.0.0.1. Browser tests abort every other request."""
    parts = urlsplit(url)
    if parts.scheme in ("file", "data", "blob", "about"):
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname == "127.0.0.1"


#: "No network" for `btcflow_nb.load`: every venue request and the connectivity check go to
#: port 1 on the loopback interface, where nothing listens (a privileged port: no test server
#: can take it), so connects are refused at once.
OFFLINE_API_BASE = "http://127.0.0.1:1"

#: The variables :func:`offline_data_env` sets (an in-process kernel needs them in os.environ).
PRIVATE_ENV_VARS = (*JUPYTER_DIR_VARS, "BTCFLOW_NB_CACHE_DIR", "BTCFLOW_NB_API_BASE")


def offline_data_env(env: dict, base: Path) -> dict[str, str]:
    """``env`` made offline and deterministic for `btcflow_nb.load`: a private, empty cache
    (``base/btcflow-cache``), no network (`OFFLINE_API_BASE`), no configuration file and no
    ``$BTCFLOW_NB_SOURCE`` -- so ``bf.load()`` returns the labelled demo quickly and stored
    notebook outputs stay comparable. A test that wants a fake exchange updates the result
    with ``FakeExchange.env(...)``."""
    env = dict(env)
    env["BTCFLOW_NB_CACHE_DIR"] = str(base / "btcflow-cache")
    env["BTCFLOW_NB_API_BASE"] = OFFLINE_API_BASE
    for var in ("BTCFLOW_NB_CONFIG", "BTCFLOW_NB_SOURCE", "BTCFLOW_NB_ARCHIVE_BASE"):
        env.pop(var, None)
    return env


def private_jupyter_env(base: Path) -> dict[str, str]:
    """``os.environ`` with private, empty Jupyter and IPython directories under ``base``, made
    offline for btcflow-nb data (:func:`offline_data_env`: a private empty cache, no network)."""
    env = dict(os.environ)
    for var, sub in JUPYTER_DIR_VARS.items():
        (base / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(base / sub)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env.pop("JUPYTER_PATH", None)
    return offline_data_env(env, base)


class ServerProcess:
    """A server subprocess on ``127.0.0.1:port``; ready when ``ready_path`` answers 200 (or, if
    None, when the port accepts connections). Its output goes to ``log_path``."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cwd: Path,
                 port: int, ready_path: str | None, log_path: Path, timeout_s: float = 120):
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(command, env=env, cwd=cwd, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(ready_path, timeout_s)

    def _wait_ready(self, ready_path: str | None, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   + self.log())
            try:
                if ready_path is None:  # just a listening socket
                    socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
                    return
                with urllib.request.urlopen(self.url + ready_path, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        log = self.log()
        self.stop()
        raise RuntimeError(f"{self.name} did not answer on {self.url} within {timeout_s:g}s:\n"
                           f"{log}")

    def log(self) -> str:
        """The last 4000 characters of the server's output."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


class LoopbackHTTPServer(ThreadingHTTPServer):
    #: listen backlog: socketserver's default of 5 drops the connections of a client that opens
    #: many at once (a fetch opens one per exchange, 14), and each dropped SYN is retried by the
    #: client's TCP stack only after ~1 s -- a stall no real front end would add
    request_queue_size = 128
    daemon_threads = True


class BackgroundHTTPService:
    """An in-process HTTP server on 127.0.0.1 (a free port) in a daemon thread: the lifecycle
    the offline fakes (exchange, archive) share. A subclass gives ``_handler_class()``, a
    ``BaseHTTPRequestHandler`` subclass; ``start()`` returns the base URL, ``stop()`` closes the
    socket, and the object is a context manager."""

    _server = None
    _thread = None

    def _handler_class(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self) -> str:
        self._server = LoopbackHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=type(self).__name__)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def start_voila(notebook: Path, workdir: Path, *, args=(), env: dict | None = None,
                timeout_s: float = 120) -> ServerProcess:
    """Voila on 127.0.0.1 serving a copy of ``notebook`` (any path: the notebook is a
    parameter) from ``workdir/notebooks``, with private Jupyter dirs and offline data
    (:func:`private_jupyter_env`, updated with ``env``); ``args``: extra Voila options (e.g.
    ``--preheat_kernel=True``, ``--pool_size=1``). The page is at ``server.url + "/"``."""
    import shutil
    import sys

    nbdir = workdir / "notebooks"
    nbdir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(notebook, nbdir / Path(notebook).name)
    full_env = private_jupyter_env(workdir)
    full_env.update(env or {})
    port = free_port()
    return ServerProcess(
        "voila", [sys.executable, "-m", "voila", "--no-browser", "--Voila.ip=127.0.0.1",
                  f"--port={port}", "--Voila.port_retries=0", *args, Path(notebook).name],
        full_env, nbdir, port, None, workdir / "voila.log", timeout_s=timeout_s)
