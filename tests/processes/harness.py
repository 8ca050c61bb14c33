"""Real processes for the process tests: a Redis server on a free loopback port, commands
run in their own process group (killed whole on exit, so nothing outlives a test), ports
and conditions waited for with a deadline, the executables the tests need (a missing
one skips locally and fails with CI=true), and the evaluations the apps under test make."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]  # the repository: the apps import tests.*
T = TypeVar("T")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def executable(name: str, hint: str) -> str:
    """The path of ``name`` (this interpreter's scripts first); skip locally, fail in CI."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        message = f"{name} is not installed: {hint}"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def child_env(**extra: str) -> dict[str, str]:
    """This environment, with the repository importable and unbuffered output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Spawned:
    """A command running in a new session (so its own process group), output to ``log``."""

    def __init__(
        self,
        args: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.args = list(args)
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else child_env(),
                cwd=cwd or ROOT,
                start_new_session=True,
            )
        self.pid = self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, signum: int, timeout: float) -> float:
        """Send ``signum`` to the command and wait for it to end; return the seconds it took
        (``timeout`` passed: the test fails, and the group is killed on exit)."""
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"{self.args[0]} did not stop within {timeout}s of {signal.Signals(signum).name}"
                f"\n--- its log ---\n{self.tail()}",
                pytrace=False,
            )
        return time.monotonic() - started

    def kill_group(self) -> None:
        """SIGKILL everything left in the group (workers included), then reap the leader."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def __enter__(self) -> Spawned:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill_group()


def run(
    args: Sequence[str],
    timeout: float,
    log: Path,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a command to its end (killing its whole group after ``timeout`` s: the test
    fails) and return its output; a non-zero exit fails the test."""
    with Spawned(args, log, env) as command:
        try:
            code = command.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{args} ran over {timeout}s\n{command.tail()}", pytrace=False)
        text = command.output()
        if code != 0:
            pytest.fail(f"{args} exited {code}\n{text[-4000:]}", pytrace=False)
        return text


@contextlib.contextmanager
def redis_server(directory: Path, port: int | None = None) -> Iterator[str]:
    """A Debian ``redis-server`` of our own on a free loopback port (or ``port``: a restart
    on the same one), with no persistence, its files in ``directory``; yields its URL and
    stops it."""
    binary = executable("redis-server", "apt-get install redis-server (.ci/run does)")
    directory.mkdir(parents=True, exist_ok=True)
    chosen = port
    for _ in range(3):  # the free port may be taken between the probe and the bind
        port = chosen or free_port()
        server = Spawned(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            directory / "redis.log",
        )
        deadline = time.monotonic() + 10
        while server.running() and not port_open(port) and time.monotonic() < deadline:
            time.sleep(0.02)
        if server.running() and port_open(port):
            break
        server.kill_group()
    else:
        pytest.fail(f"redis-server did not start\n{server.tail()}", pytrace=False)
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            server.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(5)
        server.kill_group()


class RedisProcess:
    """A :func:`redis_server` a test may stop and start again on the same port (empty
    again: no persistence), as a restart of Redis does to its clients."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._running: contextlib.AbstractContextManager[str] | None = None

    @property
    def running(self) -> bool:
        return self._running is not None

    def start(self) -> None:
        running = redis_server(self.directory, self.port)
        running.__enter__()
        self._running = running

    def stop(self) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            running.__exit__(None, None, None)

    def __enter__(self) -> RedisProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def evaluations(reports: Any) -> dict[tuple[str, str], int]:
    """Sum evaluation counts reported as ``{flag: {"yes": n, "no": n, "variant:x": n}}``
    into the shape of ``FakeUnleash.accepted_counts()``."""
    totals: dict[tuple[str, str], int] = {}
    for report in reports:
        for name, counts in report.items():
            for key, count in counts.items():
                if count:
                    totals[(name, key)] = totals.get((name, key), 0) + count
    return totals


PID_HEADER = "X-Test-Pid"


def client_from_environment(app_name: str, tag_pid: bool = False) -> Any:
    """The module-level client of the test apps, as users write it (registration and
    metrics on, fast intervals), set up from the variables the tests pass to the child.
    ``tag_pid``: every request carries the id of the process that created the client (in
    :data:`PID_HEADER`), so the server sees which process sent what."""
    from unleash_lite import UnleashClient

    headers = {"Authorization": os.environ["UNLEASH_TOKEN"]}
    if tag_pid:
        headers[PID_HEADER] = str(os.getpid())
    return UnleashClient(
        url=os.environ["UNLEASH_URL"],
        app_name=app_name,
        custom_headers=headers,
        refresh_interval=1,
        metrics_interval=1,
        # Long enough that a POST never times out (and is sent again) on a loaded machine.
        request_timeout=10,
        cache_directory=os.environ["UNLEASH_CACHE_DIR"],
    )


def evaluate(client: Any, counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Evaluate the fake server's flags once (as an app would), add what the client should
    count to ``counts``, and return the answers."""

    def add(name: str, key: str) -> None:
        per_flag = counts.setdefault(name, {})
        per_flag[key] = per_flag.get(key, 0) + 1

    answers: dict[str, Any] = {}
    for name in ("shared", "off-in-b"):
        answers[name] = client.is_enabled(name)
        add(name, "yes" if answers[name] else "no")
    variant = client.get_variant("colour")
    add("colour", "yes" if variant["feature_enabled"] else "no")
    add("colour", f"variant:{variant['name']}")
    answers["colour"] = variant["name"]
    return answers
