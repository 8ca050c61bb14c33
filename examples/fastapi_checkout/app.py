"""A checkout service whose new flow sits behind an Unleash flag.

The client lives as long as the worker process: the lifespan creates it after uvicorn has
started (and forked) the worker, awaits its first fetch, and awaits ``destroy()`` at
shutdown, which sends the last usage counts. Endpoints evaluate flags with plain calls:
evaluation is local and never waits.

Settings come from the environment: ``UNLEASH_URL``, ``UNLEASH_API_TOKEN``,
``UNLEASH_APP_NAME`` (default ``checkout``), ``CHECKOUT_FLAG`` (default ``new_checkout``),
``UNLEASH_REFRESH_INTERVAL`` and ``UNLEASH_METRICS_INTERVAL`` (seconds) and
``UNLEASH_CACHE_DIRECTORY``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

from unleash_lite import AsyncUnleashClient


def flag_name() -> str:
    return os.environ.get("CHECKOUT_FLAG", "new_checkout")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    environment = os.environ
    async with AsyncUnleashClient(
        url=environment["UNLEASH_URL"],
        app_name=environment.get("UNLEASH_APP_NAME", "checkout"),
        custom_headers={"Authorization": environment["UNLEASH_API_TOKEN"]},
        refresh_interval=float(environment.get("UNLEASH_REFRESH_INTERVAL", "15")),
        metrics_interval=float(environment.get("UNLEASH_METRICS_INTERVAL", "60")),
        cache_directory=environment.get("UNLEASH_CACHE_DIRECTORY"),
    ) as client:
        app.state.unleash = client
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/checkout")
async def checkout(request: Request, user: str = "anonymous") -> dict[str, Any]:
    client: AsyncUnleashClient = request.app.state.unleash
    new_flow = client.is_enabled(flag_name(), {"userId": user})
    return {"flow": "new" if new_flow else "classic", "pid": os.getpid()}


@app.get("/health")
async def health(request: Request) -> dict[str, Any]:
    client: AsyncUnleashClient = request.app.state.unleash
    return {"ready": client.is_ready(), "pid": os.getpid()}
