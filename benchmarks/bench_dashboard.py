"""Kernel-side control-to-marks latency of the FlowDashboard (no browser).

``measure_control_latency(timeframe="1D", repeats=10)`` builds a ``FlowDashboard`` on the demo
data with ``debounce_ms=0`` (so a control change recomputes and updates the bqplot marks
synchronously, inside the assignment) and times, for every control, the assignment
``control.value = new`` until it returns — i.e. until ``flow_metrics`` has run and every mark,
the info panel and the alerts table hold the new data. Each control alternates between two
values ``repeats`` times (``2 * repeats`` samples); ``lookback`` walks through distinct values so
each of its samples recomputes the z-scores.

The core caches the base series per (timeframe, venues, futures, weighting, oi_unit), so repeated
toggles of those controls measure the warm path; the first change of each control (``first_ms``)
is reported separately. Not a timed test: run it from the benchmark harness
(``python -m benchmarks``) or directly: ``python -m benchmarks.bench_dashboard``.
"""
from __future__ import annotations

import statistics
import time


def _percentile(values, q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _plan(dash, timeframe: str) -> dict:
    """control name -> (widget, value_a, value_b) ; value_a is the current value."""
    c = dash.controls
    spot, perp = list(c["spot_venues"].options), list(c["perp_venues"].options)
    alt_tf = "1M" if timeframe != "1M" else "1W"
    rng = c["date_range"]
    n = len(rng.options)
    plan = {
        "timeframe": (c["timeframe"], timeframe, alt_tf),
        "date_range": (rng, None, None),  # uses .index, handled below
        "funding_smoothing": (c["funding_smoothing"], 1, 3),
        "apr": (c["apr"], False, True),
        "premium_min": (c["premium_min"], 0.0, 0.02),
        "trend_length": (c["trend_length"], 10, 20),
        "oi_build_z": (c["oi_build_z"], 1.0, 1.5),
        "oi_hot_z": (c["oi_hot_z"], 2.0, 2.5),
        "funding_hot": (c["funding_hot"], 0.03, 0.02),
        "bull_oi_z_max": (c["bull_oi_z_max"], 2.0, 1.5),
        "bull_funding_max": (c["bull_funding_max"], 0.03, 0.02),
        "bb_length": (c["bb_length"], 20, 30),
        "bb_mult": (c["bb_mult"], 2.0, 1.5),
        "cycle_k": (c["cycle_k"], 2.0, 2.5),
        "cycle_m": (c["cycle_m"], 2, 1),
        "extremes": (c["extremes"], True, False),
        "weighting": (c["weighting"], "equal", "oi"),
        "futures": (c["futures"], "basket", perp[0]),
        "oi_unit": (c["oi_unit"], "btc", "usd"),
        "log_scale": (dash.log_scale, False, True),
        "venue_lines": (dash.venue_lines, False, True),
    }
    if len(spot) > 1:
        plan["spot_venues"] = (c["spot_venues"], tuple(spot), tuple(spot[:-1]))
    if len(perp) > 1:
        plan["perp_venues"] = (c["perp_venues"], tuple(perp), tuple(perp[:-1]))
    plan["_range_indices"] = ((0, n - 1), (n // 2, n - 1))
    return plan


def measure_control_latency(timeframe: str = "1D", repeats: int = 10, md=None) -> dict:
    """Median and p95 latency [ms] from setting each control to its marks holding the new data.

    Returns ``{"timeframe", "repeats", "bars", "median_ms", "p95_ms", "samples_ms",
    "controls": {name: {"median_ms", "p95_ms", "first_ms", "samples_ms"}}}`` where the overall
    figures pool every control's samples.
    """
    import btcflow_nb as bf
    from btcflow_nb.dashboard import FlowDashboard

    if repeats < 1:
        raise ValueError(f"repeats={repeats!r} must be >= 1")
    md = bf.load_demo() if md is None else md
    dash = FlowDashboard(md, timeframe=timeframe, debounce_ms=0)
    plan = _plan(dash, timeframe)
    range_a, range_b = plan.pop("_range_indices")
    controls = {}

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1000.0

    # lookback: distinct values, each a real z-score recomputation
    lookbacks = [52 - (i % 40) - 1 if i % 2 == 0 else 52 for i in range(2 * repeats)]
    lb = dash.controls["lookback"]
    samples = [timed(lambda v=v: setattr(lb, "value", v)) for v in lookbacks]
    controls["lookback"] = samples
    for name, (widget, a, b) in plan.items():
        samples = []
        for _ in range(repeats):
            if name == "date_range":
                samples.append(timed(lambda: setattr(widget, "index", range_b)))
                samples.append(timed(lambda: setattr(widget, "index", range_a)))
            else:
                samples.append(timed(lambda: setattr(widget, "value", b)))
                samples.append(timed(lambda: setattr(widget, "value", a)))
        controls[name] = samples
    if dash.errors.outputs or dash.status.value:
        raise RuntimeError(f"the dashboard reported a problem while benchmarking: "
                           f"{dash.status.value} {dash.errors.outputs}")
    # sanity (untimed): the marks show flow_metrics for the final settings
    final = bf.flow_metrics(md, **dash.params())
    if len(dash.marks["oi_z"].y) != len(final):
        raise RuntimeError("marks do not match flow_metrics after the benchmark")

    pooled = [s for v in controls.values() for s in v]
    return {
        "timeframe": timeframe,
        "repeats": repeats,
        "bars": dash.n_bars,
        "median_ms": statistics.median(pooled),
        "p95_ms": _percentile(pooled, 95),
        "samples_ms": pooled,
        "controls": {name: {"median_ms": statistics.median(v), "p95_ms": _percentile(v, 95),
                            "first_ms": v[0], "samples_ms": v}
                     for name, v in controls.items()},
    }


def _main() -> None:  # pragma: no cover - manual use
    import warnings

    warnings.simplefilter("ignore")
    for tf in ("1D", "1W"):
        r = measure_control_latency(tf, repeats=10)
        print(f"{tf}: {r['bars']} bars, median {r['median_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms")
        for name, c in sorted(r["controls"].items(), key=lambda kv: -kv[1]["median_ms"]):
            print(f"  {name:<18} median {c['median_ms']:7.1f}  p95 {c['p95_ms']:7.1f}  "
                  f"first {c['first_ms']:7.1f} ms")


if __name__ == "__main__":  # pragma: no cover
    _main()
