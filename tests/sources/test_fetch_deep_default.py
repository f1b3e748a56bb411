"""The first fetch of the default deep history (daily bars, no `since`: each venue from its first
bar or 2019-01-01) against a fake exchange that serves each venue's real depth, including
KuCoin Futures' shallow history (klines later than the listing, funding for 92 days): every
series is served, in a bounded number of requests per series, and a series asked for but served
nothing is an error, never silence."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.sources.venues import DEFAULT_VENUES
from btcflow_nb.testing.fake_exchange import DAY_MS, FakeExchange, Truth
from btcflow_nb.testing.fake_exchange.dialects import DIALECTS
from btcflow_nb.testing.fake_exchange.dialects import kucoinfutures

from .conftest import (cached_series, fetch_from, fetched_since_2011, pages_filled,
                       requests_by_endpoint)

KUCOIN = {v.name: v for v in DEFAULT_VENUES}["perp:kucoin"]
#: requests a series may cost beyond the pages its rows fill (an empty or short confirmation
#: page, a discovery window, a refreshed open bar); measured at most 4 (HTX OI history)
SLACK = 4


@pytest.fixture(scope="module")
def deep(tmp_path_factory):
    # spot and perp series only: the dated futures' requests share the exchanges' endpoints
    # and have their own bound (tests/sources/test_dated_load.py)
    yield from fetched_since_2011(tmp_path_factory, "deep-default", timeframe="1d", dated=False)


def test_kucoin_klines_are_discovered_from_the_first_the_venue_serves(deep):
    """Old paging asked one 300-day window from the listing (2020-03-30), found it empty and
    ended the series: no KuCoin prices, and no error."""
    fake, md = deep
    assert md.meta["errors"] == {}
    first = DIALECTS["kucoinfutures"].first["perp:kucoin"]["ohlcv"]
    want = fake.truth.closes("perp:kucoin", "1d", fake.now_ms)
    want = want[want.index >= pd.Timestamp(first, unit="ms", tz="UTC")]
    raw = cached_series(KUCOIN.name, "ohlcv", "1d", md.meta["_cache_root"])   # USDT, as cached
    assert pd.DatetimeIndex(raw["time"]).equals(want.index.as_unit("ms"))
    np.testing.assert_array_equal(raw["close"].to_numpy(), want.to_numpy())
    assert md.perp["kucoin"].dropna().index.equals(want.index)
    assert md.meta["depth"]["perp:kucoin"]["ohlcv"]["served_from"] == "2021-03-01"
    assert ("perp:kucoin ohlcv: asked from 2019-01-01, served from 2021-03-01 (kucoinfutures: "
            "listed 2020-03-30, but it serves less; its first row was discovered)"
            in md.meta["notes"])
    pages = math.ceil(len(want) / KUCOIN.ohlcv_page_limit)
    assert len(fake.log("kucoinfutures", "ohlcv")) <= pages + 3


def test_kucoin_funding_costs_its_pages_not_a_walk_from_the_listing(deep):
    """Old paging walked 33-day windows from 2020-03-30 and asked each empty one twice: 144
    requests for 276 events (145 for 135 events live)."""
    fake, md = deep
    t, rate, _ = fake.truth.funding("kucoin")
    keep = (t >= fake.now_ms - kucoinfutures.FUNDING_DAYS * DAY_MS) & (t <= fake.now_ms)
    f = md.funding[md.funding["venue"] == "kucoin"]
    np.testing.assert_array_equal(pd.DatetimeIndex(f["time"]).as_unit("ms").asi8, t[keep])
    np.testing.assert_array_equal(f["rate"].to_numpy(), rate[keep])
    pages = math.ceil(int(keep.sum()) / KUCOIN.funding_page_limit)
    assert len(fake.log("kucoinfutures", "funding")) <= pages + 1


def test_the_deep_default_history_costs_a_bounded_number_of_requests_per_series(deep):
    """Per exchange and endpoint: at most the pages the served rows fill plus `SLACK` per
    series (no walk over windows the venue cannot fill)."""
    fake, md = deep
    bound: dict = {}
    for v in DEFAULT_VENUES:
        if v.kind == "fx":
            pages = {"ohlcv": 2}       # Kraken's newest 720 bars: one page and a confirmation
        else:
            pages = pages_filled(md, v, int(getattr(md, v.field)[v.key].notna().sum()))
        for series, p in pages.items():
            key = (v.exchange_id, series)
            bound[key] = bound.get(key, 0) + p + SLACK
    counts = requests_by_endpoint(fake)
    over = {k: (counts.get(k, 0), b) for k, b in bound.items() if counts.get(k, 0) > b}
    assert over == {}


def test_a_series_asked_for_and_served_nothing_is_an_error(tmp_path):
    """Silence is never success: a venue answering every kline request with an empty page
    fails its OHLCV (the venue's error names the series and the start asked), in a few
    requests; its funding and OI are still fetched."""
    with FakeExchange(Truth.recent(20)) as fake:
        fake.inject("empty", exchange_id="kucoinfutures", endpoint="ohlcv", times=None)
        md = fetch_from(tmp_path, fake, venues=["perp:kucoin"], timeframe="1d")
        n_ohlcv = len(fake.log("kucoinfutures", "ohlcv"))
    error = md.meta["errors"]["perp:kucoin"]
    assert "ohlcv: asked from 2020-03-30 00:00" in error and "served nothing" in error
    assert n_ohlcv <= 4
    assert (md.funding["venue"] == "kucoin").sum() > 0
    assert (md.open_interest["venue"] == "kucoin").sum() > 0


def test_bitfinex_status_history_comes_in_pages_of_its_documented_maximum(deep):
    """ccxt's bitfinex fetch_funding_rate_history sends no page size, so the venue answered its
    default of 100 rows: 80 requests for the settlements since 2019-09.  The registry's 5000
    (Bitfinex docs: "max. 5000") now goes as the venue's own ``limit`` parameter."""
    fake, md = deep
    t, rate, _ = fake.truth.funding("bitfinex")
    first = DIALECTS["bitfinex"].first["perp:bitfinex"]["funding"]
    keep = (t >= first) & (t <= fake.now_ms)
    f = md.funding[md.funding["venue"] == "bitfinex"]
    np.testing.assert_array_equal(pd.DatetimeIndex(f["time"]).as_unit("ms").asi8, t[keep])
    np.testing.assert_array_equal(f["rate"].to_numpy(), rate[keep])
    assert int(keep.sum()) > 5000
    assert len(fake.log("bitfinex", "funding")) <= math.ceil(int(keep.sum()) / 5000) + 1
