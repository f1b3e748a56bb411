"""Incremental fetching: a second fetch asks only for the bars after the last cached one (the
still-open bar included) and the events after the last cached event -- counted at the server."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import btcflow_nb
from btcflow_nb.testing.fake_exchange import DAY_MS, HOUR_MS, FakeExchange, Truth

VENUES = ["spot:coinbase", "spot:binance", "spot:kraken", "perp:binance", "perp:okx",
          "perp:deribit", "spot:bitstamp"]


@pytest.fixture(scope="module")
def two_fetches(tmp_path_factory):
    truth = Truth.recent(12)
    now = min(truth.end - 1, int(time.time() * 1000))
    # mid-day, so the first fetch's last daily bar is still open (an "earlier" in the day's last
    # hour made that bar's close final, and the open-bar test failed from 04:00 to 05:00 UTC)
    earlier = (now // DAY_MS - 3) * DAY_MS + 12 * HOUR_MS + 30 * 60_000 + 17_000  # off the minute
    with FakeExchange(truth, now_ms=earlier) as fake, pytest.MonkeyPatch.context() as monkeypatch:
        for k, v in fake.env(tmp_path_factory.mktemp("incremental")).items():
            monkeypatch.setenv(k, v)
        first = btcflow_nb.fetch(VENUES, since=truth.start, progress=False)
        cached_last = first.spot.index[-1]
        fake.set_now(now)
        fake.clear_log()
        second = btcflow_nb.fetch(VENUES, since=truth.start, progress=False)
        yield fake, first, second, cached_last, earlier


def test_second_fetch_asks_one_page_of_candles_per_venue(two_fetches):
    fake, first, second, cached_last, earlier = two_fetches
    ohlcv = fake.log(endpoint="ohlcv")
    per_exchange = pd.Series([r.exchange_id for r in ohlcv]).value_counts().to_dict()
    # kraken serves spot:kraken and the USDT/USD fx series (no USDC venue selected)
    assert per_exchange == {"coinbase": 1, "binance": 1, "kraken": 2, "binanceusdm": 1,
                            "okx": 1, "deribit": 1, "bitstamp": 1}
    last_ms = int(cached_last.value // 1_000_000)
    starts = {r.exchange_id: r.query for r in ohlcv}
    assert int(starts["binance"]["startTime"]) == last_ms          # the still-open bar again
    assert int(starts["coinbase"]["start"]) == last_ms // 1000
    assert int(starts["bitstamp"]["start"]) == last_ms // 1000
    assert int(starts["deribit"]["start_timestamp"]) == last_ms - 1   # ccxt asks since - 1


def test_second_fetch_asks_funding_only_after_the_last_cached_event(two_fetches):
    fake, first, second, cached_last, earlier = two_fetches
    last_event = first.funding[first.funding["venue"] == "binance"]["time"].max()
    asked = [int(r.query["startTime"]) for r in fake.log("binanceusdm", "funding")]
    assert asked and min(asked) == int(last_event.value // 1_000_000) + 1
    oi = [int(r.query["startTime"]) for r in fake.log("binanceusdm", "oi_history")]
    last_oi = first.open_interest[(first.open_interest["venue"] == "binance")]["time"]
    hist_last = last_oi[last_oi.dt.second == 0].max()   # history rows sit on the hour
    assert oi and min(oi) == int(hist_last.value // 1_000_000) + 1


def test_open_bar_is_updated_and_history_kept(two_fetches):
    fake, first, second, cached_last, earlier = two_fetches
    for venue in ("coinbase", "bitstamp", "kraken"):
        before = first.spot.loc[cached_last, venue]
        after = second.spot.loc[cached_last, venue]
        want_before = fake.truth.closes(f"spot:{venue}", "1d", earlier).loc[cached_last]
        want_after = fake.truth.closes(f"spot:{venue}", "1d", fake.now_ms).loc[cached_last]
        assert before == want_before and after == want_after and before != after
        full = fake.truth.closes(f"spot:{venue}", "1d", fake.now_ms)
        np.testing.assert_array_equal(second.spot[venue].dropna().to_numpy(), full.to_numpy())
    # nothing cached was lost: every earlier bar is still there with its value
    old = first.spot.loc[first.spot.index < cached_last]
    pd.testing.assert_frame_equal(second.spot.loc[old.index, old.columns], old)


def test_oi_snapshots_accumulate(two_fetches):
    fake, first, second, cached_last, earlier = two_fetches
    def snaps(md, venue):
        t = md.open_interest[md.open_interest["venue"] == venue]["time"]
        return t[(t.dt.minute != 0) | (t.dt.second != 0)]
    assert len(snaps(second, "deribit")) == 2 == len(snaps(first, "deribit")) + 1
