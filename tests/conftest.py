"""Shared fixtures. Keep this file small: add a fixture here only if several test files use it."""
from __future__ import annotations

from pathlib import Path

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


# ------------------------------------------------------------- bf.load's three sources (issue 11)
#: Days of history the shared fake serves: enough for notebook 04's since="30D", short so that a
#: live first fetch stays quick.
SHORT_FAKE_DAYS = 45


@pytest.fixture(scope="session")
def short_fake():
    """One fake exchange (`SHORT_FAKE_DAYS` of history) for the tests that run notebooks and the
    Voila app on live data (tests/test_nb_three_sources.py, tests/browser/test_voila_sources.py)."""
    from btcflow_nb.testing.fake_exchange import FakeExchange

    with FakeExchange(days=SHORT_FAKE_DAYS) as server:
        yield server


@pytest.fixture(scope="session")
def filled_cache(short_fake, tmp_path_factory):
    """A cache filled by one `btcflow_nb.fetch` (the default history) from `short_fake`; copy it
    before use (`source_env` does) so no test changes what the next one reads."""
    import btcflow_nb as bf

    base = tmp_path_factory.mktemp("filled")
    env = short_fake.env(base)
    with pytest.MonkeyPatch.context() as patch:
        for var, value in env.items():
            patch.setenv(var, value)
        patch.delenv("BTCFLOW_NB_SOURCE", raising=False)
        md = bf.fetch(progress=False, cache_dir=env["BTCFLOW_NB_CACHE_DIR"])
    assert md.meta["errors"] == {}, md.meta["errors"]
    short_fake.clear_log()
    return Path(env["BTCFLOW_NB_CACHE_DIR"])


@pytest.fixture(scope="session")
def source_env(short_fake, filled_cache):
    """``source_env(source, tmp)``: variables that make ``bf.load()`` end on ``source``, to put
    on top of an offline environment (`private_jupyter_env`: private empty cache, no network):

    * ``"live"``: ``$BTCFLOW_NB_SOURCE=live``, every venue at `short_fake`, an empty cache
      (``tmp/live/cache``);
    * ``"cache"``: a copy of `filled_cache` (``tmp/cache-copy``), no network, no
      ``$BTCFLOW_NB_SOURCE``: ``"auto"`` must choose the cache;
    * ``"demo"``: nothing (no cache, no network)."""
    import shutil

    from btcflow_nb.testing.servers import OFFLINE_API_BASE

    def make(source: str, tmp: Path) -> dict:
        if source == "live":
            return dict(short_fake.env(tmp / "live"), BTCFLOW_NB_SOURCE="live")
        if source == "cache":
            shutil.copytree(filled_cache, tmp / "cache-copy")
            return {"BTCFLOW_NB_CACHE_DIR": str(tmp / "cache-copy"),
                    "BTCFLOW_NB_API_BASE": OFFLINE_API_BASE}
        if source == "demo":
            return {}
        raise ValueError(f"source={source!r}; valid choices: ['live', 'cache', 'demo']")

    return make
