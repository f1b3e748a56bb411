"""`Watcher`: evaluate alert rules on fresh data and deliver the alerts, at least once.

One **cycle** (`Watcher.run_once`):

1. *refresh*: for each bar size the rules need, the cache is refreshed incrementally with
   :func:`btcflow_nb.fetch` up to the clock's now (``since=None``: one request per series when
   it is up to date; an empty cache gets the default history first). A refresh in which every
   venue fails is reported and the rules on it are skipped this cycle (their watermarks do not
   move: nothing is lost); venues that fail while others answer are named in each alert
   (``data.failed_venues``) and their bars that were not final at their last good refresh are
   treated as missing (`btcflow_nb.alerts.revisions.mask_unfinal`: no stale close in a basket).
   Rules with nothing to do -- no bar closed since their watermarks, not intrabar -- are not
   refreshed at all (`Watcher._due`): between closes a cycle costs no request.
2. *evaluate*: :func:`btcflow_nb.flow_metrics` with each rule's settings; the bars to look at are
   chosen by :func:`btcflow_nb.alerts.rules.fired_bars` (closed bars after the watermark; first
   run: the latest closed bar); the closed bars of a recent window are re-evaluated for late
   onsets and retractions (`btcflow_nb.alerts.revisions`). The clock (``clock=``) decides which bars are closed; it is also
   written to ``md.meta["fetched_at"]`` so ``open_bar`` and ``explain`` agree with it.
3. *record*: new alerts are written to the state as pending on every channel, with the moved
   watermarks, in one atomic save -- before anything is sent.
4. *deliver*: each channel runs in its own thread (a slow or failing channel never holds up the
   others) and sends its pending alerts oldest first, each retried with exponential backoff
   (`RetrySettings`); a success is recorded at once; an alert that still fails stays pending
   (retried on the next cycle) and the channel stops for this cycle. A *permanent* refusal
   (`DeliveryError.permanent`: webhook 4xx but 408/429, SMTP 5xx, login refused) is not
   retried: that delivery is dead-lettered in the state with the code and reason
   (``result.dead``; ``--status`` lists it, ``--requeue-dead`` retries it) and the channel goes
   on with its next alert. The result says which channels failed and why.

`Watcher.run` repeats cycles every ``config.every`` seconds until stopped.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import pandas as pd

from ..metrics import flow_metrics
from ..sources.live import FetchError, fetch
from ..sources.load import load_summary
from ..timeframes import to_timestamp
from .channels import DeliveryError
from .config import WatchConfig
from .message import build_alert
from .revisions import mask_unfinal, revision_window, revisions, venue_names
from .rules import fetch_timeframe_for, fired_bars, latest_closed_bar
from .state import WatchState

__all__ = ["Watcher", "CycleResult"]

log = logging.getLogger("btcflow_nb.watch")


@dataclass
class CycleResult:
    """What one cycle did: ``alerts`` (new this cycle), ``delivered`` ({channel name: count}),
    ``failed`` ({channel name: last error}), ``dead`` ([(channel name, key, code, error)]:
    refused permanently this cycle), ``errors`` (evaluation problems, e.g. every venue
    failed), ``pending`` (deliveries still owed after the cycle)."""

    alerts: list = field(default_factory=list)
    delivered: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    pending: int = 0
    dead: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors and not self.dead


def _wall_clock() -> pd.Timestamp:
    return pd.Timestamp(int(time.time() * 1000), unit="ms", tz="UTC")


class Watcher:
    """Evaluate ``config.rules`` and deliver to ``config.channels`` (see the module docstring).

    config: a `WatchConfig` (`load_watch_config`); clock: a callable returning the current time
    (default: the wall clock; tests pass the fake exchange's); fetcher: a callable
    ``(venues, timeframe, cache_dir, until) -> MarketData`` (default: :func:`btcflow_nb.fetch`
    up to the clock's now);
    sleep: how to wait between retries (default ``time.sleep``).
    """

    def __init__(self, config: WatchConfig, *, clock=None, fetcher=None, sleep=time.sleep,
                 state: WatchState | None = None):
        self.config = config
        self.clock = clock or _wall_clock
        self.fetcher = fetcher or self._fetch
        self.sleep = sleep
        self.state = state if state is not None else WatchState(config.state)
        self.channels = {ch.id: ch for ch in config.channels}
        self._stop = threading.Event()
        self.since = config.since
        if self.state.set_aside is not None:
            # the history before the corrupt file is unknown: never replay it (--since ignored)
            self.since = None
            log.warning("corrupt watch state set aside as %s; evaluating only the latest "
                        "closed bar (--since ignored: it could re-send delivered alerts)",
                        self.state.set_aside)
        dropped = [] if self.state.read_only else self.state.drop_channels_not_in(
            set(self.channels))
        for name in dropped:
            log.warning("pending alerts for %s dropped: that channel is no longer configured",
                        name)

    def _fetch(self, venues, timeframe, cache_dir, until):
        return fetch(venues, timeframe=timeframe, cache_dir=cache_dir, until=until,
                     progress=False)

    def close(self) -> None:
        self.state.close()

    # ---- evaluation -------------------------------------------------------------------------
    def _due(self, rule, now) -> bool:
        """Does ``rule`` need fresh data: intrabar, a kind without a watermark, or a bar closed
        after a watermark?"""
        if rule.intrabar:
            return True
        latest = latest_closed_bar(now, rule.timeframe)
        marks = [self.state.watermark(rule.rule_id, k) for k in rule.kinds]
        return any(m is None or m < latest for m in marks)

    def _refresh(self, ftf, rules, now, result):
        """The data of ``ftf`` bars up to ``now``, with the failed venues' unfinal bars
        masked, and the venues refreshed well (``{venue: now ISO}``); ``(None, {})`` when the
        whole refresh failed."""
        try:
            md = self.fetcher(self.config.venues, ftf, self.config.cache_dir, now)
        except FetchError as exc:
            result.errors.append(f"refresh of {ftf} bars failed: {exc}")
            return None, {}
        md.meta["fetched_at"] = now.isoformat()   # the watcher's clock judges open bars
        failed = sorted((md.meta.get("errors") or {}).keys())
        good = {v: now.isoformat() for v in venue_names(md) if v not in failed}
        if failed:
            marks = [self.state.watermark(r.rule_id, k) for r in rules for k in r.kinds]
            marks = [m for m in marks if m is not None]
            # unknown last good refresh: the bars not evaluated yet (first run: the latest
            # closed bar and the open bar) may be partial
            fallback = (min(marks) + pd.Timedelta(microseconds=1) if marks
                        else latest_closed_bar(now, ftf))
            md, masked = mask_unfinal(md, failed, self.state.refreshed(ftf), fallback, ftf)
            md.meta["unfinal_venues"] = masked
            if masked:
                log.warning("venue(s) %s failed to refresh: their bars from %s on are treated "
                            "as missing (not final)", ", ".join(sorted(masked)),
                            min(masked.values()))
        return md, good

    def evaluate(self, result: CycleResult | None = None, extra: dict | None = None):
        """New alerts and the watermarks they move to: ``(alerts, watermarks)``. Nothing is
        written or sent. ``extra`` (a dict) receives ``evaluated_from`` and ``refreshed`` for
        `WatchState.record`."""
        result = result if result is not None else CycleResult()
        extra = extra if extra is not None else {}
        now = to_timestamp(self.clock(), "clock")
        since = to_timestamp(self.since, "since")
        data, refreshed, evaluated_from = {}, {}, {}
        due = [r for r in self.config.rules if self._due(r, now)]
        for ftf in dict.fromkeys(fetch_timeframe_for(r.timeframe) for r in due):
            rules = [r for r in due if fetch_timeframe_for(r.timeframe) == ftf]
            md, good = self._refresh(ftf, rules, now, result)
            if md is not None:
                data[ftf], refreshed[ftf] = md, good
        alerts, watermarks = [], {}
        for rule in due:
            md = data.get(fetch_timeframe_for(rule.timeframe))
            if md is None:
                continue
            m = flow_metrics(md, rule.timeframe, **rule.settings)
            m = m.loc[:now]
            about = {"summary": load_summary(md),
                     "failed_venues": sorted((md.meta.get("errors") or {}).keys())}
            if md.meta.get("unfinal_venues"):
                about["unfinal_venues"] = dict(md.meta["unfinal_venues"])
            window = revision_window(md)
            for kind in rule.kinds:
                mark = self.state.watermark(rule.rule_id, kind)
                closed, provisional, new_mark = fired_bars(m, kind, now, mark, since=since,
                                                           intrabar=rule.intrabar)
                name = f"{rule.rule_id}:{kind}"
                if mark is None:   # the first bar this (rule, kind) evaluates
                    evaluated_from[name] = since if since is not None else new_mark
                else:   # a state from before evaluated_from: late onsets from its watermark on
                    evaluated_from[name] = self.state.evaluated_from(rule.rule_id, kind)
                for bar, prov in [(b, False) for b in closed] + [(b, True) for b in provisional]:
                    alert = build_alert(m, bar, kind, rule_id=rule.rule_id, provisional=prov,
                                        evaluated_at=now, data=about)
                    if not self.state.has_alert(alert["idempotency_key"]):
                        alerts.append(alert)
                alerts += revisions(m, kind, rule_id=rule.rule_id, now=now, watermark=mark,
                                    first_bar=self.state.evaluated_from(rule.rule_id, kind),
                                    window=window, data=about,
                                    recorded=self.state.alerts_of(rule.rule_id, kind))
                watermarks[name] = new_mark
        extra.update(evaluated_from=evaluated_from, refreshed=refreshed)
        return alerts, watermarks

    # ---- delivery -----------------------------------------------------------------------------
    def _deliver_channel(self, channel, result: CycleResult, lock: threading.Lock) -> None:
        retry = self.config.retry
        sent = 0
        for alert in self.state.pending(channel.id):
            key = alert["idempotency_key"]
            error = failure = None
            for attempt in range(1, retry.attempts + 1):
                if self._stop.is_set() and attempt > 1:
                    break
                try:
                    channel.deliver(alert)
                    error = None
                    break
                except DeliveryError as exc:
                    # keep plain values: the exception's context may hold a socket
                    error, failure = str(exc), (exc.permanent, exc.code)
                    if exc.permanent:
                        break
                    log.warning("%s (attempt %d of %d, alert %s)", error, attempt,
                                retry.attempts, key)
                    if attempt < retry.attempts:
                        self.sleep(retry.delay(attempt))
            if error is None:
                self.state.mark(key, channel.id, delivered=True, attempts=attempt)
                sent += 1
                continue
            if failure is not None and failure[0]:
                log.error("%s: refused permanently (%s); alert %s dead-lettered in the state, "
                          "not retried (see --status, --requeue-dead)", channel.name,
                          failure[1], key)
                self.state.mark(key, channel.id, delivered=False, error=error,
                                attempts=attempt, dead=True, code=failure[1])
                with lock:
                    result.dead.append((channel.name, key, failure[1], error))
                continue   # the refusal was about this message: the next one may pass
            self.state.mark(key, channel.id, delivered=False, error=error, attempts=attempt)
            with lock:
                result.failed[channel.name] = error
            break   # the channel is down: its other alerts stay pending for the next cycle
        with lock:
            result.delivered[channel.name] = sent

    def deliver(self, result: CycleResult | None = None) -> CycleResult:
        """Send every pending alert on every channel (one thread per channel)."""
        result = result if result is not None else CycleResult()
        lock = threading.Lock()
        threads = [threading.Thread(target=self._deliver_channel, args=(ch, result, lock),
                                    name=f"watch-{ch.id}", daemon=True)
                   for ch in self.channels.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result.pending = sum(len(self.state.pending(cid)) for cid in self.channels)
        return result

    def run_once(self, *, dry_run: bool = False) -> CycleResult:
        """One cycle: refresh, evaluate, record, deliver. ``dry_run``: evaluate only; nothing
        is recorded or sent (``result.alerts`` says what would be)."""
        result = CycleResult()
        extra = {}
        try:
            alerts, watermarks = self.evaluate(result, extra)
        except ValueError as exc:   # a bad rule setting: named by flow_metrics
            result.errors.append(f"evaluation failed: {exc}")
            return result
        if dry_run:
            result.alerts = alerts
            return result
        names = {cid: ch.name for cid, ch in self.channels.items()}
        result.alerts = self.state.record(alerts, names, watermarks, **extra)
        return self.deliver(result)

    def run(self, *, on_cycle=None) -> None:
        """Cycles every ``config.every`` seconds until `stop` (or Ctrl-C)."""
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                result = self.run_once()
            except (OSError, RuntimeError) as exc:   # e.g. a state write on a full disk
                log.error("cycle failed: %s: %s (retried in %g s)", type(exc).__name__, exc,
                          self.config.every)
                result = CycleResult(errors=[f"{type(exc).__name__}: {exc}"])
            if on_cycle is not None:
                on_cycle(result)
            self._stop.wait(max(0.0, self.config.every - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()
