"""Alerts that reach the user: rules evaluated on bar close, delivered at least once.

``btcflow-nb watch`` (see the README, "Alerts: btcflow-nb watch") runs a `Watcher`: each cycle
refreshes the cache incrementally (`btcflow_nb.fetch`), computes `btcflow_nb.flow_metrics` per
rule, fires on signal onsets of closed bars (intrabar: provisional alerts on the open bar) and
delivers each alert to every channel -- webhooks (generic JSON, Slack, Discord), e-mail over SMTP
with STARTTLS, an append-only JSONL file, stdout, desktop notifications -- retried with backoff,
recorded in an atomically written state file so that a restart never re-sends what was delivered
and a crash never loses an alert (the idempotency key lets a receiver drop a repeat).

Data that changes after a bar's first evaluation (funding settled up to 8 h later, a venue that
failed to refresh) is handled by `revisions`: late onsets are sent labelled late, vanished ones
retracted, a failed venue's unfinal bars treated as missing. A permanent refusal (webhook 4xx,
SMTP 5xx) is dead-lettered in the state, not retried (``--status``, ``--requeue-dead``).

Modules: `rules` (kinds, `Rule`, which bars fire), `message` (the alert and its bodies, with the
`btcflow_nb.explain` explanation), `channels`, `state` (the state file), `config` (TOML/JSON file
and flags), `revisions` (late onsets, retractions, stale venues), `watch` (`Watcher`,
`CycleResult`).

>>> from btcflow_nb.alerts import Watcher, load_watch_config      # doctest: +SKIP
>>> w = Watcher(load_watch_config("watch.toml"))                   # doctest: +SKIP
>>> w.run_once().ok                                                # doctest: +SKIP
"""
from .channels import (DeliveryError, DesktopChannel, EmailChannel, JsonlChannel, StdoutChannel,
                       WebhookChannel)
from .config import RetrySettings, WatchConfig, load_watch_config, parse_duration
from .rules import KINDS, Rule
from .state import StateError, WatchState
from .watch import CycleResult, Watcher

__all__ = ["KINDS", "Rule", "Watcher", "CycleResult", "WatchConfig", "RetrySettings",
           "load_watch_config", "parse_duration", "WatchState", "StateError", "DeliveryError",
           "WebhookChannel", "EmailChannel", "JsonlChannel", "StdoutChannel", "DesktopChannel"]
