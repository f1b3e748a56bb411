"""Long-frame validation on integer codes (issue 15) keeps the rules and messages of the
row-by-row version: interleaved venues, categorical input, the first offending venue named."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btcflow_nb.marketdata import MarketData

T = pd.Timestamp


def _funding(rows, categorical=False):
    f = pd.DataFrame(rows, columns=["venue", "time", "rate", "interval_hours"])
    f["time"] = pd.to_datetime(f["time"], utc=True)
    if categorical:   # unsorted categories, one unused
        f["venue"] = pd.Categorical(f["venue"], categories=["zz", "b", "a"])
    return f


def test_interleaved_venues_out_of_order_names_the_first_seen_venue():
    f = _funding([("b", "2024-01-02", 1e-4, 8.0), ("a", "2024-01-03", 1e-4, 8.0),
                  ("b", "2024-01-01", 1e-4, 8.0), ("a", "2024-01-01", 1e-4, 8.0)])
    with pytest.raises(ValueError) as e:
        MarketData.from_frames(funding=f)
    msg = str(e.value)
    assert "funding for venue 'b' is not in time order" in msg
    assert "(2024-01-01 00:00:00+00:00 comes after 2024-01-02 00:00:00+00:00)" in msg


@pytest.mark.parametrize("categorical", [False, True])
def test_interleaved_input_sorted_by_venue_then_time_with_sorted_categories(categorical):
    f = _funding([("b", "2024-01-01", 1e-4, 8.0), ("a", "2024-01-01", 2e-4, 8.0),
                  ("b", "2024-01-02", 3e-4, 8.0), ("a", "2024-01-02", 4e-4, 8.0)], categorical)
    out = MarketData.from_frames(funding=f).funding
    assert out["venue"].tolist() == ["a", "a", "b", "b"]
    assert list(out["venue"].cat.categories) == ["a", "b"]
    assert out["rate"].tolist() == [2e-4, 4e-4, 1e-4, 3e-4]
    assert out.index.tolist() == [0, 1, 2, 3]


def test_duplicate_across_interleaved_rows_still_collapses_or_raises():
    row = ("a", "2024-01-01", 1e-4, 8.0)
    f = _funding([row, ("b", "2024-01-01", 1e-4, 8.0), row])
    assert len(MarketData.from_frames(funding=f).funding) == 2
    with pytest.raises(ValueError, match="conflicting duplicate rows for venue 'a'"):
        MarketData.from_frames(funding=_funding([row, ("b", "2024-01-01", 1e-4, 8.0),
                                                 ("a", "2024-01-01", 2e-4, 8.0)]))


def test_a_categorical_source_is_judged_like_its_labels():
    """A ``source`` column given as a categorical (what `from_cache` assembles) is checked by
    its codes: the same rows, labels and errors as the same labels as objects."""
    from btcflow_nb._frames import distinct

    labels = ["ccxt", np.nan, "archive:x", "ccxt", "file:y"]
    cat = pd.Series(pd.Categorical(labels, categories=["file:y", "ccxt", "archive:x"]))
    assert distinct(cat)[0] == "ccxt" and pd.isna(distinct(cat)[1])
    assert distinct(cat)[2:] == ["archive:x", "file:y"]
    f = _funding([("a", f"2024-01-0{i + 1}", 1e-4, 8.0) for i in range(5)])
    for bad in (labels, ["ccxt", "bogus", "ccxt", "ccxt", "ccxt"]):
        errors = []
        for source in (pd.Series(bad, dtype=object), pd.Series(pd.Categorical(bad))):
            with pytest.raises(ValueError) as e:
                MarketData.from_frames(funding=f.assign(source=source))
            errors.append(str(e.value))
        assert errors[0] == errors[1] and "column 'source'" in errors[0]
    good = ["ccxt", "archive:x", "ccxt", "file:y", "ccxt"]
    outs = [MarketData.from_frames(funding=f.assign(source=s)).funding["source"]
            for s in (pd.Series(good, dtype=object), pd.Series(pd.Categorical(good)))]
    pd.testing.assert_series_equal(outs[0], outs[1])
    one = [MarketData.from_frames(funding=f.assign(source=s)).funding["source"]
           for s in (pd.Series(["ccxt"] * 5, dtype=object),
                     pd.Series(pd.Categorical(["ccxt"] * 5)))]
    pd.testing.assert_series_equal(one[0], one[1])
