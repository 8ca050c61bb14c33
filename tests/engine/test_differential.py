"""Differential test: unleash_lite's engine and Yggdrasil answer alike.

Yggdrasil is Unleash's Rust engine, the one the official SDKs embed (PyPI ``yggdrasil-engine``,
a test-only dependency). Seeded random payloads, full and delta, with the corners the
engines used to disagree on (empty groupIds, ``caseInsensitive`` on IN, padded addresses,
date-only times, huge versions, ...) and random contexts go through both engines; every
``is_enabled`` and ``get_variant`` answer must be equal.

Yggdrasil sees each payload and context as the official Python SDK hands them over (static
``appName``/``environment``, extra top-level fields moved into ``properties``), changed
only by the deliberate differences below, each made explicit so that everything else is
still compared:

* A constraint Yggdrasil cannot compile (an unknown operator; a NUM_/DATE_/SEMVER_ value
  of the wrong form, such as ``.5``, ``2024-06-01`` or ``v1.2.3``; an invalid regular
  expression), and a rollout percentage above 100: unleash_lite never matches that
  constraint or strategy (even inverted), Yggdrasil turns the whole flag off (or reads a
  value of another form as another type, or matches an invalid pattern when inverted).
  Either way the flag does not turn on by accident; unleash_lite keeps the rest of the
  flag working. Yggdrasil gets a constraint that never matches (or ``rollout: 0``) instead.
* ``\\Q...\\E`` quoting in REGEX: RE2 (unleash_lite) has it, Rust's regex does not.
  Yggdrasil gets the same pattern with the quoted text escaped instead.
* NUM_ on a padded number (``" 11"``): unleash_lite reads 11, as the Playground, the Node
  SDK and the old Python SDK do; Yggdrasil refuses. Yggdrasil gets the number unpadded.
* A parent flag's ``flexibleRollout`` without ``groupId``, seen from a dependent flag:
  Yggdrasil hashes it with the child's name (``with_toggle_name`` of the child), the
  parent's own answer hashes with the parent's name (as everywhere else, and in the
  Playground). Yggdrasil gets ``groupId`` set to the flag's name, which is the same for the
  flag itself. (The Unleash server always sends a groupId.)

Not generated, with the reason:

* random answers (no stickiness value, ``random`` stickiness, gradualRolloutRandom between
  0 and 100): not comparable; an evaluation that draws a random number is skipped.
* ``applicationHostname`` matching this host: the yggdrasil-engine build cannot read the
  hostname (the strategy is always off there); unleash_lite uses ``socket.gethostname()``.
* strategies with ``disabled: true``: the server never sends them; unleash_lite skips them,
  Yggdrasil evaluates them.
* variant weights adding up to 0 (Yggdrasil panics) or negative (the server refuses them).
* ``"`` or ``\\`` in group ids, context names and addresses, ``\\`` in values: Yggdrasil
  pastes them into a rule text and misreads them.
* a standard field (``userId``...) given only inside ``properties`` (unleash_lite falls
  back to it, the official SDK does not), or a field both at the top level and in
  ``properties`` (the official SDK prefers the property, unleash_lite the top level).
* non-string parameter, property or constraint values: Yggdrasil refuses the payload.
* other syntax RE2 and Rust's regex read differently: Perl classes (``\\d``, ``\\w``,
  ``\\s``, ``\\b``) are ASCII in RE2 and Unicode in Rust (here they only meet ASCII
  values); RE2 alone has ``\\C`` and octal escapes (``\\101``); Rust alone has ``(?x)``,
  ``\\u00e9``, ``(?-u:...)``, class set operations (``[a-z--c]``, ``[a&&b]``) and word
  boundaries ``\\<``, ``\\>``, ``\\b{start}`` (RE2 refuses some, reads others as
  literal characters).
* string operators (IN, STR_*, REGEX...) on ``currentTime`` when the context has none: the
  official SDK compares the current time as text, unleash_lite finds no value.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest

from unleash_lite.engine import Snapshot, StaticContext, compile_snapshot
from unleash_lite.engine.constraints import compile_constraint

try:
    from yggdrasil_engine.engine import UnleashEngine
except ImportError as missing:  # a reference engine we cannot run is a failure, not a skip
    pytest.fail(
        f"yggdrasil-engine is needed (pip install -e . --group test): {missing}", pytrace=False
    )

APP = "differential"
STATIC = StaticContext(app_name=APP)

# -- value pools: every corner the engines disagreed on, and their neighbours ---------------

USER_IDS = [f"user-{n}" for n in range(1, 13)] + ["", "User-1", "ü-user", "日本", "a\"b"]
SESSION_IDS = [f"session-{n}" for n in range(1, 9)] + [""]
TENANTS = [
    "acme", "Acme", "ACME", " acme", "acme ", "", "globex", "ærlig", "ÆRLIG", "straße", "ΟΔΟΣ",
    "οδος", "İstanbul", "\u212aelvin",
]  # fmt: skip
PLANS = ["pro", "Pro", "PRO", "pro ", "free", "enterprise", "Enterprise", "", "ﬁre"]
EMAILS = [
    "alice@example.com", "Alice@Example.COM", "bob@example.org", "carol@test.io",
    "dave@EXAMPLE.org", "", "é@example.com", "admin@corp.com",
]  # fmt: skip
CODES = ["abc123", "ABC-42", "a_b", "  ", "x9", "hello world", "", "42"]  # ASCII only
AGES = [
    "17", "18", "18.0", "18.5", " 18", "18 ", "\t18\n", "-1", "1e1", ".5", "5.", "inf",
    "-inf", "nan", "NaN", "infe5", "1_8", "0x12", "abc", "", "\u0661\u0668", "1e309", "0.3",
    "0.30000000000000004", "100000000000000000000", "+18",
]  # fmt: skip
VERSIONS = [
    "1.2.3", "1.2.3-beta.1", "1.2.3-beta.2", "1.2.3-beta.10", "1.10.0", "2.0.0", "2.0.0-rc.1",
    "1.2.3+build.5", "0.0.0", "18446744073709551615.0.0", "18446744073709551616.0.0",
    "1.0.18446744073709551616", "1.2.3-18446744073709551616", "v1.2.3", " 1.2.3", "1.2",
    "01.2.3", "1.2.3-01", "1\u0661.2.3", "",
]  # fmt: skip
TIMES = [
    "2024-06-01T12:00:00Z", "2024-06-01T11:59:59.999Z", "2024-06-01T12:00:00.001Z",
    "2024-06-01T14:00:00+02:00", "2024-06-01T12:00:00+0200", "2024-06-01 12:00:00Z",
    "2024-06-01t12:00:00z", "2024-06-01", "2024-06-01T12:00:00", "2024-06-01T12:00:60Z",
    "2024-06-01T12:00:00.0000000001Z", "2030-01-01T00:00:00Z", "1999-12-31T23:59:59Z",
    "+2024-06-01T12:00:00Z", "2024-06-01T12:00:00 UTC", "2024-6-1T12:0:0Z", "garbage", "",
]  # fmt: skip
ADDRESSES = [
    "10.0.0.1", "10.255.255.255", "11.0.0.1", " 10.0.0.1", "10.0.0.1 ", "192.168.1.7",
    "2001:db8::1", "fe80::1%eth0", "::ffff:10.0.0.1", "127.0.0.1", "010.0.0.1", "", "nope",
]  # fmt: skip
RANGES = [
    "10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32", "127.0.0.1", " 10.0.0.0/8", "10.0.0.0/+8",
    "10.0.0.0/255.0.0.0", "10.0.0.0/0.255.255.255", "nope", "10.0.0.0/33", "", "fe80::/10",
]  # fmt: skip

PROPERTIES: dict[str, list[str]] = {
    "tenant": TENANTS,
    "plan": PLANS,
    "email": EMAILS,
    "code": CODES,
    "age": AGES,  # read by NUM_* constraints only (see ygg_context)
    "version": VERSIONS,
    "signup": TIMES,
    "ip": ADDRESSES,
}
TEXT_FIELDS = ["userId", "sessionId", "tenant", "plan", "email", "environment", "appName"]

# Constraint values; the BAD_ ones have the wrong form for their operator: unleash_lite
# never matches such a constraint, Yggdrasil turns the flag off or reads them as another type.
NUMBERS = ["18", "18.5", "-1", "0", "1e1", "+18", "18.", " 18\t", "0.3", "1e309", "-0"]
BAD_NUMBERS = [".5", "inf", "nan", "abc", "", "1.2.3", "2024-06-01", "1 8"]
DATES = [
    "2024-06-01T12:00:00Z", "2024-06-01T12:00:00.000Z", "2024-06-01T14:00:00+02:00",
    "2024-06-01T12:00:00.001-00:00", " 2024-06-01T12:00:00Z\t", "2024-06-01T12:00:60Z",
    "1999-12-31T23:59:59Z", "2099-01-01T00:00:00Z",
]  # fmt: skip
BAD_DATES = [
    "2024-06-01", "2024-06-01T12:00:00", "2024-06-01T12:00:00.5Z", "2024-06-01 12:00:00Z",
    "2024-06-01T12:00:00+0200", "2024-02-30T00:00:00Z", "banana", "",
]  # fmt: skip
SEMVERS = [
    "1.2.3", "1.2.3-beta.2", "2.0.0", " 1.10.0 ", "18446744073709551615.0.0",
    "1.2.3-18446744073709551616", "1.2.3+build.1", "0.0.0",
]  # fmt: skip
BAD_SEMVERS = ["v1.2.3", "1.2", "01.2.3", "1.2.3-01", "18446744073709551616.0.0", "x", ""]
PATTERNS = [
    "^a", "acme$", "(?i)ACME", "[[:alpha:]]+", "^$", "é", "a|b", "x*", r"\.com$",
    r"^[a-z]+@example\.(com|org)$", "(a+)+$", "^[A-Z]", "(?i:pro)$", r"\p{Lu}",
]  # fmt: skip
ASCII_PATTERNS = [r"\d+", r"^\w+$", r"\s", r"\b42\b"]  # only meet CODES
BAD_PATTERNS = ["(", "(?<=a)b", "a{2,1}", r"(a)\1", "[z-a]"]
RE2_ONLY = {r"\Qa.b\E": r"a\.b", r"^\Q(x)\E": r"^\(x\)"}
UNKNOWN_OPERATORS = ["NUM_NE", "in", "STR_EQUALS", "DATE_EQ"]
STRING_OPERATORS = ["STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH"]
ORDINALS = ["EQ", "GT", "GTE", "LT", "LTE"]

PERCENTAGES = ["0", "1", "33", "50", "99", "100", "100", "100"]
ODD_PERCENTAGES = ["+50", "050", "150", "50.0", " 50", "-5", "x", ""]
STICKINESS = [
    None, "default", "userId", "sessionId", "tenant", "plan", "random", "", "appName",
    "environment", "remoteAddress",
]  # fmt: skip

Json = dict[str, Any]


# -- generating payloads ------------------------------------------------------------------


class Generator:
    """Random flags, segments and contexts from one seeded ``random.Random``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.serial = 0

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def pick(self, options: list[Any]) -> Any:
        return self.rng.choice(options)

    def some(self, options: list[Any], most: int) -> list[Any]:
        return self.rng.sample(options, self.rng.randint(1, min(most, len(options))))

    def text_variant(self, text: str) -> str:
        """The text, or the same text in another case, padded, or cut short."""
        roll = self.rng.random()
        if roll < 0.15:
            return text.upper()
        if roll < 0.3:
            return text.lower()
        if roll < 0.4 and text:
            return text[: self.rng.randint(0, len(text))]
        return text

    # constraints

    def constraint(self) -> Json:
        roll = self.rng.random()
        inverted = self.chance(0.3)
        case_insensitive = self.chance(0.4)
        if roll < 0.22:
            name = self.pick([*TEXT_FIELDS, "remoteAddress", "version"])
            operator = self.pick(["IN", "NOT_IN"])
            pool = self.pool(name)
            values = [self.text_variant(v) for v in self.some(pool, 4)]
            return constraint(name, operator, values, inverted, case_insensitive)
        if roll < 0.38:
            name = self.pick(TEXT_FIELDS)
            values = [self.text_variant(v) for v in self.some(self.pool(name), 3)]
            operator = self.pick(STRING_OPERATORS)
            return constraint(name, operator, values, inverted, case_insensitive)
        if roll < 0.5:
            value = self.pick(BAD_NUMBERS) if self.chance(0.15) else self.pick(NUMBERS)
            name = "age" if self.chance(0.8) else self.pick(["userId", "tenant"])
            operator = "NUM_" + self.pick(ORDINALS)
            return constraint(name, operator, value, inverted, case_insensitive)
        if roll < 0.62:
            value = self.pick(BAD_DATES) if self.chance(0.15) else self.pick(DATES)
            name = "currentTime" if self.chance(0.7) else "signup"
            operator = self.pick(["DATE_AFTER", "DATE_BEFORE"])
            return constraint(name, operator, value, inverted, case_insensitive)
        if roll < 0.74:
            value = self.pick(BAD_SEMVERS) if self.chance(0.15) else self.pick(SEMVERS)
            operator = "SEMVER_" + self.pick(ORDINALS)
            return constraint("version", operator, value, inverted, case_insensitive)
        if roll < 0.86:
            choice = self.rng.random()
            if choice < 0.1:
                pattern, name = self.pick(BAD_PATTERNS), self.pick(TEXT_FIELDS)
            elif choice < 0.18:
                pattern, name = self.pick(list(RE2_ONLY)), self.pick(TEXT_FIELDS)
            elif choice < 0.35:
                pattern, name = self.pick(ASCII_PATTERNS), "code"
            else:
                pattern, name = self.pick(PATTERNS), self.pick([*TEXT_FIELDS, "code"])
            return constraint(name, "REGEX", pattern, inverted, case_insensitive)
        if roll < 0.97:
            name = "remoteAddress" if self.chance(0.7) else "ip"
            values = self.some(RANGES, 3)
            return constraint(name, "IN_CIDR", values, inverted, case_insensitive)
        operator = self.pick(UNKNOWN_OPERATORS)
        return constraint(self.pick(TEXT_FIELDS), operator, ["x"], inverted, case_insensitive)

    def pool(self, name: str) -> list[str]:
        return {
            "userId": USER_IDS,
            "sessionId": SESSION_IDS,
            "remoteAddress": ADDRESSES,
            "environment": ["default", "production", "Production"],
            "appName": [APP, "other-app"],
        }.get(name) or PROPERTIES[name]

    # strategies and variants

    def percentage(self) -> str:
        return self.pick(ODD_PERCENTAGES) if self.chance(0.2) else self.pick(PERCENTAGES)

    def parameters_of(self, name: str, flag: str) -> dict[str, str]:
        parameters: dict[str, str] = {}
        if name in ("gradualRolloutUserId", "gradualRolloutSessionId"):
            parameters["percentage"] = self.percentage()
            group = self.pick([None, "", "g1", flag])
            if group is not None:
                parameters["groupId"] = group
        elif name == "gradualRolloutRandom":
            parameters["percentage"] = self.pick(["0", "100", "150", "40"])
        elif name == "flexibleRollout":
            parameters["rollout"] = self.percentage()
            stickiness = self.pick(STICKINESS)
            if stickiness is not None:
                parameters["stickiness"] = stickiness
            group = self.pick([None, "", "g1", "shared"])
            if group is not None:
                parameters["groupId"] = group
        elif name == "userWithId":
            ids = self.some(USER_IDS, 4)
            parameters["userIds"] = self.pick([", ", ",", " , ", ",,"]).join(ids)
            if self.chance(0.1):
                parameters["userIds"] = self.pick(["", ",", " a, "])
        elif name == "remoteAddress":
            parameters["IPs"] = self.pick([",", ", ", " ,"]).join(self.some(RANGES, 3))
        elif name == "applicationHostname":
            parameters["hostNames"] = "nowhere.example, Also-Not-Here"
        return parameters

    def variants(self, strategy_level: bool) -> list[Json]:
        names = self.some(["red", "green", "blue", "gold", "disabled", "ü"], 4)
        stickiness = self.pick(STICKINESS)
        variants = []
        for position, name in enumerate(names):
            variant: Json = {
                "name": name,
                "weight": self.rng.randint(1, 1000) if self.chance(0.9) else 0,
                "weightType": "variable",
            }
            if not strategy_level and position == 0 and stickiness is not None:
                variant["stickiness"] = stickiness
            elif not strategy_level and self.chance(0.3):
                variant["stickiness"] = self.pick(["default", "userId", "tenant"])
            if self.chance(0.5):
                variant["payload"] = self.pick(
                    [
                        {"type": "string", "value": name.upper()},
                        {"type": "json", "value": json.dumps({"v": name})},
                        {"type": "number", "value": str(position)},
                        {"type": "csv", "value": "a,b"},
                    ]
                )
            if not strategy_level and self.chance(0.25):
                field_name = self.pick(["userId", "tenant", "appName", "environment"])
                values = self.some(self.pool(field_name), 2)
                variant["overrides"] = [{"contextName": field_name, "values": values}]
            variants.append(variant)
        if not any(variant["weight"] for variant in variants):
            variants[0]["weight"] = 1  # a zero total panics Yggdrasil (not generated)
        return variants

    def strategy(self, flag: str, segment_ids: list[int]) -> Json:
        name = self.pick(
            ["default", "flexibleRollout", "flexibleRollout", "flexibleRollout", "userWithId",
             "gradualRolloutUserId", "gradualRolloutSessionId", "gradualRolloutRandom",
             "remoteAddress", "applicationHostname", "canaryRelease"]
        )  # fmt: skip
        strategy: Json = {"name": name, "parameters": self.parameters_of(name, flag)}
        if name == "default" and self.chance(0.2):
            del strategy["parameters"]  # optional (the binding needs it on custom strategies)
        if self.chance(0.1):
            strategy["constraints"] = None
        elif self.chance(0.6):
            strategy["constraints"] = [self.constraint() for _ in range(self.rng.randint(0, 2))]
        if segment_ids and self.chance(0.3):
            strategy["segments"] = self.some(segment_ids, 2)
        if self.chance(0.03):
            strategy["segments"] = [*strategy.get("segments", []), 999]  # unknown: flag off
        if self.chance(0.05):
            strategy["variants"] = []  # the server sends this: the flag's variants apply
        elif self.chance(0.3):
            strategy["variants"] = self.variants(strategy_level=True)
            if name != "flexibleRollout" and self.chance(0.5):
                stickiness = self.pick(["userId", "tenant", "default", ""])
                strategy.setdefault("parameters", {})["stickiness"] = stickiness
        return strategy

    def segment(self, segment_id: int) -> Json:
        constraints = [self.constraint() for _ in range(self.rng.randint(0, 2))]
        return {"id": segment_id, "name": f"segment-{segment_id}", "constraints": constraints}

    def flag(self, name: str, parents: list[Json], segment_ids: list[int]) -> Json:
        definition: Json = {
            "name": name,
            "type": "release",
            "project": "default",
            "enabled": self.chance(0.9),
            "impressionData": False,
            "strategies": [
                self.strategy(name, segment_ids) for _ in range(self.rng.choice([0, 1, 1, 2, 3]))
            ],
        }
        if self.chance(0.5):
            definition["variants"] = self.variants(strategy_level=False)
        if parents and self.chance(0.35):
            chosen = self.some(parents, 2)
            definition["dependencies"] = [self.dependency(parent) for parent in chosen]
        return definition

    def dependency(self, parent: Json) -> Json:
        dependency: Json = {"feature": parent["name"]}
        if self.chance(0.1):
            dependency["feature"] = "no-such-flag"
        if self.chance(0.4):
            dependency["enabled"] = self.chance(0.6)
        if self.chance(0.4):
            offered = [v["name"] for v in parent.get("variants", [])]
            for strategy in parent["strategies"]:
                offered += [v["name"] for v in strategy.get("variants", [])]
            dependency["variants"] = self.some([*offered, "disabled", "unknown"], 2)
            if self.chance(0.1):
                dependency["variants"] = []
        return dependency

    def next_name(self) -> str:
        self.serial += 1
        return f"flag-{self.serial}"

    def payload(self, flags: int = 14) -> Json:
        segment_ids = self.some(list(range(1, 9)), 4)
        segments = [self.segment(segment_id) for segment_id in segment_ids]
        features: list[Json] = []
        for _ in range(flags):
            parents = features[: len(features) // 2]
            features.append(self.flag(self.next_name(), parents, segment_ids))
        return {"version": 2, "features": features, "segments": segments}

    # contexts

    def context(self) -> Json:
        context: Json = {}
        for name, pool, probability in (
            ("userId", USER_IDS, 0.75),
            ("sessionId", SESSION_IDS, 0.5),
            ("remoteAddress", ADDRESSES, 0.5),
            ("currentTime", TIMES, 0.7),
            ("environment", ["default", "production", "Production"], 0.2),
            ("appName", [APP, "other-app", ""], 0.15),
        ):
            if self.chance(probability):
                context[name] = self.pick(pool)
        properties = {
            name: self.pick(pool) for name, pool in PROPERTIES.items() if self.chance(0.6)
        }
        for name in list(properties):
            if self.chance(0.15):  # the official SDK moves such fields into properties
                context[name] = properties.pop(name)
        if properties or self.chance(0.5):
            context["properties"] = properties
        return context


def constraint(
    name: str, operator: str, value: Any, inverted: bool, case_insensitive: bool
) -> Json:
    raw: Json = {
        "contextName": name,
        "operator": operator,
        "inverted": inverted,
        "caseInsensitive": case_insensitive,
    }
    if isinstance(value, list):
        raw["values"] = value
    else:
        raw["value"] = value
        raw["values"] = []
    return raw


# -- what Yggdrasil is given --------------------------------------------------------------

NEVER: Json = {"contextName": "userId", "operator": "IN", "values": [], "inverted": False}


def uncompilable(raw: Mapping[str, Any]) -> bool:
    """Whether Yggdrasil cannot compile this constraint (a deliberate difference)."""
    operator, value = raw["operator"], raw.get("value")
    if operator in UNKNOWN_OPERATORS:
        return True
    if operator.startswith("NUM_"):
        return value in BAD_NUMBERS
    if operator.startswith("DATE_"):
        return value in BAD_DATES
    if operator.startswith("SEMVER_"):
        return value in BAD_SEMVERS
    return operator == "REGEX" and value in BAD_PATTERNS


def ygg_constraint(raw: Json) -> Json:
    if uncompilable(raw):
        return dict(NEVER)
    if raw["operator"] == "REGEX" and raw["value"] in RE2_ONLY:
        return {**raw, "value": RE2_ONLY[raw["value"]]}
    return raw


def ygg_feature(definition: Json) -> Json:
    """A flag as Yggdrasil is given it: the deliberate differences made explicit."""
    feature = copy.deepcopy(definition)
    for strategy in feature["strategies"]:
        if strategy.get("constraints") is not None:
            strategy["constraints"] = [ygg_constraint(c) for c in strategy["constraints"]]
        parameters = strategy.get("parameters")
        if parameters is None:
            continue
        if strategy["name"] == "flexibleRollout" and "groupId" not in parameters:
            parameters["groupId"] = feature["name"]
        key = "rollout" if strategy["name"] == "flexibleRollout" else "percentage"
        if strategy["name"] != "gradualRolloutRandom" and over_100(parameters.get(key)):
            parameters[key] = "0"
    return feature


def over_100(percentage: str | None) -> bool:
    return percentage is not None and percentage.isdigit() and int(percentage) > 100


def ygg_segment(definition: Json) -> Json:
    return {**definition, "constraints": [ygg_constraint(c) for c in definition["constraints"]]}


def ygg_payload(payload: Json) -> Json:
    if "events" in payload:
        return {"events": [ygg_event(event) for event in payload["events"]]}
    return {
        **payload,
        "features": [ygg_feature(f) for f in payload["features"]],
        "segments": [ygg_segment(s) for s in payload["segments"]],
    }


def ygg_event(event: Json) -> Json:
    if event["type"] == "hydration":
        return {
            **event,
            "features": [ygg_feature(f) for f in event["features"]],
            "segments": [ygg_segment(s) for s in event["segments"]],
        }
    if event["type"] == "feature-updated":
        return {**event, "feature": ygg_feature(event["feature"])}
    if event["type"] == "segment-updated":
        return {**event, "segment": ygg_segment(event["segment"])}
    return event


STANDARD_FIELDS = ("userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime")


def ygg_context(context: Mapping[str, Any]) -> Json:
    """The context as the official Python SDK hands it to Yggdrasil: the client's static
    fields, then the context; other top-level fields move into ``properties``. ``age`` is
    unpadded: padded numbers are a deliberate difference (and only NUM_* reads ``age``)."""
    merged: Json = {"appName": APP, "environment": "default", **context}
    properties = {k: v for k, v in merged.items() if k not in (*STANDARD_FIELDS, "properties")}
    properties.update(merged.get("properties") or {})
    if "age" in properties:  # what is left of a padded number is the number
        properties["age"] = properties["age"].strip(" \t\n\r\f\v")
    result = {k: v for k, v in merged.items() if k in STANDARD_FIELDS}
    result["properties"] = properties
    return result


# -- comparing ----------------------------------------------------------------------------

Answer = tuple[bool | None, tuple[str, bool, bool, str | None]]


@dataclass
class Tally:
    compared: int = 0
    random: int = 0
    disagreements: int = 0
    examples: list[str] = field(default_factory=list)  # the first few, in full


class RandomDrawn:
    """Replaces ``random.randint`` while unleash_lite evaluates, to see when it draws."""

    def __init__(self) -> None:
        self.drawn = False

    def __call__(self, low: int, high: int) -> int:
        self.drawn = True
        return low


def ours(snapshot: Snapshot, name: str, context: Json) -> Answer:
    enabled = snapshot.is_enabled(name, context)
    variant = snapshot.get_variant(name, context) or {
        "name": "disabled",
        "enabled": False,
        "feature_enabled": False,
    }
    payload = variant.get("payload")
    return enabled, (
        variant["name"],
        variant["enabled"],
        variant["feature_enabled"],
        json.dumps(payload, sort_keys=True) if payload else None,
    )


def theirs(engine: UnleashEngine, name: str, context: Json) -> Answer:
    toggle = engine.check_enabled(name, context)
    found = engine.check_variant(name, context)
    variant = found.variant
    return toggle.is_enabled if toggle.is_found else None, (
        variant.name,
        variant.enabled,
        variant.feature_enabled,
        json.dumps(variant.payload, sort_keys=True) if variant.payload else None,
    )


def compare(
    snapshot: Snapshot,
    engine: UnleashEngine,
    names: list[str],
    contexts: list[Json],
    tally: Tally,
    where: Callable[[], str],
) -> None:
    draws = RandomDrawn()
    for context in contexts:
        converted = ygg_context(context)
        for name in names:
            draws.drawn = False
            with mock.patch.object(random, "randint", draws):
                mine = ours(snapshot, name, context)
            if draws.drawn:
                tally.random += 1
                continue
            reference = theirs(engine, name, converted)
            tally.compared += 1
            if mine == reference:
                continue
            tally.disagreements += 1
            if len(tally.examples) < 3:
                definition = snapshot.state.features.get(name)
                tally.examples.append(
                    f"{where()} flag {name}\n  definition: {json.dumps(definition)}\n"
                    f"  segments: {json.dumps(dict(snapshot.state.segments))}\n"
                    f"  context: {json.dumps(context)}\n"
                    f"  unleash_lite: {mine}\n  yggdrasil:    {reference}"
                )


def ygg_engine(payload: Json) -> UnleashEngine:
    engine = UnleashEngine()
    engine.take_state(json.dumps(ygg_payload(payload)))
    return engine


def assert_agree(tally: Tally, minimum: int) -> None:
    print(f"\n[differential] {tally.compared} answers compared, {tally.random} random skipped")
    assert not tally.disagreements, (
        f"{tally.disagreements} disagreements with Yggdrasil; the first:\n"
        + "\n".join(tally.examples)
    )
    assert tally.compared >= minimum


def assert_labels_match_the_compiler(snapshot: Snapshot) -> None:
    """The constraints this test calls uncompilable are exactly those unleash_lite rejects,
    so that the deliberate difference hides nothing else."""
    for definition in snapshot.state.features.values():
        for strategy in definition["strategies"]:
            raws = list(strategy.get("constraints") or [])
            for segment_id in strategy.get("segments", []):
                segment = snapshot.state.segments.get(segment_id)
                raws += segment["constraints"] if segment is not None else []
            for raw in raws:
                problem = compile_constraint(raw, STATIC).problem
                assert (problem is not None) == uncompilable(raw), (raw, problem)


# -- the tests ----------------------------------------------------------------------------

FULL_PAYLOADS = 120
CONTEXTS_PER_PAYLOAD = 32


def test_full_payloads_agree_with_yggdrasil() -> None:
    started, tally = time.monotonic(), Tally()
    for seed in range(FULL_PAYLOADS):
        generator = Generator(seed)
        payload = generator.payload()
        snapshot = compile_snapshot(payload, STATIC)
        assert_labels_match_the_compiler(snapshot)
        names = [f["name"] for f in payload["features"]] + ["no-such-flag"]
        contexts = [generator.context() for _ in range(CONTEXTS_PER_PAYLOAD)]
        compare(snapshot, ygg_engine(payload), names, contexts, tally, lambda s=seed: f"seed {s}")
    print(f"[differential] full payloads in {time.monotonic() - started:.1f}s")
    assert_agree(tally, minimum=45_000)


DELTA_SEQUENCES = 50
DELTAS_PER_SEQUENCE = 5


def random_delta(generator: Generator, state: Json) -> Json:
    """A few delta events against ``state`` (which it updates as the server would)."""
    events: list[Json] = []
    features: dict[str, Json] = {f["name"]: f for f in state["features"]}
    segments: dict[int, Json] = {s["id"]: s for s in state["segments"]}
    for _ in range(generator.rng.randint(1, 4)):
        roll = generator.rng.random()
        segment_ids = list(segments)
        if roll < 0.45 or not features:
            parents = [f for f in features.values() if not f.get("dependencies")]
            name = generator.pick(list(features)) if features and roll < 0.25 else None
            definition = generator.flag(name or generator.next_name(), parents, segment_ids)
            features[definition["name"]] = definition
            events.append({"type": "feature-updated", "feature": definition})
        elif roll < 0.6:
            name = generator.pick([*features, "never-existed"])
            features.pop(name, None)
            events.append({"type": "feature-removed", "featureName": name, "project": "default"})
        elif roll < 0.8:
            definition = generator.segment(generator.rng.randint(1, 10))
            segments[definition["id"]] = definition
            events.append({"type": "segment-updated", "segment": definition})
        elif roll < 0.93:
            segment_id = generator.pick([*segment_ids, 77])
            segments.pop(segment_id, None)
            events.append({"type": "segment-removed", "segmentId": segment_id})
        else:
            fresh = generator.payload(flags=6)
            features = {f["name"]: f for f in fresh["features"]}
            segments = {s["id"]: s for s in fresh["segments"]}
            events.append(
                {"type": "hydration", "features": fresh["features"], "segments": fresh["segments"]}
            )
    state["features"] = list(features.values())
    state["segments"] = list(segments.values())
    for event_id, event in enumerate(events, start=1):
        event["eventId"] = event_id
    return {"events": events}


def test_delta_payloads_agree_with_yggdrasil() -> None:
    started, tally = time.monotonic(), Tally()
    for seed in range(1000, 1000 + DELTA_SEQUENCES):
        generator = Generator(seed)
        state = generator.payload(flags=10)
        first: Json = {
            "events": [
                {
                    "eventId": 0,
                    "type": "hydration",
                    "features": state["features"],
                    "segments": state["segments"],
                }
            ]
        }
        snapshot = compile_snapshot(first, STATIC)
        engine = ygg_engine(first)
        seen = {f["name"] for f in state["features"]}
        for step in range(DELTAS_PER_SEQUENCE):
            delta = random_delta(generator, state)
            snapshot = snapshot.apply(delta)
            engine.take_state(json.dumps(ygg_payload(delta)))
            assert_labels_match_the_compiler(snapshot)
            seen |= {f["name"] for f in state["features"]}
            assert set(snapshot.state.features) == {f["name"] for f in state["features"]}
            contexts = [generator.context() for _ in range(CONTEXTS_PER_PAYLOAD // 2)]
            compare(
                snapshot,
                engine,
                sorted(seen),
                contexts,
                tally,
                lambda s=seed, n=step: f"seed {s} delta {n}",
            )
    print(f"[differential] delta sequences in {time.monotonic() - started:.1f}s")
    assert_agree(tally, minimum=45_000)


def test_random_draws_are_seen() -> None:
    """Answers that depend on a random number are recognised (else they would be compared)."""
    payload = {
        "features": [
            {"name": "r", "enabled": True, "strategies": [{"name": "flexibleRollout",
             "parameters": {"rollout": "50"}}]},
            {"name": "v", "enabled": True, "strategies": [],
             "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]},
        ]
    }  # fmt: skip
    snapshot = compile_snapshot(payload, STATIC)
    for name, context in (("r", {}), ("v", {}), ("r", {"userId": "u"})):
        draws = RandomDrawn()
        with mock.patch.object(random, "randint", draws):
            ours(snapshot, name, context)
        assert draws.drawn is (context == {}), name


def test_the_generator_is_deterministic() -> None:
    first, second = Generator(5), Generator(5)
    assert first.payload() == second.payload()
    assert [first.context() for _ in range(20)] == [second.context() for _ in range(20)]


def test_uncompilable_means_the_whole_flag_is_off_in_yggdrasil() -> None:
    """The deliberate difference is real: given such a flag as it is, Yggdrasil turns it
    off, while unleash_lite keeps its other strategy."""
    for value in (".5", "inf", "banana"):
        never = constraint("age", "NUM_EQ", value, False, False)
        flag = {
            "name": "f",
            "enabled": True,
            "strategies": [{"name": "default", "constraints": [never]}, {"name": "default"}],
        }
        engine = UnleashEngine()
        engine.take_state(json.dumps({"version": 2, "features": [flag]}))
        assert engine.check_enabled("f", {"properties": {"age": "1"}}).is_enabled is False
        assert compile_snapshot({"features": [flag]}, STATIC).is_enabled("f", {}) is True
