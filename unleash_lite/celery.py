"""Celery integration: one client in each worker process that runs tasks, created there,
its last counts delivered when the process ends.

::

    from celery import Celery
    from unleash_lite import UnleashClient
    from unleash_lite.celery import setup

    app = Celery("tasks", broker="redis://127.0.0.1:6379/0")
    unleash = setup(
        app, lambda: UnleashClient(URL, "my-worker", custom_headers={"Authorization": TOKEN})
    )

    @app.task
    def checkout(order_id: int) -> None:
        if unleash.client.is_enabled("new-checkout"):
            ...

Install with ``pip install 'unleash-lite[celery]'``. See ``docs/celery.md``.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

try:
    from celery import Celery, current_app, signals
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "unleash_lite.celery needs Celery: pip install 'unleash-lite[celery]'"
    ) from error

from .client import UnleashClient

__all__ = ["WorkerClient", "destroy_with_worker", "setup"]

_SET_UP: weakref.WeakSet[Celery] = weakref.WeakSet()  # the apps setup() was called for

# The part of Celery's worker_proc_alive_timeout (4 s by default) a new pool child may
# spend waiting for its client's first fetch: a child that has not reported for work when
# that timeout passes is killed by the worker (and the next one would be killed too).
START_WAIT_SHARE = 0.5


def setup(app: Celery, client_factory: Callable[[], UnleashClient]) -> WorkerClient:
    """Give each Celery worker process that runs ``app``'s tasks a client of its own.

    ``client_factory`` returns a new client, not yet initialized (``initialize_client()``
    is called for it). It is called, and the client initialized:

    * in each child of the prefork pool, after the fork (``worker_process_init``), children
      that replace recycled ones (``--max-tasks-per-child``) included; the main worker
      process of a prefork worker runs no task and creates no client;
    * in the main worker process with any other pool (solo, threads...), at
      ``worker_init``;
    * elsewhere (a process that sends tasks, a test running tasks eagerly), only when
      ``.client`` is first read there: a process that only sends tasks starts nothing.

    The first fetch may hold the process for at most half of
    ``worker_proc_alive_timeout`` (2 s by default), then goes on in the background: a
    hanging server never makes Celery kill a child for being slow to start. When the
    process ends (a child leaving on a warm shutdown or recycled, the main worker process
    shutting down) its client is destroyed, which sends its last counts.

    Tasks read the client of the process they run in from the returned object's
    ``.client``. Call it once per app: a second call for the same app raises
    ``RuntimeError``.
    """
    if app in _SET_UP:
        raise RuntimeError(f"unleash_lite.celery.setup() was already called for {app!r}")
    handle = WorkerClient(app, client_factory)
    _SET_UP.add(app)
    return handle


class WorkerClient:
    """The client of the current process for one Celery app (see :func:`setup`)."""

    def __init__(self, app: Celery, client_factory: Callable[[], UnleashClient]) -> None:
        self._app = app
        self._factory = client_factory
        self._lock = threading.Lock()
        self._client: UnleashClient | None = None
        self._starter: threading.Thread | None = None
        self._pid = 0  # the process the client was created in
        self._ended = False  # whether that process ended (and destroyed the client)
        # A lock held by another thread of the parent at a fork would stay held in the child.
        os.register_at_fork(after_in_child=self._after_fork)
        uid = f"unleash-lite-setup-{id(self)}"
        # Celery keeps weak references by default, which would drop bound methods at once.
        signals.worker_init.connect(self._on_worker_init, weak=False, dispatch_uid=uid)
        signals.worker_process_init.connect(self._on_child_init, weak=False, dispatch_uid=uid)
        _on_process_end(self._on_process_end, uid)

    @property
    def client(self) -> UnleashClient:
        """This process's client; created (and initialized) now if it has none yet. Once
        the process has ended (a task still running at shutdown) the client is destroyed
        but keeps answering from its last flags."""
        client = self._client
        if client is not None and self._pid == os.getpid():
            return client
        with self._lock:
            return self._start()

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def _start(self) -> UnleashClient:
        """This process's client, created and started now if it has none (under the lock)."""
        if self._client is not None and self._pid == os.getpid():
            return self._client
        client = self._factory()
        self._client, self._pid, self._ended = client, os.getpid(), False
        if client.is_initialized:
            return client
        starter = threading.Thread(
            target=client.initialize_client, name="unleash-lite-celery-start", daemon=True
        )
        starter.start()
        starter.join(self._start_wait())
        self._starter = starter
        return client

    def _start_wait(self) -> float:
        return float(self._app.conf.worker_proc_alive_timeout) * START_WAIT_SHARE

    def _on_worker_init(self, sender: Any = None, **_: Any) -> None:
        """In the main worker process: its client, unless a prefork pool runs the tasks."""
        if getattr(sender, "app", None) is not self._app:
            return
        from celery.concurrency import get_implementation
        from celery.concurrency.prefork import TaskPool

        pool = get_implementation(sender.pool_cls)
        if isinstance(pool, type) and issubclass(pool, TaskPool):
            return  # each child creates its own, after the fork
        with self._lock:
            self._start()

    def _on_child_init(self, **_: Any) -> None:
        """In a prefork pool child, after the fork: a client of its own (the solo pool
        sends this signal too, in the main worker process, which has one by then)."""
        if current_app._get_current_object() is not self._app:
            return
        with self._lock:
            self._start()

    def _on_process_end(self, sender: Any = None, **_: Any) -> None:
        app = getattr(sender, "app", None)  # worker_shutdown's sender is the worker
        if app is not None and app is not self._app:
            return
        with self._lock:
            client, starter = self._client, self._starter
            if client is None or self._pid != os.getpid() or self._ended:
                return
            self._ended, self._starter = True, None
        if starter is not None:  # its first fetch is bounded by request_timeout
            starter.join(client.config.request_timeout)
        client.destroy()


def destroy_with_worker(client: UnleashClient) -> None:
    """Destroy ``client`` (so its last counts are sent, bounded by ``request_timeout``)
    when a Celery worker process shuts down: for a client you create yourself, at import
    (:func:`setup` creates one in each worker process instead).

    Connects to ``worker_process_shutdown``, sent in each prefork pool child as it ends
    (warm shutdown, or recycling by ``--max-tasks-per-child`` / ``--max-memory-per-child``):
    such a child leaves through ``os._exit``, so neither ``atexit`` nor a
    ``multiprocessing`` finalizer runs there. Also connects to ``worker_shutdown``, sent in
    the main worker process (where the solo and thread pools run their tasks). Calling it
    again for the same client connects nothing more.
    """

    def on_shutdown(**_: Any) -> None:
        client.destroy()

    _on_process_end(on_shutdown, f"unleash-lite-destroy-{id(client)}")


def _on_process_end(receiver: Callable[..., None], uid: str) -> None:
    """Call ``receiver`` when a worker process ends: a prefork child (which leaves through
    ``os._exit``, so ``atexit`` never runs there) or the main worker process."""
    # Celery keeps weak references by default, which would drop a closure at once.
    signals.worker_process_shutdown.connect(receiver, weak=False, dispatch_uid=uid)
    signals.worker_shutdown.connect(receiver, weak=False, dispatch_uid=uid)
