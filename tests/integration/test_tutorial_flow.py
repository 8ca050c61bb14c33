"""Scenario 1, the Unleash quick-start flow: a flag made in the Admin API, switched on and
off in ``development``, reaches a running SDK client within one refresh interval.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from .admin import AdminApi
from .conftest import ClientFactory
from .polling import wait_for
from .server import UnleashServer

REFRESH_INTERVAL = 1.0


def propagation_deadline(server: UnleashServer) -> float:
    """One refresh interval, plus the server's own delay (0.1 s with fast jobs, 1 s stock),
    plus slack for a loaded CI machine."""
    return REFRESH_INTERVAL + (0.1 if server.fast_jobs else 1.0) + 1.5


def test_flag_follows_enable_and_disable_in_development(
    unleash_server: UnleashServer,
    admin: AdminApi,
    make_client: ClientFactory,
    record_property: Callable[[str, object], None],
) -> None:
    name = f"delete_survey_flag_{uuid.uuid4().hex[:8]}"
    admin.create_flag(name, description="Delete the survey (quick-start flow)")
    client = make_client(refresh_interval=REFRESH_INTERVAL)
    client.initialize_client()
    deadline = propagation_deadline(unleash_server)
    context = {"userId": "42"}

    # Created disabled: known to the client (after at most one refresh), and off.
    wait_for(lambda: name in client.feature_definitions(), timeout=deadline, what=f"{name} known")
    assert client.is_enabled(name, context) is False
    assert client.get_variant(name, context)["feature_enabled"] is False

    admin.enable(name)
    _, elapsed_on = wait_for(
        lambda: client.is_enabled(name, context), timeout=deadline, what=f"{name} on"
    )
    record_property("enable -> SDK", round(elapsed_on, 3))
    # Enabling a flag without strategies makes the server add flexibleRollout 100%.
    assert client.is_enabled(name, {}) is True
    assert client.get_variant(name, context) == {
        "name": "disabled",
        "enabled": False,
        "feature_enabled": True,
    }

    admin.disable(name)
    _, elapsed_off = wait_for(
        lambda: not client.is_enabled(name, context), timeout=deadline, what=f"{name} off"
    )
    record_property("disable -> SDK", round(elapsed_off, 3))
    print(f"\n[measured] enable -> SDK {elapsed_on:.2f}s, disable -> SDK {elapsed_off:.2f}s")
