"""The app's first paint: under Voila, flow_app displays static SVG of the dashboard it returns
as a mime type only the app's Voila template ``btcflow`` renders; outside Voila, nothing."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell

from btcflow_nb.dashboard.app import (FIRST_PAINT_MIME, JUPYTER_DATA, TEMPLATE, VOILA_ARGS,
                                      first_paint_html, flow_app, voila_command)


@pytest.fixture
def published(monkeypatch):
    """Mime bundles displayed through IPython while the test runs."""
    shell = InteractiveShell.instance()
    bundles = []
    monkeypatch.setattr(shell.display_pub, "publish",
                        lambda data, metadata=None, **kw: bundles.append(data))
    yield bundles
    InteractiveShell.clear_instance()


def test_under_voila_the_first_paint_of_the_returned_dashboard_is_displayed(monkeypatch,
                                                                             published):
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    page = flow_app("source=demo", debounce_ms=0)
    (bundle,) = published
    assert list(bundle) == [FIRST_PAINT_MIME]            # no text/plain: others show nothing
    markup = bundle[FIRST_PAINT_MIME]
    assert markup == first_paint_html(page)
    assert markup.count("<svg class='btcflow-first-paint-figure'") == 4
    assert "controls are loading" in markup
    # the price panel's lines are the data the interactive marks hold now
    price = markup.split("btcflow-first-paint-price", 1)[1].split("</svg>", 1)[0]
    spot = re.search(r"d='([^']*)' fill='none' stroke='#d9730d'", price).group(1)
    finite = int(np.isfinite(np.asarray(page.marks["spot"].y, dtype=float)).sum())
    assert spot.count("M") + spot.count("L") == finite


def test_outside_voila_nothing_more_is_displayed(monkeypatch, published):
    monkeypatch.delenv("VOILA_BASE_URL", raising=False)
    flow_app("source=demo", debounce_ms=0)
    assert published == []


def test_a_page_without_figures_has_no_first_paint(monkeypatch, published):
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    page = flow_app("source=bogus")
    assert first_paint_html(page) == "" and published == []


def test_the_btcflow_template_extends_lab_and_renders_the_first_paint_mime():
    folder = JUPYTER_DATA / "voila" / "templates" / TEMPLATE
    assert json.loads((folder / "conf.json").read_text()) == {"base_template": "lab"}
    template = (folder / "index.html.j2").read_text()
    assert "{%- extends 'lab/index.html.j2' -%}" in template
    assert f"'{FIRST_PAINT_MIME}' in output.data" in template
    assert f"--template={TEMPLATE}" in VOILA_ARGS


def test_voila_command_puts_the_template_on_the_jupyter_path():
    """The launcher prepends JUPYTER_DATA to $JUPYTER_PATH before it starts Voila."""
    command = voila_command("app.ipynb", port=9999)
    assert str(JUPYTER_DATA) in command[2]
    probe = command[2].replace("from voila.app import main; sys.exit(main())",
                               "print(os.environ['JUPYTER_PATH'])")
    env = dict(os.environ, JUPYTER_PATH="/elsewhere")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == os.pathsep.join([str(JUPYTER_DATA), "/elsewhere"])


def test_the_template_files_are_package_data():
    import fnmatch
    import tomllib

    root = JUPYTER_DATA.parents[1]          # btcflow_nb/
    pyproject = tomllib.loads((root.parent / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["btcflow_nb"]
    for path in (JUPYTER_DATA / "voila" / "templates" / TEMPLATE).iterdir():
        rel = path.relative_to(root).as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), rel
