"""The compiler: flag definitions turned into closures that evaluate without parsing.

Each feature compiles once, on its first evaluation (see ``snapshot.CompiledFeatures``),
against one set of segments whose constraints compile once; what is wrong in a definition is
reported to a :class:`~.problems.Problems` sink at its field path, the same reports
``validate`` presents. A refresh reuses every compiled feature whose definition and segments
did not change (:func:`reusable`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from .constraints import CompiledConstraint, compile_constraint
from .context import Context, StaticContext, always_false, always_true
from .problems import (
    FLAG_OFF,
    STRATEGY_OFF,
    DefinitionError,
    Finding,
    Problems,
    is_object,
    kind,
    quote,
)
from .state import FlagState, RawFeature, RawSegment, segment_id
from .strategies import CompiledStrategy, CustomStrategy, compile_strategy
from .variants import VariantSet, compile_variants

LOGGER = logging.getLogger("unleash_lite")

Check = Callable[[Context], bool]
_NO_SEGMENTS: frozenset[int] = frozenset()


def flag_type(definition: Mapping[str, Any]) -> str:
    """A flag's type as the official SDK reports it ("release" when the payload has none)."""
    return str(definition.get("type") or "release")


def flag_project(definition: Mapping[str, Any]) -> str:
    """A flag's project ("default" when the payload has none)."""
    return str(definition.get("project") or "default")


class Dependency(NamedTuple):
    """A parent flag this flag depends on."""

    feature: str
    enabled: bool  # the state the parent must be in
    variants: frozenset[str]  # when not empty, the parent's variant must be one of these


# The compiled records (features, strategies, constraints, rollouts, variants) are
# NamedTuples rather than frozen dataclasses: as immutable, and built about 5x faster, which
# counts on the first evaluation of each flag (flags compile then).
class CompiledFeature(NamedTuple):
    """A feature flag compiled for evaluation."""

    name: str
    enabled: bool
    project: str
    type: str
    impression_data: bool
    strategies: tuple[CompiledStrategy, ...]
    variants: VariantSet | None
    dependencies: tuple[Dependency, ...]
    matches: Check  # any strategy matches (ignores ``enabled`` and dependencies)
    constant: bool | None  # the is_enabled answer when it does not depend on the context
    problem: str | None
    definition: RawFeature
    segment_ids: frozenset[int]


def reusable(
    previous: Mapping[str, CompiledFeature], previous_state: FlagState, state: FlagState
) -> dict[str, CompiledFeature]:
    """The ``previous`` compiled features whose definitions and segments did not change."""
    old_segments = previous_state.segments
    changed_segments = {
        segment_id
        for segment_id in set(old_segments) | set(state.segments)
        if not same_json(old_segments.get(segment_id), state.segments.get(segment_id))
    }
    reused = {}
    for name, old in previous.items():
        definition = state.features.get(name)
        if (
            definition is not None
            and (old.definition is definition or same_json(old.definition, definition))
            and not (old.segment_ids & changed_segments)
        ):
            reused[name] = old
    return reused


class Compiler:
    """Compiles features against one set of segments (segment constraints compiled once),
    reporting what is wrong in each definition to a :class:`Problems` sink."""

    def __init__(
        self,
        segments: Mapping[int, RawSegment],
        static: StaticContext,
        custom_strategies: Mapping[str, CustomStrategy],
        warns: bool = False,
    ) -> None:
        self.segments = segments
        self.static = static
        self.custom_strategies = custom_strategies
        self.warns = warns  # whether segments report warnings too (validate), not only errors
        self._segment_constraints: dict[int, tuple[CompiledConstraint, ...]] = {}
        self._segment_problems: dict[int, list[Finding]] = {}

    def feature(
        self, name: str, definition: RawFeature, problems: Problems | None = None
    ) -> CompiledFeature:
        """Compile one flag; its problems go to ``problems`` (paths from the flag)."""
        problems = Problems(warns=False) if problems is None else problems
        since = len(problems.found)
        try:
            feature = self._feature(name, definition, problems, since)
        except Exception as error:  # a malformed definition must never break a refresh
            LOGGER.debug("feature %r does not compile", name, exc_info=True)
            if isinstance(error, DefinitionError):  # already reported, at its field
                problem = f"definition does not compile ({error})"
            else:
                problem = f"definition does not compile ({type(error).__name__}: {error})"
                problems.error(problem, FLAG_OFF)
            feature = CompiledFeature(
                name,
                False,
                flag_project(definition),
                flag_type(definition),
                False,
                (),
                None,
                (),
                always_false,
                False,
                problem,
                definition,
                _NO_SEGMENTS,
            )
        if feature.problem:
            LOGGER.debug("feature %r is always off: %s", name, feature.problem)
        return feature

    def segment_problems(self, key: int) -> list[Finding]:
        """What is wrong in segment ``key`` (paths from the segment)."""
        self._segment(key)
        return self._segment_problems.get(key, [])

    def _feature(
        self, name: str, definition: RawFeature, problems: Problems, since: int
    ) -> CompiledFeature:
        if "enabled" not in definition:
            problems.warning("missing; the flag is off", "enabled")
        else:
            problems.boolean(definition, "enabled", "the flag is off unless it is true")
        problems.boolean(definition, "impressionData", "impression events only when true")
        enabled = definition.get("enabled") is True
        listed = _listed(
            definition, "strategies", problems, "the flag is on for everyone when enabled"
        )
        segment_ids: set[int] = set()
        strategies = []
        for position, raw in enumerate(listed):
            at = problems.at("strategies", position)
            if not is_object(raw):
                at.warning(f"expected a strategy object, got {kind(raw)}; ignored")
                continue
            at.boolean(raw, "disabled", "only true disables the strategy")
            if raw.get("disabled") is not True:
                strategies.append(self._strategy(name, raw, at, segment_ids))
        if listed and not strategies:
            problems.error(
                "no usable strategy (every one is disabled or not an object)",
                FLAG_OFF,
                "strategies",
            )
        variants = compile_variants(
            definition.get("variants"), name, None, self.static, problems.at("variants")
        )
        dependencies = _dependencies(definition.get("dependencies"), problems.at("dependencies"))
        problem = problems.first_error(since, FLAG_OFF)
        matches = _any_of(tuple(strategies)) if problem is None else always_false
        return CompiledFeature(
            name=name,
            enabled=enabled,
            project=flag_project(definition),
            type=flag_type(definition),
            impression_data=definition.get("impressionData") is True,
            strategies=tuple(strategies),
            variants=variants,
            dependencies=dependencies,
            matches=matches,
            constant=_constant(enabled, dependencies, matches),
            problem=problem,
            definition=definition,
            segment_ids=frozenset(segment_ids) if segment_ids else _NO_SEGMENTS,
        )

    def _strategy(
        self, name: str, raw: Mapping[str, Any], problems: Problems, segment_ids: set[int]
    ) -> CompiledStrategy:
        listed = _listed(raw, "constraints", problems, "the strategy has no constraints")
        constraints = [
            compile_constraint(c, self.static, problems.at("constraints", position))
            for position, c in enumerate(listed)
        ]
        for position, raw_id in enumerate(
            _listed(raw, "segments", problems, "the strategy uses no segment")
        ):
            key = segment_id(raw_id)
            if key is None:
                problems.error(
                    f"{quote(raw_id)} is not a segment id", FLAG_OFF, "segments", position
                )
                continue
            segment_ids.add(key)  # also when missing: its arrival must recompile us
            resolved = self._segment(key)
            if resolved is None:
                problems.error(f"unknown segment {key}", FLAG_OFF, "segments", position)
                continue
            if any(constraint.problem for constraint in resolved):
                problems.error(
                    f"segment {key} has an invalid constraint (see segment {key})",
                    STRATEGY_OFF,
                    "segments",
                    position,
                )
            constraints.extend(resolved)
        return compile_strategy(
            raw, name, tuple(constraints), self.static, self.custom_strategies, problems
        )

    def _segment(self, key: int) -> tuple[CompiledConstraint, ...] | None:
        if key not in self._segment_constraints:
            segment = self.segments.get(key)
            if segment is None:
                return None
            problems = Problems(warns=self.warns)
            listed = _listed(segment, "constraints", problems, "the segment matches everyone")
            self._segment_constraints[key] = tuple(
                compile_constraint(raw, self.static, problems.at("constraints", position))
                for position, raw in enumerate(listed)
            )
            self._segment_problems[key] = problems.found
        return self._segment_constraints[key]


def same_json(first: Any, second: Any) -> bool:
    """Equality of JSON values that, unlike ``==``, tells ``true`` from ``1`` and ``1.0``:
    definitions equal under ``==`` can compile differently (``"enabled": 1`` is off)."""
    if type(first) is not type(second):
        return False
    if type(first) is dict:
        return first.keys() == second.keys() and all(
            same_json(value, second[key]) for key, value in first.items()
        )
    if type(first) is list:
        return len(first) == len(second) and all(map(same_json, first, second))
    return bool(first == second)


def _listed(raw: Mapping[str, Any], key: str, problems: Problems, otherwise: str) -> list[Any]:
    """``raw[key]`` when it is a list; a warning (saying what the compiler does ``otherwise``)
    when it is present but not a list."""
    value = raw.get(key)
    if isinstance(value, list):
        return value
    if value is not None:
        problems.warning(f"expected a list, got {kind(value)}; ignored, so {otherwise}", key)
    return []


def _dependencies(raw_dependencies: Any, problems: Problems) -> tuple[Dependency, ...]:
    return tuple(dependency for _, dependency in read_dependencies(raw_dependencies, problems))


def read_dependencies(raw_dependencies: Any, problems: Problems) -> list[tuple[int, Dependency]]:
    """A flag's parents as the compiler reads its ``dependencies``, each with its position in
    the list; what is read otherwise than written is reported to ``problems``."""
    if raw_dependencies is None:
        return []
    if not isinstance(raw_dependencies, list):
        problems.warning(f"expected a list, got {kind(raw_dependencies)}; ignored")
        return []
    dependencies = []
    for position, raw in enumerate(raw_dependencies):
        at = problems.at(position)
        if not is_object(raw) or not raw.get("feature"):
            at.warning("expected an object with a parent feature name; ignored")
            continue
        if not isinstance(raw["feature"], str):
            at.warning(
                f"expected a flag name, got {kind(raw['feature'])}; read as "
                f"{quote(str(raw['feature']))}",
                "feature",
            )
        at.boolean(raw, "enabled", "only false asks for a disabled parent")
        variants = raw.get("variants")
        if variants is not None and not isinstance(variants, list):
            at.warning(f"expected a list, got {kind(variants)}; ignored", "variants")
        names = frozenset(str(v) for v in variants) if isinstance(variants, list) else frozenset()
        dependencies.append(
            (
                position,
                Dependency(str(raw["feature"]), raw.get("enabled", True) is not False, names),
            )
        )
    return dependencies


def _any_of(strategies: tuple[CompiledStrategy, ...]) -> Check:
    if not strategies:
        return always_true
    checks = tuple(strategy.matches for strategy in strategies)
    if any(check is always_true for check in checks):
        return always_true
    if len(checks) == 1:
        return checks[0]

    def matches(context: Context) -> bool:
        for check in checks:  # noqa: SIM110 (a loop: no generator per call)
            if check(context):
                return True
        return False

    return matches


def _constant(enabled: bool, dependencies: tuple[Dependency, ...], matches: Check) -> bool | None:
    if not enabled or matches is always_false:
        return False
    if dependencies:
        return None
    if matches is always_true:
        return True
    return None
