"""Each venue's real first bar, end to end: the fake exchange serves every default venue from
its listing (its dialect's ``FIRST``, cited there, independent of the registry); a fetch with an
early `since` gets each venue's rows from that first bar on, equal to the truth, says so in
``meta["depth"]``, and costs a bounded number of requests per series."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.sources.venues import DEFAULT_VENUES
from btcflow_nb.testing.fake_exchange import DAY_MS
from btcflow_nb.testing.fake_exchange.dialects import DIALECTS

from .conftest import cached_series, fetched_since_2011, pages_filled, requests_by_endpoint

PERPS = [v for v in DEFAULT_VENUES if v.kind == "perp"]
SPOTS = [v for v in DEFAULT_VENUES if v.kind == "spot"]


@pytest.fixture(scope="module")
def early(tmp_path_factory):
    """Every default venue, daily bars, since 1900, against a truth from 2011-09-01 to now."""
    # the perps' and spots' own costs (dated futures' early-since cost: test_dated_load)
    yield from fetched_since_2011(tmp_path_factory, "early", since="1900-01-01",
                                  timeframe="1d", dated=False)


def _ms(times):
    return pd.DatetimeIndex(times).as_unit("ms").asi8


def _first(venue, kind):
    return (DIALECTS[venue.exchange_id].first or {}).get(venue.name, {}).get(kind)


@pytest.mark.parametrize("venue", SPOTS + PERPS, ids=lambda v: v.name)
def test_prices_start_at_the_venues_first_bar_and_equal_the_truth(early, venue):
    fake, md = early
    assert md.meta["errors"] == {}
    want = fake.truth.closes(venue.name, "1d", fake.now_ms)
    first = _first(venue, "ohlcv")
    if first is not None:
        want = want[want.index >= pd.Timestamp(first // DAY_MS * DAY_MS, unit="ms", tz="UTC")]
    if venue.ohlcv_depth_bars:      # a rolling limit: the newest N bars only
        want = want.iloc[-venue.ohlcv_depth_bars:]
    raw = cached_series(venue.name, "ohlcv", "1d", md.meta["_cache_root"])     # in the venue's quote (md converts USDT)
    got = pd.Series(raw["close"].to_numpy(), index=pd.DatetimeIndex(raw["time"]))
    np.testing.assert_array_equal(_ms(got.index), _ms(want.index))
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
    np.testing.assert_array_equal(_ms(getattr(md, venue.field)[venue.key].dropna().index),
                                  _ms(want.index))
    served = md.meta["depth"][venue.name]["ohlcv"]["served_from"]
    assert served == want.index[0].strftime("%Y-%m-%d")
    if first is not None and len(want) < (venue.ohlcv_depth_bars or 10**9):
        assert served == pd.Timestamp(first // DAY_MS * DAY_MS, unit="ms").strftime("%Y-%m-%d")


@pytest.mark.parametrize("venue", [v for v in PERPS if _first(v, "funding")],
                         ids=lambda v: v.name)
def test_funding_starts_at_the_venues_first_event(early, venue):
    fake, md = early
    t, rate, _ = fake.truth.funding(venue.key)
    keep = (t >= _first(venue, "funding")) & (t <= fake.now_ms)
    if venue.funding_depth_days:    # OKX: the last 3 months only
        keep &= t >= fake.now_ms - venue.funding_depth_days * DAY_MS
    f = md.funding[md.funding["venue"] == venue.key]
    np.testing.assert_array_equal(_ms(f["time"]), t[keep])
    np.testing.assert_array_equal(f["rate"].to_numpy(), rate[keep])


@pytest.mark.parametrize("venue", [v for v in PERPS if v.oi_history and
                                   v.oi_history_source == "ccxt" and
                                   _first(v, "oi_history") and not v.oi_history_rows
                                   and not v.oi_history_days], ids=lambda v: v.name)
def test_oi_history_starts_at_the_venues_first_sample(early, venue):
    fake, md = early
    first = _first(venue, "oi_history")
    first_day = -(-first // DAY_MS) * DAY_MS          # the first daily sample at or after it
    depth = md.meta["depth"][venue.name]["open_interest"]
    assert depth["served_from"] == pd.Timestamp(first_day, unit="ms").strftime("%Y-%m-%d")
    assert depth["asked_from"] == "1900-01-01"
    t, _ = fake.truth.oi_native(venue.key)
    n = int(((t % DAY_MS == 0) & (t >= first) & (t <= fake.now_ms)).sum())
    assert depth["rows"] == n


def test_an_early_since_costs_a_bounded_number_of_requests_per_series(early):
    """since=1900 on every default venue: at most 5 requests per series beyond the pages the
    venue's real rows fill (no walk over the empty decades before a listing)."""
    fake, md = early
    counts = requests_by_endpoint(fake)
    rows: dict = {}
    for v in DEFAULT_VENUES:
        closes = getattr(md, v.field).get(v.key) if v.field in ("spot", "perp") else None
        n_bars = 0 if closes is None else int(closes.notna().sum())
        for series, p in pages_filled(md, v, n_bars).items():
            key = (v.exchange_id, series)
            rows[key] = rows.get(key, 0) + p + 5
    fx = [v for v in DEFAULT_VENUES if v.kind == "fx"]
    rows[("kraken", "ohlcv")] += len(fx) * 6
    over = {k: (counts.get(k, 0), bound) for k, bound in rows.items() if counts.get(k, 0) > bound}
    assert over == {}
