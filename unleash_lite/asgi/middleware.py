"""``UnleashMiddleware``: a pure ASGI middleware that makes each request's evaluation context
current (``unleash_lite.context.current_request_context()``) while the app handles it,
streaming bodies and background tasks included, and restores the previous one after."""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..context import (
    LazyContext,
    forwarded_address,
    merge_provided,
    request_fields,
    reset_request_context,
    set_request_context,
)

LOGGER = logging.getLogger("unleash_lite.asgi")

DEFAULT_SESSION_COOKIE = "unleash_session_id"
SESSION_COOKIE_MAX_AGE = 365 * 24 * 3600
_SCOPE_KEY = "unleash_lite.context"  # the request's LazyContext, in the ASGI scope
# RFC 6265 cookie-name characters (a token), and the ids we accept back from a client.
_COOKIE_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_SESSION_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")

UserIdLoader = Callable[[HTTPConnection], Any]
ContextProvider = Callable[[HTTPConnection], Mapping[str, Any] | None]


@dataclass(frozen=True)
class ContextOptions:
    """How a request's context is built."""

    user_id: UserIdLoader | None = None  # None: scope["user"] (Starlette's authentication)
    session_cookie: str | None = None  # None: no sessionId
    trusted_proxy_count: int = 0
    context_providers: tuple[ContextProvider, ...] = ()


class UnleashMiddleware:
    """Makes each HTTP and WebSocket request's context current for as long as the app
    handles it (a streaming body and background tasks included): flag checks of a client
    with ``use_request_context=True`` made anywhere get it, and ``Depends(unleash_context)``
    gives it. The previous context comes back after, also when the app raises.

    The context is built on first read (a request that checks no flag costs a dict and a
    context variable); a part that fails is left out, logged at DEBUG:

    - ``userId``: ``user_id(connection)`` (a function of the Starlette ``HTTPConnection``,
      e.g. :func:`user_id_from_header`), by default the authenticated ``request.user``
      of Starlette's ``AuthenticationMiddleware`` (its ``identity``, else its
      ``display_name``);
    - ``sessionId``: with ``session_cookie`` (a cookie name, e.g.
      :data:`DEFAULT_SESSION_COOKIE`), a random id kept in that cookie, so gradual rollouts
      on ``sessionId`` stay the same for a visitor; a new one is set on the response
      (``HttpOnly``, ``SameSite=Lax``, ``Secure`` over HTTPS) when the context is first read
      before the response starts;
    - ``remoteAddress``: the connection's peer, or behind ``trusted_proxy_count`` proxies of
      yours the ``X-Forwarded-For`` entry they wrote (never the header otherwise);
    - then each of ``context_providers`` (functions of the connection returning fields),
      merged over in order.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        user_id: UserIdLoader | None = None,
        session_cookie: str | None = None,
        trusted_proxy_count: int = 0,
        context_providers: Sequence[ContextProvider] = (),
    ) -> None:
        if user_id is not None and not callable(user_id):
            raise TypeError(f"user_id must be a function of the request, not {user_id!r}")
        if session_cookie is not None and not (
            isinstance(session_cookie, str) and _COOKIE_NAME.match(session_cookie)
        ):
            raise ValueError(f"session_cookie must be a cookie name, not {session_cookie!r}")
        if (
            isinstance(trusted_proxy_count, bool)
            or not isinstance(trusted_proxy_count, int)
            or trusted_proxy_count < 0
        ):
            raise ValueError(
                "trusted_proxy_count must be a whole number >= 0: how many proxies of yours add "
                f"to X-Forwarded-For (0: use the connection's address), not {trusted_proxy_count!r}"
            )
        if isinstance(context_providers, str | bytes) or not all(
            callable(provider) for provider in context_providers
        ):
            raise TypeError("context_providers must be a list of functions of the request")
        self.app = app
        self.options = ContextOptions(
            user_id, session_cookie, trusted_proxy_count, tuple(context_providers)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        minted: list[str] = []  # a session id made for this request, to set as a cookie
        context = LazyContext(functools.partial(build_context, scope, self.options, minted))
        scope[_SCOPE_KEY] = context
        if self.options.session_cookie is not None and scope["type"] == "http":
            send = functools.partial(self._send_cookie, scope, minted, send)
        token = set_request_context(context)
        try:
            await self.app(scope, receive, send)
        finally:
            reset_request_context(token)

    async def _send_cookie(
        self, scope: Scope, minted: list[str], send: Send, message: Message
    ) -> None:
        if message["type"] == "http.response.start" and minted:
            cookie = (
                f"{self.options.session_cookie}={minted[0]}; Max-Age={SESSION_COOKIE_MAX_AGE}; "
                "Path=/; SameSite=Lax; HttpOnly"
            )
            if scope.get("scheme") == "https":
                cookie += "; Secure"
            MutableHeaders(scope=message).append("set-cookie", cookie)
        await send(message)


def request_context_of(scope: Scope) -> LazyContext | None:
    """The context :class:`UnleashMiddleware` set for the request of ``scope``, or ``None``
    when the middleware is not installed."""
    context = scope.get(_SCOPE_KEY)
    return context if isinstance(context, LazyContext) else None


def build_context(
    scope: Scope, options: ContextOptions, minted: list[str] | None = None
) -> dict[str, Any]:
    """The context of the request of ``scope`` (see :class:`UnleashMiddleware`); a session id
    made now is appended to ``minted``. Each part that fails is left out."""
    connection = Request(scope) if scope["type"] == "http" else HTTPConnection(scope)
    cookie = options.session_cookie

    def address() -> str | None:
        client = scope.get("client")
        return forwarded_address(
            client[0] if client else None,
            ",".join(connection.headers.getlist("x-forwarded-for")),
            options.trusted_proxy_count,
        )

    context = request_fields(
        functools.partial(options.user_id or _authenticated_user, connection),
        None if cookie is None else functools.partial(_session_id, connection, cookie, minted),
        address,
        LOGGER,
    )
    providers = (functools.partial(provider, connection) for provider in options.context_providers)
    return merge_provided(context, providers, LOGGER)


def user_id_from_header(name: str) -> UserIdLoader:
    """A ``user_id`` loader reading the header ``name`` (e.g. ``X-User-Id`` set by your API
    gateway after it authenticated the caller: a header a client may set itself is only as
    trustworthy as what sits in front of the app)."""
    if not isinstance(name, str) or not name:
        raise TypeError("user_id_from_header needs the header's name, e.g. 'X-User-Id'")

    def header_user_id(connection: HTTPConnection) -> str | None:
        return connection.headers.get(name)

    return header_user_id


def _authenticated_user(connection: HTTPConnection) -> Any:
    """The default user id: Starlette's authenticated ``request.user``, if any."""
    user = connection.scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.identity
    except NotImplementedError:  # Starlette's SimpleUser has only a display name
        return user.display_name


def _session_id(connection: HTTPConnection, cookie: str, minted: list[str] | None) -> str:
    """The visitor's id from the cookie, or a new random one (appended to ``minted``)."""
    value = connection.cookies.get(cookie)
    if value and _SESSION_ID.match(value):
        return value
    value = uuid.uuid4().hex
    if minted is not None:
        minted.append(value)
    return value
