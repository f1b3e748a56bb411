"""Issue 16 through ccxt and the fake exchange: the per-venue open interest and the Coinbase
premium of fetched data equal values computed from the fake's `Truth` (not from our parser)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.testing.fake_exchange import DAY_MS, FakeExchange, Truth
from btcflow_nb.testing.fake_exchange.truth import _OI_NATIVE
from btcflow_nb.venue_metrics import coinbase_premium, funding_spend, venue_open_interest

VENUES = ["spot:coinbase", "spot:binance", "perp:binance", "perp:bybit", "perp:okx"]


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    import btcflow_nb

    tmp = tmp_path_factory.mktemp("venue-metrics")
    with FakeExchange(Truth.recent(12)) as fake:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in fake.env(tmp).items():
                mp.setenv(k, v)
            md = btcflow_nb.fetch(venues=VENUES, since=fake.truth.start, progress=False)
        yield fake, md


def _days(ms):
    return pd.to_datetime(np.asarray(ms, dtype="int64"), unit="ms", utc=True)


@pytest.mark.parametrize("key", ["binance", "bybit", "okx"])
def test_per_venue_oi_equals_truth(fetched, key):
    """Closed days: the venue's daily history sample (00:00) is the day's last; the open day's
    last sample is the current-OI snapshot, the truth's value at the fake's now."""
    fake, md = fetched
    assert md.meta["errors"] == {}
    got = venue_open_interest(md, "1D")[key]
    t, native = fake.truth.oi_native(key)
    btc = fake.truth.oi_btc(key, native)
    start = max(fake.truth.start, fake.truth.oi_history_start(key, fake.now_ms))
    daily = (t % DAY_MS == 0) & (t >= start) & (t <= fake.now_ms)
    want = pd.Series(btc[daily], index=_days(t[daily]))
    closed = got.dropna().iloc[:-1]
    pd.testing.assert_series_equal(closed, want.loc[closed.index], check_names=False,
                                   check_freq=False, check_index_type=False, rtol=1e-12)
    assert len(closed) >= 10
    if _OI_NATIVE[key][0] == "base" and key == "binance":     # snapshot stamped "now"
        i = np.searchsorted(t, fake.now_ms, side="right") - 1
        assert got.dropna().iloc[-1] == btc[i]
    change = venue_open_interest(md, "1D", change=True)[key]
    np.testing.assert_allclose(change.loc[closed.index[1:]], want.loc[closed.index].diff()[1:],
                               rtol=1e-9)


def test_coinbase_premium_equals_truth(fetched):
    fake, md = fetched
    cb = fake.truth.closes("spot:coinbase", "1d", fake.now_ms)
    bn = fake.truth.closes("spot:binance", "1d", fake.now_ms)
    usdt = fake.truth.closes("fx:usdt", "1d", fake.now_ms).reindex(bn.index)
    binance_usd = bn * usdt.to_numpy()
    want = (cb - binance_usd).dropna()
    got = coinbase_premium(md)
    assert len(want) >= 10 and got["premium_abs"].notna().sum() == len(want)
    np.testing.assert_allclose(got["premium_abs"].loc[want.index], want, rtol=0, atol=1e-6)
    pct = coinbase_premium(md, unit="pct")["premium"].loc[want.index]
    np.testing.assert_allclose(pct, (want / binance_usd.loc[want.index] * 100), rtol=1e-9)


def test_funding_spend_is_the_truth_rates_times_oi(fetched):
    """Per closed day: the truth's rates settled in (D, D + 1] summed, times the day's last OI
    in USD (as fetched; its USD value is checked against the truth in test_fetch_truth.py)."""
    fake, md = fetched
    got = funding_spend(md, "1D")["binance"]
    t, rate, _ = fake.truth.funding("binance")
    settle = _days(t[t <= fake.now_ms]) - pd.Timedelta("1ns")
    paid = pd.Series(rate[t <= fake.now_ms]).groupby(settle.floor("D")).sum()
    paid.index = pd.DatetimeIndex(paid.index)
    oi = venue_open_interest(md, "1D", unit="usd")["binance"]
    days = got.dropna().index[1:-1]                    # whole days with OI, the open day out
    assert len(days) >= 8
    np.testing.assert_allclose(got.loc[days], (paid.reindex(days) * oi.loc[days]), rtol=1e-9)
