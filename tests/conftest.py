"""Shared fixtures. Keep this file small: add a fixture here only if several test files use it."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo():
    """The bundled synthetic demo MarketData (shared: never mutate it in a test)."""
    from btcflow_nb import load_demo

    return load_demo()


@pytest.fixture(scope="session")
def demo_metrics_1d(demo):
    """``flow_metrics(demo, "1D")`` with every default (shared: never mutate it)."""
    from btcflow_nb import flow_metrics

    return flow_metrics(demo, "1D")
