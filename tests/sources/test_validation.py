"""Every row from a venue is validated before it is cached (issue 17): poison values, oversized,
misaligned, wrong-instrument and junk replies are rejected and reported per venue while the
other venues load; a cache already holding a poisoned row still loads every venue; a venue
that falls silent while bars close is reported."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import btcflow_nb
from btcflow_nb.sources import checks
from btcflow_nb.sources.cache import cache_root, read_series, series_path, write_series
from btcflow_nb.sources.venues import DEFAULT_VENUES
from btcflow_nb.testing.fake_exchange import DAY_MS, HOUR_MS

from .conftest import cached_series, fake_exchange_fixtures

BY_NAME = {v.name: v for v in DEFAULT_VENUES}
OTHERS = ["spot:coinbase", "spot:kraken"]


fake, env = fake_exchange_fixtures(days=8, timeout_ms=2000, retry_attempts=2,
                                   retry_base_delay=0.01)


def _others_load(fake, md):
    for name in OTHERS:
        v = BY_NAME[name]
        want = fake.truth.closes(name, "1d", fake.now_ms)
        got = md.spot[v.key].dropna()
        np.testing.assert_array_equal(got.to_numpy(), want.reindex(got.index).to_numpy())
        assert len(got) == len(want)
        assert name not in md.meta["errors"]


POISON = [
    # (fault, venue, ccxt exchange id, endpoint, cached series, column, rule on cached values)
    ("zero_close", "spot:binance", "binance", "ohlcv", "ohlcv", "close", lambda x: x > 0),
    ("inf_close", "perp:binance", "binanceusdm", "ohlcv", "ohlcv", "close",
     lambda x: np.isfinite(x) & (x > 0)),
    ("absurd_funding", "perp:binance", "binanceusdm", "funding", "funding", "rate",
     lambda x: np.abs(x) <= 0.03),
    ("inf_funding", "perp:okx", "okx", "funding", "funding", "rate", np.isfinite),
    ("negative_oi", "perp:binance", "binanceusdm", "oi_history", "open_interest", "oi_base",
     lambda x: np.isnan(x) | (x >= 0)),
]


@pytest.mark.parametrize("kind,name,exchange_id,endpoint,series,column,ok", POISON,
                         ids=[p[0] for p in POISON])
def test_poison_value_is_rejected_and_reported_while_others_load(fake, env, kind, name,
                                                                 exchange_id, endpoint, series,
                                                                 column, ok):
    fake.inject(kind, exchange_id=exchange_id, endpoint=endpoint, times=None)
    md = btcflow_nb.fetch([name] + OTHERS, since=fake.truth.start, progress=False)
    _others_load(fake, md)
    rejected = md.meta["rejected"][name]["counts"]
    assert sum(rejected.values()) >= 1, md.meta["rejected"]
    assert name in md.meta["errors"] and "rejected" in md.meta["errors"][name]
    assert any(name in n and "rejected" in n for n in md.meta["notes"])
    cached = cached_series(name, series)
    assert len(cached) >= 1                            # the good rows are kept
    assert ok(cached[column].to_numpy(dtype="float64")).all()
    # the next load of everything still works
    again = btcflow_nb.from_cache([name] + OTHERS)
    _others_load(fake, again)


def test_oversized_reply_is_rejected_whole(fake, env, monkeypatch):
    # ccxt trims a reply to the page size it is given; HTX's candles are asked without one
    # (the registry's limit_param), so a reply of any size comes through: with the row cap at
    # 100, the fake's 30 x 2000 rows are refused whole
    monkeypatch.setattr(checks, "MAX_PAGE_ROWS", 100)
    name = "perp:htx"
    fake.inject("oversized", exchange_id="htx", endpoint="ohlcv", times=None)
    md = btcflow_nb.fetch([name] + OTHERS, since=fake.truth.start, progress=False)
    _others_load(fake, md)
    assert "rows to a page of at most 100 rows" in md.meta["errors"][name]
    counts = md.meta["rejected"][name]["counts"]
    assert any("larger than the page" in k for k in counts), counts
    assert len(cached_series(name, "ohlcv")) == 0              # nothing of the reply is cached


def test_misaligned_bars_are_rejected(fake, env):
    fake.inject("misaligned", exchange_id="binance", endpoint="ohlcv", times=None)
    md = btcflow_nb.fetch(["spot:binance"] + OTHERS, since=fake.truth.start, progress=False)
    _others_load(fake, md)
    counts = md.meta["rejected"]["spot:binance"]["counts"]
    assert any("grid" in k for k in counts), counts
    cached = cached_series("spot:binance", "ohlcv")
    assert (pd.DatetimeIndex(cached["time"]).as_unit("ms").asi8 % DAY_MS == 0).all()
    assert len(cached) == 0
    assert "spot:binance" in md.meta["errors"]


def test_wrong_instrument_rejected_against_other_venues(fake, env):
    btcflow_nb.fetch(OTHERS, since=fake.truth.start, progress=False)      # peers cached
    fake.inject("wrong_instrument", exchange_id="binance", endpoint="ohlcv", times=None)
    md = btcflow_nb.fetch(["spot:binance"] + OTHERS, since=fake.truth.start, progress=False)
    _others_load(fake, md)
    counts = md.meta["rejected"]["spot:binance"]["counts"]
    assert any("asked instrument" in k for k in counts), counts
    assert len(cached_series("spot:binance", "ohlcv")) == 0
    assert "spot:binance" in md.meta["errors"]


def test_wrong_instrument_rejected_against_own_cached_closes(fake, env):
    fake.set_now(fake.truth.end - 3 * DAY_MS)
    btcflow_nb.fetch(["spot:binance"], since=fake.truth.start, progress=False)
    before = cached_series("spot:binance", "ohlcv")
    fake.set_now(fake.truth.end - 1)
    fake.inject("wrong_instrument", exchange_id="binance", endpoint="ohlcv", times=None)
    md = btcflow_nb.fetch(["spot:binance"], progress=False)
    counts = md.meta["rejected"]["spot:binance"]["counts"]
    assert any("asked instrument" in k for k in counts), counts
    after = cached_series("spot:binance", "ohlcv")
    assert len(after) == len(before)
    np.testing.assert_array_equal(after["close"].to_numpy()[:-1],
                                  before["close"].to_numpy()[:-1])


def test_persistent_empty_pages_after_bars_closed_are_reported(fake, env):
    fake.set_now(fake.truth.end - 4 * DAY_MS)
    btcflow_nb.fetch(["spot:binance"] + OTHERS, since=fake.truth.start, progress=False)
    fake.set_now(fake.truth.end - 1)
    fake.inject("empty", exchange_id="binance", endpoint="ohlcv", times=None)
    md = btcflow_nb.fetch(["spot:binance"] + OTHERS, progress=False)
    assert md.meta["errors"] != {}
    assert "no new rows" in md.meta["errors"]["spot:binance"]
    _others_load(fake, md)


def test_persistent_junk_replies_are_reported(fake, env):
    fake.inject("malformed", exchange_id="binance", endpoint="ohlcv", times=None)
    md = btcflow_nb.fetch(["spot:binance"] + OTHERS, since=fake.truth.start, progress=False)
    assert "spot:binance" in md.meta["errors"]
    _others_load(fake, md)


def test_poisoned_row_already_cached_is_moved_out_of_the_file_once(fake, env):
    names = ["spot:binance", "perp:binance"] + OTHERS
    btcflow_nb.fetch(names, since=fake.truth.start, progress=False)
    root = cache_root()
    spot, perp = BY_NAME["spot:binance"], BY_NAME["perp:binance"]
    frame = cached_series("spot:binance", "ohlcv")
    frame.loc[1, "close"] = -5.0                  # written before validation existed
    write_series(series_path(root, "ohlcv", spot, "1d"), frame, "ohlcv", spot, "1d")
    funding = cached_series("perp:binance", "funding")
    funding.loc[0, "rate"] = np.inf
    write_series(series_path(root, "funding", perp), funding, "funding", perp)
    oi = cached_series("perp:binance", "open_interest")
    oi.loc[0, "oi_base"] = -1.0
    write_series(series_path(root, "open_interest", perp), oi, "open_interest", perp)
    md = btcflow_nb.from_cache(names)
    _others_load(fake, md)
    assert len(md.spot["binance"].dropna()) == len(frame) - 1
    assert (md.spot["binance"].dropna() > 0).all()
    assert np.isfinite(md.funding["rate"]).all()
    assert len(md.funding[md.funding["venue"] == "binance"]) == len(funding) - 1
    assert (md.open_interest["oi_btc"].dropna() >= 0).all()
    assert set(md.meta["rejected"]) >= {"spot:binance", "perp:binance"}
    assert sum("dropped" in n and "moved out of the file" in n for n in md.meta["notes"]) == 3
    # the files were rewritten without the rows, which are kept beside them (nothing lost)
    for venue, series, tf, bad in ((spot, "ohlcv", "1d", ("close", -5.0)),
                                   (perp, "funding", None, ("rate", np.inf)),
                                   (perp, "open_interest", None, ("oi_base", -1.0))):
        path = series_path(root, series, venue, tf)
        kept, _ = read_series(path, series, venue, tf)
        assert not (kept[bad[0]] == bad[1]).any()
        aside = list(path.parent.glob(f"{path.name}.rejected-*"))
        assert len(aside) == 1
        removed, _ = read_series(aside[0], series, venue, tf)
        assert len(removed) == 1 and removed[bad[0]].iloc[0] == bad[1]
    # reported once: the next read finds clean files
    again = btcflow_nb.from_cache(names)
    assert not any("dropped" in n for n in again.meta["notes"])
    assert "spot:binance" not in again.meta["rejected"]
    assert "perp:binance" not in again.meta["rejected"]
    # a fetch asking from before the hole fills it from the venue: the true row is back
    md = btcflow_nb.fetch(names, since=fake.truth.start, progress=False)
    _others_load(fake, md)
    assert len(md.funding[md.funding["venue"] == "binance"]) == len(funding)


# ---- the pure checks ---------------------------------------------------------------------------

def _ohlcv(times, closes):
    t = pd.to_datetime(np.asarray(times, dtype="int64"), unit="ms", utc=True).as_unit("ms")
    c = np.asarray(closes, dtype="float64")
    return pd.DataFrame({"time": t, "open": c, "high": c, "low": c, "close": c,
                         "volume": np.ones(len(c))})


def test_check_page_rejects_more_rows_than_asked():
    checks.check_page(1000, 1000, "x")
    with pytest.raises(checks.ReplyRejected, match="30000 rows"):
        checks.check_page(30_000, 1000, "x")


def test_check_ohlcv_rules():
    rej = checks.Rejected()
    t0 = 1_700_006_400_000 // DAY_MS * DAY_MS
    good = _ohlcv([t0, t0 + DAY_MS, t0 + 2 * DAY_MS], [60000, 61000, 62000])
    assert len(checks.check_ohlcv(good, DAY_MS, rej)) == 3 and not rej
    bad = _ohlcv([t0, t0 + DAY_MS, t0 + 2 * DAY_MS, t0 + 3 * DAY_MS],
                 [60000, 0.0, np.inf, -1.0])
    assert len(checks.check_ohlcv(bad, DAY_MS, rej)) == 1
    assert sum(rej.counts.values()) == 3
    rej = checks.Rejected()
    seconds = _ohlcv([t0 + 1000 * (i + 1) for i in range(5)], [60000] * 5)
    assert len(checks.check_ohlcv(seconds, DAY_MS, rej)) == 0
    # a venue whose days start at 16:00 UTC (UTC+8 midnight) is on its own grid
    rej = checks.Rejected()
    utc8 = _ohlcv([t0 + 16 * HOUR_MS + i * DAY_MS for i in range(3)], [60000] * 3)
    assert len(checks.check_ohlcv(utc8, DAY_MS, rej)) == 3 and not rej
    # ETH-scale closes against peers of the same bars
    peers = pd.DataFrame({"a": [60000.0, 61000.0, 62000.0]},
                         index=pd.to_datetime([t0, t0 + DAY_MS, t0 + 2 * DAY_MS], unit="ms",
                                              utc=True))
    rej = checks.Rejected()
    eth = _ohlcv([t0, t0 + DAY_MS, t0 + 2 * DAY_MS], [3000, 3050, 3100])
    assert len(checks.check_ohlcv(eth, DAY_MS, rej, peers=peers)) == 0
    assert len(checks.check_ohlcv(good, DAY_MS, checks.Rejected(), peers=peers)) == 3


def test_check_funding_and_oi():
    venue = BY_NAME["perp:binance"]
    t = pd.to_datetime([0, 1, 2, 3], unit="ms", utc=True).as_unit("ms")
    f = pd.DataFrame({"time": t, "rate": [1e-4, 0.5, np.inf, np.nan], "interval_hours": 8.0})
    rej = checks.Rejected()
    assert list(checks.check_funding(f, venue, rej)["rate"]) == [1e-4]
    oi = pd.DataFrame({"time": t, "oi_base": [1.0, -1.0, np.nan, np.inf],
                       "oi_value": [np.nan, 1.0, 5.0, 1.0], "value_currency": "USD",
                       "kind": "history"})
    rej = checks.Rejected()
    kept = checks.check_oi(oi, rej)
    assert list(kept["oi_value"].fillna(-9)) == [-9, 5.0]
    assert sum(rej.counts.values()) == 2


def test_reply_bytes_are_capped(fake, env, monkeypatch):
    from btcflow_nb.sources import exchanges

    monkeypatch.setattr(exchanges, "MAX_REPLY_BYTES", 20_000)
    fake.inject("oversized", exchange_id="htx", endpoint="ohlcv", times=None)
    md = btcflow_nb.fetch(["perp:htx"] + OTHERS, since=fake.truth.start, progress=False)
    _others_load(fake, md)
    assert "capped at 20000 bytes" in md.meta["errors"]["perp:htx"]
    assert len(cached_series("perp:htx", "ohlcv")) == 0


# ---- a first fetch into an empty cache: no reference but the other venues of the run ----------

def test_wrong_instrument_on_a_first_fetch_is_nevercached_series(fake, env):
    """Nothing is cached yet: the venue serving ETH-scale candles is judged against the other
    venues fetched in the same run (its OHLCV write waits for them) and nothing of it is
    cached; the real venues are."""
    fake.inject("wrong_instrument", exchange_id="binance", endpoint="ohlcv", times=None)
    md = btcflow_nb.fetch(["spot:binance"] + OTHERS, since=fake.truth.start, progress=False)
    _others_load(fake, md)
    counts = md.meta["rejected"]["spot:binance"]["counts"]
    assert any("first fetch" in k for k in counts), counts
    assert len(cached_series("spot:binance", "ohlcv")) == 0
    assert "spot:binance" in md.meta["errors"] and "asked instrument" in \
        md.meta["errors"]["spot:binance"]
    assert md.spot is None or "binance" not in md.spot.columns


def test_a_venue_alone_on_a_first_fetch_iscached_series(fake, env):
    """No peer at all (one venue selected, empty cache): nothing to judge against, the bars
    are cached -- and then serve as the reference for the next venue's first fetch."""
    md = btcflow_nb.fetch(["spot:coinbase"], since=fake.truth.start, progress=False)
    assert md.meta["errors"] == {} and len(cached_series("spot:coinbase", "ohlcv")) >= 8
    fake.inject("wrong_instrument", exchange_id="kraken", endpoint="ohlcv", times=None)
    with pytest.raises(btcflow_nb.FetchError, match="spot:kraken.*asked instrument"):
        btcflow_nb.fetch(["spot:kraken"], since=fake.truth.start, progress=False)
    assert len(cached_series("spot:kraken", "ohlcv")) == 0


def test_two_first_fetched_venues_that_disagree_are_both_held_back(fake, env):
    """Two venues, empty cache, one serving another instrument: which one is BTC cannot be
    told from two closes, so neither bar is cached and both are reported (never the wrong
    one cached)."""
    fake.inject("wrong_instrument", exchange_id="binance", endpoint="ohlcv", times=None)
    md = btcflow_nb.fetch(["spot:binance", "spot:coinbase"], since=fake.truth.start,
                          progress=False, cache_dir=env["BTCFLOW_NB_CACHE_DIR"])
    assert len(cached_series("spot:binance", "ohlcv")) == 0
    assert set(md.meta["rejected"]) >= {"spot:binance", "spot:coinbase"}


def test_check_first_fetch_rules():
    day = DAY_MS
    t = [0, day, 2 * day]
    btc = _ohlcv(t, [100.0, 101.0, 102.0])
    eth = _ohlcv(t, [5.0, 5.1, 5.2])
    found = {}
    out = checks.check_first_fetch({"a": btc, "b": btc.copy(), "x": eth}, None, found)
    assert len(out["a"]) == 3 and len(out["b"]) == 3 and len(out["x"]) == 0
    assert not found.get("a") and found["x"].counts
    # a cached peer is a reference; a bar nobody else has is kept
    peers = pd.DataFrame({"c": [100.0]}, index=pd.to_datetime([0], unit="ms", utc=True))
    out = checks.check_first_fetch({"x": eth}, peers, {})
    assert len(out["x"]) == 2                       # the two bars no peer has
    out = checks.check_first_fetch({"a": btc}, None, {})
    assert len(out["a"]) == 3                       # alone: cached


# ---- silence on funding and open interest --------------------------------------------------------

@pytest.mark.parametrize("endpoint,words", [("funding", "funding: no new rows"),
                                            ("oi_history", "open interest: no new rows"),
                                            ("oi", "open interest snapshot: binanceusdm "
                                                   "answered no open interest")])
def test_a_venue_silent_on_funding_or_open_interest_is_reported(fake, env, endpoint, words):
    """Events must exist after the cached ones (several funding intervals / OI periods have
    passed): a venue answering empty pages is reported in meta["errors"], not taken as
    success; its prices and the other series still load."""
    name = "perp:binance"
    fake.set_now(fake.truth.end - 4 * DAY_MS)
    first = btcflow_nb.fetch([name] + OTHERS, since=fake.truth.start, progress=False)
    assert first.meta["errors"] == {}
    fake.set_now(fake.truth.end - 1)
    fake.inject("empty", exchange_id="binanceusdm", endpoint=endpoint, times=None)
    md = btcflow_nb.fetch([name] + OTHERS, progress=False)
    assert words in md.meta["errors"].get(name, ""), md.meta["errors"]
    _others_load(fake, md)
    assert md.perp["binance"].dropna().index.max() >= pd.Timestamp(
        fake.truth.end - 2 * DAY_MS, unit="ms", tz="UTC")
