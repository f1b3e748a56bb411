"""The public surface of btcflow_nb.indicators: every exported name is documented."""
from __future__ import annotations

from btcflow_nb import indicators as ind


def test_public_surface_is_documented():
    for name in ind.__all__:
        fn = getattr(ind, name)
        assert fn.__doc__ and len(fn.__doc__) > 40, name
