"""SignalStudyPanel driven without a browser: controls in, marks and table out."""
from __future__ import annotations

import numpy as np
import pytest

import btcflow_nb.dashboard as dashboard
from btcflow_nb import study as study_module
from btcflow_nb.dashboard import SignalStudyPanel
from btcflow_nb.dashboard.study import parse_horizons
from btcflow_nb.study import SYNTHETIC_NOTE, study

N_BOOT = 200


@pytest.fixture
def panel(demo):
    return SignalStudyPanel(demo, n_boot=N_BOOT)


def assert_panel_shows(panel, md, timeframe, signal, horizons):
    ref = study(md, timeframe, signal, horizons, n_boot=N_BOOT, seed=0)
    path = ref.paths
    mk = panel.marks
    k = path["bars"].to_numpy(dtype=float)
    np.testing.assert_array_equal(np.asarray(mk["mean"].x, dtype=float), k)
    np.testing.assert_allclose(np.asarray(mk["mean"].y, dtype=float), path["mean"], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(mk["all_bars"].y, dtype=float), path["all_bars"],
                               rtol=1e-12)
    band = np.asarray(mk["band"].y, dtype=float)
    np.testing.assert_allclose(band, np.vstack([path["low"], path["high"]]), rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(mk["horizons"].x, dtype=float),
                                  [h for h in horizons if np.isfinite(path["mean"].iloc[h])])
    for _, row in ref.summary.iterrows():
        assert f"<td>{row['horizon']}</td>" in panel.table.value
        assert f"{row['mean']:+.2f}" in panel.table.value
    assert f"{signal} at {timeframe}" in panel.figure.title
    assert panel.result.summary.equals(ref.summary)


def test_the_panel_shows_the_study_of_its_controls(panel, demo):
    assert repr(panel) == ("SignalStudyPanel(source='demo', timeframe='1W', signal='cycle_top', "
                           "horizons=(1, 4, 12))")
    assert_panel_shows(panel, demo, "1W", "cycle_top", (1, 4, 12))
    assert SYNTHETIC_NOTE.split(":")[0] in panel.notes.value
    n = int(panel.result.summary["n"].min())
    assert (f"cycle_top: only {n} onsets" in panel.notes.value) == (n < 10)
    assert panel.status.value == "" and panel.errors.outputs == ()


def test_changing_controls_updates_the_same_marks_and_the_table(panel, demo):
    marks = dict(panel.marks)
    figure_marks = list(panel.figure.marks)
    old_mean, old_table = list(panel.marks["mean"].y), panel.table.value
    panel.controls["signal"].value = "bullish"
    assert_panel_shows(panel, demo, "1W", "bullish", (1, 4, 12))
    assert list(panel.marks["mean"].y) != old_mean and panel.table.value != old_table
    panel.controls["horizons"].value = "2, 6"
    assert_panel_shows(panel, demo, "1W", "bullish", (2, 6))
    assert len(panel.marks["mean"].x) == 7
    panel.controls["timeframe"].value = "3D"
    assert_panel_shows(panel, demo, "3D", "bullish", (2, 6))
    assert panel.marks == marks and list(panel.figure.marks) == figure_marks  # in place


def test_bad_horizons_show_a_message_and_the_controls_match_the_chart(panel, demo):
    before = list(panel.marks["mean"].y)
    panel.controls["horizons"].value = "4, 0"
    assert "horizon 0 is not valid" in panel.status.value
    assert panel.controls["horizons"].value == "1, 4, 12"      # back to what is drawn
    assert list(panel.marks["mean"].y) == before
    panel.controls["horizons"].value = "8"                      # a good value clears it
    assert panel.status.value == ""
    assert_panel_shows(panel, demo, "1W", "cycle_top", (8,))


def test_unexpected_errors_go_to_the_visible_output(panel, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(study_module, "study", boom)
    panel.controls["signal"].value = "bearish"
    assert "RuntimeError" in panel.status.value
    assert "kaboom" in "".join(o.get("text", "") for o in panel.errors.outputs)
    assert panel.controls["signal"].value == "cycle_top"


def test_parse_horizons_and_constructor_errors(demo):
    assert parse_horizons("12, 1 4") == (1, 4, 12)
    for text in ("", "1.5", "-2", "a"):
        with pytest.raises(ValueError, match="positive whole numbers"):
            parse_horizons(text)
    with pytest.raises(ValueError, match="valid choices"):
        SignalStudyPanel(demo, signal="nope")
    with pytest.raises(ValueError, match="choose one of"):
        SignalStudyPanel(demo, timeframe="1h")
    with pytest.raises(ValueError, match="positive whole numbers"):
        SignalStudyPanel(demo, horizons=(0,))
    assert "SignalStudyPanel" in dashboard.__all__
