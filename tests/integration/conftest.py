"""Fixtures for tests against a real Unleash server.

Every test runs once per unleash-server version in SERVER_VERSIONS (7.5.1 and
8.2.0; test ids end in ``[unleash-7.5.1]`` / ``[unleash-8.2.0]``): the session
fixture ``server_version`` is parametrized, and pytest runs all tests of one version
before it starts the next server, so only one session server runs at a time. Each
server is started by ``scripts/unleash-server`` (or taken from UNLEASH_URL /
UNLEASH_ADMIN_TOKEN / UNLEASH_CLIENT_TOKEN: then the tests run once, against it).
With CI=true a server that cannot be started is a test error, never a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.kinds import Driven, LoopThread
from unleash_lite import AsyncUnleashClient, UnleashClient

from .admin import AdminApi
from .server import (
    SERVER_VERSIONS,
    ServerStartError,
    UnleashServer,
    existing_server_from_env,
    start_server,
    stop_server,
)

HERE = Path(__file__).resolve().parent


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory `integration` (deselect with -m 'not integration')."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def start_server_for_tests(version: str) -> UnleashServer:
    """Start a server with scripts/unleash-server; skip (locally) or fail (CI=true) if we can't."""
    if shutil.which("npm") is None and not in_ci():
        pytest.skip(
            "integration tests need Node.js >= 20 with npm to run unleash-server "
            "(or set UNLEASH_URL, UNLEASH_ADMIN_TOKEN and UNLEASH_CLIENT_TOKEN)"
        )
    try:
        return start_server(version)
    except ServerStartError as error:
        if error.missing_prerequisite and not in_ci():
            pytest.skip(f"cannot start unleash-server here: {error}")
        pytest.fail(f"could not start the Unleash server:\n{error}", pytrace=False)


def keep_logs() -> bool:
    return os.environ.get("UNLEASH_LITE_KEEP_LOGS") == "1"


def answers_health(server: UnleashServer) -> bool:
    try:
        return requests.get(f"{server.url}/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def stop_session_server(server: UnleashServer) -> None:
    """Stop a server this suite started; if it had died during the run, keep its logs
    (unleash.log, postgres.log) and say where, so the failures it caused can be explained."""
    died = not answers_health(server)
    stop_server(server, keep_logs=keep_logs() or died)
    if died:
        warnings.warn(
            f"the Unleash {server.version} server at {server.url} was not answering at the "
            f"end of its tests; logs kept in {server.state_dir}",
            stacklevel=1,
        )


def server_versions() -> list[str]:
    """The versions to run: each of SERVER_VERSIONS, or "existing" for UNLEASH_URL & co."""
    try:
        existing = existing_server_from_env()
    except ServerStartError:
        existing = None  # reported by unleash_server
    return ["existing"] if existing is not None else list(SERVER_VERSIONS)


@pytest.fixture(scope="session", params=server_versions(), ids=lambda v: f"unleash-{v}")
def server_version(request: pytest.FixtureRequest) -> str:
    """The unleash-server version this test runs against ("existing" for UNLEASH_URL)."""
    return str(request.param)


@pytest.fixture(scope="session")
def unleash_server(server_version: str) -> Iterator[UnleashServer]:
    """The Unleash server of this version, for this pytest run."""
    try:
        existing = existing_server_from_env()
    except ServerStartError as error:
        pytest.fail(str(error), pytrace=False)
    if existing is not None:
        yield existing
        return

    server = start_server_for_tests(server_version)
    try:
        yield server
    finally:
        stop_session_server(server)


@pytest.fixture(scope="session")
def admin(unleash_server: UnleashServer) -> Iterator[AdminApi]:
    """Admin API helpers for the default project."""
    api = AdminApi(unleash_server.api_url, unleash_server.admin_token)
    yield api
    api.close()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Make names unique to this test and run: ``unique_name("parent")``.

    Every call gives a new name, so tests never collide on one server, even
    when it is shared between runs.
    """
    test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:48]

    def make(label: str = "") -> str:
        suffix = uuid.uuid4().hex[:8]
        return "-".join(part for part in ("it", test, label, suffix) if part)

    return make


@pytest.fixture
def flag_name(unique_name: Callable[[str], str]) -> str:
    """A flag name no other test uses."""
    return unique_name("")


ClientFactory = Callable[..., Any]


@pytest.fixture
def make_client(
    request: pytest.FixtureRequest,
    kind: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> Iterator[ClientFactory]:
    """Create SDK clients for the suite's server, of this test's ``kind`` (every test that
    uses it runs with ``UnleashClient`` and with ``AsyncUnleashClient``, the latter on an
    event loop of the test's, with blocking lifecycle calls: ``tests.support.kinds``); each
    is destroyed after the test.

    Defaults: the server's client token, a unique app name, ``refresh_interval=1``,
    ``metrics_interval=1``, a per-test ``cache_directory``, ``request_timeout=5``.
    Keyword arguments override them (``server=`` picks another :class:`UnleashServer`).
    The client is not initialized: call ``initialize_client()``.
    """
    clients: list[Any] = []
    loop = LoopThread() if kind == "async" else None

    def make(server: UnleashServer | None = None, **options: Any) -> Any:
        if server is None:  # the session server, started only when a test needs it
            server = request.getfixturevalue("unleash_server")
        settings: dict[str, Any] = {
            "url": server.api_url,
            "app_name": unique_name("app"),
            "custom_headers": {"Authorization": server.client_token},
            "refresh_interval": 1,
            "metrics_interval": 1,
            "cache_directory": str(tmp_path / "unleash-cache"),
            "request_timeout": 5,
        }
        settings.update(options)
        client: Any = (
            UnleashClient(**settings)
            if loop is None
            else Driven(AsyncUnleashClient(**settings), loop)
        )
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.destroy()
    if loop is not None:
        loop.close()
