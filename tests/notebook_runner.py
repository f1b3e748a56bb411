"""Run a notebook under nbval in a clean subprocess (shared by the notebook tests).

Each run gets its own temporary Jupyter/IPython directories so a developer's settings cannot
leak in, and so CI behaves like a fresh machine. Outputs stored in the notebook are compared by
nbval; volatile ones are sanitised by ``tests/nbval_sanitize.cfg`` (regexes), not ignored.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from btcflow_nb.testing.nbval_record import ENV_RECORD
from btcflow_nb.testing.servers import private_jupyter_env

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"


def notebook_env(tmp: Path, extra_env: dict | None = None) -> dict:
    """Private Jupyter dirs, a private empty data cache and no network (so ``bf.load()`` gives
    the labelled demo), then ``extra_env`` (e.g. ``FakeExchange.env(...)``)."""
    env = private_jupyter_env(tmp)
    env.update(extra_env or {})
    return env


def run_nbval(notebook: str | Path, extra_env: dict | None = None, timeout: int = 600,
              lax: bool = False, record: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``pytest --nbval`` on one notebook; return the completed process (check returncode).

    record: a file to which `btcflow_nb.testing.nbval_record` appends what each cell printed
    (read it with ``read_record``): the only way to see a lax run's outputs."""
    path = Path(notebook)
    if not path.is_absolute():
        path = NOTEBOOKS / path
    with tempfile.TemporaryDirectory(prefix="btcflow-nbval-") as tmp:
        cmd = [sys.executable, "-m", "pytest", "--nbval-lax" if lax else "--nbval", str(path),
               "-p", "no:cacheprovider", "-q", "-o", "addopts=", "-W", "ignore::DeprecationWarning",
               "--nbval-cell-timeout", "300", "--rootdir", str(ROOT)]
        if SANITIZE.exists():
            cmd += ["--nbval-sanitize-with", str(SANITIZE)]
        env = notebook_env(Path(tmp), extra_env)
        if record is not None:
            cmd += ["-p", "btcflow_nb.testing.nbval_record"]
            env[ENV_RECORD] = str(record)
        return subprocess.run(cmd, cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)
