"""Suite-wide settings and fixtures (the helpers they use are in ``tests/support``).

Hypothesis: no per-example deadline (CI machines are shared and slow ones would fail on time,
not on answers; tests that promise speed measure it themselves), and with CI=true a fixed
seed, so a CI run is reproducible while local runs keep exploring new examples.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.clients import ClientFactory
from tests.support.helpers import stopping_leftover_clients
from tests.support.server import FakeUnleashServer

settings.register_profile(
    "unleash_lite",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("CI", "").lower() == "true",
)
settings.load_profile("unleash_lite")


@pytest.fixture
def server() -> Iterator[FakeUnleashServer]:
    """A fresh fake Unleash server (``tests.support.server``) serving ``PAYLOAD_A``."""
    with FakeUnleashServer() as fake:
        yield fake


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[ClientFactory]:
    """Build clients pointed at a fake server (``make_client(server.url, **options)``), with
    the defaults of ``tests.support.clients``; each is stopped at the end of the test."""
    factory = ClientFactory(tmp_path / "cache")
    yield factory
    factory.close()


@pytest.fixture(autouse=True)
def _no_client_outlives_its_test() -> Iterator[None]:
    """Stop any client a failing test left running, so no scheduler thread leaks into the
    next test and no atexit flush tries the network when the interpreter exits."""
    with stopping_leftover_clients():
        yield
