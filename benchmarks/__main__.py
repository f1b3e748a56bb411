"""``python -m benchmarks [--size tiny|full] [--only SECTION ...] [--json PATH]``

Runs the performance harness from the repository root, prints a Markdown table (target,
measured value, reference, ratio, PASS/MISS) and writes the full results as JSON (default
``benchmarks/results/latest.json`` for a full run of every section, ``partial.json``
otherwise). Exit status: 0 when every section ran (targets may be missed — that is a finding,
not a failure), 1 when a section raised an error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import SECTIONS, run_all
from ._harness import ROOT, SIZES, format_table, write_json

DEFAULT_JSON = ROOT / "benchmarks" / "results" / "latest.json"
#: where a tiny or partial run goes by default, so it never overwrites the committed full results
PARTIAL_JSON = ROOT / "benchmarks" / "results" / "partial.json"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=SIZES, default="full",
                   help="full: the sizes the targets are defined for; tiny: a seconds-long "
                        "smoke run (targets not evaluated)")
    p.add_argument("--only", nargs="+", choices=list(SECTIONS), metavar="SECTION",
                   help=f"run only these sections ({', '.join(SECTIONS)})")
    p.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help=f"where to write the JSON results (default: "
                        f"{DEFAULT_JSON.relative_to(ROOT)} for a full run of every section, "
                        f"else {PARTIAL_JSON.relative_to(ROOT)})")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    doc = run_all(args.size, args.only, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    results = doc.pop("_results")
    env = doc["environment"]
    print(f"\nbtcflow-nb benchmarks, size={args.size}, {doc['created']}")
    print(f"machine: {env['cpu_model']}, {env['cpu_usable']} usable cores, {env['memory_gb']} GB; "
          f"Python {env['python']}, numpy {env['numpy']}, pandas {env['pandas']}, "
          f"TA-Lib {env['ta-lib']}; load average {env['loadavg_1_5_15']} at start, "
          f"{env['loadavg_1_5_15_at_end']} at end\n")
    print(format_table(results, args.size))
    s = doc["summary"]
    print(f"\nPASS {s['pass']}  MISS {s['miss']}"
          + (f"  missed: {', '.join(s['missed'])}" if s["missed"] else "")
          + (f"  unavailable: {', '.join(s['unavailable'])}" if s["unavailable"] else "")
          + (f"  ERRORS: {', '.join(s['errors'])}" if s["errors"] else ""))
    if args.size != "full":
        print("(targets are defined for --size full; not evaluated at this size)")
    path = args.json or (DEFAULT_JSON if args.size == "full" and not args.only else PARTIAL_JSON)
    write_json(doc, path)
    print(f"results written to {path}")
    return 1 if s["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
