"""The ``btcflow-nb`` command line.

    btcflow-nb fetch [--venues NAME ...] [--since DATE] [--until DATE] [--timeframe 1h|4h|1d]
                     [--cache-dir DIR] [--no-progress] [--dated all|none|KEY ...]
        Fetch live data into the cache (progress bars on stderr), then print the coverage
        table and any per-venue errors.  Dated futures (``--dated``: "all", "none" or venue
        keys such as deribit okx; default: all when --venues is not given, else none) come
        along: their contracts are rows of the coverage table (field "futures").
    btcflow-nb coverage [--venues NAME ...] [--timeframe 1d] [--cache-dir DIR]
        Print first/last bar, rows and gaps per venue and field, from the cache (no network).
    btcflow-nb venues
        Print the venue registry: what each venue offers and how it is read.
    btcflow-nb import binance --dataset klines|fundingRate|metrics --symbol BTCUSDT
                     --market spot|um|cm --since DATE [--until DATE] [--interval 1d]
                     [--venue NAME] [--base-url URL] [--cache-dir DIR]
    btcflow-nb import file PATH --format tradingview|coinalyze|daily|long [--venue NAME]
                     [--oi-unit usd|btc] [--timeframe 1d] [--cache-dir DIR]
        Merge history into the cache with provenance (see `btcflow_nb.sources.imports`).
    btcflow-nb watch [--config FILE] [--webhook URL] [--email ADDR] [--jsonl PATH] [--stdout]
                     [--desktop] [--alerts KIND,...] [--timeframe TF] [--intrabar]
                     [--every DURATION] [--state PATH] [--since TIME] [--once] [--dry-run]
                     [--as-of TIME] [--venues NAME ...] [--cache-dir DIR] [--status]
                     [--requeue-dead]
        Evaluate alert rules on bar close and deliver the alerts (see `btcflow_nb.alerts`);
        exit status with --once: 0 all delivered, 1 a channel or the refresh failed or a
        delivery was refused permanently (dead-lettered; --status lists them).
    btcflow-nb render ...
        Execute notebooks and export HTML (see ``btcflow-nb render --help``).

Configuration: ``BTCFLOW_NB_CONFIG`` (JSON/TOML file), ``BTCFLOW_NB_API_BASE`` (one server for
every venue, e.g. the fake exchange), ``BTCFLOW_NB_CACHE_DIR`` -- see `btcflow_nb.sources.config`.
Exit status: 0 success (some venues may have failed: they are listed), 1 every venue failed,
2 bad arguments or configuration.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

import pandas as pd


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="btcflow-nb",
                                     description="Bitcoin derivatives flow: data and notebooks.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, with_time=True):
        p.add_argument("--venues", nargs="+", metavar="NAME",
                       help="venue names (spot:binance, perp:kucoin), keys (binance) or "
                            "'spot' / 'perp'; default: every registered venue")
        p.add_argument("--timeframe", default="1d", help="bar size: 1h, 4h or 1d (default 1d)")
        p.add_argument("--cache-dir", default=None, help="cache directory (default: "
                       "$BTCFLOW_NB_CACHE_DIR or ~/.cache/btcflow-nb)")
        if with_time:
            p.add_argument("--since", default=None,
                           help="first date (default: resume from the cache, else 2019-01-01 for daily bars)")
            p.add_argument("--until", default=None, help="last date (default: now)")

    f = sub.add_parser("fetch", help="fetch live data into the cache, print coverage")
    common(f)
    f.add_argument("--no-progress", action="store_true", help="no progress bars")
    f.add_argument("--dated", nargs="+", metavar="KEY", default=None,
                   help="dated futures: 'all', 'none' or venue keys (deribit, okx, "
                        "binance_coinm, bybit_inverse); default: all without --venues, else none")
    c = sub.add_parser("coverage", help="coverage of the cached data (no network)")
    common(c)
    sub.add_parser("venues", help="the venue registry")
    imp = sub.add_parser("import", help="merge archive or CSV history into the cache")
    isub = imp.add_subparsers(dest="origin", required=True)
    b = isub.add_parser("binance", help="Binance public data archives (data.binance.vision)")
    b.add_argument("--dataset", required=True, choices=["klines", "fundingRate", "metrics"])
    b.add_argument("--symbol", default="BTCUSDT")
    b.add_argument("--market", default="um", choices=["spot", "um", "cm"])
    b.add_argument("--since", required=True)
    b.add_argument("--until", default=None)
    b.add_argument("--interval", default="1d", help="klines bar size: 1h, 4h or 1d")
    b.add_argument("--sample", default="1h", help="metrics rows kept: 5m, 1h or 1d")
    b.add_argument("--venue", default=None, help="registry venue (default: from the symbol)")
    b.add_argument("--base-url", default=None, help="archive service (default: "
                   "$BTCFLOW_NB_ARCHIVE_BASE or https://data.binance.vision)")
    b.add_argument("--cache-dir", default=None)
    fi = isub.add_parser("file", help="a CSV export (TradingView, vendors, long format)")
    fi.add_argument("path")
    fi.add_argument("--format", required=True, help="tradingview, coinalyze, daily "
                    "(cryptoquant, coinglass) or long")
    fi.add_argument("--venue", default=None, help="registry venue, e.g. perp:binance")
    fi.add_argument("--series", default=None, help="import only this series: ohlcv, funding or "
                    "open_interest (default: every series in the file)")
    fi.add_argument("--oi-unit", default="usd", choices=["usd", "btc"])
    fi.add_argument("--timeframe", default=None, help="bar size of price rows (default: "
                    "inferred)")
    fi.add_argument("--cache-dir", default=None)
    _watch_parser(sub)
    return parser


def _watch_parser(sub) -> None:
    w = sub.add_parser("watch", help="evaluate alert rules on bar close, deliver the alerts")
    w.add_argument("--config", metavar="FILE", help="TOML or JSON watch config (rules, "
                   "channels, SMTP, retry; see btcflow_nb.alerts.config)")
    w.add_argument("--webhook", action="append", default=[], metavar="URL",
                   help="POST each alert as JSON (Slack/Discord URLs get their format)")
    w.add_argument("--email", action="append", default=[], metavar="ADDR",
                   help="e-mail each alert (SMTP host from the config or $BTCFLOW_NB_SMTP_HOST)")
    w.add_argument("--jsonl", action="append", default=[], metavar="PATH",
                   help="append each alert as one JSON line")
    w.add_argument("--stdout", action="store_true", default=None, help="print each alert")
    w.add_argument("--desktop", action="store_true", default=None,
                   help="desktop notification (notify-send)")
    w.add_argument("--alerts", metavar="KIND,...", help="premium_high, premium_low, bullish, "
                   "bearish, overleveraged, cycle_top, cycle_bottom")
    w.add_argument("--timeframe", metavar="TF", help="1h, 4h, 1D, 3D, 1W or 1M (default 1D)")
    w.add_argument("--intrabar", action="store_true", default=None,
                   help="also evaluate the open bar (alerts labelled provisional)")
    w.add_argument("--every", metavar="DURATION", help="time between cycles (default 1m)")
    w.add_argument("--state", metavar="PATH", help="state file (default "
                   "~/.local/state/btcflow-nb/watch-state.json)")
    w.add_argument("--since", metavar="TIME", help="first run only: evaluate every bar closed "
                   "after TIME (default: the latest closed bar only)")
    w.add_argument("--as-of", metavar="TIME", help="with --once or --dry-run: evaluate as if "
                   "the clock said TIME (a replay; data is fetched up to TIME)")
    w.add_argument("--venues", nargs="+", metavar="NAME", help="venues to fetch")
    w.add_argument("--cache-dir", metavar="DIR", default=None, help="cache directory "
                   "(default: $BTCFLOW_NB_CACHE_DIR or ~/.cache/btcflow-nb)")
    w.add_argument("--once", action="store_true", help="one cycle, then exit")
    w.add_argument("--dry-run", action="store_true",
                   help="evaluate and print what would be sent; send and record nothing")
    w.add_argument("--status", action="store_true", help="print the state (watermarks, "
                   "pending and dead-lettered deliveries) and exit: 1 if any is dead")
    w.add_argument("--requeue-dead", action="store_true", help="put dead-lettered deliveries "
                   "back to pending (after fixing the channel), then run as asked")


def _import(args) -> int:
    from .sources.imports import import_binance, import_file

    if args.origin == "binance":
        reports = import_binance(args.dataset, args.symbol, args.market, args.since, args.until,
                                 interval=args.interval, sample=args.sample, venue=args.venue,
                                 base=args.base_url, cache_dir=args.cache_dir)
    else:
        reports = import_file(args.path, args.format, venue=args.venue, oi_unit=args.oi_unit,
                              timeframe=args.timeframe, series=args.series,
                              cache_dir=args.cache_dir)
    for r in reports:
        span = f"{r.first:%Y-%m-%d %H:%M} .. {r.last:%Y-%m-%d %H:%M}" if r.rows else "-"
        print(f"{r.venue:<16} {r.series:<14} {r.source:<22} rows {r.rows:>7}  new {r.added:>7}"
              f"  replaced {r.replaced:>6}  kept cached {r.kept:>6}  {span}")
        if getattr(r, "missing", None):
            print(f"note   {len(r.missing)} file(s) not on the service: {r.missing[0]} ...")
        for n in r.notes:
            print(f"note   {n}")
    return 0


def format_coverage(coverage: pd.DataFrame) -> str:
    """The coverage table as text: field, venue, first, last, rows, gaps."""
    if len(coverage) == 0:
        return "(no data)"
    table = coverage.copy()
    for col in ("first", "last"):
        t = pd.to_datetime(table[col], utc=True)
        table[col] = t.dt.strftime("%Y-%m-%d %H:%M")
    return table.to_string(index=False)


def _print_errors(md, out) -> None:
    for venue, reason in md.meta.get("errors", {}).items():
        print(f"error  {venue}: {reason}", file=out)
    for note in md.meta.get("notes", []):
        print(f"note   {note}", file=out)


def _dated_arg(words):
    """``--dated`` words as `btcflow_nb.fetch`'s ``dated``: all -> True, none -> False."""
    if words is None:
        return None
    lowered = [w.lower() for w in words]
    if lowered in (["all"], ["none"]):
        return lowered == ["all"]
    return list(words)


def main(argv: Optional[list] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "render":
        from .render import main as render_main

        return render_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "venues":
            from .sources.venues import venue_table

            with pd.option_context("display.width", 200, "display.max_columns", 20):
                print(venue_table().to_string(index=False))
            return 0
        if args.command == "import":
            return _import(args)
        if args.command == "watch":
            from .alerts.cli import run_watch

            return run_watch(args)
        if args.command == "coverage":
            from .sources.assemble import from_cache

            md = from_cache(args.venues, timeframe=args.timeframe, since=args.since,
                            until=args.until, cache_dir=args.cache_dir)
            print(format_coverage(md.coverage()))
            _print_errors(md, sys.stdout)
            return 0
        from .sources.live import FetchError, fetch

        try:
            md = fetch(args.venues, since=args.since, until=args.until, timeframe=args.timeframe,
                       cache_dir=args.cache_dir, progress=not args.no_progress,
                       dated=_dated_arg(args.dated))
        except FetchError as exc:
            print(f"btcflow-nb fetch: {exc}", file=sys.stderr)
            return 1
        print(format_coverage(md.coverage()))
        _print_errors(md, sys.stdout)
        return 0
    except ValueError as exc:
        print(f"btcflow-nb {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
