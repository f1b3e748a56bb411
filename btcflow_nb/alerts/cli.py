"""``btcflow-nb watch``: the command-line runner of a `Watcher` (flags in `btcflow_nb.cli`).

Exit status: 0 -- every alert delivered on every channel (``--once``) or stopped by SIGTERM /
Ctrl-C; 1 -- a channel failed (its alerts stay pending in the state and are retried on the next
run), a delivery was refused permanently (dead-lettered) or the data refresh failed; 2 -- bad
flags, config or state file (raised as ValueError and printed by `btcflow_nb.cli.main`).
``--status``: 0 -- nothing dead-lettered, 1 -- some delivery is dead (listed).

Logs go to stderr (``btcflow-nb watch: ...``); secrets (webhook URLs, SMTP passwords) never
appear in them: channels are named by scheme and host only, and every error is redacted by its
channel.
"""
from __future__ import annotations

import logging
import signal
import sys

from ..timeframes import to_timestamp
from .config import load_watch_config
from .message import text_body
from .state import WatchState
from .watch import CycleResult, Watcher

__all__ = ["run_watch", "summary_line"]


def summary_line(result: CycleResult) -> str:
    parts = [f"{len(result.alerts)} new alert(s)"]
    if result.delivered:
        parts.append("delivered " + ", ".join(f"{n}: {k}" for n, k in
                                              sorted(result.delivered.items())))
    for name, err in sorted(result.failed.items()):
        parts.append(f"FAILED {name}: {err}")
    for name, key, code, err in result.dead:
        parts.append(f"REFUSED PERMANENTLY {name} ({code}), alert {key} dead-lettered: {err}")
    parts += [f"ERROR {e}" for e in result.errors]
    if result.pending:
        parts.append(f"{result.pending} delivery(ies) pending, retried next cycle")
    return "; ".join(parts)


def status_report(state: WatchState) -> tuple[str, int]:
    """The state as text (watermarks, pending per channel, dead letters) and the exit status:
    1 when a delivery is dead-lettered, else 0."""
    data = state.data
    lines = [f"state {state.path} (updated {data.get('updated')})"]
    for name, bar in sorted(data["watermarks"].items()):
        lines.append(f"watermark {name}: {bar}")
    for cid, desc in sorted(data["channels"].items(), key=lambda x: x[1]):
        pending = len(state.pending(cid))
        lines.append(f"channel {desc}: {pending} pending")
    dead = state.dead_letters()
    for desc, alert, d in dead:
        lines.append(f"DEAD {desc}: {d.get('code')} -- {alert['title']} (key "
                     f"{alert['idempotency_key']}): {d.get('error')}")
    lines.append(f"{len(dead)} dead-lettered delivery(ies)"
                 + (" (fix the channel, then --requeue-dead)" if dead else ""))
    return "\n".join(lines), 1 if dead else 0


def run_watch(args) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="btcflow-nb watch: %(levelname)s %(message)s")
    for noisy in ("ccxt", "asyncio", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = load_watch_config(
        args.config, webhooks=args.webhook, emails=args.email, jsonl=args.jsonl,
        alerts=args.alerts, timeframe=args.timeframe, intrabar=args.intrabar, every=args.every,
        state=args.state, since=args.since, stdout=args.stdout, desktop=args.desktop,
        venues=args.venues, cache_dir=args.cache_dir)
    if getattr(args, "status", False):
        state = WatchState(config.state, read_only=True)
        text, code = status_report(state)
        print(text)
        return code
    if getattr(args, "requeue_dead", False):
        state = WatchState(config.state)
        n = state.requeue_dead()
        state.close()
        logging.getLogger("btcflow_nb.watch").info("%d dead-lettered delivery(ies) back to "
                                                   "pending", n)
    clock = None
    if args.as_of is not None:
        if not (args.once or args.dry_run):
            raise ValueError(f"--as-of {args.as_of!r} needs --once or --dry-run (a loop with "
                             f"a fixed clock would evaluate the same time forever)")
        as_of = to_timestamp(args.as_of, "--as-of")
        clock = lambda: as_of   # noqa: E731
    log = logging.getLogger("btcflow_nb.watch")
    rules = "; ".join(r.describe() for r in config.rules)
    channels = ", ".join(ch.name for ch in config.channels)
    if args.dry_run:
        watcher = Watcher(config, clock=clock,
                          state=WatchState(config.state, read_only=True))
        result = watcher.run_once(dry_run=True)
        for alert in result.alerts:
            print(text_body(alert))
            print(f"(dry run: would go to {channels})\n" + "-" * 72)
        print(f"dry run: {len(result.alerts)} alert(s) would be sent; rules: {rules}",
              file=sys.stderr)
        for e in result.errors:
            print(f"btcflow-nb watch: ERROR {e}", file=sys.stderr)
        return 1 if result.errors else 0
    watcher = Watcher(config, clock=clock)
    log.info("rules: %s; channels: %s; state: %s", rules, channels, config.state)
    try:
        if args.once:
            result = watcher.run_once()
            log.info("%s", summary_line(result))
            return 0 if result.ok else 1
        signal.signal(signal.SIGTERM, lambda *_: watcher.stop())
        try:
            watcher.run(on_cycle=lambda r: log.info("%s", summary_line(r)))
        except KeyboardInterrupt:
            watcher.stop()
        return 0
    finally:
        watcher.close()
