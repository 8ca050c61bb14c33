"""A checkout service whose new flow sits behind an Unleash flag, wired with
``unleash_lite.asgi``.

``unleash_lifespan`` runs one client per worker process: it starts after uvicorn has
started (and forked) the worker, waits (bounded) for the first flags, and destroys the
client at shutdown, which sends the last usage counts. ``UnleashMiddleware`` makes each
request's context current (the user from the ``user`` query parameter, for the demo), so
code that never sees the request evaluates for its user (``use_request_context=True``).

Settings come from the environment (read by the lifespan): ``UNLEASH_URL``,
``UNLEASH_API_TOKEN``, ``UNLEASH_APP_NAME``, ``UNLEASH_REFRESH_INTERVAL``,
``UNLEASH_METRICS_INTERVAL``, ``UNLEASH_CACHE_DIRECTORY``...; the flag is ``CHECKOUT_FLAG``
(default ``new_checkout``).
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from starlette.requests import HTTPConnection

from unleash_lite import AsyncUnleashClient
from unleash_lite.asgi import (
    UnleashMiddleware,
    flag_required,
    unleash_client,
    unleash_context,
    unleash_lifespan,
)

FLAG = os.environ.get("CHECKOUT_FLAG", "new_checkout")

Unleash = Annotated[AsyncUnleashClient, Depends(unleash_client)]
Context = Annotated[dict[str, Any], Depends(unleash_context)]


def user_of(request: HTTPConnection) -> str | None:
    return request.query_params.get("user")  # a real service: its authenticated user


app = FastAPI(lifespan=unleash_lifespan(use_request_context=True))
app.add_middleware(UnleashMiddleware, user_id=user_of)


def uses_new_flow(client: AsyncUnleashClient) -> bool:
    """Deep in the service: no request and no context here, the request's is used."""
    return client.is_enabled(FLAG)


@app.get("/checkout")
async def checkout(client: Unleash, context: Context) -> dict[str, Any]:
    flow = "new" if uses_new_flow(client) else "classic"
    return {"flow": flow, "pid": os.getpid(), "context": context}


@app.get("/new-checkout", dependencies=[Depends(flag_required(FLAG))])
async def new_checkout() -> dict[str, Any]:
    """Exists only for users the flag is on for (404 otherwise)."""
    return {"flow": "new", "pid": os.getpid()}


@app.get("/health")
async def health(client: Unleash) -> dict[str, Any]:
    return {"ready": client.is_ready(), "pid": os.getpid()}
