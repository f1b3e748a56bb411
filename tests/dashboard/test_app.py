"""The Voila app (issue 14): data source from the URL or the environment, one place for the
server's options (idle kernels culled), a page that is only the dashboard."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from btcflow_nb.dashboard import FlowDashboard
from btcflow_nb.dashboard.app import (APP_NOTEBOOK, SOURCES, VOILA_ARGS, flow_app,
                                      source_from_query, voila_command)

ROOT = Path(__file__).resolve().parents[2]


def test_source_comes_from_the_url_parameter():
    assert source_from_query("source=demo") == "demo"
    assert source_from_query("x=1&source=Cache") == "cache"
    assert source_from_query("") is None and source_from_query(None) is None
    with pytest.raises(ValueError, match="'nope' is not a data source; choose one of auto, "
                                         "cache, live, demo"):
        source_from_query("source=nope")
    assert SOURCES == ("auto", "cache", "live", "demo")


def test_the_app_is_the_dashboard_on_the_source_the_url_asks_for(monkeypatch):
    monkeypatch.setenv("BTCFLOW_NB_SOURCE", "live")     # the URL wins over the environment
    page = flow_app("source=demo", debounce_ms=0)
    assert isinstance(page, FlowDashboard) and page.meta["source"] == "demo"
    assert "btcflow-app" in page._dom_classes


def test_the_environment_chooses_without_a_url_parameter(monkeypatch):
    monkeypatch.setenv("BTCFLOW_NB_SOURCE", "demo")
    monkeypatch.delenv("QUERY_STRING", raising=False)
    assert flow_app(debounce_ms=0).meta["source"] == "demo"


def test_a_bad_url_parameter_gives_a_page_that_says_so():
    page = flow_app("source=bogus")
    assert "is not a data source" in page.value and "auto, cache, live, demo" in page.value


def test_voila_options_cull_idle_kernels_and_stay_on_loopback():
    command = voila_command("app.ipynb", port=9999, python="py")
    assert command[:2] == ["py", "-c"] and "from voila.app import main" in command[2]
    assert command[-1] == "app.ipynb"
    assert "--Voila.ip=127.0.0.1" in command and "--port=9999" in command
    assert "--MappingKernelManager.cull_idle_timeout=300" in VOILA_ARGS
    assert "--MappingKernelManager.cull_connected=False" in VOILA_ARGS
    assert "--VoilaConfiguration.extension_denylist=['jupyterlab_pygments']" in VOILA_ARGS


def test_the_app_notebook_is_thin_has_a_title_and_no_prose():
    nb = json.loads((ROOT / APP_NOTEBOOK).read_text(encoding="utf-8"))
    assert nb["metadata"]["title"] == "BTC flow dashboard"      # the page's <title>
    assert [c["cell_type"] for c in nb["cells"]] == ["code"]     # no Markdown prose
    code = "".join(nb["cells"][0]["source"])
    assert "flow_app()" in code and len(code.splitlines()) <= 5


def test_the_app_has_the_venue_views_in_tabs_built_when_first_selected():
    """Below the flow dashboard: OI by venue, funding spend, term structure -- nothing built
    until a tab is selected (first paint = the flow dashboard), then each panel on the app's
    data with its marks drawn, built once."""
    from btcflow_nb.dashboard import FundingSpendPanel, OpenInterestPanel
    from btcflow_nb.dashboard.app import MORE_VIEWS
    from btcflow_nb.dashboard.term_structure import TermStructurePanel

    page = flow_app("source=demo", debounce_ms=0)
    tabs = page.more_views
    assert page.children[-1] is tabs and tabs.selected_index is None and tabs.views == {}
    assert list(tabs.titles) == list(MORE_VIEWS)
    for i, cls in enumerate((OpenInterestPanel, FundingSpendPanel, TermStructurePanel)):
        tabs.selected_index = i
        view = tabs.views[MORE_VIEWS[i]]
        assert isinstance(view, cls) and tabs.children[i].children == (view,)
        if cls is not TermStructurePanel:                      # the app's data, not a reload
            assert view.md is page.md
        assert all(len(m.x) > 0 for name, m in view.marks.items() if name != "then")
    first = tabs.views[MORE_VIEWS[0]]
    tabs.selected_index = 0
    assert tabs.views[MORE_VIEWS[0]] is first                  # built once


def test_a_view_that_cannot_be_built_says_why_in_its_tab():
    from btcflow_nb.dashboard.app import more_views
    from btcflow_nb.marketdata import MarketData
    from btcflow_nb.sources.demo import load_demo

    demo = load_demo()
    tabs = more_views(MarketData.from_frames(spot=demo.spot, perp=demo.perp), debounce_ms=0)
    tabs.selected_index = 2
    assert "no dated futures" in tabs.children[2].children[0].value


def test_voila_options_preheat_a_kernel_pool():
    assert "--preheat_kernel=True" in VOILA_ARGS and "--pool_size=1" in VOILA_ARGS


@pytest.mark.parametrize("query, loads, shown", [
    ("", ["env"], "demo"),                       # no ?source=: the preheated dashboard
    ("source=demo", ["env"], "demo"),            # the source it was preheated with
    ("source=cache", ["env", "cache"], "cache"),  # another source: rebuilt for the URL
])
def test_a_preheated_kernel_builds_first_then_follows_the_url(monkeypatch, query, loads,
                                                              shown):
    import voila.utils

    import importlib

    from btcflow_nb.sources.demo import load_demo

    calls = []

    def fake_load(source=None, **kw):       # records which source each build asked for
        calls.append(source or "env")
        md = load_demo()
        md.meta["source"] = source or "demo"
        return md

    monkeypatch.setenv("VOILA_PREHEAT", "True")
    monkeypatch.setenv("BTCFLOW_NB_SOURCE", "demo")
    monkeypatch.setattr(importlib.import_module("btcflow_nb.sources.load"), "load", fake_load)
    monkeypatch.setattr(voila.utils, "get_query_string", lambda url=None: calls.append("wait")
                        or query)
    page = flow_app(debounce_ms=0)
    assert calls[0] == "env" and calls[1] == "wait"       # built before the request arrived
    assert [c for c in calls if c != "wait"] == loads
    assert page.meta["source"] == shown


def test_a_preheated_kernel_shows_a_bad_url_parameter(monkeypatch):
    import voila.utils

    monkeypatch.setenv("VOILA_PREHEAT", "True")
    monkeypatch.setenv("BTCFLOW_NB_SOURCE", "demo")
    monkeypatch.setattr(voila.utils, "get_query_string", lambda url=None: "source=bogus")
    page = flow_app(debounce_ms=0)
    assert "is not a data source" in page.value
