"""``AsyncUnleashClient``: the client for asyncio services, with no thread of its own.

Evaluation is the client core's, shared with :class:`~unleash_lite.UnleashClient`
(``is_enabled``, ``get_variant``, ``evaluate``... are plain, synchronous calls that never
wait). Fetching, registration and metrics are the sync client's :mod:`~.sync.synchronizer`
operations, performed as asyncio tasks on the loop that awaited :meth:`initialize_client`;
parsing flags and cache I/O run in that loop's default executor. Needs the ``[async]``
extra (aiohttp) only when it talks to a server.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from .bootstrap import BootstrapSource
from .cache import BaseCache
from .config import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_METRICS_INTERVAL,
    DEFAULT_REFRESH_INTERVAL,
    DEFAULT_REQUEST_RETRIES,
    DEFAULT_REQUEST_TIMEOUT,
    InstanceAllowType,
)
from .core import KEYWORDS_DOC, ClientCore, config_from_keywords
from .engine import BUILTIN_STRATEGIES
from .engine.strategies import CustomStrategy
from .sync.async_synchronizer import AsyncSynchronizer

LOGGER = logging.getLogger("unleash_lite")

__all__ = ["AsyncUnleashClient"]


class AsyncUnleashClient(ClientCore):
    """A feature-flag client for asyncio applications, drop-in compatible with the official
    ``AsyncUnleashClient`` (keywords as :class:`~unleash_lite.UnleashClient`'s, without
    ``scheduler``/``scheduler_executor``).

    ``await initialize_client()`` (or ``async with``) fetches the flags once and starts the
    background tasks; ``await destroy()`` stops them and sends the last metrics. Evaluations
    are synchronous and never wait. Unlike the official client it also runs from a
    ``bootstrap``, offline (``url=""``), and keeps a disk cache written off the loop.
    """

    def __init__(
        self,
        url: str,
        app_name: str,
        environment: str = "default",
        instance_id: str | None = None,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        refresh_jitter: float | None = None,
        metrics_interval: float = DEFAULT_METRICS_INTERVAL,
        metrics_jitter: float | None = None,
        disable_metrics: bool = False,
        disable_registration: bool = False,
        custom_headers: Mapping[str, str] | None = None,
        custom_options: Mapping[str, Any] | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        request_retries: int = DEFAULT_REQUEST_RETRIES,
        custom_strategies: Mapping[str, CustomStrategy] | None = None,
        cache_directory: str | None = None,
        project_name: str | None = None,
        verbose_log_level: int = 30,
        cache: BaseCache | None = None,
        multiple_instance_mode: InstanceAllowType = InstanceAllowType.WARN,
        event_callback: Callable[[Any], None] | None = None,
        sdk_flavor: str | None = None,
        sdk_flavor_version: str | None = None,
        bootstrap: BootstrapSource | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        experimental_mode: Mapping[str, str] | None = None,
        use_request_context: bool = False,
    ) -> None:
        self._ready_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        config = config_from_keywords(locals())
        if not config.offline:
            from .sync.aiohttp_transport import check_options

            check_options({k: v for k, v in config.custom_options.items() if k != "timeout"})
        self._closed = False
        super().__init__(
            config,
            custom_strategies=custom_strategies,
            cache=cache,
            multiple_instance_mode=multiple_instance_mode,
            event_callback=event_callback,
            bootstrap=bootstrap,
            read_cache_now=False,  # file I/O: initialize_client() reads it off the loop
        )
        self._sync: AsyncSynchronizer | None = None
        if self.cache is not None and not self.config.offline:
            self._sync = AsyncSynchronizer(
                self.config,
                self._loader,
                self.metrics,
                (*BUILTIN_STRATEGIES, *self.custom_strategies),
            )

    async def initialize_client(self, fetch_toggles: bool = True) -> None:
        """Read the disk cache (off the loop), fetch the flags once (awaited, bounded by
        ``request_timeout``), then poll every ``refresh_interval``, register, and send
        metrics every ``metrics_interval``, as tasks on the running loop.

        With ``fetch_toggles=False`` the client only re-reads the shared cache that another
        process keeps fresh. Never raises for network problems: they are logged and retried
        with backoff while the client answers from its last good flags. A second call, or a
        call after :meth:`destroy`, warns and does nothing.
        """
        if self.is_initialized or self._closed:
            warnings.warn(
                "Attempted to initialize an Unleash client that is already initialized "
                "(or destroyed)",
                stacklevel=2,
            )
            return
        self.is_initialized = True
        self._open_events()
        if self._sync is None:
            return
        loop = asyncio.get_running_loop()
        if not self.unleash_bootstrapped:
            await loop.run_in_executor(None, self._loader.start_from_cache)
            self.unleash_bootstrapped = self._loader.bootstrapped
        await self._sync.start(fetch_toggles, have_flags=self.is_ready())
        if not self.is_ready():
            LOGGER.warning(
                "Unleash has no flags yet: the first fetch did not succeed and "
                "there is no bootstrap or cached copy; answering defaults"
            )

    async def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Wait, without blocking the loop, until the client holds flags, or ``timeout``
        seconds; returns ``is_ready()``."""
        if self.is_ready():
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._ready_waiters.append((loop, waiter))
        if self.is_ready():  # became ready while registering: its signal may have passed
            return True
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            pass
        finally:
            if (loop, waiter) in self._ready_waiters:
                self._ready_waiters.remove((loop, waiter))
        return self.is_ready()

    async def flush_metrics(self, timeout: float | None = None) -> bool:
        """Send the counts not yet sent, now, within ``timeout`` seconds (default
        ``request_timeout``). Returns whether nothing is left unsent."""
        if self._sync is None:
            return True
        budget = self.config.request_timeout if timeout is None else timeout
        return await self._sync.send_metrics(budget=budget)

    async def destroy(self) -> None:
        """Stop the tasks, send the last metrics and close the connections, all within
        ``request_timeout``. Cache files are kept: other processes may be using them.
        Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        if self._sync is not None and self.is_initialized:
            await self._sync.stop(flush_budget=self.config.request_timeout)
        elif self._sync is not None:  # flush_metrics() may have opened connections
            await self._sync.transport.close()
        events = self._events
        self._events = None  # closed below, off the loop: a callback may still be running
        self._release()
        if events is not None:
            await asyncio.get_running_loop().run_in_executor(None, events.close, 1.0)

    async def __aenter__(self) -> AsyncUnleashClient:
        await self.initialize_client()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.destroy()

    def _became_ready(self) -> None:
        for loop, waiter in list(self._ready_waiters):
            try:
                loop.call_soon_threadsafe(_resolve, waiter)
            except RuntimeError:  # that loop is closed
                LOGGER.debug("a readiness waiter's loop is closed")


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


AsyncUnleashClient.__doc__ = (AsyncUnleashClient.__doc__ or "") + KEYWORDS_DOC
