"""Celery integration: deliver a client's last counts when a Celery worker process ends.

::

    from celery import Celery
    from unleash_lite import UnleashClient
    from unleash_lite.celery import destroy_with_worker

    app = Celery("tasks", broker="redis://127.0.0.1:6379/0")
    client = UnleashClient(URL, "my-worker", custom_headers={"Authorization": TOKEN})
    client.initialize_client()
    destroy_with_worker(client)

Install with ``pip install 'unleash-lite[celery]'``. See ``docs/production.md``.
"""

from __future__ import annotations

from typing import Any

try:
    from celery import signals
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "unleash_lite.celery needs Celery: pip install 'unleash-lite[celery]'"
    ) from error

from .client import UnleashClient

__all__ = ["destroy_with_worker"]


def destroy_with_worker(client: UnleashClient) -> None:
    """Destroy ``client`` (so its last counts are sent, bounded by ``request_timeout``)
    when a Celery worker process shuts down.

    Connects to ``worker_process_shutdown``, sent in each prefork pool child as it ends
    (warm shutdown, or recycling by ``--max-tasks-per-child`` / ``--max-memory-per-child``):
    such a child leaves through ``os._exit``, so neither ``atexit`` nor a
    ``multiprocessing`` finalizer runs there. Also connects to ``worker_shutdown``, sent in
    the main worker process (where the solo and thread pools run their tasks). Calling it
    again for the same client connects nothing more.
    """

    def on_shutdown(**_: Any) -> None:
        client.destroy()

    # Celery keeps weak references by default, which would drop this closure at once.
    uid = f"unleash-lite-destroy-{id(client)}"
    signals.worker_process_shutdown.connect(on_shutdown, weak=False, dispatch_uid=uid)
    signals.worker_shutdown.connect(on_shutdown, weak=False, dispatch_uid=uid)
