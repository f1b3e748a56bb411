"""Notebooks 01-04 run under nbval on each of `bf.load`'s three outcomes (issue 11).

* **live** -- ``$BTCFLOW_NB_SOURCE=live``, the fake exchange as every venue, an empty cache:
  ``bf.load()`` fetches through ccxt -> HTTP -> the fake (the default history: as deep as the
  fake serves) and the notebook runs on what came back;
* **cache** -- a cache filled by one `btcflow_nb.fetch` from the fake, then no network
  (`OFFLINE_API_BASE`) and ``$BTCFLOW_NB_SOURCE`` unset: ``"auto"`` must choose the cache;
* **demo** -- no cache, no network: the labelled synthetic demo.

Outputs of the live and cache runs differ from the stored (demo) ones by design, so every run is
lax (``--nbval-lax``: each cell must run without error, outputs are not compared); what the
notebook printed is read back through `btcflow_nb.testing.nbval_record`, and the printed
``bf.load_summary`` line must name the expected source. Notebook 03 teaches on the demo on
purpose (``bf.load_demo()``): it must run in every environment and still say "demo".

One fake exchange and one pre-filled cache (tests/conftest.py: ``short_fake``, ``filled_cache``,
``source_env``) serve the whole session; each cache run gets a copy, so a notebook cannot change
what the next one reads.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebook_runner import NOTEBOOKS, run_nbval  # noqa: E402

from btcflow_nb.testing.nbval_record import read_record  # noqa: E402

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

NOTEBOOK_FILES = {"01": "01_flow_dashboard.ipynb", "02": "02_premium_index.ipynb",
                  "03": "03_how_the_indicators_work.ipynb", "04": "04_data_sources.ipynb"}
SOURCES = ("live", "cache", "demo")
#: What the first line of ``bf.load_summary(md)`` starts with, per source.
SUMMARY_START = {"live": "live: fetched ", "cache": "cache: fetched ",
                 "demo": "demo: SYNTHETIC DEMO DATA"}
SUMMARY_PREFIXES = tuple(f"{source}: " for source in SOURCES)
#: The rest the line must say: where live data came from, why the cache or the demo was used.
SUMMARY_SAYS = {"live": ("$BTCFLOW_NB_API_BASE", "$BTCFLOW_NB_SOURCE=live"),
                "cache": ("no network: using the cache from",),
                "demo": ("no network and an empty cache",)}


def _load_cell_text(rows: list[dict], notebook: str) -> str:
    """What the cell that loads the data printed."""
    call = "bf.load_demo()" if notebook == "03" else "bf.load("
    [cell] = [r for r in rows if call in r["source"]]
    return cell["text"]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_FILES))
def test_notebook_runs_on_each_source(notebook, source, short_fake, source_env, tmp_path):
    fake = short_fake
    extra = source_env(source, tmp_path)
    record = tmp_path / "cells.jsonl"
    fake.clear_log()
    result = run_nbval(NOTEBOOKS / NOTEBOOK_FILES[notebook], extra_env=extra, lax=True,
                       record=record)
    requests = fake.log()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout

    rows = read_record(record)
    code_cells = sum(1 for _ in _code_cells(notebook))
    assert len(rows) == code_cells and all(r["passed"] for r in rows), rows
    text = _load_cell_text(rows, notebook)

    if notebook == "03":   # the teaching notebook stays on the demo whatever the environment
        assert text.startswith("<MarketData source='demo' SYNTHETIC"), text
        return
    # the summary line (a live fetch's progress bars may come before it)
    summaries = [line for line in text.splitlines() if line.startswith(SUMMARY_PREFIXES)]
    assert len(summaries) == 1, text
    [first] = summaries
    assert first.startswith(SUMMARY_START[source]), text
    for phrase in SUMMARY_SAYS[source]:
        assert phrase in first, (phrase, first)
    assert "/tmp" not in first and "127.0.0.1" not in first   # no paths or hosts in the line
    if source == "demo":
        assert "SYNTHETIC" in text
    else:
        assert "SYNTHETIC" not in text and "synthetic" not in text.lower()
    # the dashboards say which data they draw
    shown = "\n".join(r["text"] for r in rows)
    if notebook == "01":
        assert f"FlowDashboard(source='{source}'" in shown, shown[:3000]
    if notebook == "02":
        assert f"PremiumIndexPanel(source='{source}'" in shown, shown[:3000]
    if notebook == "04":
        assert f"source: {'demo' if source == 'demo' else 'cache'}" in shown, shown[-2000:]

    if source == "live":
        # the notebook's own fetch reached every venue through the fake, and filled its cache
        assert {r.exchange_id for r in requests} == set(fake.venues)
        assert list((tmp_path / "live" / "cache" / "v1" / "ohlcv" / "1d").glob("perp-*.parquet"))
    else:
        assert requests == [], "an offline run reached the fake exchange"


def _code_cells(notebook: str):
    import nbformat

    nb = nbformat.read(NOTEBOOKS / NOTEBOOK_FILES[notebook], as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]
