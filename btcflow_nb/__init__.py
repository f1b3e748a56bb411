"""btcflow-nb: read Bitcoin derivatives flow in Jupyter.

Spot premium against a basket of perpetual futures, aggregated open interest, composite
funding, and the signals built on them.

>>> import btcflow_nb as bf
>>> md = bf.load()                           # cache (refreshed when online), else the demo
>>> print(bf.load_summary(md))               # what was loaded, how fresh, why
>>> m = bf.flow_metrics(md, timeframe="1W")  # one row per weekly bar
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "MarketData",
    "load",
    "load_summary",
    "load_demo",
    "flow_metrics",
    "explain",
    "fetch",
    "FetchError",
    "from_cache",
    "indicators",
    "signals",
    "study",
    "TIMEFRAMES",
]


def __getattr__(name):  # lazy: keep `import btcflow_nb` cheap (ccxt, widgets load on first use)
    if name == "MarketData":
        from .marketdata import MarketData
        return MarketData
    if name == "TIMEFRAMES":
        from .timeframes import TIMEFRAMES
        return TIMEFRAMES
    if name in ("load", "load_summary", "load_demo"):
        from . import sources
        return getattr(sources, name)
    if name == "flow_metrics":
        from .metrics import flow_metrics
        return flow_metrics
    if name == "explain":
        from .explanation import explain
        return explain
    if name == "fetch":
        from .sources import fetch
        return fetch
    if name == "FetchError":
        from .sources import FetchError
        return FetchError
    if name == "from_cache":
        from .sources import from_cache
        return from_cache
    if name in ("indicators", "signals", "study", "dashboard"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'btcflow_nb' has no attribute {name!r}")
