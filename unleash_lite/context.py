"""A typed way to build evaluation contexts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


class Context(dict[str, Any]):
    """An evaluation context with typed, snake_case arguments.

    It *is* the plain dict the official SDK takes (``userId``, ``sessionId``, ``properties``,
    ...), so it costs nothing extra to evaluate and works anywhere a dict context does::

        Context(user_id="42", properties={"plan": "pro"})
        == {"userId": "42", "properties": {"plan": "pro"}}

    Keyword arguments beyond the standard fields become properties.
    """

    def __init__(
        self,
        user_id: str | None = None,
        session_id: str | None = None,
        remote_address: str | None = None,
        environment: str | None = None,
        app_name: str | None = None,
        current_time: datetime | str | None = None,
        properties: Mapping[str, Any] | None = None,
        **extra_properties: Any,
    ) -> None:
        super().__init__()
        fields = {
            "userId": user_id,
            "sessionId": session_id,
            "remoteAddress": remote_address,
            "environment": environment,
            "appName": app_name,
            "currentTime": current_time,
        }
        self.update((key, value) for key, value in fields.items() if value is not None)
        merged = {**(properties or {}), **extra_properties}
        if merged:
            self["properties"] = merged


# The functions import the engine on first call, so importing this module stays light.


def context_text(value: Any) -> str | None:
    """How Unleash reads a context value as text, the form constraints compare: booleans
    become ``true``/``false``, whole floats lose their ``.0``, dates become ISO 8601, anything
    else goes through ``str``; ``None`` (no value) stays ``None``."""
    from .engine.context import as_text

    return as_text(value)


def is_context_time(value: Any) -> bool:
    """Whether Unleash reads ``value`` as a moment (for ``currentTime`` and the DATE_*
    operators): a ``datetime`` (naive means UTC), or RFC 3339 text with an offset such as
    ``2024-06-01T12:00:00Z``."""
    from .engine.dates import instant_of

    return instant_of(value) is not None
