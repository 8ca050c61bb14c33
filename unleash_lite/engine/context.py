"""Reading values out of an evaluation context.

A context is the plain mapping users pass to ``is_enabled`` (the official SDK's shape):
``userId``, ``sessionId``, ``remoteAddress``, ``environment``, ``appName``, ``currentTime``,
``properties`` and, as the official SDK allows, any other top-level field. Rules compile into
getters that read one field straight from that mapping, so evaluating never copies or
normalises the whole context.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

Context = Mapping[str, Any]
Getter = Callable[[Context], str | None]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, as an aware UTC ``datetime``: the default :class:`StaticContext` clock."""
    return datetime.now(UTC)


STANDARD_FIELDS = frozenset(
    {"userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime", "properties"}
)


@dataclass(frozen=True, slots=True)
class StaticContext:
    """Values that hold for every evaluation of one client: its app name, environment, host,
    and the clock that answers ``currentTime`` when a context has none."""

    app_name: str = ""
    environment: str = "default"
    hostname: str = ""
    clock: Clock = utc_now

    def default_for(self, field: str) -> str | None:
        """The static value of a context field, if the client supplies one."""
        if field == "appName":
            return self.app_name or None
        if field == "environment":
            return self.environment or None
        return None

    def merged_with(self, context: Context) -> dict[str, Any]:
        """The full context as a new dict (static values first), for custom strategies."""
        merged: dict[str, Any] = {"appName": self.app_name, "environment": self.environment}
        merged.update(context)
        return merged

    def enriched(self, context: Context) -> dict[str, Any]:
        """The context as the official SDK hands it to a fallback function: the static
        fields, the caller's standard fields, ``currentTime`` (now, ISO 8601, when absent)
        and ``properties`` gathering the caller's ``properties`` and any other top-level
        field."""
        merged = self.merged_with(context)
        if merged.get("currentTime") is None:
            merged["currentTime"] = self.clock().isoformat()
        given = merged.get("properties")
        properties = {key: value for key, value in merged.items() if key not in STANDARD_FIELDS}
        if isinstance(given, Mapping):
            properties.update(given)
        enriched = {key: value for key, value in merged.items() if key in STANDARD_FIELDS}
        enriched["properties"] = properties
        return enriched


def always_true(_context: Context) -> bool:
    """A check that every context passes."""
    return True


def always_false(_context: Context) -> bool:
    """A check that no context passes."""
    return False


def as_text(value: Any) -> str | None:
    """The string form Unleash rules compare against; ``None`` stays ``None``.

    Booleans become ``true``/``false`` and whole floats lose their ``.0``, as in the Unleash
    UI and the JavaScript SDKs; datetimes become ISO 8601; anything else goes through ``str``.
    """
    if type(value) is str or value is None:
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def raw_field(context: Context, field: str) -> Any:
    """A field's raw value: top level first, then ``properties``; ``None`` when absent."""
    value = context.get(field)
    if value is None and field != "properties":
        properties = context.get("properties")
        if isinstance(properties, Mapping):
            value = properties.get(field)
    return value


@functools.lru_cache(maxsize=4096)  # one getter per field and client, shared by every rule
def field_getter(field: str, static: StaticContext) -> Getter:
    """Compile a getter returning a field as text, falling back to the client's static value."""
    return _field_reader(field, static, None, False)  # type: ignore[return-value]


def field_check(
    field: str, static: StaticContext, test: Callable[[str], bool], inverted: bool
) -> Callable[[Context], bool]:
    """Compile ``test`` applied to a field read as :func:`field_getter` reads it, in one
    call: a missing field fails the test, and passes it ``inverted``."""
    return _field_reader(field, static, test, inverted)  # type: ignore[return-value]


def _field_reader(
    field: str, static: StaticContext, test: Callable[[str], bool] | None, inverted: bool
) -> Callable[[Context], str | bool | None]:
    # The one reading of a field: top level first, then ``properties``, then the client's
    # static value; as text. With a test, the test's answer (the hot path of a constraint:
    # one call instead of a getter call inside a check call).
    default = static.default_for(field)

    def read(context: Context) -> str | bool | None:
        value = context.get(field)
        if value is None:
            properties = context.get("properties")
            if type(properties) is dict or isinstance(properties, Mapping):
                value = properties.get(field)
            if value is None:
                value = default
                if value is None:
                    return None if test is None else inverted
        if type(value) is not str:
            value = cast(str, as_text(value))  # not None: value is not
        if test is None:
            return value
        return test(value) is not inverted  # tests answer True or False, never a truthy value

    return read


def random_seed(_context: Context) -> str:
    """A fresh random stickiness seed, for rollouts with nothing to stick to."""
    return str(random.randint(1, 10000))


@functools.lru_cache(maxsize=1024)
def stickiness_getter(
    stickiness: str | None, static: StaticContext, random_when_missing: bool = False
) -> Getter:
    """Compile the seed a rollout or variant hashes on.

    ``default`` (or none) means userId, then sessionId, then (when ``random_when_missing``,
    as flexibleRollout wants) a random seed; ``random`` a random seed; any other value names a
    context field, even ``""`` (as in Yggdrasil). Otherwise a missing seed is ``None`` and the
    caller decides what it means.
    """
    if stickiness in (None, "default"):
        user_id = field_getter("userId", static)
        session_id = field_getter("sessionId", static)

        def user_or_session(context: Context) -> str | None:
            seed = user_id(context)
            if seed is None:
                seed = session_id(context)
                if seed is None and random_when_missing:
                    return random_seed(context)
            return seed

        return user_or_session
    if stickiness == "random":
        return random_seed
    return field_getter(stickiness, static)


def current_time(context: Context, clock: Clock = utc_now) -> Any:
    """The context's ``currentTime`` as given (text or a ``datetime``), top level first, then
    ``properties``; ``clock()`` (an aware ``datetime``) when absent."""
    value = raw_field(context, "currentTime")
    return clock() if value is None else value


@functools.lru_cache(maxsize=64)
def current_time_getter(static: StaticContext) -> Callable[[Context], Any]:
    """:func:`current_time` reading the client's clock."""
    clock = static.clock
    if clock is utc_now:
        return current_time

    def read(context: Context) -> Any:
        return current_time(context, clock)

    return read
