"""Faults injected at the fake exchange: each is retried with backoff or reported per venue;
no fault corrupts the cache or loses cached rows; one failing venue never loses the others."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import btcflow_nb
from btcflow_nb.sources.cache import cache_root, read_series, series_path
from btcflow_nb import FetchError
from btcflow_nb.sources.venues import DEFAULT_VENUES

from .conftest import fake_exchange_fixtures


BY_NAME = {v.name: v for v in DEFAULT_VENUES}


fake, env = fake_exchange_fixtures(days=8, timeout_ms=500, retry_attempts=4,
                                   retry_base_delay=0.02)


def _closes_equal_truth(fake, md, name):
    v = BY_NAME[name]
    frame = md.spot if v.kind == "spot" else md.perp
    got = frame[v.key].dropna()
    want = fake.truth.closes(name, "1d", fake.now_ms)
    if v.quote != "USD":
        fx = md.fx[v.quote].reindex(want.index).to_numpy()
        want = want * fx
    assert list(got.index) == list(want.index)
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())


def _funding_equals_truth(fake, md, key):
    t, rate, hours = fake.truth.funding(key)
    keep = t <= fake.now_ms
    got = md.funding[md.funding["venue"] == key]
    assert list(got["time"]) == list(pd.to_datetime(t[keep], unit="ms", utc=True))
    np.testing.assert_array_equal(got["rate"].to_numpy(), rate[keep])


TRANSIENT = [
    # (fault, venue, ccxt exchange id, endpoint, extra inject options)
    ("429", "perp:binance", "binanceusdm", "funding", {"retry_after": "0.3"}),
    ("500", "spot:coinbase", "coinbase", "ohlcv", {}),
    ("503", "spot:okx", "okx", "ohlcv", {}),
    ("timeout", "spot:bitstamp", "bitstamp", "ohlcv", {"delay": 1.2}),
    ("malformed", "spot:kraken", "kraken", "ohlcv", {}),
    ("malformed", "perp:hyperliquid", "hyperliquid", "funding", {}),
    ("empty", "perp:deribit", "deribit", "funding", {}),
    ("empty", "spot:bybit", "bybit", "ohlcv", {}),
    ("overlap", "perp:gate", "gate", "funding", {}),
    ("duplicate", "perp:kucoin", "kucoinfutures", "funding", {}),
    ("duplicate", "spot:binance", "binance", "ohlcv", {}),
    ("latency", "perp:krakenfutures", "krakenfutures", "funding", {"delay": 0.3}),
    ("500", "perp:htx", "htx", "markets", {}),
    ("429", "perp:bitfinex", "bitfinex", "ohlcv", {"retry_after": "0.2"}),
    # ccxt's Bitfinex maps any HTTP 500 to the generic ExchangeError: retried by its status
    ("500", "perp:bitfinex", "bitfinex", "ohlcv", {}),
    ("500", "perp:bitfinex", "bitfinex", "funding", {}),
    ("503", "perp:bitfinex", "bitfinex", "markets", {}),
]


@pytest.mark.parametrize("kind,name,exchange_id,endpoint,options", TRANSIENT,
                         ids=[f"{t[0]}-{t[1]}-{t[3]}" for t in TRANSIENT])
def test_transient_fault_is_retried_and_data_is_exact(fake, env, kind, name, exchange_id,
                                                       endpoint, options):
    # error responses twice in a row; data faults (a page that is odd but answered) once
    times = 2 if kind in ("429", "500", "503", "malformed") else 1
    fault = fake.inject(kind, exchange_id=exchange_id, endpoint=endpoint, times=times, **options)
    md = btcflow_nb.fetch([name], since=fake.truth.start, progress=False)
    assert fault.fired == times
    assert md.meta["errors"] == {}
    _closes_equal_truth(fake, md, name)
    if BY_NAME[name].funding_history:
        _funding_equals_truth(fake, md, BY_NAME[name].key)
    if kind == "429":   # the retry waited for Retry-After before asking again
        log = fake.log(exchange_id, endpoint)
        hit = [i for i, r in enumerate(log) if r.status == 429]
        for i in hit:
            assert log[i + 1].started - log[i].finished >= 0.9 * float(options["retry_after"])
    if kind in ("500", "503"):
        statuses = [r.status for r in fake.log(exchange_id, endpoint)]
        assert statuses[:times] == [int(kind)] * times and statuses[times] == 200


def test_persistent_fault_is_reported_for_that_venue_only(fake, env):
    fake.inject("503", exchange_id="coinbase", times=None)
    md = btcflow_nb.fetch(["spot:coinbase", "spot:bitstamp", "perp:okx"],
                          since=fake.truth.start, progress=False)
    assert list(md.meta["errors"]) == ["spot:coinbase"]
    assert "ExchangeNotAvailable" in md.meta["errors"]["spot:coinbase"]
    assert "coinbase" not in md.spot.columns
    _closes_equal_truth(fake, md, "spot:bitstamp")
    _closes_equal_truth(fake, md, "perp:okx")
    # it was retried the configured number of times, no more
    assert len(fake.log("coinbase")) == 4


def test_rows_before_a_failure_are_kept(fake, env):
    small_pages = dataclasses.replace(BY_NAME["spot:binance"], ohlcv_page_limit=3)
    fake.inject("500", exchange_id="binance", endpoint="ohlcv", times=None, after=2)
    md = btcflow_nb.fetch([small_pages], since=fake.truth.start, progress=False)
    assert "spot:binance" in md.meta["errors"]
    got = md.spot["binance"].dropna()
    assert len(got) == 6                         # two full pages arrived before the failure
    want = fake.truth.closes("spot:binance", "1d", fake.now_ms).iloc[:6]
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy() * md.fx["USDT"].reindex(
        want.index).to_numpy())


def test_no_fault_corrupts_the_cache_or_loses_cached_rows(fake, env):
    venues = ["spot:coinbase", "perp:binance", "perp:deribit"]
    first = btcflow_nb.fetch(venues, since=fake.truth.start, progress=False)
    root = cache_root()
    before = {v: read_series(series_path(root, "ohlcv", BY_NAME[v], "1d"), "ohlcv",
                             BY_NAME[v], "1d")[0] for v in venues}
    for kind in ("malformed", "500", "empty", "duplicate", "overlap"):
        fake.clear_faults()
        fake.inject(kind, times=None)
        if kind in ("malformed", "500"):     # every request of every venue fails
            with pytest.raises(FetchError):
                btcflow_nb.fetch(venues, since=fake.truth.start, progress=False)
            md = btcflow_nb.from_cache(venues)
        else:
            md = btcflow_nb.fetch(venues, since=fake.truth.start, progress=False)
        for v in venues:   # every cache file still loads, with every row it had
            frame, _ = read_series(series_path(root, "ohlcv", BY_NAME[v], "1d"), "ohlcv",
                                   BY_NAME[v], "1d")
            merged = before[v].merge(frame, on="time", how="left", suffixes=("", "_now"))
            assert merged["close_now"].notna().all(), (kind, v)
        assert md.spot["coinbase"].dropna().index.equals(first.spot["coinbase"].dropna().index)
    assert not list(root.rglob("*.corrupt-*"))


def test_every_venue_failing_raises_with_every_reason(fake, env):
    fake.inject("500", times=None)
    with pytest.raises(FetchError) as info:
        btcflow_nb.fetch(["spot:coinbase", "perp:okx"], since=fake.truth.start, progress=False,
                         cache_dir=False)
    err = info.value
    assert set(err.errors) >= {"spot:coinbase", "perp:okx"}
    assert "spot:coinbase" in str(err) and "perp:okx" in str(err)


def test_fault_injection_rejects_unknown_names(fake):
    with pytest.raises(ValueError, match="unknown fault 'teapot'.*429"):
        fake.inject("teapot")
    with pytest.raises(ValueError, match="unknown exchange 'bitmex'"):
        fake.inject("500", exchange_id="bitmex")


def test_a_failing_series_keeps_the_venues_other_series(fake, env):
    fake.inject("503", exchange_id="okx", endpoint="funding", times=None)
    md = btcflow_nb.fetch(["perp:okx"], since=fake.truth.start, progress=False)
    assert md.meta["errors"]["perp:okx"].startswith("funding: ExchangeNotAvailable")
    assert "okx" not in md.venues("funding")
    _closes_equal_truth(fake, md, "perp:okx")
    assert "okx" in md.venues("open_interest")          # history and snapshot still fetched


@pytest.mark.parametrize("status,body,retried", [
    (500, "Internal Server Error", True),                  # a gateway's plain text
    (502, "Bad Gateway", True),
    (429, "Too Many Requests", True),
    (500, '["error",10020,"limit: invalid"]', False),      # Bitfinex's bad-request code
    (500, '["error",10001,"api_key: permission invalid"]', False),
    (400, '{"message":"bad symbol"}', False),
])
def test_retry_follows_the_transport_status_not_the_ccxt_class(status, body, retried):
    """Bitfinex's own error mapping (ccxt's handle_errors, unchanged) classifies each reply;
    `exchanges._transient` turns a generic ExchangeError of a 5xx / 429 into a retryable error
    and leaves a classified refusal alone."""
    import json

    import ccxt

    from btcflow_nb.sources.exchanges import _retryable, _transient

    ex = ccxt.bitfinex()
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    with pytest.raises(ccxt.BaseError) as caught:
        ex.handle_errors(status, "", "https://api-pub.bitfinex.com/v2/candles", "GET", {}, body,
                         parsed, {}, None)
        ex.handle_http_status_code(status, "", "https://x", "GET", body)
    replaced = _transient(caught.value, status, "bitfinex", "GET", "https://x/v2/candles?a=1")
    assert isinstance(replaced or caught.value, _retryable()) is retried
    if replaced is not None:
        assert f"HTTP {status}" in str(replaced)
    # the generic ExchangeError of a 500 is the case a retry by class alone misses
    assert (replaced is not None) is (status == 500 and retried)
