"""The evaluation context of a Django request: ``userId`` (``request.user``), a sticky
``sessionId`` kept in the session, ``remoteAddress`` (``X-Forwarded-For`` only as far as it
was written by proxies you declared) and the configured context providers."""

from __future__ import annotations

import functools
import ipaddress
import logging
import uuid
from typing import Any

from django.http import HttpRequest

from ..context import merge_provided
from .settings import DjangoOptions

LOGGER = logging.getLogger("unleash_lite.django")


def build_context(request: HttpRequest, options: DjangoOptions) -> dict[str, Any]:
    """The request's context: each part that fails is left out (logged at DEBUG)."""
    context: dict[str, Any] = {}
    try:
        user_id = (options.user_id or _user_pk)(request)
        if user_id is not None and user_id != "":
            context["userId"] = str(user_id)
    except Exception:
        LOGGER.debug("Unleash: the user id failed; no userId", exc_info=True)
    if options.session_key:
        try:
            session_id = _session_id(request, options.session_key)
            if session_id:
                context["sessionId"] = session_id
        except Exception:
            LOGGER.debug("Unleash: no sessionId (the session failed)", exc_info=True)
    address = remote_address(request, options.trusted_proxy_count)
    if address:
        context["remoteAddress"] = address
    providers = (functools.partial(provider, request) for provider in options.context_providers)
    return merge_provided(context, providers, LOGGER)


def remote_address(request: HttpRequest, trusted_proxy_count: int) -> str | None:
    """The client's address: ``REMOTE_ADDR`` (the connection's peer), or, behind
    ``trusted_proxy_count`` proxies of yours, the address the outermost of them saw: the
    entry that many places from the right of ``X-Forwarded-For`` (entries further left were
    written by whoever sent the request, and are not trusted). ``REMOTE_ADDR`` when the
    header has fewer entries or that entry is not an IP address."""
    peer = request.META.get("REMOTE_ADDR") or None
    if trusted_proxy_count <= 0:
        return peer
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    entries = [entry.strip() for entry in header.split(",") if entry.strip()]
    if len(entries) < trusted_proxy_count:
        return peer
    candidate = entries[-trusted_proxy_count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        LOGGER.debug("Unleash: X-Forwarded-For entry %r is not an address", candidate)
        return peer


def _user_pk(request: HttpRequest) -> Any:
    """The default user id: the primary key of ``request.user`` when authenticated."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return user.pk


def _session_id(request: HttpRequest, key: str) -> str | None:
    """A random id kept in ``request.session`` (made on first use), or ``None`` without
    Django's session middleware."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    value = session.get(key)
    if isinstance(value, str) and value:
        return value
    value = uuid.uuid4().hex
    session[key] = value
    return value
