"""Fixtures shared by the tests of `btcflow_nb.sources`.

`fake_exchange_fixtures` makes the (``fake``, ``env``) fixture pair of a test module that talks
to the offline fake exchange; modules differ only in history length and client timeouts /
retries, so they call it instead of each writing the same two fixtures::

    fake, env = fake_exchange_fixtures(days=8, timeout_ms=500, retry_attempts=4)
"""
from __future__ import annotations

import pytest

from btcflow_nb.testing.fake_exchange import FakeExchange


def fake_exchange_fixtures(days: int, **env_options):
    """(``fake``, ``env``): a module-scoped `FakeExchange` serving `days` of history, and a
    per-test environment pointing `btcflow_nb.fetch` at it with a fresh cache under
    ``tmp_path`` (``env`` is the dict of variables set; `env_options` go to
    `FakeExchange.env`: ``timeout_ms``, ``retry_attempts``, ``retry_base_delay``, ...).
    Every test starts and ends with no fault injected, an empty request log and the fake's
    clock at the truth's last hour."""

    @pytest.fixture(scope="module")
    def fake():
        with FakeExchange(days=days) as server:
            yield server

    @pytest.fixture()
    def env(fake, tmp_path, monkeypatch):
        fake.clear_faults()
        fake.clear_log()
        fake.set_now(fake.truth.end - 1)
        values = fake.env(tmp_path, **env_options)
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        yield values
        fake.clear_faults()
        fake.set_now(fake.truth.end - 1)

    return fake, env
