"""The watcher's state file: watermarks, alerts and their delivery per channel, kept atomically.

Format (JSON)::

    {"format": "btcflow-nb watch state", "version": 1, "updated": "<ISO UTC>",
     "watermarks": {"<rule id>:<kind>": "<ISO bar open>"},
     "channels":   {"<channel id>": "<safe description>"},
     "alerts": {"<idempotency key>": {"alert": {...message...}, "created": "<ISO>",
                "deliveries": {"<channel id>": {"status": "pending" | "delivered" | "dead",
                                                "attempts": n, "error": str | null,
                                                "code": str | null, "at": "<ISO>"}}}},
     "evaluated_from": {"<rule id>:<kind>": "<ISO bar open>"},
     "refreshed": {"<timeframe>": {"<venue>": "<ISO time of its last good refresh>"}}}

``evaluated_from`` is the first bar each (rule, kind) ever evaluated (late onsets are looked for
only from there on: a new watcher never sends history as "late"); ``refreshed`` says until when
each venue's cached bars are final (`btcflow_nb.alerts.revisions`). Both keys were added within
version 1: a file without them reads as empty ones.

Channel ids are hashes (``webhook-3f2a...``): a webhook URL, an SMTP password or any other
secret is never written here.

Guarantees
----------
- **Atomic**: every change is written to a temporary file in the same directory, flushed,
  ``fsync``-ed and renamed over the state (then the directory is ``fsync``-ed), so a crash at any
  moment leaves either the old or the new state, never a torn one.
- **At least once**: new alerts are written as *pending* for every channel, together with the
  watermark that covers their bar, *before* any delivery starts; each delivery is marked
  *delivered* only after the channel accepted it. A crash between a channel accepting and the
  state recording it re-sends that one message after a restart, with the same idempotency key;
  nothing is ever lost and nothing already recorded as delivered is sent again.
- **One watcher per state**: an exclusive ``flock`` on ``<state>.lock`` (released by the kernel
  when the process dies, even by ``kill -9``).
- **Bad files**: a state that is not valid JSON or not a watch state is *set aside*
  (renamed ``<state>.corrupt-<time>``) with a warning naming both paths; the watcher then starts
  as on a first run (the latest closed bar only, ``since`` ignored), so no history is re-sent. A state written by
  another version is refused with an error naming the versions (the file is left untouched).
- **Dead letters**: a delivery refused *permanently* (`DeliveryError.permanent`: an SMTP 5xx
  reply, a webhook 4xx other than 408/429, a refused login) is marked ``"dead"`` with the
  reason and the code: never retried automatically, listed by ``btcflow-nb watch --status``
  and put back to pending by ``--requeue-dead`` (after fixing the channel).
- **Bounded**: alerts delivered on every channel are pruned beyond the newest
  :data:`KEEP_DELIVERED` (watermarks already stop their bars from being evaluated again).
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import threading
from pathlib import Path

__all__ = ["WatchState", "StateError", "STATE_VERSION", "STATE_FORMAT", "default_state_path"]

STATE_FORMAT = "btcflow-nb watch state"
STATE_VERSION = 1
KEEP_DELIVERED = 2000
log = logging.getLogger("btcflow_nb.watch")


class StateError(ValueError):
    """The state file cannot be used (another version, locked by another watcher)."""


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def default_state_path() -> Path:
    """``$XDG_STATE_HOME/btcflow-nb/watch-state.json`` (``~/.local/state/...``)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "state")
    return Path(base) / "btcflow-nb" / "watch-state.json"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: temp file, flush, fsync, rename, fsync the dir."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class WatchState:
    """The state at ``path`` (created on first save). Thread-safe: channels deliver in threads."""

    def __init__(self, path, *, lock: bool = True, read_only: bool = False):
        self.path = Path(path).expanduser()
        self.read_only = read_only
        self.set_aside: Path | None = None
        self._lock = threading.RLock()
        self._lock_fd = None
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if lock and not read_only:
            self._take_lock()
        self.data = self._read()

    # ---- file ---------------------------------------------------------------------------------
    def _take_lock(self) -> None:
        import fcntl

        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateError(f"state file {self.path} is in use by another running watcher "
                             f"(lock {self.path.name}.lock); use another --state") from None
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)   # releases the flock
            self._lock_fd = None

    @staticmethod
    def _empty() -> dict:
        return {"format": STATE_FORMAT, "version": STATE_VERSION, "updated": _now_iso(),
                "watermarks": {}, "channels": {}, "alerts": {}, "evaluated_from": {},
                "refreshed": {}}

    def _read(self) -> dict:
        if not self.path.exists():
            return self._empty()
        raw = self.path.read_bytes()
        try:
            data = json.loads(raw.decode("utf-8"))
            ok = isinstance(data, dict) and data.get("format") == STATE_FORMAT
        except (UnicodeDecodeError, ValueError):
            data, ok = None, False
        if ok and data.get("version") != STATE_VERSION:
            raise StateError(f"state file {self.path} was written by another version of "
                             f"btcflow-nb watch (state version {data.get('version')!r}; this one "
                             f"reads version {STATE_VERSION}); it was left untouched: move it "
                             f"away or pass another --state")
        if ok and all(isinstance(data.get(k), dict) for k in ("watermarks", "channels", "alerts")):
            data.setdefault("evaluated_from", {})
            data.setdefault("refreshed", {})
            return data
        if self.read_only:
            log.warning("state file %s is corrupt (not a btcflow-nb watch state); read as "
                        "empty (left untouched: read-only)", self.path)
            return self._empty()
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        os.replace(self.path, aside)
        self.set_aside = aside
        log.warning("state file %s is corrupt (not a btcflow-nb watch state); set aside as %s. "
                    "Starting as on a first run: only the latest closed bar is evaluated, no "
                    "history is re-sent", self.path, aside)
        return self._empty()

    def save(self) -> None:
        if self.read_only:
            raise StateError(f"state {self.path} was opened read-only (a dry run)")
        with self._lock:
            self.data["updated"] = _now_iso()
            atomic_write_text(self.path, json.dumps(self.data, indent=1, sort_keys=True))

    # ---- watermarks ------------------------------------------------------------------------
    def watermark(self, rule_id: str, kind: str):
        import pandas as pd

        value = self.data["watermarks"].get(f"{rule_id}:{kind}")
        return None if value is None else pd.Timestamp(value)

    # ---- alerts ----------------------------------------------------------------------------
    def has_alert(self, key: str) -> bool:
        return key in self.data["alerts"]

    def evaluated_from(self, rule_id: str, kind: str):
        """The first bar (rule, kind) evaluated (a state without it: its watermark)."""
        import pandas as pd

        name = f"{rule_id}:{kind}"
        value = self.data["evaluated_from"].get(name, self.data["watermarks"].get(name))
        return None if value is None else pd.Timestamp(value)

    def refreshed(self, timeframe: str) -> dict:
        """{venue: ISO time} of each venue's last good refresh of ``timeframe`` bars."""
        return dict(self.data["refreshed"].get(timeframe, {}))

    def alerts_of(self, rule_id: str, kind: str) -> list:
        """The recorded alerts (and notices) of one rule and kind."""
        with self._lock:
            return [e["alert"] for e in self.data["alerts"].values()
                    if e["alert"].get("rule_id") == rule_id and e["alert"].get("kind") == kind]

    def record(self, alerts: list, channels: dict, watermarks: dict, *,
               evaluated_from: dict | None = None, refreshed: dict | None = None) -> list:
        """Add ``alerts`` (pending on every channel of ``channels``: id -> description) and move
        the ``watermarks`` ({"<rule>:<kind>": bar}) in one atomic save; ``evaluated_from``
        ({"<rule>:<kind>": bar}) is kept only where none is recorded yet; ``refreshed``
        ({timeframe: {venue: ISO}}) is merged. Returns the alerts that were new (a key already
        recorded is not added twice)."""
        new = []
        with self._lock:
            for name, bar in (evaluated_from or {}).items():
                if bar is not None:
                    self.data["evaluated_from"].setdefault(name, bar.isoformat())
            for tf, venues in (refreshed or {}).items():
                self.data["refreshed"].setdefault(tf, {}).update(venues)
            self.data["channels"].update(channels)
            for alert in alerts:
                key = alert["idempotency_key"]
                if key in self.data["alerts"]:
                    continue
                self.data["alerts"][key] = {
                    "alert": alert, "created": _now_iso(),
                    "deliveries": {cid: {"status": "pending", "attempts": 0, "error": None,
                                         "code": None, "at": None} for cid in channels}}
                new.append(alert)
            for name, bar in watermarks.items():
                if bar is not None:
                    self.data["watermarks"][name] = bar.isoformat()
            self._prune()
            self.save()
        return new

    def pending(self, channel_id: str) -> list:
        """Alerts still to deliver on ``channel_id``, oldest bar first."""
        with self._lock:
            out = [e["alert"] for e in self.data["alerts"].values()
                   if e["deliveries"].get(channel_id, {}).get("status") == "pending"]
        # a retraction goes after the alert it retracts
        return sorted(out, key=lambda a: (a["bar_open"], a["kind"], bool(a.get("retraction"))))

    def drop_channels_not_in(self, channel_ids) -> list:
        """Pending deliveries to channels no longer configured are dropped (returns their
        descriptions)."""
        dropped = []
        with self._lock:
            for entry in self.data["alerts"].values():
                for cid in list(entry["deliveries"]):
                    if cid not in channel_ids and entry["deliveries"][cid]["status"] == "pending":
                        dropped.append(self.data["channels"].get(cid, cid))
                        del entry["deliveries"][cid]
            if dropped:
                self.save()
        return sorted(set(dropped))

    def mark(self, key: str, channel_id: str, *, delivered: bool, error: str | None = None,
             attempts: int = 1, dead: bool = False, code: str | None = None) -> None:
        """Record a delivery: ``delivered``, else failed (still pending, or ``dead``: refused
        permanently with ``code``, never retried automatically)."""
        with self._lock:
            d = self.data["alerts"][key]["deliveries"][channel_id]
            d["attempts"] += attempts
            d["at"] = _now_iso()
            d["error"] = None if delivered else error
            d["code"] = None if delivered else code
            if delivered:
                d["status"] = "delivered"
            elif dead:
                d["status"] = "dead"
            self.save()

    def dead_letters(self) -> list:
        """``[(channel description, alert, delivery)]`` of every dead delivery, oldest first."""
        with self._lock:
            out = [(self.data["channels"].get(cid, cid), e["alert"], dict(d))
                   for e in self.data["alerts"].values()
                   for cid, d in e["deliveries"].items() if d.get("status") == "dead"]
        return sorted(out, key=lambda x: (x[1]["bar_open"], x[1]["kind"], x[0]))

    def requeue_dead(self) -> int:
        """Put every dead delivery back to pending (after the channel was fixed); returns how
        many."""
        n = 0
        with self._lock:
            for e in self.data["alerts"].values():
                for d in e["deliveries"].values():
                    if d.get("status") == "dead":
                        d["status"], n = "pending", n + 1
            if n:
                self.save()
        return n

    def delivery(self, key: str, channel_id: str) -> dict:
        with self._lock:
            return dict(self.data["alerts"][key]["deliveries"][channel_id])

    def _prune(self) -> None:
        done = [(e["created"], k) for k, e in self.data["alerts"].items()
                if all(d["status"] != "pending" for d in e["deliveries"].values())]
        if len(done) > KEEP_DELIVERED:
            for _, key in sorted(done)[: len(done) - KEEP_DELIVERED]:
                del self.data["alerts"][key]
