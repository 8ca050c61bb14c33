"""Keeping an async client's flags fresh and reporting its usage, as asyncio tasks.

The same :class:`~.synchronizer.Operations` as the sync client, performed by
:func:`~.steps.drive_async`: requests and reads are awaited, parsing and compiling flags and
cache I/O run in the loop's default executor, so the event loop never waits on the network
or the disk. No thread of its own. In streaming mode a task keeps the stream
(:mod:`.async_stream`) and the poll task is paused while the flags stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from ..config import ClientConfig
from .async_stream import AsyncStream
from .backoff import Backoff
from .http import ApiCalls
from .loader import FlagLoader
from .metrics import MetricsRegistry
from .scheduler import Job
from .steps import AsyncTransport, Steps, drive_async
from .synchronizer import Operations

LOGGER = logging.getLogger("unleash_lite")
T = TypeVar("T")


class AsyncSynchronizer(Operations):
    """:class:`~.synchronizer.Operations` on the running event loop: a poll task, a metrics
    task and a one-off registration task (and a streaming task in streaming mode)."""

    def __init__(
        self,
        config: ClientConfig,
        loader: FlagLoader,
        metrics: MetricsRegistry,
        strategy_names: Iterable[str],
        transport: AsyncTransport | None = None,
    ) -> None:
        super().__init__(config, loader, metrics, strategy_names, ApiCalls(config))
        self.stream: AsyncStream | None = None
        if config.streaming:  # on a transport of its own unless one is given
            self.stream = AsyncStream(config, self.calls, loader, transport)
            self.stream_state = self.stream.state
        if transport is None:
            from .aiohttp_transport import AiohttpTransport  # the [async] extra

            transport = AiohttpTransport(self.calls.transport_options)
        self.transport: AsyncTransport = transport
        self.active = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping: asyncio.Event | None = None
        self._send_lock: asyncio.Lock | None = None

    async def run(self, steps: Steps[T]) -> T:
        """Perform ``steps`` on the running loop."""
        return await drive_async(steps, self.transport)

    async def start(self, fetch_toggles: bool = True, have_flags: bool = False) -> None:
        """Fetch the flags once (awaited, bounded by ``request_timeout``; one attempt when
        the client already has flags), then start the periodic tasks.

        Streaming: the stream's first state, awaited up to ``request_timeout`` (not when
        the client has flags), stands for the fetch; without it (or when the server cannot
        stream) the flags are fetched once, as when polling."""
        self.fetch_toggles = fetch_toggles
        self.active = True
        self._stopping = asyncio.Event()
        self._send_lock = asyncio.Lock()
        if fetch_toggles:
            stream = self.stream
            if stream is not None:
                stream.start()
                await stream.wait_settled(0.0 if have_flags else self.config.request_timeout)
            if stream is None or not (stream.connected and stream.streaming):
                await self.poll(retries=0 if have_flags else None, scheduled=False)
        else:
            await self.reload_cache()
        refresh = self.poll if fetch_toggles else self.reload_cache
        self._spawn("poll", self._every(refresh, self.features_backoff, self.config.refresh_jitter))
        if not self.config.disable_metrics:
            self._spawn(
                "metrics",
                self._every(self.send_metrics, self.metrics_backoff, self.config.metrics_jitter),
            )
        if not self.config.disable_registration:
            self._spawn("register", self.run(self.register_steps()))

    async def poll(self, retries: int | None = None, scheduled: bool = True) -> None:
        """:meth:`~.synchronizer.Operations.poll_steps`, now (what the poll task runs).
        ``scheduled``: skipped while the flags stream (the poll task is paused then)."""
        if scheduled and self.stream is not None and self.stream.streaming:
            return
        await self.run(self.poll_steps(retries))

    async def reload_cache(self) -> None:
        """:meth:`~.synchronizer.Operations.reload_cache_steps`, now."""
        await self.run(self.reload_cache_steps())

    async def send_metrics(self, budget: float | None = None) -> bool:
        """Send the counts not yet accepted by the server, waiting for a send in progress
        within ``budget`` (which then reports the counts). Returns whether nothing is left
        unsent."""
        lock = self._send_lock
        if lock is None:  # never started
            lock = self._send_lock = asyncio.Lock()
        try:
            await asyncio.wait_for(lock.acquire(), budget)
        except TimeoutError:
            return False
        try:
            return await self.run(self.send_metrics_steps(budget))
        finally:
            lock.release()

    async def stop(self, flush_budget: float | None) -> None:
        """Stop the tasks, send the last metrics within ``flush_budget`` seconds (``None``:
        no flush), close the connections."""
        self.active = False
        deadline = time.monotonic() + (flush_budget or 0.0)
        if self._stopping is not None:
            self._stopping.set()  # the metrics task ends after a send in progress
        if self.stream is not None:
            await self.stream.stop()  # at once, even mid-read
        for name in ("poll", "register"):
            task = self._tasks.get(name)
            if task is not None:
                task.cancel()
        if flush_budget is not None and not self.config.disable_metrics:
            await self.send_metrics(budget=flush_budget)
        tasks = list(self._tasks.values())
        self._tasks.clear()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(deadline - time.monotonic(), 0.0))
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
        await self.transport.close()

    def _spawn(self, name: str, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work, name=f"unleash-lite-{name}")
        self._tasks[name] = task
        task.add_done_callback(_log_crash)

    async def _every(
        self, work: Callable[[], Awaitable[Any]], backoff: Backoff, jitter: float | None
    ) -> None:
        """Await ``work()`` after each interval (``backoff``'s delay, plus up to ``jitter``
        seconds), until :meth:`stop`."""
        stopping = self._stopping
        assert stopping is not None
        schedule = Job("interval", work, backoff.delay, jitter)
        while not stopping.is_set():
            schedule.interval = backoff.delay
            now = time.monotonic()
            schedule.schedule_next(now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), schedule.due - now)
            if stopping.is_set():
                return
            await work()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        LOGGER.debug(
            "Unleash background task %s failed", task.get_name(), exc_info=task.exception()
        )
