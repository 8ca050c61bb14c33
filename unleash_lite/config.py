"""Client configuration: every keyword the official ``UnleashClient`` accepts, plus ours."""

from __future__ import annotations

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


class InstanceAllowType(Enum):
    """What to do when several clients share one configuration (official SDK option)."""

    BLOCK = 1
    WARN = 2
    SILENTLY_ALLOW = 3


def default_instance_id() -> str:
    """A readable instance id unique to this process: host name plus a random suffix."""
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


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

    @property
    def api_url(self) -> str:
        """The server's API base URL without a trailing slash."""
        return self.url.rstrip("/")

    @property
    def offline(self) -> bool:
        """True when no server URL was given: flags come only from a bootstrap or cache."""
        return not self.url
