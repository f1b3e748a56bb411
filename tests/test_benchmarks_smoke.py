"""The performance harness cannot rot: a tiny-size run of the whole of it, plus its utilities.

Nothing here asserts on a timing (speed belongs in ``python -m benchmarks``, see
benchmarks/README.md). What is checked: every section is reported, every section whose code
exists in the repository actually ran (``unavailable`` is accepted only while a section's
``REQUIRES`` files are missing — a section can never silently disappear), the JSON is well
formed (finite numbers, positive timings, ratios equal to value / reference), and the printed
table lists every section.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import SECTIONS, required_files  # noqa: E402
from benchmarks._harness import (  # noqa: E402
    Row,
    Target,
    check_document,
    evaluate,
    measure,
    measure_interleaved,
    median,
    percentile,
    write_json,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "tiny.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--size", "tiny",
                           "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.exists(), (f"no JSON written; rc={proc.returncode}\n{proc.stdout}\n"
                          f"{proc.stderr[-3000:]}")
    return proc, json.loads(out.read_text())


def test_the_tiny_run_exits_cleanly_without_section_errors(tiny_run):
    proc, doc = tiny_run
    errors = {s["name"]: (s["reason"], s["details"].get("traceback", "")[-1500:])
              for s in doc["sections"] if s["status"] == "error"}
    assert errors == {}
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_every_section_is_reported_in_order(tiny_run):
    _, doc = tiny_run
    assert [s["name"] for s in doc["sections"]] == list(SECTIONS)


@pytest.mark.parametrize("name", list(SECTIONS))
def test_a_section_whose_code_exists_must_run(tiny_run, name):
    _, doc = tiny_run
    section = next(s for s in doc["sections"] if s["name"] == name)
    missing = [p for p in required_files(name) if not (ROOT / p).exists()]
    if missing:
        assert section["status"] in ("ok", "unavailable"), section
        if section["status"] == "unavailable":
            assert section["reason"], "an unavailable section must say why"
    else:
        assert section["status"] == "ok", (
            f"{name}: its code exists ({', '.join(required_files(name))}) but it did not run: "
            f"{section['status']}: {section['reason']}")
        assert section["rows"], f"{name} ran but produced no rows"


def test_the_results_document_is_well_formed(tiny_run):
    _, doc = tiny_run
    assert check_document(doc, sections=tuple(SECTIONS)) == []
    json.dumps(doc, allow_nan=False)  # strict JSON: no NaN / Infinity
    env = doc["environment"]
    for key in ("cpu_model", "cpu_count", "python", "numpy", "pandas", "ta-lib"):
        assert env.get(key), f"environment lacks {key}"


def test_targets_are_not_judged_at_tiny_size(tiny_run):
    _, doc = tiny_run
    targeted = [r for s in doc["sections"] for r in s["rows"] if r["target"]]
    assert targeted, "no row carries a target: the issue's targets went missing"
    assert {r["status"] for r in targeted} == {"n/a"}
    assert doc["summary"]["pass"] == doc["summary"]["miss"] == 0


def test_the_printed_table_lists_every_section(tiny_run):
    proc, doc = tiny_run
    assert "| section | measurement | value | reference | ratio | target | status |" in proc.stdout
    for s in doc["sections"]:
        assert f"| {s['name']} |" in proc.stdout


# ------------------------------------------------------------------ harness utilities


def test_percentile_is_nearest_rank_and_median_averages_the_middle():
    samples = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(samples, 95) == 5.0
    assert percentile(samples, 40) == 2.0
    assert percentile(list(range(1, 101)), 95) == 95
    assert median(samples) == 3.0
    assert median([1.0, 2.0, 3.0, 10.0]) == 2.5
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], 0)


def test_measure_runs_warmup_and_repeats_and_gives_each_call_a_fresh_setup():
    calls, made = [], []

    def setup():
        made.append(object())
        return made[-1]

    t = measure(lambda obj: calls.append(obj), repeats=4, warmup=2, setup=setup)
    assert len(t.samples) == 4 and len(calls) == 6
    assert len({id(o) for o in calls}) == 6  # a fresh object each call
    assert all(s >= 0 for s in t.samples)
    with pytest.raises(ValueError, match="repeats"):
        measure(lambda: None, repeats=0)


def test_measure_interleaved_alternates_the_operations():
    order = []
    timings = measure_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                                  repeats=3, warmup=1)
    assert order == ["a", "b"] * 4
    assert {k: len(t.samples) for k, t in timings.items()} == {"a": 3, "b": 3}


def test_evaluate_marks_pass_and_miss_only_at_full_size():
    rows = [Row("fast", 0.5, "s", target=Target("<", 1.0, "< 1 s")),
            Row("slow", 1.0, "s", target=Target("<", 1.0, "< 1 s")),
            Row("edge", 2.0, "x", target=Target("<=", 2.0, "<= 2x")),
            Row("nan", math.nan, "s", target=Target("<", 1.0, "< 1 s")),
            Row("info", 3.0, "s")]
    evaluate(rows, "full")
    assert [r.status for r in rows] == ["PASS", "MISS", "PASS", "MISS", "INFO"]
    evaluate(rows, "tiny")
    assert [r.status for r in rows] == ["n/a", "n/a", "n/a", "n/a", "INFO"]
    with pytest.raises(ValueError, match="op"):
        Target(">", 1.0, "bad")


def _doc(rows, size="full", status="ok"):
    return {"schema": 1, "size": size, "environment": {}, "summary": {},
            "sections": [{"name": "compute", "status": status, "reason": "", "rows": rows}]}


def test_check_document_catches_malformed_numbers():
    good = Row("x", 2.0, "s", reference="ref", reference_value=1.0, status="INFO").to_dict()
    assert check_document(_doc([good])) == []
    assert any("not a finite number" in p for p in check_document(_doc([dict(good, value=None)])))
    assert any("not positive" in p for p in check_document(_doc([dict(good, value=-1.0)])))
    assert any("value/reference" in p for p in check_document(_doc([dict(good, ratio=3.0)])))
    targeted = dict(good, target={"op": "<", "limit": 1.0, "text": "< 1 s"}, status="INFO")
    assert any("status" in p for p in check_document(_doc([targeted])))
    assert any("without a reason" in p for p in check_document(_doc([], status="unavailable")))
    assert any("no rows" in p for p in check_document(_doc([])))
    assert any("expected" in p for p in check_document(_doc([good]), sections=("compute", "cache")))


def test_write_json_is_atomic_and_strict(tmp_path):
    path = tmp_path / "r" / "latest.json"
    write_json({"a": float("nan"), "b": [1.5]}, path)
    assert json.loads(path.read_text()) == {"a": None, "b": [1.5]}
    assert [p.name for p in path.parent.iterdir()] == ["latest.json"]  # no temp file left


def test_the_cli_rejects_an_unknown_section():
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "nonsense"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr and "compute" in proc.stderr
