"""Sending one HTTP request: the :class:`Transport` protocol and its ``requests`` implementation.

:mod:`.http` decides what to send, how often, within which time budget, and how much of an
answer to read; a transport only sends one request and hands back the answer as a stream.
Tests give the synchronizer an in-memory transport; clients use
:class:`~.requests_transport.RequestsTransport`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Protocol


class Failure(Enum):
    """Why a request got no (complete) answer, as far as retrying it is concerned."""

    TIMEOUT = "timeout"  # no answer in time
    NOT_CONNECTED = "not_connected"  # no connection was made: safe to send again
    DROPPED = "dropped"  # a reused keep-alive connection turned out closed: a GET may go again
    FAILED = "failed"  # anything else: it may have reached the server


class TransportError(Exception):
    """A request, or the reading of its answer, that failed; ``reason`` names the cause
    in a few words (never a header's value)."""

    def __init__(self, failure: Failure, reason: str) -> None:
        super().__init__(reason)
        self.failure = failure
        self.reason = reason


class Reply(Protocol):
    """An answer whose body has not been read yet."""

    @property
    def status(self) -> int:
        """The HTTP status code."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The headers, looked up case-insensitively."""

    @property
    def length_remaining(self) -> int | None:
        """Bytes of the body not read yet when its length is known, else ``None``."""

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of the (decompressed) body; ``b""`` at its end. Raises
        :class:`TransportError`."""

    def release(self) -> None:
        """The body was read to its end: the connection may serve another request."""

    def close(self) -> None:
        """Done with the answer (a connection whose body was not read to the end is dropped)."""


class Transport(Protocol):
    """Sends one request and returns the answer unread."""

    def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> Reply:
        """Send a request; ``timeout``: seconds to connect, and between bytes of the answer.
        Raises :class:`TransportError` when no answer came."""

    def close(self) -> None:
        """Close pooled connections."""

    def reset(self) -> None:
        """Forget every connection (in a forked child: the parent's are not ours)."""
