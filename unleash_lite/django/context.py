"""The evaluation context of a Django request: ``userId`` (``request.user``), a sticky
``sessionId`` kept in the session, ``remoteAddress`` (``X-Forwarded-For`` only as far as it
was written by proxies you declared) and the configured context providers."""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.http import HttpRequest

from ..context import forwarded_address, merge_provided, request_fields, sticky_session_id
from .settings import DjangoOptions

LOGGER = logging.getLogger("unleash_lite.django")


def build_context(request: HttpRequest, options: DjangoOptions) -> dict[str, Any]:
    """The request's context: each part that fails is left out (logged at DEBUG)."""
    key = options.session_key
    context = request_fields(
        functools.partial(options.user_id or _user_pk, request),
        functools.partial(_session_id, request, key) if key else None,
        functools.partial(remote_address, request, options.trusted_proxy_count),
        LOGGER,
    )
    providers = (functools.partial(provider, request) for provider in options.context_providers)
    return merge_provided(context, providers, LOGGER)


def remote_address(request: HttpRequest, trusted_proxy_count: int) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind ``trusted_proxy_count`` proxies of
    yours the entry of ``X-Forwarded-For`` they wrote (see
    :func:`unleash_lite.context.forwarded_address`)."""
    return forwarded_address(
        request.META.get("REMOTE_ADDR"),
        request.META.get("HTTP_X_FORWARDED_FOR"),
        trusted_proxy_count,
    )


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
    return sticky_session_id(session, key)
