"""An evaluation with its reason: a slower walk over a compiled feature, for
``UnleashClient.evaluate`` and ``explain``.

It reuses the compiled constraints, rollouts, rules, dependency checks and variant choice
of the snapshot, so it reports the same logic the hot path runs, without adding any cost
to ``is_enabled``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .compiler import CompiledFeature, Dependency
from .context import Context
from .reasons import Reason
from .snapshot import Snapshot, disabled_variant
from .strategies import StrategyTrace
from .variants import Variant

__all__ = ["EvaluationDetail", "Explanation", "Reason", "StrategyTrace", "explain"]


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
    variant: Variant
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
    """Evaluate ``name`` for ``context`` and say why it came out as it did: the snapshot's
    decision walk with its strategy traces, put into words."""
    feature = snapshot.features.get(name)
    if feature is None:
        return EvaluationDetail(
            name,
            False,
            disabled_variant(False),
            Reason.UNKNOWN_FLAG,
            "the flag is not defined in the current flag set",
        )
    traces: list[StrategyTrace] = []
    enabled, reason, variants, dependency = snapshot.decide(feature, context, traces)
    static = feature.constant is not None
    deciding = traces[-1] if enabled and traces else None  # the strategy that matched
    if not enabled:
        message = _why_off(feature, reason, dependency, traces)
        return EvaluationDetail(
            name, False, disabled_variant(False), reason, message, None, tuple(traces), static
        )
    message = (
        "the flag is enabled and has no strategies"
        if deciding is None
        else f"strategy #{deciding.index + 1} ({deciding.name}) matched: {deciding.detail}"
    )
    chosen = variants.select(context) if variants is not None else None
    if chosen is None:
        return EvaluationDetail(
            name, True, disabled_variant(True), reason, message, deciding, tuple(traces), static
        )
    split = variants is not None and len(variants.variants) > 1
    return EvaluationDetail(
        name,
        True,
        chosen.result(),
        reason,
        f"{message}; variant {chosen.name!r}",
        deciding,
        tuple(traces),
        static and not split,
        split,
    )


def _why_off(
    feature: CompiledFeature,
    reason: Reason,
    dependency: Dependency | None,
    traces: list[StrategyTrace],
) -> str:
    if reason is Reason.DISABLED:
        return "the flag is disabled in this environment"
    if reason is Reason.INVALID_DEFINITION:
        return f"always off: {feature.problem}"
    if dependency is not None:
        wanted = "enabled" if dependency.enabled else "disabled"
        if dependency.variants:
            wanted += f" with variant in {sorted(dependency.variants)}"
        return f"parent flag {dependency.feature!r} is not {wanted} (or is unknown)"
    return "no strategy matched: " + "; ".join(
        f"#{t.index + 1} {t.name}: {t.detail}" for t in traces
    )
