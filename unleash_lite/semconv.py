"""The OpenFeature vocabulary for an evaluation: its reason and error code, in the spelling
of OpenFeature's ``Reason`` and ``ErrorCode`` (``"TARGETING_MATCH"``, ``"FLAG_NOT_FOUND"``).

One mapping for every integration that speaks it: the OpenFeature provider
(:mod:`unleash_lite.openfeature`) and the OpenTelemetry hook
(:mod:`unleash_lite.opentelemetry`, whose semantic conventions take the same values in
lower case). Needs no third-party package.

By the evaluation's :class:`~unleash_lite.Reason` and detail:

- ``unknown_flag``: ``ERROR``, error code ``FLAG_NOT_FOUND``;
- ``overridden`` (``client.override()``) and ``fallback``: ``STATIC``;
- ``disabled`` (off in the environment): ``DISABLED``;
- a variant chosen by hashing among several: ``SPLIT`` (variant reasons only);
- an answer that does not depend on the context: ``STATIC``;
- on because a strategy matched this context: ``TARGETING_MATCH``;
- off for this context (no strategy matched, an unmet dependency, an invalid
  definition): ``DEFAULT``.
"""

from __future__ import annotations

from . import EvaluationDetail, Reason

__all__ = ["boolean_reason", "error_code", "evaluation_reason", "variant_reason"]

# Answers given for every context by a test double, a fallback function or
# client.override(), not by Unleash's rules.
_FIXED = (Reason.OVERRIDDEN, Reason.FALLBACK)


def error_code(detail: EvaluationDetail) -> str | None:
    """``"FLAG_NOT_FOUND"`` for an unknown flag, else ``None`` (evaluation has no other
    errors: a broken definition answers off, as ``is_enabled`` does)."""
    return "FLAG_NOT_FOUND" if detail.reason is Reason.UNKNOWN_FLAG else None


def boolean_reason(detail: EvaluationDetail) -> str:
    """The reason for the flag's on/off answer (``is_enabled``)."""
    if detail.reason is Reason.UNKNOWN_FLAG:
        return "ERROR"
    if detail.reason in _FIXED:
        return "STATIC"
    if detail.reason is Reason.DISABLED:
        return "DISABLED"
    if detail.static:
        return "STATIC"
    return "TARGETING_MATCH" if detail.enabled else "DEFAULT"


def variant_reason(detail: EvaluationDetail) -> str:
    """The reason for the variant of a flag that is on with a variant."""
    if detail.reason in _FIXED:
        return "STATIC"
    if detail.split:
        return "SPLIT"
    return "STATIC" if detail.static else "TARGETING_MATCH"


def evaluation_reason(detail: EvaluationDetail) -> str:
    """The reason for the whole answer: :func:`variant_reason` when a variant was chosen,
    else :func:`boolean_reason`."""
    if detail.enabled and detail.variant.get("enabled"):
        return variant_reason(detail)
    return boolean_reason(detail)
