"""Paging economy, counted at the fake exchange's request log: a venue whose endpoint has no
paging is not walked page by page, and a page shorter than the venue's page size ends a series
without a confirming request."""
from __future__ import annotations

import time

import numpy as np
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
