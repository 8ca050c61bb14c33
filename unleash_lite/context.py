"""Evaluation contexts: a typed way to build them, how two of them merge, and the context of
the current request (or task), kept in a context variable."""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import datetime
from typing import Any

_LOGGER = logging.getLogger("unleash_lite")


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


def merge_contexts(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base`` as a new dict; ``properties`` merge key by key."""
    merged = {**base, **extra}
    base_properties, extra_properties = base.get("properties"), extra.get("properties")
    if isinstance(base_properties, Mapping) and isinstance(extra_properties, Mapping):
        merged["properties"] = {**base_properties, **extra_properties}
    elif isinstance(merged.get("properties"), Mapping):
        merged["properties"] = dict(merged["properties"])
    return merged


def merge_provided(
    context: Mapping[str, Any], providers: Iterable[Callable[[], Any]], logger: logging.Logger
) -> dict[str, Any]:
    """``context`` with each provider's fields merged over it in order (as
    :func:`merge_contexts`): how the framework integrations apply their context providers.
    A provider returning ``None`` adds nothing; one that raises or returns something else
    than a mapping is skipped, logged at DEBUG on ``logger``."""
    merged = dict(context)
    for provider in providers:
        try:
            fields = provider()
        except Exception:
            logger.debug("Unleash: context provider %r failed; skipped", provider, exc_info=True)
            continue
        if isinstance(fields, Mapping):
            merged = merge_contexts(merged, fields)
        elif fields is not None:
            logger.debug(
                "Unleash: context provider %r returned a %s, not a mapping; skipped",
                provider,
                type(fields).__name__,
            )
    return merged


class LazyContext(Mapping[str, Any]):
    """A context built on first read: a request that checks no flag never loads its user
    or its session (so sets no session cookie). Read-only; :meth:`resolve` gives the dict
    (never raises: a build that fails gives an empty context). The integrations set one as the
    request context."""

    __slots__ = ("_build", "_built")

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build: Callable[[], dict[str, Any]] | None = build
        self._built: dict[str, Any] | None = None

    def resolve(self) -> dict[str, Any]:
        """The context, built now if it was not yet."""
        built = self._built
        if built is None:
            build = self._build
            try:
                built = build() if build is not None else {}
            except Exception:  # build_context leaves failing parts out; this is a last guard
                _LOGGER.debug("Unleash: building the request context failed", exc_info=True)
                built = {}
            self._built, self._build = built, None
        return built

    @property
    def resolved(self) -> bool:
        """Whether the context was built already."""
        return self._built is not None

    def __getitem__(self, key: str) -> Any:
        return self.resolve()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.resolve())

    def __len__(self) -> int:
        return len(self.resolve())

    def __repr__(self) -> str:
        return f"LazyContext({self._built!r})" if self.resolved else "LazyContext(<not built>)"


def request_fields(
    user_id: Callable[[], Any] | None,
    session_id: Callable[[], str | None] | None,
    remote_address: Callable[[], str | None] | None,
    logger: logging.Logger,
) -> dict[str, Any]:
    """``userId``, ``sessionId`` and ``remoteAddress`` of a request, each read by its function
    (``None``: not read): how the framework integrations build a request's context. A user id
    becomes text; an empty answer is left out, and so is a part whose function raises
    (logged at DEBUG on ``logger``)."""
    context: dict[str, Any] = {}
    for field, read, failed in (
        ("userId", user_id, "the user id failed; no userId"),
        ("sessionId", session_id, "no sessionId (the session failed)"),
        ("remoteAddress", remote_address, "no remoteAddress"),
    ):
        if read is None:
            continue
        try:
            value = read()
        except Exception:
            logger.debug("Unleash: %s", failed, exc_info=True)
            continue
        if value is not None and value != "":
            context[field] = str(value)
    return context


def sticky_session_id(session: MutableMapping[str, Any], key: str) -> str:
    """The random ``sessionId`` kept in ``session[key]`` (a framework's session), made and
    stored on first use: how the Flask and Django integrations keep a visitor's rollouts
    stable before (and without) a login."""
    value = session.get(key)
    if isinstance(value, str) and value:
        return value
    value = uuid.uuid4().hex
    session[key] = value
    return value


# -- the context of the current request -------------------------------------------------
# A ContextVar, so each thread, asyncio task and contextvars.Context sees its own: the
# integrations (Flask, Django, ASGI) set it per request; jobs and scripts may set it too.

_REQUEST_CONTEXT: ContextVar[Mapping[str, Any] | None] = ContextVar(
    "unleash_lite_request_context", default=None
)


def current_request_context() -> Mapping[str, Any] | None:
    """The context set for the current request or task, or ``None``."""
    return _REQUEST_CONTEXT.get()


def set_request_context(context: Mapping[str, Any] | None) -> Token[Mapping[str, Any] | None]:
    """Make ``context`` the current request's context; give the returned token to
    :func:`reset_request_context` when the request ends."""
    if context is not None and not isinstance(context, Mapping):
        raise TypeError(f"context must be a mapping or None, not {type(context).__name__}")
    return _REQUEST_CONTEXT.set(context)


def reset_request_context(token: Token[Mapping[str, Any] | None]) -> None:
    """Restore the request context that was current before :func:`set_request_context`."""
    _REQUEST_CONTEXT.reset(token)


@contextmanager
def request_context(context: Mapping[str, Any] | None) -> Iterator[Mapping[str, Any] | None]:
    """``with request_context({"userId": "42"}):`` makes the context current inside the
    block (for a job, a script or a test) and restores the previous one after it."""
    token = set_request_context(context)
    try:
        yield context
    finally:
        reset_request_context(token)


def forwarded_address(
    peer: str | None, forwarded_for: str | None, trusted_proxy_count: int
) -> str | None:
    """The client's address, for the ``remoteAddress`` field: ``peer`` (the connection's
    address), or, behind ``trusted_proxy_count`` proxies of yours, the address the outermost
    of them saw: the entry that many places from the right of the ``X-Forwarded-For`` header
    ``forwarded_for`` (entries further left were written by whoever sent the request, and
    are not trusted). ``peer`` when the header has fewer entries or that entry is not an IP
    address. The Django and ASGI integrations take the address this way."""
    peer = peer or None
    if trusted_proxy_count <= 0:
        return peer
    entries = [entry.strip() for entry in (forwarded_for or "").split(",") if entry.strip()]
    if len(entries) < trusted_proxy_count:
        return peer
    candidate = entries[-trusted_proxy_count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        _LOGGER.debug("Unleash: X-Forwarded-For entry %r is not an address", candidate)
        return peer


# The functions import the engine on first call, so importing this module stays light.


def context_text(value: Any) -> str | None:
    """How Unleash reads a context value as text, the form constraints compare: booleans
    become ``true``/``false``, whole floats lose their ``.0``, dates become ISO 8601, anything
    else goes through ``str``; ``None`` (no value) stays ``None``."""
    from .engine.context import as_text

    return as_text(value)


def is_context_time(value: Any) -> bool:
    """Whether Unleash reads ``value`` as a moment (for ``currentTime`` and the DATE_*
    operators): a ``datetime`` (naive means UTC), or RFC 3339 text with an offset such as
    ``2024-06-01T12:00:00Z``."""
    from .engine.dates import instant_of

    return instant_of(value) is not None
