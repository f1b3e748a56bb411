"""BitMEX (gone from ccxt) only through import: the registry knows ``perp:bitmex`` as an
import-only venue; a long-format file brings its history into the cache and `MarketData`
with its provenance; `fetch` never asks it (and refuses it by name), and a later fetch of the
other venues leaves its rows alone."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import btcflow_nb
from btcflow_nb.sources.assemble import from_cache
from btcflow_nb.sources.imports import import_file
from btcflow_nb.sources.venues import DEFAULT_VENUES, registry, resolve_venues
from btcflow_nb.testing.fake_exchange import FakeExchange, Truth


def _bitmex_csv(path, days):
    """A generic long-format export of BitMEX XBTUSD: daily closes, 8-hourly funding (the
    rate as the fraction paid per interval), daily OI in USD (1 USD per contract) sampled at
    each day's end."""
    rows = []
    for i, d in enumerate(days):
        rows.append({"venue": "perp:bitmex", "time": d.isoformat(), "close": 9000.0 + i})
        rows.append({"venue": "perp:bitmex", "time": (d + pd.Timedelta(days=1)).isoformat(),
                     "oi_usd": 1e9 + 1e6 * i})     # at the day's end: BTC = USD / its close
        for h in (0, 8, 16):
            rows.append({"venue": "perp:bitmex", "time": (d + pd.Timedelta(hours=h)).isoformat(),
                         "rate": 1e-4 * (1 + i % 3), "interval_hours": 8.0})
    pd.DataFrame(rows).to_csv(path, index=False)


def test_bitmex_is_an_import_only_venue_of_the_registry():
    bitmex = {v.name: v for v in registry()}["perp:bitmex"]
    assert bitmex.import_only and bitmex.contract == "inverse"
    assert "perp:bitmex" not in {v.name for v in DEFAULT_VENUES}
    assert not hasattr(__import__("ccxt"), "bitmex")        # why it is import only
    assert resolve_venues(["bitmex"]) == [bitmex]


def test_fetch_refuses_it_by_name_and_skips_it_by_default(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"\['perp:bitmex'\] cannot be fetched.*import"):
        btcflow_nb.fetch(["perp:bitmex"], progress=False)
    with FakeExchange(Truth.recent(3)) as fake:
        for k, v in fake.env(tmp_path).items():
            monkeypatch.setenv(k, v)
        md = btcflow_nb.fetch(since="2D", progress=False)
        perps = btcflow_nb.fetch(["perp"], since="2D", progress=False)   # a group: skipped
        assert "bitmex" not in {r.exchange_id for r in fake.log()}
    assert "perp:bitmex" not in perps.meta["requests"] and perps.meta["errors"] == {}
    assert "perp:bitmex" not in md.meta["requests"] and md.meta["errors"] == {}


def test_imported_bitmex_history_reaches_market_data_and_survives_a_fetch(tmp_path,
                                                                          monkeypatch):
    truth = Truth.recent(10)
    with FakeExchange(truth) as fake:
        for k, v in fake.env(tmp_path).items():
            monkeypatch.setenv(k, v)
        days = pd.date_range(pd.Timestamp(truth.start, unit="ms", tz="UTC"), periods=5,
                             freq="D")
        _bitmex_csv(tmp_path / "bitmex.csv", days)
        reports = import_file(tmp_path / "bitmex.csv", "long")
        assert {(r.venue, r.series) for r in reports} == {
            ("perp:bitmex", "ohlcv"), ("perp:bitmex", "funding"), ("perp:bitmex", "open_interest")}
        btcflow_nb.fetch(since=truth.start, progress=False)
    md = from_cache()
    np.testing.assert_array_equal(md.perp["bitmex"].dropna().to_numpy(), 9000.0 + np.arange(5))
    f = md.funding[md.funding["venue"] == "bitmex"]
    assert len(f) == 15 and set(f["source"]) == {"file:bitmex.csv"}
    oi = md.open_interest[md.open_interest["venue"] == "bitmex"]
    np.testing.assert_array_equal(oi["oi_usd"].to_numpy(), 1e9 + 1e6 * np.arange(5))
    np.testing.assert_allclose(oi["oi_btc"].to_numpy(),
                               (1e9 + 1e6 * np.arange(5)) / (9000.0 + np.arange(5)))
