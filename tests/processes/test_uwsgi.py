"""A module-level client under a real uWSGI: preforked workers (the default: the master
imports the app, then forks), ``lazy-apps`` and ``py-call-osafterfork``.

For each start: every worker answers its first request within seconds (the master's
threads must not hold the GIL or any lock at the fork), every worker picks up a flag change
by itself, every evaluation made in the workers reaches the server exactly once through
their periodic sends (and nothing more arrives when uWSGI stops), and uWSGI stops on SIGINT
without a worker stuck at exit (uWSGI would wait 60 s, then kill it with "NO MERCY").
"""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import free_port, wait_for
from tests.support.server import PAYLOAD_B, TOKEN, FakeUnleashServer

from .harness import Spawned, child_env, evaluations, port_open

WORKERS = 4
ROUND = 2 * WORKERS  # concurrent requests, each holding its worker: every worker gets one
HOLD = 0.3
WORKERS_ANSWER_WITHIN = 10.0
STOP_WITHIN = 15.0


class Workers:
    """What the uWSGI workers answered: each worker's latest answers and counts."""

    def __init__(self, port: int, earlier: Workers | None = None) -> None:
        self.port = port
        # The workers of the generation before a reload: until they exit they may still
        # answer, and what they count then must be expected of them too.
        self.earlier = earlier
        self.latest: dict[int, dict[str, Any]] = {}
        self.failures: list[str] = []

    def round(self) -> set[int]:
        """``ROUND`` concurrent requests; returns the pids that answered."""
        with ThreadPoolExecutor(ROUND) as pool:
            replies = list(pool.map(lambda _: self._get(), range(ROUND)))
        pids = set()
        for reply in replies:
            if isinstance(reply, str):
                self.failures.append(reply)
                continue
            if self.earlier is not None and reply["pid"] in self.earlier.latest:
                self.earlier.record(reply)
                continue
            pids.add(reply["pid"])
            self.record(reply)
        return pids

    def record(self, reply: dict[str, Any]) -> None:
        known = self.latest.get(reply["pid"])
        # A worker serves one request at a time: the larger count is the later answer.
        if known is None or _total(reply["counts"]) > _total(known["counts"]):
            self.latest[reply["pid"]] = reply

    def _get(self) -> dict[str, Any] | str:
        url = f"http://127.0.0.1:{self.port}/?hold={HOLD}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return dict(json.loads(response.read()))
        except OSError as error:
            return f"GET {url}: {error}"

    def counts(self) -> dict[tuple[str, str], int]:
        return evaluations(reply["counts"] for reply in self.latest.values())


def _total(counts: dict[str, dict[str, int]]) -> int:
    return sum(sum(per_flag.values()) for per_flag in counts.values())


def serve_and_stop(
    uwsgi: str,
    tmp_path: Path,
    *options: str,
    reload: bool = False,
    master: bool = True,
    processes: int = WORKERS,
) -> dict[str, float]:
    """One uWSGI start with the app against a fresh fake server, checked end to end
    (``reload``: with a graceful reload, SIGHUP, before the stop; ``master=False``: no
    master process, the process that loads the app serves as the first worker); returns
    the times measured."""
    with FakeUnleashServer() as fake:
        port = free_port()
        started = time.monotonic()
        args = [
            uwsgi,
            "--http-socket", f"127.0.0.1:{port}",
            *(["--master"] if master else []),
            "--processes", str(processes),
            "--virtualenv", sys.prefix,
            "--module", "tests.processes.uwsgi_app:application",
            "--need-app",
            "--disable-logging",  # no line per request: the log keeps what matters
            *options,
        ]  # fmt: skip
        env = child_env(
            UNLEASH_URL=fake.url, UNLEASH_TOKEN=TOKEN, UNLEASH_CACHE_DIR=str(tmp_path / "cache")
        )
        times: dict[str, float] = {}
        with Spawned(args, tmp_path / f"uwsgi-{port}.log", env) as server:
            wait_for(lambda: port_open(port) or not server.running(), 20, message="uWSGI to listen")
            assert server.running(), server.tail()
            workers = Workers(port)
            reach_every_worker(workers, server, processes)
            times["all workers answered"] = time.monotonic() - started

            fake.payload = PAYLOAD_B  # "colour" turns blue: each worker must see it itself
            changed = time.monotonic()
            blue: set[int] = set()
            while blue != set(workers.latest) and time.monotonic() < changed + 10:
                workers.round()
                blue = {
                    pid
                    for pid, reply in workers.latest.items()
                    if reply["answers"]["colour"] == "blue"
                }
            if blue != set(workers.latest):
                pytest.fail(
                    f"workers {sorted(set(workers.latest) - blue)} still answer the old flags "
                    f"10 s after the change ({len(fake.feature_gets())} flag fetches reached "
                    "the server)",
                    pytrace=False,
                )
            times["flag change seen"] = time.monotonic() - changed

            wait_for(
                lambda: fake.accepted_counts() == workers.counts(),
                10,
                message=lambda: (
                    f"the workers' periodic metrics: accepted "
                    f"{dict(fake.accepted_counts())}, evaluated {workers.counts()}"
                ),
            )
            generations = [workers]
            workers.round()  # more counts, for the next periodic sends
            if reload:
                reloading = time.monotonic()
                server.process.send_signal(signal.SIGHUP)  # uWSGI's graceful reload
                reloaded = Workers(port, earlier=workers)
                reach_every_worker(reloaded, server, processes, within=20)
                times["graceful reload"] = time.monotonic() - reloading
                generations.append(reloaded)
            assert not workers.failures, workers.failures[:3]
            # Every count reaches the server through the workers' periodic sends before the
            # stop: the exit flush is bounded (2 s), and how fast uWSGI lets a worker finish
            # it depends on the machine's load, which no test should (the flush at exit is
            # tested in test_lifecycle and test_multiprocessing).
            wait_for(
                lambda: (
                    fake.accepted_counts()
                    == evaluations(
                        reply["counts"] for g in generations for reply in g.latest.values()
                    )
                ),
                20,
                message=lambda: f"every count to arrive: accepted {dict(fake.accepted_counts())}",
            )
            times["stop"] = server.stop(signal.SIGINT, STOP_WITHIN)
            log = server.output()
        for sign in ("NO MERCY", "Traceback"):
            assert sign not in log, f"{sign!r} in the uWSGI log:\n{log[-4000:]}"
        evaluated = evaluations(
            reply["counts"] for generation in generations for reply in generation.latest.values()
        )
        assert fake.accepted_counts() == evaluated, "every evaluation, once"
    return times


def reach_every_worker(
    workers: Workers, server: Spawned, expected: int, within: float = WORKERS_ANSWER_WITHIN
) -> None:
    """Send rounds of requests until each of the ``expected`` workers has answered."""
    deadline = time.monotonic() + within
    while len(workers.latest) < expected and time.monotonic() < deadline:
        workers.round()
    if len(workers.latest) < expected or workers.failures:
        pytest.fail(
            f"{len(workers.latest)} of {expected} workers answered within {within}s "
            f"(pids {sorted(workers.latest)}); failed requests: {workers.failures[:3]}"
            f"\n--- uWSGI log ---\n{server.tail()}",
            pytrace=False,
        )


@pytest.mark.parametrize("start", range(3))
def test_preforked_workers_answer_follow_flags_and_deliver_counts(
    uwsgi: str, tmp_path: Path, start: int
) -> None:
    """The default: no lazy-apps, the master imports the app (and initializes the client)
    before forking; repeated because the hang depended on timing. The first start also
    reloads gracefully (workers used to hang at exit, joining threads of the master)."""
    print(serve_and_stop(uwsgi, tmp_path, reload=start == 0))


def test_lazy_apps_each_worker_with_its_own_client(uwsgi: str, tmp_path: Path) -> None:
    print(serve_and_stop(uwsgi, tmp_path, "--lazy-apps"))


def test_preforked_with_python_at_fork_handling(uwsgi: str, tmp_path: Path) -> None:
    """``py-call-osafterfork``: uWSGI runs Python's at-fork handling in each worker."""
    print(serve_and_stop(uwsgi, tmp_path, "--py-call-osafterfork"))


@pytest.mark.parametrize("processes", [1, 2])
def test_without_a_master_process(uwsgi: str, tmp_path: Path, processes: int) -> None:
    """No ``--master``: the process that loads the app is worker 1 (``worker_id()`` is 0
    while it loads, as in a master) and forks the others. With one process there is no fork
    at all: the client must still start polling and sending on its first use."""
    print(serve_and_stop(uwsgi, tmp_path, master=False, processes=processes))
