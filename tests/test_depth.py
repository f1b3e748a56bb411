"""`MarketData.depth(timeframe, lookback)`: from which bar on each metric's z-score can exist,
and why not earlier -- against flow_metrics, and on the fake exchange's real depths by hand."""
from __future__ import annotations

import pandas as pd
import pytest

import btcflow_nb as bf
from btcflow_nb.testing.fake_exchange import DAY_MS, FakeExchange, Truth

Z = {"premium": "premium_z", "oi": "oi_z", "funding": "funding_z"}


@pytest.mark.parametrize("tf, lookback", [("1W", "52W"), ("1D", 30), ("1M", "12M"), ("3D", 10)])
def test_depth_matches_the_first_z_score_of_flow_metrics(demo, tf, lookback):
    d = demo.depth(tf, lookback)
    m = bf.flow_metrics(demo, tf, lookback=lookback)
    assert list(d.index) == ["premium", "oi", "funding"]
    for metric, col in Z.items():
        assert d.at[metric, "z_from"] == m[col].first_valid_index(), (metric, tf)


def test_late_oi_venue_and_too_short_data(demo):
    binance_only = demo.select(perp_venues=["binance"])
    d = binance_only.depth("1W", "52W")
    first = demo.open_interest.query("venue == 'binance'")["time"].min()
    assert d.at["oi", "first_venue"] == "binance"
    assert d.at["oi", "first_data"] == bf.timeframes.bar_open(pd.DatetimeIndex([first]), "1W")[0]
    assert d.at["oi", "z_from"] == d.at["oi", "first_data"] + pd.Timedelta(weeks=51)
    assert d.at["oi", "reason"].startswith(f"no open interest before {d.at['oi', 'first_data']:%Y-%m-%d}")
    short = demo.depth("1M", "12Y")
    assert short["z_from"].isna().all()
    assert short.at["oi", "reason"].endswith(f"only {short.at['oi', 'bars_of_data']} bars of data: "
                                             "no z-score yet")


def test_bad_lookback_names_the_value(demo):
    with pytest.raises(ValueError, match="lookback"):
        demo.depth("1W", "3X")
    with pytest.raises(ValueError):
        demo.depth("2W", 10)


def test_depth_on_the_fakes_real_depths_by_hand(tmp_path):
    """Binance USDⓈ-M serves 30 days of OI history; prices and funding since the truth's start.
    Hand count on daily bars with a 10-bar lookback: z from the 10th day of each series."""
    with FakeExchange(Truth.recent(40)) as fake, pytest.MonkeyPatch.context() as mp:
        for k, v in fake.env(tmp_path).items():
            mp.setenv(k, v)
        md = bf.fetch(venues=["spot:coinbase", "perp:binance"], since="2019-01-01",
                      progress=False)
        now = fake.now_ms
        truth_start = fake.truth.start
    d = md.depth("1D", 10)
    day = lambda ms: pd.Timestamp(ms - ms % DAY_MS, unit="ms", tz="UTC")  # noqa: E731
    served = pd.Timestamp(md.meta["depth"]["perp:binance"]["open_interest"]["served_from"],
                          tz="UTC")
    assert served > day(truth_start) + pd.Timedelta(days=5)       # really shallower than prices
    assert d.at["oi", "first_data"] == served
    assert d.at["oi", "z_from"] == served + pd.Timedelta(days=9)
    assert d.at["oi", "bars_of_data"] == (day(now) - served).days + 1
    assert "served from" in d.at["oi", "reason"]                  # the fetch's note is quoted
    first_price = max(md.spot["coinbase"].first_valid_index(),
                      md.perp["binance"].first_valid_index())
    assert d.at["premium", "first_data"] == first_price
    assert d.at["premium", "z_from"] == first_price + pd.Timedelta(days=9)
    m = bf.flow_metrics(md, "1D", lookback=10)
    for metric, col in Z.items():
        assert d.at[metric, "z_from"] == m[col].first_valid_index(), metric
