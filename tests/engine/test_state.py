"""FlagState: full and delta payloads, events on an existing state, and bad shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.payloads import (
    constraint,
    delta,
    feature,
    feature_removed,
    feature_updated,
    hydration,
    payload,
    segment,
    segment_removed,
    segment_updated,
)
from unleash_lite.engine import FlagState, PayloadError

A, B, C = feature("a"), feature("b", enabled=False), feature("c", [])
SEGMENT_1 = segment(1, constraint("country", "IN", ["NO"]))
SEGMENT_2 = segment(2, constraint("plan", "IN", ["pro"]))


def state_of(raw: Any) -> FlagState:
    return FlagState().apply(raw)


def test_full_payload_indexes_features_and_segments() -> None:
    state = state_of(payload(A, B, C, segments=[SEGMENT_1, SEGMENT_2]))
    assert list(state.features) == ["a", "b", "c"]
    assert state.features["b"] == B
    assert dict(state.segments) == {1: SEGMENT_1, 2: SEGMENT_2}
    assert state.warnings == ()


def test_full_payload_may_omit_segments_and_extra_fields_are_ignored() -> None:
    raw = {"version": 2, "features": [A], "query": {"project": ["x"]}, "meta": {"etag": "1"}}
    state = state_of(raw)
    assert list(state.features) == ["a"]
    assert dict(state.segments) == {}
    assert state_of({"features": [A], "segments": None}).segments == {}


def test_empty_state() -> None:
    state = FlagState()
    assert dict(state.features) == {}
    assert dict(state.segments) == {}
    assert state.to_payload() == {"version": 2, "features": [], "segments": []}


def test_a_full_payload_replaces_the_previous_state() -> None:
    first = state_of(payload(A, B, segments=[SEGMENT_1]))
    second = first.apply(payload(C))
    assert list(second.features) == ["c"]
    assert dict(second.segments) == {}
    assert list(first.features) == ["a", "b"]  # states are never mutated


def test_to_payload_round_trips() -> None:
    state = state_of(payload(A, B, segments=[SEGMENT_1]))
    again = FlagState().apply(state.to_payload())
    assert dict(again.features) == dict(state.features)
    assert dict(again.segments) == dict(state.segments)


def test_a_later_duplicate_feature_name_wins() -> None:
    state = state_of(payload(feature("dup", enabled=True), feature("dup", enabled=False)))
    assert state.features["dup"]["enabled"] is False


@pytest.mark.parametrize("raw", [None, [], [A], "features", 42, 1.5, True, b"{}"])
def test_a_payload_that_is_not_an_object_is_rejected(raw: Any) -> None:
    with pytest.raises(PayloadError, match="expected a JSON object"):
        state_of(raw)


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"version": 2},
        {"toggles": []},
        {"features": None},
        {"features": {"a": A}},
        {"features": "a,b"},
        {"features": [A], "segments": {"1": SEGMENT_1}},
        {"features": [A], "segments": "1"},
        {"events": None},
        {"events": {"type": "hydration"}},
        {"events": [{"type": "hydration", "features": None}]},
        {"events": [{"type": "hydration", "features": [], "segments": 3}]},
    ],
)
def test_bad_payload_shapes_raise_payload_error(raw: Any) -> None:
    with pytest.raises(PayloadError):
        state_of(raw)


def test_payload_error_is_a_value_error() -> None:
    assert issubclass(PayloadError, ValueError)


def test_bad_payload_leaves_the_previous_state_untouched() -> None:
    state = state_of(payload(A))
    with pytest.raises(PayloadError):
        state.apply({"features": "nope"})
    assert list(state.features) == ["a"]


@pytest.mark.parametrize(
    "bad_feature",
    [None, "a", 42, [], {}, {"name": ""}, {"name": None}, {"name": 7}, {"enabled": True}],
)
def test_malformed_features_are_skipped_with_a_warning(bad_feature: Any) -> None:
    state = state_of({"features": [A, bad_feature, B]})
    assert list(state.features) == ["a", "b"]
    assert state.warnings == ("skipped feature #1: not an object with a name",)


@pytest.mark.parametrize("bad_segment", [None, "seg", {}, {"id": "x"}, {"id": None}, {"id": True}])
def test_malformed_segments_are_skipped_with_a_warning(bad_segment: Any) -> None:
    state = state_of({"features": [], "segments": [SEGMENT_1, bad_segment]})
    assert list(state.segments) == [1]
    assert state.warnings == ("skipped segment #1: no numeric id",)


def test_segment_ids_given_as_text_are_numbers() -> None:
    state = state_of({"features": [], "segments": [{"id": "12", "constraints": []}]})
    assert list(state.segments) == [12]


# -- delta ------------------------------------------------------------------------------------


def test_hydration_replaces_everything() -> None:
    state = state_of(payload(A, B, segments=[SEGMENT_1]))
    hydrated = state.apply(delta(hydration(C, segments=[SEGMENT_2])))
    assert list(hydrated.features) == ["c"]
    assert list(hydrated.segments) == [2]


def test_delta_without_hydration_applies_on_an_empty_state() -> None:
    state = state_of(delta(feature_updated(A), segment_updated(SEGMENT_1)))
    assert list(state.features) == ["a"]
    assert list(state.segments) == [1]


def test_feature_updated_adds_or_replaces_one_feature() -> None:
    state = state_of(payload(A, B))
    replaced_b = feature("b", enabled=True)
    updated = state.apply(delta(feature_updated(replaced_b), feature_updated(C)))
    assert list(updated.features) == ["a", "b", "c"]
    assert updated.features["b"] == replaced_b
    assert updated.features["a"] is state.features["a"]
    assert state.features["b"] == B


def test_feature_removed() -> None:
    state = state_of(payload(A, B)).apply(delta(feature_removed("a"), feature_removed("zzz")))
    assert list(state.features) == ["b"]
    assert state.warnings == ()


def test_segment_updated_and_removed() -> None:
    state = state_of(payload(A, segments=[SEGMENT_1]))
    changed_1 = segment(1, constraint("country", "IN", ["SE"]))
    updated = state.apply(delta(segment_updated(changed_1), segment_updated(SEGMENT_2)))
    assert dict(updated.segments) == {1: changed_1, 2: SEGMENT_2}
    removed = updated.apply(delta(segment_removed(1)))
    assert list(removed.segments) == [2]
    removed_by_text = updated.apply(delta({"type": "segment-removed", "segmentId": "2"}))
    assert list(removed_by_text.segments) == [1]
    unchanged = updated.apply(delta({"type": "segment-removed", "segmentId": "abc"}))
    assert list(unchanged.segments) == [1, 2]


def test_events_apply_in_order() -> None:
    state = state_of(
        delta(
            hydration(A, B),
            feature_removed("a"),
            feature_updated(feature("a", enabled=False)),
            feature_updated(feature("b", enabled=True)),
            feature_removed("b"),
        )
    )
    assert list(state.features) == ["a"]
    assert state.features["a"]["enabled"] is False


def test_unknown_and_malformed_events_are_skipped_with_warnings() -> None:
    state = state_of(payload(A)).apply(
        delta({"type": "feature-archived"}, "junk", None, {"no": "type"}, feature_updated(B))
    )
    assert list(state.features) == ["a", "b"]
    assert state.warnings == (
        "ignored delta event of unknown type 'feature-archived'",
        "ignored delta event of unknown type None",
        "ignored delta event of unknown type None",
        "ignored delta event of unknown type None",
    )


def test_malformed_feature_in_an_update_event_is_skipped() -> None:
    state = state_of(payload(A)).apply(
        delta(feature_updated({"enabled": True}), {"type": "feature-updated"})
    )
    assert list(state.features) == ["a"]
    assert len(state.warnings) == 2
    assert all("skipped feature" in warning for warning in state.warnings)


def test_malformed_segment_in_an_update_event_is_skipped() -> None:
    state = state_of(payload(A, segments=[SEGMENT_1])).apply(
        delta(segment_updated({"constraints": []}), {"type": "segment-updated", "segment": None})
    )
    assert list(state.segments) == [1]
    assert state.warnings == ("skipped segment #0: no numeric id",) * 2


def test_warnings_do_not_carry_over_to_the_next_state() -> None:
    noisy = state_of({"features": [A, None]})
    assert noisy.warnings
    assert noisy.apply(delta(feature_updated(B))).warnings == ()


def test_empty_delta_keeps_the_state() -> None:
    state = state_of(payload(A, segments=[SEGMENT_1]))
    same = state.apply(delta())
    assert dict(same.features) == dict(state.features)
    assert dict(same.segments) == dict(state.segments)


def test_a_payload_with_events_is_read_as_a_delta() -> None:
    state = state_of(payload(A)).apply({"events": [feature_updated(B)], "features": [C]})
    assert list(state.features) == ["a", "b"]


def test_state_mappings_are_read_only() -> None:
    state = state_of(payload(A, segments=[SEGMENT_1]))
    with pytest.raises(TypeError):
        state.features["x"] = A  # type: ignore[index]
    with pytest.raises(TypeError):
        state.segments[9] = SEGMENT_1  # type: ignore[index]


def test_feature_removed_event_without_a_name_removes_nothing() -> None:
    state = state_of(payload(feature("None"), A)).apply(delta({"type": "feature-removed"}))
    assert list(state.features) == ["None", "a"]


def test_an_infinite_segment_id_is_skipped_with_a_warning() -> None:
    raw = json.loads('{"features": [], "segments": [{"id": 1e999, "constraints": []}]}')
    state = state_of(raw)
    assert dict(state.segments) == {}
    assert state.warnings == ("skipped segment #0: no numeric id",)
    removed = state.apply(delta({"type": "segment-removed", "segmentId": float("inf")}))
    assert dict(removed.segments) == {}
