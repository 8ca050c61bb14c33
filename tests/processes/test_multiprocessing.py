"""A client initialized in a parent, used in ``multiprocessing`` children forked from it
(the ``fork`` start method), which end normally: their counts reach the server by the time
the child has ended, with no call of ours (metrics every 60 s, so only the exit flush can
have sent them).

A ``Process`` runs ``multiprocessing``'s exit finalizers before it leaves through
``os._exit`` (``atexit`` never runs there); so do the workers of a ``Pool`` closed and
joined, and workers retired by ``maxtasksperchild``. ``Pool.terminate()`` (also what leaving
a ``with Pool()`` block does) kills its workers with SIGTERM: nothing runs there.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.clients import new_client
from tests.support.server import FakeUnleashServer
from unleash_lite import UnleashClient
from unleash_lite.config import DEFAULT_REFRESH_INTERVAL, DEFAULT_REQUEST_RETRIES

from .harness import evaluate, evaluations

FORK = multiprocessing.get_context("fork")
ROUNDS = 25
_client: Any = None  # the parent's client, inherited by the children through the fork


@pytest.fixture
def fake() -> Iterator[FakeUnleashServer]:
    with FakeUnleashServer() as server:
        yield server


@pytest.fixture
def client(fake: FakeUnleashServer, tmp_path: Any) -> Iterator[UnleashClient]:
    """The parent's client: initialized, registration on, metrics every 60 s."""
    global _client
    _client = new_client(
        fake.url,
        tmp_path / "cache",
        app_name="multiprocessing-app",
        request_retries=DEFAULT_REQUEST_RETRIES,
        refresh_interval=DEFAULT_REFRESH_INTERVAL,
    )
    _client.initialize_client()
    try:
        yield _client
    finally:
        _client.destroy()
        _client = None


def _evaluate_in_child(results: Any) -> None:
    counts: dict[str, dict[str, int]] = {}
    for _ in range(ROUNDS):
        evaluate(_client, counts)
    results.put(counts)


def _pool_task(_: int) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {}
    for _ in range(ROUNDS):
        evaluate(_client, counts)
    time.sleep(0.05)  # keeps this worker busy, so the other gets tasks too
    return {"pid": os.getpid(), "counts": counts}


def test_a_process_delivers_its_counts_when_it_returns(
    fake: FakeUnleashServer, client: UnleashClient
) -> None:
    results = FORK.Queue()
    child = FORK.Process(target=_evaluate_in_child, args=(results,))
    child.start()
    counts = results.get(timeout=15)
    child.join(15)
    assert child.exitcode == 0, f"the child did not end normally: {child.exitcode}"
    assert fake.accepted_counts() == evaluations([counts]), "the child's counts, once"


@pytest.mark.parametrize("tasks_per_worker", [None, 2], ids=["workers-kept", "maxtasksperchild"])
def test_pool_workers_deliver_their_counts_when_the_pool_is_closed_and_joined(
    fake: FakeUnleashServer, client: UnleashClient, tasks_per_worker: int | None
) -> None:
    pool = FORK.Pool(2, maxtasksperchild=tasks_per_worker)
    try:
        reports = pool.map(_pool_task, range(8), chunksize=1)
        pool.close()
        started = time.monotonic()
        pool.join()
        joined = time.monotonic() - started
    finally:
        pool.terminate()
    assert len({report["pid"] for report in reports}) >= 2
    assert fake.accepted_counts() == evaluations(report["counts"] for report in reports)
    assert joined < 5, f"closing the pool took {joined:.1f}s"
