"""What the flow dashboard's page costs the browser (issue 15, the app's first paint): every
widget model is sent to the page and created there before the first chart, so controls that
look alike share their Layout/style models, and control tabs nobody opened hold no models.
Behaviour stays: every control acts from the start, a tab is laid out when first opened."""
from __future__ import annotations

import ipywidgets as W
import pytest
from ipywidgets.widgets.widget import _instances
from ipywidgets.widgets.widget_link import Link

from btcflow_nb.dashboard import FlowDashboard
from btcflow_nb.dashboard._controls import SharedLooks, lazy_tabs, slider_with_entry

HIDDEN_TABS = ("thresholds", "extremes (exp.)", "venues")


@pytest.fixture
def dash(demo):
    return FlowDashboard(demo, timeframe="1D", debounce_ms=0, lazy_tabs=True)


def _models() -> set[str]:
    return set(_instances)


def test_only_the_view_tab_of_the_controls_is_laid_out_at_first(dash):
    tabs = dash.control_tabs
    assert "btcflow-controls" in tabs._dom_classes and tabs.selected_index == 0
    assert list(tabs.built) == ["view"]
    for i, title in enumerate(tabs.titles):
        assert tabs.children[i].children == ((tabs.built[title],) if title == "view" else ())


def test_the_app_lays_out_tabs_lazily_and_a_notebook_dashboard_at_once(demo):
    """A notebook's dashboard may be exported as a static snapshot (no kernel to lay out a
    tab later): every tab is laid out at once unless asked otherwise; the app asks."""
    from btcflow_nb.dashboard.app import flow_app

    eager = FlowDashboard(demo, timeframe="1D", debounce_ms=0)
    tabs = eager.control_tabs
    assert list(tabs.built) == list(tabs.titles) and tabs.selected_index == 0
    assert all(tabs.children[i].children == (tabs.built[t],) for i, t in enumerate(tabs.titles))
    assert list(flow_app("source=demo", debounce_ms=0).control_tabs.built) == ["view"]


def test_opening_a_tab_lays_out_its_controls_once(dash):
    tabs = dash.control_tabs
    before = _models()
    tabs.selected_index = 1                          # thresholds
    made = _models() - before
    panel = tabs.built["thresholds"]
    assert tabs.children[1].children == (panel,) and panel.model_id in made
    shown = {w.model_id for box in panel.children if isinstance(box, W.HBox)
             for pair in box.children for w in pair.children}
    assert dash.controls["oi_hot_z"].model_id in shown             # the existing controls
    assert dash._entries["oi_hot_z"].entry.model_id in shown
    tabs.selected_index = 0
    tabs.selected_index = 1
    assert tabs.built["thresholds"] is panel                        # built once
    for i, title in enumerate(tabs.titles):
        tabs.selected_index = i
        assert tabs.children[i].children == (tabs.built[title],)
    assert dash.controls["spot_venues"] in tabs.built["venues"].children


def test_controls_of_an_unopened_tab_act_from_the_start(dash):
    assert all(t not in dash.control_tabs.built for t in HIDDEN_TABS)
    dash.controls["oi_hot_z"].value = 1.0
    assert dash.params()["oi_hot_z"] == 1.0
    assert set(dash.marks["oi_hot"].y) == {1.0}
    spot = dash.controls["spot_venues"]
    spot.value = spot.options[:1]
    assert dash.params()["spot_venues"] == list(spot.options[:1])


def test_alike_controls_share_their_layout_and_style_models(dash):
    entries = [box.entry for box in dash._entries.values()]
    sliders = [box.children[0] for box in dash._entries.values()]
    assert len(entries) >= 10
    assert len({id(e.layout) for e in entries}) == 1 and len({id(e.style) for e in entries}) == 1
    assert len({id(s.layout) for s in sliders}) == 1 and len({id(s.style) for s in sliders}) == 1
    assert sliders[0].layout.width == "400px" and sliders[0].style.description_width == "120px"
    buttons = dash.controls["perp_venues"].children[1:]
    assert len(buttons) >= 2 and len({id(b.layout) for b in buttons}) == 1


def test_a_slider_and_its_entry_have_one_front_end_link(dash):
    """value is linked in the browser; min/max change only in Python and reach the entry
    there (three ``jslink`` models per slider before)."""
    before = _models()
    looks = SharedLooks()
    slider = W.IntSlider(value=5, min=0, max=10, layout=looks.layout(width="400px"))
    box = slider_with_entry(slider, "400px", looks)
    links = [_instances[m] for m in _models() - before if isinstance(_instances[m], Link)]
    assert [(ln.source[1], ln.target[1]) for ln in links] == [("value", "value")]
    slider.max = 50
    slider.value = 40
    assert (box.entry.max, box.entry.value) == (50, 40)
    box.entry.value = 7
    assert slider.value == 7


def test_lazy_tabs_show_a_failed_build_in_the_tab_or_the_guard():
    def broken():
        raise RuntimeError("no data for this view")

    tabs = lazy_tabs({"a": lambda: W.HTML("a"), "b": broken}, selected=None)
    assert tabs.selected_index is None and tabs.built == {}
    tabs.selected_index = 1
    assert "RuntimeError: no data for this view" in tabs.children[1].children[0].value
