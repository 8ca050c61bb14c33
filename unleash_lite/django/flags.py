"""``request.unleash``: flag checks with the request's context."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest

from .. import EvaluationDetail, Reason, Variant
from ..client import FallbackFunction
from ..context import LazyContext, current_request_context, merge_contexts
from .context import build_context
from .registry import client_or_none, unleash_settings

LOGGER = logging.getLogger("unleash_lite.django")

REQUEST_ATTRIBUTE = "unleash"


class RequestFlags:
    """What ``request.unleash`` is: ``is_enabled``, ``get_variant`` and ``evaluate`` of the
    process's client, with the request's context (``userId``, ``sessionId``,
    ``remoteAddress``, the context providers) under the context you pass. Never raises:
    without a usable client (``settings.UNLEASH`` broken) flags answer their defaults."""

    __slots__ = ("_context",)

    def __init__(self, context: LazyContext) -> None:
        self._context = context

    @property
    def context(self) -> LazyContext:
        """The request's context, a read-only mapping built on first read (``.resolve()``
        gives the dict)."""
        return self._context

    def context_with(self, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The request's context with ``context`` merged over it (``properties`` key by
        key): a new dict."""
        if context is not None and not isinstance(context, Mapping):
            LOGGER.debug("Unleash: ignoring a context of type %s", type(context).__name__)
            context = None
        return merge_contexts(self._context.resolve(), context or {})

    def _for(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        """The context a check uses: the request's own dict when nothing is added (the
        client reads contexts, never changes them), else :meth:`context_with`."""
        return self._context.resolve() if context is None else self.context_with(context)

    def is_enabled(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None = None,
        fallback_function: FallbackFunction | None = None,
    ) -> bool:
        """``client.is_enabled`` with the request's context."""
        client = client_or_none()
        if client is not None:
            return client.is_enabled(feature_name, self._for(context), fallback_function)
        if fallback_function is not None:
            try:
                return bool(fallback_function(feature_name, self.context_with(context)))
            except Exception:
                LOGGER.debug("Unleash: the fallback of %r failed", feature_name, exc_info=True)
        return False

    async def ais_enabled(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None = None,
        fallback_function: FallbackFunction | None = None,
    ) -> bool:
        """:meth:`is_enabled` for async code: a context not built yet (the user and the
        session may need the database) is built in a thread first."""
        await self._built()
        return self.is_enabled(feature_name, context, fallback_function)

    async def aget_variant(
        self, feature_name: str, context: Mapping[str, Any] | None = None
    ) -> Variant:
        """:meth:`get_variant` for async code (see :meth:`ais_enabled`)."""
        await self._built()
        return self.get_variant(feature_name, context)

    async def aevaluate(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None = None,
        fallback_function: FallbackFunction | None = None,
    ) -> EvaluationDetail:
        """:meth:`evaluate` for async code (see :meth:`ais_enabled`)."""
        await self._built()
        return self.evaluate(feature_name, context, fallback_function)

    async def _built(self) -> None:
        if not self._context.resolved:
            await sync_to_async(self._context.resolve)()

    def get_variant(self, feature_name: str, context: Mapping[str, Any] | None = None) -> Variant:
        """``client.get_variant`` with the request's context."""
        client = client_or_none()
        if client is not None:
            return client.get_variant(feature_name, self._for(context))
        return {"name": "disabled", "enabled": False, "feature_enabled": False}

    def evaluate(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None = None,
        fallback_function: FallbackFunction | None = None,
    ) -> EvaluationDetail:
        """``client.evaluate`` (the answer with its reason) with the request's context."""
        client = client_or_none()
        if client is not None:
            return client.evaluate(feature_name, self._for(context), fallback_function)
        return EvaluationDetail(
            feature_name,
            self.is_enabled(feature_name, context, fallback_function),
            self.get_variant(feature_name),
            Reason.FALLBACK,
            "Unleash is not usable: settings.UNLEASH is missing or broken (see the error log)",
        )

    def __repr__(self) -> str:
        return f"<RequestFlags {self._context!r}>"


def request_context(request: HttpRequest) -> LazyContext:
    """A lazy context for ``request`` with the settings' options (an empty one, logged,
    when ``settings.UNLEASH`` is unusable)."""

    def build() -> dict[str, Any]:
        try:
            options = unleash_settings().options
        except Exception:
            LOGGER.debug("Unleash: settings.UNLEASH unusable; empty context", exc_info=True)
            return {}
        return build_context(request, options)

    return LazyContext(build)


def flags_for(request: HttpRequest) -> RequestFlags:
    """``request.unleash``, set by the middleware; made (and kept on the request) here for
    a request the middleware did not see."""
    flags = getattr(request, REQUEST_ATTRIBUTE, None)
    if isinstance(flags, RequestFlags):
        return flags
    flags = RequestFlags(request_context(request))
    setattr(request, REQUEST_ATTRIBUTE, flags)
    return flags


def current_flags(request: HttpRequest | None = None) -> RequestFlags:
    """Flag checks for ``request`` (:func:`flags_for`), or, without one (a template rendered
    outside a request, a job), with the current request context variable
    (``unleash_lite.context.request_context``), else an empty context."""
    if request is not None:
        return flags_for(request)
    return RequestFlags(LazyContext(lambda: dict(current_request_context() or {})))
