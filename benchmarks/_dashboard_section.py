"""Section 2 — dashboard interaction, kernel side (adapter around ``benchmarks/bench_dashboard``).

The dashboard engineers own ``benchmarks/bench_dashboard.py`` and its
``measure_control_latency(timeframe="1D", repeats=...) -> dict``: the time from setting each
control of a :class:`~btcflow_nb.dashboard.FlowDashboard` on the demo data to its bqplot marks
holding the new data (no browser). This module only runs it at 1D and 1W and turns its result
into rows: overall median and p95 (targets: median < 30 ms, p95 < 80 ms) and, as INFO rows, the
slowest controls. There is no external reference for this figure, so it is compared with the
targets only.

Accepted result shapes (the adapter is lenient about spelling, strict about meaning): times in
milliseconds under keys ending in ``_ms`` (or seconds under ``_s``), an overall ``median``/``p95``
and optionally ``samples`` or a per-control mapping under ``controls``/``per_control``.
"""
from __future__ import annotations

import importlib

from ._harness import Row, Target, Unavailable, median, percentile

NAME = "dashboard"
TITLE = "Dashboard interaction, kernel side (control set -> marks updated)"
REQUIRES = ("benchmarks/bench_dashboard.py",)

#: the issue's timeframes; a tiny run does only the cheaper 1W (the 1D code path is the same)
TIMEFRAMES = {"tiny": ("1W",), "full": ("1D", "1W")}
REPEATS = {"tiny": 1, "full": 20}
MEDIAN_TARGET_MS, P95_TARGET_MS = 30.0, 80.0


def _ms(d: dict, stem: str):
    """``d[stem_ms]`` or ``d[stem_s] * 1000`` or ``d[stem]`` (assumed ms), else None."""
    for key, scale in ((f"{stem}_ms", 1.0), (f"{stem}_s", 1000.0), (stem, 1.0)):
        if key in d and isinstance(d[key], (int, float)) and not isinstance(d[key], bool):
            return float(d[key]) * scale
    return None


def _samples_ms(d: dict):
    for key, scale in (("samples_ms", 1.0), ("samples_s", 1000.0), ("samples", 1.0)):
        v = d.get(key)
        if isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) for x in v):
            return [float(x) * scale for x in v]
    return None


def _summarise(result: dict) -> tuple[float, float, dict]:
    """Overall (median_ms, p95_ms, per_control{name: (median, p95)}) from the engineers' dict."""
    per_control = {}
    controls = result.get("controls") or result.get("per_control") or {}
    all_samples = []
    if isinstance(controls, dict):
        for name, c in controls.items():
            if not isinstance(c, dict):
                continue
            s = _samples_ms(c)
            med = _ms(c, "median") if _ms(c, "median") is not None else (median(s) if s else None)
            p95 = _ms(c, "p95") if _ms(c, "p95") is not None else (percentile(s, 95) if s else None)
            if med is not None:
                per_control[name] = (med, p95 if p95 is not None else med)
            if s:
                all_samples += s
    overall = _samples_ms(result)
    if overall:
        all_samples = overall
    # from the samples when there are any, so every p95 in the table is the same nearest-rank one
    med = median(all_samples) if all_samples else _ms(result, "median")
    p95 = percentile(all_samples, 95) if all_samples else _ms(result, "p95")
    if med is None or p95 is None:
        raise ValueError(f"cannot find median/p95 in measure_control_latency's result "
                         f"(keys: {sorted(result)})")
    return med, p95, per_control


def _compact(result: dict) -> dict:
    """The result for the JSON: the pooled samples dropped (they are the per-control samples
    concatenated), sample lists rounded to 0.01 ms."""
    out = {k: v for k, v in result.items() if k not in ("samples_ms", "samples_s", "samples")}
    controls = out.get("controls")
    if isinstance(controls, dict):
        out["controls"] = {
            name: {k: ([round(float(x), 2) for x in v] if k.startswith("samples") else v)
                   for k, v in c.items()} if isinstance(c, dict) else c
            for name, c in controls.items()}
    return out


def run(size: str):
    try:
        mod = importlib.import_module("benchmarks.bench_dashboard")
    except ImportError as exc:
        raise Unavailable(f"benchmarks/bench_dashboard.py not importable ({exc})") from None
    measure = getattr(mod, "measure_control_latency", None)
    if measure is None:
        raise Unavailable("benchmarks.bench_dashboard has no measure_control_latency yet")
    rows, details = [], {}
    for tf in TIMEFRAMES[size]:
        result = measure(timeframe=tf, repeats=REPEATS[size])
        med, p95, per_control = _summarise(result)
        details[tf] = _compact(result)
        rows.append(Row(f"{tf}: median over controls", med / 1e3, "s",
                        target=Target("<", MEDIAN_TARGET_MS / 1e3, f"< {MEDIAN_TARGET_MS:.0f} ms")))
        rows.append(Row(f"{tf}: p95 over controls", p95 / 1e3, "s",
                        target=Target("<", P95_TARGET_MS / 1e3, f"< {P95_TARGET_MS:.0f} ms")))
        slowest = sorted(per_control.items(), key=lambda kv: kv[1][1], reverse=True)[:3]
        for name, (cm, cp) in slowest:
            rows.append(Row(f"{tf}: control {name} (one of the 3 slowest by p95)", cm / 1e3, "s",
                            note=f"p95 {cp:.1f} ms"))
        firsts = {n: c.get("first_ms") for n, c in (result.get("controls") or {}).items()
                  if isinstance(c, dict) and isinstance(c.get("first_ms"), (int, float))}
        if firsts:
            name = max(firsts, key=firsts.get)
            rows.append(Row(f"{tf}: slowest first change ({name}, cold memo cache)",
                            firsts[name] / 1e3, "s"))
    return rows, details
