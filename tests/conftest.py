"""Suite-wide settings and fixtures (the helpers they use are in ``tests/support``): the
Hypothesis profile of ``tests/support/fuzz.py``, a fake Unleash server, a client factory (and
one for tests of both clients, parametrized by ``kind``), and no client left running after
its test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.clients import ClientFactory
from tests.support.fuzz import PROFILE
from tests.support.helpers import stopping_leftover_clients
from tests.support.kinds import KINDS, DrivenFactory
from tests.support.server import FakeUnleashServer

settings.load_profile(PROFILE)


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


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Which client a test of both runs: "sync" (``UnleashClient``) or "async"
    (``AsyncUnleashClient``); see ``tests.support.kinds``."""
    return str(request.param)


@pytest.fixture
def make_driven(kind: str, tmp_path: Path) -> Iterator[DrivenFactory]:
    """As ``make_client``, for a test parametrized over both clients: builds ``Driven``
    clients of this test's ``kind`` (blocking lifecycle calls for either); each is stopped
    at the end of the test."""
    factory = DrivenFactory(kind, tmp_path / "cache")
    yield factory
    factory.close()


@pytest.fixture(autouse=True)
def _no_client_outlives_its_test() -> Iterator[None]:
    """Stop any client a failing test left running, so no scheduler thread leaks into the
    next test and no atexit flush tries the network when the interpreter exits."""
    with stopping_leftover_clients():
        yield


@pytest.fixture(autouse=True)
def _each_test_counts_its_own_clients() -> Iterator[None]:
    """Start every test with no client counted for the duplicate-client check: a client an
    earlier test built and never destroyed must not make this test's first one a duplicate."""
    from unleash_lite import core

    with core._instances_lock:
        core._instances.clear()
    yield
