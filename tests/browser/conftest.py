"""Fixtures for the real-browser tests: system Chromium via Playwright, Voila and JupyterLab
servers on 127.0.0.1 (ephemeral ports; one Chromium, and at most one of each server, per test
module, stopped when the module ends), exported HTML (rendered once per session).

Chromium is Debian's /usr/bin/chromium (never `playwright install`). If it is missing and we
are root with apt-get, the set-up installs Debian's package (as `make browser` does); the tests
skip, saying why, only when that is impossible. Every page routes requests to anything but
127.0.0.1 / file: / data: to an abort and records them, so a test can assert none were needed.

Screenshots go to test-artifacts/ (gitignored) at the repository root.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _btcflow_dom import save_screenshot
from _exported import export_project_notebooks

from btcflow_nb.dashboard.app import voila_command
from btcflow_nb.testing.servers import (ServerProcess, free_port, is_loopback_url,
                                        private_jupyter_env)

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1000}


# --------------------------------------------------------------------------- chromium


def _find_chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _install_debian_chromium() -> str:
    """Install Debian's chromium package; returns why it could not, or ''."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available"
    if os.geteuid() != 0:
        return "not root (run `make browser`, which uses sudo)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            return f"`{' '.join(command)}` failed: {proc.stderr.strip()[-300:]}"
    return ""


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = _find_chromium()
    if path is None:
        why = _install_debian_chromium()
        path = _find_chromium()
        if path is None:
            pytest.skip(f"Debian's chromium is not installed and could not be installed: {why}")
    return path


@pytest.fixture(scope="module")
def browser(chromium_executable):
    """Chromium for one test module. Module scope, not session: Playwright's sync API keeps an
    asyncio loop marked as running on the main thread while it is started, which would break
    every later test that calls asyncio.run()."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=chromium_executable,
                                          args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()
    playwright.stop()


class OffsiteRequests(list):
    """URLs of requests that would have left the machine (they were aborted)."""




@pytest.fixture(scope="module")
def open_page(browser):
    """Factory: a fresh page (own context) that aborts every non-local request and records
    its URL in ``page.offsite``; uncaught page errors are collected in ``page.errors``."""
    contexts = []

    def _open():
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        new_page = context.new_page()
        new_page.offsite = OffsiteRequests()
        new_page.errors = []

        def route(route_):
            if is_loopback_url(route_.request.url):
                route_.continue_()
            else:
                new_page.offsite.append(route_.request.url)
                route_.abort()

        new_page.route("**/*", route)
        new_page.on("pageerror", lambda error: new_page.errors.append(str(error)))
        return new_page

    yield _open
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page, request):
    """A fresh guarded page; on failure a screenshot named after the test is saved."""
    new_page = open_page()
    yield new_page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        save_screenshot(new_page, f"FAILED-{request.node.name}")
    new_page.context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def jupyter_env(tmp_path_factory) -> dict[str, str]:
    """Environment for servers/kernels: private Jupyter/IPython dirs, no user config."""
    return private_jupyter_env(tmp_path_factory.mktemp("jupyter-home"))


@pytest.fixture(scope="session")
def notebook_workdir(tmp_path_factory) -> Path:
    """A copy of notebooks/ so that servers (autosave, checkpoints) never touch the repo."""
    target = tmp_path_factory.mktemp("notebooks") / "notebooks"
    shutil.copytree(NOTEBOOKS, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return target


@pytest.fixture(scope="module")
def voila_server(jupyter_env, notebook_workdir, tmp_path_factory):
    """Voila serving the app notebook notebooks/app.ipynb with the `make dashboard` options
    (btcflow_nb.dashboard.app.voila_command: one place for them)."""
    notebook = notebook_workdir / "app.ipynb"
    assert notebook.is_file(), f"{notebook.name} is missing from notebooks/"
    port = free_port()
    server = ServerProcess(
        "voila", voila_command(notebook.name, port),
        jupyter_env, notebook_workdir, port, None,
        tmp_path_factory.mktemp("logs") / "voila.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lab_server(jupyter_env, notebook_workdir, tmp_path_factory):
    """JupyterLab on the notebook copy, no token (loopback only), no update checks."""
    port = free_port()
    server = ServerProcess(
        "jupyterlab",
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={notebook_workdir}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        jupyter_env, notebook_workdir, port, "/api/status",
        tmp_path_factory.mktemp("logs") / "jupyterlab.log")
    yield server
    server.stop()


# --------------------------------------------------------------------------- exported HTML


@pytest.fixture(scope="session")
def widget_js_dir() -> Path:
    """The html-manager/require.js packages; fetched from npm once if not installed yet."""
    from btcflow_nb import render

    try:
        if render.find_widget_assets(()).mathjax is not None:
            return None  # found through the default search path
    except render.RenderError:
        pass
    return render.fetch_widget_js()


@pytest.fixture(scope="session")
def exported_notebooks(widget_js_dir, tmp_path_factory) -> dict[str, Path]:
    """Every notebooks/NN_*.ipynb rendered self-contained: {stem: html path}.

    Rendered as the notebook tests run them: from a copy, with private Jupyter dirs, a
    temporary cache, and the fake exchange on 127.0.0.1 for notebook 04's live fetch (no test
    touches the internet). tests/test_privacy.py reuses the same pages in one session.
    """
    return export_project_notebooks(tmp_path_factory, widget_js_dir)
