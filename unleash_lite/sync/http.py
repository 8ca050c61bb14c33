"""The three calls a client makes to Unleash, with the protocol's headers and one session.

Every call returns an :class:`Outcome` classifying what happened, so callers decide on
backoff from one place and no exception from ``requests`` escapes into a scheduler thread.
"""

from __future__ import annotations

import platform
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..config import ClientConfig
from ..version import __version__

SDK_NAME = "unleash-lite"
SPEC_VERSION = "6.1.0"
FEATURES_PATH = "/client/features"
REGISTER_PATH = "/client/register"
METRICS_PATH = "/client/metrics"


def platform_fields() -> dict[str, Any]:
    """The fields describing this SDK's platform, sent with registration and metrics."""
    return {
        "platformName": platform.python_implementation(),
        "platformVersion": platform.python_version(),
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

    @property
    def ok(self) -> bool:
        """True for 2xx and 304."""
        return self.result in (Result.OK, Result.NOT_MODIFIED)


class UnleashApi:
    """A connection to one Unleash server: headers, retries, timeouts, one requests session."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.connection_id = str(uuid.uuid4())
        self.session = self._new_session()

    def reset_after_fork(self) -> None:
        """A fresh connection pool and connection id for a forked child process."""
        self.connection_id = str(uuid.uuid4())
        self.session = self._new_session()

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    def fetch_features(self, etag: str | None) -> Outcome:
        """GET the flags; ``If-None-Match`` makes an unchanged payload a cheap 304."""
        headers = self.headers(self.config.refresh_interval)
        if etag:
            headers["If-None-Match"] = etag
        params = {"project": self.config.project_name} if self.config.project_name else None
        return self._call("GET", FEATURES_PATH, headers, params=params)

    def register(self, body: dict[str, Any]) -> Outcome:
        """POST the client's registration."""
        return self._call(
            "POST", REGISTER_PATH, self.headers(self.config.metrics_interval), json=body
        )

    def send_metrics(self, body: dict[str, Any]) -> Outcome:
        """POST one metrics bucket."""
        return self._call(
            "POST", METRICS_PATH, self.headers(self.config.metrics_interval), json=body
        )

    def headers(self, interval_seconds: float) -> dict[str, str]:
        """The headers every call carries; ``custom_headers`` (e.g. Authorization) included."""
        return {
            **self.config.custom_headers,
            "unleash-appname": self.config.app_name,
            "unleash-instanceid": self.config.instance_id,
            "unleash-connection-id": self.connection_id,
            "unleash-sdk": f"{SDK_NAME}:{__version__}",
            "unleash-interval": str(int(interval_seconds * 1000)),
            "Unleash-Client-Spec": SPEC_VERSION,
            "User-Agent": f"{SDK_NAME}/{__version__} python/{platform.python_version()}",
        }

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        # Retry what never reached the server (connect errors) for every call, and a dropped
        # connection once for GETs only, so POSTs are never doubled; slow or failing answers
        # are left to the poller's backoff.
        retries = Retry(
            total=self.config.request_retries,
            connect=self.config.request_retries,
            read=1,  # once, for a keep-alive connection the server closed as we reused it
            allowed_methods=frozenset({"GET"}),
            status=0,
            other=0,
            redirect=3,
            backoff_factor=0.2,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retries, pool_connections=2, pool_maxsize=4)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def _call(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Outcome:
        options = dict(self.config.custom_options)
        options.setdefault("timeout", self.config.request_timeout)
        try:
            response = self.session.request(
                method, self.config.api_url + path, headers=headers, **kwargs, **options
            )
        except requests.Timeout:
            return Outcome(Result.UNAVAILABLE, detail="timed out")
        except requests.RequestException as error:
            return Outcome(Result.UNAVAILABLE, detail=f"connection failed ({_reason(error)})")
        return _classify(response)


def _classify(response: requests.Response) -> Outcome:
    status = response.status_code
    if status == 304:
        return Outcome(Result.NOT_MODIFIED, status, etag=response.headers.get("ETag"))
    if 200 <= status < 300:
        return Outcome(Result.OK, status, body=response.text, etag=response.headers.get("ETag"))
    if status in (401, 403, 404):
        path = response.request.path_url if response.request else ""
        said = _server_message(response)
        advice = (
            "check the url (it should end with /api)"
            if status == 404
            else "check the API token (the Authorization header in custom_headers) and "
            "that the url ends with /api"
        )
        return Outcome(Result.REJECTED, status, f"HTTP {status} for {path}{said}: {advice}")
    if status == 429 or status >= 500:
        return Outcome(
            Result.UNAVAILABLE,
            status,
            f"HTTP {status}",
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )
    return Outcome(Result.FAILED, status, f"HTTP {status}")


def _server_message(response: requests.Response) -> str:
    """The server's own explanation (Unleash answers ``{"message": ...}``), if short."""
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        return ""
    return f" ({message[:200]})" if isinstance(message, str) and message else ""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)


def _reason(error: requests.RequestException) -> str:
    # The message of a connection error can be long and nested; its class says enough.
    return type(error).__name__
