"""Activation strategies: built-in rules, rollouts checked against the reference buckets,
custom strategies and unknown ones."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from tests.support.payloads import (
    bucket,
    constraint,
    feature,
    rollout,
    segment,
    snapshot_of,
    strategy,
)
from unleash_lite.engine import BUILTIN_STRATEGIES, StaticContext
from unleash_lite.engine.strategies import CustomStrategy

USERS = [str(n) for n in range(1, 201)] + ["alice", "bob", "ærlig", "user@example.com"]


def enabled(
    raw_strategy: dict[str, Any],
    context: Mapping[str, Any],
    *,
    flag: str = "flag",
    static: StaticContext | None = None,
    custom: Mapping[str, CustomStrategy] | None = None,
) -> bool:
    snapshot = snapshot_of(feature(flag, [raw_strategy]), static=static, custom_strategies=custom)
    result = snapshot.is_enabled(flag, context)
    assert isinstance(result, bool)
    return result


class Recording:
    """A custom strategy that records its calls and answers with a fixed value."""

    def __init__(self, answer: Any = True) -> None:
        self.answer = answer
        self.calls: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []

    def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
        self.calls.append((parameters, context))
        return self.answer


class Exploding:
    def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        raise RuntimeError("custom strategy bug")


def test_builtin_strategy_names() -> None:
    assert set(BUILTIN_STRATEGIES) == {
        "default",
        "userWithId",
        "gradualRolloutUserId",
        "gradualRolloutSessionId",
        "gradualRolloutRandom",
        "flexibleRollout",
        "remoteAddress",
        "applicationHostname",
    }


def test_default_strategy_is_on_for_everyone() -> None:
    for context in ({}, {"userId": "1"}, {"properties": {"x": "y"}}):
        assert enabled(strategy("default"), context)


# -- userWithId -------------------------------------------------------------------------------


def test_user_with_id_trims_spaces_in_the_list() -> None:
    raw = strategy("userWithId", {"userIds": "alice,  bob ,carol , 42"})
    for user in ("alice", "bob", "carol", "42"):
        assert enabled(raw, {"userId": user}), user
    for user in ("dave", " bob", "", "alice,bob"):
        assert not enabled(raw, {"userId": user}), user
    assert enabled(raw, {"userId": 42})
    assert not enabled(raw, {})


def test_user_with_id_reads_user_id_from_properties() -> None:
    assert enabled(strategy("userWithId", {"userIds": "7"}), {"properties": {"userId": "7"}})


def test_user_with_id_without_the_parameter_is_off() -> None:
    assert not enabled(strategy("userWithId", {}), {"userId": ""})
    assert not enabled(strategy("userWithId", {}), {})


@pytest.mark.parametrize("user_ids", ["", "a,,b", "a, ", " , "])
def test_user_with_id_empty_entries_match_an_empty_user_id(user_ids: str) -> None:
    # Yggdrasil keeps the empty entries of the list (the Node SDK too, for "a,,b").
    raw = strategy("userWithId", {"userIds": user_ids})
    assert enabled(raw, {"userId": ""})
    assert not enabled(raw, {"userId": "c"})
    assert not enabled(raw, {})


# -- gradual rollouts -------------------------------------------------------------------------


@pytest.mark.parametrize("percentage", [0, 1, 33, 50, 99, 100])
def test_gradual_rollout_user_id_uses_the_reference_buckets(percentage: int) -> None:
    raw = strategy("gradualRolloutUserId", {"percentage": str(percentage), "groupId": "g1"})
    for user in USERS:
        expected = bucket("g1", user) <= percentage
        assert enabled(raw, {"userId": user}) is expected, user


def test_gradual_rollout_user_id_at_the_bucket_boundary() -> None:
    user = "alice"
    boundary = bucket("g1", user)
    at = strategy("gradualRolloutUserId", {"percentage": str(boundary), "groupId": "g1"})
    below = strategy("gradualRolloutUserId", {"percentage": str(boundary - 1), "groupId": "g1"})
    assert enabled(at, {"userId": user})
    assert not enabled(below, {"userId": user})


def test_gradual_rollout_user_id_needs_a_user_and_a_group() -> None:
    raw = strategy("gradualRolloutUserId", {"percentage": "100", "groupId": "g1"})
    assert not enabled(raw, {"sessionId": "s"})
    no_group = strategy("gradualRolloutUserId", {"percentage": "100"})
    assert not enabled(no_group, {"userId": "u"})  # as the reference engine


@pytest.mark.parametrize(
    ("name", "field"),
    [("gradualRolloutUserId", "userId"), ("gradualRolloutSessionId", "sessionId")],
)
def test_gradual_rollouts_with_an_empty_group_hash_in_it(name: str, field: str) -> None:
    # Present but empty is a group ("" hashed as ":<id>", as Yggdrasil and the Node SDK do);
    # only a missing groupId leaves the strategy without one.
    raw = strategy(name, {"percentage": "50", "groupId": ""})
    answers = [enabled(raw, {field: user}) for user in USERS]
    assert answers == [bucket("", user) <= 50 for user in USERS]
    assert any(answers)


@pytest.mark.parametrize("percentage", [0, 50, 100])
def test_gradual_rollout_session_id(percentage: int) -> None:
    raw = strategy("gradualRolloutSessionId", {"percentage": str(percentage), "groupId": "sg"})
    for session in USERS:
        expected = bucket("sg", session) <= percentage
        assert enabled(raw, {"sessionId": session}) is expected
        assert not enabled(raw, {"userId": session})


def test_gradual_rollout_random_at_zero_and_hundred() -> None:
    random.seed(1)
    never = strategy("gradualRolloutRandom", {"percentage": "0"})
    always = strategy("gradualRolloutRandom", {"percentage": "100"})
    snapshot = snapshot_of(feature("never", [never]), feature("always", [always]))
    for _ in range(300):
        assert snapshot.is_enabled("never", {}) is False
        assert snapshot.is_enabled("always", {}) is True


def test_gradual_rollout_random_is_roughly_its_percentage() -> None:
    random.seed(20240601)
    snapshot = snapshot_of(
        feature("flag", [strategy("gradualRolloutRandom", {"percentage": "30"})])
    )
    hits = sum(bool(snapshot.is_enabled("flag", {"userId": "same"})) for _ in range(4000))
    assert 0.25 < hits / 4000 < 0.35


# -- flexibleRollout --------------------------------------------------------------------------


@pytest.mark.parametrize("percentage", [0, 10, 50, 90, 100])
def test_flexible_rollout_default_stickiness_uses_user_id(percentage: int) -> None:
    raw = rollout(percentage, "default", "checkout")
    for user in USERS:
        expected = bucket("checkout", user) <= percentage
        assert enabled(raw, {"userId": user, "sessionId": "ignored"}) is expected


def test_flexible_rollout_default_stickiness_falls_back_to_session_id() -> None:
    raw = rollout(50, "default", "checkout")
    for session in USERS:
        assert enabled(raw, {"sessionId": session}) is (bucket("checkout", session) <= 50)


def test_flexible_rollout_default_stickiness_without_ids_is_random() -> None:
    random.seed(7)
    snapshot = snapshot_of(
        feature("full", [rollout(100)]),
        feature("none", [rollout(0)]),
        feature("half", [rollout(50)]),
    )
    answers = [snapshot.is_enabled("half", {}) for _ in range(2000)]
    assert 0.4 < sum(bool(a) for a in answers) / 2000 < 0.6
    assert all(snapshot.is_enabled("full", {}) for _ in range(100))
    assert not any(snapshot.is_enabled("none", {}) for _ in range(100))


def test_flexible_rollout_group_id_defaults_to_the_feature_name() -> None:
    raw = rollout(50, "userId")
    for user in USERS:
        expected = bucket("my-feature", user) <= 50
        assert enabled(raw, {"userId": user}, flag="my-feature") is expected


def test_flexible_rollout_with_an_empty_group_id_hashes_in_the_empty_group() -> None:
    raw = rollout(50, "userId", "")
    answers = [enabled(raw, {"userId": user}, flag="my-feature") for user in USERS]
    assert answers == [bucket("", user) <= 50 for user in USERS]
    assert answers != [bucket("my-feature", user) <= 50 for user in USERS]


def test_flexible_rollout_group_id_changes_the_buckets() -> None:
    in_a = {u for u in USERS if enabled(rollout(50, "userId", "A"), {"userId": u})}
    in_b = {u for u in USERS if enabled(rollout(50, "userId", "B"), {"userId": u})}
    assert in_a == {u for u in USERS if bucket("A", u) <= 50}
    assert in_b == {u for u in USERS if bucket("B", u) <= 50}
    assert in_a != in_b


def test_flexible_rollout_user_id_stickiness_without_user_is_off() -> None:
    raw = rollout(100, "userId", "g")
    assert not enabled(raw, {"sessionId": "s"})
    assert not enabled(raw, {})


def test_flexible_rollout_session_id_stickiness() -> None:
    raw = rollout(50, "sessionId", "g")
    for session in USERS:
        assert enabled(raw, {"userId": "u", "sessionId": session}) is (bucket("g", session) <= 50)
    assert not enabled(rollout(100, "sessionId", "g"), {"userId": "u"})


def test_flexible_rollout_random_stickiness() -> None:
    random.seed(99)
    snapshot = snapshot_of(
        feature("all", [rollout(100, "random")]),
        feature("nobody", [rollout(0, "random")]),
        feature("half", [rollout(50, "random")]),
    )
    context = {"userId": "same-user"}
    assert all(snapshot.is_enabled("all", context) for _ in range(200))
    assert not any(snapshot.is_enabled("nobody", context) for _ in range(200))
    share = sum(bool(snapshot.is_enabled("half", context)) for _ in range(2000)) / 2000
    assert 0.4 < share < 0.6  # random even for a fixed user


def test_flexible_rollout_with_an_empty_stickiness_is_off() -> None:
    # Yggdrasil reads "" as a context field of that name, which contexts do not have.
    raw = strategy("flexibleRollout", {"rollout": "100", "stickiness": ""})
    assert not enabled(raw, {"userId": "u", "sessionId": "s"})
    assert enabled(strategy("flexibleRollout", {"rollout": "100"}), {"userId": "u"})


def test_flexible_rollout_custom_stickiness_field() -> None:
    raw = rollout(50, "tenantId", "g")
    for tenant in USERS:
        expected = bucket("g", tenant) <= 50
        assert enabled(raw, {"properties": {"tenantId": tenant}, "userId": "x"}) is expected
        assert enabled(raw, {"tenantId": tenant}) is expected
    assert not enabled(rollout(100, "tenantId", "g"), {"userId": "x", "sessionId": "y"})


def test_flexible_rollout_numbers_as_stickiness_values() -> None:
    raw = rollout(50, "userId", "g")
    for number in range(1, 60):
        assert enabled(raw, {"userId": number}) is (bucket("g", str(number)) <= 50)


@pytest.mark.parametrize("bad", ["50.5", "abc", "", "ten", None, [], {}])
def test_flexible_rollout_with_a_non_integer_rollout_is_off(bad: Any) -> None:
    raw = strategy("flexibleRollout", {"rollout": bad, "stickiness": "default", "groupId": "g"})
    for user in USERS[:50]:
        assert not enabled(raw, {"userId": user})


def test_flexible_rollout_without_rollout_parameter_is_off() -> None:
    assert not enabled(strategy("flexibleRollout", {"stickiness": "userId"}), {"userId": "1"})


def test_flexible_rollout_accepts_json_numbers_for_the_rollout() -> None:
    raw = strategy("flexibleRollout", {"rollout": 100, "stickiness": "userId", "groupId": "g"})
    assert enabled(raw, {"userId": "1"})


@pytest.mark.parametrize("percentage", ["-5", "150", " 50", "50 ", "50.0", "1e1", "5_0", "\u0665"])
def test_rollout_percentages_yggdrasil_refuses_are_off(percentage: str) -> None:
    # Yggdrasil reads percentages as Rust's usize (and cannot compile one above 100).
    for name, key in (("flexibleRollout", "rollout"), ("gradualRolloutUserId", "percentage")):
        raw = strategy(name, {key: percentage, "stickiness": "userId", "groupId": "g"})
        assert not any(enabled(raw, {"userId": user}) for user in USERS[:50])


@pytest.mark.parametrize("percentage", ["+100", "0100", "100"])
def test_rollout_percentages_as_rust_reads_them(percentage: str) -> None:
    raw = strategy("flexibleRollout", {"rollout": percentage, "stickiness": "userId"})
    assert all(enabled(raw, {"userId": user}) for user in USERS[:50])


def test_random_rollout_above_100_is_on_for_everyone() -> None:
    raw = strategy("gradualRolloutRandom", {"percentage": "150"})
    assert all(enabled(raw, {}) for _ in range(50))


# -- remoteAddress ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.20.30.40", True),
        ("192.168.0.5", True),
        ("192.168.0.6", False),
        ("2001:db8:1::7", True),
        ("2001:db9::7", False),
        ("8.8.8.8", False),
        ("garbage", False),
    ],
)
def test_remote_address_with_cidr_and_ipv6(address: str, expected: bool) -> None:
    raw = strategy("remoteAddress", {"IPs": "10.0.0.0/8, 192.168.0.5,not-an-ip , 2001:db8::/32"})
    assert enabled(raw, {"remoteAddress": address}) is expected


def test_remote_address_trims_its_list_but_not_the_context_address() -> None:
    raw = strategy("remoteAddress", {"IPs": " 127.0.0.1 ,\t10.0.0.0/8 "})
    assert enabled(raw, {"remoteAddress": "127.0.0.1"})
    assert enabled(raw, {"remoteAddress": "10.1.1.1"})
    for padded in (" 127.0.0.1", "127.0.0.1 ", "\t10.1.1.1"):
        assert not enabled(raw, {"remoteAddress": padded})  # as in Yggdrasil


def test_remote_address_without_address_or_list_is_off() -> None:
    assert not enabled(strategy("remoteAddress", {"IPs": "0.0.0.0/0"}), {})
    assert not enabled(strategy("remoteAddress", {}), {"remoteAddress": "1.2.3.4"})


# -- applicationHostname ----------------------------------------------------------------------


def test_application_hostname_uses_the_static_hostname_case_insensitively() -> None:
    static = StaticContext(app_name="a", hostname="Web-01")
    raw = strategy("applicationHostname", {"hostNames": "db-01, WEB-01 ,cache"})
    assert enabled(raw, {}, static=static)
    assert enabled(raw, {}, static=StaticContext(hostname="cache"))
    assert not enabled(raw, {}, static=StaticContext(hostname="web-02"))
    assert not enabled(strategy("applicationHostname", {"hostNames": "web"}), {}, static=static)


def test_application_hostname_ignores_the_context() -> None:
    raw = strategy("applicationHostname", {"hostNames": "web-01"})
    static = StaticContext(hostname="db")
    assert not enabled(
        raw, {"hostname": "web-01", "properties": {"hostname": "web-01"}}, static=static
    )


# -- custom and unknown strategies -----------------------------------------------------------


def test_custom_strategy_gets_parameters_and_the_merged_context() -> None:
    custom = Recording(answer=True)
    static = StaticContext(app_name="shop", environment="prod", hostname="h")
    raw = strategy("tenantAllowList", {"tenants": "acme,globex"})
    context = {"userId": "1", "properties": {"tenant": "acme"}}
    assert enabled(raw, context, static=static, custom={"tenantAllowList": custom})
    [(parameters, seen)] = custom.calls
    assert parameters == {"tenants": "acme,globex"}
    assert seen == {
        "appName": "shop",
        "environment": "prod",
        "userId": "1",
        "properties": {"tenant": "acme"},
    }


def test_custom_strategy_context_overrides_static_values() -> None:
    custom = Recording()
    static = StaticContext(app_name="shop", environment="prod")
    enabled(strategy("mine"), {"environment": "staging"}, static=static, custom={"mine": custom})
    assert custom.calls[0][1]["environment"] == "staging"
    assert custom.calls[0][1]["appName"] == "shop"


@pytest.mark.parametrize(
    ("answer", "expected"), [(True, True), (False, False), (1, True), (None, False), ("yes", True)]
)
def test_custom_strategy_answer_is_read_as_a_bool(answer: Any, expected: bool) -> None:
    assert enabled(strategy("mine"), {}, custom={"mine": Recording(answer)}) is expected


def test_raising_custom_strategy_is_off_and_does_not_propagate() -> None:
    snapshot = snapshot_of(
        feature("flag", [strategy("boom")]),
        feature("fallthrough", [strategy("boom"), strategy("default")]),
        custom_strategies={"boom": Exploding()},
    )
    assert snapshot.is_enabled("flag", {"userId": "1"}) is False
    assert snapshot.is_enabled("fallthrough", {"userId": "1"}) is True


def test_custom_strategy_constraints_are_checked_first() -> None:
    custom = Recording(answer=True)
    raw = strategy("mine", constraints=[constraint("country", "IN", ["NO"])])
    assert not enabled(raw, {"country": "SE"}, custom={"mine": custom})
    assert custom.calls == []
    assert enabled(raw, {"country": "NO"}, custom={"mine": custom})
    assert len(custom.calls) == 1


def test_unknown_strategy_is_off() -> None:
    assert not enabled(strategy("doesNotExist", {"x": "1"}), {"userId": "1"})
    assert not enabled(strategy(""), {})


def test_any_matching_strategy_turns_the_flag_on() -> None:
    snapshot = snapshot_of(
        feature(
            "flag",
            [
                strategy("doesNotExist"),
                strategy("userWithId", {"userIds": "1"}),
                strategy("remoteAddress", {"IPs": "10.0.0.0/8"}),
            ],
        )
    )
    assert snapshot.is_enabled("flag", {"userId": "1"})
    assert snapshot.is_enabled("flag", {"remoteAddress": "10.0.0.1"})
    assert not snapshot.is_enabled("flag", {"userId": "2", "remoteAddress": "11.0.0.1"})


def test_segment_constraints_apply_together_with_strategy_constraints() -> None:
    snapshot = snapshot_of(
        feature(
            "flag",
            [
                strategy(
                    "userWithId",
                    {"userIds": "1,2"},
                    constraints=[constraint("country", "IN", ["NO"])],
                    segments=[5],
                )
            ],
        ),
        segments=[segment(5, constraint("plan", "IN", ["pro"]))],
    )
    good = {"userId": "1", "properties": {"country": "NO", "plan": "pro"}}
    assert snapshot.is_enabled("flag", good)
    assert not snapshot.is_enabled("flag", {**good, "userId": "3"})
    assert not snapshot.is_enabled("flag", {"userId": "1", "properties": {"country": "NO"}})
    assert not snapshot.is_enabled("flag", {"userId": "1", "properties": {"plan": "pro"}})


def test_strategy_parameters_that_are_not_a_mapping_are_ignored() -> None:
    raw = {"name": "userWithId", "parameters": ["userIds", "1"]}
    assert not enabled(raw, {"userId": "1"})
    assert enabled({"name": "default", "parameters": "junk"}, {})
