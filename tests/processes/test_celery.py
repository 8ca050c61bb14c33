"""Real Celery workers (Redis broker on loopback) running tasks that evaluate flags, wired
in the two ways the docs show.

:func:`unleash_lite.celery.setup` (``celery_setup_tasks``): no client at import; each worker
process that runs tasks creates its own after the fork and delivers its own counts when it
ends. Checked under the prefork pool (plain, and recycling children with
``--max-tasks-per-child``), the solo and the threads pools, and a server that never answers
(no child is killed for being slow to start); the server sees, through a header naming the
process that created the client, that every child's evaluations arrived exactly once from
that child, and that neither the main worker process of a prefork worker nor the producer
sent anything.

A module-level client with :func:`unleash_lite.celery.destroy_with_worker`
(``celery_tasks``): created in the main worker process before it forks its pool, and in
every producer. Each cycle checks that every evaluation made in the children reaches the
server exactly once, and that a child holds no thread but its main one until its first
evaluation (a thread started at the fork raced the child's logging set-up: "RuntimeError:
cannot release un-acquired lock"). Every other cycle recycles children.

Each worker is warm-shut (SIGTERM) and must log no traceback.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.forking import run_in_child
from tests.support.helpers import wait_for
from tests.support.server import TOKEN, FakeUnleashServer, Recorded, silence

from .harness import PID_HEADER, Spawned, child_env, evaluate, evaluations, run

CYCLES = 6
CHILDREN = 2
TASKS = 8
STOP_WITHIN = 20.0
TROUBLE = ("Traceback", "RuntimeError", "could not", "ERROR/", "Timed out waiting for UP")


@dataclass
class Ran:
    """What one worker start saw: the task results, the producer's pid and threads, the
    worker's log and pid, and the times measured."""

    results: list[dict[str, Any]]
    producer: dict[str, Any]
    log: str
    worker_pid: int
    times: dict[str, float]


@dataclass
class Worker:
    celery: str
    redis_url: str
    tmp_path: Path

    def run(
        self,
        fake: FakeUnleashServer,
        number: int,
        module: str,
        *options: str,
        killed_at_shutdown: bool = False,
    ) -> Ran:
        """Start a worker for ``module``'s app, have a producer send it the tasks, warm-shut
        it; fail on a sign of trouble in the worker's log or the producer's output.

        ``killed_at_shutdown``: allow, after the shutdown began and nowhere else, the two
        lines of a pool child killed for not reporting "up" within 4 s. Seen once in 8
        runs of the silent-server test: billiard's 5 s timer replaced a recycled child
        just as the warm shutdown began, and the worker, shutting down, did not take that
        child's "up" message, sent 2 s later, in time. The child had run no task."""
        env = child_env(
            BROKER_URL=self.redis_url,
            UNLEASH_URL=fake.url,
            UNLEASH_TOKEN=TOKEN,
            UNLEASH_CACHE_DIR=str(self.tmp_path / f"cache-{number}"),
        )
        args = [
            self.celery, "-A", f"tests.processes.{module}", "worker", "--loglevel=INFO",
            f"--hostname=cycle{number}@localhost", "--without-gossip", "--without-mingle",
            *options,
        ]  # fmt: skip
        started = time.monotonic()
        with Spawned(args, self.tmp_path / f"worker-{number}.log", env) as worker:
            wait_for(
                lambda: " ready." in worker.output() or not worker.running(),
                30,
                message="the Celery worker to be ready",
            )
            assert worker.running(), worker.tail()
            ready = time.monotonic() - started
            output = run(
                [sys.executable, "-m", "tests.processes.celery_producer", module, str(TASKS)],
                60,
                self.tmp_path / f"producer-{number}.log",
                env,
            )
            running = len(worker.output())
            stopped = worker.stop(signal.SIGTERM, STOP_WITHIN)  # Celery's warm shutdown
            log = worker.output()
        checked = log
        if killed_at_shutdown:
            after = [line for line in log[running:].splitlines() if not _shutdown_kill(line)]
            checked = log[:running] + "\n".join(after)
        for text, where in ((checked, "the worker's log"), (output, "the producer's output")):
            found = [sign for sign in TROUBLE if sign in text]
            if found:
                pytest.fail(f"{found} in {where}:\n{_around(text, found[0])}", pytrace=False)
        return Ran(
            _printed(output, "RESULTS"),
            _printed(output, "PRODUCER"),
            log,
            worker.pid,
            {"worker ready": ready, "warm shutdown": stopped},
        )


@pytest.fixture
def worker(celery: str, redis_url: str, tmp_path: Path) -> Iterator[Worker]:
    yield Worker(celery, redis_url, tmp_path)


def _shutdown_kill(line: str) -> bool:
    return "ERROR/MainProcess] Timed out waiting for UP message from <ForkProcess(" in line or (
        "ERROR/MainProcess] Process 'ForkPoolWorker-" in line
        and "exited with 'signal 9 (SIGKILL)'" in line
    )


def _around(text: str, sign: str) -> str:
    at = text.index(sign)
    return text[max(0, at - 1500) : at + 2500]


def _printed(output: str, label: str) -> Any:
    lines = [line for line in output.splitlines() if line.startswith(f"{label} ")]
    assert lines, f"the producer printed no {label}:\n{output[-4000:]}"
    return json.loads(lines[-1].removeprefix(f"{label} "))


def _pids(results: list[dict[str, Any]]) -> set[int]:
    assert len(results) == TASKS
    return {result["pid"] for result in results}


# -- setup() ---------------------------------------------------------------------------------


def _sent_by(pid: int) -> Any:
    def check(record: Recorded) -> bool:
        return record.header(PID_HEADER) == str(pid)

    return check


def _check_own_clients(fake: FakeUnleashServer, ran: Ran) -> None:
    """Each process that ran tasks created its client (its requests name it) and the server
    accepted exactly the evaluations made there, from it; nothing came from the producer or
    from anywhere without the header."""
    senders = {record.header(PID_HEADER) for record in fake.requests}
    assert None not in senders, "a request came from a client setup() did not create"
    assert str(ran.producer["pid"]) not in senders, "the producer started a client"
    assert not [name for name in ran.producer["threads"] if name.startswith("unleash-lite")]
    for pid in _pids(ran.results):
        made = evaluations(result["counts"] for result in ran.results if result["pid"] == pid)
        accepted = fake.accepted_counts(_sent_by(pid))
        assert accepted == made, f"process {pid}: accepted {dict(accepted)}, evaluated {made}"
    unexplained = fake.accepted_counts(
        lambda record: int(record.header(PID_HEADER) or 0) not in _pids(ran.results)
    )
    assert not unexplained, f"counts from processes that ran no task: {unexplained}"


@pytest.mark.parametrize("recycle", [[], ["--max-tasks-per-child=3"]], ids=["plain", "recycle"])
def test_setup_prefork_children_create_their_clients_and_deliver_their_counts(
    worker: Worker, recycle: list[str]
) -> None:
    with FakeUnleashServer() as fake:
        options = ["--pool=prefork", f"--concurrency={CHILDREN}", *recycle]
        ran = worker.run(fake, 0, "celery_setup_tasks", *options)
        _check_own_clients(fake, ran)
    pids = _pids(ran.results)
    assert len(pids) >= CHILDREN, f"the tasks ran in {len(pids)} child(ren) only"
    if recycle:  # later tasks ran in children forked mid-run
        assert len(pids) > CHILDREN
    assert ran.worker_pid not in pids
    senders = {record.header(PID_HEADER) for record in fake.requests}
    assert str(ran.worker_pid) not in senders, "the main worker process started a client"
    assert all(result["ready"] for result in ran.results), "a task ran before the first fetch"
    print(ran.times)


@pytest.mark.parametrize("pool", [["--pool=solo"], ["--pool=threads", "--concurrency=2"]])
def test_setup_solo_and_threads_pools_use_one_client_in_the_main_process(
    worker: Worker, pool: list[str]
) -> None:
    with FakeUnleashServer() as fake:
        ran = worker.run(fake, 0, "celery_setup_tasks", *pool)
        _check_own_clients(fake, ran)
    assert _pids(ran.results) == {ran.worker_pid}
    assert all(result["ready"] for result in ran.results)
    if "--pool=threads" in pool:
        assert len({result["thread"] for result in ran.results}) > 1


def test_setup_a_silent_server_never_gets_a_child_killed_for_starting_slowly(
    worker: Worker,
) -> None:
    """The first fetch of the harness's clients may take request_timeout (10 s): a child
    forked while the worker runs (here: replacing a recycled one) that waited for it in
    worker_process_init would be killed at worker_proc_alive_timeout (4 s), and its
    replacement too. The children start in time and answer defaults."""
    with FakeUnleashServer() as fake:
        fake.features.always(silence())
        options = ["--pool=prefork", f"--concurrency={CHILDREN}", "--max-tasks-per-child=3"]
        ran = worker.run(fake, 0, "celery_setup_tasks", *options, killed_at_shutdown=True)
    assert len(_pids(ran.results)) > CHILDREN  # children forked mid-run ran tasks
    assert not any(result["ready"] for result in ran.results)
    getters = {record.header(PID_HEADER) for record in fake.feature_gets()}
    assert {str(pid) for pid in _pids(ran.results)} <= getters


def test_setup_creates_a_client_on_first_use_outside_a_worker(celery: str, tmp_path: Path) -> None:
    """Setting up starts nothing; a process that is no worker (here: running a task
    eagerly, as tests do) creates its client on first use, once; the receivers outlive a
    garbage collection; the end of the process destroys the client once (its counts
    delivered), and it goes on answering; a second setup() for the app is refused. Runs in
    a forked child, so nothing stays connected here."""
    with FakeUnleashServer() as fake:

        def body() -> dict[str, Any]:
            import threading

            from celery import Celery, signals

            from unleash_lite import UnleashClient
            from unleash_lite.celery import setup

            app = Celery("eager", broker="memory://")
            app.conf.task_always_eager = True
            made: list[UnleashClient] = []

            def make() -> UnleashClient:
                made.append(
                    UnleashClient(
                        fake.url,
                        "celery-eager",
                        custom_headers={"Authorization": TOKEN},
                        cache_directory=str(tmp_path),
                        request_timeout=2,
                        disable_registration=True,
                    )
                )
                return made[-1]

            before = len(signals.worker_process_init.receivers)
            unleash = setup(app, make)
            gc.collect()
            after = len(signals.worker_process_init.receivers)
            threads = [thread.name for thread in threading.enumerate()]

            @app.task
            def check() -> bool:
                return bool(unleash.client.is_enabled("shared"))

            answers = [check.delay().get(), check.delay().get()]
            ready = made[0].is_ready()
            for _ in range(2):  # the end of this process, as a pool child sees it
                signals.worker_process_shutdown.send(sender="test", pid=os.getpid(), exitcode=0)
            try:
                setup(app, make)
                again = "accepted"
            except RuntimeError as error:
                again = str(error)
            return {
                "receivers": after - before,
                "threads": threads,
                "answers": answers,
                "ready": ready,
                "after the end": check.delay().get(),  # the destroyed client still answers
                "made": len(made),
                "setup again": again,
            }

        report = run_in_child(body)
    assert report["receivers"] == 1
    assert not [name for name in report["threads"] if name.startswith("unleash-lite")]
    assert report == {
        **report,
        "answers": [True, True],
        "ready": True,
        "after the end": True,
        "made": 1,
    }
    assert "already called" in report["setup again"]
    # Destroyed once, at the end: the two evaluations before it were delivered.
    assert fake.accepted_counts() == {("shared", "yes"): 2}


# -- destroy_with_worker() -------------------------------------------------------------------


def cycle(worker: Worker, number: int, *options: str) -> dict[str, float]:
    """One worker start, tasks, warm shutdown, checked; returns the times measured."""
    with FakeUnleashServer() as fake:
        ran = worker.run(
            fake,
            number,
            "celery_tasks",
            "--pool=prefork",
            f"--concurrency={CHILDREN}",
            *options,
        )
        pids = _pids(ran.results)
        assert len(pids) >= CHILDREN, f"the tasks ran in {len(pids)} child(ren) only"
        if options:  # recycled children: later tasks ran in children forked mid-run
            assert len(pids) > CHILDREN
        _check_threads(ran.results)
        evaluated = evaluations(result["counts"] for result in ran.results)
        assert fake.accepted_counts() == evaluated, (
            f"accepted {dict(fake.accepted_counts())}, evaluated in the children {evaluated}"
        )
    return ran.times


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
    worker: Worker,
) -> None:
    times = []
    for number in range(CYCLES):
        recycle = ["--max-tasks-per-child=3"] if number % 2 else []
        times.append(cycle(worker, number, *recycle))
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
