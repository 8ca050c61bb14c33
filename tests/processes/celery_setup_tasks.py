"""A Celery tasks module wired with :func:`unleash_lite.celery.setup`, as the docs show it:
no client at import; each worker process that runs tasks creates its own (every request
it sends names the process, see ``tag_pid``)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from celery import Celery

from tests.processes.harness import client_from_environment, evaluate
from unleash_lite.celery import setup

app = Celery(
    "unleash-lite-setup-tests",
    broker=f"{os.environ['BROKER_URL']}/0",
    backend=f"{os.environ['BROKER_URL']}/1",
)
app.conf.broker_connection_retry_on_startup = True

unleash = setup(app, lambda: client_from_environment("celery-setup", tag_pid=True))


@app.task
def evaluate_flags(rounds: int, hold: float) -> dict[str, Any]:
    """Evaluate ``rounds`` times with this process's client and report what was counted,
    whether the client held flags before the first evaluation, and the threads."""
    client = unleash.client
    ready = client.is_ready()
    counts: dict[str, dict[str, int]] = {}
    for _ in range(rounds):
        evaluate(client, counts)
    time.sleep(hold)  # keeps this process busy, so the next task goes to another child
    return {
        "pid": os.getpid(),
        "thread": threading.current_thread().name,
        "ready": ready,
        "counts": counts,
    }
