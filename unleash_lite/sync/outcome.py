"""What a call to the server came to (:class:`Outcome`), and the fields every body the
client sends carries. Apart from :mod:`.http` so that counting, backoff and the client core
use them without loading the HTTP machinery (an offline client never does)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

SDK_NAME = "unleash-lite"
SPEC_VERSION = "6.1.0"


@functools.cache
def _platform() -> tuple[str, str]:
    import platform  # on the first body sent, not at import

    return platform.python_implementation(), platform.python_version()


def platform_fields() -> dict[str, Any]:
    """The fields describing this SDK's platform, sent with registration and metrics."""
    name, version = _platform()
    return {
        "platformName": name,
        "platformVersion": version,
        "specVersion": SPEC_VERSION,
        "yggdrasilVersion": None,
    }


def iso_utc(moment: datetime) -> str:
    """An aware UTC datetime in the ISO 8601 form Unleash sends (``...Z``)."""
    return moment.isoformat().replace("+00:00", "Z")


class Result(Enum):
    """How a call to the server went."""

    OK = "ok"  # 2xx
    NOT_MODIFIED = "not_modified"  # 304: the flags did not change
    UNAVAILABLE = "unavailable"  # 429, 5xx, timeout, connection error: back off
    REJECTED = "rejected"  # 401/403/404: wrong token or URL: slowest rate
    TOO_LARGE = "too_large"  # 2xx with a body over max_payload_bytes: refused, not read
    FAILED = "failed"  # any other answer (other 4xx, bad payload)


@dataclass(frozen=True)
class Outcome:
    """The classified answer to one call."""

    result: Result
    status: int | None = None
    detail: str = ""
    body: str = ""
    etag: str | None = None
    retry_after: float | None = None
    fetch_mode: str | None = None  # the server's "fetch-mode" header (streaming servers)
    delta: bool = False  # the body is a /client/delta answer (delta events)

    @property
    def ok(self) -> bool:
        """True for 2xx and 304."""
        return self.result in (Result.OK, Result.NOT_MODIFIED)
