"""Compiled snapshots: a flag state turned into closures, evaluated without parsing anything.

A :class:`Snapshot` is immutable: loading it indexes the definitions, and each flag is
compiled once, on its first evaluation. A refresh builds a new snapshot (reusing every
compiled feature whose definition and segments did not change) and the client swaps it in
with a single reference assignment, so readers never see a half-built state and never take
a lock.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .constraints import CompiledConstraint, compile_constraint
from .context import Context, StaticContext, always_false, always_true
from .problems import FLAG_OFF, STRATEGY_OFF, DefinitionError, Finding, Problems, kind, quote
from .reasons import Reason
from .state import FlagState, RawFeature, RawSegment, segment_id
from .strategies import CompiledStrategy, CustomStrategy, StrategyTrace, compile_strategy
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


def disabled_variant(feature_enabled: bool) -> dict[str, Any]:
    """The official SDK's variant result when no variant applies."""
    return {"name": "disabled", "enabled": False, "feature_enabled": feature_enabled}


# What the decision walk found, as a plain tuple (cheap on the get_variant path): whether
# the flag is on, why, the variants that apply, and the parent whose state was not the
# required one.
Decision = tuple[bool, Reason, "VariantSet | None", "Dependency | None"]


@dataclass(frozen=True, slots=True)
class Dependency:
    """A parent flag this flag depends on."""

    feature: str
    enabled: bool  # the state the parent must be in
    variants: frozenset[str]  # when not empty, the parent's variant must be one of these


@dataclass(frozen=True, slots=True)
class CompiledFeature:
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


class CompiledFeatures(Mapping[str, CompiledFeature]):
    """The features of a snapshot by name, each compiled the first time it is asked for.

    Loading indexes the definitions only; a flag is compiled on its first evaluation and
    kept, so start-up and refresh cost follows the flags a process actually uses. Compiling
    is a pure function of the definitions, so two threads racing on one flag build equal
    features and the first one stored wins.
    """

    __slots__ = ("_compiled", "_compiler", "_definitions")

    def __init__(
        self,
        definitions: Mapping[str, RawFeature],
        compiler: Compiler,
        compiled: dict[str, CompiledFeature],
    ) -> None:
        self._definitions = definitions
        self._compiler = compiler
        self._compiled = compiled

    def get(self, name: str, default: None = None) -> CompiledFeature | None:  # type: ignore[override]
        feature = self._compiled.get(name)
        if feature is None:
            definition = self._definitions.get(name)
            if definition is None:
                return default
            feature = self._compiled.setdefault(name, self._compiler.feature(name, definition))
        return feature

    def __getitem__(self, name: str) -> CompiledFeature:
        feature: CompiledFeature | None = self.get(name)
        if feature is None:
            raise KeyError(name)
        return feature

    def __contains__(self, name: object) -> bool:
        return name in self._definitions

    def __iter__(self) -> Iterator[str]:
        return iter(self._definitions)

    def __len__(self) -> int:
        return len(self._definitions)

    def compiled(self) -> dict[str, CompiledFeature]:
        """The features compiled so far (a copy)."""
        return self._compiled.copy()


class Snapshot:
    """An immutable set of flags that answers ``is_enabled`` and ``get_variant``."""

    __slots__ = ("_warnings", "custom_strategies", "features", "state", "static")

    def __init__(
        self,
        state: FlagState,
        features: CompiledFeatures,
        static: StaticContext,
        custom_strategies: Mapping[str, CustomStrategy],
    ) -> None:
        self.state = state
        self.features = features
        self.static = static
        self.custom_strategies = custom_strategies
        self._warnings: tuple[str, ...] | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        """Problems found in the payload and in every flag (compiles all flags once)."""
        if self._warnings is None:
            problems = [
                f"feature {name!r}: {feature.problem}"
                for name, feature in self.features.items()
                if feature.problem
            ]
            self._warnings = (*self.state.warnings, *problems)
        return self._warnings

    def __len__(self) -> int:
        return len(self.features)

    def __contains__(self, name: object) -> bool:
        return name in self.features

    def is_enabled(self, name: str, context: Context) -> bool | None:
        """Whether the flag is on for ``context``; ``None`` when the flag is unknown."""
        feature = self.features.get(name)
        if feature is None:
            return None
        if feature.constant is not None:
            return feature.constant
        return self.evaluate(feature, context)

    def evaluate(self, feature: CompiledFeature, context: Context) -> bool:
        """Whether a known feature is on for ``context``."""
        if not feature.enabled:
            return False
        if feature.dependencies and not self.dependencies_met(feature, context):
            return False
        return feature.matches(context)

    def checker(self, feature: CompiledFeature) -> Check:
        """The cheapest callable answering :meth:`evaluate` for ``feature``: without parents,
        an enabled flag's answer is its strategies' answer."""
        if feature.enabled and not feature.dependencies:
            return feature.matches
        return functools.partial(self.evaluate, feature)

    def get_variant(self, name: str, context: Context) -> dict[str, Any] | None:
        """The variant dict for ``context``; ``None`` when the flag is unknown."""
        feature = self.features.get(name)
        if feature is None:
            return None
        return self.variant_of(feature, context)

    def variant_of(self, feature: CompiledFeature, context: Context) -> dict[str, Any]:
        """The variant dict of a known feature for ``context``."""
        if not feature.enabled or (
            feature.dependencies and not self.dependencies_met(feature, context)
        ):
            return disabled_variant(False)
        matched, variants = self.first_match(feature, context)
        if not matched:
            return disabled_variant(False)
        variant = variants.select(context) if variants is not None else None
        return variant.result() if variant is not None else disabled_variant(True)

    def decide(
        self,
        feature: CompiledFeature,
        context: Context,
        traces: list[StrategyTrace] | None = None,
    ) -> Decision:
        """The decision walk, the one place that orders a flag's rules: enabled in this
        environment, a usable definition, its parents, then its strategies in order (the
        first that matches decides, and its variants apply, else the flag's).

        ``get_variant`` answers from it; ``explain``/``evaluate`` pass ``traces`` and the
        same walk records, strategy by strategy, why (each strategy still evaluated once);
        ``is_enabled`` runs :meth:`evaluate`, the same rules compiled into one closure.
        """
        if not feature.enabled:
            return False, Reason.DISABLED, None, None
        if feature.problem is not None:
            return False, Reason.INVALID_DEFINITION, None, None
        for dependency in feature.dependencies:
            if not self.dependency_met(dependency, context):
                return False, Reason.DEPENDENCY_UNMET, None, dependency
        matched, variants = self.first_match(feature, context, traces)
        if matched:
            reason = Reason.STRATEGY_MATCHED if feature.strategies else Reason.NO_STRATEGIES
            return True, reason, variants, None
        return False, Reason.NO_STRATEGY_MATCHED, None, None

    def first_match(
        self,
        feature: CompiledFeature,
        context: Context,
        traces: list[StrategyTrace] | None = None,
    ) -> tuple[bool, VariantSet | None]:
        """The strategy step of the walk, whatever the flag's state: whether a strategy
        matches (no strategies: yes; an unusable definition: no) and the variants that apply
        (the first matching strategy's own, else the flag's). With ``traces``, each strategy
        tried is recorded; the last one recorded is the one that matched, if any."""
        if feature.problem is not None:
            return False, None
        if not feature.strategies:
            return True, feature.variants
        for strategy in feature.strategies:
            if traces is None:
                if not strategy.matches(context):
                    continue
            else:
                trace = strategy.observe(len(traces), context)
                traces.append(trace)
                if not trace.matched:
                    continue
            return True, strategy.variants or feature.variants
        return False, None

    def dependencies_met(self, feature: CompiledFeature, context: Context) -> bool:
        """Whether every parent is in the required state (one level deep, as in Unleash)."""
        for dependency in feature.dependencies:  # noqa: SIM110 (a loop: no generator per call)
            if not self.dependency_met(dependency, context):
                return False
        return True

    def dependency_met(self, dependency: Dependency, context: Context) -> bool:
        """Whether one parent is in the state (and variant) this dependency requires."""
        parent = self.features.get(dependency.feature)
        if parent is None or parent.dependencies:
            return False
        parent_enabled = parent.enabled and parent.matches(context)
        if dependency.variants:
            # The variant the parent would pick, on or off (as Yggdrasil checks it): its
            # first matching strategy's, else its own variants.
            matched, variants = self.first_match(parent, context)
            if not matched:
                variants = parent.variants
            variant = variants.select(context) if variants is not None else None
            if variant is not None and variant.name not in dependency.variants:
                return False
        return parent_enabled == dependency.enabled

    def apply(self, payload: Any, owned: bool = False) -> Snapshot:
        """A new snapshot with ``payload`` (full or delta) applied; this one is unchanged.
        ``owned``: see :meth:`FlagState.apply`."""
        state = self.state.apply(payload, owned)
        return _compile(state, self.static, self.custom_strategies, previous=self)


def compile_snapshot(
    source: FlagState | Any,
    static: StaticContext | None = None,
    custom_strategies: Mapping[str, CustomStrategy] | None = None,
    previous: Snapshot | None = None,
    owned: bool = False,
) -> Snapshot:
    """Compile a flag state (or a raw payload, full or delta) into a snapshot.

    Features compile on first use (see :class:`CompiledFeatures`). With ``previous``, the
    features it compiled whose definitions and segments are unchanged are reused as they are,
    so a delta touching one flag recompiles at most that flag. Malformed features compile to
    "always off" with a warning; only a payload that is not a payload at all raises
    :class:`~unleash_lite.engine.state.PayloadError`. ``owned``: see :meth:`FlagState.apply`.
    """
    state = source if isinstance(source, FlagState) else FlagState().apply(source, owned)
    return _compile(state, static, custom_strategies, previous)


def _compile(
    state: FlagState,
    static: StaticContext | None,
    custom_strategies: Mapping[str, CustomStrategy] | None,
    previous: Snapshot | None,
) -> Snapshot:
    static = static or StaticContext()
    custom_strategies = MappingProxyType(dict(custom_strategies or {}))
    compiled: dict[str, CompiledFeature] = {}
    if (
        previous is not None
        and previous.static == static
        and previous.custom_strategies == custom_strategies
    ):
        compiled = _reusable(previous, state)
    compiler = Compiler(state.segments, static, custom_strategies)
    features = CompiledFeatures(state.features, compiler, compiled)
    return Snapshot(state, features, static, custom_strategies)


def _reusable(previous: Snapshot, state: FlagState) -> dict[str, CompiledFeature]:
    """The features ``previous`` compiled whose definitions and segments did not change."""
    old_segments = previous.state.segments
    changed_segments = {
        segment_id
        for segment_id in set(old_segments) | set(state.segments)
        if not same_json(old_segments.get(segment_id), state.segments.get(segment_id))
    }
    reused = {}
    for name, old in previous.features.compiled().items():
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
            if not isinstance(raw, Mapping):
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
        if not isinstance(raw, Mapping) or not raw.get("feature"):
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
        return any(check(context) for check in checks)

    return matches


def _constant(enabled: bool, dependencies: tuple[Dependency, ...], matches: Check) -> bool | None:
    if not enabled or matches is always_false:
        return False
    if dependencies:
        return None
    if matches is always_true:
        return True
    return None
