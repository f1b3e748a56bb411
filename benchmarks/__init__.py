"""btcflow-nb performance harness: ``python -m benchmarks`` (see benchmarks/README.md).

Each section is a module with ``NAME``, ``TITLE``, ``REQUIRES`` (repository files whose presence
means the section *must* run — the smoke test enforces it) and ``run(size) -> list[Row]`` or
``run(size) -> (list[Row], details)``. A section raises :class:`~benchmarks._harness.Unavailable`
when a dependency is not importable yet; it is then listed as ``unavailable: <reason>``, never
dropped.
"""
from __future__ import annotations

import importlib
import sys
import time
import traceback
from datetime import datetime, timezone

from ._machine import _loadavg, environment
from ._harness import (
    ROOT,
    SCHEMA_VERSION,
    SIZES,
    SectionResult,
    Unavailable,
    evaluate,
)

#: Section name -> module (in run order).
SECTIONS: dict[str, str] = {
    "compute": "benchmarks.bench_compute",
    "dashboard": "benchmarks._dashboard_section",
    "browser": "benchmarks.bench_browser",
    "fetch": "benchmarks.bench_fetch",
    "cache": "benchmarks.bench_cache",
    "startup": "benchmarks.bench_startup",
}


def section_module(name: str):
    if name not in SECTIONS:
        raise ValueError(f"unknown section {name!r}; valid choices: {', '.join(SECTIONS)}")
    return importlib.import_module(SECTIONS[name])


def required_files(name: str) -> tuple[str, ...]:
    """Repository paths whose presence makes section ``name`` mandatory."""
    return tuple(getattr(section_module(name), "REQUIRES", ()))


def run_section(name: str, size: str, log=None) -> SectionResult:
    """Run one section; an exception becomes status ``error`` with the traceback's last line."""
    mod = section_module(name)
    result = SectionResult(name=name, title=getattr(mod, "TITLE", name))
    t0 = time.perf_counter()
    try:
        out = mod.run(size)
        rows, details = out if isinstance(out, tuple) else (out, {})
        result.rows = list(rows)
        result.details = dict(details)
        evaluate(result.rows, size)
    except Unavailable as exc:
        result.status, result.reason = "unavailable", str(exc)
    except Exception as exc:  # noqa: BLE001 - reported, never hidden
        result.status = "error"
        result.reason = f"{type(exc).__name__}: {exc}"
        result.details = {"traceback": traceback.format_exc()}
        if log:
            log(result.details["traceback"])
    result.seconds = time.perf_counter() - t0
    return result


def run_all(size: str = "full", only=None, log=None) -> dict:
    """Run the selected sections (all by default) and return the results document."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; valid choices: {', '.join(SIZES)}")
    names = list(SECTIONS) if not only else list(only)
    for n in names:
        if n not in SECTIONS:
            raise ValueError(f"unknown section {n!r}; valid choices: {', '.join(SECTIONS)}")
    env = environment()
    results = []
    for n in names:
        if log:
            log(f"[benchmarks] {n} ({size}) ...")
        res = run_section(n, size, log)
        if log:
            log(f"[benchmarks] {n}: {res.status} in {res.seconds:.1f} s"
                + (f" ({res.reason})" if res.reason else ""))
        results.append(res)
    env["loadavg_1_5_15_at_end"] = _loadavg()
    statuses = [r.status for s in results for r in s.rows]
    doc = {
        "schema": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "size": size,
        "command": " ".join([sys.executable.rsplit("/", 1)[-1], "-m", "benchmarks", *sys.argv[1:]]),
        "environment": env,
        "sections": [s.to_dict() for s in results],
        "summary": {
            "pass": statuses.count("PASS"),
            "miss": statuses.count("MISS"),
            "missed": [f"{s.name}/{r.name}" for s in results for r in s.rows if r.status == "MISS"],
            "unavailable": {s.name: s.reason for s in results if s.status == "unavailable"},
            "errors": {s.name: s.reason for s in results if s.status == "error"},
        },
    }
    doc["_results"] = results  # for the CLI's table; stripped before writing
    return doc


__all__ = ["SECTIONS", "run_all", "run_section", "required_files", "ROOT"]
