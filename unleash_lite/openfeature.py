"""An OpenFeature provider backed by an :class:`~unleash_lite.UnleashClient`.

Needs the ``openfeature-sdk`` package (``pip install 'unleash-lite[openfeature]'``)::

    from openfeature import api
    from unleash_lite import UnleashClient
    from unleash_lite.openfeature import UnleashProvider

    api.set_provider(UnleashProvider(UnleashClient(url=..., app_name="my-app")))
    flags = api.get_client()
    flags.get_boolean_value("new-checkout", False, EvaluationContext("42"))

Every resolution is one ``client.evaluate()``: boolean flags take its ``enabled``; string,
integer, float and object flags the payload of its ``variant``. Value and reason come from
the same evaluation (and honour ``client.override()``), are counted in metrics and raise
impression events as usual. See ``docs/openfeature.md`` for the type, reason, error and
context mappings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEventDetails
    from openfeature.exception import ErrorCode, ProviderNotReadyError
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.hook import Hook
    from openfeature.provider import AbstractProvider
    from openfeature.provider.metadata import Metadata
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "unleash_lite.openfeature needs the openfeature-sdk package: "
        "pip install 'unleash-lite[openfeature]'"
    ) from error

from . import EvaluationDetail
from . import Reason as UnleashReason
from .client import UnleashClient
from .context import context_text

__all__ = ["PROVIDER_NAME", "UnleashProvider", "to_unleash_context"]

PROVIDER_NAME = "unleash-lite"
# Evaluation-context attributes that are standard Unleash context fields (the rest become
# properties); ``targeting_key`` is ``userId``.
TOP_LEVEL_FIELDS = frozenset(
    {"userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime"}
)

T = TypeVar("T")
if TYPE_CHECKING:  # FlagValueType is new in openfeature-sdk 0.8.4
    from openfeature.flag_evaluation import FlagValueType

    ObjectValue = Sequence[FlagValueType] | Mapping[str, FlagValueType]


class UnleashProvider(AbstractProvider):
    """OpenFeature provider answering from an :class:`~unleash_lite.UnleashClient` (or a
    :class:`~unleash_lite.testing.FakeUnleash`).

    ``initialize`` starts the client (``initialize_client()``) unless it was started already;
    ``shutdown`` destroys it only if ``initialize`` started it. When the client has no flags
    after starting (server unreachable, no cache, no bootstrap), ``initialize`` fails with
    ``PROVIDER_NOT_READY``, which puts the provider in the ERROR state; evaluations still
    answer (the default value, ``FLAG_NOT_FOUND``), and the provider emits
    ``PROVIDER_READY`` on the first evaluation after flags arrive.
    """

    def __init__(self, client: UnleashClient, hooks: Sequence[Hook] = ()) -> None:
        super().__init__()
        self.client = client
        self._hooks = list(hooks)
        self._started_client = False
        self._waiting_for_flags = False

    def __repr__(self) -> str:
        return f"UnleashProvider({self.client!r})"

    # -- lifecycle ------------------------------------------------------------------------

    def get_metadata(self) -> Metadata:
        return Metadata(name=PROVIDER_NAME)

    def get_provider_hooks(self) -> list[Hook]:
        return list(self._hooks)

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        if not self.client.is_initialized:
            self.client.initialize_client()
            self._started_client = True
        if not self.client.is_ready():
            self._waiting_for_flags = True
            raise ProviderNotReadyError(
                "the Unleash client has no flags yet: the server did not answer and there "
                "is no cached copy or bootstrap"
            )

    def shutdown(self) -> None:
        if self._started_client:
            self._started_client = False
            self.client.destroy()

    # -- evaluation -----------------------------------------------------------------------

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        self._notice_flags()
        detail = self.client.evaluate(flag_key, to_unleash_context(evaluation_context))
        if detail.reason is UnleashReason.UNKNOWN_FLAG:
            return _not_found(flag_key, default_value)
        return FlagResolutionDetails(detail.enabled, reason=_boolean_reason(detail))

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return self._resolve_payload(flag_key, default_value, evaluation_context, _string)

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return self._resolve_payload(flag_key, default_value, evaluation_context, _integer)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve_payload(flag_key, default_value, evaluation_context, _float)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: ObjectValue,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[ObjectValue]:
        return self._resolve_payload(flag_key, default_value, evaluation_context, _object)

    def _resolve_payload(
        self,
        flag_key: str,
        default_value: T,
        evaluation_context: EvaluationContext | None,
        convert: Callable[[str, str], T],
    ) -> FlagResolutionDetails[T]:
        self._notice_flags()
        detail = self.client.evaluate(flag_key, to_unleash_context(evaluation_context))
        if detail.reason is UnleashReason.UNKNOWN_FLAG:
            return _not_found(flag_key, default_value)
        variant = detail.variant
        if not detail.enabled:
            disabled = detail.reason is UnleashReason.DISABLED
            return FlagResolutionDetails(
                default_value, reason=Reason.DISABLED if disabled else Reason.DEFAULT
            )
        name = variant.get("name") if variant.get("enabled") else None
        payload = variant.get("payload")
        if name is None or not isinstance(payload, Mapping):
            # On, but without a variant or without a payload: nothing to take a value from.
            return FlagResolutionDetails(default_value, reason=Reason.DEFAULT, variant=name)
        kind = str(payload.get("type"))
        try:
            value = convert(kind, _payload_text(payload.get("value")))
        except _PayloadError as error:
            return FlagResolutionDetails(
                default_value,
                error_code=error.code,
                error_message=f"flag {flag_key!r}, variant {name!r}: {error}",
                reason=Reason.ERROR,
                variant=name,
            )
        return FlagResolutionDetails(value, reason=_variant_reason(detail), variant=name)

    def _notice_flags(self) -> None:
        """After a failed initialize, announce readiness once the client holds flags."""
        if self._waiting_for_flags and self.client.is_ready():
            self._waiting_for_flags = False
            self.emit_provider_ready(ProviderEventDetails(message="the Unleash client has flags"))


def to_unleash_context(evaluation_context: EvaluationContext | None) -> dict[str, Any]:
    """The Unleash context for an OpenFeature evaluation context.

    ``targeting_key`` becomes ``userId``; the attributes ``userId``, ``sessionId``,
    ``remoteAddress``, ``environment``, ``appName`` and ``currentTime`` stay at the top
    level; a ``properties`` mapping is merged into the properties, and every other attribute
    becomes a property. Values become text as Unleash compares them: ``True`` is ``"true"``,
    whole floats lose their ``.0``, datetimes are ISO 8601, lists are comma-separated and
    mappings are JSON. ``None`` values are left out.
    """
    if evaluation_context is None:
        return {}
    context: dict[str, Any] = {}
    properties: dict[str, str] = {}
    for key, value in evaluation_context.attributes.items():
        if value is None:
            continue
        if key in TOP_LEVEL_FIELDS:
            context[key] = _text(value)
        elif key == "properties" and isinstance(value, Mapping):
            properties.update((str(k), _text(v)) for k, v in value.items() if v is not None)
        else:
            properties[key] = _text(value)
    if evaluation_context.targeting_key:
        context["userId"] = evaluation_context.targeting_key
    if properties:
        context["properties"] = properties
    return context


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, (list, tuple)):
        return ",".join(_text(item) for item in value)
    return context_text(value) or ""


def _not_found(flag_key: str, default_value: T) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(
        default_value,
        error_code=ErrorCode.FLAG_NOT_FOUND,
        error_message=f"flag {flag_key!r} is not defined in Unleash",
        reason=Reason.ERROR,
    )


# Answers given for every context by a test double or client.override(), not by Unleash.
_FIXED = (UnleashReason.OVERRIDDEN, UnleashReason.FALLBACK)


def _boolean_reason(detail: EvaluationDetail) -> Reason:
    if detail.reason in _FIXED:
        return Reason.STATIC
    if detail.reason is UnleashReason.DISABLED:
        return Reason.DISABLED
    if detail.static:
        return Reason.STATIC
    return Reason.TARGETING_MATCH if detail.enabled else Reason.DEFAULT


def _variant_reason(detail: EvaluationDetail) -> Reason:
    if detail.reason in _FIXED:
        return Reason.STATIC
    if detail.split:
        return Reason.SPLIT
    return Reason.STATIC if detail.static else Reason.TARGETING_MATCH


class _PayloadError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _mismatch(kind: str, wanted: str) -> _PayloadError:
    return _PayloadError(ErrorCode.TYPE_MISMATCH, f"a {kind!r} payload is not {wanted}")


def _payload_text(value: object) -> str:
    """The payload value as text (Unleash sends text; hand-written bootstraps may not)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        raise _PayloadError(ErrorCode.PARSE_ERROR, "the payload value is not JSON") from None


def _string(kind: str, text: str) -> str:
    if kind in ("string", "csv"):
        return text
    raise _mismatch(kind, "a string")


def _number(kind: str, text: str, wanted: str) -> int | float:
    if kind != "number":
        raise _mismatch(kind, wanted)
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise _PayloadError(ErrorCode.PARSE_ERROR, f"{text!r} is not a number") from None


def _integer(kind: str, text: str) -> int:
    number = _number(kind, text, "an integer")
    if isinstance(number, int):
        return number
    if number.is_integer():
        return int(number)
    raise _PayloadError(ErrorCode.TYPE_MISMATCH, f"{text!r} is not a whole number")


def _float(kind: str, text: str) -> float:
    return float(_number(kind, text, "a float"))


def _object(kind: str, text: str) -> ObjectValue:
    if kind == "csv":
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind != "json":
        raise _mismatch(kind, "an object")
    try:
        value = json.loads(text)
    except ValueError:
        raise _PayloadError(ErrorCode.PARSE_ERROR, "the payload is not valid JSON") from None
    if not isinstance(value, (dict, list)):
        raise _PayloadError(
            ErrorCode.TYPE_MISMATCH, f"the JSON payload holds a {type(value).__name__}"
        )
    return value
