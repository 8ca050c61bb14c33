"""Explanations: the reason behind every kind of answer, and agreement with the hot path."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.payloads import (
    bucket,
    constraint,
    dependency,
    expected_variant,
    feature,
    rollout,
    snapshot_of,
    strategy,
    variant,
)
from unleash_lite.engine import disabled_variant
from unleash_lite.engine.explain import Explanation, Reason, explain

SNAPSHOT = snapshot_of(
    feature("off", enabled=False),
    feature("bare", []),
    feature("broken-segment", [strategy(segments=[99])]),
    feature("needs-off", dependencies=[dependency("off")]),
    feature("needs-bare", dependencies=[dependency("bare")]),
    feature("rollout-30", [rollout(30, "userId", "grp")]),
    feature("norway", [strategy(constraints=[constraint("country", "IN", ["NO"])])]),
    feature("bad-operator", [strategy(constraints=[constraint("x", "NOPE", ["1"])])]),
    feature(
        "two-strategies",
        [
            strategy("userWithId", {"userIds": "1"}),
            strategy(constraints=[constraint("plan", "IN", ["pro"])]),
        ],
    ),
    feature("unknown-strategy", [strategy("fancy")]),
    feature(
        "with-variants",
        [strategy()],
        variants=[variant("a", 50), variant("b", 50)],
    ),
    feature("host", [strategy("applicationHostname", {"hostNames": "nowhere"})]),
)

CONTEXTS: list[dict[str, Any]] = [
    {},
    {"userId": "1"},
    {"userId": "2", "properties": {"plan": "pro", "country": "NO"}},
    {"userId": "carol", "country": "SE"},
    {"sessionId": "s-1", "x": "1"},
]


def explained(name: str, context: dict[str, Any] | None = None) -> Explanation:
    return explain(SNAPSHOT, name, context or {})


def test_unknown_flag() -> None:
    result = explained("nope")
    assert result.reason is Reason.UNKNOWN_FLAG
    assert result.enabled is False
    assert result.variant == disabled_variant(False)
    assert result.feature_name == "nope"


def test_disabled_flag() -> None:
    result = explained("off")
    assert result.reason is Reason.DISABLED
    assert result.enabled is False
    assert "disabled" in result.message


def test_invalid_definition() -> None:
    result = explained("broken-segment")
    assert result.reason is Reason.INVALID_DEFINITION
    assert result.enabled is False
    assert "unknown segment 99" in result.message


def test_dependency_unmet_names_the_parent() -> None:
    result = explained("needs-off")
    assert result.reason is Reason.DEPENDENCY_UNMET
    assert result.enabled is False
    assert "'off'" in result.message
    assert explained("needs-bare").reason is Reason.STRATEGY_MATCHED


def test_no_strategies() -> None:
    result = explained("bare")
    assert result.reason is Reason.NO_STRATEGIES
    assert result.enabled is True
    assert result.variant == disabled_variant(True)
    assert result.strategy is None


def test_rollout_match_reports_bucket_and_threshold() -> None:
    user = next(u for u in (f"u{n}" for n in range(1000)) if bucket("grp", u) <= 30)
    result = explained("rollout-30", {"userId": user})
    assert result.reason is Reason.STRATEGY_MATCHED
    assert result.enabled is True
    assert result.strategy is not None
    assert result.strategy.bucket == bucket("grp", user)
    assert result.strategy.rollout == 30
    assert result.strategy.matched is True
    assert f"bucket {bucket('grp', user)} <= rollout 30%" in result.message
    assert "stickiness userId" in result.message and "'grp'" in result.message


def test_rollout_miss_reports_bucket_and_threshold() -> None:
    user = next(u for u in (f"u{n}" for n in range(1000)) if bucket("grp", u) > 30)
    result = explained("rollout-30", {"userId": user})
    assert result.reason is Reason.NO_STRATEGY_MATCHED
    assert result.enabled is False
    [trace] = result.strategies
    assert trace.bucket == bucket("grp", user)
    assert trace.rollout == 30
    assert f"bucket {trace.bucket} > rollout 30%" in result.message


def test_rollout_in_the_empty_group_explains_the_bucket_it_was_evaluated_with() -> None:
    # The explanation reads the compiled rollout, so it names the group the hot path hashes in.
    snapshot = snapshot_of(
        feature("legacy", [strategy("gradualRolloutUserId", {"percentage": "100", "groupId": ""})])
    )
    result = explain(snapshot, "legacy", {"userId": "u7"})
    assert result.reason is Reason.STRATEGY_MATCHED
    assert result.strategy is not None
    assert result.strategy.bucket == bucket("", "u7")
    assert "group ''" in result.message


def test_rollout_without_a_stickiness_value() -> None:
    result = explained("rollout-30", {"sessionId": "s"})
    assert result.reason is Reason.NO_STRATEGY_MATCHED
    [trace] = result.strategies
    assert trace.bucket is None
    assert trace.rollout == 30
    assert "no userId to stick to" in trace.detail


def test_failed_constraint_reports_the_value_seen() -> None:
    result = explained("norway", {"country": "SE"})
    assert result.reason is Reason.NO_STRATEGY_MATCHED
    [trace] = result.strategies
    assert trace.failed_constraint == "country IN [NO]"
    assert trace.seen_value == "SE"
    assert "'SE'" in result.message
    missing = explained("norway", {})
    assert missing.strategies[0].seen_value is None
    assert "None" in missing.message


def test_invalid_constraint_says_why() -> None:
    result = explained("bad-operator", {"x": "1"})
    assert result.reason is Reason.NO_STRATEGY_MATCHED
    assert 'unknown operator "NOPE"' in result.message


def test_matched_constraint_strategy() -> None:
    result = explained("norway", {"country": "NO"})
    assert result.reason is Reason.STRATEGY_MATCHED
    assert result.strategy is not None
    assert result.strategy.detail == "constraints hold, default strategy"


def test_traces_cover_strategies_up_to_the_match() -> None:
    result = explained("two-strategies", {"userId": "2", "properties": {"plan": "pro"}})
    assert result.reason is Reason.STRATEGY_MATCHED
    assert [(t.index, t.name, t.matched) for t in result.strategies] == [
        (0, "userWithId", False),
        (1, "default", True),
    ]
    assert result.message.startswith("strategy #2 (default) matched")
    first = explained("two-strategies", {"userId": "1"})
    assert [t.matched for t in first.strategies] == [True]


def test_no_strategy_matched_lists_every_strategy() -> None:
    result = explained("two-strategies", {"userId": "9"})
    assert result.reason is Reason.NO_STRATEGY_MATCHED
    assert len(result.strategies) == 2
    assert "#1 userWithId" in result.message and "#2 default" in result.message
    assert result.variant == disabled_variant(False)


def test_unknown_strategy_says_so() -> None:
    result = explained("unknown-strategy")
    assert result.reason is Reason.NO_STRATEGY_MATCHED
    assert 'unknown strategy "fancy"' in result.message


def test_rule_that_did_not_pass() -> None:
    result = explained("host")
    assert result.strategies[0].detail == "no constraints, applicationHostname rule did not pass"


def test_variant_is_part_of_the_explanation() -> None:
    weights = [("a", 50), ("b", 50)]
    for user in ("1", "2", "3", "4", "5", "6"):
        result = explained("with-variants", {"userId": user})
        wanted = expected_variant("with-variants", user, weights)
        assert result.variant["name"] == wanted
        assert result.variant == SNAPSHOT.get_variant("with-variants", {"userId": user})
        assert f"variant '{wanted}'" in result.message


@pytest.mark.parametrize("name", sorted(SNAPSHOT.features))
def test_explain_agrees_with_is_enabled_and_get_variant(name: str) -> None:
    for context in CONTEXTS:
        result = explain(SNAPSHOT, name, context)
        variant = SNAPSHOT.get_variant(name, context)
        assert result.enabled is SNAPSHOT.is_enabled(name, context)
        if "userId" in context or "sessionId" in context:
            assert result.variant == variant
        else:  # nothing to stick to: both draw a variant at random
            assert variant is not None
            assert (result.variant["enabled"], result.variant["feature_enabled"]) == (
                variant["enabled"],
                variant["feature_enabled"],
            )
        assert isinstance(result.message, str) and result.message


def test_reason_values_are_stable_strings() -> None:
    assert {reason.value for reason in Reason} == {
        "unknown_flag",
        "disabled",
        "invalid_definition",
        "dependency_unmet",
        "no_strategies",
        "strategy_matched",
        "no_strategy_matched",
        "fallback",
        "overridden",
    }
