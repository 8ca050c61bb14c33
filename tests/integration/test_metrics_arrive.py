"""Scenario 3: usage metrics reach the server exactly. After a known number of evaluations
and ``destroy()``, the server's raw metrics for the app hold exactly those yes/no and
variant counts: nothing lost, nothing counted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
