"""Re-execute curated notebooks and store only small, comparable text outputs.

    python -m btcflow_nb.render.refresh notebooks/01_flow_dashboard.ipynb ...

Run it after a change that legitimately alters printed numbers; nbval then compares against the
new outputs. Each notebook is executed with nbclient in its own directory; afterwards

* widget views and HTML reprs are dropped (their model ids are random and their state would be
  a megabyte blob); the ``text/plain`` repr stays and is compared,
* consecutive prints are merged into one stream output (stable diffs),
* cell metadata and notebook widget state are removed,
* a stderr stream or an error output aborts without writing (a lesson must run cleanly).
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


def refresh(path: str | Path, timeout: int = 600) -> Path:
    """Execute the notebook at ``path`` and rewrite it with cleaned outputs."""
    import nbclient
    import nbformat

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
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
