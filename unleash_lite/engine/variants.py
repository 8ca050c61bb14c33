"""Variant selection: overrides, stickiness and cumulative weights, resolved at compile time."""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .context import Context, Getter, StaticContext, field_getter, stickiness_getter
from .hashing import VARIANT_SEED, bucket_function


@dataclass(frozen=True, slots=True)
class Variant:
    """One variant as configured in Unleash."""

    name: str
    weight: int
    payload: Mapping[str, Any] | None

    def result(self) -> dict[str, Any]:
        """The official SDK's variant dict for this variant (a fresh copy every call)."""
        if self.payload is None:
            return {"name": self.name, "enabled": True, "feature_enabled": True}
        return {
            "name": self.name,
            "payload": dict(self.payload),
            "enabled": True,
            "feature_enabled": True,
        }


class VariantSet:
    """Variants of a feature or a strategy, ready to pick one for a context."""

    __slots__ = (
        "_bucket",
        "_cumulative",
        "_overrides",
        "_seed",
        "group_id",
        "stickiness",
        "total_weight",
        "variants",
    )

    def __init__(
        self,
        variants: Sequence[Variant],
        group_id: str,
        stickiness: str | None,
        overrides: Sequence[tuple[Getter, frozenset[str], Variant]],
        static: StaticContext,
    ) -> None:
        self.variants = tuple(variants)
        self.group_id = group_id
        self.stickiness = "default" if stickiness is None else stickiness
        cumulative, total = [], 0
        for variant in self.variants:
            total += variant.weight
            cumulative.append(total)
        self._cumulative = cumulative
        self.total_weight = total
        self._overrides = tuple(overrides)
        self._seed = stickiness_getter(stickiness, static)
        self._bucket = bucket_function(group_id, max(total, 1), VARIANT_SEED)

    def select(self, context: Context) -> Variant | None:
        """The variant for this context, or ``None`` when the weights add up to nothing."""
        for read, values, variant in self._overrides:
            if read(context) in values:
                return variant
        if self.total_weight <= 0:
            return None
        seed = self._seed(context)
        target = random.randint(1, self.total_weight) if seed is None else self._bucket(seed)
        return self.variants[bisect_left(self._cumulative, target)]


def compile_variants(
    raw_variants: Any, group_id: str, stickiness: str | None, static: StaticContext
) -> VariantSet | None:
    """Compile a payload's variant list; ``None`` when there are no usable variants.

    ``stickiness`` is the strategy's (strategy variants); feature variants pass ``None`` and
    use the first variant's, as the reference engine does.
    """
    if not isinstance(raw_variants, list):
        return None
    variants: list[Variant] = []
    overrides: list[tuple[Getter, frozenset[str], Variant]] = []
    for raw in raw_variants:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
            continue
        payload = raw.get("payload")
        variant = Variant(
            raw["name"],
            _weight(raw.get("weight")),
            payload if isinstance(payload, Mapping) else None,
        )
        variants.append(variant)
        for override in raw.get("overrides") or ():
            if isinstance(override, Mapping) and override.get("contextName"):
                wanted = frozenset(str(v) for v in override.get("values") or () if v is not None)
                overrides.append(
                    (field_getter(str(override["contextName"]), static), wanted, variant)
                )
    if not variants:
        return None
    if stickiness is None:
        first = raw_variants[0]
        stickiness = first.get("stickiness") if isinstance(first, Mapping) else None
    return VariantSet(variants, group_id, stickiness, overrides, static)


def _weight(value: Any) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite weight
        return 0
