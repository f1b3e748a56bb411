"""One funding event, two sources: Binance's API stamps a settlement a few ms after the instant
(the fake's `binanceusdm.stamped`, as ccxt PR #12232 shows: fundingTime ...018), its archive's
``calc_time`` is the instant itself.  Imported and fetched rows of the same event must become
one row (the ccxt one, by precedence), in either order, never two events ms apart."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import btcflow_nb
from btcflow_nb.sources.assemble import from_cache
from btcflow_nb.sources.cache import cache_root, read_series, series_path
from btcflow_nb.sources.imports import import_binance
from btcflow_nb.sources.venues import resolve_venues
from btcflow_nb.testing.fake_archive import FakeArchive
from btcflow_nb.testing.fake_exchange import DAY_MS, FakeExchange, Truth
from btcflow_nb.testing.fake_exchange.dialects.binanceusdm import stamped


@pytest.fixture()
def services(tmp_path, monkeypatch):
    truth = Truth.recent(75)
    with FakeExchange(truth) as fake:
        for k, v in fake.env(tmp_path).items():
            monkeypatch.setenv(k, v)
        now = pd.Timestamp(fake.now_ms, unit="ms", tz="UTC")
        month = (now.normalize().replace(day=1) - pd.Timedelta(days=1)).replace(day=1)
        with FakeArchive(now=now.isoformat()) as archive:
            yield fake, archive, month


def _import_month(archive, month):
    end = (month + pd.offsets.MonthEnd(1)).replace(hour=23, minute=59)
    return import_binance("fundingRate", "BTCUSDT", "um", month.isoformat(), end.isoformat(),
                          base=archive.url, now=archive.now)


def _events(month):
    """(the month's cached funding rows of perp:binance, every cached funding time)."""
    v = resolve_venues(["perp:binance"])[0]
    f, _ = read_series(series_path(cache_root(), "funding", v), "funding", v)
    t = pd.DatetimeIndex(f["time"])
    inside = (t >= month) & (t < month + pd.offsets.MonthBegin(1))
    return f[inside], t


def _assert_one_row_per_settlement(f, all_times, month):
    days = (month + pd.offsets.MonthBegin(1) - month).days
    assert len(f) == 3 * days                                    # 00, 08, 16 UTC
    assert (pd.DatetimeIndex(f["time"]).as_unit("ms").asi8 % 3_600_000 == 0).all()
    gaps = np.diff(all_times.as_unit("ms").asi8)
    assert gaps.min() >= 3_600_000, "two funding events less than an hour apart"
    assert set(f["source"]) == {"ccxt"}                          # ccxt > archive


def test_the_fake_api_really_stamps_settlements_late():
    t = np.array([1_643_932_800_000, 1_643_961_600_000])
    assert ((stamped(t) - t) > 0).all() and ((stamped(t) - t) < 1000).all()


def test_fetch_then_import_the_same_month_keeps_one_row_per_event(services):
    fake, archive, month = services
    md = btcflow_nb.fetch(["perp:binance"], since=month.isoformat(), progress=False)
    assert md.meta["errors"] == {}
    report = _import_month(archive, month)[0]
    assert report.rows > 0 and report.added == 0       # every event was already there
    f, times = _events(month)
    _assert_one_row_per_settlement(f, times, month)
    md = from_cache(["perp:binance"])                   # and so in MarketData
    t = pd.DatetimeIndex(md.funding.loc[md.funding["venue"] == "binance", "time"])
    assert t.is_unique and np.diff(t.as_unit("ms").asi8).min() >= 3_600_000


def test_import_then_fetch_the_overlapping_range_keeps_one_row_per_event(services):
    fake, archive, month = services
    _import_month(archive, month)
    f, _ = _events(month)
    assert set(f["source"]) == {"archive:binance"}
    md = btcflow_nb.fetch(["perp:binance"], since=(month - pd.Timedelta(days=3)).isoformat(),
                          progress=False)
    assert md.meta["errors"] == {}
    f, times = _events(month)
    # the month's rows stay the archive's except the fetch's boundary event(s), which replace
    # theirs by precedence instead of sitting ms beside them
    days = (month + pd.offsets.MonthBegin(1) - month).days
    assert len(f) == 3 * days
    assert np.diff(times.as_unit("ms").asi8).min() >= 3_600_000
    last = pd.DatetimeIndex(f["time"]).max()
    assert f.loc[pd.DatetimeIndex(f["time"]) == last, "source"].tolist() == ["ccxt"]
    assert fake.now_ms - DAY_MS < int(times.as_unit("ms").asi8.max()) <= fake.now_ms
