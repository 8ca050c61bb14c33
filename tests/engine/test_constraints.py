"""Constraint operators, one by one, and how they treat missing, odd and invalid values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.support.payloads import constraint, feature, snapshot_of, strategy
from unleash_lite.engine import StaticContext
from unleash_lite.engine.constraints import (
    ParsedMemo,
    as_number,
    compile_constraint,
    number_value,
)

STATIC = StaticContext(app_name="shop", environment="production", hostname="web-1")


def holds(raw: dict[str, Any], context: dict[str, Any], static: StaticContext = STATIC) -> bool:
    """Whether the compiled constraint holds for the context."""
    return compile_constraint(raw, static).check(context)


def holds_via_snapshot(raw: dict[str, Any], context: dict[str, Any]) -> bool:
    """The same question asked through a whole flag, as ``is_enabled`` would."""
    snapshot = snapshot_of(feature("flag", [strategy(constraints=[raw])]), static=STATIC)
    result = snapshot.is_enabled("flag", context)
    assert result is not None
    return result


# -- IN / NOT_IN -----------------------------------------------------------------------------


def test_in_matches_listed_values_only() -> None:
    raw = constraint("userId", "IN", ["1", "2", "3"])
    assert holds(raw, {"userId": "2"})
    assert not holds(raw, {"userId": "4"})
    assert not holds(raw, {"userId": "22"})


def test_not_in_is_the_complement_of_in() -> None:
    raw = constraint("country", "NOT_IN", ["NO", "SE"])
    assert holds(raw, {"properties": {"country": "DK"}})
    assert not holds(raw, {"properties": {"country": "NO"}})


def test_inverted_in_and_not_in_flip_the_answer() -> None:
    assert not holds(constraint("userId", "IN", ["1"], inverted=True), {"userId": "1"})
    assert holds(constraint("userId", "IN", ["1"], inverted=True), {"userId": "2"})
    assert holds(constraint("userId", "NOT_IN", ["1"], inverted=True), {"userId": "1"})
    assert not holds(constraint("userId", "NOT_IN", ["1"], inverted=True), {"userId": "2"})


@pytest.mark.parametrize(
    ("operator", "inverted", "expected"),
    [
        ("IN", False, False),
        ("NOT_IN", False, True),
        ("IN", True, True),
        ("NOT_IN", True, False),
    ],
)
def test_missing_field_is_not_in_any_list(operator: str, inverted: bool, expected: bool) -> None:
    raw = constraint("country", operator, ["NO"], inverted=inverted)
    assert holds(raw, {}) is expected
    assert holds(raw, {"properties": {}}) is expected
    assert holds_via_snapshot(raw, {"userId": "7"}) is expected


@pytest.mark.parametrize("case_insensitive", [False, True])
def test_in_and_not_in_always_compare_exactly(case_insensitive: bool) -> None:
    # caseInsensitive does not apply to IN/NOT_IN (the Unleash docs, Yggdrasil, Node SDK).
    raw = constraint("country", "IN", ["no", "SE"], case_insensitive=case_insensitive)
    assert holds(raw, {"country": "no"})
    assert holds(raw, {"country": "SE"})
    assert not holds(raw, {"country": "NO"})
    assert not holds(raw, {"country": "se"})
    not_in = constraint("country", "NOT_IN", ["no"], case_insensitive=case_insensitive)
    assert holds(not_in, {"country": "No"})
    assert not holds(not_in, {"country": "no"})
    assert holds(not_in, {})
    assert "case" not in compile_constraint(not_in, STATIC).describe()


def test_in_compares_exactly_without_case_insensitive() -> None:
    raw = constraint("country", "IN", ["no"])
    assert holds(raw, {"country": "no"})
    assert not holds(raw, {"country": "NO"})


def test_in_with_empty_values() -> None:
    assert not holds(constraint("userId", "IN", []), {"userId": "1"})
    assert holds(constraint("userId", "NOT_IN", []), {"userId": "1"})


def test_list_values_of_other_types_compare_as_their_text() -> None:
    raw = constraint("tier", "IN", [1, 2.0, True, None])
    assert holds(raw, {"tier": "1"})
    assert holds(raw, {"tier": 1})
    assert holds(raw, {"tier": "2.0"})  # payload values go through str(), untouched
    assert holds(raw, {"tier": "True"})
    assert not holds(raw, {"tier": "None"})  # None entries are dropped


def test_context_values_of_other_types_compare_as_unleash_text() -> None:
    assert holds(constraint("count", "IN", ["5"]), {"count": 5})
    assert holds(constraint("count", "IN", ["5"]), {"count": 5.0})
    assert holds(constraint("ratio", "IN", ["5.5"]), {"ratio": 5.5})
    assert holds(constraint("beta", "IN", ["true"]), {"beta": True})
    assert holds(constraint("beta", "IN", ["false"]), {"beta": False})
    assert not holds(constraint("beta", "IN", ["True"]), {"beta": True})


def test_top_level_field_wins_over_properties() -> None:
    raw = constraint("country", "IN", ["NO"])
    assert holds(raw, {"country": "NO", "properties": {"country": "SE"}})
    assert not holds(raw, {"country": "SE", "properties": {"country": "NO"}})
    assert holds(raw, {"country": None, "properties": {"country": "NO"}})


def test_properties_that_are_not_a_mapping_are_ignored() -> None:
    raw = constraint("country", "IN", ["NO"])
    for properties in ("NO", ["NO"], 17, None):
        assert not holds(raw, {"properties": properties})


def test_app_name_and_environment_default_to_the_static_context() -> None:
    assert holds(constraint("appName", "IN", ["shop"]), {})
    assert holds(constraint("environment", "IN", ["production"]), {})
    assert not holds(constraint("appName", "IN", ["shop"]), {"appName": "other"})
    assert not holds(constraint("appName", "IN", ["shop"]), {}, StaticContext())


# -- STR_* ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "values", "text", "expected"),
    [
        ("STR_STARTS_WITH", ["foo", "bar"], "barista", True),
        ("STR_STARTS_WITH", ["foo", "bar"], "a-bar", False),
        ("STR_ENDS_WITH", ["@example.com", "@test.org"], "kim@test.org", True),
        ("STR_ENDS_WITH", ["@example.com", "@test.org"], "kim@test.org.evil", False),
        ("STR_CONTAINS", ["abc", "xyz"], "--xyz--", True),
        ("STR_CONTAINS", ["abc", "xyz"], "ab-c", False),
    ],
)
def test_string_operators_match_any_of_several_values(
    operator: str, values: list[str], text: str, expected: bool
) -> None:
    assert holds(constraint("email", operator, values), {"email": text}) is expected
    assert holds(constraint("email", operator, values, inverted=True), {"email": text}) is (
        not expected
    )


@pytest.mark.parametrize(
    ("operator", "value", "text"),
    [
        ("STR_STARTS_WITH", "HeLLo", "hello world"),
        ("STR_ENDS_WITH", "@Example.COM", "ola@EXAMPLE.com"),
        ("STR_CONTAINS", "MiDdLe", "in the middle of it"),
    ],
)
def test_string_operators_case_insensitive(operator: str, value: str, text: str) -> None:
    assert holds(constraint("email", operator, [value], case_insensitive=True), {"email": text})
    assert not holds(constraint("email", operator, [value]), {"email": text})


def test_string_operators_with_no_values_never_match() -> None:
    for operator in ("STR_STARTS_WITH", "STR_ENDS_WITH", "STR_CONTAINS"):
        assert not holds(constraint("email", operator, []), {"email": "anything"})


def test_string_operators_on_numbers_use_their_text() -> None:
    assert holds(constraint("zip", "STR_STARTS_WITH", ["12"]), {"zip": 12345})


def test_string_operators_missing_field() -> None:
    for operator in ("STR_STARTS_WITH", "STR_ENDS_WITH", "STR_CONTAINS"):
        assert not holds(constraint("email", operator, [""]), {})
        assert holds(constraint("email", operator, ["x"], inverted=True), {})


# -- NUM_* ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "value", "number", "expected"),
    [
        ("NUM_EQ", "5", 5, True),
        ("NUM_EQ", "5", 5.0, True),
        ("NUM_EQ", "5", "5.0", True),
        ("NUM_EQ", "5", 6, False),
        ("NUM_GT", "5", 5.5, True),
        ("NUM_GT", "5", 5, False),
        ("NUM_GTE", "5", 5, True),
        ("NUM_GTE", "5", 4.99, False),
        ("NUM_LT", "1.5", 1.25, True),
        ("NUM_LT", "1.5", "1.5", False),
        ("NUM_LTE", "-3", -3, True),
        ("NUM_LTE", "-3", "-2", False),
        ("NUM_EQ", "1000", "1e3", True),
    ],
)
def test_number_operators(operator: str, value: str, number: Any, expected: bool) -> None:
    assert holds(constraint("age", operator, value=value), {"age": number}) is expected
    assert holds(constraint("age", operator, value=value, inverted=True), {"age": number}) is (
        not expected
    )


def test_number_value_may_come_from_values_list() -> None:
    assert holds(constraint("age", "NUM_GT", ["18"]), {"age": 30})


def test_number_value_given_as_a_json_number() -> None:
    assert holds(constraint("age", "NUM_GTE", value=18), {"age": "18"})


def test_booleans_in_the_context_are_not_numbers() -> None:
    assert not holds(constraint("flag", "NUM_EQ", value="1"), {"flag": True})
    assert not holds(constraint("flag", "NUM_EQ", value="0"), {"flag": False})


def test_non_number_context_value_fails_and_inverted_holds() -> None:
    assert not holds(constraint("age", "NUM_GT", value="1"), {"age": "old"})
    assert holds(constraint("age", "NUM_GT", value="1", inverted=True), {"age": "old"})


@pytest.mark.parametrize(
    ("text", "number"),
    [
        (" 11", 11.0),  # padded: read, as the Playground, Node and the old SDK do
        ("11\t", 11.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("-Infinity", float("-inf")),
        ("infe5", None),  # raised ValueError out of the evaluation before
        ("nane1", None),
        ("1_0", None),
        ("0x10", None),
        ("1e", None),
        (".", None),
    ],
)
def test_context_numbers(text: str, number: float | None) -> None:
    assert as_number(text) == number


def test_num_eq_is_yggdrasils_epsilon_equality() -> None:
    assert holds(constraint("n", "NUM_EQ", value="0.3"), {"n": "0.30000000000000004"})
    assert holds(constraint("n", "NUM_EQ", value="0"), {"n": "1e-17"})
    assert not holds(constraint("n", "NUM_EQ", value="1e309"), {"n": "inf"})  # inf - inf
    assert not holds(constraint("n", "NUM_EQ", value="0.3"), {"n": "0.3000000000000005"})


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("18", 18.0),
        (" +18.\t", 18.0),
        ("-1.5e3", -1500.0),
        ("1E+2", 100.0),
        (".5", None),  # Yggdrasil's rule grammar has no such numbers
        ("inf", None),
        ("nan", None),
        ("1e", None),
        ("\n5", None),
    ],
)
def test_constraint_numbers(value: str, number: float | None) -> None:
    assert number_value(value) == number


@pytest.mark.parametrize("bad_value", ["abc", "", "1.2.3", "five", ".5", "inf"])
def test_non_number_constraint_value_never_matches_even_inverted(bad_value: str) -> None:
    for inverted in (False, True):
        compiled = compile_constraint(
            constraint("age", "NUM_EQ", value=bad_value, inverted=inverted), STATIC
        )
        assert compiled.problem is not None
        for age in (0, 5, "abc", bad_value, None):
            assert not compiled.check({"age": age})


def test_number_operator_without_value_never_matches() -> None:
    compiled = compile_constraint({"contextName": "age", "operator": "NUM_EQ"}, STATIC)
    assert compiled.problem == "value: NUM_EQ needs a value"
    assert not compiled.check({"age": "1"})


def test_number_missing_field() -> None:
    assert not holds(constraint("age", "NUM_LT", value="100"), {})
    assert holds(constraint("age", "NUM_LT", value="100", inverted=True), {})


# -- DATE_* -----------------------------------------------------------------------------------

NOON_UTC = "2024-06-01T12:00:00Z"


@pytest.mark.parametrize(
    ("now", "after", "before"),
    [
        (datetime(2024, 6, 1, 12, 30, tzinfo=UTC), True, False),
        (datetime(2024, 6, 1, 11, 30, tzinfo=UTC), False, True),
        # Aware datetimes compare as instants: 13:30 in UTC+2 is 11:30 UTC.
        (datetime(2024, 6, 1, 13, 30, tzinfo=timezone(timedelta(hours=2))), False, True),
        (datetime(2024, 6, 1, 10, 30, tzinfo=timezone(timedelta(hours=-2))), True, False),
        # A naive datetime is read as UTC.
        (datetime(2024, 6, 1, 12, 30), True, False),
        (datetime(2024, 6, 1, 11, 59, 59), False, True),
        ("2024-06-01T12:00:01Z", True, False),
        ("2024-06-01T11:59:59.999Z", False, True),
        ("2024-06-01T13:30:00+02:00", False, True),
        ("2024-06-01T14:30:00+02:00", True, False),
        # Text without an offset is no time at all, as in Yggdrasil: neither holds.
        ("2024-06-01T12:30:00", False, False),
        ("2024-06-01", False, False),
    ],
)
def test_date_operators_on_current_time(now: Any, after: bool, before: bool) -> None:
    context = {"currentTime": now}
    assert holds(constraint("currentTime", "DATE_AFTER", value=NOON_UTC), context) is after
    assert holds(constraint("currentTime", "DATE_BEFORE", value=NOON_UTC), context) is before


def test_date_exactly_at_the_boundary_is_neither_after_nor_before() -> None:
    context = {"currentTime": NOON_UTC}
    assert not holds(constraint("currentTime", "DATE_AFTER", value=NOON_UTC), context)
    assert not holds(constraint("currentTime", "DATE_BEFORE", value=NOON_UTC), context)


def test_current_time_defaults_to_now() -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert holds(constraint("currentTime", "DATE_AFTER", value=past), {})
    assert holds(constraint("currentTime", "DATE_BEFORE", value=future), {})
    assert not holds(constraint("currentTime", "DATE_AFTER", value=future), {})


def test_current_time_defaults_to_the_static_context_clock() -> None:
    ticks = [datetime(2030, 1, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC)]
    fixed = StaticContext(app_name="shop", clock=ticks.pop)
    raw = constraint("currentTime", "DATE_AFTER", value=NOON_UTC)
    assert not holds(raw, {}, fixed)  # read when evaluated, not when compiled
    assert holds(raw, {}, fixed)
    assert not holds(raw, {"currentTime": "2020-01-01T00:00:00Z"}, fixed)  # given wins
    flag = feature("flag", [strategy(constraints=[raw])])
    at = StaticContext(clock=lambda: datetime(2031, 1, 1, tzinfo=UTC))
    assert snapshot_of(flag, static=at).is_enabled("flag", {}) is True


def test_current_time_may_live_in_properties() -> None:
    raw = constraint("currentTime", "DATE_AFTER", value=NOON_UTC)
    assert holds(raw, {"properties": {"currentTime": "2030-01-01T00:00:00Z"}})
    assert not holds(raw, {"properties": {"currentTime": "2020-01-01T00:00:00Z"}})


def test_date_constraint_on_another_field() -> None:
    raw = constraint("signupDate", "DATE_BEFORE", value="2024-01-01T00:00:00Z")
    assert holds(raw, {"properties": {"signupDate": "2023-12-31T23:00:00Z"}})
    assert holds(raw, {"signupDate": datetime(2023, 5, 1, tzinfo=UTC)})
    assert not holds(raw, {"signupDate": "2024-02-01T00:00:00Z"})
    assert not holds(raw, {})  # a missing field other than currentTime is not "now"


def test_unreadable_context_date_fails_and_inverted_holds() -> None:
    for bad in ("yesterday", "2024-13-45T00:00:00Z", 1717243200):
        assert not holds(
            constraint("currentTime", "DATE_AFTER", value=NOON_UTC), {"currentTime": bad}
        )
        assert holds(
            constraint("currentTime", "DATE_AFTER", value=NOON_UTC, inverted=True),
            {"currentTime": bad},
        )


@pytest.mark.parametrize("bad_value", ["not a date", "2024-02-30T00:00:00Z", "", "12:00"])
def test_bad_date_value_never_matches_even_inverted(bad_value: str) -> None:
    for inverted in (False, True):
        for operator in ("DATE_AFTER", "DATE_BEFORE"):
            compiled = compile_constraint(
                constraint("currentTime", operator, value=bad_value, inverted=inverted), STATIC
            )
            assert compiled.problem is not None
            assert not compiled.check({"currentTime": "2024-06-01T12:00:00Z"})
            assert not compiled.check({})


def test_inverted_date_constraint() -> None:
    raw = constraint("currentTime", "DATE_AFTER", value=NOON_UTC, inverted=True)
    assert holds(raw, {"currentTime": "2024-01-01T00:00:00Z"})
    assert not holds(raw, {"currentTime": "2025-01-01T00:00:00Z"})


# -- SEMVER_* ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "value", "version", "expected"),
    [
        ("SEMVER_EQ", "1.2.3", "1.2.3", True),
        ("SEMVER_EQ", "1.2.3", "1.2.4", False),
        ("SEMVER_EQ", "1.2.3", "1.2.3+build.7", True),
        ("SEMVER_GT", "1.2.3", "1.10.0", True),
        ("SEMVER_GT", "1.2.3", "1.2.3-rc.1", False),
        ("SEMVER_GT", "1.0.0-alpha", "1.0.0-alpha.1", True),
        ("SEMVER_LT", "2.0.0", "1.99.99", True),
        ("SEMVER_LT", "2.0.0", "2.0.0-beta", True),
        ("SEMVER_LT", "2.0.0", "2.0.0", False),
        ("SEMVER_GTE", "2.0.0", "2.0.0", True),
        ("SEMVER_LTE", "2.0.0", "2.0.1", False),
    ],
)
def test_semver_operators(operator: str, value: str, version: str, expected: bool) -> None:
    assert holds(constraint("appVersion", operator, value=value), {"appVersion": version}) is (
        expected
    )


def test_v_prefixed_semver_value_never_matches_even_inverted() -> None:
    for inverted in (False, True):
        compiled = compile_constraint(
            constraint("appVersion", "SEMVER_EQ", value="v1.2.3", inverted=inverted), STATIC
        )
        assert compiled.problem is not None
        for version in ("1.2.3", "v1.2.3", "9.9.9", None):
            assert not compiled.check({"appVersion": version})


def test_v_prefixed_or_broken_context_version_fails() -> None:
    raw = constraint("appVersion", "SEMVER_GTE", value="1.0.0")
    for version in ("v2.0.0", "2.0", "2", "latest", "2.0.0.0", " 2.0.0"):
        assert not holds(raw, {"appVersion": version})
    assert holds(
        constraint("appVersion", "SEMVER_GTE", value="1.0.0", inverted=True),
        {"appVersion": "v2.0.0"},
    )


def test_context_versions_beyond_64_bits_fail_as_in_yggdrasil() -> None:
    big = str(2**64)
    for version in (f"{big}.0.0", f"1.{big}.0", f"1.0.{big}"):
        for operator in ("SEMVER_GT", "SEMVER_LT", "SEMVER_EQ"):
            assert not holds(constraint("v", operator, value="1.0.0"), {"v": version})
        assert holds(constraint("v", "SEMVER_GT", value="1.0.0", inverted=True), {"v": version})
    assert holds(constraint("v", "SEMVER_GT", value="1.0.0"), {"v": f"{2**64 - 1}.0.0"})


def test_semver_values_may_have_spaces_around_them_as_in_yggdrasil() -> None:
    raw = constraint("v", "SEMVER_EQ", value=" 1.0.0\t")
    assert holds(raw, {"v": "1.0.0"})
    assert not holds(raw, {"v": " 1.0.0"})  # the context value is read strictly


def test_semver_missing_field() -> None:
    assert not holds(constraint("appVersion", "SEMVER_LT", value="1.0.0"), {})
    assert holds(constraint("appVersion", "SEMVER_LT", value="1.0.0", inverted=True), {})


# -- IN_CIDR ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.1.2.3", True),
        ("11.0.0.1", False),
        ("192.168.1.7", True),
        ("192.168.1.8", False),
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        ("::ffff:10.1.2.3", False),  # IPv4-mapped IPv6 is another address family
        ("not-an-ip", False),
        ("", False),
        ("10.1.2.3/8", False),
    ],
)
def test_in_cidr_with_ipv4_ipv6_and_invalid_entries(address: str, expected: bool) -> None:
    raw = constraint(
        "remoteAddress",
        "IN_CIDR",
        ["10.0.0.0/8", "garbage", "192.168.1.7", "300.1.1.1/8", "2001:db8::/32"],
    )
    assert holds(raw, {"remoteAddress": address}) is expected


@pytest.mark.parametrize(
    ("ranges", "address", "expected"),
    [
        (["127.0.0.1"], " 127.0.0.1", False),  # nothing is trimmed, as in Yggdrasil
        (["127.0.0.1"], "127.0.0.1\t", False),
        ([" 127.0.0.1 "], "127.0.0.1", False),
        (["fe80::/10"], "fe80::1%eth0", False),  # no IPv6 zones (Python alone reads them)
        (["10.0.0.0/+8"], "10.9.9.9", True),  # the prefix reads as Rust reads a u8
        (["10.0.0.0/0008"], "10.9.9.9", True),
        (["10.0.0.0/ 8"], "10.9.9.9", False),
        (["10.0.0.0/255.0.0.0"], "10.9.9.9", True),  # an IPv4 netmask...
        (["10.0.0.0/0.255.255.255"], "10.9.9.9", False),  # ...but not a host mask
        (["10.0.0.0/8/8"], "10.9.9.9", False),
    ],
)
def test_in_cidr_reads_ranges_and_addresses_as_yggdrasil(
    ranges: list[str], address: str, expected: bool
) -> None:
    raw = constraint("remoteAddress", "IN_CIDR", ranges)
    assert holds(raw, {"remoteAddress": address}) is expected


def test_in_cidr_with_only_invalid_entries_never_matches() -> None:
    raw = constraint("remoteAddress", "IN_CIDR", ["nope", "1.2.3.4/99"])
    assert not holds(raw, {"remoteAddress": "1.2.3.4"})


def test_in_cidr_inverted_and_missing() -> None:
    raw = constraint("remoteAddress", "IN_CIDR", ["10.0.0.0/8"], inverted=True)
    assert holds(raw, {"remoteAddress": "8.8.8.8"})
    assert not holds(raw, {"remoteAddress": "10.0.0.1"})
    assert holds(raw, {})
    assert not holds(constraint("remoteAddress", "IN_CIDR", ["0.0.0.0/0"]), {})


def test_in_cidr_reads_custom_fields_too() -> None:
    raw = constraint("clientIp", "IN_CIDR", ["172.16.0.0/12"])
    assert holds(raw, {"properties": {"clientIp": "172.20.1.1"}})


# -- invalid definitions ----------------------------------------------------------------------


@pytest.mark.parametrize("operator", ["NOPE", "in", "", "STR_EQUALS", "NUM_NE", "SEMVER_NE"])
def test_unknown_operator_never_matches_even_inverted(operator: str) -> None:
    for inverted in (False, True):
        compiled = compile_constraint(
            constraint("userId", operator, ["1"], value="1", inverted=inverted), STATIC
        )
        assert compiled.problem is not None
        assert not compiled.check({"userId": "1"})
        assert not compiled.check({"userId": "2"})
        assert not compiled.check({})


def test_invalid_regex_never_matches_even_inverted() -> None:
    for inverted in (False, True):
        compiled = compile_constraint(
            constraint("email", "REGEX", value="(unclosed", inverted=inverted), STATIC
        )
        assert compiled.problem is not None
        assert "is not a valid RE2 regular expression" in compiled.problem
        for email in ("(unclosed", "", "x", None):
            assert not compiled.check({"email": email})


def test_constraint_without_context_name_never_matches() -> None:
    compiled = compile_constraint({"operator": "NOT_IN", "values": ["x"]}, STATIC)
    assert compiled.problem is not None
    assert not compiled.check({"": "y"})
    assert not compiled.check({})


def test_an_invalid_constraint_keeps_the_flag_off_but_other_strategies_count() -> None:
    snapshot = snapshot_of(
        feature(
            "flag",
            [
                strategy(constraints=[constraint("userId", "NOPE", ["1"], inverted=True)]),
                strategy("userWithId", {"userIds": "7"}),
            ],
        )
    )
    assert snapshot.is_enabled("flag", {"userId": "1"}) is False
    assert snapshot.is_enabled("flag", {"userId": "7"}) is True


def test_all_constraints_of_a_strategy_must_hold() -> None:
    raw_country = constraint("country", "IN", ["NO"])
    raw_plan = constraint("plan", "STR_STARTS_WITH", ["pro"])
    snapshot = snapshot_of(feature("flag", [strategy(constraints=[raw_country, raw_plan])]))
    assert snapshot.is_enabled("flag", {"properties": {"country": "NO", "plan": "pro-yearly"}})
    assert not snapshot.is_enabled("flag", {"properties": {"country": "NO", "plan": "free"}})
    assert not snapshot.is_enabled("flag", {"properties": {"country": "SE", "plan": "pro"}})


def test_describe_shows_the_rule() -> None:
    described = compile_constraint(
        constraint("email", "STR_ENDS_WITH", ["@a.com"], inverted=True, case_insensitive=True),
        STATIC,
    ).describe()
    assert described == "NOT email STR_ENDS_WITH [@a.com] (case-insensitive)"
    long_list = compile_constraint(constraint("userId", "IN", [str(i) for i in range(9)]), STATIC)
    assert long_list.describe() == "userId IN [0, 1, 2, 3, 4, ...]"
    single = compile_constraint(constraint("age", "NUM_GT", value="18"), STATIC)
    assert single.describe() == "age NUM_GT [18]"


# -- the memo of parsed context values ----------------------------------------------------


def test_a_parsed_memo_keeps_what_the_parser_answered() -> None:
    memo = ParsedMemo(as_number)
    for text in ("18", "abc", " 7 "):
        assert memo.parse(text) == as_number(text)
    assert memo.known == {"18": 18.0, "abc": None, " 7 ": 7.0}


def test_a_parsed_memo_keeps_no_long_text() -> None:
    memo = ParsedMemo(as_number)
    long = "1" * (ParsedMemo.LONGEST + 1)
    assert memo.parse(long) == float(long)
    assert memo.known == {}


def test_a_parsed_memo_starts_over_when_full() -> None:
    memo = ParsedMemo(as_number)
    for number in range(ParsedMemo.SIZE):
        memo.parse(str(number))
    assert len(memo.known) == ParsedMemo.SIZE
    memo.parse("one more")
    assert memo.known == {"one more": None}


@pytest.mark.parametrize("operator", ["NUM_GT", "SEMVER_GT"])
def test_remembered_context_values_give_the_same_answers_every_time(operator: str) -> None:
    value = "1.5.0" if operator == "SEMVER_GT" else "18"
    check = compile_constraint(
        {"contextName": "v", "operator": operator, "value": value}, StaticContext()
    ).check
    texts = ["2.0.0", "1.0.0", "1.5.0-rc.1", "x", "30", "12", "18.5", ""]
    first = [check({"v": text}) for text in texts]
    assert [check({"v": text}) for text in texts] == first  # now from the memo
    assert any(first) and not all(first)
