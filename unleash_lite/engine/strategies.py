"""Activation strategies: the built-in ones, user-registered custom ones, and unknown ones.

A strategy compiles into a ``matches(context)`` closure: its constraints (its own, then those
of its segments) and then its own rule, such as a rollout percentage or a list of user ids.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from .constraints import CompiledConstraint, cidr_test, networks
from .context import (
    Context,
    Getter,
    StaticContext,
    always_false,
    always_true,
    field_getter,
    stickiness_getter,
)
from .hashing import bucket_function
from .problems import STRATEGY_OFF, Problems, is_object, kind, quote
from .variants import VariantSet, compile_variants

LOGGER = logging.getLogger("unleash_lite")
_PERCENTAGE = re.compile(r"\+?[0-9]+", re.ASCII)

Check = Callable[[Context], bool]

BUILTIN_STRATEGIES = (
    "default",
    "userWithId",
    "gradualRolloutUserId",
    "gradualRolloutSessionId",
    "gradualRolloutRandom",
    "flexibleRollout",
    "remoteAddress",
    "applicationHostname",
)


class CustomStrategy(Protocol):
    """What ``custom_strategies`` values provide (the official SDK 6.x interface)."""

    def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> bool: ...


@dataclass(frozen=True)
class StrategyTrace:
    """What one strategy made of the context."""

    index: int
    name: str
    matched: bool
    detail: str
    failed_constraint: str | None = None
    seen_value: Any = None
    bucket: int | None = None
    rollout: int | None = None


class Rollout(NamedTuple):
    """A percentage of a population, bucketed by a stickiness seed."""

    percentage: int
    group_id: str
    stickiness: str
    seed: Getter
    bucket: Callable[[str], int]
    # The one definition of the threshold, as data: the 1..100 buckets that are in (those
    # at most the percentage). Shared between rollouts of the same percentage.
    admitted: frozenset[int]

    def bucket_of(self, context: Context) -> int | None:
        """The context's 1..100 bucket; ``None`` when it has no value to stick to."""
        seed = self.seed(context)
        return None if seed is None else self.bucket(seed)


class CompiledStrategy(NamedTuple):
    """One compiled strategy of a feature."""

    name: str
    parameters: Mapping[str, Any]
    constraints: tuple[CompiledConstraint, ...]
    rule: Check  # the strategy's own rule, without constraints
    matches: Check  # constraints and rule together: the hot path
    variants: VariantSet | None
    rollout: Rollout | None = None
    problem: str | None = None

    def observe(self, index: int, context: Context) -> StrategyTrace:
        """Evaluate the strategy once and say why: the slow twin of ``matches``, built from
        the same compiled constraints, rollout and rule (for ``explain``/``evaluate``)."""
        for constraint in self.constraints:
            if not constraint.check(context):
                seen = constraint.read(context)
                why = f" ({constraint.problem})" if constraint.problem else ""
                described = constraint.describe()
                detail = f"constraint {described} failed for value {seen!r}{why}"
                return StrategyTrace(index, self.name, False, detail, described, seen)
        if self.problem is not None:
            return StrategyTrace(index, self.name, False, self.problem)
        rollout = self.rollout
        if rollout is not None:
            bucket = rollout.bucket_of(context)
            if bucket is None:
                detail = f"the context has no {rollout.stickiness} to stick to"
                return StrategyTrace(index, self.name, False, detail, rollout=rollout.percentage)
            matched = bucket in rollout.admitted
            detail = (
                f"bucket {bucket} {'<=' if matched else '>'} rollout {rollout.percentage}% "
                f"(stickiness {rollout.stickiness}, group {rollout.group_id!r})"
            )
            return StrategyTrace(
                index, self.name, matched, detail, bucket=bucket, rollout=rollout.percentage
            )
        matched = self.rule(context)
        held = "constraints hold" if self.constraints else "no constraints"
        detail = f"{held}, {self.name} rule {'passed' if matched else 'did not pass'}"
        if self.name == "default":
            detail = f"{held}, default strategy"
        return StrategyTrace(index, self.name, matched, detail)


def compile_strategy(
    raw: Mapping[str, Any],
    feature_name: str,
    constraints: tuple[CompiledConstraint, ...],
    static: StaticContext,
    custom_strategies: Mapping[str, CustomStrategy],
    problems: Problems | None = None,
) -> CompiledStrategy:
    """Compile one strategy; ``constraints`` already include its segments' constraints.
    What is wrong with its name, parameters and variants is reported to ``problems``."""
    problems = Problems(warns=False) if problems is None else problems
    since = len(problems.found)
    name = str(raw.get("name") or "")
    raw_parameters = raw.get("parameters")
    parameters: Mapping[str, Any] = raw_parameters if is_object(raw_parameters) else {}
    if raw_parameters is not None and not is_object(raw_parameters):
        problems.warning(f"expected an object, got {kind(raw_parameters)}; ignored", "parameters")
    rollout: Rollout | None = None
    at_parameters = problems.at("parameters")

    if name == "default":
        rule: Check = always_true
    elif name == "userWithId":
        rule = _user_with_id(parameters, static, at_parameters)
    elif name in (
        "flexibleRollout",
        "gradualRolloutUserId",
        "gradualRolloutSessionId",
        "gradualRolloutRandom",
    ):
        rollout = _rollout(name, parameters, feature_name, static, at_parameters)
        rule = _rollout_rule(rollout) if rollout else always_false
    elif name == "remoteAddress":
        rule = _remote_address(parameters, static, at_parameters)
    elif name == "applicationHostname":
        hosts = {host.strip().lower() for host in str(parameters.get("hostNames", "")).split(",")}
        rule = always_true if static.hostname.lower() in hosts else always_false
    elif name in custom_strategies:
        rule = _custom(name, custom_strategies[name], parameters, static)
    else:
        rule = always_false
        if name:
            problems.error(
                f"unknown strategy {quote(raw.get('name'))} (neither built in nor a registered "
                "custom strategy)",
                STRATEGY_OFF,
                "name",
            )
        else:
            problems.error("missing strategy name", STRATEGY_OFF, "name")

    stickiness = parameters.get("stickiness")
    variants = compile_variants(
        raw.get("variants"),
        variant_group_id(parameters, feature_name),
        "default" if stickiness is None else str(stickiness),
        static,
        problems.at("variants"),
    )
    return CompiledStrategy(
        name,
        parameters,
        constraints,
        rule,
        _with_constraints(constraints, rule),
        variants,
        rollout,
        problems.first_error(since, STRATEGY_OFF),
    )


def _with_constraints(constraints: tuple[CompiledConstraint, ...], rule: Check) -> Check:
    checks = tuple(constraint.check for constraint in constraints)
    if not checks:
        return rule
    if len(checks) == 1 and rule is always_true:
        return checks[0]

    if rule is always_true:  # a default strategy with constraints: the common case

        def all_hold(context: Context) -> bool:
            for check in checks:  # noqa: SIM110 (a loop: no generator per call)
                if not check(context):
                    return False
            return True

        return all_hold

    def matches(context: Context) -> bool:
        for check in checks:
            if not check(context):
                return False
        return rule(context)

    return matches


def _user_with_id(
    parameters: Mapping[str, Any], static: StaticContext, problems: Problems
) -> Check:
    listed = parameters.get("userIds")
    # Empty entries stay, as in Yggdrasil: "a,,b" (or "") lists the empty userId.
    entries = [] if listed is None else [i.strip() for i in str(listed).split(",")]
    if listed is None:
        problems.warning("no user ids; the strategy matches no one", "userIds")
    elif not any(entries):
        problems.warning("no user ids; the strategy matches only an empty userId", "userIds")
    elif "" in entries:
        problems.warning("an empty entry, which matches an empty userId", "userIds")
    user_ids = frozenset(entries)
    user_id = field_getter("userId", static)
    return lambda context: user_id(context) in user_ids


def _remote_address(
    parameters: Mapping[str, Any], static: StaticContext, problems: Problems
) -> Check:
    listed = [part.strip() for part in str(parameters.get("IPs") or "").split(",")]
    valid = networks([part for part in listed if part], problems.at("IPs"), by_position=False)
    if not valid:
        problems.warning("no valid address; the strategy matches no one", "IPs")
    in_ranges = cidr_test(valid)
    remote_address = field_getter("remoteAddress", static)

    def rule(context: Context) -> bool:
        address = remote_address(context)
        return address is not None and in_ranges(address)

    return rule


def variant_group_id(parameters: Mapping[str, Any], feature_name: str) -> str:
    """The group a strategy's variants hash in: its ``groupId`` as given, even empty; the
    flag name only when the parameter is missing."""
    group_id = parameters.get("groupId")
    return feature_name if group_id is None else str(group_id)


def rollout_group_id(name: str, parameters: Mapping[str, Any], feature_name: str) -> str | None:
    """The group a rollout strategy hashes in; ``None`` when it has none (it never matches).

    A ``groupId`` that is present is used as it is, even empty (Yggdrasil, the Node SDK and
    the Playground hash with ``""``). Only a missing one falls back: to the flag name for
    ``flexibleRollout``, to nothing for ``gradualRolloutUserId``/``SessionId``.
    ``gradualRolloutRandom`` hashes a random number, so its group does not matter.
    """
    group_id = parameters.get("groupId")
    if group_id is not None:
        return str(group_id)
    if name == "flexibleRollout":
        return feature_name
    return "" if name == "gradualRolloutRandom" else None


def _percentage(value: Any) -> int | None:
    """A rollout percentage as Yggdrasil reads it (Rust's ``usize``): ASCII digits with an
    optional ``+``; not `` 50``, ``50.0`` or ``-5``, which leave the strategy off."""
    text = str(value) if value is not None and not isinstance(value, bool) else ""
    if len(text) > 20 or _PERCENTAGE.fullmatch(text) is None:
        return None
    return int(text)


def _rollout(
    name: str,
    parameters: Mapping[str, Any],
    feature_name: str,
    static: StaticContext,
    problems: Problems,
) -> Rollout | None:
    key = "rollout" if name == "flexibleRollout" else "percentage"
    value = parameters.get(key)
    percentage = _percentage(value)
    if name == "flexibleRollout":
        named = parameters.get("stickiness")
        stickiness = "default" if named is None else str(named)
    else:
        stickiness = {"gradualRolloutUserId": "userId", "gradualRolloutSessionId": "sessionId"}.get(
            name, "random"
        )
    if percentage is None:
        shown = (
            "missing" if value is None else f"{quote(value)} is not a whole number (digits only)"
        )
        problems.error(shown, STRATEGY_OFF, key)
    elif percentage > 100 and name != "gradualRolloutRandom":
        # Yggdrasil cannot compile such a rollout and turns the whole flag off; here only
        # this strategy is off. (A random rollout above 100 is on for everyone in both.)
        problems.error(f"{percentage} is above 100", STRATEGY_OFF, key)
        percentage = None
    elif percentage > 100:
        problems.warning(f"{percentage} is above 100; read as 100", key)
    group_id = rollout_group_id(name, parameters, feature_name)
    if group_id is None:
        problems.error(f"{name} needs a groupId", STRATEGY_OFF, "groupId")
    if group_id is None or percentage is None:
        return None
    seed = stickiness_getter(stickiness, static, random_when_missing=stickiness == "default")
    bucket = bucket_function(group_id)
    return Rollout(percentage, group_id, stickiness, seed, bucket, _admitted(percentage))


@functools.cache
def _admitted(percentage: int) -> frozenset[int]:
    """The buckets a rollout of ``percentage`` lets in: 1 to ``percentage`` (all 100 above)."""
    return frozenset(range(1, min(percentage, 100) + 1))


def _rollout_rule(rollout: Rollout) -> Check:
    seed, bucket, admitted = rollout.seed, rollout.bucket, rollout.admitted
    if not admitted:
        return always_false

    def rule(context: Context) -> bool:
        value = seed(context)
        return value is not None and bucket(value) in admitted

    return rule


def _custom(
    name: str, strategy: CustomStrategy, parameters: Mapping[str, Any], static: StaticContext
) -> Check:
    def rule(context: Context) -> bool:
        try:
            return bool(strategy.apply(parameters, static.merged_with(context)))
        except Exception:
            LOGGER.debug(
                "custom strategy %r raised; treating it as not matching", name, exc_info=True
            )
            return False

    return rule
