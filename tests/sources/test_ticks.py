"""`btcflow_nb.sources.ticks`: one live poll through the real ccxt code path against the fake
exchange -- every default venue's last price, current (and next) funding and current OI equal
the fake's truth at its clock; a failing venue is recorded, never raised, and asked again."""
from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from btcflow_nb.sources.ticks import TickPoller
from btcflow_nb.sources.venues import DEFAULT_VENUES
from btcflow_nb.testing.fake_exchange import DAY_MS, HOUR_MS, FakeExchange, Truth
from btcflow_nb.testing.fake_exchange.truth import _OI_NATIVE

#: venues whose API publishes the next interval's rate beside the current one (ccxt
#: ``nextFundingRate``)
NEXT_RATE_VENUES = {"okx", "okx_inverse", "gate", "bitfinex", "krakenfutures"}


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    truth = Truth.recent(days=5, now_ms=int(time.time() * 1000) - 2 * DAY_MS)
    with FakeExchange(truth, now_ms=truth.end - 5 * HOUR_MS + 17 * 60_000) as server:
        with pytest.MonkeyPatch.context() as patch:
            for var, value in server.env(tmp_path_factory.mktemp("ticks")).items():
                patch.setenv(var, value)
            yield server


def _poll(poller, n=1, between=None):
    async def run():
        out = []
        try:
            for _ in range(n):
                out.append(await poller.poll())
                if between:
                    between()
        finally:
            await poller.close()
        return out
    return asyncio.run(run())


def _expected_oi_btc(truth, key, now, last):
    native = truth.oi_now(key, now)
    unit, size = _OI_NATIVE[key]
    if unit == "usd":                 # inverse: contracts worth USD, BTC = USD / price
        return native / last
    return native * size if unit == "contracts" else native


def test_every_default_venue_equals_the_truth_at_the_clock(fake):
    truth, now = fake.truth, fake.now_ms
    (ticks,) = _poll(TickPoller(clock=lambda: fake.now_ms))
    assert ticks.errors == {}
    venues = {v.name: v for v in DEFAULT_VENUES if v.kind in ("spot", "perp", "fx")}
    assert set(ticks.venues) == set(venues)
    fx = {"USD": 1.0, "USDT": truth.last_price("fx:usdt", now),
          "USDC": truth.last_price("fx:usdc", now)}
    for name, tick in ticks.venues.items():
        v = venues[name]
        last = truth.last_price(name, now)
        assert tick.last == pytest.approx(last, rel=1e-12), name
        assert tick.last_usd == pytest.approx(last * fx[v.quote], rel=1e-12), name
        if v.kind != "perp":
            assert tick.funding_rate is None and tick.oi_btc is None, name
            continue
        t1, r1, t2, r2, hours = truth.upcoming_funding(v.key, now)
        assert tick.funding_rate == pytest.approx(r1, rel=1e-6), name
        assert tick.funding_interval_hours in (None, hours), name
        if tick.funding_time is not None and v.key != "hyperliquid":   # ccxt stamps HL itself
            assert tick.funding_time == t1, name
        if v.key in NEXT_RATE_VENUES:
            assert tick.next_funding_rate == pytest.approx(r2, rel=1e-6), name
        assert tick.oi_btc == pytest.approx(_expected_oi_btc(truth, v.key, now, last),
                                            rel=1e-6), name
        assert tick.oi_usd > 0, name
    frame = ticks.frame()
    assert list(frame["venue"]) == list(ticks.venues) and (frame["error"] == "").all()


def test_one_tickers_request_per_product_family_and_pacing(fake):
    """Kraken's BTC/USD and the two fx pairs (added for the USDT and USDC venues) come in
    one request; one poll asks each
    endpoint once per venue at most; a poll's requests are what the fake logged."""
    fake.clear_log()
    (ticks,) = _poll(TickPoller(["spot:kraken", "spot:binance", "perp:okx", "perp:okx_inverse",
                                 "perp:hyperliquid"], clock=lambda: fake.now_ms))
    assert ticks.errors == {}
    kraken = fake.log("kraken", "ticker")
    assert len(kraken) == 1 and set(kraken[0].query["pair"].split(",")) == {
        "XXBTZUSD", "USDTZUSD", "USDCUSD"}
    assert len(fake.log("okx", "funding_rate")) == 2 and len(fake.log("okx", "oi")) == 2
    assert ticks.requests == len(fake.log())


def test_rate_limit_spacing_holds_across_polls(fake, tmp_path, monkeypatch):
    """Polls reuse the exchange (and its pacer): consecutive requests to one exchange start at
    least ``rateLimit`` apart, also from one poll to the next."""
    for var, value in fake.env(tmp_path, rate_limit_ms=150).items():
        monkeypatch.setenv(var, value)
    fake.clear_log()
    _poll(TickPoller(["perp:binance"], clock=lambda: fake.now_ms), n=3)
    starts = [r.started for r in fake.log("binanceusdm")]
    assert len(starts) == 1 + 3 * 3         # markets once, then ticker, funding, OI per poll
    # arrival times at the fake carry the client's scheduling jitter (tens of ms on a loaded
    # machine): the n-th request arrives no earlier than n rate limits after the first, and
    # no two arrive closer than the rate limit less that jitter
    gaps = np.diff(starts)
    assert gaps.min() >= 0.15 - 0.04, gaps
    assert all(np.asarray(starts) - starts[0] >= np.arange(len(starts)) * 0.15 * 0.95), gaps


def test_a_failing_venue_is_recorded_and_asked_again(fake):
    """A 500 on Gate's ticker and a timeout at Deribit fail only those venues, with the
    reason; the next poll asks again and gets them."""
    fake.clear_faults()
    fake.inject("500", exchange_id="gate", endpoint="ticker", times=1)
    fake.inject("timeout", exchange_id="deribit", endpoint="ticker", times=1, delay=1.5)
    poller = TickPoller(["spot:coinbase", "perp:gate", "perp:deribit", "perp:binance"],
                        clock=lambda: fake.now_ms, timeout_s=1.0)
    first, second = _poll(poller, n=2)
    fake.clear_faults()
    assert set(first.errors) == {"perp:gate", "perp:deribit"}
    assert "ticker" in first.errors["perp:gate"] and "500" in first.errors["perp:gate"]
    assert "no answer within 1 s" in first.errors["perp:deribit"]
    assert first.venues["spot:coinbase"].last and first.venues["perp:binance"].oi_btc
    # Gate's funding still came (its own endpoint); only the ticker's values are missing
    assert first.venues["perp:gate"].last is None and first.venues["perp:gate"].funding_rate
    assert second.errors == {}
    assert second.venues["perp:gate"].last == pytest.approx(
        fake.truth.last_price("perp:gate", fake.now_ms))
    assert second.venues["perp:deribit"].oi_btc > 0


def test_values_follow_the_clock(fake):
    """Advancing the clock by an hour moves prices, OI and funding to the next hour's truth."""
    start = fake.now_ms
    try:
        first, second = _poll(TickPoller(["perp:okx"], clock=lambda: fake.now_ms), n=2,
                              between=lambda: fake.advance(HOUR_MS))
    finally:
        fake.set_now(start)
    a, b = first.venues["perp:okx"], second.venues["perp:okx"]
    assert a.last == fake.truth.last_price("perp:okx", start)
    assert b.last == fake.truth.last_price("perp:okx", start + HOUR_MS) != a.last
    assert b.oi_btc == pytest.approx(fake.truth.oi_now("okx", start + HOUR_MS) * 0.01)
    assert second.as_of - first.as_of == HOUR_MS


def test_bad_input():
    with pytest.raises(ValueError, match="unknown venue 'perp:nowhere'"):
        TickPoller(["perp:nowhere"])
    fake = FakeExchange(days=2)
    with pytest.raises(ValueError, match="only moves forward"):
        fake.advance(-1)
