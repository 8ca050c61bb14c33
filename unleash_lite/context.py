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
