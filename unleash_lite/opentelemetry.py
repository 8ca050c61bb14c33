"""Flag evaluations as OpenTelemetry span events: a hook for ``hooks=[...]``.

Needs the ``opentelemetry-api`` package (``pip install 'unleash-lite[opentelemetry]'``); the
SDK and exporters are the application's choice::

    from unleash_lite import UnleashClient
    from unleash_lite.opentelemetry import OpenTelemetryHook

    client = UnleashClient(URL, "shop", hooks=[OpenTelemetryHook()])

Each ``is_enabled``, ``get_variant`` and ``evaluate`` made while a span is recording adds a
``feature_flag.evaluation`` event to that span, with the attributes of OpenTelemetry's
semantic conventions for feature flags:

- ``feature_flag.key``: the flag's name;
- ``feature_flag.provider.name``: ``"unleash-lite"``;
- ``feature_flag.result.reason``: how the answer came about, mapped from the evaluation's
  :class:`~unleash_lite.Reason` as the OpenFeature provider maps it
  (:mod:`unleash_lite.semconv`), in lower case: ``unknown_flag`` is ``error``;
  ``disabled`` is ``disabled``; an overridden flag, a fallback function's answer and an
  answer that does not depend on the context are ``static``; on because a strategy
  matched is ``targeting_match``, or ``split`` when a variant was chosen by hashing among
  several; off for this context (no strategy matched, an unmet dependency) is
  ``default``;
- ``feature_flag.result.variant``: the variant's name, when ``get_variant`` or
  ``evaluate`` chose one (``is_enabled`` answers no variant; its reason is the on/off
  one, never ``split``);
- ``feature_flag.result.value``: what ``is_enabled`` answers (a boolean; payloads are
  never recorded: they may hold anything);
- for an unknown flag, ``error.type`` (``flag_not_found``) and ``feature_flag.error.message``;
- ``feature_flag.context.id``: the context's ``userId``, only with
  ``include_context_id=True`` (it identifies a person).

Without a recording span (no tracer provider, or outside any span) the hook records
nothing and costs one ``get_current_span()`` call; the reason is computed only for a span
that records (see ``docs/hooks.md`` for the cost).
"""

from __future__ import annotations

from typing import Any

try:
    from opentelemetry import trace
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "unleash_lite.opentelemetry needs the opentelemetry-api package: "
        "pip install 'unleash-lite[opentelemetry]'"
    ) from error

from .hooks import EvaluationResult, EvaluationSeries, Hook
from .semconv import boolean_reason, error_code, evaluation_reason

__all__ = ["EVENT_NAME", "PROVIDER_NAME", "OpenTelemetryHook"]

EVENT_NAME = "feature_flag.evaluation"
PROVIDER_NAME = "unleash-lite"

# The attribute names of the semantic conventions (the incubating feature_flag namespace,
# and the stable error.type), written out so that no semconv package is needed.
KEY = "feature_flag.key"
PROVIDER = "feature_flag.provider.name"
REASON = "feature_flag.result.reason"
VARIANT = "feature_flag.result.variant"
VALUE = "feature_flag.result.value"
CONTEXT_ID = "feature_flag.context.id"
ERROR_MESSAGE = "feature_flag.error.message"
ERROR_TYPE = "error.type"


class OpenTelemetryHook(Hook):
    """Adds a ``feature_flag.evaluation`` event to the current span for every evaluation
    (see the module's documentation for the attributes).

    ``include_context_id``: also record the context's ``userId`` as
    ``feature_flag.context.id`` (off by default: it identifies a person).
    """

    name = "opentelemetry"

    def __init__(self, *, include_context_id: bool = False) -> None:
        self.include_context_id = include_context_id

    def after_evaluation(
        self, series: EvaluationSeries, data: Any, result: EvaluationResult
    ) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            return
        span.add_event(EVENT_NAME, self.attributes(series, result))

    def attributes(self, series: EvaluationSeries, result: EvaluationResult) -> dict[str, Any]:
        """The event's attributes for one evaluation."""
        detail = result.detail
        on_off = series.method == "is_enabled"  # the caller saw no variant
        attributes: dict[str, Any] = {
            KEY: series.flag_name,
            PROVIDER: PROVIDER_NAME,
            REASON: (boolean_reason(detail) if on_off else evaluation_reason(detail)).lower(),
            VALUE: result.enabled,
        }
        variant = result.variant if result.variant is not None else detail.variant
        if not on_off and result.enabled and variant.get("enabled"):
            attributes[VARIANT] = variant["name"]
        code = error_code(detail)
        if code is not None:
            attributes[ERROR_TYPE] = code.lower()
            attributes[ERROR_MESSAGE] = detail.message
        if self.include_context_id:
            user_id = series.context.get("userId")
            if user_id is not None:
                attributes[CONTEXT_ID] = str(user_id)
        return attributes
