"""Live mode of the flow dashboard: poll the venues, move the open bar, refresh at bar close.

>>> dash = FlowDashboard(md, live=True)          # doctest: +SKIP  (polls every 15 s)
>>> dash.start_live(every="30s"); dash.stop_live()   # doctest: +SKIP

How a live dashboard works
--------------------------
* A kernel-side asyncio task (`LiveMode.start`) runs `LiveMode.tick` every ``every`` seconds
  (default 15 s), measured from one tick's start to the next; a tick never overlaps the
  previous one: the loop awaits each tick, and a tick asked for while one runs (the toggle, a
  manual ``await dash.live.tick()``) is skipped and counted (`LiveMode.skipped`).
* A tick polls the venues of the data (`btcflow_nb.sources.ticks.TickPoller`: last prices,
  current and next funding, current OI) and lays the answers over the last fetched data
  (`overlay`): each venue's close of the **open bar** (the bar containing now, at the data's
  own resolution) becomes its last price in USD, a current-OI sample is added at now, and each
  perpetual's current rate becomes a provisional funding event at its next settlement.  The
  dashboard recomputes; the open bar stays marked provisional (``open_bar``: the faded markers
  and the grey ring of `btcflow_nb.dashboard._signal_layer`), because the overlay's
  ``meta["fetched_at"]`` is the tick's time.  The info panel says "as of HH:MM:SS UTC (n s
  ago)" and names every venue that failed in this tick with its reason; the venue is asked
  again on the next tick, and the loop never stops on an error (it shows it and goes on).
* When a bar has closed since the previous tick (or, at the first tick, when the data ends
  before the open bar: a cache from yesterday), the cache is refreshed incrementally with
  `btcflow_nb.fetch` (``until`` = now: one request per series, run in a worker thread so the
  kernel stays responsive) and the dashboard recomputes from the refreshed data.  A refresh
  that fails is said in the panel and tried again on the next tick.
* Memory is bounded: each tick's overlay replaces the previous one (nothing accumulates but
  the data's own new bars) and the tick log keeps the last `LOG_SIZE` entries.

Live mode needs fetched or cached data (``md.meta["source"]`` "live" or "cache"): laying live
prices over the synthetic demo would mix two markets.
"""
from __future__ import annotations

import asyncio
import collections
import html
import re
import time

import ipywidgets as W
import numpy as np
import pandas as pd

from ..sources.overlay import LIVE_SOURCES, base_timeframe, overlay, venue_names
from ..timeframes import bar_ms

#: tick log entries kept (`LiveMode.log`)
LOG_SIZE = 200
#: tracebacks the dashboard's ``errors`` Output keeps while live (older ones are dropped)
MAX_TRACEBACKS = 20
_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$")


def parse_every(every) -> float:
    """A polling interval in seconds: a number (seconds) or "500ms", "15s", "1m", "1h".
    Raises ValueError naming the value and the accepted forms (at least 0.01 s)."""
    if isinstance(every, (int, float)) and not isinstance(every, bool):
        seconds = float(every)
    else:
        match = _EVERY.match(str(every))
        if not match:
            raise ValueError(f"every={every!r} is not an interval; use seconds (15) or a "
                             "duration such as '500ms', '15s', '1m', '1h'")
        unit = {"ms": 0.001, "s": 1, None: 1, "m": 60, "min": 60, "h": 3600}[match.group(2)]
        seconds = float(match.group(1)) * unit
    if not np.isfinite(seconds) or seconds < 0.01:
        raise ValueError(f"every={every!r} must be at least 0.01 s")
    return seconds


def as_of_text(as_of_ms: int, now_ms: int) -> str:
    """'as of 12:00:15 UTC (3 s ago)'."""
    ts = pd.Timestamp(int(as_of_ms), unit="ms", tz="UTC")
    ago = max(0, int(round((int(now_ms) - int(as_of_ms)) / 1000)))
    return f"as of {ts:%H:%M:%S} UTC ({ago} s ago)"


def live_rows(meta: dict) -> list[list[str]]:
    """Info-panel rows of a live dashboard (none otherwise): the tick's time and age, and the
    venues that failed in it with their reasons."""
    live = meta.get("live")
    if not live:
        return []
    rows = [["live", as_of_text(live["as_of"], live.get("now", live["as_of"]))]]
    if live.get("errors"):
        rows.append(["live failed", "; ".join(f"{k}: {v[:80]}" for k, v in live["errors"].items())])
    if live.get("refresh_error"):
        rows.append(["cache refresh failed", live["refresh_error"][:120]])
    return rows


class LiveMode:
    """The live machinery of one `FlowDashboard` (``dash.live``): see the module docstring.

    every: polling interval (`parse_every`).  venues: registry names to poll (default: the
    data's venues, `venue_names`).  clock: epoch ms now (default: the wall clock; tests pass
    the fake exchange's).  poller: a ready `TickPoller`.  fetch: the cache refresh at bar close,
    ``fetch(venues, timeframe, until) -> MarketData`` (default: `btcflow_nb.fetch` into the
    data's cache directory).

    Attributes: ``toggle`` (the visible on/off switch), ``status`` (the "as of" line and the
    failed venues), ``log`` (the last `LOG_SIZE` ticks: start and end ms, requests, failed
    venues, whether the cache was refreshed), ``ticks``, ``skipped``, ``refreshes``, ``last``
    (the last `Ticks`).
    """

    def __init__(self, dash, *, every="15s", venues=None, clock=None, poller=None, fetch=None,
                 toggle=None, status=None):
        from ..sources.ticks import TickPoller

        source = dash.md.meta.get("source")
        if source not in LIVE_SOURCES:
            raise ValueError(f"live mode needs fetched or cached data (meta source one of "
                             f"{list(LIVE_SOURCES)}); this data's source is {source!r}"
                             + (" (the synthetic demo)" if dash.md.meta.get("synthetic") else ""))
        self.dash = dash
        self.every_s = parse_every(every)
        self.timeframe = base_timeframe(dash.md)
        self.base = dash.md
        self.venues = list(venues) if venues is not None else venue_names(dash.md)
        if not self.venues:
            raise ValueError("live mode found no registry venue in this data to poll")
        self.clock = clock or (lambda: int(time.time() * 1000))
        fx = dash.md.fx
        fallback = {c: float(fx[c].dropna().iloc[-1]) for c in getattr(fx, "columns", [])
                    if fx[c].notna().any()}
        self.poller = poller or TickPoller(self.venues, fx_fallback=fallback, clock=self.clock)
        self._fetch = fetch or self._default_fetch
        self.toggle = toggle or live_widgets()[0]
        self.status = status or live_widgets()[1]
        if toggle is None:
            self.toggle.observe(self._on_toggle, "value")
        self.log = collections.deque(maxlen=LOG_SIZE)
        self.ticks = self.skipped = self.refreshes = 0
        self.last = None
        self._bar = None
        self._refresh_due = False
        self._refresh_error = ""
        self._busy = False
        self._task = None
        self._last_error = ""

    # ------------------------------------------------------------------ control
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, every=None) -> None:
        """Start polling on the kernel's event loop (a no-op when already running)."""
        if every is not None:
            self.every_s = parse_every(every)
        if self.running:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("live mode needs a running asyncio event loop (a Jupyter or "
                               "Voila kernel has one); in a script, call it from a coroutine "
                               "(asyncio.run) or drive it with `await dash.live.tick()`") from None
        self._task = loop.create_task(self._run())
        if not self.toggle.value:
            self.toggle.value = True

    def stop(self) -> None:
        """Stop polling (the tick under way is cancelled; the charts keep the last state)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        if self.toggle.value:
            self.toggle.value = False
        self._show("live: off")

    async def close(self) -> None:
        """Stop and close the exchanges the poller built."""
        self.stop()
        await self.poller.close()

    def _on_toggle(self, change) -> None:
        if change["new"] and not self.running:
            self.dash._guard.run(self.start)
        elif not change["new"] and self.running:
            self.stop()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self.tick()
            await asyncio.sleep(max(0.0, self.every_s - (loop.time() - started)))

    # ------------------------------------------------------------------ one tick
    async def tick(self) -> bool:
        """One poll, laid over the open bar; at a bar close first the cache refresh.  False
        (and counted in ``skipped``) when a tick is already running.  Never raises: what
        fails is shown in the status line (and the dashboard's ``errors`` Output)."""
        if self._busy:
            self.skipped += 1
            return False
        self._busy = True
        entry = {"start": int(self.clock()), "refreshed": False}
        try:
            ticks = await self.poller.poll()
            now = int(self.clock())
            step = bar_ms(self.timeframe)
            bar = now // step
            if self._bar is None:     # first tick: data older than the open bar is refreshed
                self._refresh_due = _last_bar(self.base, step) < bar
            elif bar > self._bar:
                self._refresh_due = True
            self._bar = bar
            if self._refresh_due:
                entry["refreshed"] = await self._refresh(now)
            self.last = ticks
            md = overlay(self.base, ticks, now, self.timeframe)
            md.meta["live"]["refresh_error"] = self._refresh_error
            self.dash._live_swap(md, entry["refreshed"])
            entry.update(requests=ticks.requests, failed=sorted(ticks.errors))
            self._show_ticks(ticks, now)
            self._last_error = ""
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the loop must go on; the error is shown
            entry["error"] = f"{type(exc).__name__}: {exc}"
            self._show(f"live tick failed: {entry['error']}", error=True)
            if entry["error"] != self._last_error:    # a repeated error is shown once
                self._last_error = entry["error"]
                self.dash._guard.run(_reraise, exc)
        finally:
            errors = self.dash.errors        # tracebacks kept: the latest `MAX_TRACEBACKS`
            if len(errors.outputs) > MAX_TRACEBACKS:
                errors.outputs = errors.outputs[-MAX_TRACEBACKS:]
            entry["end"] = int(self.clock())
            self.log.append(entry)
            self.ticks += 1
            self._busy = False
        return True

    async def _refresh(self, now: int) -> bool:
        """The bar-close cache refresh (in a worker thread); True when it succeeded."""
        try:
            md = await asyncio.to_thread(self._fetch, self.venues, self.timeframe, now)
        except Exception as exc:  # noqa: BLE001 - shown, retried on the next tick
            self._refresh_error = f"{type(exc).__name__}: {exc}"
            return False
        self.base, self._refresh_due, self._refresh_error = md, False, ""
        self.refreshes += 1
        return True

    def _default_fetch(self, venues, timeframe, until):
        from ..sources.live import fetch

        return fetch(venues, timeframe=timeframe, until=until,
                     cache_dir=self.base.meta.get("cache_dir"), progress=False)

    # ------------------------------------------------------------------ status line
    def _show(self, text: str, error: bool = False) -> None:
        color = "#b00020" if error else "#555"
        self.status.value = (f"<span class='btcflow-live-status' style='color:{color};"
                             f"font-size:12px'>{html.escape(text)}</span>")

    def _show_ticks(self, ticks, now: int) -> None:
        text = as_of_text(ticks.as_of, now)
        if ticks.errors:
            text += " · failed: " + "; ".join(f"{k} ({v[:60]})" for k, v in ticks.errors.items())
        if self._refresh_error:
            text += f" · cache refresh failed, retried next tick: {self._refresh_error[:80]}"
        self._show(text, error=bool(ticks.errors or self._refresh_error))


def _reraise(exc):
    raise exc


def _last_bar(md, step: int) -> int:
    """The number (open time // step) of the data's last price bar (-1 without prices)."""
    index = md.spot.index.union(md.perp.index)
    if not len(index):
        return -1
    return int(pd.Timestamp(index[-1]).value // 1_000_000) // step


def live_widgets() -> tuple:
    """The toggle (DOM class ``btcflow-live-toggle``) and the status line
    (``btcflow-live-status``) of live mode."""
    toggle = W.ToggleButton(value=False, description="live", icon="circle",
                            tooltip="poll the venues and update the open bar",
                            layout=W.Layout(width="80px"))
    toggle.add_class("btcflow-live-toggle")
    status = W.HTML(value="")
    status.add_class("btcflow-live-status")
    return toggle, status


class LiveMixin:
    """`FlowDashboard`'s live hooks: ``start_live``, ``stop_live``, ``live`` (the `LiveMode`,
    None until live mode is asked for) and ``live_widgets`` (the toggle and the status line,
    shown in the header; the toggle creates the `LiveMode` on first use).  ``live=True`` (or a
    dict of `LiveMode` options) starts live mode at once; ``{"start": False, ...}`` only sets
    the options the toggle will use."""

    def __init__(self, md, *, live=False, **kwargs):
        super().__init__(md, **kwargs)
        self.live = None
        self._live_options = dict(live) if isinstance(live, dict) else {}
        live = live and self._live_options.pop("start", True)
        self.live_toggle, self.live_status = live_widgets()
        self.live_widgets = [self.live_toggle, self.live_status]
        self.live_toggle.observe(self._on_live_toggle, "value")
        if live:
            self._guard.run(self.start_live)

    def _set_info(self, rows, last_bar) -> None:
        super()._set_info(list(rows) + live_rows(self.meta), last_bar)

    def _ensure_live(self) -> LiveMode:
        if self.live is None:
            self.live = LiveMode(self, toggle=self.live_toggle, status=self.live_status,
                                 **self._live_options)
        return self.live

    def _on_live_toggle(self, change) -> None:
        if change["new"]:
            ok = self._guard.run(lambda: self._ensure_live().start())
            if not ok:
                self.live_toggle.value = False
        elif self.live is not None and self.live.running:
            self.live.stop()

    def start_live(self, every=None) -> LiveMode:
        """Start live mode (polling every ``every``, default 15 s); returns ``self.live``."""
        live = self._ensure_live()
        live.start(every)
        return live

    def stop_live(self) -> None:
        """Stop live mode (the charts keep the last state)."""
        if self.live is not None:
            self.live.stop()

    def _live_swap(self, md, new_data: bool) -> None:
        """Show `md` (an overlay): recompute in place, keeping zoom and date range."""
        self.md, self.meta = md, dict(md.meta)
        self._cache_key = None
        if not new_data and self._bar_count_same(md):
            self._refresh_now()
            return
        rng = self.controls["date_range"]
        lo, hi = rng.index
        at_end = hi == len(rng.options) - 1
        zoom = (self.x_scale.min, self.x_scale.max)
        self._late_key = None
        self._load_timeframe()
        self._suspended += 1
        try:
            if not rng.disabled and len(rng.options) > 1 and (lo, hi) != tuple(rng.index):
                n = len(rng.options) - 1
                rng.index = (min(lo, n), n if at_end else min(hi, n))
        finally:
            self._suspended -= 1
        self.x_scale.min, self.x_scale.max = zoom
        self._update_range_label()
        self._refresh_now()

    def _bar_count_same(self, md) -> bool:
        tf = self.controls["timeframe"].value
        bars = md.resample(tf)
        return len(bars.spot.index.union(bars.perp.index)) == len(self._full_index)
