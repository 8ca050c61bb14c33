"""The sync client's :class:`~.transport.Transport`, on ``requests``.

In a module of its own so that an offline client, a test double or the CLI's offline
commands never import ``requests`` and ``urllib3`` (about 50 ms).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from .transport import Failure, Reply, TransportError


class RequestsTransport:
    """A :class:`Transport` on one ``requests`` session, with ``custom_options`` (``verify``,
    ``cert``, ``proxies``...) passed to every request."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self.session = _new_session()

    def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> Reply:
        try:
            response = self.session.request(
                method,
                url,
                headers=dict(headers),
                data=body,
                timeout=timeout,
                # bodies are read by the caller, in limits; the Authorization header is the
                # one given (requests would put the url's or ~/.netrc's credentials instead)
                **{**self.options, "stream": True, "auth": _headers_as_given},
            )
        except requests.Timeout:
            raise TransportError(Failure.TIMEOUT, "timed out") from None
        except requests.ConnectionError as error:
            raise TransportError(_connection_failure(error), _reason(error)) from None
        except requests.RequestException as error:
            raise TransportError(Failure.FAILED, _reason(error)) from None
        return _RequestsReply(response)

    def close(self) -> None:
        self.session.close()

    def reset(self) -> None:
        self.session = _new_session()


class _RequestsReply:
    def __init__(self, response: requests.Response) -> None:
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self.response.headers

    @property
    def length_remaining(self) -> int | None:
        remaining = getattr(self.response.raw, "length_remaining", None)
        return remaining if isinstance(remaining, int) else None

    def read(self, size: int) -> bytes:
        try:
            data: bytes = self.response.raw.read1(size, decode_content=True)
        except (urllib3.exceptions.ReadTimeoutError, requests.Timeout, TimeoutError):
            raise TransportError(Failure.TIMEOUT, "timed out reading the answer") from None
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as error:
            raise TransportError(Failure.FAILED, type(error).__name__) from None
        return data

    def release(self) -> None:
        self.response.raw.release_conn()

    def close(self) -> None:
        self.response.close()


def _headers_as_given(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


def _new_session() -> requests.Session:
    session = requests.Session()
    # No retries inside urllib3: the caller retries what never reached the server, within
    # the time budget of the call, and logs nothing per attempt.
    adapter = HTTPAdapter(max_retries=0, pool_connections=2, pool_maxsize=4)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _connection_failure(error: requests.ConnectionError) -> Failure:
    cause = error.args[0] if error.args else None
    if isinstance(getattr(cause, "reason", None), urllib3.exceptions.NewConnectionError):
        return Failure.NOT_CONNECTED
    if isinstance(cause, urllib3.exceptions.ProtocolError):
        return Failure.DROPPED
    return Failure.FAILED


def _reason(error: requests.RequestException) -> str:
    # The message of a connection error can be long and nested (and, for a header that
    # requests refuses, holds the header's value: the token); its class says enough.
    return type(error).__name__
