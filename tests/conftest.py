"""Shared fixtures. Keep this file small: add a fixture here only if several test files use it."""
from __future__ import annotations

import pytest

from btcflow_nb.testing.servers import PRIVATE_ENV_VARS, private_jupyter_env


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


@pytest.fixture(scope="module")
def private_jupyter_dirs(tmp_path_factory):
    """Kernels a test module starts in-process (they inherit ``os.environ``) get private
    Jupyter/IPython dirs, a private empty data cache and no network (``bf.load()`` gives the
    demo) for the module's duration; yields that environment."""
    env = private_jupyter_env(tmp_path_factory.mktemp("jupyter-dirs"))
    with pytest.MonkeyPatch.context() as patch:
        for var in PRIVATE_ENV_VARS:
            patch.setenv(var, env[var])
        for var in ("BTCFLOW_NB_CONFIG", "BTCFLOW_NB_SOURCE"):
            patch.delenv(var, raising=False)
        yield env
