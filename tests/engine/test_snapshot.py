"""Compiled snapshots: evaluation, incremental recompiles, segments, disabled strategies and
dependencies."""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from tests.support.payloads import (
    constraint,
    delta,
    dependency,
    feature,
    feature_removed,
    feature_updated,
    override,
    payload,
    rollout,
    segment,
    segment_removed,
    segment_updated,
    snapshot_of,
    strategy,
    variant,
)
from unleash_lite.engine import (
    CompiledFeature,
    FlagState,
    PayloadError,
    Snapshot,
    StaticContext,
    compile_snapshot,
    disabled_variant,
)

IN_NORWAY = constraint("country", "IN", ["NO"])
ON_PRO = constraint("plan", "IN", ["pro"])


class AlwaysOn:
    def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        return True


def test_compiles_from_a_payload_or_a_state() -> None:
    raw = payload(feature("a"), feature("b", enabled=False))
    from_payload = compile_snapshot(raw)
    from_state = compile_snapshot(FlagState().apply(raw))
    for snapshot in (from_payload, from_state):
        assert len(snapshot) == 2
        assert "a" in snapshot and "zzz" not in snapshot
        assert snapshot.is_enabled("a", {}) is True
        assert snapshot.is_enabled("b", {}) is False


def test_compiling_a_non_payload_raises_payload_error() -> None:
    with pytest.raises(PayloadError):
        compile_snapshot(["not", "a", "payload"])
    with pytest.raises(PayloadError):
        compile_snapshot({"nothing": "here"})


def test_unknown_flag_answers_none() -> None:
    snapshot = snapshot_of(feature("a"))
    assert snapshot.is_enabled("missing", {}) is None
    assert snapshot.get_variant("missing", {}) is None


def test_enabled_flag_without_strategies_is_on() -> None:
    snapshot = snapshot_of(feature("a", []), feature("b", [], enabled=False))
    assert snapshot.is_enabled("a", {"userId": "1"}) is True
    assert snapshot.is_enabled("b", {"userId": "1"}) is False


@pytest.mark.parametrize("enabled_value", [None, "true", 1, "yes"])
def test_only_a_literal_true_enables_a_flag(enabled_value: Any) -> None:
    raw = feature("a")
    raw["enabled"] = enabled_value
    assert snapshot_of(raw).is_enabled("a", {}) is False


def test_feature_metadata_defaults() -> None:
    snapshot = snapshot_of({"name": "bare", "enabled": True}, feature("typed", impressionData=True))
    bare = snapshot.features["bare"]
    assert (bare.project, bare.type, bare.impression_data) == ("default", "release", False)
    assert snapshot.features["typed"].impression_data is True


def test_constant_answers_are_precomputed() -> None:
    snapshot = snapshot_of(
        feature("on"),
        feature("off", enabled=False),
        feature("depends", dependencies=[dependency("on")]),
        feature("contextual", [strategy(constraints=[IN_NORWAY])]),
    )
    assert snapshot.features["on"].constant is True
    assert snapshot.features["off"].constant is False
    assert snapshot.features["depends"].constant is None
    assert snapshot.features["contextual"].constant is None


def test_snapshot_exposes_static_and_custom_strategies() -> None:
    static = StaticContext(app_name="x")
    custom = {"mine": AlwaysOn()}
    snapshot = snapshot_of(
        feature("a", [strategy("mine")]), static=static, custom_strategies=custom
    )
    assert snapshot.static == static
    assert dict(snapshot.custom_strategies) == custom
    assert snapshot.is_enabled("a", {}) is True


# -- lazy compilation ------------------------------------------------------------------------


def compile_all(snapshot: Snapshot) -> dict[str, CompiledFeature]:
    """Every feature of ``snapshot``, compiled now (as evaluations would, one by one)."""
    return dict(snapshot.features)


def test_loading_compiles_nothing_until_a_flag_is_asked_for() -> None:
    snapshot = snapshot_of(feature("a"), feature("b", [rollout(50)]))
    assert len(snapshot.features) == 2 and "b" in snapshot.features
    assert snapshot.features.compiled() == {}
    assert snapshot.is_enabled("a", {}) is True
    assert set(snapshot.features.compiled()) == {"a"}


def test_a_flag_compiles_once_per_snapshot() -> None:
    snapshot = snapshot_of(feature("a", [rollout(50)]))
    first = snapshot.features["a"]
    assert snapshot.features["a"] is first
    assert snapshot.features.get("a") is first
    assert snapshot.features.get("missing") is None
    with pytest.raises(KeyError):
        snapshot.features["missing"]


def test_threads_racing_on_a_first_evaluation_share_one_compiled_feature() -> None:
    snapshot = snapshot_of(*(feature(f"f{i}", [rollout(50)]) for i in range(200)))
    seen: list[dict[str, CompiledFeature]] = []

    def evaluate_all() -> None:
        seen.append({name: snapshot.features[name] for name in snapshot.features})

    threads = [threading.Thread(target=evaluate_all) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = snapshot.features.compiled()
    assert len(stored) == 200
    for result in seen:
        assert all(result[name] is stored[name] for name in stored)


def test_a_parent_compiles_when_its_child_is_evaluated() -> None:
    snapshot = snapshot_of(
        feature("parent"), feature("child", dependencies=[{"feature": "parent"}])
    )
    assert snapshot.is_enabled("child", {}) is True
    assert set(snapshot.features.compiled()) == {"child", "parent"}


# -- incremental recompiles -------------------------------------------------------------------


def test_a_delta_touching_one_flag_reuses_the_others_by_identity() -> None:
    before = snapshot_of(
        feature("a"), feature("b"), feature("c", [strategy(constraints=[IN_NORWAY])])
    )
    compile_all(before)
    after = before.apply(delta(feature_updated(feature("b", enabled=False))))
    assert after.features["a"] is before.features["a"]
    assert after.features["c"] is before.features["c"]
    assert after.features["b"] is not before.features["b"]
    assert after.is_enabled("b", {}) is False
    assert before.is_enabled("b", {}) is True  # the old snapshot is untouched


def test_resending_an_equal_full_payload_reuses_every_feature() -> None:
    raw = payload(feature("a"), feature("b", [rollout(50)]), segments=[segment(1, IN_NORWAY)])
    before = compile_snapshot(raw)
    compile_all(before)
    after = before.apply(copy.deepcopy(raw))
    for name in ("a", "b"):
        assert after.features[name] is before.features[name]


def test_flags_not_compiled_before_a_refresh_compile_after_it() -> None:
    before = snapshot_of(feature("used"), feature("unused"))
    assert before.is_enabled("used", {}) is True
    after = before.apply(delta(feature_updated(feature("other"))))
    assert set(after.features.compiled()) == {"used"}
    assert after.features["used"] is before.features["used"]
    assert after.is_enabled("unused", {}) is True


def test_removing_a_flag_keeps_the_rest() -> None:
    before = snapshot_of(feature("a"), feature("b"))
    compile_all(before)
    after = before.apply(delta(feature_removed("a")))
    assert "a" not in after
    assert after.features["b"] is before.features["b"]
    assert after.is_enabled("a", {}) is None


def test_a_segment_change_recompiles_only_its_dependents() -> None:
    before = snapshot_of(
        feature("uses-1", [strategy(segments=[1])]),
        feature("uses-2", [strategy(segments=[2])]),
        feature("uses-both", [strategy(segments=[2]), strategy(segments=[1])]),
        feature("plain"),
        segments=[segment(1, IN_NORWAY), segment(2, ON_PRO)],
    )
    norway = {"properties": {"country": "NO"}}
    assert before.is_enabled("uses-1", norway) is True

    compile_all(before)
    after = before.apply(delta(segment_updated(segment(1, constraint("country", "IN", ["SE"])))))
    assert after.features["uses-2"] is before.features["uses-2"]
    assert after.features["plain"] is before.features["plain"]
    assert after.features["uses-1"] is not before.features["uses-1"]
    assert after.features["uses-both"] is not before.features["uses-both"]
    assert after.is_enabled("uses-1", norway) is False
    assert after.is_enabled("uses-1", {"properties": {"country": "SE"}}) is True


def test_removing_a_segment_turns_its_dependents_off() -> None:
    before = snapshot_of(
        feature("uses-1", [strategy(segments=[1])]),
        feature("plain"),
        segments=[segment(1, IN_NORWAY)],
    )
    compile_all(before)
    after = before.apply(delta(segment_removed(1)))
    assert after.is_enabled("uses-1", {"country": "NO"}) is False
    assert after.features["uses-1"].problem is not None
    assert after.features["plain"] is before.features["plain"]


def test_a_different_static_context_recompiles_everything() -> None:
    raw = payload(feature("a"), feature("b"))
    before = compile_snapshot(raw, StaticContext(app_name="one"))
    compile_all(before)
    after = compile_snapshot(
        before.state.apply(raw), StaticContext(app_name="two"), previous=before
    )
    assert after.features["a"] is not before.features["a"]
    assert after.static == StaticContext(app_name="two")


def test_different_custom_strategies_recompile_everything() -> None:
    raw = payload(feature("a", [strategy("mine")]))
    before = compile_snapshot(raw)
    assert before.is_enabled("a", {}) is False
    compile_all(before)
    after = compile_snapshot(
        before.state.apply(raw), custom_strategies={"mine": AlwaysOn()}, previous=before
    )
    assert after.features["a"] is not before.features["a"]
    assert after.is_enabled("a", {}) is True


def test_apply_keeps_static_context_and_custom_strategies() -> None:
    static = StaticContext(app_name="shop")
    before = snapshot_of(feature("a"), static=static, custom_strategies={"mine": AlwaysOn()})
    after = before.apply(delta(feature_updated(feature("b", [strategy("mine")]))))
    assert after.static == static
    assert after.is_enabled("b", {}) is True


def test_a_bad_payload_does_not_produce_a_snapshot() -> None:
    before = snapshot_of(feature("a"))
    with pytest.raises(PayloadError):
        before.apply({"features": 5})
    assert before.is_enabled("a", {}) is True


def test_a_flag_whose_missing_segment_arrives_later_is_recompiled() -> None:
    before = snapshot_of(feature("waiting", [strategy(segments=[7])]))
    assert before.is_enabled("waiting", {"country": "NO"}) is False
    after = before.apply(delta(segment_updated(segment(7, IN_NORWAY))))
    assert after.features["waiting"].problem is None
    assert after.is_enabled("waiting", {"country": "NO"}) is True


def test_reapplying_a_payload_edited_in_place_takes_effect() -> None:
    raw = payload(feature("a"))
    before = compile_snapshot(raw)
    raw["features"][0]["enabled"] = False
    after = before.apply(raw)
    assert after.is_enabled("a", {}) is False


# -- segments ---------------------------------------------------------------------------------


def test_segment_constraints_must_all_hold() -> None:
    snapshot = snapshot_of(
        feature("flag", [strategy(segments=[1, 2])]),
        segments=[segment(1, IN_NORWAY), segment(2, ON_PRO)],
    )
    assert snapshot.is_enabled("flag", {"properties": {"country": "NO", "plan": "pro"}})
    assert not snapshot.is_enabled("flag", {"properties": {"country": "NO", "plan": "free"}})


def test_segment_ids_may_be_text() -> None:
    snapshot = snapshot_of(
        feature("flag", [{"name": "default", "segments": ["1"]}]), segments=[segment(1, IN_NORWAY)]
    )
    assert snapshot.is_enabled("flag", {"country": "NO"}) is True
    assert snapshot.is_enabled("flag", {"country": "SE"}) is False


def test_an_unknown_segment_turns_the_whole_flag_off() -> None:
    snapshot = snapshot_of(
        feature(
            "flag",
            [strategy(segments=[404]), strategy("default")],
            variants=[variant("v", 1)],
        ),
        feature("fine"),
    )
    for context in ({}, {"userId": "1"}, {"country": "NO"}):
        assert snapshot.is_enabled("flag", context) is False
        assert snapshot.get_variant("flag", context) == disabled_variant(False)
    assert snapshot.features["flag"].problem == "strategies[0].segments[0]: unknown segment 404"
    assert snapshot.warnings == ("feature 'flag': strategies[0].segments[0]: unknown segment 404",)
    assert snapshot.is_enabled("fine", {}) is True


def test_an_unresolvable_segment_reference_turns_the_flag_off() -> None:
    snapshot = snapshot_of(
        feature("flag", [{"name": "default", "segments": [None]}]), segments=[segment(1, IN_NORWAY)]
    )
    assert snapshot.is_enabled("flag", {"country": "NO"}) is False


# -- disabled strategies ----------------------------------------------------------------------


def test_disabled_strategies_are_skipped() -> None:
    snapshot = snapshot_of(
        feature(
            "flag",
            [
                strategy("default", disabled=True),
                strategy("userWithId", {"userIds": "1"}, disabled=False),
            ],
        )
    )
    assert snapshot.is_enabled("flag", {"userId": "1"}) is True
    assert snapshot.is_enabled("flag", {"userId": "2"}) is False
    assert [s.name for s in snapshot.features["flag"].strategies] == ["userWithId"]


def test_a_flag_whose_strategies_are_all_disabled_is_off() -> None:
    snapshot = snapshot_of(
        feature("flag", [strategy("default", disabled=True), strategy(disabled=True)])
    )
    assert snapshot.is_enabled("flag", {"userId": "1"}) is False
    assert snapshot.features["flag"].problem == (
        "strategies: no usable strategy (every one is disabled or not an object)"
    )
    assert snapshot.get_variant("flag", {}) == disabled_variant(False)


def test_disabled_strategy_variants_are_not_used() -> None:
    snapshot = snapshot_of(
        feature(
            "flag",
            [
                strategy(variants=[variant("from-disabled", 1)], disabled=True),
                strategy(variants=[variant("from-enabled", 1)]),
            ],
        )
    )
    result = snapshot.get_variant("flag", {"userId": "1"})
    assert result is not None and result["name"] == "from-enabled"


# -- malformed definitions --------------------------------------------------------------------


def test_a_definition_that_does_not_compile_is_off_with_a_warning() -> None:
    broken = feature("broken", variants=[{"name": "v", "weight": 1, "overrides": 5}])
    snapshot = snapshot_of(broken, feature("fine"))
    assert snapshot.is_enabled("broken", {}) is False
    assert snapshot.get_variant("broken", {}) == disabled_variant(False)
    problem = snapshot.features["broken"].problem
    assert problem is not None and problem.startswith("definition does not compile")
    assert any("broken" in warning for warning in snapshot.warnings)
    assert snapshot.is_enabled("fine", {}) is True


def test_garbage_strategy_and_constraint_entries_are_tolerated() -> None:
    snapshot = snapshot_of(
        feature("flag", [None, "default", strategy(constraints=[None, IN_NORWAY])]),  # type: ignore[list-item]
    )
    assert snapshot.is_enabled("flag", {"country": "NO"}) is False  # None constraint never holds
    junk_only = snapshot_of(feature("junk", [None, 5]))  # type: ignore[list-item]
    assert junk_only.is_enabled("junk", {}) is False


def test_state_warnings_reach_the_snapshot() -> None:
    snapshot = compile_snapshot({"features": [feature("a"), {"name": ""}]})
    assert snapshot.warnings == ("skipped feature #1: not an object with a name",)


# -- dependencies -----------------------------------------------------------------------------


def test_child_follows_an_enabled_parent() -> None:
    snapshot = snapshot_of(
        feature("parent", [strategy("userWithId", {"userIds": "1"})]),
        feature("child", dependencies=[dependency("parent")]),
    )
    assert snapshot.is_enabled("child", {"userId": "1"}) is True
    assert snapshot.is_enabled("child", {"userId": "2"}) is False


def test_child_of_a_disabled_parent_is_off() -> None:
    snapshot = snapshot_of(
        feature("parent", enabled=False),
        feature("child", dependencies=[dependency("parent", enabled=True)]),
    )
    assert snapshot.is_enabled("child", {}) is False
    assert snapshot.get_variant("child", {}) == disabled_variant(False)


def test_dependency_on_a_disabled_parent() -> None:
    snapshot = snapshot_of(
        feature("kill-switch", [strategy("userWithId", {"userIds": "blocked"})]),
        feature("child", dependencies=[dependency("kill-switch", enabled=False)]),
    )
    assert snapshot.is_enabled("child", {"userId": "ok"}) is True
    assert snapshot.is_enabled("child", {"userId": "blocked"}) is False


def test_dependency_on_parent_variants() -> None:
    parent = feature(
        "parent",
        variants=[
            variant("blue", 0, overrides=[override("userId", "b")]),
            variant("red", 100),
        ],
    )
    snapshot = snapshot_of(
        parent,
        feature("wants-blue", dependencies=[dependency("parent", variants=["blue"])]),
        feature("wants-any", dependencies=[dependency("parent", variants=["blue", "red"])]),
    )
    assert snapshot.is_enabled("wants-blue", {"userId": "b"}) is True
    assert snapshot.is_enabled("wants-blue", {"userId": "r"}) is False
    assert snapshot.is_enabled("wants-any", {"userId": "r"}) is True


def test_variant_dependency_on_a_parent_that_is_off_checks_the_variant_it_would_pick() -> None:
    # As Yggdrasil: with no strategy matching, the parent's own variants are compared, so a
    # "parent off, with variant blue" dependency needs the parent to pick blue.
    colours = [
        variant("blue", 1, overrides=[override("userId", "b")]),
        variant("red", 1, overrides=[override("userId", "r")]),
    ]
    snapshot = snapshot_of(
        feature("parent", [strategy(constraints=[constraint("userId", "IN", ["on"])])],
                variants=colours),
        feature("off-blue", dependencies=[dependency("parent", enabled=False, variants=["blue"])]),
    )
    assert snapshot.is_enabled("off-blue", {"userId": "b"}) is True
    assert snapshot.is_enabled("off-blue", {"userId": "r"}) is False


def test_variant_dependency_on_a_parent_without_variants_only_needs_it_enabled() -> None:
    # As the reference engine: with no variant to compare, the variant requirement passes.
    snapshot = snapshot_of(
        feature("parent"),
        feature("off-parent", enabled=False),
        feature("child", dependencies=[dependency("parent", variants=["blue"])]),
        feature("child-of-off", dependencies=[dependency("off-parent", variants=["blue"])]),
    )
    assert snapshot.is_enabled("child", {}) is True
    assert snapshot.is_enabled("child-of-off", {}) is False


def test_dependency_on_an_unknown_parent_is_off() -> None:
    snapshot = snapshot_of(
        feature("child", dependencies=[dependency("ghost")]),
        feature("child-of-disabled-ghost", dependencies=[dependency("ghost", enabled=False)]),
    )
    assert snapshot.is_enabled("child", {}) is False
    assert snapshot.is_enabled("child-of-disabled-ghost", {}) is False


def test_two_level_chains_fail() -> None:
    snapshot = snapshot_of(
        feature("grandparent"),
        feature("parent", dependencies=[dependency("grandparent")]),
        feature("child", dependencies=[dependency("parent")]),
        feature("child-wants-disabled", dependencies=[dependency("parent", enabled=False)]),
    )
    assert snapshot.is_enabled("parent", {}) is True
    assert snapshot.is_enabled("child", {}) is False
    assert snapshot.is_enabled("child-wants-disabled", {}) is False
    assert snapshot.get_variant("child", {}) == disabled_variant(False)


def test_dependency_cycles_terminate_and_are_off() -> None:
    snapshot = snapshot_of(
        feature("a", dependencies=[dependency("b")]),
        feature("b", dependencies=[dependency("a")]),
        feature("self", dependencies=[dependency("self")]),
    )
    for name in ("a", "b", "self"):
        assert snapshot.is_enabled(name, {}) is False


def test_all_dependencies_must_be_met() -> None:
    snapshot = snapshot_of(
        feature("p1"),
        feature("p2", [strategy("userWithId", {"userIds": "1"})]),
        feature("child", dependencies=[dependency("p1"), dependency("p2")]),
    )
    assert snapshot.is_enabled("child", {"userId": "1"}) is True
    assert snapshot.is_enabled("child", {"userId": "2"}) is False


def test_a_child_still_needs_its_own_strategies() -> None:
    snapshot = snapshot_of(
        feature("parent"),
        feature(
            "child",
            [strategy("userWithId", {"userIds": "1"})],
            dependencies=[dependency("parent")],
        ),
        feature("disabled-child", enabled=False, dependencies=[dependency("parent")]),
    )
    assert snapshot.is_enabled("child", {"userId": "1"}) is True
    assert snapshot.is_enabled("child", {"userId": "2"}) is False
    assert snapshot.is_enabled("disabled-child", {}) is False


def test_child_variants_when_dependencies_hold() -> None:
    snapshot = snapshot_of(
        feature("parent"),
        feature("child", dependencies=[dependency("parent")], variants=[variant("v", 1)]),
    )
    result = snapshot.get_variant("child", {"userId": "1"})
    assert result is not None and result["name"] == "v" and result["feature_enabled"] is True


def test_dependencies_follow_a_parent_updated_by_delta() -> None:
    before = snapshot_of(feature("parent"), feature("child", dependencies=[dependency("parent")]))
    compile_all(before)
    after = before.apply(delta(feature_updated(feature("parent", enabled=False))))
    assert after.features["child"] is before.features["child"]
    assert after.is_enabled("child", {}) is False
    assert before.is_enabled("child", {}) is True


def test_malformed_dependencies_are_ignored() -> None:
    snapshot = snapshot_of(
        feature("child", dependencies=[None, {"enabled": True}, {"feature": ""}])  # type: ignore[list-item]
    )
    assert snapshot.is_enabled("child", {}) is True


def test_a_definition_equal_only_under_python_equality_is_recompiled() -> None:
    # True == 1 in Python, but "enabled": 1 is not an enabled flag: no stale reuse.
    before = compile_snapshot({"features": [{"name": "a", "enabled": True, "strategies": []}]})
    after = before.apply({"features": [{"name": "a", "enabled": 1, "strategies": []}]})
    assert before.is_enabled("a", {}) is True
    assert after.is_enabled("a", {}) is False


def test_a_segment_equal_only_under_python_equality_recompiles_its_flags() -> None:
    def with_segment_value(value: object) -> dict[str, object]:
        return {
            "features": [
                {"name": "a", "enabled": True, "strategies": [{"name": "default", "segments": [1]}]}
            ],
            "segments": [
                {
                    "id": 1,
                    "constraints": [{"contextName": "flag", "operator": "IN", "values": [value]}],
                }
            ],
        }

    before = compile_snapshot(with_segment_value(1))
    after = before.apply(with_segment_value(True))
    assert before.is_enabled("a", {"flag": "1"}) is True
    assert after.is_enabled("a", {"flag": "1"}) is False
    assert after.is_enabled("a", {"flag": "True"}) is True
