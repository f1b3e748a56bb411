"""Test and benchmark helpers shipped with the package (importable without pytest).

`btcflow_nb.testing.fake_exchange.FakeExchange` is a local HTTP server speaking the default
venues' own REST formats from a deterministic generated truth, with fault injection.
"""
from .fake_exchange import FakeExchange, Fault, RequestRecord, Truth

__all__ = ["FakeExchange", "Fault", "RequestRecord", "Truth"]
