"""FastAPI dependencies: the client, the request's context, a flag gate and a variant.

Each is a plain function FastAPI resolves, so ``app.dependency_overrides`` replaces it in
tests; ``flag_required(name)`` and ``variant_of(name)`` give the same function for the
same arguments, so they can be overridden too, and both take the client and the context
through ``unleash_client`` and ``unleash_context`` (override those to change every flag).
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at run time.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from .. import Variant
from ..async_client import AsyncUnleashClient
from .lifespan import STATE_ATTRIBUTE
from .middleware import ContextOptions, build_context, request_context_of

_DEFAULT_OPTIONS = ContextOptions()
_GATES: dict[tuple[str, int], Callable[..., Awaitable[None]]] = {}
_VARIANTS: dict[str, Callable[..., Awaitable[Variant]]] = {}


async def unleash_client(connection: HTTPConnection) -> AsyncUnleashClient:
    """``Depends(unleash_client)``: the app's client (``app.state.unleash``, set by
    :func:`~unleash_lite.asgi.unleash_lifespan`). Raises ``RuntimeError`` (a 500) when the
    app has none: the lifespan is missing."""
    client = getattr(connection.app.state, STATE_ATTRIBUTE, None)
    if client is None:
        raise RuntimeError(
            "the app has no Unleash client: create it with lifespan=unleash_lifespan(...)"
        )
    unleash: AsyncUnleashClient = client
    return unleash


async def unleash_context(connection: HTTPConnection) -> dict[str, Any]:
    """``Depends(unleash_context)``: the request's context (a new dict, yours to change), as
    :class:`~unleash_lite.asgi.UnleashMiddleware` builds it; without the middleware, the
    connection's ``userId`` (Starlette's ``request.user``) and ``remoteAddress``."""
    context = request_context_of(connection.scope)
    if context is not None:
        return dict(context.resolve())
    return build_context(connection.scope, _DEFAULT_OPTIONS)


Client = Annotated[AsyncUnleashClient, Depends(unleash_client)]
RequestContext = Annotated[dict[str, Any], Depends(unleash_context)]


def flag_required(feature_name: str, *, status_code: int = 404) -> Callable[..., Awaitable[None]]:
    """``Depends(flag_required("beta"))``: the route runs only when ``feature_name`` is on for
    the request; otherwise ``HTTPException(status_code)`` (404 by default: the page does not
    exist for this user). The same function for the same arguments."""
    if not isinstance(feature_name, str) or not feature_name:
        raise TypeError("flag_required needs the flag's name, e.g. flag_required('beta')")
    key = (feature_name, status_code)
    gate = _GATES.get(key)
    if gate is None:

        async def gate(client: Client, context: RequestContext) -> None:
            if not client.is_enabled(feature_name, context):
                raise HTTPException(status_code)

        gate.__name__ = gate.__qualname__ = f"flag_required({feature_name!r})"
        gate = _GATES.setdefault(key, gate)
    return gate


def variant_of(feature_name: str) -> Callable[..., Awaitable[Variant]]:
    """``variant: Variant = Depends(variant_of("checkout-button"))``: the flag's variant for
    the request (the ``disabled`` variant when the flag is off or unknown). The same
    function for the same name."""
    if not isinstance(feature_name, str) or not feature_name:
        raise TypeError("variant_of needs the flag's name, e.g. variant_of('checkout-button')")
    dependency = _VARIANTS.get(feature_name)
    if dependency is None:

        async def dependency(client: Client, context: RequestContext) -> Variant:
            return client.get_variant(feature_name, context)

        dependency.__name__ = dependency.__qualname__ = f"variant_of({feature_name!r})"
        dependency = _VARIANTS.setdefault(feature_name, dependency)
    return dependency
