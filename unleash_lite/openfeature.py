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
impression events as usual. The client may be an :class:`~unleash_lite.AsyncUnleashClient`
(started by the application): evaluation is in memory, so the ``*_async`` resolutions
answer at once without blocking the loop. ``track()`` records impact metrics; a refresh
that changed flags emits ``PROVIDER_CONFIGURATION_CHANGED``, a lost server
``PROVIDER_STALE``. See ``docs/openfeature.md`` for the type, reason, error, context,
tracking and event mappings.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEvent, ProviderEventDetails
    from openfeature.exception import ErrorCode, ProviderNotReadyError
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.hook import Hook
    from openfeature.provider import AbstractProvider
    from openfeature.provider.metadata import Metadata
    from openfeature.track import TrackingEventDetails
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "unleash_lite.openfeature needs the openfeature-sdk package: "
        "pip install 'unleash-lite[openfeature]'"
    ) from error

from . import BaseEvent, MetricFlagContext, Snapshot, UnleashEventType
from . import Reason as UnleashReason
from .client import UnleashClient
from .context import context_text
from .semconv import boolean_reason, variant_reason

__all__ = ["FLAGS_ATTRIBUTE", "PROVIDER_NAME", "UnleashProvider", "to_unleash_context"]

LOGGER = logging.getLogger("unleash_lite")

PROVIDER_NAME = "unleash-lite"
# Evaluation-context attributes that are standard Unleash context fields (the rest become
# properties); ``targeting_key`` is ``userId``.
TOP_LEVEL_FIELDS = frozenset(
    {"userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime"}
)

# The tracking-event attribute naming the flags whose answers label an impact metric.
FLAGS_ATTRIBUTE = "flags"

T = TypeVar("T")
if TYPE_CHECKING:  # FlagValueType is new in openfeature-sdk 0.8.4
    from openfeature.flag_evaluation import FlagValueType

    from .async_client import AsyncUnleashClient  # which needs aiohttp

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

    An :class:`~unleash_lite.AsyncUnleashClient` is never started or destroyed by the
    provider (its ``initialize_client()`` is a coroutine of the application's loop): start
    it first, as the application's lifespan does.

    When the client's flags change (a refresh, a stream update, ``apply_payload``), the
    provider emits ``PROVIDER_CONFIGURATION_CHANGED`` naming the flags whose definitions
    changed (added and removed ones included). When the client's ``fetch_status`` leaves
    "ok" it emits ``PROVIDER_STALE`` (server unavailable, or no usable flags in its answer)
    or ``PROVIDER_ERROR`` (token or URL rejected), and ``PROVIDER_READY`` when it is back.
    Each is noticed at the first evaluation after it, or, for new flags and recoveries, at
    once when the client's ``event_callback`` hands its events to :meth:`on_unleash_event`.
    """

    def __init__(
        self, client: UnleashClient | AsyncUnleashClient, hooks: Sequence[Hook] = ()
    ) -> None:
        super().__init__()
        self.client = client
        self._hooks = list(hooks)
        self._started_client = False
        self._waiting_for_flags = False
        self._flags_lock = threading.Lock()
        # The flags last announced; None until initialize (changes before READY are not
        # announced: the client's first flags may arrive while it starts).
        self._seen: Snapshot | None = None
        self._server_event: ProviderEvent | None = None  # STALE or ERROR last announced

    def __repr__(self) -> str:
        return f"UnleashProvider({self.client!r})"

    # -- lifecycle ------------------------------------------------------------------------

    def get_metadata(self) -> Metadata:
        return Metadata(name=PROVIDER_NAME)

    def get_provider_hooks(self) -> list[Hook]:
        return list(self._hooks)

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        client = self.client
        if isinstance(client, UnleashClient) and not client.is_initialized:
            client.initialize_client()
            self._started_client = True
        with self._flags_lock:  # one step, against an event thread's _notice_flags
            ready = client.is_ready()
            self._waiting_for_flags = not ready
            self._seen = client.snapshot  # READY covers the flags the client holds now
            self._server_event = None  # and the server's state is announced from now on
        if not ready:
            raise ProviderNotReadyError(
                "the Unleash client has no flags yet: the server did not answer and there "
                "is no cached copy or bootstrap"
            )

    def shutdown(self) -> None:
        self._seen = None
        if self._started_client and isinstance(self.client, UnleashClient):
            self._started_client = False
            self.client.destroy()

    def on_unleash_event(self, event: BaseEvent) -> None:
        """Pass the client's events here (``event_callback``) to announce flag changes as
        they arrive, not at the next evaluation::

            def unleash_events(event):
                provider.on_unleash_event(event)

            client = UnleashClient(..., event_callback=unleash_events)
            provider = UnleashProvider(client)
        """
        if event.event_type in (UnleashEventType.FETCHED, UnleashEventType.READY):
            self._notice()

    # -- tracking -------------------------------------------------------------------------

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        """Record a tracking event in the client's impact metrics: without a value, add 1 to
        the counter named ``tracking_event_name``; with a value, observe it in the
        histogram of that name. Define the metric first
        (``client.impact_metrics.define_counter(...)``); an undefined name is logged once
        and dropped. A ``flags`` attribute (a list of flag names, or one name) labels the
        recording with those flags' answers for the evaluation context."""
        try:
            value = None if tracking_event_details is None else tracking_event_details.value
            labels = _flag_context(evaluation_context, tracking_event_details)
            metrics = self.client.impact_metrics
            if value is None:
                metrics.increment_counter(tracking_event_name, flag_context=labels)
            else:
                metrics.observe_histogram(tracking_event_name, value, flag_context=labels)
        except Exception:  # tracking must never break the caller
            LOGGER.debug("track(%r) failed", tracking_event_name, exc_info=True)

    # -- evaluation -----------------------------------------------------------------------

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        self._notice()
        detail = self.client.evaluate(flag_key, to_unleash_context(evaluation_context))
        if detail.reason is UnleashReason.UNKNOWN_FLAG:
            return _not_found(flag_key, default_value)
        return FlagResolutionDetails(detail.enabled, reason=Reason(boolean_reason(detail)))

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
        self._notice()
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
        return FlagResolutionDetails(value, reason=Reason(variant_reason(detail)), variant=name)

    def _notice(self) -> None:
        """What changed since the last evaluation or client event: readiness, the flags,
        the server's state."""
        self._notice_flags()
        self._notice_server()

    def _notice_flags(self) -> None:
        """After a failed initialize, announce readiness once the client holds flags; after
        that, announce each change of the client's flags once."""
        if self._waiting_for_flags and self.client.is_ready():
            with self._flags_lock:
                ready, self._waiting_for_flags = self._waiting_for_flags, False
                self._seen = self.client.snapshot
                self._server_event = None
            if ready:
                self.emit_provider_ready(
                    ProviderEventDetails(message="the Unleash client has flags")
                )
            return
        seen = self._seen
        if seen is None or self.client.snapshot is seen:  # the common case: one check
            return
        with self._flags_lock:
            before, after = self._seen, self.client.snapshot
            self._seen = after
        if before is None or before is after or self._waiting_for_flags:
            return
        changed = _changed_flags(before, after)
        if changed:
            self.emit_provider_configuration_changed(
                ProviderEventDetails(
                    flags_changed=changed, message="the Unleash client's flags changed"
                )
            )

    def _notice_server(self) -> None:
        """Announce each change of the client's ``fetch_status`` once: ``PROVIDER_STALE``
        while the server is unavailable or answers no usable flags, ``PROVIDER_ERROR``
        while it rejects the token or the URL, ``PROVIDER_READY`` when it answers again
        (the client answers from its last flags throughout)."""
        status = self.client.fetch_status
        event = _SERVER_EVENTS.get(status.state)
        if event is self._server_event:  # the common case: nothing new
            return
        with self._flags_lock:
            if self._seen is None or self._waiting_for_flags:
                return  # not READY yet: initialize's outcome speaks for the provider
            previous, self._server_event = self._server_event, event
        if previous is event:
            return
        if event is None:
            self.emit_provider_ready(
                ProviderEventDetails(message="the Unleash server answers again")
            )
        elif event is ProviderEvent.PROVIDER_ERROR:
            self.emit_provider_error(
                ProviderEventDetails(message=status.problem, error_code=ErrorCode.GENERAL)
            )
        else:
            self.emit_provider_stale(ProviderEventDetails(message=status.problem))


# The provider event for each fetch_status state other than "ok" (the client keeps
# answering from its last flags in each).
_SERVER_EVENTS = {
    "unavailable": ProviderEvent.PROVIDER_STALE,
    "invalid": ProviderEvent.PROVIDER_STALE,
    "rejected": ProviderEvent.PROVIDER_ERROR,
}


def _changed_flags(before: Snapshot, after: Snapshot) -> list[str]:
    """The names of the flags added, removed or changed from ``before`` to ``after``
    (sorted), a change of a segment counting for the flags that use it."""
    old, new = before.state.features, after.state.features
    changed = {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}
    old_segments, new_segments = before.state.segments, after.state.segments
    segments = {
        key
        for key in old_segments.keys() | new_segments.keys()
        if old_segments.get(key) != new_segments.get(key)
    }
    if segments:
        changed.update(name for name, flag in new.items() if _segments_of(flag) & segments)
    return sorted(changed)


def _segments_of(flag: Mapping[str, Any]) -> set[Any]:
    used: set[Any] = set()
    for strategy in flag.get("strategies") or ():
        if isinstance(strategy, Mapping):
            used.update(strategy.get("segments") or ())
    return used


def _flag_context(
    evaluation_context: EvaluationContext | None, details: TrackingEventDetails | None
) -> MetricFlagContext | None:
    """The flags a tracking event names (its ``flags`` attribute) with the evaluation
    context, for labelling an impact metric; ``None`` when it names none."""
    names: Any = None if details is None else details.attributes.get(FLAGS_ATTRIBUTE)
    if isinstance(names, str):
        names = [names]
    if not names or not isinstance(names, Sequence):
        return None
    return MetricFlagContext([str(name) for name in names], to_unleash_context(evaluation_context))


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
