"""One test body for both clients: ``UnleashClient`` ("sync") and ``AsyncUnleashClient``
("async").

A :class:`Driven` client answers like the client it wraps (every attribute is the client's)
but its lifecycle calls are the sync client's, blocking: ``initialize_client()``,
``destroy()``, ``flush_metrics()``, ``wait_until_ready()``. For the async client each is
awaited on a :class:`LoopThread`, an event loop running on a thread of the test's, so the
test body stays synchronous and the same lines test both clients. ``poll()``,
``send_metrics()`` and ``interval()`` run a periodic job by hand and read its next interval.

The ``kind`` fixture (``tests/conftest.py``) parametrizes a test over :data:`KINDS`; the
``make_driven`` fixture is a :class:`DrivenFactory` of that kind, with the test defaults of
:mod:`tests.support.clients`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from tests.support.clients import client_settings
from tests.support.doubles import StubScheduler
from tests.support.helpers import stop_without_flush
from unleash_lite import AsyncUnleashClient, UnleashClient

KINDS = ("sync", "async")
T = TypeVar("T")


class LoopThread:
    """An asyncio event loop running on a thread of its own (not one of the client's:
    its name does not start with ``unleash-lite``)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="test-event-loop", daemon=True
        )
        self.thread.start()

    def run(self, work: Awaitable[T], timeout: float = 60) -> T:
        """Await ``work`` on the loop; its result (or exception)."""
        return asyncio.run_coroutine_threadsafe(_awaited(work), self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop after its default executor, and close it."""
        if self.loop.is_closed():
            return
        self.run(self.loop.shutdown_default_executor())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def _awaited(work: Awaitable[T]) -> T:
    return await work


class Driven:
    """A client of either kind with the sync client's blocking lifecycle (see the module)."""

    def __init__(
        self,
        client: UnleashClient | AsyncUnleashClient,
        loop: LoopThread | None = None,
        scheduler: StubScheduler | None = None,
        stubbed: bool = False,
    ) -> None:
        self.client = client
        self.loop = loop
        self.scheduler = scheduler  # the sync client's, when stubbed
        self.stubbed = stubbed  # no periodic job runs by itself: poll()/send_metrics() do

    @property
    def kind(self) -> str:
        return "async" if self.loop is not None else "sync"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def __repr__(self) -> str:
        return f"Driven({self.client!r})"

    def _run(self, work: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        assert self.loop is not None
        return self.loop.run(work, timeout)

    # -- the lifecycle, blocking -----------------------------------------------------------

    def initialize_client(self, fetch_toggles: bool = True) -> None:
        if isinstance(self.client, UnleashClient):
            self.client.initialize_client(fetch_toggles)
            return
        self._run(self.client.initialize_client(fetch_toggles))
        if self.stubbed:
            self._run(_cancel_periodic_tasks(self.client))

    def destroy(self) -> None:
        if isinstance(self.client, UnleashClient):
            self.client.destroy()
        else:
            self._run(self.client.destroy())

    def flush_metrics(self, timeout: float | None = None) -> bool:
        if isinstance(self.client, UnleashClient):
            return self.client.flush_metrics(timeout)
        return self._run(self.client.flush_metrics(timeout))

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        if isinstance(self.client, UnleashClient):
            return self.client.wait_until_ready(timeout)
        return self._run(self.client.wait_until_ready(timeout))

    # -- the periodic jobs, by hand ----------------------------------------------------------

    def poll(self) -> None:
        """One poll, as the periodic job makes it (never raises)."""
        sync = self.client._sync
        assert sync is not None
        if isinstance(self.client, UnleashClient):
            self.client._sync.poll()  # type: ignore[union-attr]
        else:
            self._run(self.client._sync.poll())  # type: ignore[union-attr]

    def send_metrics(self) -> bool:
        """One metrics send, as the periodic job makes it (never raises)."""
        if isinstance(self.client, UnleashClient):
            return self.client._sync.send_metrics()  # type: ignore[union-attr]
        return self._run(self.client._sync.send_metrics())  # type: ignore[union-attr]

    def register(self) -> None:
        """The registration, now (never raises)."""
        if isinstance(self.client, UnleashClient):
            self.client._sync.register()  # type: ignore[union-attr]
        else:
            sync = self.client._sync
            assert sync is not None
            self._run(sync.run(sync.register_steps()))

    def interval(self, job: str) -> float:
        """Seconds the periodic ``job`` ("poll" or "metrics") waits before its next run.

        The sync client's scheduler holds it; the async client's tasks read their
        backoff's delay before each wait."""
        sync = self.client._sync
        assert sync is not None
        if self.scheduler is not None:
            return self.scheduler.interval(job)
        if isinstance(self.client, UnleashClient):
            seconds = self.client._sync.runner.interval(job)  # type: ignore[union-attr]
            assert seconds is not None, f"no {job} job"
            return seconds
        backoff = sync.features_backoff if job == "poll" else sync.metrics_backoff
        return backoff.delay

    def stop_without_flush(self) -> None:
        """Stop the background work, without the final metrics flush."""
        if isinstance(self.client, UnleashClient):
            stop_without_flush(self.client)
            return
        if self.client.is_initialized and self.client._sync is not None:
            self._run(self.client._sync.stop(flush_budget=None))
            self.client.is_initialized = False


async def _cancel_periodic_tasks(client: AsyncUnleashClient) -> None:
    """What the sync client's stub scheduler is to it: the poll and metrics tasks never
    run by themselves (registration, a one-off, goes on)."""
    assert client._sync is not None
    for name in ("poll", "metrics"):
        task = client._sync._tasks.get(name)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class DrivenFactory:
    """Builds :class:`Driven` clients of one kind with the test defaults (as
    :class:`~tests.support.clients.ClientFactory`), and ends them with :meth:`close`."""

    def __init__(self, kind: str, cache_directory: Path, **defaults: Any) -> None:
        assert kind in KINDS
        self.kind = kind
        self.cache_directory = cache_directory
        self.defaults = defaults
        self.made: list[Driven] = []
        # the event loop of this test's async clients
        self.loop = LoopThread() if kind == "async" else None

    def __call__(self, url: str, app_name: str | None = None, **options: Any) -> Driven:
        return self._make(url, app_name, stubbed=False, **options)

    def stubbed(self, url: str, app_name: str | None = None, **options: Any) -> Driven:
        """A client whose periodic jobs never run by themselves: the test calls
        ``poll()`` and ``send_metrics()`` (the sync client's on a ``StubScheduler``)."""
        return self._make(url, app_name, stubbed=True, **options)

    def with_defaults(self, **defaults: Any) -> DrivenFactory:
        self.defaults.update(defaults)
        return self

    def _make(self, url: str, app_name: str | None, stubbed: bool, **options: Any) -> Driven:
        settings = {**self.defaults, **options}
        if app_name is not None:
            settings["app_name"] = app_name
        cache_directory = settings.pop("cache_directory", self.cache_directory)
        settings = client_settings(cache_directory, **settings)
        name = settings.pop("app_name")
        if self.kind == "sync":
            scheduler = StubScheduler() if stubbed else None
            if scheduler is not None:
                settings["scheduler"] = scheduler
            driven = Driven(UnleashClient(url, name, **settings), scheduler=scheduler)
        else:
            client = AsyncUnleashClient(url, name, **settings)
            driven = Driven(client, self.loop, stubbed=stubbed)
        self.made.append(driven)
        return driven

    def close(self) -> None:
        for driven in reversed(self.made):
            driven.stop_without_flush()
            driven.destroy()
        if self.loop is not None:
            self.loop.close()
