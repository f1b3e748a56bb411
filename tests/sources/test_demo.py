"""The bundled synthetic demo data: issue 2's list, and the shipped files equal the generator."""
from __future__ import annotations

import importlib.util
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btcflow_nb import flow_metrics, load_demo
from btcflow_nb.metrics import SIGNAL_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("spot", "perp", "funding", "open_interest", "fx")


def _generator():
    spec = importlib.util.spec_from_file_location("make_demo_data", ROOT / "scripts" / "make_demo_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated():
    return _generator().generate()


def _shipped(name: str) -> pd.DataFrame:
    with resources.as_file(resources.files("btcflow_nb") / "data" / f"demo_{name}.parquet") as p:
        return pd.read_parquet(p)


def test_meta_marks_the_data_synthetic(demo):
    assert demo.meta["source"] == "demo"
    assert demo.meta["synthetic"] is True
    assert any("SYNTHETIC" in n for n in demo.meta["notes"])
    assert "SYNTHETIC" in repr(demo)
    assert flow_metrics(demo, "1W").attrs["synthetic"] is True


def test_span_is_daily_2018_to_2025(demo):
    index = demo.spot.index.union(demo.perp.index)
    assert index[0] == pd.Timestamp("2018-01-01", tz="UTC")
    assert index[-1] == pd.Timestamp("2025-12-31", tz="UTC")
    assert len(index) == (pd.Timestamp("2025-12-31") - pd.Timestamp("2018-01-01")).days + 1
    assert demo.resolution == "1D"
    assert (index[1:] - index[:-1] == pd.Timedelta(days=1)).all()


def test_venue_counts(demo):
    assert len(demo.venues("spot")) >= 4
    assert len(demo.venues("perp")) >= 5
    assert len(demo.venues("funding")) >= 5 and len(demo.venues("open_interest")) >= 5


def test_funding_at_native_intervals_incl_1h_and_4h(demo):
    intervals = demo.funding.groupby("venue", observed=True)["interval_hours"].agg(set)
    flat = set().union(*intervals)
    assert {1.0, 4.0, 8.0} <= flat
    # native spacing: consecutive settlements of a venue are interval_hours apart (outside gaps)
    for venue, g in demo.funding.groupby("venue", observed=True):
        spacing = np.diff(pd.DatetimeIndex(g["time"]).asi8) / 3.6e9
        assert np.median(spacing) == g["interval_hours"].iloc[0], venue


def test_open_interest_starts_years_late_on_some_venues(demo):
    cov = demo.coverage().set_index(["field", "venue"])
    start = pd.Timestamp("2018-01-01", tz="UTC")
    late_vs_dataset = [v for v in demo.venues("open_interest")
                       if cov.loc[("open_interest", v), "first"] - start >= pd.Timedelta(days=3 * 365)]
    assert len(late_vs_dataset) >= 2
    late_vs_prices = [v for v in demo.venues("open_interest") if v in demo.venues("perp") and
                      cov.loc[("open_interest", v), "first"] - cov.loc[("perp", v), "first"]
                      >= pd.Timedelta(days=2 * 365)]
    assert late_vs_prices  # OI history shallower than the venue's price history


def test_gaps_exist_in_prices_funding_and_oi(demo):
    cov = demo.coverage()
    for field in ("spot", "funding", "open_interest"):
        assert (cov.loc[cov["field"] == field, "gaps"] > 0).any(), field


def test_usdt_usd_series_and_conversion(demo):
    usdt = demo.fx["USDT"]
    assert usdt.index[0] <= pd.Timestamp("2018-01-01", tz="UTC")
    assert usdt.index[-1] >= pd.Timestamp("2025-12-31", tz="UTC")
    assert usdt.between(0.9, 1.1).all() and usdt.min() < 0.99  # a depeg episode
    conv = demo.meta["quote_conversion"]
    assert any("USDT converted to USD" in v for v in conv.values())
    assert not any("raw" in v for v in conv.values())


def test_every_signal_fires_with_default_settings(demo_metrics_1d):
    counts = demo_metrics_1d[list(SIGNAL_COLUMNS)].sum()
    assert (counts > 0).all(), counts.to_dict()


def test_load_demo_returns_independent_objects():
    a = load_demo()
    before = a.spot.iloc[0, 0]
    a.spot.iloc[0, 0] = 1.0
    a.meta["notes"].append("edited")
    b = load_demo()
    assert b.spot.iloc[0, 0] == before
    assert "edited" not in b.meta["notes"]


def test_shipped_files_equal_the_generator(generated):
    for name in NAMES:
        pd.testing.assert_frame_equal(_shipped(name), generated[name], check_freq=False, obj=name)
    shipped_meta = json.loads((resources.files("btcflow_nb") / "data" / "demo_meta.json").read_text())
    assert shipped_meta == json.loads(json.dumps(generated["meta"]))


def test_generator_is_deterministic_and_writes_atomically(generated, tmp_path):
    module = _generator()
    again = module.generate()
    for name in NAMES:
        pd.testing.assert_frame_equal(again[name], generated[name], check_freq=False, obj=name)
    written = module.write(again, tmp_path)
    assert sorted(p.name for p in written) == sorted([f"demo_{n}.parquet" for n in NAMES] + ["demo_meta.json"])
    assert not list(tmp_path.glob("*.tmp"))
    assert module.main(["--check", "--out", str(tmp_path)]) == 0
    # --check notices a difference
    broken = again["spot"].copy()
    broken.iloc[5, 0] += 1.0
    broken.to_parquet(tmp_path / "demo_spot.parquet")
    with pytest.raises(AssertionError):
        module.main(["--check", "--out", str(tmp_path)])
