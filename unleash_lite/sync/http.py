"""The three calls a client makes to Unleash, with the protocol's headers, on one transport.

Every call returns an :class:`Outcome` classifying what happened, so callers decide on
backoff from one place and no transport exception escapes into a scheduler thread or task.
:class:`ApiCalls` writes each call once, as :mod:`.steps`; :class:`UnleashApi` makes them
with blocking I/O on a :class:`~.transport.Transport` (``requests`` unless one is given),
the async client on an event loop.

Answers are read as a stream and never buffered past a limit: the flags body up to
``max_payload_bytes`` (after decompression; a larger ``Content-Length`` is refused before
reading), any other body up to :data:`SMALL_BODY_BYTES`. A call, its retries and the reading
of its body share one time budget (``request_timeout`` unless the caller gives less), so a
server that hangs, refuses or trickles bytes holds a poll for about ``request_timeout``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import platform
import time
import uuid
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..config import ClientConfig
from ..version import __version__
from .outcome import SDK_NAME, SPEC_VERSION, Outcome, Result
from .steps import Pause, Read, Send, Steps, T, drive
from .transport import Failure, Reply, Transport, TransportError

LOGGER = logging.getLogger("unleash_lite")

FEATURES_PATH = "/client/features"
DELTA_PATH = "/client/delta"
REGISTER_PATH = "/client/register"
METRICS_PATH = "/client/metrics"
CHUNK_BYTES = 64 * 1024
SMALL_BODY_BYTES = 64 * 1024  # the most read of an answer whose body is not the flags


class ApiCalls:
    """The three calls to one Unleash server, as :mod:`.steps` (no I/O of their own): the
    protocol's headers, retries, time budgets and the classification of answers, shared
    by the blocking :class:`UnleashApi` and the async client."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.connection_id = str(uuid.uuid4())
        options = dict(config.custom_options)
        self.fixed_timeout: float | None = options.pop("timeout", None)
        self.transport_options: dict[str, Any] = options  # for the transport to apply
        self.delta = config.delta_polling  # until the server answers 404 to /client/delta
        if "verify" in config.custom_options and not config.custom_options["verify"]:
            LOGGER.warning(
                "Unleash: TLS certificate verification is OFF for %s (custom_options "
                "verify=False): anyone on the network path can impersonate the server and "
                "read the API token; pass the server's CA bundle as verify= instead",
                urlsplit(config.display_url).netloc or config.display_url,
            )

    def new_connection_id(self) -> None:
        """A fresh connection id (a forked child is a new connection)."""
        self.connection_id = str(uuid.uuid4())

    def fetch_features(self, etag: str | None, retries: int | None = None) -> Steps[Outcome]:
        """GET the flags; ``If-None-Match`` makes an unchanged payload a cheap 304.

        ``retries``: how often a connection that could not be made is tried again within
        the request timeout (default ``request_retries``)."""
        headers = self.headers(self.config.refresh_interval)
        if etag:
            headers["If-None-Match"] = etag
        query = self.project_query()
        if self.delta:
            outcome = yield from self._call(
                "GET", DELTA_PATH + query, headers, self.config.max_payload_bytes, retries=retries
            )
            if outcome.status != 404:
                return dataclasses.replace(outcome, delta=True)
            self.delta = False  # an older server: full payloads from now on
            LOGGER.warning(
                "Unleash: %s answers 404 to %s (a server without delta polling); polling %s "
                "instead",
                urlsplit(self.config.display_url).netloc or self.config.display_url,
                DELTA_PATH,
                FEATURES_PATH,
            )
            headers.pop("If-None-Match", None)  # the delta's ETag means nothing there
        return (
            yield from self._call(
                "GET",
                FEATURES_PATH + query,
                headers,
                self.config.max_payload_bytes,
                retries=retries,
            )
        )

    def project_query(self) -> str:
        """``?project=...`` for the flag routes when ``project_name`` is set, else ``""``."""
        if not self.config.project_name:
            return ""
        return "?" + urlencode({"project": self.config.project_name})

    def register(self, body: dict[str, Any], budget: float | None = None) -> Steps[Outcome]:
        """POST the client's registration."""
        return self._post(REGISTER_PATH, body, budget)

    def send_metrics(self, body: dict[str, Any], budget: float | None = None) -> Steps[Outcome]:
        """POST one metrics bucket; ``budget``: seconds the whole call may take (default
        ``request_timeout``)."""
        return self._post(METRICS_PATH, body, budget)

    def _post(self, path: str, body: dict[str, Any], budget: float | None) -> Steps[Outcome]:
        headers = self.headers(self.config.metrics_interval)
        headers["Content-Type"] = "application/json"
        try:
            data = json.dumps(body, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as error:  # a value JSON cannot carry
            return _answer(
                Outcome(Result.FAILED, detail=f"the body is not JSON ({type(error).__name__})")
            )
        return self._call("POST", path, headers, None, budget=budget, body=data)

    def headers(self, interval_seconds: float) -> dict[str, str]:
        """The headers every call carries; ``custom_headers`` (e.g. Authorization) included."""
        config = self.config
        credentials = {}
        if config.url_authorization and not config.authorization:
            credentials["Authorization"] = config.url_authorization
        return {
            **credentials,
            **config.custom_headers,
            "unleash-appname": self.config.app_name,
            "unleash-instanceid": self.config.instance_id,
            "unleash-connection-id": self.connection_id,
            "unleash-sdk": f"{SDK_NAME}:{__version__}",
            "unleash-interval": str(int(interval_seconds * 1000)),
            "Unleash-Client-Spec": SPEC_VERSION,
            "User-Agent": f"{SDK_NAME}/{__version__} python/{platform.python_version()}",
        }

    def _call(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body_limit: int | None,
        retries: int | None = None,
        budget: float | None = None,
        body: bytes | None = None,
    ) -> Steps[Outcome]:
        """Make one call, all attempts included, within ``budget`` seconds (default
        ``request_timeout``); ``body_limit``: read a 2xx body up to that many bytes (the
        flags), or ``None`` when only the status matters.

        A connection that could not be made is tried again (``retries``, default
        ``request_retries``) after a short pause while the budget lasts; a GET whose
        reused keep-alive connection turned out closed is sent again once. Nothing that
        may have reached the server is sent twice otherwise: a slow or failing server is
        left to the caller's backoff.
        """
        budget = self.config.request_timeout if budget is None else budget
        retries = self.config.request_retries if retries is None else retries
        deadline = time.monotonic() + budget
        url = self.config.api_url + path
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Outcome(Result.UNAVAILABLE, detail="timed out")
            timeout = remaining if self.fixed_timeout is None else self.fixed_timeout
            try:
                reply = yield Send(method, url, headers, body, timeout)
            except TransportError as error:
                if error.failure is Failure.TIMEOUT:
                    return Outcome(Result.UNAVAILABLE, detail="timed out")
                pause = _pause_before_retry(error.failure, method, attempt, retries)
                if pause is not None and time.monotonic() + pause < deadline:
                    attempt += 1
                    if pause:
                        yield Pause(pause)
                    continue
                return Outcome(Result.UNAVAILABLE, detail=f"connection failed ({error.reason})")
            try:
                return (yield from _classify(reply, url, body_limit, deadline))
            finally:
                reply.close()  # a connection whose body was not read to the end is dropped


class UnleashApi:
    """:class:`ApiCalls` made with blocking I/O on one transport (a ``requests`` session
    with ``custom_options`` unless ``transport`` is given)."""

    def __init__(self, config: ClientConfig, transport: Transport | None = None) -> None:
        self.calls = ApiCalls(config)
        if transport is None:
            from .requests_transport import RequestsTransport  # not for offline clients

            transport = RequestsTransport(self.calls.transport_options)
        self.transport: Transport = transport

    @property
    def connection_id(self) -> str:
        """This connection's id, sent as ``unleash-connection-id`` and in bodies."""
        return self.calls.connection_id

    def reset_after_fork(self) -> None:
        """A fresh connection pool and connection id for a forked child process."""
        self.calls.new_connection_id()
        self.transport.reset()

    def close(self) -> None:
        """Close pooled connections."""
        self.transport.close()

    def run(self, steps: Steps[T]) -> T:
        """Perform ``steps`` (of :class:`ApiCalls` or built on them) on this transport."""
        return drive(steps, self.transport)

    def fetch_features(self, etag: str | None, retries: int | None = None) -> Outcome:
        """:meth:`ApiCalls.fetch_features`, made now."""
        return self.run(self.calls.fetch_features(etag, retries))

    def register(self, body: dict[str, Any], budget: float | None = None) -> Outcome:
        """:meth:`ApiCalls.register`, made now."""
        return self.run(self.calls.register(body, budget))

    def send_metrics(self, body: dict[str, Any], budget: float | None = None) -> Outcome:
        """:meth:`ApiCalls.send_metrics`, made now."""
        return self.run(self.calls.send_metrics(body, budget))

    def headers(self, interval_seconds: float) -> dict[str, str]:
        """:meth:`ApiCalls.headers`."""
        return self.calls.headers(interval_seconds)


def _answer(outcome: Outcome) -> Steps[Outcome]:
    """Steps that perform nothing and return ``outcome``."""
    return outcome
    yield  # a generator, for the callers that ``yield from`` every call


def _pause_before_retry(failure: Failure, method: str, attempt: int, retries: int) -> float | None:
    """Seconds to wait before trying a failed call again, or ``None`` when it must not be:
    only a connection that was never made (refused, unresolvable; ``retries`` times), or,
    once whatever ``retries`` says, a GET on a pooled connection the server had closed, is
    safe to repeat."""
    if failure is Failure.NOT_CONNECTED:
        return 0.1 * 2.0**attempt if attempt < retries else None
    if method == "GET" and attempt == 0 and failure is Failure.DROPPED:
        return 0.0
    return None


def _classify(reply: Reply, url: str, body_limit: int | None, deadline: float) -> Steps[Outcome]:
    status = reply.status
    etag = reply.headers.get("ETag")
    if 200 <= status < 300 and status != 204 and body_limit is not None:
        try:
            data = yield from _read_body(reply, body_limit, deadline)
        except _TooLarge as error:
            return Outcome(Result.TOO_LARGE, status, str(error), etag=etag)
        except (_TooSlow, TransportError) as error:
            return Outcome(Result.UNAVAILABLE, status, _body_failure(error))
        fetch_mode = reply.headers.get("fetch-mode")
        return Outcome(Result.OK, status, body=_text(data, reply), etag=etag, fetch_mode=fetch_mode)
    if status in (401, 403, 404):
        said = _server_message((yield from _small_body(reply, deadline, unannounced=True)))
        advice = (
            "check the url (it should end with /api)"
            if status == 404
            else "check the API token (the Authorization header in custom_headers) and "
            "that the url ends with /api"
        )
        parts = urlsplit(url)
        shown = parts.path + (f"?{parts.query}" if parts.query else "")
        return Outcome(Result.REJECTED, status, f"HTTP {status} for {shown}{said}: {advice}")
    yield from _small_body(reply, deadline)  # read to the end: the connection can be reused
    if status == 304:
        fetch_mode = reply.headers.get("fetch-mode")
        return Outcome(Result.NOT_MODIFIED, status, etag=etag, fetch_mode=fetch_mode)
    if 200 <= status < 300:
        return Outcome(Result.OK, status, etag=etag)
    if status == 429 or status >= 500:
        return Outcome(
            Result.UNAVAILABLE,
            status,
            f"HTTP {status}",
            retry_after=_retry_after(reply.headers.get("Retry-After")),
        )
    return Outcome(Result.FAILED, status, f"HTTP {status}")


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


def _read_body(reply: Reply, limit: int, deadline: float) -> Steps[bytes]:
    """The (decompressed) body, read chunk by chunk: :class:`_TooLarge` past ``limit`` bytes
    (at once when ``Content-Length`` announces more), :class:`_TooSlow` past ``deadline``.
    A body read to its end gives its connection back to the pool."""
    announced = _content_length(reply)
    if announced is not None and announced > limit:
        raise _TooLarge(f"{announced} bytes announced, over max_payload_bytes={limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = yield Read(reply, CHUNK_BYTES)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise _TooLarge(f"more than max_payload_bytes={limit} bytes")
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise _TooSlow()
    reply.release()
    return b"".join(chunks)


def _small_body(reply: Reply, deadline: float, unannounced: bool = False) -> Steps[bytes]:
    """A body that is not the flags, read when its length is known and small (so the
    connection can be reused; 304 and 204 have none) or, with ``unannounced``, when it is
    chunked (up to the same limit); else left unread and its connection dropped. Never
    raises."""
    remaining = reply.length_remaining
    if remaining is None and not unannounced:
        return b""
    if remaining is not None and remaining > SMALL_BODY_BYTES:
        return b""
    try:
        return (yield from _read_body(reply, SMALL_BODY_BYTES, deadline))
    except Exception:
        return b""


def _content_length(reply: Reply) -> int | None:
    value = reply.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else None


def _body_failure(error: BaseException) -> str:
    if isinstance(error, _TooSlow):
        return "timed out: the answer was still arriving after request_timeout"
    if isinstance(error, TransportError) and error.failure is Failure.TIMEOUT:
        return "timed out reading the answer"
    reason = error.reason if isinstance(error, TransportError) else type(error).__name__
    return f"the answer broke off ({reason})"


def _text(data: bytes, reply: Reply) -> str:
    """The body as text: the charset the server names, else UTF-8 (JSON's encoding)."""
    header = Message()
    header["Content-Type"] = reply.headers.get("Content-Type", "")
    charset = header.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, "replace")
    except LookupError:
        text = data.decode("utf-8", "replace")
    return text[1:] if text.startswith("\ufeff") else text


def _server_message(data: bytes) -> str:
    """The server's own explanation (Unleash answers ``{"message": ...}``), if short."""
    try:
        message = json.loads(data).get("message")
    except (ValueError, AttributeError, RecursionError):
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
