"""tests/django's project under a real uWSGI with two preforked workers (the master loads
the project, then forks): the client is created in each worker on its first request, or,
when the project checked a flag at import, in the master before the fork. Either way every
worker answers, and follows a flag change on the server by itself."""

from __future__ import annotations

import copy
import json
import signal
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.django.flags import FLAGS
from tests.processes.harness import Spawned, child_env, executable, port_open
from tests.support.helpers import free_port, wait_for
from tests.support.server import FakeUnleashServer

WORKERS = 2


def answers(port: int) -> dict[int, bool]:
    """Each answering worker's pid and its answer for "on", from concurrent requests that
    each hold their worker a moment (so they spread over the workers)."""

    def get(_: int) -> dict[str, Any]:
        url = f"http://127.0.0.1:{port}/worker/?hold=0.2"
        with urllib.request.urlopen(url, timeout=10) as response:
            return dict(json.loads(response.read()))

    with ThreadPoolExecutor(2 * WORKERS) as pool:
        return {reply["pid"]: reply["on"] for reply in pool.map(get, range(2 * WORKERS))}


@pytest.mark.parametrize("client_at_import", [False, True], ids=["lazy", "created-in-master"])
def test_every_worker_answers_and_follows_the_server(
    tmp_path: Path, client_at_import: bool
) -> None:
    uwsgi = executable("uwsgi", "pip install -e . --group test (it builds uWSGI)")
    with FakeUnleashServer(payload=FLAGS) as fake:
        port = free_port()
        env = child_env(
            TESTS_DJANGO_UNLEASH_URL=fake.url,
            TESTS_DJANGO_CACHE_DIRECTORY=str(tmp_path / "cache"),
            **({"TESTS_DJANGO_CLIENT_AT_IMPORT": "1"} if client_at_import else {}),
        )
        args = [
            uwsgi,
            "--http-socket", f"127.0.0.1:{port}",
            "--master",
            "--processes", str(WORKERS),
            "--virtualenv", sys.prefix,
            "--module", "tests.django.wsgi:application",
            "--need-app",
            "--disable-logging",
        ]  # fmt: skip
        with Spawned(args, tmp_path / "uwsgi.log", env) as server:
            wait_for(lambda: port_open(port) or not server.running(), 20, message="uWSGI")
            assert server.running(), server.tail()
            if not client_at_import:
                assert fake.recorded() == []  # loading the project started no client
            seen: dict[int, bool] = {}
            deadline = time.monotonic() + 20
            while len(seen) < WORKERS and time.monotonic() < deadline:
                seen |= answers(port)
            assert len(seen) == WORKERS and all(seen.values()), (seen, server.tail())

            changed = copy.deepcopy(FLAGS)
            next(f for f in changed["features"] if f["name"] == "on")["enabled"] = False
            fake.payload = changed
            followed: dict[int, bool] = {}
            deadline = time.monotonic() + 20
            while not (set(followed) >= set(seen) and not any(followed.values())):
                assert time.monotonic() < deadline, f"workers still on: {followed}"
                followed |= answers(port)
            server.stop(signal.SIGINT, 15)
            log = server.output()
        for sign in ("NO MERCY", "Traceback"):
            assert sign not in log, f"{sign!r} in the uWSGI log:\n{log[-4000:]}"
