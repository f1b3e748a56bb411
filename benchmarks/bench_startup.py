"""Section 6 — start-up costs: importing the package, and running the notebook suite.

Import time is measured in a **fresh interpreter** each time (a warm ``sys.modules`` would make
any import look free): ``python -c`` runs ``t0 = perf_counter(); import X; print(elapsed)``, so
interpreter start-up itself is excluded. Three imports, each with a reference measured the same
way in the same run:

- ``import btcflow_nb`` (lazy: loads nothing heavy) — reference: ``import json`` (a stdlib module);
- ``from btcflow_nb import flow_metrics, load_demo`` (the compute core) — reference:
  ``import numpy, pandas`` (what the core cannot avoid loading);
- ``import btcflow_nb.dashboard`` (widgets) — reference: ``import pandas, ipywidgets, bqplot``.

``python -X importtime`` of the core import lists the slowest modules in ``details``, and the sum
of the self-times of ``btcflow_nb`` modules (the part this project controls) is a row.

The notebook suite is every ``notebooks/*.ipynb`` run under nbval through
``tests/notebook_runner.run_nbval`` (the same call the notebook tests make; a notebook whose
stored outputs were made against the fake exchange -- 04, whose load cell printed "live:
fetched ... from $BTCFLOW_NB_API_BASE" -- runs against it, as its test does; the others offline,
as theirs do); a failing notebook fails the
section (the time of a failing suite means nothing). Its wall time is
compared with the wall time of an empty one-cell notebook run the same way (kernel start-up and
pytest overhead), times the number of notebooks. At ``--size tiny`` only the first notebook runs,
without the empty-notebook reference.
"""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._harness import ROOT, Row, Unavailable, median

NAME = "startup"
TITLE = "Import time and notebook-suite wall time under nbval"
REQUIRES = ("btcflow_nb/__init__.py", "tests/notebook_runner.py")

REPEATS = {"tiny": 1, "full": 5}
FAKE_EXCHANGE_DAYS = 30  # as tests/test_nb_data_sources.py (the notebook fetches since="30D")
IMPORTS = (
    ("import btcflow_nb", "import btcflow_nb", "import json", "import json"),
    ("import flow_metrics, load_demo", "from btcflow_nb import flow_metrics, load_demo",
     "import numpy, pandas", "import numpy, pandas"),
    ("import btcflow_nb.dashboard", "import btcflow_nb.dashboard",
     "import pandas, ipywidgets, bqplot", "import pandas, ipywidgets, bqplot"),
)


def _import_seconds(statement: str) -> float:
    code = ("import time\nt0 = time.perf_counter()\n" + statement +
            "\nprint(repr(time.perf_counter() - t0))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"{statement!r} failed in a fresh interpreter: {out.stderr[-500:]}")
    return float(out.stdout.strip().splitlines()[-1])


def _importtime(statement: str) -> dict:
    """Parse ``python -X importtime``: the slowest modules (cumulative) and btcflow_nb's own
    share."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    rows = []
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append((m.group(4), int(m.group(1)) / 1e6, int(m.group(2)) / 1e6))
    top = sorted(rows, key=lambda r: r[2], reverse=True)[:15]
    own = sum(r[1] for r in rows if r[0] == "btcflow_nb" or r[0].startswith("btcflow_nb."))
    return {"statement": statement, "own_self_s": own,
            "slowest_cumulative": [{"module": m, "self_s": s, "cumulative_s": c}
                                   for m, s, c in top]}


def _runner():
    path = ROOT / "tests" / "notebook_runner.py"
    if not path.exists():
        raise Unavailable("tests/notebook_runner.py does not exist")
    spec = importlib.util.spec_from_file_location("_btcflow_notebook_runner", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _empty_notebook(directory: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("1 + 1", outputs=[
        nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)],
        execution_count=1))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = directory / "empty.ipynb"
    nbformat.write(nb, path)
    return path


def _outputs_from_fake_exchange(notebook: Path) -> bool:
    """True when the notebook's stored outputs were made against the fake exchange: a cell
    printed ``live: fetched ... from $BTCFLOW_NB_API_BASE`` (notebook 04, whose test runs it
    against the fake; tests/test_nb_data_sources.py checks that stored line).  Such a notebook
    must run against the fake, as its test does, or nbval compares its offline demo outputs
    with stored live ones.  (Whether its code calls ``fetch(`` says nothing: notebook 04 loads
    with ``bf.load(``, and the others' ``bf.load(`` must stay offline: their outputs are the
    demo's.)"""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else ():
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            if any(line.startswith("live: fetched ") and "$BTCFLOW_NB_API_BASE" in line
                   for line in text.splitlines()):
                return True
    return False


def _timed_nbval(runner, notebook: Path) -> tuple[float, int, str]:
    """Wall time of ``run_nbval(notebook)``; a notebook whose stored outputs come from the fake
    exchange runs against it exactly as its test does (``FakeExchange(days=30).env(tmp)``), the
    server's start included in the time."""
    with tempfile.TemporaryDirectory(prefix="btcflow-bench-nb-") as tmp:
        t0 = time.perf_counter()
        if _outputs_from_fake_exchange(notebook):
            from btcflow_nb.testing.fake_exchange import FakeExchange

            with FakeExchange(days=FAKE_EXCHANGE_DAYS) as fake:
                proc = runner.run_nbval(notebook, extra_env=fake.env(Path(tmp)))
        else:
            proc = runner.run_nbval(notebook)
        elapsed = time.perf_counter() - t0
    tail = (proc.stdout or "").strip().splitlines()[-1:] or [""]
    return elapsed, proc.returncode, tail[0]


def run(size: str):
    rows: list[Row] = []
    details: dict = {"imports": {}}
    repeats = REPEATS[size]
    for label, statement, ref_label, ref_statement in IMPORTS:
        ours, ref = [], []
        for _ in range(repeats):  # interleaved, so drift affects both alike
            ours.append(_import_seconds(statement))
            ref.append(_import_seconds(ref_statement))
        rows.append(Row(label, median(ours), "s", reference=ref_label,
                        reference_value=median(ref), note="fresh interpreter"))
        details["imports"][label] = {"statement": statement, "samples_s": ours,
                                     "reference": ref_statement, "reference_samples_s": ref}
    prof = _importtime("from btcflow_nb import flow_metrics, load_demo")
    details["importtime_core"] = prof
    rows.append(Row("btcflow_nb modules' own import self-time (core)",
                    max(prof["own_self_s"], 1e-6),
                    "s", note="python -X importtime"))

    runner = _runner()
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not notebooks:
        raise Unavailable("no notebooks/*.ipynb yet")
    if size == "tiny":
        notebooks = notebooks[:1]
    empty_s = None
    if size == "full":  # the reference costs a kernel start; a tiny run skips it
        with tempfile.TemporaryDirectory(prefix="btcflow-bench-") as tmp:
            empty_s, empty_rc, empty_tail = _timed_nbval(runner, _empty_notebook(Path(tmp)))
        if empty_rc != 0:
            raise RuntimeError(f"nbval on an empty notebook failed ({empty_tail}); "
                               f"the runner is broken")
    per_nb = {}
    total, failed = 0.0, []
    for nb in notebooks:
        secs, rc, tail = _timed_nbval(runner, nb)
        per_nb[nb.name] = {"seconds": secs, "returncode": rc, "summary": tail}
        total += secs
        if rc != 0:
            failed.append(nb.name)
    details["nbval"] = {"notebooks": per_nb, "empty_notebook_s": empty_s}
    if failed:  # the wall time of a suite that fails is no figure to publish
        raise RuntimeError("notebook(s) failed under nbval: "
                           + "; ".join(f"{n}: {per_nb[n]['summary']}" for n in failed))
    note = f"{len(notebooks)} notebook(s), all passed"
    rows.append(Row("notebook suite under nbval (wall)", total, "s",
                    reference=f"{len(notebooks)} x empty notebook" if empty_s else None,
                    reference_value=empty_s * len(notebooks) if empty_s else None, note=note))
    for name, info in per_nb.items():
        rows.append(Row(f"nbval {name}", info["seconds"], "s"))
    return rows, details


if __name__ == "__main__":  # quick manual check: python -m benchmarks.bench_startup
    print(json.dumps(run("tiny")[1], indent=1, default=str))
