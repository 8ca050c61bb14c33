"""Small builders for Unleash client API payloads: the one set every suite uses.

Each builder returns the plain JSON-shaped dict the Unleash server would send, with only the
fields a test cares about, so a test reads as the flag it describes. ``body_of`` and
``etag_of`` give the bytes and the ETag the fake server (``tests.support.server``) serves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import mmh3

from unleash_lite.engine import Snapshot, StaticContext, compile_snapshot
from unleash_lite.engine.strategies import CustomStrategy

VARIANT_HASH_SEED = 86028157  # the reference engine's seed for variant buckets


def constraint(
    context_name: str,
    operator: str,
    values: Iterable[Any] | None = None,
    *,
    value: Any = None,
    inverted: bool = False,
    case_insensitive: bool = False,
) -> dict[str, Any]:
    """A constraint: list operators take ``values``, single-value operators ``value``."""
    raw: dict[str, Any] = {
        "contextName": context_name,
        "operator": operator,
        "inverted": inverted,
        "caseInsensitive": case_insensitive,
    }
    if values is not None:
        raw["values"] = list(values)
    if value is not None:
        raw["value"] = value
    return raw


def strategy(
    name: str = "default",
    parameters: Mapping[str, Any] | None = None,
    *,
    constraints: Iterable[Mapping[str, Any]] = (),
    segments: Iterable[int] = (),
    variants: list[dict[str, Any]] | None = None,
    disabled: bool | None = None,
) -> dict[str, Any]:
    """An activation strategy."""
    raw: dict[str, Any] = {
        "name": name,
        "parameters": dict(parameters or {}),
        "constraints": list(constraints),
        "segments": list(segments),
    }
    if variants is not None:
        raw["variants"] = variants
    if disabled is not None:
        raw["disabled"] = disabled
    return raw


def rollout(
    percentage: int | str,
    stickiness: str = "default",
    group_id: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """A ``flexibleRollout`` strategy."""
    parameters: dict[str, Any] = {"rollout": str(percentage), "stickiness": stickiness}
    if group_id is not None:
        parameters["groupId"] = group_id
    return strategy("flexibleRollout", parameters, **kwargs)


def variant(
    name: str,
    weight: int = 100,
    *,
    stickiness: str | None = None,
    payload: Mapping[str, Any] | None = None,
    overrides: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A variant (feature or strategy variant)."""
    raw: dict[str, Any] = {"name": name, "weight": weight, "weightType": "variable"}
    if stickiness is not None:
        raw["stickiness"] = stickiness
    if payload is not None:
        raw["payload"] = dict(payload)
    if overrides is not None:
        raw["overrides"] = overrides
    return raw


def variants(*names: str, weight: int | None = None) -> list[dict[str, Any]]:
    """Feature variants of equal weight (one name: everybody gets it), default stickiness,
    each with a string payload: its own name."""
    each = 1000 // max(len(names), 1) if weight is None else weight
    return [variant(name, each, stickiness="default", payload={"type": "string", "value": name})
            for name in names]


def override(context_name: str, *values: str) -> dict[str, Any]:
    """A variant override: contexts whose field is one of ``values`` get the variant."""
    return {"contextName": context_name, "values": list(values)}


def dependency(
    parent: str, *, enabled: bool | None = None, variants: list[str] | None = None
) -> dict[str, Any]:
    """A dependency on a parent flag."""
    raw: dict[str, Any] = {"feature": parent}
    if enabled is not None:
        raw["enabled"] = enabled
    if variants is not None:
        raw["variants"] = variants
    return raw


def feature(
    name: str,
    strategies: list[dict[str, Any]] | None = None,
    *,
    enabled: bool = True,
    variants: list[dict[str, Any]] | None = None,
    dependencies: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A feature flag; by default enabled with one plain ``default`` strategy."""
    raw: dict[str, Any] = {
        "name": name,
        "enabled": enabled,
        "type": "release",
        "project": "default",
        "strategies": [strategy()] if strategies is None else strategies,
        **extra,
    }
    if variants is not None:
        raw["variants"] = variants
    if dependencies is not None:
        raw["dependencies"] = dependencies
    return raw


def segment(segment_id: int, *constraints: Mapping[str, Any]) -> dict[str, Any]:
    """A segment: a named, reusable list of constraints."""
    return {"id": segment_id, "name": f"segment-{segment_id}", "constraints": list(constraints)}


def payload(
    *features: Mapping[str, Any], segments: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """A full (version 2) client features payload."""
    return {"version": 2, "features": list(features), "segments": list(segments)}


def body_of(data: Any) -> str:
    """The compact JSON text of a payload, as the fake server sends it."""
    return json.dumps(data, separators=(",", ":"))


def encode(data: Any) -> bytes:
    return body_of(data).encode()


def etag_of(data: Any) -> str:
    """A strong ETag for a payload: the same payload always has the same one."""
    return '"' + hashlib.sha256(body_of(data).encode()).hexdigest()[:16] + '"'


def delta(*events: Mapping[str, Any]) -> dict[str, Any]:
    """A delta payload."""
    return {"events": list(events)}


def hydration(
    *features: Mapping[str, Any], segments: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    return {"type": "hydration", "features": list(features), "segments": list(segments)}


def feature_updated(definition: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "feature-updated", "feature": definition}


def feature_removed(name: str) -> dict[str, Any]:
    return {"type": "feature-removed", "featureName": name}


def segment_updated(definition: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "segment-updated", "segment": definition}


def segment_removed(segment_id: int) -> dict[str, Any]:
    return {"type": "segment-removed", "segmentId": segment_id}


def snapshot_of(
    *features: Mapping[str, Any],
    segments: Iterable[Mapping[str, Any]] = (),
    static: StaticContext | None = None,
    custom_strategies: Mapping[str, CustomStrategy] | None = None,
) -> Snapshot:
    """Compile the given flags into a snapshot."""
    return compile_snapshot(payload(*features, segments=segments), static, custom_strategies)


def bucket(group_id: str, identifier: str, modulus: int = 100, seed: int = 0) -> int:
    """The reference bucket, computed here independently of the engine's hashing module:
    MurmurHash3 x86_32 of ``"groupId:identifier"`` read as unsigned, modulo, plus one."""
    unsigned = mmh3.hash(f"{group_id}:{identifier}".encode(), seed) & 0xFFFFFFFF
    return unsigned % modulus + 1


def expected_variant(group_id: str, identifier: str, weights: list[tuple[str, int]]) -> str:
    """The variant the reference algorithm picks for a seed: walk the cumulative weights."""
    target = bucket(group_id, identifier, sum(w for _, w in weights), VARIANT_HASH_SEED)
    running = 0
    for name, weight in weights:
        running += weight
        if running >= target:
            return name
    raise AssertionError("weights add up to nothing")
