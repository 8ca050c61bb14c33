"""``unleash_lifespan``: one :class:`~unleash_lite.AsyncUnleashClient` per worker process,
created and started when the app starts (after the server forked its workers), ready within
a bound, on ``app.state.unleash``, and destroyed (last counts sent) when the app stops."""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from ..async_client import AsyncUnleashClient
from ..config import SETTINGS_KEYWORDS, settings_client_options

LOGGER = logging.getLogger("unleash_lite.asgi")

#: The attribute of ``app.state`` that holds the client.
STATE_ATTRIBUTE = "unleash"
DEFAULT_APP_NAME = "asgi"
DEFAULT_READY_TIMEOUT = 10.0
TOKEN_VARIABLE = "UNLEASH_API_TOKEN"

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def unleash_lifespan(
    lifespan: Lifespan | None = None,
    /,
    *,
    client: AsyncUnleashClient | Callable[[], AsyncUnleashClient] | None = None,
    api_token: str | None = None,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
    **client_keywords: Any,
) -> Lifespan:
    """A lifespan for ``FastAPI(lifespan=...)`` or ``Starlette(lifespan=...)``.

    At start-up it creates the client from ``client_keywords`` over the ``UNLEASH_*``
    environment variables (:func:`client_settings`; ``api_token`` becomes the
    ``Authorization`` header), starts it, waits at most ``ready_timeout`` seconds for its
    flags (then starts anyway, answering from the disk cache or defaults until they come,
    with a WARNING), and sets ``app.state.unleash``. At shutdown it destroys the client,
    which sends the last usage counts. With ``client``, that client is used instead (started
    if it was not, destroyed at shutdown: it serves one run of the app), or, when it is a
    function, the client it returns at each start (for an app started several times, as
    by one ``TestClient`` per test).

    ``lifespan`` is the app's own: it runs inside, so the client is ready when it starts and
    still running when it ends; what it yields (a state mapping) is passed on. To nest it the
    other way, enter this one from yours: ``async with unleash_lifespan(...)(app): ...``.

    Unusable settings raise when the app starts (``TypeError`` or ``ValueError`` naming the
    setting), so the server refuses to start rather than answer defaults.
    """
    if client is not None and (client_keywords or api_token is not None):
        raise TypeError("unleash_lifespan: give either client= or the client's settings, not both")
    if (
        isinstance(ready_timeout, bool)
        or not isinstance(ready_timeout, int | float)
        or not math.isfinite(ready_timeout)
        or ready_timeout < 0
    ):
        raise ValueError(f"ready_timeout must be a number of seconds >= 0, not {ready_timeout!r}")

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[Any]:
        if client is None:
            unleash = AsyncUnleashClient(**client_settings(os.environ, api_token, client_keywords))
        elif callable(client):
            unleash = client()
        else:
            unleash = client
        starting: asyncio.Task[None] | None = None
        try:
            if not unleash.is_initialized:
                starting = asyncio.create_task(unleash.initialize_client())
            await _until_ready(unleash, starting, ready_timeout)
            setattr(app.state, STATE_ATTRIBUTE, unleash)
            if lifespan is None:
                yield None
            else:
                async with lifespan(app) as state:
                    yield state
        finally:
            if starting is not None and not starting.done():  # still fetching: stop that first
                starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)
            await unleash.destroy()

    return run


async def _until_ready(
    client: AsyncUnleashClient, starting: asyncio.Task[None] | None, timeout: float
) -> None:
    """Wait for the start and the flags, ``timeout`` seconds in all; log when they miss it
    (the start goes on in the background)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    if starting is not None:
        await asyncio.wait({starting}, timeout=timeout)
        if starting.done():
            starting.result()  # a bug in the start is not hidden (network errors never raise)
    if not await client.wait_until_ready(max(0.0, deadline - loop.time())):
        LOGGER.warning(
            "Unleash: no flags within ready_timeout=%s s; the app starts and answers from "
            "the disk cache or defaults until they arrive",
            timeout,
        )


def client_settings(
    environ: Mapping[str, str], api_token: str | None, keywords: Mapping[str, Any]
) -> dict[str, Any]:
    """The :class:`~unleash_lite.AsyncUnleashClient` keyword arguments: the ``UNLEASH_*``
    variables of ``environ`` (the names Flask's ``app.config`` uses, docs/fastapi.md), each
    replaced by the keyword of the same meaning when one is given. ``UNLEASH_API_TOKEN`` (or
    ``api_token``, which wins) is sent as the ``Authorization`` header unless the
    ``custom_headers`` keyword has one; ``api_token`` with such a header raises
    ``ValueError``."""
    settings = {
        name: value
        for name, value in environ.items()
        if name in SETTINGS_KEYWORDS or name == TOKEN_VARIABLE
    }
    options = settings_client_options(settings, DEFAULT_APP_NAME)
    environment_headers = options.pop("custom_headers", {})  # only the token's, if any
    options.update(keywords)
    headers = dict(options.get("custom_headers") or {})
    has_authorization = any(str(name).lower() == "authorization" for name in headers)
    if api_token is not None:
        if not isinstance(api_token, str) or not api_token:
            raise ValueError("api_token must be a non-empty string")
        if has_authorization:
            raise ValueError("api_token and an Authorization header are both set; keep one")
        headers["Authorization"] = api_token
    elif not has_authorization:
        headers.update(environment_headers)
    if headers:
        options["custom_headers"] = headers
    return options
