"""Variant selection: weights, overrides, stickiness, randomness and result dicts."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from tests.support.payloads import (
    constraint,
    expected_variant,
    feature,
    override,
    rollout,
    snapshot_of,
    strategy,
    variant,
)
from unleash_lite.engine import StaticContext, disabled_variant
from unleash_lite.engine.variants import compile_variants

USERS = [f"user-{n}" for n in range(300)]
PAYLOAD = {"type": "json", "value": '{"color": "blue"}'}


def variant_name(snapshot: Any, flag: str, context: dict[str, Any]) -> str:
    result = snapshot.get_variant(flag, context)
    assert result is not None
    return str(result["name"])


def test_feature_variants_follow_the_reference_hash() -> None:
    weights = [("red", 200), ("green", 300), ("blue", 500)]
    snapshot = snapshot_of(
        feature("colors", variants=[variant(name, weight) for name, weight in weights])
    )
    for user in USERS:
        expected = expected_variant("colors", user, weights)
        assert variant_name(snapshot, "colors", {"userId": user}) == expected


def test_zero_weight_variants_are_never_chosen() -> None:
    snapshot = snapshot_of(
        feature(
            "flag",
            variants=[variant("zero-a", 0), variant("only", 100), variant("zero-b", 0)],
        )
    )
    chosen = {variant_name(snapshot, "flag", {"userId": user}) for user in USERS}
    assert chosen == {"only"}
    random.seed(2)
    assert {variant_name(snapshot, "flag", {}) for _ in range(200)} == {"only"}


def test_all_zero_weights_give_the_disabled_variant_of_an_enabled_flag() -> None:
    snapshot = snapshot_of(feature("flag", variants=[variant("a", 0), variant("b", 0)]))
    assert snapshot.get_variant("flag", {"userId": "1"}) == disabled_variant(True)


def test_weights_given_as_text_and_garbage() -> None:
    raw = [
        {"name": "text", "weight": "60"},
        {"name": "junk", "weight": "heavy"},
        {"name": "negative", "weight": -40},
        {"name": "number", "weight": 40},
    ]
    compiled = compile_variants(raw, "flag", None, StaticContext())
    assert compiled is not None
    assert [(v.name, v.weight) for v in compiled.variants] == [
        ("text", 60),
        ("junk", 0),
        ("negative", 0),
        ("number", 40),
    ]
    assert compiled.total_weight == 100


def test_malformed_variants_are_skipped() -> None:
    raw: list[Any] = [None, "red", {"weight": 5}, {"name": 7, "weight": 5}, variant("ok", 5)]
    compiled = compile_variants(raw, "flag", None, StaticContext())
    assert compiled is not None
    assert [v.name for v in compiled.variants] == ["ok"]
    assert compile_variants("not a list", "flag", None, StaticContext()) is None
    assert compile_variants([None], "flag", None, StaticContext()) is None


# -- overrides --------------------------------------------------------------------------------


def test_user_override_wins_over_the_hash() -> None:
    snapshot = snapshot_of(
        feature(
            "flag",
            variants=[
                variant("a", 100),
                variant("b", 0, overrides=[override("userId", "vip-1", "vip-2")]),
            ],
        )
    )
    assert variant_name(snapshot, "flag", {"userId": "vip-1"}) == "b"
    assert variant_name(snapshot, "flag", {"userId": "vip-2"}) == "b"
    assert variant_name(snapshot, "flag", {"userId": "regular"}) == "a"


def test_override_on_a_custom_property() -> None:
    snapshot = snapshot_of(
        feature(
            "flag",
            variants=[
                variant("default", 100),
                variant("enterprise", 0, overrides=[override("tenant", "acme", "globex")]),
            ],
        )
    )
    assert variant_name(snapshot, "flag", {"properties": {"tenant": "acme"}}) == "enterprise"
    assert variant_name(snapshot, "flag", {"tenant": "globex"}) == "enterprise"
    assert variant_name(snapshot, "flag", {"properties": {"tenant": "initech"}}) == "default"


def test_first_variant_with_a_matching_override_wins() -> None:
    snapshot = snapshot_of(
        feature(
            "flag",
            variants=[
                variant("first", 50, overrides=[override("userId", "both")]),
                variant("second", 50, overrides=[override("userId", "both", "only-second")]),
            ],
        )
    )
    assert variant_name(snapshot, "flag", {"userId": "both"}) == "first"
    assert variant_name(snapshot, "flag", {"userId": "only-second"}) == "second"


def test_overrides_on_strategy_variants() -> None:
    strategy_variants = [
        variant("s1", 100),
        variant("s2", 0, overrides=[override("userId", "7")]),
    ]
    snapshot = snapshot_of(feature("flag", [strategy(variants=strategy_variants)]))
    assert variant_name(snapshot, "flag", {"userId": "7"}) == "s2"
    assert variant_name(snapshot, "flag", {"userId": "8"}) == "s1"


# -- stickiness -------------------------------------------------------------------------------


def test_feature_variants_use_the_first_variants_stickiness() -> None:
    weights = [("a", 1), ("b", 1), ("c", 1)]
    snapshot = snapshot_of(
        feature(
            "flag",
            variants=[
                variant("a", 1, stickiness="tenant"),
                variant("b", 1, stickiness="userId"),
                variant("c", 1, stickiness="sessionId"),
            ],
        )
    )
    for tenant in USERS[:100]:
        context = {"userId": "fixed", "sessionId": "fixed", "properties": {"tenant": tenant}}
        assert variant_name(snapshot, "flag", context) == expected_variant("flag", tenant, weights)


def test_default_variant_stickiness_is_user_then_session() -> None:
    weights = [("a", 1), ("b", 1)]
    snapshot = snapshot_of(feature("flag", variants=[variant("a", 1), variant("b", 1)]))
    for user in USERS[:100]:
        assert variant_name(snapshot, "flag", {"userId": user, "sessionId": "s"}) == (
            expected_variant("flag", user, weights)
        )
        assert variant_name(snapshot, "flag", {"sessionId": user}) == (
            expected_variant("flag", user, weights)
        )


def test_strategy_variants_use_the_strategy_stickiness_and_group() -> None:
    weights = [("x", 50), ("y", 50)]
    strategy_variants = [
        variant("x", 50, stickiness="userId"),  # ignored: the strategy decides
        variant("y", 50, stickiness="userId"),
    ]
    snapshot = snapshot_of(
        feature("flag", [rollout(100, "orgId", "experiment-7", variants=strategy_variants)])
    )
    for org in USERS[:100]:
        context = {"userId": "same", "properties": {"orgId": org}}
        assert variant_name(snapshot, "flag", context) == expected_variant(
            "experiment-7", org, weights
        )


def test_strategy_variants_with_an_empty_group_id_hash_in_the_empty_group() -> None:
    weights = [("x", 1), ("y", 3)]
    raw = rollout(100, "userId", "", variants=[variant("x", 1), variant("y", 3)])
    snapshot = snapshot_of(feature("flag", [raw]))
    names = [variant_name(snapshot, "flag", {"userId": user}) for user in USERS[:100]]
    assert names == [expected_variant("", user, weights) for user in USERS[:100]]
    assert names != [expected_variant("flag", user, weights) for user in USERS[:100]]


def test_strategy_variants_default_group_is_the_feature_name() -> None:
    weights = [("x", 1), ("y", 3)]
    snapshot = snapshot_of(feature("flag", [strategy(variants=[variant("x", 1), variant("y", 3)])]))
    for user in USERS[:100]:
        assert variant_name(snapshot, "flag", {"userId": user}) == (
            expected_variant("flag", user, weights)
        )


def test_strategy_variants_win_over_feature_variants() -> None:
    snapshot = snapshot_of(
        feature(
            "flag",
            [
                strategy(
                    constraints=[constraint("country", "IN", ["NO"])],
                    variants=[variant("from-strategy", 1)],
                ),
                strategy("userWithId", {"userIds": "1,2"}, variants=[]),
            ],
            variants=[variant("from-feature", 1)],
        )
    )
    assert variant_name(snapshot, "flag", {"userId": "1", "country": "NO"}) == "from-strategy"
    # The matching strategy has an empty variant list: fall back to the feature's.
    assert variant_name(snapshot, "flag", {"userId": "1", "country": "SE"}) == "from-feature"
    assert snapshot.get_variant("flag", {"userId": "3", "country": "SE"}) == disabled_variant(False)


def test_variants_without_a_stickiness_value_are_spread_evenly() -> None:
    random.seed(424242)
    snapshot = snapshot_of(
        feature("flag", variants=[variant("a", 1), variant("b", 1), variant("c", 1)])
    )
    draws = 6000
    counts = Counter(variant_name(snapshot, "flag", {}) for _ in range(draws))
    assert set(counts) == {"a", "b", "c"}
    for name in "abc":
        assert abs(counts[name] / draws - 1 / 3) < 0.03, counts


def test_variants_with_a_missing_custom_stickiness_field_are_random() -> None:
    random.seed(77)
    snapshot = snapshot_of(
        feature("flag", variants=[variant("a", 1, stickiness="orgId"), variant("b", 1)])
    )
    counts = Counter(variant_name(snapshot, "flag", {"userId": "fixed"}) for _ in range(2000))
    assert 0.4 < counts["a"] / 2000 < 0.6


def test_weights_shape_the_random_distribution() -> None:
    random.seed(1234)
    snapshot = snapshot_of(feature("flag", variants=[variant("rare", 10), variant("common", 90)]))
    counts = Counter(variant_name(snapshot, "flag", {}) for _ in range(5000))
    assert 0.07 < counts["rare"] / 5000 < 0.13


# -- results ----------------------------------------------------------------------------------


def test_variant_result_shape_with_and_without_payload() -> None:
    snapshot = snapshot_of(
        feature("with", variants=[variant("v", 1, payload=PAYLOAD)]),
        feature("without", variants=[variant("v", 1)]),
    )
    assert snapshot.get_variant("with", {}) == {
        "name": "v",
        "payload": PAYLOAD,
        "enabled": True,
        "feature_enabled": True,
    }
    assert snapshot.get_variant("without", {}) == {
        "name": "v",
        "enabled": True,
        "feature_enabled": True,
    }


def test_mutating_a_returned_variant_does_not_change_the_next_answer() -> None:
    snapshot = snapshot_of(feature("flag", variants=[variant("v", 1, payload=PAYLOAD)]))
    first = snapshot.get_variant("flag", {"userId": "1"})
    assert first is not None
    first["name"] = "tampered"
    first["payload"]["value"] = "tampered"
    first["enabled"] = False
    second = snapshot.get_variant("flag", {"userId": "1"})
    assert second == {"name": "v", "payload": PAYLOAD, "enabled": True, "feature_enabled": True}
    assert second is not first


@pytest.mark.parametrize(
    ("definition", "context", "expected"),
    [
        (feature("off", enabled=False, variants=[variant("v", 1)]), {}, disabled_variant(False)),
        (feature("plain"), {}, disabled_variant(True)),
        (feature("no-strategies", [], variants=[variant("v", 1)]), {}, "v"),
        (
            feature(
                "no-match", [strategy("userWithId", {"userIds": "1"})], variants=[variant("v", 1)]
            ),
            {"userId": "2"},
            disabled_variant(False),
        ),
    ],
)
def test_feature_enabled_field(
    definition: dict[str, Any], context: dict[str, Any], expected: Any
) -> None:
    snapshot = snapshot_of(definition)
    result = snapshot.get_variant(definition["name"], context)
    if isinstance(expected, str):
        assert result is not None
        assert result["name"] == expected
        assert result["feature_enabled"] is True
        assert result["enabled"] is True
    else:
        assert result == expected


def test_unknown_flag_has_no_variant() -> None:
    assert snapshot_of().get_variant("missing", {}) is None
