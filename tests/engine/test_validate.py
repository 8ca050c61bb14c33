"""The flags validator: each problem with its flag and field, in agreement with the compiler.

An error is exactly what the compiler rejects (a flag, strategy or constraint turned off, an
entry skipped); the agreement is checked on the client specification's payloads and on
hypothesis-generated garbage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import pytest
from hypothesis import given

from tests.client_spec import load_specifications
from tests.engine.test_properties import CUSTOM, STATIC, payloads, top_level_st
from tests.support.fuzz import FUZZ
from tests.support.payloads import (
    constraint,
    delta,
    dependency,
    feature,
    feature_updated,
    hydration,
    override,
    payload,
    rollout,
    segment,
    segment_updated,
    strategy,
    variant,
)
from unleash_lite.engine import PayloadError, Snapshot, compile_snapshot
from unleash_lite.engine.constraints import compile_constraint
from unleash_lite.engine.regex import InvalidPattern, compile_search
from unleash_lite.engine.validate import (
    ERROR,
    WARNING,
    Problem,
    payload_format,
    validate,
)

SPECIFICATIONS = load_specifications()
BUNDLED = json.loads(
    resources.files("unleash_lite.examples").joinpath("flags.json").read_text(encoding="utf-8")
)


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(problem) for problem in problems]
    return problems[0]


def errors_of(problems: list[Problem]) -> list[Problem]:
    return [problem for problem in problems if problem.severity == ERROR]


def with_constraints(*constraints: Any, name: str = "f") -> dict[str, Any]:
    return payload(feature(name, [strategy(constraints=list(constraints))]))


def compiler_rejects(snapshot: Snapshot) -> set[str]:
    """The flags the compiler turns off or partly off for a problem in their definition."""
    rejected = set()
    for name in snapshot.features:
        compiled = snapshot.features[name]
        if compiled.problem is not None or any(
            compiled_strategy.problem is not None
            or any(c.problem is not None for c in compiled_strategy.constraints)
            for compiled_strategy in compiled.strategies
        ):
            rejected.add(name)
    return rejected


FLAG_OFF = "always off"
NEVER_MATCHES = ("the strategy never matches", "the constraint never matches")
STRATEGY = re.compile(r"strategies\[(\d+)\]")


def assert_consequences_hold(problems: list[Problem], snapshot: Snapshot) -> None:
    """Every flag error states its consequence, and the compiler does exactly that: "always
    off" for the flag problems it records, "never matches" for the strategies (counted in
    the payload's own list) it rejects or whose constraints it rejects."""
    for name in snapshot.features:
        compiled = snapshot.features[name]
        errors = [p for p in errors_of(problems) if p.flag == name]
        assert all(p.message.endswith((FLAG_OFF, *NEVER_MATCHES)) for p in errors), errors
        flag_off = any(p.message.endswith(FLAG_OFF) for p in errors)
        assert flag_off == (compiled.problem is not None), (name, compiled.problem, errors)
        if compiled.problem is not None and compiled.problem.startswith("definition does not"):
            continue  # no strategies to compare: nothing of the flag compiled
        raw = snapshot.state.features[name].get("strategies")
        positions = [
            position
            for position, definition in enumerate(raw if isinstance(raw, list) else [])
            if isinstance(definition, Mapping) and definition.get("disabled") is not True
        ]
        rejected = {
            positions[index]
            for index, compiled_strategy in enumerate(compiled.strategies)
            if compiled_strategy.problem is not None
            or any(c.problem is not None for c in compiled_strategy.constraints)
        }
        never = set()
        for problem in errors:
            match = STRATEGY.match(problem.path)
            if problem.message.endswith(NEVER_MATCHES) and match is not None:
                never.add(int(match[1]))
        assert never == rejected, (name, errors)
        assert_explained(compiled.problem, "", errors)
        for index, compiled_strategy in enumerate(compiled.strategies):
            owner = f"strategies[{positions[index]}]"
            assert_explained(compiled_strategy.problem, owner, errors)
            own = raw[positions[index]].get("constraints")
            for position, compiled_constraint in enumerate(
                compiled_strategy.constraints[: len(own) if isinstance(own, list) else 0]
            ):
                where = f"{owner}.constraints[{position}]"
                assert_constraint_agrees(compiled_constraint.problem, where, errors)


def below(path: str, owner: str) -> str | None:
    """``path`` relative to ``owner`` ("" for the owner itself); None when not below it."""
    if path == owner:
        return ""
    if not owner:
        return path
    return path[len(owner) + 1 :] if path.startswith(f"{owner}.") else None


def assert_explained(problem: str | None, owner: str, errors: list[Problem]) -> None:
    """A compiled object's ``problem`` (what explain() shows) is one of validate's errors
    at that object, with the field below it: both are one report of the compiler."""
    if problem is None or problem.startswith("definition does not compile ("):
        return  # a definition error's text names the field the error is reported at
    shown = set()
    for error in errors:
        field = below(error.path, owner)
        if field is not None:
            shown.add(f"{field}: {error.message}" if field else error.message)
    assert any(text.startswith(f"{problem}; ") for text in shown), (owner, problem, shown)


def assert_constraint_agrees(problem: str | None, where: str, errors: list[Problem]) -> None:
    """A constraint has a problem exactly when validate reports a "never matches" error in it."""
    never = [
        e
        for e in errors
        if below(e.path, where) is not None and e.message.endswith(NEVER_MATCHES[1])
    ]
    assert (problem is not None) == bool(never), (where, problem, never)
    assert_explained(problem, where, errors)


def assert_agrees_with_compiler(raw: Any, custom: Mapping[str, Any] | None = None) -> None:
    """Errors name exactly the flags the compiler rejects, with the consequences it gives
    them; payload-level errors match the compiler's payload warnings one for one; segment
    errors match the segment's constraints as the compiler reads them."""
    problems = validate(raw, list(custom or {}))
    if payload_format(raw) == "export":
        assert [problem.flag for problem in problems] == [None]
        return
    try:
        snapshot = compile_snapshot(raw, STATIC, custom)
    except PayloadError:
        problem = only(problems)
        assert (problem.flag, problem.segment, problem.severity) == (None, None, ERROR)
        return
    flagged = {p.flag for p in errors_of(problems) if p.flag is not None}
    assert flagged == compiler_rejects(snapshot), [str(p) for p in problems]
    if not flagged:
        assert snapshot.warnings == snapshot.state.warnings  # no flag problem at all
    assert_consequences_hold(problems, snapshot)
    root = [p for p in errors_of(problems) if p.flag is None and p.segment is None]
    assert len(root) == len(snapshot.state.warnings), ([str(p) for p in root], snapshot)
    for key, definition in snapshot.state.segments.items():
        constraints = definition.get("constraints")
        segment_errors = [p for p in errors_of(problems) if p.segment == key]
        for position, raw_constraint in enumerate(
            constraints if isinstance(constraints, list) else []
        ):
            problem = compile_constraint(raw_constraint, STATIC).problem
            assert_constraint_agrees(problem, f"constraints[{position}]", segment_errors)
        engine = any(
            compile_constraint(raw, STATIC).problem
            for raw in (constraints if isinstance(constraints, list) else [])
        )
        assert engine == bool(segment_errors), key
    assert all(isinstance(problem.message, str) and problem.message for problem in problems)


# -- the shape of a problem -------------------------------------------------------------------


def test_a_problem_names_its_flag_and_field() -> None:
    checkout = feature(
        "checkout",
        [
            strategy(),
            strategy(constraints=[constraint("email", "STR_LIKE", ["@example.com"])]),
        ],
    )
    problem = only(validate(payload(checkout)))
    assert problem == Problem(
        "checkout",
        "strategies[1].constraints[0].operator",
        'unknown operator "STR_LIKE"; the constraint never matches',
        ERROR,
    )
    assert str(problem) == (
        'flag "checkout": strategies[1].constraints[0].operator: unknown operator "STR_LIKE"; '
        "the constraint never matches"
    )
    assert problem.as_dict() == {
        "severity": "error",
        "flag": "checkout",
        "segment": None,
        "path": "strategies[1].constraints[0].operator",
        "message": 'unknown operator "STR_LIKE"; the constraint never matches',
    }


def test_problems_of_segments_and_of_the_payload_read_well() -> None:
    assert str(Problem(None, "constraints[0]", "x", segment=3)) == "segment 3: constraints[0]: x"
    assert str(Problem(None, "features[2]", "skipped")) == "features[2]: skipped"
    assert str(Problem(None, "", "not a payload")) == "not a payload"
    assert str(Problem('we"ird', "", "m")) == 'flag "we\\"ird": m'


def test_the_bundled_example_has_no_problem() -> None:
    assert validate(BUNDLED) == []


# -- constraints ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        (
            constraint("age", "NUM_GT", value="ten"),
            "value",
            '"ten" is not a number; the constraint never matches',
        ),
        (
            constraint("age", "NUM_LTE", ["1_000"]),
            "values[0]",
            '"1_000" is not a number; the constraint never matches',
        ),
        (
            constraint("currentTime", "DATE_AFTER", value="2024-13-01"),
            "value",
            '"2024-13-01" is not a date and time such as 2024-06-01T12:00:00Z or '
            "2024-06-01T14:00:00.000+02:00; the constraint never matches",
        ),
        (
            constraint("appVersion", "SEMVER_GT", value="v1.2.3"),
            "value",
            '"v1.2.3" is not a semantic version (such as 1.2.3 or 1.2.3-rc.1); '
            "the constraint never matches",
        ),
        (
            constraint("email", "REGEX", value="^(?=a)b$"),
            "value",
            '"^(?=a)b$" is not a valid RE2 regular expression (invalid perl operator: (?=); '
            "the constraint never matches",
        ),
        (
            constraint("email", "REGEX", value=r"^(a)\1$"),
            "value",
            r'"^(a)\\1$" is not a valid RE2 regular expression (invalid escape sequence: \1); '
            "the constraint never matches",
        ),
        (
            constraint("age", "NUM_GT"),
            "value",
            "NUM_GT needs a value; the constraint never matches",
        ),
        (
            constraint("age", "NUM_NE", value="1"),
            "operator",
            'unknown operator "NUM_NE"; the constraint never matches',
        ),
        (
            constraint("country", "in", ["NO"]),
            "operator",
            'unknown operator "in" (did you mean "IN"?); the constraint never matches',
        ),
        (
            {"contextName": "country", "values": ["NO"]},
            "operator",
            "missing; the constraint never matches",
        ),
        (
            constraint("", "IN", ["NO"]),
            "contextName",
            "missing; the constraint never matches",
        ),
    ],
)
def test_constraints_the_compiler_rejects_are_errors(
    raw: dict[str, Any], path: str, message: str
) -> None:
    problem = only(validate(with_constraints(constraint("plan", "IN", ["pro"]), raw)))
    assert (problem.severity, problem.flag) == (ERROR, "f")
    assert problem.path == f"strategies[0].constraints[1].{path}"
    assert problem.message == message
    assert compile_constraint(raw, STATIC).problem is not None


@pytest.mark.parametrize(
    "raw",
    [
        constraint("country", "IN", ["NO", "SE"]),
        constraint("country", "NOT_IN", ["NO"], inverted=True),
        constraint("email", "STR_ENDS_WITH", ["@example.com"], case_insensitive=True),
        constraint("email", "STR_STARTS_WITH", ["ola"]),
        constraint("email", "STR_CONTAINS", ["@"]),
        constraint("age", "NUM_EQ", value="42"),
        constraint("age", "NUM_GT", value="-1.5e3"),
        constraint("age", "NUM_GTE", value=" 7 "),
        constraint("age", "NUM_LT", ["3"]),
        constraint("age", "NUM_LTE", value="0.5"),
        constraint("currentTime", "DATE_AFTER", value="2024-06-01T12:00:00Z"),
        constraint("currentTime", "DATE_BEFORE", value="2024-06-01T12:00:00.000+02:00"),
        constraint("appVersion", "SEMVER_EQ", value="1.2.3"),
        constraint("appVersion", "SEMVER_GT", value="1.0.0-rc.1"),
        constraint("appVersion", "SEMVER_GTE", value="2.0.0+build.5"),
        constraint("appVersion", "SEMVER_LT", value="0.0.1"),
        constraint("appVersion", "SEMVER_LTE", value="10.20.30"),
        constraint("email", "REGEX", value="^[[:alpha:]]+@example\\.com$"),
        constraint("email", "REGEX", value="a(?i)b", case_insensitive=True),
        constraint("remoteAddress", "IN_CIDR", ["10.0.0.0/8", "::1", "2001:db8::/32"]),
    ],
)
def test_valid_constraints_of_every_operator_have_no_problem(raw: dict[str, Any]) -> None:
    assert validate(with_constraints(raw)) == []
    assert compile_constraint(raw, STATIC).problem is None


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        (
            constraint("country", "IN", []),
            "values",
            "no values; the constraint never matches",
        ),
        (
            constraint("country", "NOT_IN", []),
            "values",
            "no values; the constraint always matches",
        ),
        (
            constraint("country", "IN", [], inverted=True),
            "values",
            "no values; the constraint always matches",
        ),
        (
            constraint("country", "IN", value="NO"),
            "values",
            "no values (this operator reads values, not value); the constraint never matches",
        ),
        (
            {**constraint("country", "IN", ["NO"]), "inverted": "false"},
            "inverted",
            'expected true or false, got "false"; read as true unless false, 0 or empty',
        ),
        (
            constraint("beta", "IN", [True]),
            "values[0]",
            'expected a string, got a boolean; compared as "True"',
        ),
        (
            constraint("country", "IN", ["NO", None]),
            "values[1]",
            "null; ignored",
        ),
        (
            {"contextName": "country", "operator": "IN", "values": "NO"},
            "values",
            "expected a list, got a string; ignored, so the constraint never matches",
        ),
        (
            {"contextName": "age", "operator": "NUM_GT", "value": "1", "values": "2"},
            "values",
            "expected a list, got a string; ignored",
        ),
        (
            constraint("remoteAddress", "IN_CIDR", ["10.0.0.0/8", "10.0.0.300"]),
            "values[1]",
            '"10.0.0.300" is not an IP address or range; ignored',
        ),
        (
            constraint("age", "NUM_GT", ["1", "2"]),
            "values",
            "NUM_GT uses one value; only the first is used",
        ),
        (
            {"contextName": 7, "operator": "IN", "values": ["a"]},
            "contextName",
            'expected a string, got a number; read as "7"',
        ),
        (
            constraint("plan", "NOT_IN", ["pro"], case_insensitive=True),
            "caseInsensitive",
            "ignored: NOT_IN always compares exactly, as everywhere in Unleash "
            "(use STR_* or REGEX operators to ignore case)",
        ),
    ],
)
def test_constraints_read_otherwise_than_written_are_warnings(
    raw: dict[str, Any], path: str, message: str
) -> None:
    problem = only(validate(with_constraints(raw)))
    assert (problem.severity, problem.flag) == (WARNING, "f")
    assert (problem.path, problem.message) == (f"strategies[0].constraints[0].{path}", message)
    assert compile_constraint(raw, STATIC).problem is None


def test_a_constraint_that_is_not_an_object_is_an_error() -> None:
    problem = only(validate(with_constraints("country IN NO")))
    assert (problem.severity, problem.path) == (ERROR, "strategies[0].constraints[0]")
    assert (
        problem.message
        == "expected a constraint object, got a string; the constraint never matches"
    )


# -- segments ---------------------------------------------------------------------------------


def test_an_unknown_segment_turns_the_flag_off() -> None:
    flags = payload(
        feature("f", [strategy(segments=[1, 404])]),
        segments=[segment(1, constraint("country", "IN", ["NO"]))],
    )
    problem = only(validate(flags))
    assert problem == Problem(
        "f", "strategies[0].segments[1]", "unknown segment 404; the flag is always off"
    )
    assert compile_snapshot(flags).features["f"].problem is not None


def test_a_segment_reference_that_is_not_an_id_is_an_error() -> None:
    problem = only(validate(payload(feature("f", [{"name": "default", "segments": ["one"]}]))))
    assert (problem.severity, problem.path) == (ERROR, "strategies[0].segments[0]")
    assert problem.message == '"one" is not a segment id; the flag is always off'


def test_a_broken_segment_is_reported_once_and_at_each_flag_using_it() -> None:
    flags = payload(
        feature("a", [strategy(segments=[3])]),
        feature("b", [strategy(segments=[3])]),
        feature("c"),
        segments=[segment(3, constraint("plan", "STR_LIKE", ["pro"]))],
    )
    problems = validate(flags)
    assert [str(p) for p in problems] == [
        'flag "a": strategies[0].segments[0]: segment 3 has an invalid constraint (see segment '
        "3); the strategy never matches",
        'flag "b": strategies[0].segments[0]: segment 3 has an invalid constraint (see segment '
        "3); the strategy never matches",
        'segment 3: constraints[0].operator: unknown operator "STR_LIKE"; the constraint never '
        "matches",
    ]
    assert all(p.severity == ERROR for p in problems)
    assert problems[2].segment == 3
    assert_agrees_with_compiler(flags)


def test_segment_fields_of_the_wrong_type_are_warnings() -> None:
    flags = payload(
        feature("f", [{"name": "default", "segments": 3}]),
        segments=[{"id": 3, "constraints": {"contextName": "x"}}],
    )
    assert [(p.severity, str(p)) for p in validate(flags)] == [
        (
            WARNING,
            'flag "f": strategies[0].segments: expected a list, got a number; ignored, so the '
            "strategy uses no segment",
        ),
        (
            WARNING,
            "segment 3: constraints: expected a list, got an object; ignored, so the segment "
            "matches everyone",
        ),
    ]


# -- strategies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        (
            rollout("fifty"),
            "parameters.rollout",
            '"fifty" is not a whole number (digits only); the strategy never matches',
        ),
        (
            strategy("flexibleRollout", {"stickiness": "default"}),
            "parameters.rollout",
            "missing; the strategy never matches",
        ),
        (
            strategy("gradualRolloutUserId", {"percentage": "50"}),
            "parameters.groupId",
            "gradualRolloutUserId needs a groupId; the strategy never matches",
        ),
        (
            strategy("gradualRolloutRandom", {"percentage": "12.5"}),
            "parameters.percentage",
            '"12.5" is not a whole number (digits only); the strategy never matches',
        ),
        (
            strategy("canaryRelease"),
            "name",
            'unknown strategy "canaryRelease" (neither built in nor a registered custom '
            "strategy); the strategy never matches",
        ),
        ({"parameters": {}}, "name", "missing strategy name; the strategy never matches"),
        (
            rollout(150),
            "parameters.rollout",
            "150 is above 100; the strategy never matches",
        ),
        (
            rollout(" 50"),
            "parameters.rollout",
            '" 50" is not a whole number (digits only); the strategy never matches',
        ),
    ],
)
def test_strategies_the_compiler_rejects_are_errors(
    raw: dict[str, Any], path: str, message: str
) -> None:
    flags = payload(feature("f", [strategy(), raw]))
    problem = only(validate(flags))
    assert (problem.severity, problem.path, problem.message) == (
        ERROR,
        f"strategies[1].{path}",
        message,
    )
    assert compile_snapshot(flags).features["f"].strategies[1].problem is not None


@pytest.mark.parametrize("name", ["gradualRolloutUserId", "gradualRolloutSessionId"])
def test_an_empty_group_id_is_a_group(name: str) -> None:
    flags = payload(feature("f", [strategy(name, {"percentage": "50", "groupId": ""})]))
    assert validate(flags) == []
    assert compile_snapshot(flags).features["f"].strategies[0].problem is None


def test_a_custom_strategy_is_known_once_registered() -> None:
    flags = payload(feature("f", [strategy("canaryRelease")]))
    assert validate(flags, custom_strategies=["canaryRelease"]) == []
    assert only(validate(flags, custom_strategies=["other"])).path == "strategies[0].name"


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        (
            strategy("gradualRolloutRandom", {"percentage": "150"}),
            "parameters.percentage",
            "150 is above 100; read as 100",
        ),
        (
            strategy("userWithId", {"userIds": " , "}),
            "parameters.userIds",
            "no user ids; the strategy matches only an empty userId",
        ),
        (
            strategy("userWithId", {}),
            "parameters.userIds",
            "no user ids; the strategy matches no one",
        ),
        (
            strategy("userWithId", {"userIds": "a,,b"}),
            "parameters.userIds",
            "an empty entry, which matches an empty userId",
        ),
        (
            strategy("remoteAddress", {"IPs": "10.0.0.1, nope"}),
            "parameters.IPs",
            '"nope" is not an IP address or range; ignored',
        ),
        (
            {"name": "default", "parameters": "rollout=50"},
            "parameters",
            "expected an object, got a string; ignored",
        ),
        (
            {"name": "default", "constraints": {"contextName": "x"}},
            "constraints",
            "expected a list, got an object; ignored, so the strategy has no constraints",
        ),
        (
            {"name": "default", "disabled": "yes"},
            "disabled",
            'expected true or false, got "yes"; only true disables the strategy',
        ),
    ],
)
def test_strategies_read_otherwise_than_written_are_warnings(
    raw: dict[str, Any], path: str, message: str
) -> None:
    problem = only(validate(payload(feature("f", [raw]))))
    assert (problem.severity, problem.path, problem.message) == (
        WARNING,
        f"strategies[0].{path}",
        message,
    )


def test_a_flag_whose_strategies_are_all_disabled_is_always_off() -> None:
    flags = payload(feature("f", [strategy(disabled=True), strategy("nope", disabled=True)]))
    problem = only(validate(flags))
    assert (problem.severity, problem.path) == (ERROR, "strategies")
    assert problem.message == (
        "no usable strategy (every one is disabled or not an object); the flag is always off"
    )
    assert compile_snapshot(flags).features["f"].problem == (
        "strategies: no usable strategy (every one is disabled or not an object)"
    )


def test_disabled_strategies_are_not_checked_as_the_compiler_skips_them() -> None:
    broken = strategy("nope", constraints=[constraint("x", "BAD")], disabled=True)
    assert validate(payload(feature("f", [strategy(), broken]))) == []


def test_strategies_that_are_not_a_list_leave_the_flag_on_for_everyone() -> None:
    flags = payload({"name": "f", "enabled": True, "strategies": {"name": "default"}})
    problem = only(validate(flags))
    assert (problem.severity, problem.path) == (WARNING, "strategies")
    assert "on for everyone" in problem.message
    assert compile_snapshot(flags).is_enabled("f", {}) is True


# -- variants ---------------------------------------------------------------------------------


def test_variant_weights_read_otherwise_than_written_are_warnings() -> None:
    flags = payload(
        feature(
            "f",
            variants=[
                variant("a", -5),
                {"name": "b", "weight": "half"},
                {"name": "c"},
                variant("a", 0),
                {"name": "d", "weight": 2.5},
            ],
        )
    )
    assert [(p.severity, p.path, p.message) for p in validate(flags)] == [
        (WARNING, "variants[0].weight", "-5 is read as 0"),
        (WARNING, "variants[1].weight", '"half" is not a whole number; read as 0'),
        (WARNING, "variants[2].weight", "missing; read as 0"),
        (WARNING, "variants[4].weight", "2.5 is read as 2"),
        (WARNING, "variants", 'variant "a" is defined 2 times'),
    ]


def test_variants_whose_weights_add_up_to_nothing_are_reported() -> None:
    flags = payload(feature("f", [strategy(variants=[variant("a", 0), variant("b", 0)])]))
    problem = only(validate(flags))
    assert (problem.severity, problem.path) == (WARNING, "strategies[0].variants")
    assert problem.message.startswith("the weights add up to 0")


def test_variant_payloads_and_overrides_are_checked() -> None:
    flags = payload(
        feature(
            "f",
            variants=[
                variant("a", 500, payload={"type": "json", "value": "{oops"}),
                variant("b", 400, payload={"type": "number", "value": "ten"}),
                variant("c", 100, payload={"value": "x"}, overrides=[override("userId")]),
                {**variant("d", 0), "payload": "plain", "overrides": "userId"},
                {**variant("e", 0), "overrides": [{"contextName": "userId", "values": "17"}]},
            ],
        )
    )
    assert [(p.severity, p.path, p.message) for p in validate(flags)] == [
        (WARNING, "variants[0].payload.value", "a json payload that is not valid JSON text"),
        (WARNING, "variants[1].payload.value", '"ten" is not a number'),
        (WARNING, "variants[2].payload", 'expected {"type": ..., "value": ...}'),
        (WARNING, "variants[2].overrides[0].values", "no values; the override never applies"),
        (WARNING, "variants[3].payload", "expected an object, got a string; ignored"),
        (WARNING, "variants[3].overrides", "expected a list, got a string; ignored"),
        (
            WARNING,
            "variants[4].overrides[0].values",
            "expected a list, got a string; its characters are read as the values",
        ),
    ]
    assert_agrees_with_compiler(flags)


def test_feature_variants_use_the_first_variants_stickiness() -> None:
    flags = payload(
        feature("f", variants=[variant("a", stickiness="userId"), variant("b", stickiness="x")])
    )
    problem = only(validate(flags))
    assert (problem.severity, problem.path) == (WARNING, "variants[1].stickiness")
    assert (
        problem.message == '"x" differs from the first variant\'s "userId", which is the one used'
    )


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        (feature("f", variants=[{**variant("a"), "overrides": 5}]), "variants[0].overrides"),
        (
            feature("f", variants=[variant("a", overrides=[{"contextName": "x", "values": 1}])]),
            "variants[0].overrides[0].values",
        ),
        (
            feature("f", [strategy(variants=[{**variant("a"), "overrides": True}])]),
            "strategies[0].variants[0].overrides",
        ),
    ],
)
def test_variants_the_compiler_cannot_compile_turn_the_flag_off(
    definition: dict[str, Any], path: str
) -> None:
    flags = payload(definition)
    problem = only(validate(flags))
    assert (problem.severity, problem.path) == (ERROR, path)
    assert problem.message.endswith("the flag does not compile and is always off")
    assert compile_snapshot(flags).features["f"].problem is not None


# -- dependencies -----------------------------------------------------------------------------


def test_dependencies_that_keep_a_flag_off_are_reported() -> None:
    flags = payload(
        feature("parent", variants=[variant("blue")]),
        feature("grandchild", dependencies=[dependency("child")]),
        feature("child", dependencies=[dependency("parent", variants=["red"])]),
        feature("orphan", dependencies=[dependency("ghost", enabled=False)]),
        feature("odd", dependencies=[{"feature": "parent", "enabled": "no"}, {"enabled": True}]),
    )
    assert [str(p) for p in validate(flags)] == [
        'flag "grandchild": dependencies[0].feature: parent flag "child" depends on other '
        "flags itself; Unleash follows one level only, so this flag is always off",
        'flag "child": dependencies[0].variants: parent flag "parent" has no variant named '
        '"red"; this flag is off whenever the parent picks a variant',
        'flag "orphan": dependencies[0].feature: parent flag "ghost" is not defined; this flag '
        "is always off",
        'flag "odd": dependencies[0].enabled: expected true or false, got "no"; only false asks '
        "for a disabled parent",
        'flag "odd": dependencies[1]: expected an object with a parent feature name; ignored',
    ]
    snapshot = compile_snapshot(flags)
    for name in ("grandchild", "orphan"):
        assert not snapshot.is_enabled(name, {"userId": "1"})


def test_a_satisfiable_dependency_has_no_problem() -> None:
    flags = payload(
        feature("parent", variants=[variant("blue")]),
        feature("child", dependencies=[dependency("parent", variants=["blue"])]),
        feature("other", dependencies=[dependency("parent", enabled=False)]),
    )
    assert validate(flags) == []


# -- flags and the payload --------------------------------------------------------------------


def test_flag_fields_of_the_wrong_type() -> None:
    flags = payload(
        {"name": "a", "strategies": []},
        {**feature("b"), "enabled": "true", "impressionData": 1},
        {**feature("c"), "variants": {"name": "x"}, "dependencies": "parent"},
    )
    assert [(p.severity, str(p)) for p in validate(flags)] == [
        (WARNING, 'flag "a": enabled: missing; the flag is off'),
        (
            WARNING,
            'flag "b": enabled: expected true or false, got "true"; the flag is off unless it is '
            "true",
        ),
        (
            WARNING,
            'flag "b": impressionData: expected true or false, got 1; impression events only when '
            "true",
        ),
        (WARNING, 'flag "c": variants: expected a list, got an object; ignored'),
        (WARNING, 'flag "c": dependencies: expected a list, got a string; ignored'),
    ]


def test_duplicate_names_and_skipped_entries() -> None:
    flags = payload(
        feature("dup", enabled=False),
        {"enabled": True},
        "not a flag",
        feature("dup"),
        segments=[segment(1), segment(1), {"name": "no id"}, 7],
    )
    assert [(p.severity, str(p)) for p in validate(flags)] == [
        (ERROR, "features[1].name: expected a flag name, got null; skipped"),
        (ERROR, "features[2]: expected a flag object, got a string; skipped"),
        (ERROR, "segments[2].id: expected a numeric id, got null; skipped"),
        (ERROR, "segments[3]: expected a segment object, got a number; skipped"),
        (
            WARNING,
            'flag "dup": defined 2 times (features[0], features[3]); the last one is used',
        ),
        (
            WARNING,
            "segment 1: defined 2 times (segments[0], segments[1]); the last one is used",
        ),
    ]
    assert_agrees_with_compiler(flags)


def test_delta_payloads_are_checked_event_by_event() -> None:
    flags = delta(
        hydration(feature("a"), segments=[segment(1)]),
        feature_updated(feature("b", [strategy(segments=[2])])),
        feature_updated({"enabled": True}),
        segment_updated({"name": "no id"}),
        {"type": "feature-renamed"},
        {"type": "feature-removed"},
        {"type": "segment-removed", "segmentId": "x"},
    )
    assert [(p.severity, str(p)) for p in validate(flags)] == [
        (ERROR, "events[2].feature.name: expected a flag name, got null; skipped"),
        (ERROR, "events[3].segment.id: expected a numeric id, got null; skipped"),
        (ERROR, 'events[4].type: unknown event type "feature-renamed"; ignored'),
        (WARNING, "events[5].featureName: expected a flag name; ignored"),
        (WARNING, "events[6].segmentId: expected a segment id; ignored"),
        (ERROR, 'flag "b": strategies[0].segments[0]: unknown segment 2; the flag is always off'),
    ]
    assert payload_format(flags) == "delta"
    assert_agrees_with_compiler(flags)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([1, 2], "not a flags payload: expected a JSON object, got list"),
        ({"flags": []}, "not a flags payload: payload has neither 'features' nor 'events'"),
        ({"features": {}}, "not a flags payload: 'features' is not a list"),
        ({"features": [], "segments": 1}, "not a flags payload: 'segments' is not a list"),
        ({"events": "x"}, "not a flags payload: delta 'events' is not a list"),
    ],
)
def test_what_is_not_a_payload_at_all(raw: Any, message: str) -> None:
    assert validate(raw) == [Problem(None, "", message)]
    assert payload_format(raw) in ("invalid", "full", "delta")


def test_an_admin_export_is_recognised_and_the_way_out_given() -> None:
    export = {
        "features": [{"name": "checkout", "type": "release", "project": "default"}],
        "featureStrategies": [{"name": "default", "featureName": "checkout", "parameters": {}}],
        "featureEnvironments": [{"featureName": "checkout", "environment": "production"}],
        "segments": [{"id": 1, "name": "staff"}],
        "tagTypes": [],
    }
    assert payload_format(export) == "export"
    problem = only(validate(export))
    assert (problem.severity, problem.flag, problem.path) == (ERROR, None, "")
    assert "Unleash admin export" in problem.message
    assert "unleash-lite fetch --url" in problem.message


def test_payload_format() -> None:
    assert payload_format(BUNDLED) == "full"
    assert payload_format(delta()) == "delta"
    assert payload_format("{}") == "invalid"
    assert payload_format({}) == "invalid"


# -- agreement with the compiler --------------------------------------------------------------

INTENTIONAL_EDGE_CASES = {
    "06-remote-address-strategy.json",
    "09-strategy-constraints.json",
    "11-strategy-constraints-edge-cases.json",
    "13-constraint-operators.json",
    "14-constraint-semver-operators.json",
    "15-global-constraints.json",
    "17-dependent-features.json",
    "21-regex-constraint-operators.json",
    "22-cidr-constraint-operators.json",
}


@pytest.mark.parametrize(
    ("file_name", "spec"), SPECIFICATIONS, ids=[name for name, _ in SPECIFICATIONS]
)
def test_the_specification_payloads_agree_with_the_compiler(
    file_name: str, spec: dict[str, Any]
) -> None:
    assert_agrees_with_compiler(spec["state"])
    problems = validate(spec["state"])
    if file_name not in INTENTIONAL_EDGE_CASES:
        assert problems == [], [str(p) for p in problems]
    else:
        assert problems, "the specification's edge cases should be reported"


def test_the_specification_errors_are_exactly_the_flags_the_compiler_rejects() -> None:
    flagged = {
        (name, p.flag) for name, spec in SPECIFICATIONS for p in errors_of(validate(spec["state"]))
    }
    assert flagged == {
        ("13-constraint-operators.json", "F7.invalid-operator"),
        ("14-constraint-semver-operators.json", "F8.invalidSemverWithLeadingV"),
        ("15-global-constraints.json", "F9.withMissingSegment"),
        ("21-regex-constraint-operators.json", "invalid-regex-defaults-to-false"),
        ("21-regex-constraint-operators.json", "R90.reject_lookahead"),
        ("21-regex-constraint-operators.json", "R91.reject_backreference"),
    }


@FUZZ
@given(raw=top_level_st)
def test_errors_agree_with_the_compiler_on_garbage(raw: Any) -> None:
    assert_agrees_with_compiler(raw, CUSTOM)


@FUZZ
@given(raw=payloads(None))
def test_errors_agree_with_the_compiler_on_well_formed_payloads(raw: Any) -> None:
    assert_agrees_with_compiler(raw, CUSTOM)


@FUZZ
@given(raw=payloads(None))
def test_a_flag_without_problems_compiles_without_any(raw: Any) -> None:
    problems = validate(raw, list(CUSTOM))
    snapshot = compile_snapshot(raw, STATIC, CUSTOM)
    clean = set(snapshot.features) - {p.flag for p in problems}
    assert not clean & compiler_rejects(snapshot)
    assert not any(w.startswith(f"feature {name!r}:") for w in snapshot.warnings for name in clean)


# -- engine behaviour this module relies on --------------------------------------------------


def test_an_invalid_pattern_message_is_plain_text() -> None:
    with pytest.raises(InvalidPattern) as caught:
        compile_search("(regex")
    assert "b'" not in str(caught.value)


def test_an_infinite_weight_reads_as_zero_like_other_bad_weights() -> None:
    flags = json.loads(
        '{"features": [{"name": "f", "enabled": true, "strategies": [],'
        ' "variants": [{"name": "a", "weight": 1e999}]}]}'
    )
    assert compile_snapshot(flags).features["f"].problem is None
