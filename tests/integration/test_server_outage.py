"""Scenario 5: the server goes away and comes back.

A running client keeps its answers while Unleash is down; a new process started during the
outage answers from the disk cache its predecessor wrote; once Unleash is back on the same
port, changes reach the running client again.

This module has a server of its own (``scripts/unleash-server start``), so taking it down
cannot break other tests: ``stop-node`` kills only its Unleash process, PostgreSQL and the
data stay, and ``start-node`` brings Unleash back on the same port with the same tokens.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from unleash_lite import UnleashClient

from .admin import AdminApi, AdminApiError
from .conftest import ClientFactory, keep_logs, start_server_for_tests
from .polling import holds_for, wait_for
from .server import UnleashServer, existing_server_from_env, start_node, stop_node, stop_server

REPO = Path(__file__).resolve().parents[2]
REFRESH_INTERVAL = 0.5
ON, OFF, COLOURED = "outage-on", "outage-off", "outage-coloured"
CONTEXT = {"userId": "u-1"}

# A fresh process with the same url, app_name and cache_directory as the running client.
# The token comes on stdin: never on a command line.
NEW_PROCESS = """
import json, sys
from unleash_lite import UnleashClient

settings = json.loads(sys.stdin.read())
client = UnleashClient(
    url=settings["url"], app_name=settings["app_name"],
    custom_headers={"Authorization": settings["token"]},
    cache_directory=settings["cache_directory"], refresh_interval=1,
    request_timeout=2, disable_metrics=True, disable_registration=True,
)
ready_before_initialize = client.is_ready()
client.initialize_client()
context = settings["context"]
print(json.dumps({
    "ready_before_initialize": ready_before_initialize,
    "ready": client.is_ready(),
    "enabled": {name: client.is_enabled(name, context) for name in settings["flags"]},
    "variant": client.get_variant(settings["variant_flag"], context),
    "fetch_state": client._sync.features_backoff.state,
}))
client.destroy()
"""


@pytest.fixture(scope="module")
def outage_server(server_version: str) -> Iterator[UnleashServer]:
    """A server of this version that only this module uses, so it can be taken down."""
    if existing_server_from_env() is not None:
        pytest.skip("UNLEASH_URL is set: the suite cannot stop a server it did not start")
    server = start_server_for_tests(server_version)
    try:
        yield server
    finally:
        stop_server(server, keep_logs=keep_logs())


@pytest.fixture(scope="module")
def outage_admin(outage_server: UnleashServer) -> Iterator[AdminApi]:
    api = AdminApi(outage_server.api_url, outage_server.admin_token)
    yield api
    api.close()


def set_up_flags(admin: AdminApi) -> None:
    """The three flags in their starting state (the module's server is shared by the test's
    runs with each client: a second run finds them, as the first one left them)."""
    for name in (ON, OFF, COLOURED):
        try:
            admin.get_flag(name)
        except AdminApiError as missing:
            if missing.status != 404:
                raise
            admin.create_flag(name)
            admin.add_strategy(name, "default")
    admin.enable(ON)
    admin.disable(OFF)
    admin.enable(COLOURED)
    admin.set_variants(
        COLOURED,
        [{"name": "teal", "weight": 1000, "weightType": "variable", "stickiness": "default",
          "payload": {"type": "json", "value": '{"shade": 3}'}}],
    )  # fmt: skip


def answers(client: UnleashClient) -> dict[str, Any]:
    return {
        "enabled": {name: client.is_enabled(name, CONTEXT) for name in (ON, OFF, COLOURED)},
        "variant": client.get_variant(COLOURED, CONTEXT),
    }


def run_new_process(server: UnleashServer, client: UnleashClient) -> dict[str, Any]:
    settings = {
        "url": server.api_url,
        "app_name": client.config.app_name,
        "token": server.client_token,
        "cache_directory": client.config.cache_directory,
        "context": CONTEXT,
        "flags": [ON, OFF, COLOURED],
        "variant_flag": COLOURED,
    }
    result = subprocess.run(
        [sys.executable, "-c", NEW_PROCESS],
        input=json.dumps(settings),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,  # unleash_lite is importable from the checkout even when not installed
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert server.client_token not in result.stdout + result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_client_survives_an_outage_and_picks_up_changes_after_it(
    outage_server: UnleashServer,
    outage_admin: AdminApi,
    make_client: ClientFactory,
    record_property: Callable[[str, object], None],
) -> None:
    set_up_flags(outage_admin)
    client = make_client(server=outage_server, refresh_interval=REFRESH_INTERVAL)
    client.initialize_client()
    expected = {
        "enabled": {ON: True, OFF: False, COLOURED: True},
        "variant": {
            "name": "teal",
            "enabled": True,
            "feature_enabled": True,
            "payload": {"type": "json", "value": '{"shade": 3}'},
        },
    }
    wait_for(lambda: answers(client) == expected, timeout=5, what="flags synced")
    sync = client._sync
    assert sync is not None
    cache_directory = Path(str(client.config.cache_directory))
    assert any(cache_directory.glob("*.json")), "no cache file written"

    stop_node(outage_server)
    try:
        # The running client keeps its answers while its polls fail.
        wait_for(
            lambda: sync.features_backoff.state == "unavailable",
            timeout=5,
            what="a failed poll",
        )
        holds_for(lambda: answers(client) == expected, 1.0, what="answers kept in the outage")

        # A new process, started while the server is down, answers from the disk cache.
        fresh = run_new_process(outage_server, client)
        assert fresh["ready_before_initialize"] is True  # loaded from the cache at once
        assert fresh["ready"] is True
        assert fresh["enabled"] == expected["enabled"]
        assert fresh["variant"] == expected["variant"]
        assert fresh["fetch_state"] == "unavailable"
        assert answers(client) == expected
    finally:
        start_node(outage_server)

    # Back on the same port: changes flow again, without a restart of the client.
    outage_admin.disable(ON)
    outage_admin.enable(OFF)
    # (The flags are swapped in just before the poll records its outcome: wait for both.)
    _, elapsed = wait_for(
        lambda: (
            client.is_enabled(OFF, CONTEXT)
            and not client.is_enabled(ON, CONTEXT)
            and sync.features_backoff.state == "ok"
        ),
        timeout=10 * REFRESH_INTERVAL + 5,
        what="changes after the outage",
    )
    record_property("server back -> change in the client", round(elapsed, 3))
    assert sync.features_backoff.delay == pytest.approx(REFRESH_INTERVAL)
    # A new process now gets the new flags from the server (and its cache is refreshed).
    fresh = run_new_process(outage_server, client)
    assert fresh["enabled"] == {ON: False, OFF: True, COLOURED: True}
    assert fresh["fetch_state"] == "ok"
