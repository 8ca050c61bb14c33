"""A module-level client under a real Celery worker (prefork pool, Redis broker on
loopback), with :func:`unleash_lite.celery.destroy_with_worker`.

Each cycle starts a worker, has a producer process (which imports the tasks module too)
send tasks that evaluate flags in the pool's children, then warm-shuts the worker (SIGTERM):
every evaluation made in the children reaches the server exactly once, a child holds no
thread but its main one until its first evaluation (a thread started at the fork raced
the child's logging set-up: "RuntimeError: cannot release un-acquired lock"), and the
worker logs no traceback. Every other cycle recycles children (``--max-tasks-per-child``).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.forking import run_in_child
from tests.support.helpers import wait_for
from tests.support.server import TOKEN, FakeUnleashServer

from .harness import Spawned, child_env, evaluate, evaluations, run

CYCLES = 6
CHILDREN = 2
TASKS = 8
STOP_WITHIN = 20.0
TROUBLE = ("Traceback", "RuntimeError", "could not", "ERROR/")


def cycle(
    celery: str, redis_url: str, tmp_path: Path, number: int, *options: str
) -> dict[str, float]:
    """One worker start, tasks, warm shutdown, checked; returns the times measured."""
    with FakeUnleashServer() as fake:
        env = child_env(
            BROKER_URL=redis_url,
            UNLEASH_URL=fake.url,
            UNLEASH_TOKEN=TOKEN,
            UNLEASH_CACHE_DIR=str(tmp_path / f"cache-{number}"),
        )
        args = [
            celery, "-A", "tests.processes.celery_tasks", "worker",
            "--pool=prefork", f"--concurrency={CHILDREN}", "--loglevel=INFO",
            f"--hostname=cycle{number}@localhost", "--without-gossip", "--without-mingle",
            *options,
        ]  # fmt: skip
        started = time.monotonic()
        with Spawned(args, tmp_path / f"worker-{number}.log", env) as worker:
            wait_for(
                lambda: " ready." in worker.output() or not worker.running(),
                30,
                message="the Celery worker to be ready",
            )
            assert worker.running(), worker.tail()
            ready = time.monotonic() - started
            output = run(
                [sys.executable, "-m", "tests.processes.celery_producer", str(TASKS)],
                60,
                tmp_path / f"producer-{number}.log",
                env,
            )
            stopped = worker.stop(signal.SIGTERM, STOP_WITHIN)  # Celery's warm shutdown
            log = worker.output()
        results = _results(output)
        if options:  # recycled children: later tasks ran in children forked mid-run
            assert len({result["pid"] for result in results}) > CHILDREN
        for text, where in ((log, "the worker's log"), (output, "the producer's output")):
            found = [sign for sign in TROUBLE if sign in text]
            if found:
                pytest.fail(f"{found} in {where}:\n{_around(text, found[0])}", pytrace=False)
        _check_threads(results)
        evaluated = evaluations(result["counts"] for result in results)
        assert fake.accepted_counts() == evaluated, (
            f"accepted {dict(fake.accepted_counts())}, evaluated in the children {evaluated}"
        )
    return {"worker ready": ready, "warm shutdown": stopped}


def _around(text: str, sign: str) -> str:
    at = text.index(sign)
    return text[max(0, at - 1500) : at + 2500]


def _results(output: str) -> list[dict[str, Any]]:
    lines = [line for line in output.splitlines() if line.startswith("RESULTS ")]
    assert lines, f"the producer printed no results:\n{output[-4000:]}"
    results: list[dict[str, Any]] = json.loads(lines[-1].removeprefix("RESULTS "))
    assert len(results) == TASKS
    pids = {result["pid"] for result in results}
    assert len(pids) >= CHILDREN, f"the tasks ran in {len(pids)} child(ren) only"
    return results


def _check_threads(results: list[dict[str, Any]]) -> None:
    firsts = [result for result in results if result["threads_before"] is not None]
    assert {result["pid"] for result in firsts} == {result["pid"] for result in results}
    for result in firsts:
        if result["threads_before"] != ["MainThread"]:
            pytest.fail(
                f"child {result['pid']} ran threads before its first evaluation: "
                f"{result['threads_before']} (nothing may start in a child at the fork)",
                pytrace=False,
            )
        if not any(name.startswith("unleash-lite") for name in result["threads_after"]):
            pytest.fail(
                f"child {result['pid']} started no unleash-lite thread on its first "
                f"evaluation: {result['threads_after']}",
                pytrace=False,
            )


def test_prefork_children_deliver_counts_once_and_start_no_thread_at_fork(
    celery: str, redis_url: str, tmp_path: Path
) -> None:
    times = []
    for number in range(CYCLES):
        recycle = ["--max-tasks-per-child=3"] if number % 2 else []
        times.append(cycle(celery, redis_url, tmp_path, number, *recycle))
    print(times)


def test_destroy_with_worker_connects_once_and_outlives_garbage_collection(celery: str) -> None:
    """Celery keeps weak references to receivers unless told otherwise: the helper's must
    survive a collection, and a second call for the same client connects nothing more.
    Runs in a forked child, so the receivers do not stay connected in this process."""
    with FakeUnleashServer() as fake:

        def body() -> dict[str, Any]:
            from celery import signals

            from unleash_lite import UnleashClient
            from unleash_lite.celery import destroy_with_worker

            client = UnleashClient(
                fake.url,
                "celery-helper",
                custom_headers={"Authorization": TOKEN},
                request_timeout=2,
                disable_registration=True,
            )
            client.initialize_client()
            counts: dict[str, dict[str, int]] = {}
            evaluate(client, counts)
            before = [
                len(signals.worker_process_shutdown.receivers),
                len(signals.worker_shutdown.receivers),
            ]
            destroy_with_worker(client)
            destroy_with_worker(client)
            del client
            gc.collect()
            after = [
                len(signals.worker_process_shutdown.receivers),
                len(signals.worker_shutdown.receivers),
            ]
            signals.worker_process_shutdown.send(sender="test", pid=os.getpid(), exitcode=0)
            return {"before": before, "after": after, "counts": counts}

        report = run_in_child(body)
        assert report["after"] == [count + 1 for count in report["before"]], report
        assert fake.accepted_counts() == evaluations([report["counts"]]), "destroyed: counts sent"
