"""Re-execute curated notebooks and store only small, comparable text outputs.

    python -m btcflow_nb.render.refresh notebooks/01_flow_dashboard.ipynb ...

Run it after a change that legitimately alters printed numbers; nbval then compares against the
new outputs. Each notebook is executed with nbclient in its own directory; afterwards

* widget views and HTML reprs are dropped (their model ids are random and their state would be
  a megabyte blob); the ``text/plain`` repr stays and is compared,
* consecutive prints are merged into one stream output (stable diffs),
* cell metadata and notebook widget state are removed,
* a stderr stream or an error output aborts without writing (a lesson must run cleanly).

The kernel runs offline, as under the notebook tests: a private empty data cache
(``$BTCFLOW_NB_CACHE_DIR``) and no network (``$BTCFLOW_NB_API_BASE`` on a closed loopback port),
so ``bf.load()`` returns the labelled demo and the stored outputs are the ones nbval compares.
"""
from __future__ import annotations

import sys
from pathlib import Path

DROPPED_MIME = ("application/vnd.jupyter.widget-view+json", "text/html")


def clean_outputs(nb) -> None:
    """Strip ``nb`` in place as described in the module docstring; raise ValueError on errors."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata = {}
        merged = []
        for out in cell.outputs:
            if out.output_type == "error" or (out.output_type == "stream"
                                              and out.name == "stderr"):
                raise ValueError(f"cell failed or wrote to stderr; not storing it:\n"
                                 f"{cell.source}\n{out}")
            if "data" in out:
                for mime in DROPPED_MIME:
                    out.data.pop(mime, None)
                out.metadata = {}
                if not out.data:
                    continue
            if (merged and out.output_type == "stream" and merged[-1].output_type == "stream"
                    and merged[-1].name == out.name):
                merged[-1].text += out.text
            else:
                merged.append(out)
        cell.outputs = merged
    nb.metadata.pop("widgets", None)


#: The kernel's data environment (see the module docstring); the cache directory is added.
OFFLINE_ENV = {"BTCFLOW_NB_API_BASE": "http://127.0.0.1:1"}
_UNSET = ("BTCFLOW_NB_CONFIG", "BTCFLOW_NB_SOURCE", "BTCFLOW_NB_ARCHIVE_BASE")


def refresh(path: str | Path, timeout: int = 600) -> Path:
    """Execute the notebook at ``path`` (offline, see the module docstring) and rewrite it with
    cleaned outputs."""
    import os
    import tempfile

    import nbclient
    import nbformat

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="btcflow-refresh-") as cache:
        try:   # the kernel inherits os.environ
            os.environ.update(OFFLINE_ENV, BTCFLOW_NB_CACHE_DIR=cache)
            for var in _UNSET:
                os.environ.pop(var, None)
            nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                    resources={"metadata": {"path": str(path.parent)}}).execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
    clean_outputs(nb)
    nbformat.validate(nb)
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    tmp.replace(path)  # atomic
    return path


if __name__ == "__main__":  # pragma: no cover - developer tool
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for arg in sys.argv[1:]:
        print("refreshed", refresh(arg))
