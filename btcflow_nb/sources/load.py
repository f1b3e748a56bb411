"""`load`: the one loader notebooks and apps call -- the cache, refreshed when the network answers.

>>> md = btcflow_nb.load()                 # doctest: +SKIP
>>> print(btcflow_nb.load_summary(md))     # doctest: +SKIP
live: fetched 2026-05-02 09:14 UTC (19 venue series, dated futures at 4 venue(s))

Sources
-------
``"auto"`` (default)
    1. one TCP connect (``timeout`` seconds, default 2) to the first venue's host -- or to the
       host of ``$BTCFLOW_NB_API_BASE`` / the configured ``api_base``, or to a proxy set in the
       configuration -- decides whether the network is reachable; it never hangs longer, even
       when name resolution does;
    2. network and a cache: the cache is refreshed incrementally (`btcflow_nb.fetch` with
       ``since=None``: one request per series when it is up to date; a tqdm bar per venue);
    3. network and an empty cache: a first fetch of the default history (each venue's first
       bar or 2019-01-01, whichever is later, for daily bars);
    4. no network and a cache: the cache (``"no network: using the cache from <time>"``);
    5. neither: the bundled synthetic demo (`load_demo`), labelled as such.
    A refresh in which every venue fails falls back to the cache (or the demo) and says why.
``"cache"``
    The cache only, no network; raises ValueError when it holds nothing.
``"live"``
    Fetch (incremental on a cache, the default history on an empty one); errors are raised
    (`btcflow_nb.FetchError`), never hidden behind a fallback.
``"demo"``
    The synthetic demo data set.

``$BTCFLOW_NB_SOURCE`` (one of the above) replaces the ``source`` argument's default, so a
notebook calling ``bf.load()`` runs on the demo, the cache or live data without being edited.

What was loaded is recorded in ``md.meta["load"]``: ``source`` (what was used: ``live``,
``cache``, ``demo``), ``requested`` (``auto``, ...), ``chosen_by`` (``"argument"``,
``"$BTCFLOW_NB_SOURCE"`` or ``"default"``), ``network`` (True / False / None when not checked),
``fetched_at`` (the data's freshness, ISO UTC), ``failures`` (venue -> reason), ``fallback`` (why
another source than the one hoped for was used, or None), ``api_base`` (True when every venue
was sent to one server, ``$BTCFLOW_NB_API_BASE``: a gateway or the fake exchange) and
``summary``: one line for a
notebook to print (`load_summary`). The line never holds a file path.
"""
from __future__ import annotations

import os
import socket
import threading
from typing import Optional
from urllib.parse import urlsplit

from .._checks import check_choice

__all__ = ["load", "load_summary", "network_reachable", "SOURCE_CHOICES", "ENV_SOURCE"]

#: The values of ``source`` and ``$BTCFLOW_NB_SOURCE``.
SOURCE_CHOICES = ("auto", "cache", "live", "demo")
ENV_SOURCE = "BTCFLOW_NB_SOURCE"
#: Where the connectivity check connects when no api_base or proxy is configured.
DEFAULT_PROBE = ("api.kraken.com", 443)


def network_reachable(host: Optional[str] = None, port: Optional[int] = None,
                      timeout: float = 2.0) -> bool:
    """True when one TCP connection to ``host:port`` opens within ``timeout`` seconds.

    Without a host: the host of ``$BTCFLOW_NB_API_BASE`` (or the configuration's ``api_base``),
    else a proxy from the configuration's exchange options, else `DEFAULT_PROBE`. The connect
    (name resolution included) runs in a daemon thread that is abandoned after ``timeout``, so
    the call returns within about ``timeout`` seconds whatever the network does.
    """
    if host is None:
        host, port = _probe_target()
    box: dict = {}

    def attempt():
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
            box["ok"] = True
        except OSError:
            box["ok"] = False

    t = threading.Thread(target=attempt, name="btcflow-probe", daemon=True)
    t.start()
    t.join(timeout)
    return bool(box.get("ok", False))


def _probe_target() -> tuple[str, int]:
    from .config import load_config

    cfg = load_config()
    urls = [cfg.api_base] if cfg.api_base else []
    for options in cfg.exchanges.values():
        urls += [options[k] for k in ("httpsProxy", "httpProxy", "socksProxy", "wsProxy")
                 if isinstance(options.get(k), str)]
    for url in urls:
        parts = urlsplit(url)
        if parts.hostname:
            default = 443 if parts.scheme in ("https", "wss") else 80
            return parts.hostname, parts.port or default
    return DEFAULT_PROBE


def _choose(source) -> tuple[str, str]:
    """(source, chosen_by): the argument when given, else $BTCFLOW_NB_SOURCE, else auto."""
    if source is not None:
        check_choice("source", source, SOURCE_CHOICES)
        return source, "argument"
    env = os.environ.get(ENV_SOURCE)
    if env not in (None, ""):
        value = env.strip().lower()
        if value not in SOURCE_CHOICES:
            raise ValueError(f"${ENV_SOURCE}={env!r} is not a data source; valid choices: "
                             f"{list(SOURCE_CHOICES)}")
        return value, f"${ENV_SOURCE}"
    return "auto", "default"


def _cache_has_data(venues, timeframe, cache_dir) -> bool:
    from .assemble import _with_fx
    from .cache import cache_root, series_path
    from .plan import fetch_timeframe
    from .venues import resolve_venues

    tf = fetch_timeframe(timeframe)
    root = cache_root(cache_dir)
    return any(series_path(root, "ohlcv", v, tf).exists()
               for v in _with_fx(resolve_venues(venues)))


def load(source: Optional[str] = None, *, venues=None, timeframe: str = "1d", since=None,
         until=None, cache_dir=None, exchanges=None, progress: bool = True,
         timeout: float = 2.0, dated=None):
    """The data notebooks and apps show: the cache, refreshed when the network answers; a first
    fetch on an empty cache; the synthetic demo only when there is neither (see the module
    docstring for each ``source``).

    source: ``"auto"`` (default), ``"cache"``, ``"live"`` or ``"demo"``; None reads
        ``$BTCFLOW_NB_SOURCE`` (unset: ``"auto"``). A bad value raises ValueError naming it
        and the valid choices.
    venues, timeframe, since, until, cache_dir, exchanges, progress, dated: as for
        `btcflow_nb.fetch` (``dated``: the dated futures in ``md.futures``, True = every venue)
        (``since=None``: the whole cache, and the default history on an empty one).
    timeout: seconds the connectivity check may take (``"auto"`` only).

    Returns a `MarketData` whose ``meta["load"]`` says what was loaded and why
    (`load_summary` prints it in one line).
    """
    from .assemble import from_cache
    from .demo import load_demo
    from .live import FetchError, fetch

    from ..timeframes import to_ms
    from .config import check_cache_dir, check_exchanges, check_flag, check_seconds
    from .dated import dated_selection
    from .plan import fetch_timeframe
    from .venues import resolve_venues

    chosen, chosen_by = _choose(source)
    # every argument checked before any source is tried: a typo is an error, not a fallback
    timeout = check_seconds("timeout", timeout, 600.0)
    check_flag("progress", progress), check_exchanges(exchanges), check_cache_dir(cache_dir)
    resolve_venues(venues), fetch_timeframe(timeframe), to_ms(since, "since")
    to_ms(until, "until")
    dated_selection(dated, venues)     # a bad selection fails here, whatever the source
    info = {"requested": chosen, "chosen_by": chosen_by, "network": None, "failures": {},
            "fallback": None}
    fetch_kw = dict(venues=venues, since=since, until=until, timeframe=timeframe,
                    cache_dir=cache_dir, exchanges=exchanges, progress=progress, dated=dated)
    cache_kw = dict(venues=venues, timeframe=timeframe, since=since, until=until,
                    cache_dir=cache_dir, dated=dated)

    if chosen == "demo":
        return _finish(load_demo(), info)
    if chosen == "cache":
        return _finish(from_cache(**cache_kw), info)
    if chosen == "live":
        return _finish(fetch(**fetch_kw), info)

    # auto
    has_cache = cache_dir is not False and _cache_has_data(venues, timeframe, cache_dir)
    # ready exchange objects (a test server, a proxy) speak for themselves: no probe
    online = bool(exchanges) or network_reachable(timeout=timeout)
    info["network"] = online
    if online:
        try:
            return _finish(fetch(**fetch_kw), info)
        except FetchError as exc:
            info["failures"] = dict(exc.errors)
            reason = f"every venue failed ({len(exc.errors)})"
    else:
        reason = "no network"
    if has_cache:
        md = from_cache(**cache_kw)
        info["fallback"] = f"{reason}: using the cache from {_when(md.meta.get('fetched_at'))}"
        return _finish(md, info)
    info["fallback"] = f"{reason} and an empty cache"
    return _finish(load_demo(), info)


def _when(stamp) -> str:
    """An ISO time as "2026-05-02 09:14 UTC" (or "an unknown time")."""
    if not stamp:
        return "an unknown time"
    import pandas as pd

    ts = pd.Timestamp(stamp)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%d %H:%M UTC")


def _finish(md, info: dict):
    meta = md.meta   # every call builds a new MarketData: its meta is ours to extend
    failures = dict(meta.get("errors") or {})
    failures.update(info.get("failures") or {})
    info = dict(info, source=meta.get("source"), fetched_at=meta.get("fetched_at"),
                failures=failures, api_base=_api_base_set())
    info["summary"] = _summary_line(meta, info)
    meta["load"] = info
    return md


def _api_base_set() -> bool:
    from .config import load_config

    return bool(load_config().api_base)


def _summary_line(meta: dict, info: dict) -> str:
    source = info["source"]
    if source == "demo":
        line = "demo: SYNTHETIC DEMO DATA, not market data"
    else:
        n = sum(len(meta.get("venues", {}).get(f, [])) for f in ("spot", "perp"))
        dated = meta.get("venues", {}).get("futures") or []
        line = f"{source}: fetched {_when(info.get('fetched_at'))} ({n} venue series" + (
            f", dated futures at {len(dated)} venue(s))" if dated else ")")
        if source == "live" and info.get("api_base"):
            line += " from $BTCFLOW_NB_API_BASE (one server for every venue, e.g. a fake exchange)"
    if info.get("fallback"):
        line += f" -- {info['fallback']}"
    if info["failures"]:
        names = sorted(info["failures"])
        line += f" -- failed: {', '.join(names[:5])}" + (" ..." if len(names) > 5 else "")
    if info.get("chosen_by") == f"${ENV_SOURCE}":
        line += f" (${ENV_SOURCE}={info['requested']})"
    return line


def load_summary(md) -> str:
    """One line saying what a MarketData is: its source, freshness, failed venues and why a
    fallback happened (``md.meta["load"]["summary"]`` for a `load` result; built from ``meta``
    for any other MarketData)."""
    load_info = md.meta.get("load")
    if load_info and load_info.get("summary"):
        return load_info["summary"]
    info = {"source": md.meta.get("source"), "fetched_at": md.meta.get("fetched_at"),
            "failures": dict(md.meta.get("errors") or {}), "fallback": None}
    return _summary_line(md.meta, info)
