"""Render every notebooks/NN_*.ipynb once per test session (shared by the exported-HTML
browser tests and tests/render/test_privacy.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def export_project_notebooks(tmp_path_factory, widget_js_dir=None) -> dict[str, Path]:
    from btcflow_nb import render
    from btcflow_nb.testing.servers import PRIVATE_ENV_VARS, private_jupyter_env
    from btcflow_nb.testing.fake_exchange import FakeExchange

    out = tmp_path_factory.getbasetemp() / "project-notebooks-html"
    done = out / ".complete"
    if not done.exists():
        work = tmp_path_factory.mktemp("export-work")
        source = work / "notebooks"
        shutil.copytree(NOTEBOOKS, source, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        notebooks = sorted(source.glob("[0-9][0-9]_*.ipynb"))
        assert notebooks, "no notebooks in notebooks/"
        with FakeExchange(days=30) as fake, pytest.MonkeyPatch.context() as patch:
            jupyter = private_jupyter_env(work / "jupyter")
            for var in PRIVATE_ENV_VARS:
                patch.setenv(var, jupyter[var])
            patch.delenv("BTCFLOW_NB_SOURCE", raising=False)
            for var, value in fake.env(work / "fake").items():
                patch.setenv(var, value)
            render.render_notebooks(notebooks, out, widget_js_dir=widget_js_dir, timeout=300)
        done.write_text("ok")
    return {p.stem: p for p in sorted(out.glob("*.html"))}
