"""Idle kernels of the Voila app are culled (issue 15), checked on a real server.

Voila runs with the app's own options (:data:`~btcflow_nb.dashboard.app.VOILA_ARGS`: the
preheated pool included), only the two cull times shortened, on a one-cell notebook (what is
tested is the server's kernel management, not the dashboard). A page request takes the
preheated kernel; while a client holds its WebSocket the kernel stays (``cull_connected`` is
off), once the client is gone the kernel is shut down after the idle timeout, and the pool's
fresh kernel is not culled: the next page still gets a kernel at once.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from btcflow_nb.dashboard.app import CULL_IDLE_S, CULL_INTERVAL_S, VOILA_ARGS, voila_command
from btcflow_nb.testing.servers import ServerProcess, free_port, private_jupyter_env

pytestmark = pytest.mark.slow

IDLE_S, INTERVAL_S = 3, 1          # the test's cull times (the app's: CULL_IDLE_S, ...)
POLL_LIMIT_S = 60                  # a loaded machine may be slow to run the culler


def _short_cull_command(notebook: str, port: int) -> list[str]:
    """``voila_command`` with the two cull times replaced, every other option kept."""
    swap = {f"cull_idle_timeout={CULL_IDLE_S}": f"cull_idle_timeout={IDLE_S}",
            f"cull_interval={CULL_INTERVAL_S}": f"cull_interval={INTERVAL_S}"}
    command = voila_command(notebook, port)
    replaced = [next((arg.replace(old, new) for old, new in swap.items() if arg.endswith(old)),
                     arg) for arg in command]
    assert sum(a != b for a, b in zip(command, replaced)) == 2, command   # both were there
    return replaced


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("voila-cull")
    nbdir = base / "notebooks"
    nbdir.mkdir()
    cell = {"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
            "outputs": [], "source": "print('ready')"}
    (nbdir / "tiny.ipynb").write_text(json.dumps(
        {"cells": [cell], "nbformat": 4, "nbformat_minor": 5, "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3",
                           "language": "python"}}}))
    port = free_port()
    proc = ServerProcess("voila", _short_cull_command("tiny.ipynb", port),
                         private_jupyter_env(base), nbdir, port, None, base / "voila.log",
                         timeout_s=120)
    yield proc
    proc.stop()


def _open_page(server) -> str:
    """GET the page (it takes a kernel, preheated when the pool has one); its kernel id."""
    with urllib.request.urlopen(server.url + "/", timeout=120) as response:
        html = response.read().decode()
    config = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                       html, re.S)
    assert config, html[:500]
    return json.loads(config.group(1))["kernelId"]


def _kernel_alive(server, kernel_id: str) -> bool:
    try:
        with urllib.request.urlopen(f"{server.url}/api/kernels/{kernel_id}", timeout=30):
            return True
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise


def _wait_culled(server, kernel_id: str) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < POLL_LIMIT_S:
        if not _kernel_alive(server, kernel_id):
            return time.monotonic() - t0
        time.sleep(0.5)
    pytest.fail(f"kernel {kernel_id} still alive {POLL_LIMIT_S} s after its page left "
                f"(cull after {IDLE_S} s idle):\n{server.log()}")


async def _hold_websocket(server, kernel_id: str, seconds: float) -> list[bool]:
    """Connect to the kernel's channels like a page does, stay connected ``seconds``, checking
    the kernel every second; then disconnect."""
    from tornado.websocket import websocket_connect

    url = server.url.replace("http", "ws") + f"/api/kernels/{kernel_id}/channels"
    connection = await websocket_connect(url)
    alive = []
    try:
        for _ in range(int(seconds)):
            await asyncio.sleep(1)
            alive.append(await asyncio.to_thread(_kernel_alive, server, kernel_id))
    finally:
        connection.close()
    return alive


def test_the_app_options_cull_idle_kernels():
    assert "--preheat_kernel=True" in VOILA_ARGS
    assert f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_S}" in VOILA_ARGS
    assert f"--MappingKernelManager.cull_interval={CULL_INTERVAL_S}" in VOILA_ARGS
    assert "--MappingKernelManager.cull_connected=False" in VOILA_ARGS


def test_a_connected_page_keeps_its_kernel_and_a_left_one_is_culled(server):
    kernel = _open_page(server)
    assert _kernel_alive(server, kernel)
    alive = asyncio.run(_hold_websocket(server, kernel, 3 * IDLE_S))   # idle but connected
    assert all(alive), alive
    _wait_culled(server, kernel)           # gone once nobody holds it and it stayed idle
    # the pool's kernel, idle for longer than the timeout by now, was not culled: a new page
    # gets a live kernel, and that one is culled in turn when its page leaves
    time.sleep(IDLE_S + 2 * INTERVAL_S)
    second = _open_page(server)
    assert second != kernel and _kernel_alive(server, second)
    _wait_culled(server, second)
