"""The per-call workloads: one small payload holding the flags they evaluate, and the calls.

Every workload is a list of ``(flag name, context)`` calls made to ``is_enabled`` or
``get_variant``. The contexts are built once, deterministically, and cycled by the timing loop,
so each SDK evaluates exactly the same calls (the warm-up pass checks that the answers agree).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .payloads import COUNTRIES, sample_contexts

N_CONTEXTS = 1000

SIMPLE = "bench.simple"
ROLLOUT = "bench.rollout"
CONSTRAINTS = "bench.constraints"
VARIANTS = "bench.variants"
PARENT = "bench.parent"
CHILD = "bench.child"
UNKNOWN = "bench.unknown"


@dataclass(frozen=True)
class Workload:
    """A named list of calls to one method."""

    name: str
    method: str  # "is_enabled" or "get_variant"
    flag: str
    description: str


WORKLOADS: tuple[Workload, ...] = (
    Workload("simple", "is_enabled", SIMPLE, "is_enabled, enabled flag, default strategy"),
    Workload("rollout", "is_enabled", ROLLOUT, "is_enabled, flexibleRollout 50%, varied userIds"),
    Workload(
        "constraints",
        "is_enabled",
        CONSTRAINTS,
        "is_enabled, 4 constraints: 50-value IN, STR_STARTS_WITH, NUM_GT, SEMVER_GT",
    ),
    Workload("variant", "get_variant", VARIANTS, "get_variant, 3 weighted variants, userId"),
    Workload("unknown", "is_enabled", UNKNOWN, "is_enabled, flag not in the payload"),
    Workload("dependent", "is_enabled", CHILD, "is_enabled, child of a 50% rollout parent"),
)
WORKLOAD_NAMES = tuple(workload.name for workload in WORKLOADS)


def _constraint(context_name: str, operator: str, **values: Any) -> dict[str, Any]:
    return {
        "contextName": context_name,
        "operator": operator,
        "inverted": False,
        "caseInsensitive": False,
        **values,
    }


def workload_payload() -> dict[str, Any]:
    """The flags the workloads evaluate (a full client API payload)."""

    def feature(name: str, strategies: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "type": "release",
            "project": "default",
            "enabled": True,
            "stale": False,
            "impressionData": False,
            "strategies": strategies,
            "variants": [],
            **extra,
        }

    def rollout(name: str, percentage: int) -> dict[str, Any]:
        return {
            "name": "flexibleRollout",
            "parameters": {"rollout": str(percentage), "stickiness": "default", "groupId": name},
            "constraints": [],
        }

    constraints = [
        _constraint("country", "IN", values=list(COUNTRIES[:50])),
        _constraint("email", "STR_STARTS_WITH", values=["user1", "user2", "user3", "user4"]),
        _constraint("age", "NUM_GT", value="18"),
        _constraint("appVersion", "SEMVER_GT", value="1.5.0"),
    ]
    variants = [
        {
            "name": name,
            "weight": weight,
            "weightType": "variable",
            "stickiness": "userId",
            "payload": {"type": "string", "value": f"{name} payload"},
            "overrides": [],
        }
        for name, weight in (("blue", 500), ("green", 300), ("red", 200))
    ]
    return {
        "version": 2,
        "features": [
            feature(SIMPLE, [{"name": "default", "parameters": {}, "constraints": []}]),
            feature(ROLLOUT, [rollout(ROLLOUT, 50)]),
            feature(
                CONSTRAINTS,
                [{"name": "default", "parameters": {}, "constraints": constraints}],
            ),
            feature(
                VARIANTS,
                [{"name": "default", "parameters": {}, "constraints": []}],
                variants=variants,
            ),
            feature(PARENT, [rollout(PARENT, 50)]),
            feature(
                CHILD,
                [{"name": "default", "parameters": {}, "constraints": []}],
                dependencies=[{"feature": PARENT, "enabled": True}],
            ),
        ],
        "segments": [],
    }


def workload_contexts() -> list[dict[str, Any]]:
    """The contexts every workload cycles through: varied users, countries, emails, ages and
    versions, so that rollouts and constraints take every branch."""
    contexts = sample_contexts(N_CONTEXTS, seed=11)
    rng = random.Random(13)
    for context in contexts:
        # user1xxx..user4xxx e-mails match STR_STARTS_WITH about 40% of the time.
        context["properties"]["email"] = f"user{rng.randrange(1, 10)}{rng.randrange(1000)}@x.io"
    return contexts


def workload_calls(workload: Workload) -> list[tuple[str, dict[str, Any]]]:
    """The calls of one workload, in order."""
    return [(workload.flag, context) for context in workload_contexts()]
