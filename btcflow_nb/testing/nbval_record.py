"""A pytest plugin for nbval runs: records what every notebook cell printed and displayed.

nbval compares outputs but keeps no executed notebook, and ``--nbval-lax`` compares none, so a
test that runs a notebook on other data than its stored outputs (live, a cache) cannot read what
the notebook said. Loaded with ``-p btcflow_nb.testing.nbval_record`` and
``$BTCFLOW_NBVAL_RECORD`` naming a file, this plugin appends one JSON line per executed cell::

    {"cell": 0, "source": "md = bf.load() ...", "text": "live: fetched ...", "stderr": "...",
     "passed": true}

``text`` is the cell's standard output and the ``text/plain`` of its displays (and errors),
joined by newlines; ``stderr`` what it wrote there (progress bars, warnings).
`read_record` reads the file back. Without the variable the plugin does nothing.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

__all__ = ["ENV_RECORD", "read_record"]

#: The variable naming the JSON-lines file the plugin appends to.
ENV_RECORD = "BTCFLOW_NBVAL_RECORD"


def _cell_text(outputs, stream: str = "stdout") -> str:
    parts = []
    for out in outputs or []:
        if out.get("output_type") == "stream":
            if out.get("name", "stdout") == stream:
                parts.append(out.get("text", ""))
        elif stream != "stdout":
            continue
        elif "data" in out:
            parts.append(str(out["data"].get("text/plain", "")))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "\n".join(parts)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    outcome = yield
    path = os.environ.get(ENV_RECORD)
    cell = getattr(item, "cell", None)
    if not path or cell is None or not hasattr(item, "test_outputs"):
        return
    row = {"cell": getattr(item, "cell_num", None), "source": cell.get("source", ""),
           "text": _cell_text(item.test_outputs),
           "stderr": _cell_text(item.test_outputs, "stderr"), "passed": outcome.excinfo is None}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


def read_record(path) -> list[dict]:
    """The rows `pytest_runtest_call` wrote to ``path`` (one per executed cell, in order)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
