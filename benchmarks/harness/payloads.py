"""A deterministic, realistic Unleash payload of any size, for the scale measurements.

The mix follows what large Unleash instances hold: about 40% plain ``default`` flags, 30%
``flexibleRollout`` with constraints (some through shared segments), 15% rollouts with weighted
variants, 10% ``userWithId`` lists and 5% flags with two strategies; about 10% of the flags
are disabled and about 5% depend on a parent flag. Only operators and strategies that all three
SDKs support are used, so every SDK compiles exactly the same work.

``revision`` changes the definition (rollout percentages and description) of every
``changed_every``-th flag while keeping the names and the structure: revision 1 with
``changed_every=1`` changes every flag, with ``changed_every=100`` one flag in a hundred.
"""

from __future__ import annotations

import random
from typing import Any

COUNTRIES = (
    "NO",
    "SE",
    "DK",
    "FI",
    "IS",
    "DE",
    "FR",
    "ES",
    "IT",
    "PT",
    "NL",
    "BE",
    "LU",
    "AT",
    "CH",
    "PL",
    "CZ",
    "SK",
    "HU",
    "SI",
    "HR",
    "RO",
    "BG",
    "GR",
    "CY",
    "MT",
    "IE",
    "GB",
    "EE",
    "LV",
    "LT",
    "US",
    "CA",
    "MX",
    "BR",
    "AR",
    "CL",
    "CO",
    "PE",
    "JP",
    "KR",
    "CN",
    "IN",
    "AU",
    "NZ",
    "ZA",
    "EG",
    "MA",
    "NG",
    "KE",
    "TR",
    "IL",
    "AE",
    "SA",
    "SG",
    "MY",
    "TH",
    "VN",
    "ID",
    "PH",
)  # 60 codes: constraints list 50 of them, contexts draw from all 60
PLANS = ("free", "starter", "pro", "business", "enterprise")
EMAIL_DOMAINS = ("example.com", "mail.se", "corp.example", "staff.example.org")
FLAG_TYPES = ("release", "experiment", "operational", "kill-switch", "permission")

# Cumulative shares of the flag kinds (see the module docstring).
_KINDS = (
    (0.40, "default"),
    (0.70, "rollout_constraints"),
    (0.85, "variants"),
    (0.95, "user_with_id"),
    (1.00, "two_strategies"),
)


def flag_name(index: int) -> str:
    """The name of flag ``index`` in every generated payload."""
    return f"team-{index % 37:02d}.flag-{index:05d}"


def generate_payload(
    n_flags: int, seed: int = 42, revision: int = 0, changed_every: int = 1
) -> dict[str, Any]:
    """A full ``/api/client/features`` payload with ``n_flags`` flags."""
    rng = random.Random(seed)
    segments = [_segment(rng, segment_id) for segment_id in range(1, max(5, n_flags // 200) + 1)]
    features: list[dict[str, Any]] = []
    parents: list[str] = []  # flags without dependencies, usable as parents
    for index in range(n_flags):
        name = flag_name(index)
        flag_revision = revision if index % changed_every == 0 else 0
        draw = rng.random()
        kind = next(kind for share, kind in _KINDS if draw < share)
        feature: dict[str, Any] = {
            "name": name,
            "type": rng.choice(FLAG_TYPES),
            "description": f"{kind} flag {index}, revision {flag_revision}",
            "project": f"project-{index % 12}",
            "enabled": rng.random() >= 0.10,
            "stale": False,
            "impressionData": False,
            "strategies": _strategies(rng, kind, name, len(segments), flag_revision),
            "variants": [],
        }
        if kind == "variants":
            feature["variants"] = _variants(rng)
        if parents and rng.random() < 0.05:
            parent = rng.choice(parents)
            dependency: dict[str, Any] = {"feature": parent}
            if rng.random() < 0.3:
                dependency["enabled"] = False
            feature["dependencies"] = [dependency]
        elif kind == "default":
            parents.append(name)
        features.append(feature)
    return {
        "version": 2,
        "features": features,
        "segments": segments,
        "query": {"inlineSegmentConstraints": False},
        "meta": {
            "revisionId": 1000 + revision,
            "etag": f'"bench-{seed}-{revision}-{changed_every}"',
        },
    }


def sample_contexts(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Contexts with every field the generated rules read (always a userId and a sessionId,
    so no rollout falls back to a random seed and every SDK must give the same answers)."""
    rng = random.Random(seed)
    contexts = []
    for _ in range(count):
        user = rng.randrange(1, 2_000_000)
        contexts.append(
            {
                "userId": str(user),
                "sessionId": f"session-{rng.randrange(10**9):09d}",
                "remoteAddress": "10." + ".".join(str(rng.randrange(256)) for _ in range(3)),
                "properties": {
                    "country": rng.choice(COUNTRIES),
                    "plan": rng.choice(PLANS),
                    "email": f"user{user}@{rng.choice(EMAIL_DOMAINS)}",
                    "age": str(rng.randrange(12, 80)),
                    "appVersion": ".".join(
                        str(rng.randrange(low, high)) for low, high in ((1, 4), (0, 12), (0, 9))
                    ),
                },
            }
        )
    return contexts


def _segment(rng: random.Random, segment_id: int) -> dict[str, Any]:
    return {
        "id": segment_id,
        "name": f"segment-{segment_id}",
        "constraints": [_constraint(rng) for _ in range(rng.randint(1, 3))],
    }


def _strategies(
    rng: random.Random, kind: str, name: str, n_segments: int, revision: int
) -> list[dict[str, Any]]:
    if kind == "default":
        return [{"name": "default", "parameters": {}, "constraints": []}]
    if kind == "user_with_id":
        return [_user_with_id(rng)]
    if kind == "variants":
        return [_rollout(rng, name, revision, constraints=rng.random() < 0.5, n_segments=0)]
    if kind == "rollout_constraints":
        return [_rollout(rng, name, revision, constraints=True, n_segments=n_segments)]
    return [
        _rollout(rng, name, revision, constraints=True, n_segments=0, stickiness="sessionId"),
        _user_with_id(rng),
    ]


def _rollout(
    rng: random.Random,
    name: str,
    revision: int,
    constraints: bool,
    n_segments: int,
    stickiness: str = "default",
) -> dict[str, Any]:
    strategy: dict[str, Any] = {
        "name": "flexibleRollout",
        "parameters": {
            "rollout": str((rng.randrange(0, 101) + 7 * revision) % 101),
            "stickiness": stickiness,
            "groupId": name,
        },
        "constraints": [_constraint(rng) for _ in range(rng.randint(1, 3))] if constraints else [],
    }
    if n_segments and rng.random() < 0.3:
        strategy["segments"] = [rng.randint(1, n_segments)]
    return strategy


def _user_with_id(rng: random.Random) -> dict[str, Any]:
    user_ids = ",".join(str(rng.randrange(1, 2_000_000)) for _ in range(rng.randint(5, 50)))
    return {"name": "userWithId", "parameters": {"userIds": user_ids}, "constraints": []}


def _constraint(rng: random.Random) -> dict[str, Any]:
    choice = rng.randrange(6)
    if choice == 0:
        values = sorted(rng.sample(COUNTRIES, rng.randint(3, 50)))
        return _listed("country", rng.choice(("IN", "NOT_IN")), values)
    if choice == 1:
        return _listed("plan", "IN", sorted(rng.sample(PLANS, rng.randint(1, 4))))
    if choice == 2:
        domains = rng.sample(EMAIL_DOMAINS, rng.randint(1, 2))
        return _listed("email", "STR_ENDS_WITH", [f"@{domain}" for domain in domains])
    if choice == 3:
        return _single(
            "age", rng.choice(("NUM_GT", "NUM_LT", "NUM_GTE")), str(rng.randrange(16, 70))
        )
    if choice == 4:
        version = f"{rng.randrange(1, 4)}.{rng.randrange(0, 12)}.0"
        return _single("appVersion", rng.choice(("SEMVER_GT", "SEMVER_LT")), version)
    users = sorted({str(rng.randrange(1, 2_000_000)) for _ in range(rng.randint(2, 20))})
    return _listed("userId", "IN", users)


def _listed(context_name: str, operator: str, values: list[str]) -> dict[str, Any]:
    return {
        "contextName": context_name,
        "operator": operator,
        "values": values,
        "inverted": False,
        "caseInsensitive": False,
    }


def _single(context_name: str, operator: str, value: str) -> dict[str, Any]:
    return {
        "contextName": context_name,
        "operator": operator,
        "value": value,
        "inverted": False,
        "caseInsensitive": False,
    }


def _variants(rng: random.Random) -> list[dict[str, Any]]:
    count = rng.randint(2, 4)
    weights = [1000 // count] * count
    weights[0] += 1000 - sum(weights)
    variants = []
    for position, weight in enumerate(weights):
        variant: dict[str, Any] = {
            "name": f"variant-{chr(ord('a') + position)}",
            "weight": weight,
            "weightType": "variable",
            "stickiness": "default",
            "overrides": [],
        }
        if rng.random() < 0.7:
            variant["payload"] = {"type": "string", "value": f"value-{position}"}
        variants.append(variant)
    return variants
