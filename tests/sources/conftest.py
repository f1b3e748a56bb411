"""Fixtures shared by the tests of `btcflow_nb.sources`.

`fake_exchange_fixtures` makes the (``fake``, ``env``) fixture pair of a test module that talks
to the offline fake exchange; modules differ only in history length and client timeouts /
retries, so they call it instead of each writing the same two fixtures::

    fake, env = fake_exchange_fixtures(days=8, timeout_ms=500, retry_attempts=4)
"""
from __future__ import annotations

import pytest

from btcflow_nb.testing.fake_exchange import FakeExchange


def fake_exchange_fixtures(days: int, **env_options):
    """(``fake``, ``env``): a module-scoped `FakeExchange` serving `days` of history, and a
    per-test environment pointing `btcflow_nb.fetch` at it with a fresh cache under
    ``tmp_path`` (``env`` is the dict of variables set; `env_options` go to
    `FakeExchange.env`: ``timeout_ms``, ``retry_attempts``, ``retry_base_delay``, ...).
    Every test starts and ends with no fault injected, an empty request log and the fake's
    clock at the truth's last hour."""

    @pytest.fixture(scope="module")
    def fake():
        with FakeExchange(days=days) as server:
            yield server

    @pytest.fixture()
    def env(fake, tmp_path, monkeypatch):
        fake.clear_faults()
        fake.clear_log()
        fake.set_now(fake.truth.end - 1)
        values = fake.env(tmp_path, **env_options)
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        yield values
        fake.clear_faults()
        fake.set_now(fake.truth.end - 1)

    return fake, env


def fetch_from(tmp_path, fake, **kw):
    """`btcflow_nb.fetch(**kw)` (no progress bar) with the environment of `fake.env(tmp_path)`
    set for the call only: the fake's API base, a config file and a cache under `tmp_path`."""
    import btcflow_nb

    with pytest.MonkeyPatch.context() as mp:
        for key, value in fake.env(tmp_path).items():
            mp.setenv(key, value)
        return btcflow_nb.fetch(progress=False, **kw)


def fetched_since_2011(tmp_path_factory, name: str, **kw):
    """Yields (fake, md): a fake whose truth runs from 2011-09-01 (before any default venue's
    listing) to now, and `fetch_from(**kw)` against it in a fresh folder; ``md.meta``
    gains ``"_cache_root"``, the cache folder, for reading cached series.  For module fixtures
    of the deep-history tests (`yield from fetched_since_2011(...)`)."""
    import time

    import pandas as pd

    from btcflow_nb.testing.fake_exchange import HOUR_MS, Truth

    now = int(time.time() * 1000)
    truth = Truth(int(pd.Timestamp("2011-09-01", tz="UTC").value // 10**6),
                  (now // HOUR_MS) * HOUR_MS + HOUR_MS)
    with FakeExchange(truth) as fake:
        tmp = tmp_path_factory.mktemp(name)
        md = fetch_from(tmp, fake, **kw)
        md.meta["_cache_root"] = tmp / "cache" / "v1"
        yield fake, md


def cached_series(venue_name: str, series: str, tf: str = "1d", root=None):
    """The rows of a venue's cached `series` ("ohlcv", "funding", "open_interest") as stored
    (the venue's own quote, the cache's columns), from `root` or the cache the environment
    names; `tf` is the OHLCV timeframe."""
    from btcflow_nb.sources.cache import cache_root, read_series, series_path
    from btcflow_nb.sources.venues import DEFAULT_VENUES

    venue = {v.name: v for v in DEFAULT_VENUES}[venue_name]
    timeframe = tf if series == "ohlcv" else None
    path = series_path(cache_root() if root is None else root, series, venue, timeframe)
    return read_series(path, series, venue, timeframe)[0]


def requests_by_endpoint(fake) -> dict:
    """{(ccxt exchange id, endpoint kind): requests} of the fake's request log."""
    counts: dict = {}
    for r in fake.log():
        counts[(r.exchange_id, r.endpoint)] = counts.get((r.exchange_id, r.endpoint), 0) + 1
    return counts


def pages_filled(md, venue, n_bars: int) -> dict:
    """{series: pages its served rows fill at the venue's page size}: OHLCV from `n_bars`,
    funding from ``md.funding``, OI history (from its own endpoint) from ``meta["depth"]``."""
    import math

    pages = {"ohlcv": math.ceil(n_bars / venue.ohlcv_page_limit)}
    if venue.funding_history:
        n = int((md.funding["venue"] == venue.key).sum())
        pages["funding"] = math.ceil(n / venue.funding_page_limit)
    if venue.oi_history and venue.oi_history_source == "ccxt":
        n = int(md.meta["depth"][venue.name]["open_interest"]["rows"])
        pages["oi_history"] = math.ceil(n / venue.oi_page_limit)
    return pages
