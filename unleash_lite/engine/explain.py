"""An evaluation with its reason: a slower walk over a compiled feature, for
``UnleashClient.evaluate`` and ``explain``.

It reuses the compiled constraints, rollouts, rules, dependency checks and variant choice
of the snapshot, so it reports the same logic the hot path runs, without adding any cost
to ``is_enabled``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .context import Context
from .snapshot import CompiledFeature, Dependency, Snapshot, disabled_variant
from .strategies import CompiledStrategy


class Reason(StrEnum):
    """The kind of answer an evaluation gave."""

    UNKNOWN_FLAG = "unknown_flag"
    DISABLED = "disabled"
    INVALID_DEFINITION = "invalid_definition"
    DEPENDENCY_UNMET = "dependency_unmet"
    NO_STRATEGIES = "no_strategies"
    STRATEGY_MATCHED = "strategy_matched"
    NO_STRATEGY_MATCHED = "no_strategy_matched"
    FALLBACK = "fallback"
    OVERRIDDEN = "overridden"  # set by UnleashClient.override(), never by the engine


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


@dataclass(frozen=True)
class EvaluationDetail:
    """An evaluation with its reason: what :meth:`UnleashClient.evaluate` and
    :meth:`UnleashClient.explain` return.

    ``enabled`` is what ``is_enabled`` answers and ``variant`` what ``get_variant`` answers
    for the same flag and context. ``static``: the answer does not depend on the context
    (a flag that is off, on for everyone, or overridden). ``split``: the variant was chosen
    by hashing among several variants.
    """

    feature_name: str
    enabled: bool
    variant: dict[str, Any]
    reason: Reason
    message: str
    strategy: StrategyTrace | None = None  # the strategy that decided, when one did
    strategies: tuple[StrategyTrace, ...] = field(default=())
    static: bool = False
    split: bool = False

    @property
    def known(self) -> bool:
        """Whether the flag is defined (or overridden); ``False`` for an unknown name."""
        return self.reason not in (Reason.UNKNOWN_FLAG, Reason.FALLBACK)


Explanation = EvaluationDetail  # the name explain() results had first


def explain(snapshot: Snapshot, name: str, context: Context) -> EvaluationDetail:
    """Evaluate ``name`` for ``context`` and say why it came out as it did."""
    feature = snapshot.features.get(name)
    if feature is None:
        return EvaluationDetail(
            name,
            False,
            disabled_variant(False),
            Reason.UNKNOWN_FLAG,
            "the flag is not defined in the current flag set",
        )
    if not feature.enabled:
        return _off(feature, Reason.DISABLED, "the flag is disabled in this environment")
    if feature.problem is not None:
        return _off(feature, Reason.INVALID_DEFINITION, f"always off: {feature.problem}")
    for dependency in feature.dependencies:
        if not snapshot.dependency_met(dependency, context):
            return _off(feature, Reason.DEPENDENCY_UNMET, _describe_dependency(dependency))
    if not feature.strategies:
        return _on(
            snapshot,
            feature,
            None,
            context,
            Reason.NO_STRATEGIES,
            "the flag is enabled and has no strategies",
        )
    traces = []
    for index, strategy in enumerate(feature.strategies):
        trace = _trace(index, strategy, context)
        traces.append(trace)
        if trace.matched:
            return _on(
                snapshot,
                feature,
                strategy,
                context,
                Reason.STRATEGY_MATCHED,
                f"strategy #{index + 1} ({strategy.name}) matched: {trace.detail}",
                trace,
                tuple(traces),
            )
    return EvaluationDetail(
        name,
        False,
        disabled_variant(False),
        Reason.NO_STRATEGY_MATCHED,
        "no strategy matched: " + "; ".join(f"#{t.index + 1} {t.name}: {t.detail}" for t in traces),
        None,
        tuple(traces),
        static=feature.constant is not None,
    )


def _off(feature: CompiledFeature, reason: Reason, message: str) -> EvaluationDetail:
    return EvaluationDetail(
        feature.name,
        False,
        disabled_variant(False),
        reason,
        message,
        static=feature.constant is not None,
    )


def _on(
    snapshot: Snapshot,
    feature: CompiledFeature,
    strategy: CompiledStrategy | None,
    context: Context,
    reason: Reason,
    message: str,
    trace: StrategyTrace | None = None,
    traces: tuple[StrategyTrace, ...] = (),
) -> EvaluationDetail:
    variants = (strategy.variants if strategy is not None else None) or feature.variants
    chosen = variants.select(context) if variants is not None else None
    variant = chosen.result() if chosen is not None else disabled_variant(True)
    if chosen is not None:
        message += f"; variant {chosen.name!r}"
    split = chosen is not None and variants is not None and len(variants.variants) > 1
    return EvaluationDetail(
        feature.name,
        True,
        variant,
        reason,
        message,
        trace,
        traces,
        static=feature.constant is not None and not split,
        split=split,
    )


def _describe_dependency(dependency: Dependency) -> str:
    wanted = "enabled" if dependency.enabled else "disabled"
    if dependency.variants:
        wanted += f" with variant in {sorted(dependency.variants)}"
    return f"parent flag {dependency.feature!r} is not {wanted} (or is unknown)"


def _trace(index: int, strategy: CompiledStrategy, context: Context) -> StrategyTrace:
    for constraint in strategy.constraints:
        if not constraint.check(context):
            seen = constraint.read(context)
            why = f" ({constraint.problem})" if constraint.problem else ""
            return StrategyTrace(
                index,
                strategy.name,
                False,
                f"constraint {constraint.describe()} failed for value {seen!r}{why}",
                constraint.describe(),
                seen,
            )
    if strategy.problem is not None:
        return StrategyTrace(index, strategy.name, False, strategy.problem)
    rollout = strategy.rollout
    if rollout is not None:
        bucket = rollout.bucket_of(context)
        if bucket is None:
            return StrategyTrace(
                index,
                strategy.name,
                False,
                f"the context has no {rollout.stickiness} to stick to",
                rollout=rollout.percentage,
            )
        matched = bucket <= rollout.percentage
        relation = "<=" if matched else ">"
        return StrategyTrace(
            index,
            strategy.name,
            matched,
            f"bucket {bucket} {relation} rollout {rollout.percentage}% "
            f"(stickiness {rollout.stickiness}, group {rollout.group_id!r})",
            bucket=bucket,
            rollout=rollout.percentage,
        )
    matched = strategy.rule(context)
    constraints = "constraints hold" if strategy.constraints else "no constraints"
    detail = f"{constraints}, {strategy.name} rule {'passed' if matched else 'did not pass'}"
    if strategy.name == "default":
        detail = f"{constraints}, default strategy"
    return StrategyTrace(index, strategy.name, matched, detail)
