"""The raw flag state: feature and segment definitions as the Unleash client API sends them.

Accepts both formats of ``/api/client/features``: the full payload (``version``, ``features``,
``segments``, ``query``, ``meta``) and the delta format (``{"events": [...]}`` with
``hydration``, ``feature-updated``, ``feature-removed``, ``segment-updated`` and
``segment-removed``). Applying a payload returns a new state; states are never mutated.
"""

from __future__ import annotations

import marshal
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

RawFeature = Mapping[str, Any]
RawSegment = Mapping[str, Any]


class PayloadError(ValueError):
    """The payload is not a features payload or delta at all (the last good state is kept)."""


@dataclass(frozen=True)
class FlagState:
    """Feature definitions by name and segment definitions by id."""

    features: Mapping[str, RawFeature] = field(default_factory=lambda: MappingProxyType({}))
    segments: Mapping[int, RawSegment] = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[str, ...] = ()

    def apply(self, payload: Any, owned: bool = False) -> FlagState:
        """The state after ``payload``: a full payload replaces it, a delta updates it.

        The state keeps a private copy of the definitions, so a caller editing its payload
        afterwards changes nothing; ``owned=True`` (a payload just parsed from JSON, which
        nobody else holds) skips that copy.
        """
        if not isinstance(payload, Mapping):
            raise PayloadError(f"expected a JSON object, got {type(payload).__name__}")
        if not owned:
            payload = _private_copy(payload)
        if "events" in payload:
            return self._apply_events(payload["events"])
        if "features" not in payload:
            raise PayloadError("payload has neither 'features' nor 'events'")
        warnings: list[str] = []
        return FlagState(
            _features_by_name(payload["features"], warnings),
            _segments_by_id(payload.get("segments"), warnings),
            tuple(warnings),
        )

    def to_payload(self) -> dict[str, Any]:
        """The state as a full client API payload (for caches and bootstrap files)."""
        return {
            "version": 2,
            "features": [dict(feature) for feature in self.features.values()],
            "segments": [dict(segment) for segment in self.segments.values()],
        }

    def _apply_events(self, events: Any) -> FlagState:
        if not isinstance(events, list):
            raise PayloadError("delta 'events' is not a list")
        features = dict(self.features)
        segments = dict(self.segments)
        warnings: list[str] = []
        for event in events:
            kind = event.get("type") if isinstance(event, Mapping) else None
            if kind == "hydration":
                features = dict(_features_by_name(event.get("features"), warnings))
                segments = dict(_segments_by_id(event.get("segments"), warnings))
            elif kind == "feature-updated":
                features.update(_features_by_name([event.get("feature")], warnings))
            elif kind == "feature-removed":
                name = event.get("featureName")
                if isinstance(name, str):
                    features.pop(name, None)
            elif kind == "segment-updated":
                segments.update(_segments_by_id([event.get("segment")], warnings))
            elif kind == "segment-removed":
                removed = segment_id(event.get("segmentId"))
                if removed is not None:
                    segments.pop(removed, None)
            else:
                warnings.append(f"ignored delta event of unknown type {kind!r}")
        return FlagState(MappingProxyType(features), MappingProxyType(segments), tuple(warnings))


def _features_by_name(raw_features: Any, warnings: list[str]) -> Mapping[str, RawFeature]:
    if not isinstance(raw_features, list):
        raise PayloadError("'features' is not a list")
    features: dict[str, RawFeature] = {}
    for position, raw in enumerate(raw_features):
        name = feature_name(raw)
        if name is not None:
            features[name] = raw
        else:
            warnings.append(f"skipped feature #{position}: not an object with a name")
    return MappingProxyType(features)


def _segments_by_id(raw_segments: Any, warnings: list[str]) -> Mapping[int, RawSegment]:
    segments: dict[int, RawSegment] = {}
    if raw_segments is None:
        return MappingProxyType(segments)
    if not isinstance(raw_segments, list):
        raise PayloadError("'segments' is not a list")
    for position, raw in enumerate(raw_segments):
        key = segment_key(raw)
        if key is None:
            warnings.append(f"skipped segment #{position}: no numeric id")
        else:
            segments[key] = raw
    return MappingProxyType(segments)


def feature_name(raw: Any) -> str | None:
    """The name of a feature definition; None when it is not an object with a name."""
    name = raw.get("name") if isinstance(raw, Mapping) else None
    return name if isinstance(name, str) and name else None


def segment_key(raw: Any) -> int | None:
    """The id of a segment definition; None when it is not an object with a numeric id."""
    return segment_id(raw.get("id")) if isinstance(raw, Mapping) else None


def segment_id(value: Any) -> int | None:
    """A segment id as an int (ids may arrive as numbers or numeric text); None if it is not."""
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _private_copy(value: Any) -> Any:
    """A copy of a JSON-like value, so that a caller editing its payload afterwards cannot
    change definitions behind the snapshot's back (nor defeat its reuse of unchanged ones)."""
    try:
        # marshal copies plain dicts, lists and scalars in C, three times faster than a walk.
        return marshal.loads(marshal.dumps(value))
    except ValueError:  # something marshal does not take (a Mapping that is not a dict...)
        return _copy_mappings(value)


def _copy_mappings(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _copy_mappings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_mappings(item) for item in value]
    return value
