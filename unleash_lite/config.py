"""Client configuration: every keyword the official ``UnleashClient`` accepts, plus ours."""

from __future__ import annotations

import dataclasses
import re
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

DEFAULT_REFRESH_INTERVAL = 15
DEFAULT_METRICS_INTERVAL = 60
DEFAULT_REQUEST_TIMEOUT = 30
DEFAULT_REQUEST_RETRIES = 3
# Larger flag payloads (from the server or the disk cache) are refused; the last good flags stay.
DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
MASK = "***"

# Everything after the scheme up to the last "@": the user name and password. A pattern
# rather than urlsplit, so that URLs urlsplit misreads or refuses are masked too: no scheme
# ("user:pw@host/api"), a bad host ("http://u:pw@[::1/api"), an unencoded "/", "?" or "#" in
# the password. A URL with "@" only in its path or query is masked too much, never too little.
_USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?.*@", re.DOTALL)


class InstanceAllowType(Enum):
    """What to do when several clients share one configuration (official SDK option)."""

    BLOCK = 1
    WARN = 2
    SILENTLY_ALLOW = 3


def default_instance_id() -> str:
    """A readable instance id unique to this process: host name plus a random suffix."""
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def redact_url(url: str) -> str:
    """``url`` safe to log or show: a user name and password, every query value and a
    fragment are replaced by ``***`` (``https://***@host/api?token=***``)."""
    shown = _USERINFO.sub(lambda match: f"{match.group(1) or ''}{MASK}@", url, count=1)
    shown, hash_sign, _fragment = shown.partition("#")
    shown, question_mark, query = shown.partition("?")
    if question_mark:
        items = (
            name + "=" + MASK if equals else MASK
            for name, equals, _ in (item.partition("=") for item in query.split("&"))
        )
        shown += "?" + "&".join(items)
    return shown + (f"#{MASK}" if hash_sign else "")


@dataclass(frozen=True)
class ClientConfig:
    """Validated settings of one client (see ``docs/compatibility.md`` for each keyword)."""

    url: str
    app_name: str
    environment: str = "default"
    instance_id: str = field(default_factory=default_instance_id)
    refresh_interval: float = DEFAULT_REFRESH_INTERVAL
    refresh_jitter: float | None = None
    metrics_interval: float = DEFAULT_METRICS_INTERVAL
    metrics_jitter: float | None = None
    disable_metrics: bool = False
    disable_registration: bool = False
    custom_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    custom_options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    request_retries: int = DEFAULT_REQUEST_RETRIES
    cache_directory: str | None = None
    project_name: str | None = None
    verbose_log_level: int = 30
    event_callback: Callable[[Any], None] | None = None
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES

    def __post_init__(self) -> None:
        if not isinstance(self.app_name, str) or not self.app_name:
            raise ValueError("app_name must be a non-empty string")
        if not isinstance(self.url, str):
            raise ValueError("url must be a string (use '' to run offline from a bootstrap)")
        for name in ("refresh_interval", "metrics_interval", "request_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if not self.max_payload_bytes > 0:
            raise ValueError("max_payload_bytes must be a positive number of bytes")

    def __repr__(self) -> str:
        shown = (
            f"{item.name}={self.display_url if item.name == 'url' else getattr(self, item.name)!r}"
            for item in dataclasses.fields(self)
            if item.repr
        )
        return f"ClientConfig({', '.join(shown)})"

    @property
    def api_url(self) -> str:
        """The server's API base URL without a trailing slash."""
        return self.url.rstrip("/")

    @property
    def display_url(self) -> str:
        """``url`` for logs, messages and ``repr()``: credentials masked (see
        :func:`redact_url`)."""
        return redact_url(self.url)

    @property
    def offline(self) -> bool:
        """True when no server URL was given: flags come only from a bootstrap or cache."""
        return not self.url

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header's value (any case of the name), ``""`` without one.
        A secret: digest it, never show it."""
        for name, value in self.custom_headers.items():
            if isinstance(name, str) and name.lower() == "authorization":
                return str(value)
        return ""
