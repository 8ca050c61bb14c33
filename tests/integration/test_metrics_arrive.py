"""Scenario 3: usage metrics reach the server exactly. After a known number of evaluations
and ``destroy()``, the server's raw metrics for the app hold exactly those yes/no and
variant counts: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

from .admin import AdminApi
from .conftest import ClientFactory
from .polling import holds_for, wait_for
from .server import UnleashServer

OVERRIDE_VARIANT = {"weightType": "variable", "stickiness": "default"}


def metrics_delay(server: UnleashServer) -> float:
    # Fast jobs: metrics are in the database ~0.2 s after the POST; stock Unleash needs
    # up to ~15 s (5 s flush plus a 10 s cache of known flag names).
    return 5.0 if server.fast_jobs else 30.0


def test_counts_after_destroy_are_exact(
    unleash_server: UnleashServer,
    admin: AdminApi,
    make_client: ClientFactory,
    unique_name: Callable[[str], str],
    record_property: Callable[[str, object], None],
) -> None:
    gated, coloured = unique_name("gated"), unique_name("coloured")
    # gated: on only for users 1, 2 and 3; no variants.
    admin.create_flag(gated)
    admin.add_strategy(
        gated,
        "default",
        constraints=[{"contextName": "userId", "operator": "IN", "values": ["1", "2", "3"]}],
    )
    admin.enable(gated)
    # coloured: on for everyone; the variant is chosen by override, so counts are exact.
    admin.create_flag(coloured)
    admin.add_strategy(coloured, "default")
    admin.enable(coloured)
    admin.set_variants(
        coloured,
        [
            {**OVERRIDE_VARIANT, "name": "blue", "weight": 500,
             "overrides": [{"contextName": "userId", "values": ["b1", "b2"]}]},
            {**OVERRIDE_VARIANT, "name": "green", "weight": 500,
             "overrides": [{"contextName": "userId", "values": ["g1"]}]},
        ],
    )  # fmt: skip

    client = make_client(metrics_interval=1)
    client.initialize_client()
    app_name = client.config.app_name
    # explain() evaluates without counting, so this wait adds nothing to the metrics.
    wait_for(
        lambda: (
            client.explain(gated, {"userId": "1"}).enabled
            and client.explain(coloured, {"userId": "g1"}).variant["name"] == "green"
        ),
        timeout=5,
        what="both flags served",
    )

    answers: list[Any] = []
    for user in ["1", "2", "3", "1", "2", "1", "3"]:  # 7 yes
        answers.append(client.is_enabled(gated, {"userId": user}))
    for user in ["4", "5", "9", "42"]:  # 4 no
        answers.append(client.is_enabled(gated, {"userId": user}))
    for user in ["1", "8"]:  # 1 yes + 1 no, both variant "disabled"
        answers.append(client.get_variant(gated, {"userId": user})["name"])
    for user in ["b1", "b2", "b1", "b2", "b1"]:  # 5 blue
        answers.append(client.get_variant(coloured, {"userId": user})["name"])
    for user in ["g1", "g1", "g1"]:  # 3 green
        answers.append(client.get_variant(coloured, {"userId": user})["name"])
    for user in ["x", "y"]:  # 2 yes
        answers.append(client.is_enabled(coloured, {"userId": user}))
    assert (
        answers
        == [True] * 7 + [False] * 4 + ["disabled"] * 2 + ["blue"] * 5 + ["green"] * 3 + [True] * 2
    )

    expected = {
        gated: {"yes": 8, "no": 5, "variants": {"disabled": 2}},
        coloured: {"yes": 10, "no": 0, "variants": {"blue": 5, "green": 3}},
    }
    client.destroy()  # sends what the 1 s metrics job has not sent yet

    def server_counts() -> dict[str, dict[str, Any]]:
        return {
            name: admin.metric_totals(name, app_name=app_name, environment="development")
            for name in expected
        }

    def arrived() -> dict[str, dict[str, Any]] | None:
        seen = server_counts()
        for name, counts in seen.items():  # more than expected: fail now, not at the timeout
            assert counts["yes"] <= expected[name]["yes"], seen
            assert counts["no"] <= expected[name]["no"], seen
        return seen if seen == expected else None

    _, elapsed = wait_for(arrived, timeout=metrics_delay(unleash_server), what="exact metrics")
    record_property("destroy -> raw metrics", round(elapsed, 3))
    # No late duplicate (a retried or second flush) shows up afterwards.
    holds_for(lambda: server_counts() == expected, 1.0, interval=0.2, what="exact metrics")


def test_counts_arrive_after_a_burst_of_distinct_flag_names(
    unleash_server: UnleashServer,
    admin: AdminApi,
    make_client: ClientFactory,
    unique_name: Callable[[str], str],
    record_property: Callable[[str, object], None],
) -> None:
    """3,000 distinct names make one body of about 290 KB, which Unleash refuses with 413
    (its JSON body limit is 100 KB): sent in parts, the known flag's counts arrive exactly."""
    known = unique_name("known")
    admin.create_flag(known)
    admin.add_strategy(known, "default")
    admin.enable(known)
    client = make_client(metrics_interval=3600)  # only destroy() sends
    client.initialize_client()
    app_name = client.config.app_name
    wait_for(lambda: client.explain(known).enabled, timeout=5, what="the flag served")

    burst = [f"{known}-unknown-{index:05d}" for index in range(3_000)]
    # The control: these counts as one body are refused (what the client used to send).
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    one_body = {
        "appName": app_name,
        "instanceId": "control",
        "environment": "development",
        "bucket": {
            "start": now,
            "stop": now,
            "toggles": {name: {"yes": 0, "no": 1, "variants": {}} for name in burst},
        },
    }
    refused = requests.post(
        f"{unleash_server.api_url}/client/metrics",
        json=one_body,
        headers={"Authorization": unleash_server.client_token},
        timeout=10,
    )
    assert refused.status_code == 413 and len(json.dumps(one_body)) > 100 * 1024
    for name in burst:
        assert not client.is_enabled(name)
    for _ in range(250):
        assert client.is_enabled(known)
    client.destroy()

    expected = {"yes": 250, "no": 0, "variants": {}}

    def server_counts() -> dict[str, Any]:
        return admin.metric_totals(known, app_name=app_name, environment="development")

    def arrived() -> dict[str, Any] | None:
        seen = server_counts()
        assert seen["yes"] <= expected["yes"], seen  # more than expected: fail now
        return seen if seen == expected else None

    _, elapsed = wait_for(arrived, timeout=metrics_delay(unleash_server), what="exact metrics")
    record_property("destroy -> raw metrics after a burst", round(elapsed, 3))
    holds_for(lambda: server_counts() == expected, 1.0, interval=0.2, what="exact metrics")
