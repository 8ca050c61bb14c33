"""Sending one request on an asyncio event loop: the async client's transport, on aiohttp.

The counterpart of :class:`~.requests_transport.RequestsTransport`: one ``aiohttp.ClientSession``
(created on the loop that first sends), answers handed back unread, failures classified the
same way. The ``requests``-style ``custom_options`` the sync client takes are translated
(``verify``, ``cert``, ``proxies``); any other option is refused when the client is built,
naming it, rather than ignored.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp

from .transport import Failure, TransportError

SUPPORTED_OPTIONS = frozenset({"verify", "cert", "proxies"})


def check_options(options: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming any ``custom_options`` key the async client cannot apply."""
    unsupported = sorted(set(options) - SUPPORTED_OPTIONS)
    if unsupported:
        raise ValueError(
            f"custom_options {unsupported} are not supported by AsyncUnleashClient "
            f"(it supports {sorted(SUPPORTED_OPTIONS)} and timeout)"
        )
    proxies = options.get("proxies")
    if proxies is not None and not isinstance(proxies, Mapping):
        raise ValueError("custom_options['proxies'] must map a scheme to a proxy URL")
    cert = options.get("cert")
    if cert is not None and not isinstance(cert, str | tuple):
        raise ValueError("custom_options['cert'] must be a path or a (cert, key) tuple")


class AiohttpTransport:
    """An :class:`~.steps.AsyncTransport` on one ``aiohttp`` session."""

    def __init__(self, options: Mapping[str, Any] | None = None, streaming: bool = False) -> None:
        self.options = dict(options or {})
        # streaming: answers are event streams held open for minutes; only the connect and
        # the read timeouts apply, never one on the whole call
        self.streaming = streaming
        check_options(self.options)
        self._ssl = _ssl_setting(self.options)
        self._proxies: Mapping[str, str] = self.options.get("proxies") or {}
        self._session: aiohttp.ClientSession | None = None

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> _AiohttpReply:
        session = self._session
        if session is None or session.closed:
            session = self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=4, ssl=self._ssl),
                auto_decompress=True,
                trust_env=False,  # proxies come from custom_options, as for the sync client
            )
        try:
            response = await session.request(
                method,
                url,
                headers=dict(headers),
                data=body,
                # total: the whole call, pool wait, name lookup, headers and body included,
                # so a server trickling its headers cannot hold the call past its budget
                timeout=aiohttp.ClientTimeout(
                    total=None if self.streaming else timeout,
                    sock_connect=timeout,
                    sock_read=timeout,
                ),
                proxy=self._proxies.get(url.split(":", 1)[0].lower()),
            )
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise TransportError(Failure.TIMEOUT, "timed out") from None
        except aiohttp.ClientConnectorCertificateError:
            raise TransportError(Failure.FAILED, "ClientConnectorCertificateError") from None
        except aiohttp.ClientConnectorError as error:
            raise TransportError(Failure.NOT_CONNECTED, type(error).__name__) from None
        except aiohttp.ServerDisconnectedError as error:
            raise TransportError(Failure.DROPPED, type(error).__name__) from None
        except (aiohttp.ClientError, ValueError, OSError) as error:
            # The message can hold a header's value (the token): the class says enough.
            raise TransportError(Failure.FAILED, type(error).__name__) from None
        return _AiohttpReply(response)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


class _AiohttpReply:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self._read = 0

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self.response.headers

    @property
    def length_remaining(self) -> int | None:
        announced = self.response.content_length
        if announced is None or self.response.headers.get("Content-Encoding"):
            return None  # unknown, or counted in compressed bytes we never see
        return max(announced - self._read, 0)

    async def read(self, size: int) -> bytes:
        try:
            data = await self.response.content.read(size)
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise TransportError(Failure.TIMEOUT, "timed out reading the answer") from None
        except (aiohttp.ClientError, asyncio.IncompleteReadError, OSError) as error:
            raise TransportError(Failure.FAILED, type(error).__name__) from None
        self._read += len(data)
        return data

    def release(self) -> None:
        self.response.release()

    def close(self) -> None:
        self.response.close()


def _ssl_setting(options: Mapping[str, Any]) -> ssl.SSLContext | bool:
    """``verify``/``cert`` as ``requests`` reads them, for aiohttp's connector."""
    verify = options.get("verify", True)
    cert = options.get("cert")
    if cert is None and isinstance(verify, bool):
        # aiohttp's own contexts, made once per process: a new default context loads the
        # system's CA store from disk (tens of ms, on the loop when a client is built there)
        return verify
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if isinstance(cert, str):
        context.load_cert_chain(cert)
    elif isinstance(cert, tuple):
        context.load_cert_chain(*cert)
    return context
