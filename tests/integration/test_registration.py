"""Scenario 4: the client registers. The server's applications view lists the app, and the
app's instances show our instance id and SDK name and version (``unleash-lite:<version>``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import unleash_lite
from unleash_lite.engine import BUILTIN_STRATEGIES

from .admin import AdminApi
from .conftest import ClientFactory
from .polling import wait_for
from .server import UnleashServer

SDK_VERSION = f"unleash-lite:{unleash_lite.__version__}"


def registration_delay(server: UnleashServer) -> float:
    # Fast jobs: registrations are written every 0.2 s; stock Unleash every 20 s.
    return 5.0 if server.fast_jobs else 30.0


def test_application_and_instance_are_listed(
    unleash_server: UnleashServer,
    admin: AdminApi,
    make_client: ClientFactory,
    unique_name: Callable[[str], str],
    record_property: Callable[[str, object], None],
) -> None:
    app_name = unique_name("app")
    instance_id = f"it-instance-{uuid.uuid4().hex[:8]}"
    client = make_client(app_name=app_name, instance_id=instance_id)
    client.initialize_client()

    def listed() -> list[dict[str, Any]] | None:
        # The server writes the application, then (a separate statement) its usage row,
        # which the list left-joins for `environment`: wait for both.
        apps = [a for a in admin.applications() if a["appName"] == app_name]
        return apps if apps and all(a.get("environment") for a in apps) else None

    [application], elapsed = wait_for(
        listed, timeout=registration_delay(unleash_server), what=f"{app_name} listed"
    )
    record_property("register -> applications view", round(elapsed, 3))
    assert set(application["strategies"]) == set(BUILTIN_STRATEGIES)
    # Filed under the token's environment, not the client's `environment` ("default").
    assert application["environment"] == "development"

    def our_instance() -> dict[str, Any] | None:
        instances = admin.application(app_name)["instances"]
        return next((i for i in instances if i["instanceId"] == instance_id), None)

    instance, _ = wait_for(
        our_instance, timeout=registration_delay(unleash_server), what="instance listed"
    )
    assert instance["sdkVersion"] == SDK_VERSION
    assert instance["appName"] == app_name
    assert instance["environment"] == "development"
    assert instance["sdkType"] == "backend"

    [listed_instance] = admin.application_instances(app_name, "development")
    assert listed_instance["instanceId"] == instance_id
    assert listed_instance["sdkVersion"] == SDK_VERSION
