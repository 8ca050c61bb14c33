"""Property-based tests: random (often garbage) payloads and contexts never break the engine
or the client.

Text includes lone surrogates (mmh3 crashes on those unless the engine hashes bytes) and
segment ids include infinite floats (``int()`` raises OverflowError on those).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import UTC, timedelta, timezone
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.support.fuzz import FUZZ
from tests.support.payloads import (
    constraint,
    delta,
    feature,
    segment_updated,
    snapshot_of,
    strategy,
)
from unleash_lite import UnleashClient
from unleash_lite.engine import (
    BUILTIN_STRATEGIES,
    PayloadError,
    Snapshot,
    StaticContext,
    compile_snapshot,
)
from unleash_lite.engine.explain import Explanation, explain

STATIC = StaticContext(app_name="props", environment="test", hostname="host-1")


class Yes:
    def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        return True


class Raises:
    def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        raise RuntimeError("custom strategy failure")


CUSTOM = {"custom": Yes(), "raises": Raises()}

# -- building blocks --------------------------------------------------------------------------

TEXT = st.text(max_size=12)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)
GARBAGE = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=5,
)


FIELDS = [
    "userId",
    "sessionId",
    "remoteAddress",
    "environment",
    "appName",
    "currentTime",
    "properties",
    "country",
    "appVersion",
    "tenant",
]
OPERATORS = [
    "IN",
    "NOT_IN",
    "STR_CONTAINS",
    "STR_STARTS_WITH",
    "STR_ENDS_WITH",
    "NUM_EQ",
    "NUM_GT",
    "NUM_GTE",
    "NUM_LT",
    "NUM_LTE",
    "DATE_AFTER",
    "DATE_BEFORE",
    "SEMVER_EQ",
    "SEMVER_GT",
    "SEMVER_GTE",
    "SEMVER_LT",
    "SEMVER_LTE",
    "REGEX",
    "IN_CIDR",
    "NOPE",
    "in",
    "",
    "NUM_NE",
]
SAMPLE_VALUES = [
    "1",
    "-2.5",
    "1e3",
    "1.2.3",
    "v1.2.3",
    "1.0.0-rc.1",
    "2024-06-01T12:00:00Z",
    "2024-06-01",
    "10.0.0.0/8",
    "::1",
    "2001:db8::/32",
    "^a+$",
    "(",
    "[[:digit:]]+",
    "(?<=x)y",
    "a(?i)b",
    "NO",
    "true",
]
FEATURE_NAMES = ["alpha", "beta", "gamma", "delta"]
SEGMENT_IDS = st.integers(min_value=0, max_value=5)


PARAMETER_VALUES = [
    "0",
    "50",
    "100",
    "50.5",
    "-1",
    "abc",
    "default",
    "userId",
    "sessionId",
    "random",
    "tenant",
    "1, 2 ,3",
    "10.0.0.0/8, ::1, junk",
    "host-1, other",
]
PARAMETER_KEYS = ["rollout", "percentage", "stickiness", "groupId", "userIds", "IPs", "hostNames"]
STRATEGY_NAMES = [*BUILTIN_STRATEGIES, "custom", "raises", "unknown"]


def payloads(noise: st.SearchStrategy[Any] | None) -> st.SearchStrategy[Any]:
    """Full and delta payloads; with ``noise``, any field may hold garbage of any type."""

    def maybe(intended: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        if noise is None:
            return intended
        return st.one_of(intended, intended, intended, intended, noise)

    text_or_scalar = st.one_of(st.sampled_from(SAMPLE_VALUES), TEXT, SCALARS)
    constraint = st.fixed_dictionaries(
        {
            "contextName": maybe(st.one_of(st.sampled_from(FIELDS), TEXT)),
            "operator": maybe(st.sampled_from(OPERATORS)),
        },
        optional={
            "values": maybe(st.lists(text_or_scalar, max_size=4)),
            "value": maybe(st.one_of(st.sampled_from(SAMPLE_VALUES), TEXT)),
            "inverted": maybe(st.booleans()),
            "caseInsensitive": maybe(st.booleans()),
        },
    )
    parameter_value = st.one_of(
        st.sampled_from(PARAMETER_VALUES), st.sampled_from(PARAMETER_VALUES), SCALARS
    )
    parameters = maybe(
        st.fixed_dictionaries(
            {}, optional={key: parameter_value for key in [*PARAMETER_KEYS, "extra"]}
        )
    )
    override = maybe(
        st.fixed_dictionaries(
            {
                "contextName": maybe(st.sampled_from(FIELDS)),
                "values": maybe(st.lists(text_or_scalar, max_size=3)),
            }
        )
    )
    variant = maybe(
        st.fixed_dictionaries(
            {
                "name": maybe(st.one_of(st.sampled_from(["a", "b", "c"]), TEXT)),
                "weight": maybe(st.integers(min_value=-10, max_value=1000)),
            },
            optional={
                "stickiness": maybe(st.sampled_from(["default", "userId", "random", "tenant"])),
                "payload": maybe(st.fixed_dictionaries({"type": st.just("string"), "value": TEXT})),
                "overrides": maybe(st.lists(override, max_size=2)),
            },
        )
    )
    variants = maybe(st.lists(variant, max_size=3))
    strategy_ = maybe(
        st.fixed_dictionaries(
            {
                "name": maybe(st.sampled_from(STRATEGY_NAMES)),
                "parameters": parameters,
                "constraints": maybe(st.lists(maybe(constraint), max_size=3)),
            },
            optional={
                "segments": maybe(st.lists(maybe(SEGMENT_IDS), max_size=2)),
                "variants": variants,
                "disabled": maybe(st.booleans()),
            },
        )
    )
    dependency = maybe(
        st.fixed_dictionaries(
            {"feature": maybe(st.sampled_from([*FEATURE_NAMES, "ghost"]))},
            optional={
                "enabled": maybe(st.booleans()),
                "variants": maybe(
                    st.lists(maybe(st.sampled_from(["a", "b", "disabled"])), max_size=2)
                ),
            },
        )
    )
    feature_ = maybe(
        st.fixed_dictionaries(
            {
                "name": maybe(st.one_of(st.sampled_from(FEATURE_NAMES), TEXT)),
                "enabled": maybe(st.one_of(st.just(True), st.booleans())),
                "strategies": maybe(st.lists(strategy_, max_size=3)),
            },
            optional={
                "variants": variants,
                "dependencies": maybe(st.lists(dependency, max_size=2)),
                "type": maybe(TEXT),
                "project": maybe(TEXT),
                "impressionData": maybe(st.booleans()),
            },
        )
    )
    noise_values = GARBAGE if noise is not None else None
    segment_id = SEGMENT_IDS if noise_values is None else st.one_of(SEGMENT_IDS, noise_values)
    segment = st.fixed_dictionaries(
        {"id": segment_id, "constraints": maybe(st.lists(maybe(constraint), max_size=3))}
    )
    if noise_values is not None:
        segment = st.one_of(segment, segment, noise_values)

    full = st.fixed_dictionaries(
        {
            "features": st.lists(feature_, min_size=1, max_size=6),
            "segments": st.lists(segment, max_size=4),
        },
        optional={"version": SCALARS},
    )
    events = [
        st.fixed_dictionaries(
            {
                "type": st.just("hydration"),
                "features": st.lists(feature_, min_size=1, max_size=4),
                "segments": st.lists(segment, max_size=3),
            }
        ),
        st.fixed_dictionaries({"type": st.just("feature-updated"), "feature": feature_}),
        st.fixed_dictionaries(
            {"type": st.just("feature-removed"), "featureName": st.sampled_from(FEATURE_NAMES)}
        ),
        st.fixed_dictionaries({"type": st.just("segment-updated"), "segment": segment}),
        st.fixed_dictionaries({"type": st.just("segment-removed"), "segmentId": segment_id}),
    ]
    if noise_values is not None:
        events += [st.fixed_dictionaries({"type": maybe(TEXT)}), noise_values]
    delta_ = st.fixed_dictionaries({"events": st.lists(st.one_of(*events), max_size=5)})
    return st.one_of(full, full, delta_)


payload_st = st.one_of(payloads(GARBAGE), payloads(None))
top_level_st = st.one_of(
    payload_st,
    payload_st,
    GARBAGE,
    st.fixed_dictionaries({"features": GARBAGE}),
    st.fixed_dictionaries({"events": GARBAGE}),
    st.dictionaries(TEXT, GARBAGE, max_size=2),
)

# -- contexts ---------------------------------------------------------------------------------

offsets = st.builds(
    timezone, st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23))
)
huge_text = st.sampled_from(
    ["x" * 200_000, "é" * 50_000, "\x00" * 1_000, "🏳️‍🌈" * 5_000, "a" * 100_000 + "!"]
)
context_value = st.one_of(
    SCALARS,
    st.sampled_from(SAMPLE_VALUES),
    st.datetimes(timezones=st.one_of(st.none(), st.just(UTC), offsets)),
    st.dates(),
    st.uuids(),
    huge_text,
    GARBAGE,
)
context_key = st.one_of(st.sampled_from(FIELDS), TEXT, st.integers(), st.none())
properties_st = st.one_of(st.dictionaries(context_key, context_value, max_size=4), GARBAGE)
mapping_context_st = st.builds(
    lambda fields, properties: (
        {**fields, "properties": properties} if properties is not None else fields
    ),
    st.dictionaries(context_key, context_value, max_size=5),
    st.one_of(st.none(), properties_st),
)
any_context_st = st.one_of(
    mapping_context_st,
    mapping_context_st,
    st.none(),
    SCALARS,
    st.lists(context_value, max_size=3),
    st.datetimes(),
    st.uuids(),
)


# -- helpers ----------------------------------------------------------------------------------


def payload_error_allowed(raw: Any) -> bool:
    """Whether ``raw`` is not a payload at all, so PayloadError is the right answer."""
    if not isinstance(raw, Mapping):
        return True
    if "events" in raw:
        events = raw["events"]
        if not isinstance(events, list):
            return True
        return any(
            isinstance(event, Mapping)
            and event.get("type") == "hydration"
            and (
                not isinstance(event.get("features"), list)
                or not isinstance(event.get("segments"), (list, type(None)))
            )
            for event in events
        )
    return not isinstance(raw.get("features"), list) or not isinstance(
        raw.get("segments"), (list, type(None))
    )


def assert_variant_shape(result: Any) -> None:
    assert isinstance(result, dict)
    assert {"name", "enabled", "feature_enabled"} <= set(result)
    assert isinstance(result["name"], str)
    assert isinstance(result["enabled"], bool)
    assert isinstance(result["feature_enabled"], bool)


def check_snapshot_answers(snapshot: Snapshot, contexts: list[dict[Any, Any]]) -> None:
    names = [*snapshot.features, "no-such-flag", ""]
    for context in contexts:
        for name in names:
            known = name in snapshot.features
            enabled = snapshot.is_enabled(name, context)
            if known:
                assert isinstance(enabled, bool)
            else:
                assert enabled is None
            variant = snapshot.get_variant(name, context)
            if known:
                assert_variant_shape(variant)
            else:
                assert variant is None
            explanation = explain(snapshot, name, context)
            assert isinstance(explanation, Explanation)
            assert isinstance(explanation.enabled, bool)
            assert isinstance(explanation.message, str)
            assert_variant_shape(explanation.variant)


# -- properties -------------------------------------------------------------------------------


@FUZZ
@given(raw=top_level_st, contexts=st.lists(mapping_context_st, min_size=1, max_size=3))
def test_compile_raises_only_payload_error_and_evaluation_never_raises(
    raw: Any, contexts: list[dict[Any, Any]]
) -> None:
    try:
        snapshot = compile_snapshot(raw, STATIC, CUSTOM)
    except PayloadError:
        assert payload_error_allowed(raw), raw
        return
    assert isinstance(snapshot, Snapshot)
    assert all(isinstance(warning, str) for warning in snapshot.warnings)
    check_snapshot_answers(snapshot, contexts)


@FUZZ
@given(
    first=payload_st,
    second=payload_st,
    contexts=st.lists(mapping_context_st, min_size=1, max_size=3),
)
def test_applying_payloads_one_after_another_never_raises(
    first: Any, second: Any, contexts: list[dict[Any, Any]]
) -> None:
    try:
        snapshot = compile_snapshot(first, STATIC, CUSTOM).apply(second)
    except PayloadError:
        assert payload_error_allowed(first) or payload_error_allowed(second)
        return
    check_snapshot_answers(snapshot, contexts)


def answers(snapshot: Snapshot, name: str, context: Mapping[Any, Any]) -> tuple[Any, ...]:
    """The snapshot's answers for one flag, with the random seed fixed for both sides."""
    random.seed(1)
    enabled = snapshot.is_enabled(name, context)
    random.seed(2)
    variant = snapshot.get_variant(name, context)
    return enabled, variant


@settings(FUZZ, max_examples=100)
@example(
    first={"features": [feature("alpha", [strategy(segments=[3])])]},
    second=delta(segment_updated({"id": 3, "constraints": []})),
    contexts=[{}],
)
@given(
    first=payload_st,
    second=payload_st,
    contexts=st.lists(mapping_context_st, min_size=1, max_size=2),
)
def test_incremental_recompile_answers_like_a_fresh_compile(
    first: Any, second: Any, contexts: list[dict[Any, Any]]
) -> None:
    # The explicit example reproduces the bug every run (see also
    # tests/engine/test_snapshot.py::test_a_flag_whose_missing_segment_arrives_later_is_recompiled).
    try:
        incremental = compile_snapshot(first, STATIC, CUSTOM).apply(second)
    except PayloadError:
        return
    fresh = compile_snapshot(incremental.state, STATIC, CUSTOM)
    for context in contexts:
        for name in fresh.features:
            assert answers(incremental, name, context) == answers(fresh, name, context), name


@settings(FUZZ, max_examples=100)
@given(
    raw=payload_st,
    as_json=st.booleans(),
    contexts=st.lists(any_context_st, min_size=1, max_size=3),
)
def test_client_never_raises(raw: Any, as_json: bool, contexts: list[Any]) -> None:
    bootstrap: Any = json.dumps(raw) if as_json else raw
    client = UnleashClient(url="", app_name="x", bootstrap=bootstrap, custom_strategies=CUSTOM)
    names: list[Any] = [*client.feature_definitions(), "no-such-flag", None, 7, ["unhashable"]]
    for context in contexts:
        for name in names:
            assert client.is_enabled(name, context) in (True, False)
            assert client.is_enabled(name, context, lambda n, c: True) in (True, False)
            assert_variant_shape(client.get_variant(name, context))
            assert client.explain(name, context).enabled in (True, False)
    definitions = client.feature_definitions()
    assert all(set(value) == {"type", "project"} for value in definitions.values())


@settings(FUZZ, max_examples=60)
@given(context=mapping_context_st)
def test_hostile_context_values_through_every_operator(context: dict[Any, Any]) -> None:
    flags = []
    for index, operator in enumerate(OPERATORS):
        for inverted in (False, True):
            for value in ("1", "1.2.3", "2024-01-01T00:00:00Z", "^a", "10.0.0.0/8"):
                raw = constraint(
                    FIELDS[index % len(FIELDS)],
                    operator,
                    [value, "NO"],
                    value=value,
                    inverted=inverted,
                    case_insensitive=bool(index % 2),
                )
                flags.append(
                    feature(f"{operator}-{inverted}-{value}", [strategy(constraints=[raw])])
                )
    snapshot = snapshot_of(*flags)
    for name in snapshot.features:
        assert isinstance(snapshot.is_enabled(name, context), bool)


def test_payload_error_allowed_helper() -> None:
    # The oracle of the first property: only non-payloads may raise PayloadError.
    assert payload_error_allowed([]) and payload_error_allowed({"features": {}})
    assert payload_error_allowed({"features": [], "segments": {}})
    assert not payload_error_allowed({"features": []})
    assert not payload_error_allowed({"features": [], "segments": None})
    assert not payload_error_allowed({"events": [{"type": "feature-removed"}]})
    assert payload_error_allowed({"events": [{"type": "hydration", "features": None}]})
    assert payload_error_allowed({"events": {}})
