"""Variant selection: overrides, stickiness and cumulative weights, resolved at compile time."""

from __future__ import annotations

import json
import random
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, NotRequired, TypedDict

from .constraints import as_number
from .context import Context, Getter, StaticContext, field_getter, stickiness_getter
from .hashing import VARIANT_SEED, bucket_function
from .problems import FLAG_UNCOMPILABLE, DefinitionError, Problems, is_object, kind, quote, strings


class Variant(TypedDict):
    """What ``get_variant`` answers, the official SDK's variant dict: the variant's ``name``
    (``"disabled"`` when none applies), whether one was chosen (``enabled``), whether the
    flag is on for the context (``feature_enabled``), and the variant's ``payload``
    (``{"type": ..., "value": ...}`` as configured in Unleash) when it has one."""

    name: str
    enabled: bool
    feature_enabled: bool
    payload: NotRequired[dict[str, Any]]


class ConfiguredVariant(NamedTuple):
    """One variant as configured in Unleash."""

    name: str
    weight: int
    payload: Mapping[str, Any] | None

    def result(self) -> Variant:
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
        variants: Sequence[ConfiguredVariant],
        group_id: str,
        stickiness: str | None,
        overrides: Sequence[tuple[Getter, frozenset[str], ConfiguredVariant]],
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

    def select(self, context: Context) -> ConfiguredVariant | None:
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
    raw_variants: Any,
    group_id: str,
    stickiness: str | None,
    static: StaticContext,
    problems: Problems | None = None,
) -> VariantSet | None:
    """Compile a payload's variant list; ``None`` when there are no usable variants.

    ``stickiness`` is the strategy's (strategy variants); feature variants pass ``None`` and
    use the first variant's, as the reference engine does. What is read otherwise than
    written is reported to ``problems``; overrides that cannot be read at all raise
    :class:`~unleash_lite.engine.problems.DefinitionError` (the flag does not compile).
    """
    problems = Problems(warns=False) if problems is None else problems
    if raw_variants is None:
        return None
    if not isinstance(raw_variants, list):
        problems.warning(f"expected a list, got {kind(raw_variants)}; ignored")
        return None
    variants: list[ConfiguredVariant] = []
    overrides: list[tuple[Getter, frozenset[str], ConfiguredVariant]] = []
    for position, raw in enumerate(raw_variants):
        at = problems.at(position)
        if not is_object(raw):
            at.warning(f"expected a variant object, got {kind(raw)}; ignored")
            continue
        if not isinstance(raw.get("name"), str):
            at.warning(f"expected a name, got {quote(raw.get('name'))}; ignored", "name")
            continue
        variant = ConfiguredVariant(raw["name"], _weight(raw.get("weight"), at), _payload(raw, at))
        variants.append(variant)
        if raw.get("overrides"):
            for read, wanted in _overrides(raw["overrides"], static, at.at("overrides")):
                overrides.append((read, wanted, variant))
        if stickiness is None and problems.warns:
            _check_stickiness(raw_variants, position, at)
    if problems.warns and len({variant.name for variant in variants}) < len(variants):
        for name, count in Counter(variant.name for variant in variants).items():
            if count > 1:
                problems.warning(f"variant {quote(name)} is defined {count} times")
    if not variants:
        return None
    variant_set_stickiness = stickiness
    if stickiness is None:
        first = raw_variants[0]
        variant_set_stickiness = first.get("stickiness") if is_object(first) else None
    compiled = VariantSet(variants, group_id, variant_set_stickiness, overrides, static)
    if compiled.total_weight <= 0:
        problems.warning(
            "the weights add up to 0, so no variant is picked by weight (only overrides)"
        )
    return compiled


def _weight(value: Any, problems: Problems) -> int:
    if type(value) is int and value >= 0:
        return value  # the usual weight: nothing to report, no need to compare its text
    try:
        weight = max(int(value), 0)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite weight
        shown = "missing" if value is None else f"{quote(value)} is not a whole number"
        problems.warning(f"{shown}; read as 0", "weight")
        return 0
    face = as_number(str(value)) if not isinstance(value, bool) else None
    if face != weight:
        problems.warning(f"{quote(value)} is read as {weight}", "weight")
    return weight


def _payload(raw: Mapping[str, Any], problems: Problems) -> Mapping[str, Any] | None:
    payload = raw.get("payload")
    if payload is None:
        return None
    at = problems.at("payload")
    if not is_object(payload):
        at.warning(f"expected an object, got {kind(payload)}; ignored")
        return None
    if not problems.warns:
        return payload
    kind_, value = payload.get("type"), payload.get("value")
    if not isinstance(kind_, str) or "value" not in payload:
        at.warning('expected {"type": ..., "value": ...}')
    elif kind_ == "json" and not _is_json(value):
        at.warning("a json payload that is not valid JSON text", "value")
    elif kind_ == "number" and as_number(str(value)) is None:
        at.warning(f"{quote(value)} is not a number", "value")
    return payload


def _is_json(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _overrides(
    raw_overrides: Any, static: StaticContext, problems: Problems
) -> list[tuple[Getter, frozenset[str]]]:
    if not raw_overrides:
        return []
    _iterable(raw_overrides, problems, "ignored")
    if not isinstance(raw_overrides, list):
        return []  # a string's characters or an object's keys: none is an override
    found = []
    for position, override in enumerate(raw_overrides):
        if not is_object(override) or not override.get("contextName"):
            problems.warning("expected an object with a contextName; ignored", position)
            continue
        values = override.get("values")
        at = problems.at(position, "values")
        if not values:
            at.warning("no values; the override never applies")
            continue
        _iterable(
            values,
            at,
            f"its {'characters' if isinstance(values, str) else 'keys'} are read as the values",
        )
        if isinstance(values, list):
            strings(values, at)
        wanted = frozenset(str(v) for v in values if v is not None)
        found.append((field_getter(str(override["contextName"]), static), wanted))
    return found


def _iterable(value: Any, problems: Problems, reading: str) -> None:
    """Report a field that should be a list: a string or an object is read as ``reading``
    says; anything else cannot be read, and the flag does not compile."""
    if isinstance(value, list):
        return
    if isinstance(value, (str, Mapping)):
        problems.warning(f"expected a list, got {kind(value)}; {reading}")
        return
    message = f"expected a list, got {kind(value)}"
    problems.error(message, FLAG_UNCOMPILABLE)
    raise DefinitionError(f"{problems.path}: {message}")


def _check_stickiness(raw_variants: list[Any], position: int, problems: Problems) -> None:
    """Feature variants all use the first variant's stickiness: warn where one differs."""
    stickiness = raw_variants[position].get("stickiness")
    if stickiness is None:
        return
    if not isinstance(stickiness, str):
        problems.warning(f"expected a string, got {kind(stickiness)}", "stickiness")
        return
    first = raw_variants[0]
    first_stickiness = first.get("stickiness") if is_object(first) else None
    if position > 0 and stickiness != first_stickiness:
        problems.warning(
            f"{quote(stickiness)} differs from the first variant's {quote(first_stickiness)}, "
            "which is the one used",
            "stickiness",
        )
