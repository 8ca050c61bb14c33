"""SEMVER_GTE and SEMVER_LTE, set through the Admin API: unleash_lite's answers equal
the Playground's.

unleash-server 8.2.0 accepts both operators (dist/lib/util/constants.js
ALL_OPERATORS; the experimental flag ``semverGteConstraintOperators`` only gates the
admin UI). 7.5.1's operator list ends at SEMVER_LT, so its Admin API refuses them
with a 400; that is checked too, so the day a 7.x server accepts them the test says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .admin import AdminApi, AdminApiError
from .conftest import ClientFactory
from .polling import wait_for
from .server import UnleashServer

VERSIONS = [
    "0.9.9", "1.2.2", "1.2.3", "1.2.4", "1.2.3-beta.1", "1.2.3-rc.1", "1.3.0-alpha",
    "2.0.0-rc.1", "2.0.0", "2.0.1", "10.0.0", "1.2.3+build.5",
]  # fmt: skip

# label -> constraints (all on the context field "version")
FLAGS: dict[str, list[dict[str, Any]]] = {
    "gte": [{"operator": "SEMVER_GTE", "value": "1.2.3"}],
    "lte": [{"operator": "SEMVER_LTE", "value": "2.0.0"}],
    "gte-pre": [{"operator": "SEMVER_GTE", "value": "1.2.3-beta.2"}],
    "lte-pre": [{"operator": "SEMVER_LTE", "value": "2.0.0-rc.1"}],
    "not-gte": [{"operator": "SEMVER_GTE", "value": "1.2.3", "inverted": True}],
    "not-lte": [{"operator": "SEMVER_LTE", "value": "2.0.0", "inverted": True}],
    "range": [
        {"operator": "SEMVER_GTE", "value": "1.2.3"},
        {"operator": "SEMVER_LTE", "value": "2.0.0"},
    ],
}


def constraint(spec: dict[str, Any]) -> dict[str, Any]:
    return {"contextName": "version", "caseInsensitive": False, "inverted": False, **spec}


def server_accepts_semver_gte(server: UnleashServer) -> bool:
    return server.major is None or server.major >= 8


def test_semver_gte_lte_match_the_playground(
    unleash_server: UnleashServer,
    admin: AdminApi,
    make_client: ClientFactory,
    unique_name: Callable[[str], str],
) -> None:
    if not server_accepts_semver_gte(unleash_server):
        pytest.skip(f"unleash-server {unleash_server.version} refuses SEMVER_GTE/LTE")
    names = {label: unique_name(label) for label in FLAGS}
    for label, constraints in FLAGS.items():
        admin.create_flag(names[label])
        admin.add_strategy(
            names[label],
            "flexibleRollout",
            parameters={"rollout": "100", "stickiness": "default", "groupId": names[label]},
            constraints=[constraint(c) for c in constraints],
        )
        admin.enable(names[label])
    client = make_client()
    client.initialize_client()
    wait_for(
        lambda: set(names.values()) <= set(client.feature_definitions()),
        timeout=10,
        what="every flag known to the client",
    )

    compared = 0
    for version in [*VERSIONS, ""]:
        context = {"appName": "it-semver", "properties": {"version": version}}
        served = admin.playground(context)
        for label, name in names.items():
            expected = bool(served[name]["isEnabled"])
            assert client.is_enabled(name, context) is expected, (label, version, expected)
            compared += 1
    assert compared == len(FLAGS) * (len(VERSIONS) + 1)
    # The sweep is not vacuous: both answers occur.
    answers = {client.is_enabled(names["range"], {"properties": {"version": v}}) for v in VERSIONS}
    assert answers == {True, False}


def test_7x_admin_api_refuses_semver_gte(
    unleash_server: UnleashServer, admin: AdminApi, flag_name: str
) -> None:
    if server_accepts_semver_gte(unleash_server):
        pytest.skip(f"unleash-server {unleash_server.version or '(existing)'} accepts them")
    admin.create_flag(flag_name)
    for operator in ("SEMVER_GTE", "SEMVER_LTE"):
        with pytest.raises(AdminApiError) as refused:
            admin.add_strategy(
                flag_name, constraints=[constraint({"operator": operator, "value": "1.0.0"})]
            )
        assert refused.value.status == 400
        assert operator in refused.value.body
