"""Paging economy, counted at the fake exchange's request log: a venue whose endpoint has no
paging is not walked page by page, and a page shorter than the venue's page size ends a series
without a confirming request."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import btcflow_nb
from btcflow_nb.testing.fake_exchange import DAY_MS, HOUR_MS, FakeExchange, Truth


@pytest.fixture(scope="module")
def env_fetch(tmp_path_factory):
    truth = Truth.recent(40)
    now = min(truth.end - 1, int(time.time() * 1000))
    with FakeExchange(truth, now_ms=now) as fake, pytest.MonkeyPatch.context() as monkeypatch:
        for k, v in fake.env(tmp_path_factory.mktemp("paging")).items():
            monkeypatch.setenv(k, v)
        yield fake, truth


def test_a_venue_without_paging_is_not_walked_page_by_page(env_fetch):
    fake, truth = env_fetch
    fake.clear_log()
    md = btcflow_nb.fetch(["perp:krakenfutures"], since=truth.start, progress=False,
                          cache_dir=False)
    funding_requests = fake.log("krakenfutures", "funding")
    # 40 days of hourly events would be ~10 pages of 100; the first reply holds them all and,
    # shorter than the page size, ends the series (29 requests before the venue was described
    # this way, 2 while an empty page had to confirm the end)
    assert len(funding_requests) == 1
    t, rate, _ = fake.truth.funding("krakenfutures")
    keep = t <= fake.now_ms
    rows = md.funding[md.funding["venue"] == "krakenfutures"]
    assert len(rows) == int(keep.sum()) > 24 * 30
    np.testing.assert_array_equal(rows["rate"].to_numpy(), rate[keep])


def test_a_refresh_ends_a_series_after_one_short_page(env_fetch, tmp_path):
    fake, truth = env_fetch
    venues = ["perp:binance"]
    fake.set_now(truth.end - 1 - DAY_MS - 2 * HOUR_MS)
    btcflow_nb.fetch(venues, since=truth.start, progress=False, cache_dir=tmp_path)
    fake.set_now(truth.end - 1)
    fake.clear_log()
    md = btcflow_nb.fetch(venues, since=truth.start, progress=False, cache_dir=tmp_path)
    # the new events come in one short page, which ends the series: no confirming request
    assert len(fake.log("binanceusdm", "funding")) == 1
    t, rate, _ = fake.truth.funding("binance")
    rows = md.funding[md.funding["venue"] == "binance"]
    assert list(rows["rate"].to_numpy()) == list(rate[t <= fake.now_ms])
    assert (t > fake.now_ms - DAY_MS - 2 * HOUR_MS).sum() >= 3    # the refresh brought events


def _series_of(venue):
    """Series a refresh asks for at `venue`: OHLCV, funding history, OI history from its own
    endpoint, the current-OI snapshot (as the registry declares them)."""
    out = ["ohlcv"]
    if venue.funding_history:
        out.append("funding")
    if venue.oi_history and venue.oi_history_source == "ccxt":
        out.append("oi_history")
    if venue.oi_snapshot:
        out.append("oi")
    return out


def test_a_refresh_of_every_default_venue_costs_one_request_per_series(tmp_path):
    """Full history, then the clock moves two days: each series is brought up to date with a
    single request (a page shorter than the venue's page size needs no confirmation)."""
    from btcflow_nb.sources.venues import registry

    truth = Truth.recent(12)
    with FakeExchange(truth, now_ms=truth.end - 1 - 2 * DAY_MS) as fake, \
            pytest.MonkeyPatch.context() as monkeypatch:
        for k, v in fake.env(tmp_path).items():
            monkeypatch.setenv(k, v)
        first = btcflow_nb.fetch(since=truth.start, progress=False)
        assert first.meta["errors"] == {}
        fake.set_now(truth.end - 1)
        fake.clear_log()
        md = btcflow_nb.fetch(progress=False)
        assert md.meta["errors"] == {}
        log = fake.log()
    known = {v.name: v for v in registry()}
    want = {name: len(_series_of(known[name])) for name in md.meta["requests"]}
    assert md.meta["requests"] == want
    data = [r for r in log if r.endpoint != "markets"]
    # the dated futures come along (default selection): one page per listed contract, one per
    # Deribit contract that expired between the fetches (completed by name), one per Binance
    # continuous contract type (expired OKX / Bybit quarterlies are not listed: no request)
    from btcflow_nb.testing.fake_exchange.truth import DATED_BASIS, last_friday_expiries

    dated = (sum(len(fake.truth.dated_expiries(k, fake.now_ms)) for k in DATED_BASIS)
             + len(last_friday_expiries(truth.end - 1 - 2 * DAY_MS, fake.now_ms, range(1, 13)))
             + 2)
    # Hyperliquid's current OI comes with its markets request (logged as "markets")
    assert len(data) == sum(want.values()) - 1 + dated
    # and the refresh brought the new rows: two more days of bars and events
    assert md.spot.index[-1] - first.spot.index[-1] == pd.Timedelta(days=2)
    for key in ("deribit", "hyperliquid", "binance", "gate"):
        t, rate, _ = fake.truth.funding(key)
        rows = md.funding[md.funding["venue"] == key]
        np.testing.assert_array_equal(rows["rate"].to_numpy(), rate[t <= fake.now_ms])


def test_a_full_page_starting_one_step_after_the_cursor_is_not_gone_back_over(env_fetch):
    """Deribit's hourly funding in windows of 24 rows: each window after the first starts 1 ms
    after the previous row, so its first row is 1 h - 1 ms later -- nothing can hide there.
    (Going back over that gap cost two extra requests per page: 63 pages for 90 days.)"""
    import dataclasses

    from btcflow_nb.sources.venues import DEFAULT_VENUES

    fake, truth = env_fetch
    deribit = dataclasses.replace({v.name: v for v in DEFAULT_VENUES}["perp:deribit"],
                                  funding_page_limit=24)
    since = fake.now_ms - 5 * DAY_MS
    fake.clear_log()
    md = btcflow_nb.fetch([deribit], since=since, progress=False, cache_dir=False)
    t, rate, _ = fake.truth.funding("deribit")
    keep = (t >= since) & (t <= fake.now_ms)
    rows = md.funding[md.funding["venue"] == "deribit"]
    np.testing.assert_array_equal(rows["rate"].to_numpy(), rate[keep])
    # full pages, then at most one empty page asked twice (an empty page may be transient)
    assert len(fake.log("deribit", "funding")) <= -(-int(keep.sum()) // 24) + 2


def _pager(rows_at, *, limit, step, use_until, implicit_window=None):
    """A `_Pager` over a venue serving rows at the times `rows_at` (oldest first, at most
    `limit` per page, from `since` up to `until` or, without it, to `since + implicit_window`)
    and counting its requests."""
    import asyncio

    from btcflow_nb.sources.paging import _Pager
    from btcflow_nb.sources.config import RetryPolicy

    asked = []

    async def call(since, n, until):
        end = until if until is not None else (
            since + implicit_window - 1 if implicit_window else float("inf"))
        asked.append((since, end))
        return [{"timestamp": t} for t in rows_at if since <= t <= end][:limit]

    pager = _Pager(call=call, time_of=lambda r: r["timestamp"], limit=limit, step_ms=step,
                   use_until=use_until, policy=RetryPolicy(attempts=1, base_delay=0.0),
                   what="test")
    return pager, asked, asyncio.run


def test_a_short_page_inside_an_implicit_window_does_not_end_the_series():
    """Kraken Futures' candles are asked without `until`; ccxt itself asks `limit` bars from
    `since`.  A market listed in the middle of that window gives a short first page -- the
    rest of the history follows it, so the page must not end the series."""
    step, limit = 10, 20
    rows = list(range(150, 1000, step))              # listed at 150, window of the first page
    pager, asked, run = _pager(rows, limit=limit, step=step, use_until=False,
                               implicit_window=limit * step)
    got = run(pager.run(0, 995))
    assert [r["timestamp"] for r in got] == rows
    assert asked[0] == (0, 199)                       # the first page: 5 rows of 20


def test_a_short_page_reaching_the_end_ends_the_series_with_or_without_until():
    step, limit = 10, 20
    rows = list(range(0, 1000, step))
    for use_until in (True, False):
        pager, asked, run = _pager(rows[-7:], limit=limit, step=step, use_until=use_until)
        got = run(pager.run(rows[-7], 995))
        assert [r["timestamp"] for r in got] == rows[-7:] and len(asked) == 1


def test_a_venue_serving_smaller_pages_than_declared_loses_no_rows():
    """A registry page size larger than what the venue serves (a custom venue, or a venue
    that lowered its maximum) makes every page look short.  The last window's page must not
    end the series while its last row is more than a step before the end: the rows after it
    are asked for, and none is dropped."""
    step, declared, served = 10, 40, 15
    rows = list(range(0, 1000, step))

    for use_until in (True, False):
        pager, asked, run = _pager(rows, limit=declared, step=step, use_until=use_until)
        real_call = pager.call

        async def small_pages(since, n, until, real_call=real_call):
            return (await real_call(since, n, until))[:served]

        pager.call = small_pages
        got = run(pager.run(0, 995))
        assert [r["timestamp"] for r in got] == rows, use_until


def test_a_series_ending_before_the_end_is_asked_once_more_without_retries():
    """A short page whose last row is far from the end (a delisted market) is followed by one
    request from its last row; an empty answer then is not retried after a back-off. With
    `until` the rest is walked window by window, each window asked once."""
    step, limit = 10, 20
    rows = list(range(0, 300, step))                 # stops at 290; the range goes to 995
    pager, asked, run = _pager(rows[-5:], limit=limit, step=step, use_until=False)
    got = run(pager.run(rows[-5], 995))
    assert [r["timestamp"] for r in got] == rows[-5:]
    assert asked == [(250, float("inf")), (291, float("inf"))]

    pager, asked, run = _pager(rows[-5:], limit=limit, step=step, use_until=True)
    got = run(pager.run(rows[-5], 995))
    assert [r["timestamp"] for r in got] == rows[-5:]
    assert asked == [(250, 449), (291, 490), (491, 690), (691, 890), (891, 995)]


@pytest.mark.parametrize("newest", [False, True], ids=["oldest-first", "newest-first"])
@pytest.mark.parametrize("listed", [0, 7, 5_000, 123_457, 800_000])   # < 4161 page spans
def test_discovery_finds_an_unknown_first_row_in_a_few_requests(newest, listed):
    """A gallop venue (honours any window) with an unknown first row: the empty span before it
    costs at most 5 requests (windows x64, each empty one asked twice), every row arrives once,
    and a venue answering a window with its newest rows is read backwards, one page each."""
    import asyncio

    from btcflow_nb.sources.config import RetryPolicy
    from btcflow_nb.sources.paging import _Pager

    step, limit = 10, 20
    rows = list(range(listed - listed % step + step, listed + 3340, step))   # 333 rows
    end = rows[-1] + 5                                                  # "now"
    asked = []

    async def call(since, n, until):
        asked.append((since, until))
        inside = [t for t in rows if since <= t <= until]
        return [{"timestamp": t} for t in (inside[-limit:] if newest else inside[:limit])]

    pager = _Pager(call=call, time_of=lambda r: r["timestamp"], limit=limit, step_ms=step,
                   use_until=True, gallop=True, what="test",
                   policy=RetryPolicy(attempts=1, base_delay=0.0))
    got = sorted(r["timestamp"] for r in asyncio.run(pager.run(0, end)))
    assert got == rows
    # the pages, the empty windows (each asked twice) and, for an oldest-first venue, the
    # window before its first page asked (twice) in case it kept the newest rows
    assert len(asked) <= -(-len(rows) // limit) + 5 + 2
