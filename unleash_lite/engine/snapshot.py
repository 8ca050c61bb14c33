"""Snapshots: an immutable flag set that answers, and the decision walk over its flags.

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
from types import MappingProxyType
from typing import Any

from .compiler import CompiledFeature, Compiler, Dependency, reusable
from .context import Context, StaticContext
from .reasons import Reason
from .state import FlagState, RawFeature
from .strategies import CustomStrategy, StrategyTrace
from .variants import Variant, VariantSet

LOGGER = logging.getLogger("unleash_lite")

Check = Callable[[Context], bool]


def disabled_variant(feature_enabled: bool) -> Variant:
    """The official SDK's variant result when no variant applies."""
    return {"name": "disabled", "enabled": False, "feature_enabled": feature_enabled}


# What the decision walk found, as a plain tuple (cheap on the get_variant path): whether
# the flag is on, why, the variants that apply, and the parent whose state was not the
# required one.
Decision = tuple[bool, Reason, "VariantSet | None", "Dependency | None"]


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

    def get_variant(self, name: str, context: Context) -> Variant | None:
        """The variant dict for ``context``; ``None`` when the flag is unknown."""
        feature = self.features.get(name)
        if feature is None:
            return None
        return self.variant_of(feature, context)

    def variant_of(self, feature: CompiledFeature, context: Context) -> Variant:
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
        compiled = reusable(previous.features.compiled(), previous.state, state)
    compiler = Compiler(state.segments, static, custom_strategies)
    features = CompiledFeatures(state.features, compiler, compiled)
    return Snapshot(state, features, static, custom_strategies)
