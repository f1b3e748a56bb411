"""Timing utilities and the result model shared by every benchmark section.

Principles
----------
- **Warm up, then repeat.** Each measurement runs ``warmup`` untimed calls (imports, caches,
  first-touch page faults) and then ``repeats`` timed calls with :func:`time.perf_counter`.
  We report the **median** (robust to a noisy neighbour on a 2-core machine) and the **p95**
  (the tail a user feels), plus the minimum.
- **Ratios, not absolute numbers, where a reference exists.** A reference (TA-Lib, a plain
  pandas implementation, a theoretical lower bound) is measured in the same run on the same
  data, so a ratio is comparable across machines; absolute times are only compared with a
  target where the issue fixes one (e.g. "under 1 s on this 2-core machine").
- **Honest statuses.** A row with a target is ``PASS`` or ``MISS``; a row without one is
  ``INFO``. At ``--size tiny`` the targets (defined for ``--size full``) are not evaluated and
  the status is ``n/a``.

Percentiles use the "nearest rank" definition: ``p95`` of ``n`` samples is the
``ceil(0.95 n)``-th smallest, i.e. a value that was actually observed.
"""
from __future__ import annotations

import gc
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ._machine import ROOT, environment  # noqa: F401 - re-exported: the harness's API

SIZES = ("tiny", "full")
STATUSES = ("PASS", "MISS", "INFO", "n/a")
SECTION_STATUSES = ("ok", "unavailable", "error")
SCHEMA_VERSION = 1


class Unavailable(Exception):
    """A section cannot run here: a dependency is not importable (yet). The reason is shown."""


# ---------------------------------------------------------------------------- statistics


def percentile(samples, q: float) -> float:
    """Nearest-rank percentile: the ``ceil(q/100 · n)``-th smallest sample (``q`` in (0, 100])."""
    if not samples:
        raise ValueError("percentile of an empty sample")
    if not 0 < q <= 100:
        raise ValueError(f"q must be in (0, 100]; got {q!r}")
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return float(ordered[rank - 1])


def median(samples) -> float:
    """Median (mean of the two middle values for an even count)."""
    if not samples:
        raise ValueError("median of an empty sample")
    ordered = sorted(samples)
    n = len(ordered)
    mid = n // 2
    return float(ordered[mid]) if n % 2 else float((ordered[mid - 1] + ordered[mid]) / 2)


@dataclass
class Timing:
    """Repeated wall-clock timings of one operation, in seconds."""

    samples: list[float]

    @property
    def median(self) -> float:
        return median(self.samples)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 95)

    @property
    def min(self) -> float:
        return float(min(self.samples))

    def to_dict(self) -> dict:
        return {"median_s": self.median, "p95_s": self.p95, "min_s": self.min,
                "repeats": len(self.samples),
                "samples_s": [round(float(s), 7) for s in self.samples]}  # 0.1 us is plenty


def measure(fn: Callable, *, repeats: int = 5, warmup: int = 1,
            setup: Callable[[], object] | None = None) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones.

    With ``setup``, each call is ``fn(setup())`` and only ``fn`` is timed (e.g. a fresh object
    per call, so a memo cache cannot turn a cold measurement into a warm one).
    The garbage collector is run before each timed call and disabled during it, so a
    collection triggered by an earlier call's garbage is not billed to this one.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats!r}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0; got {warmup!r}")
    for _ in range(warmup):
        fn() if setup is None else fn(setup())
    samples = []
    enabled = gc.isenabled()
    try:
        for _ in range(repeats):
            arg = setup() if setup is not None else None
            gc.collect()
            gc.disable()
            t0 = time.perf_counter()
            fn() if setup is None else fn(arg)
            samples.append(time.perf_counter() - t0)
            if enabled:
                gc.enable()
    finally:
        if enabled:
            gc.enable()
    return Timing(samples)


def measure_interleaved(fns: dict[str, Callable[[], object]], *, repeats: int = 5,
                        warmup: int = 1) -> dict[str, Timing]:
    """Time several operations **round-robin** (a, b, c, a, b, c, ...).

    On a shared machine the load drifts; interleaving exposes an operation and its reference to
    the same conditions, so their ratio stays meaningful even when absolute times wander.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats!r}")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    enabled = gc.isenabled()
    try:
        for _ in range(repeats):
            for name, fn in fns.items():
                gc.collect()
                gc.disable()
                t0 = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - t0)
                if enabled:
                    gc.enable()
    finally:
        if enabled:
            gc.enable()
    return {name: Timing(v) for name, v in samples.items()}


# ---------------------------------------------------------------------------- results


@dataclass
class Target:
    """A target ``value <op> limit`` (``op`` is ``"<"`` or ``"<="``), with its wording."""

    op: str
    limit: float
    text: str

    def __post_init__(self):
        if self.op not in ("<", "<="):
            raise ValueError(f"target op must be '<' or '<='; got {self.op!r}")

    def met(self, value: float) -> bool:
        if value is None or not math.isfinite(value):
            return False
        return value < self.limit if self.op == "<" else value <= self.limit


@dataclass
class Row:
    """One line of the results table.

    ``value`` is in ``unit``; ``reference`` names what a ``ratio`` is taken against (measured in
    the same run) and ``reference_value`` its value in the same unit.
    """

    name: str
    value: float
    unit: str
    target: Target | None = None
    reference: str | None = None
    reference_value: float | None = None
    note: str = ""
    status: str = "INFO"

    @property
    def ratio(self) -> float | None:
        if self.reference_value is None or not self.reference_value:
            return None
        return float(self.value) / float(self.reference_value)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["target"] = asdict(self.target) if self.target else None
        d["ratio"] = self.ratio
        return d


@dataclass
class SectionResult:
    name: str
    title: str
    status: str = "ok"
    reason: str = ""
    seconds: float = 0.0
    rows: list[Row] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "status": self.status,
                "reason": self.reason, "seconds": self.seconds,
                "rows": [r.to_dict() for r in self.rows], "details": _jsonable(self.details)}


def evaluate(rows: list[Row], size: str) -> None:
    """Set each row's status: PASS/MISS against its target at full size, n/a at tiny size."""
    for r in rows:
        if r.target is None:
            r.status = "INFO"
        elif size != "full":
            r.status = "n/a"
        else:
            r.status = "PASS" if r.target.met(r.value) else "MISS"


def _jsonable(obj):
    """Plain JSON types only: numpy scalars -> Python, non-finite floats -> None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            obj = obj.item()
        except (AttributeError, ValueError, TypeError):
            return str(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)


# ---------------------------------------------------------------------------- presentation


def fmt_value(value: float, unit: str) -> str:
    """Human formatting: seconds shown in s or ms, ratios with an x, counts as integers."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "nan"
    if unit == "s":
        return f"{value * 1e3:.1f} ms" if abs(value) < 1 else f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "x":
        return f"{value:.2f}x"
    if unit in ("count", "requests"):
        return f"{value:.0f}" + ("" if unit == "count" else " req")
    if unit == "ns/bar":
        return f"{value:.1f} ns/bar"
    return f"{value:.4g} {unit}".strip()


def format_table(sections: list[SectionResult], size: str) -> str:
    """The results as a Markdown table (pasteable into benchmarks/README.md)."""
    lines = ["| section | measurement | value | reference | ratio | target | status |",
             "|---|---|---|---|---|---|---|"]
    for s in sections:
        if s.status != "ok":
            lines.append(f"| {s.name} | — | {s.status}: {s.reason} | | | | |")
            continue
        for r in s.rows:
            ref = ""
            if r.reference:
                ref = r.reference
                if r.reference_value is not None:
                    ref += f" = {fmt_value(r.reference_value, r.unit)}"
            ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
            target = r.target.text if r.target else ""
            name = r.name + (f" ({r.note})" if r.note else "")
            lines.append(f"| {s.name} | {name} | {fmt_value(r.value, r.unit)} | {ref} | {ratio} "
                         f"| {target} | {r.status} |")
    return "\n".join(lines)


def write_json(doc: dict, path: Path) -> None:
    """Write ``doc`` atomically (temp file in the same directory, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_jsonable(doc), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)


def check_document(doc: dict, *, sections: tuple[str, ...] | None = None) -> list[str]:
    """Problems with a results document (empty list = well formed).

    Every section present, known statuses, every row's value a finite number, every ratio
    consistent with its value and reference, every timing positive.
    """
    problems = []
    for key in ("schema", "size", "environment", "sections", "summary"):
        if key not in doc:
            problems.append(f"missing top-level key {key!r}")
    if problems:
        return problems
    names = [s.get("name") for s in doc["sections"]]
    if sections is not None and list(names) != list(sections):
        problems.append(f"sections {names} != expected {list(sections)}")
    for s in doc["sections"]:
        name = s.get("name")
        if s.get("status") not in SECTION_STATUSES:
            problems.append(f"{name}: unknown status {s.get('status')!r}")
        if s.get("status") != "ok":
            if not s.get("reason"):
                problems.append(f"{name}: status {s.get('status')} without a reason")
            continue
        if not s.get("rows"):
            problems.append(f"{name}: no rows")
        for r in s.get("rows", []):
            label = f"{name}/{r.get('name')}"
            v = r.get("value")
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                problems.append(f"{label}: value {v!r} is not a finite number")
                continue
            if r.get("unit") in ("s", "ms", "ns/bar") and not v > 0:
                problems.append(f"{label}: timing {v!r} is not positive")
            if r.get("status") not in STATUSES:
                problems.append(f"{label}: unknown status {r.get('status')!r}")
            ref = r.get("reference_value")
            if ref is not None:
                if not isinstance(ref, (int, float)) or not math.isfinite(ref) or ref <= 0:
                    problems.append(f"{label}: reference value {ref!r} is not a positive number")
                elif r.get("ratio") is None or \
                        abs(r["ratio"] - v / ref) > 1e-9 * max(1, abs(v / ref)):
                    problems.append(f"{label}: ratio {r.get('ratio')!r} != value/reference")
            judged = doc["size"] == "full"
            if r.get("target") and judged and r.get("status") not in ("PASS", "MISS"):
                problems.append(f"{label}: has a target but status {r.get('status')!r}")
    return problems
