"""FastAPI and Starlette: a lifespan that runs one :class:`~unleash_lite.AsyncUnleashClient`
per worker process, a pure ASGI middleware that makes each request's context current, and
FastAPI dependencies (see docs/fastapi.md)::

    from fastapi import Depends, FastAPI
    from unleash_lite.asgi import UnleashMiddleware, flag_required, unleash_lifespan

    app = FastAPI(lifespan=unleash_lifespan(app_name="checkout"))
    app.add_middleware(UnleashMiddleware, user_id=user_id_from_header("X-User-Id"))

    @app.get("/beta", dependencies=[Depends(flag_required("beta"))])
    async def beta() -> dict[str, str]: ...

Needs the ``[fastapi]`` extra (FastAPI, which brings Starlette and is what the
dependencies are written for; the lifespan and the middleware work in any Starlette app).
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "unleash_lite.asgi needs FastAPI (and Starlette): pip install 'unleash-lite[fastapi]'"
    ) from error

from .dependencies import flag_required, unleash_client, unleash_context, variant_of
from .lifespan import STATE_ATTRIBUTE, client_settings, unleash_lifespan
from .middleware import (
    DEFAULT_SESSION_COOKIE,
    UnleashMiddleware,
    build_context,
    request_context_of,
    user_id_from_header,
)

__all__ = [
    "DEFAULT_SESSION_COOKIE",
    "STATE_ATTRIBUTE",
    "UnleashMiddleware",
    "build_context",
    "client_settings",
    "flag_required",
    "request_context_of",
    "unleash_client",
    "unleash_context",
    "unleash_lifespan",
    "user_id_from_header",
    "variant_of",
]
