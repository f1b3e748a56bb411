"""The fake exchange itself: deterministic truth, exact JSON round trips, request log, faults,
clock and the environment it hands to fetch / notebooks / the CLI."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from btcflow_nb.testing import FakeExchange, Truth
from btcflow_nb.testing.fake_exchange import DAY_MS
from btcflow_nb.testing.fake_exchange.dialects.dialect import _num


def test_truth_is_deterministic_and_timeframe_consistent():
    a, b = Truth(1_700_000_000_000, 1_700_000_000_000 + 5 * DAY_MS), \
        Truth(1_700_000_000_000, 1_700_000_000_000 + 5 * DAY_MS)
    np.testing.assert_array_equal(a.hourly("perp:okx")[4], b.hourly("perp:okx")[4])
    daily = a.closes("spot:kraken", "1d")
    hourly = a.closes("spot:kraken", "1h")
    # a daily close is the close of the day's last hour
    for day, close in daily.items():
        assert close == hourly[hourly.index < day + np.timedelta64(1, "D")].iloc[-1]
    t, rate, hours = a.funding("deribit")
    assert set(hours) == {1.0} and np.all(np.abs(rate) < 0.001)


def test_numbers_survive_the_json_round_trip_exactly():
    truth = Truth.recent(3)
    values = np.concatenate([truth.hourly("spot:coinbase")[4], truth.funding("okx")[1],
                             truth.hourly("fx:usdt")[4], truth.funding("deribit")[1] * 8])
    assert all(float(_num(x)) == x for x in values)
    assert all("e" not in _num(x) for x in values)


def test_request_log_unknown_routes_and_clock():
    with FakeExchange(days=3) as fake:
        url = f"{fake.url}/binance/api.binance.com/api/v3/klines?symbol=BTCUSDT&interval=1d&limit=1000"
        rows = json.loads(urllib.request.urlopen(url).read())
        assert len(rows) == 4                           # 3 full days + today's open bar
        fake.set_now(fake.now_ms - DAY_MS)
        assert len(json.loads(urllib.request.urlopen(url).read())) == 3
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{fake.url}/binance/api.binance.com/api/v3/nothing")
        assert info.value.code == 404
        info.value.close()
        log = fake.log("binance")
        assert [r.endpoint for r in log] == ["ohlcv", "ohlcv", "unknown"]
        assert all(r.finished >= r.started for r in log)


def test_faults_fire_in_order_then_stop():
    with FakeExchange(days=2) as fake:
        fault = fake.inject("503", exchange_id="kraken", endpoint="ohlcv", times=2, after=1)
        url = f"{fake.url}/kraken/api.kraken.com/0/public/OHLC?pair=XXBTZUSD&interval=1440"
        statuses = []
        for _ in range(4):
            try:
                with urllib.request.urlopen(url) as resp:
                    statuses.append(resp.status)
            except urllib.error.HTTPError as err:
                statuses.append(err.code)
                err.close()
        assert statuses == [200, 503, 503, 200] and fault.fired == 2
        fake.inject("malformed", exchange_id="kraken")
        with urllib.request.urlopen(url) as resp:
            body = resp.read()
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)


def test_env_points_everything_at_the_server(tmp_path):
    with FakeExchange(days=2) as fake:
        env = fake.env(tmp_path, rate_limit_ms=5)
        assert env["BTCFLOW_NB_API_BASE"] == fake.url
        config = json.loads((tmp_path / "btcflow-nb-config.json").read_text())
        assert env["BTCFLOW_NB_CONFIG"] == str(tmp_path / "btcflow-nb-config.json")
        assert set(config["exchanges"]) == set(fake.venues)
        assert all(o == {"rateLimit": 5} for o in config["exchanges"].values())


def test_a_burst_of_connections_is_queued_not_dropped():
    """fetch opens one connection per exchange at once (14 and more); socketserver's default
    listen backlog of 5 would drop some, and a dropped SYN is retried only after ~1 s."""
    with FakeExchange(days=2) as fake:
        assert fake._server.request_queue_size >= 64


def test_each_venue_serves_at_most_its_real_page_size():
    """Asked for more rows than a venue serves per request, the fake answers with the venue's
    maximum (the registry's page sizes are checked against these in tests/sources/test_venues.py)."""
    with FakeExchange(Truth.recent(90, gaps={})) as fake:
        start = fake.truth.start
        base = fake.url

        def get(path):
            return json.loads(urllib.request.urlopen(f"{base}/{path}").read())

        def post(path, body):
            req = urllib.request.Request(f"{base}/{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            return json.loads(urllib.request.urlopen(req).read())

        usdm = get("binanceusdm/fapi.binance.com/fapi/v1/klines?symbol=BTCUSDT&interval=1h"
                   f"&startTime={start}&limit=5000")
        spot = get("binance/api.binance.com/api/v3/klines?symbol=BTCUSDT&interval=1h"
                   f"&startTime={start}&limit=5000")
        gate = get("gate/api.gateio.ws/api/v4/futures/usdt/candlesticks?contract=BTC_USDT"
                   f"&interval=1h&from={start // 1000}&to={start // 1000 + 3000 * 3600}")
        deribit = get("deribit/www.deribit.com/api/v2/public/get_funding_rate_history?"
                      f"instrument_name=BTC-PERPETUAL&start_timestamp={start}"
                      f"&end_timestamp={start + 2000 * 3_600_000}")["result"]
        hyper = post("hyperliquid/api.hyperliquid.xyz/info",
                     {"type": "fundingHistory", "coin": "BTC", "startTime": start})
        assert (len(usdm), len(spot), len(gate), len(deribit), len(hyper)) == \
            (1500, 1000, 2000, 744, 500)
