"""A Celery tasks module as users write it: a module-level client, created and initialized
on import (so in the main worker process before it forks its pool, and in every producer),
destroyed with each worker process by :func:`unleash_lite.celery.destroy_with_worker`."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from celery import Celery

from tests.processes.harness import client_from_environment, evaluate
from unleash_lite.celery import destroy_with_worker

app = Celery(
    "unleash-lite-tests",
    broker=f"{os.environ['BROKER_URL']}/0",
    backend=f"{os.environ['BROKER_URL']}/1",
)
app.conf.broker_connection_retry_on_startup = True

client = client_from_environment("celery-app")
client.initialize_client()
destroy_with_worker(client)

_evaluated_here = False


@app.task
def evaluate_flags(rounds: int, hold: float) -> dict[str, Any]:
    """Evaluate ``rounds`` times and report what was counted, with the threads this process
    had before its first evaluation (``None`` after) and right after this task's."""
    global _evaluated_here
    first = not _evaluated_here
    before = [thread.name for thread in threading.enumerate()] if first else None
    _evaluated_here = True
    counts: dict[str, dict[str, int]] = {}
    for _ in range(rounds):
        evaluate(client, counts)
    after = [thread.name for thread in threading.enumerate()]
    time.sleep(hold)  # keeps this child busy, so the next task goes to another one
    return {"pid": os.getpid(), "threads_before": before, "threads_after": after, "counts": counts}
