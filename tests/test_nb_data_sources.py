"""notebooks/04_data_sources.ipynb runs under nbval against the fake exchange, through the real
fetch path (ccxt -> HTTP -> the fake server), with its stored outputs compared.

Regenerate the stored outputs (after changing the notebook) with
``python3 tests/test_nb_data_sources.py``: it starts the fake exchange, executes the notebook
with the same environment the test uses, and keeps text outputs only.
"""
from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebook_runner import NOTEBOOKS, notebook_env, run_nbval  # noqa: E402

from btcflow_nb.testing.fake_exchange import FakeExchange  # noqa: E402

NOTEBOOK = NOTEBOOKS / "04_data_sources.ipynb"
DAYS = 30   # the notebook fetches since="30D"


@pytest.mark.notebook
@pytest.mark.slow
def test_notebook_runs_under_nbval_against_the_fake_exchange(tmp_path):
    with FakeExchange(days=DAYS) as fake:
        result = run_nbval(NOTEBOOK, extra_env=fake.env(tmp_path))
        exchanges = {r.exchange_id for r in fake.log()}
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
    # the notebook's fetch really went through ccxt to the fake server, for every venue
    assert exchanges == set(fake.venues)
    assert list((tmp_path / "cache" / "v1" / "ohlcv" / "1d").glob("perp-*.parquet"))


@pytest.mark.notebook
@pytest.mark.slow
def test_notebook_runs_to_the_end_offline():
    """No network, empty cache: the load says "no network" in one line and the notebook goes on
    on the demo (outputs then differ from the stored ones: only errors are checked)."""
    result = run_nbval(NOTEBOOK, lax=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_stored_outputs_say_they_come_from_the_fake_exchange():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    [load_cell] = [c for c in nb.cells if c.cell_type == "code" and "bf.load(" in c.source]
    first = load_cell.outputs[0]["text"].splitlines()[0]
    assert first.startswith("live: fetched ") and "$BTCFLOW_NB_API_BASE" in first
    assert "fake exchange" in first


def test_notebook_is_thin_and_has_the_header():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert NOTEBOOK.stat().st_size < 60_000
    assert "widgets" not in nb.metadata
    header = nb.cells[0]
    assert header.cell_type == "markdown" and header.source.startswith("# 04")
    for needle in ("load_demo()", "from_cache()", "fetch(", "BTCFLOW_NB_API_BASE",
                   "01_flow_dashboard.ipynb", "02_premium_index.ipynb",
                   "03_how_the_indicators_work.ipynb"):
        assert needle in header.source, needle
    code = [c for c in nb.cells if c.cell_type == "code"]
    text = "\n".join(c.source for c in code)
    for call in ("venue_table(", "bf.load(", "bf.load_summary(md)", "md.coverage()",
                 "CoverageChart(md)",
                 "bf.from_cache()"):
        assert call in text, call
    for cell in code:
        assert not re.search(r"^\s*(def|class|for|while|if) ", cell.source, re.M), cell.source
        assert len(cell.source.splitlines()) <= 10
        assert cell.outputs, f"no stored output for: {cell.source[:60]}"
        for out in cell.outputs:
            assert out.output_type != "error"
            assert set(out.get("data", {})) <= {"text/plain"}
            stored = out.get("text", "") + str(out.get("data", {}))
            assert "/tmp/" not in stored and "/root" not in stored and "127.0.0.1" not in stored
    assert not any("NBVAL_IGNORE_OUTPUT" in c.source or "NBVAL_SKIP" in c.source for c in code)


def _regenerate() -> None:   # pragma: no cover - a maintenance tool, see the module docstring
    import subprocess

    with tempfile.TemporaryDirectory() as tmp, FakeExchange(days=DAYS) as fake:
        env = notebook_env(Path(tmp), fake.env(Path(tmp) / "fake"))
        out = Path(tmp) / "executed.ipynb"
        subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook",
                        "--execute", str(NOTEBOOK), "--output", str(out)], env=env, check=True)
        nb = nbformat.read(out, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            if "data" in output:
                output["data"] = {k: v for k, v in output["data"].items() if k == "text/plain"}
            if output.get("output_type") in ("execute_result", "display_data"):
                output["metadata"] = {}
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, NOTEBOOK)
    print(f"stored outputs regenerated in {NOTEBOOK.name}")


if __name__ == "__main__":
    _regenerate()
