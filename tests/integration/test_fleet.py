"""A fleet against the real Unleash server and a real redis-server: one ``unleash-lite
relay`` process and several reader processes (``tests/processes/fleet_reader.py``).

A change made on the server reaches every reader; with Unleash unreachable the readers keep
answering and a NEW reader process answers the last flags at once; Redis restarted
mid-run (empty) gets the flags again from the relay, and while it is down the readers keep
answering; SIGTERM stops the relay cleanly. Unleash is made unreachable by closing a TCP
proxy the relay and the readers go through (the session server is shared by other tests).
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.processes.harness import RedisProcess, Spawned, child_env, executable
from tests.support.helpers import free_port

from .admin import AdminApi
from .polling import wait_for
from .server import UnleashServer

READERS = 3
INTERVAL = 0.5  # the relay's poll, the readers' refresh from Redis
CHANGE_TIMEOUT = 20.0


class Proxy:
    """A TCP proxy on a fixed loopback port to ``target``; :meth:`stop` closes it and every
    connection through it (Unleash unreachable), :meth:`start` opens it again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    with RedisProcess(tmp_path / "redis") as process:
        yield process


@pytest.fixture
def proxy(unleash_server: UnleashServer) -> Iterator[Proxy]:
    address = urlsplit(unleash_server.url)
    through = Proxy((address.hostname or "127.0.0.1", address.port or 80))
    through.start()
    yield through
    through.stop()


class Fleet:
    """The relay and the readers of one test, their settings, and what they report."""

    def __init__(
        self, server: UnleashServer, proxy: Proxy, redis_url: str, app: str, flag: str, logs: Path
    ) -> None:
        self.api_url = f"http://127.0.0.1:{proxy.port}/api"
        self.token = server.client_token
        self.redis_url = redis_url
        self.app = app
        self.flag = flag
        self.logs = logs
        self.health_port = free_port()
        self.relay: Spawned | None = None
        self.readers: list[Spawned] = []

    def env(self) -> dict[str, str]:
        return child_env(
            UNLEASH_API_TOKEN=self.token,
            UNLEASH_TOKEN=self.token,
            UNLEASH_REDIS_URL=self.redis_url,
            REDIS_URL=self.redis_url,
            UNLEASH_URL=self.api_url,
            APP_NAME=self.app,
            FLEET_FLAGS=self.flag,
            REFRESH_INTERVAL=str(INTERVAL),
        )

    def start_relay(self) -> Spawned:
        command = [
            executable("unleash-lite", "pip install -e ."),
            "relay",
            "--url",
            self.api_url,
            "--app-name",
            self.app,
            "--interval",
            str(INTERVAL),
            "--timeout",
            "2",
            "--health-port",
            str(self.health_port),
        ]
        self.relay = Spawned(command, self.logs / "relay.log", self.env())
        return self.relay

    def start_reader(self) -> Spawned:
        index = len(self.readers)
        reader = Spawned(
            [sys.executable, "-m", "tests.processes.fleet_reader"],
            self.logs / f"reader-{index}.log",
            self.env(),
        )
        self.readers.append(reader)
        return reader

    def health(self) -> dict[str, Any]:
        try:
            answer = requests.get(f"http://127.0.0.1:{self.health_port}/healthz", timeout=2)
        except requests.RequestException:
            return {}
        return dict(answer.json())

    @staticmethod
    def state(reader: Spawned) -> dict[str, Any] | None:
        lines = [line for line in reader.output().splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else None

    def all_answer(self, enabled: bool) -> bool:
        for reader in self.readers:
            state = self.state(reader)
            if state is None or state["enabled"][self.flag] is not enabled:
                return False
        return True

    def describe(self) -> str:
        parts = [f"relay health: {self.health()}"]
        if self.relay is not None:
            parts.append(f"--- relay ---\n{self.relay.tail(20)}")
        for n, reader in enumerate(self.readers):
            parts.append(f"--- reader {n} ---\n{reader.tail(5)}")
        return "\n".join(parts)

    def close(self) -> None:
        for process in [*self.readers, *([self.relay] if self.relay else [])]:
            process.kill_group()


@pytest.fixture
def fleet(
    unleash_server: UnleashServer,
    proxy: Proxy,
    redis_process: RedisProcess,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> Iterator[Fleet]:
    running = Fleet(
        unleash_server, proxy, redis_process.url, unique_name("app"), unique_name("flag"), tmp_path
    )
    yield running
    running.close()


def test_a_relay_feeds_readers_through_unleash_and_redis_outages(
    fleet: Fleet,
    admin: AdminApi,
    proxy: Proxy,
    redis_process: RedisProcess,
    unleash_server: UnleashServer,
    record_property: Callable[[str, object], None],
) -> None:
    admin.create_flag(fleet.flag)
    admin.add_strategy(fleet.flag, "default")
    admin.enable(fleet.flag)
    relay = fleet.start_relay()
    wait_for(
        lambda: fleet.health().get("status") == "ok",
        timeout=CHANGE_TIMEOUT,
        what=lambda: f"a healthy relay\n{fleet.describe()}",
    )
    for _ in range(READERS):
        fleet.start_reader()
    wait_for(lambda: fleet.all_answer(True), timeout=CHANGE_TIMEOUT, what=fleet.describe)
    assert all(fleet.state(reader)["ready_at_start"] for reader in fleet.readers)  # type: ignore[index]

    # A change on the server reaches every reader.
    admin.disable(fleet.flag)
    _, elapsed = wait_for(
        lambda: fleet.all_answer(False), timeout=CHANGE_TIMEOUT, what=fleet.describe
    )
    record_property("server change -> every reader (s)", round(elapsed, 3))

    # Unleash unreachable: the readers keep answering, and a NEW reader answers at once.
    proxy.stop()
    try:
        wait_for(
            lambda: fleet.health().get("unleash", {}).get("state") == "failing",
            timeout=CHANGE_TIMEOUT,
            what=fleet.describe,
        )
        assert fleet.health()["status"] == "degraded"
        late = fleet.start_reader()
        wait_for(lambda: fleet.state(late), timeout=CHANGE_TIMEOUT, what=fleet.describe)
        assert fleet.state(late) == {
            "ready_at_start": True,
            "ready": True,
            "enabled": {fleet.flag: False},
        }
        assert fleet.all_answer(False)
    finally:
        proxy.start()
    wait_for(
        lambda: fleet.health().get("status") == "ok", timeout=CHANGE_TIMEOUT, what=fleet.describe
    )

    # Redis stopped: the readers keep answering; restarted empty: the relay writes it again.
    redis_process.stop()
    try:
        wait_for(
            lambda: (
                fleet.health().get("redis", {}).get("state") == "unreachable"
                and all("Redis cache" in reader.output() for reader in fleet.readers)
            ),
            timeout=CHANGE_TIMEOUT,
            what=fleet.describe,
        )
        assert fleet.health()["status"] == "degraded"
        assert fleet.all_answer(False) and all(r.running() for r in fleet.readers)
    finally:
        redis_process.start()
    # One line when Redis went away, one when it answered again (after the reader's backoff).
    wait_for(
        lambda: (
            fleet.health().get("status") == "ok"
            and all(reader.output().count("Redis cache") == 2 for reader in fleet.readers)
        ),
        timeout=CHANGE_TIMEOUT,
        what=fleet.describe,
    )
    for reader in fleet.readers:
        lines = [line for line in reader.output().splitlines() if "Redis cache" in line]
        assert "unreachable" in lines[0] and "answers again" in lines[1], lines
    admin.enable(fleet.flag)
    wait_for(lambda: fleet.all_answer(True), timeout=CHANGE_TIMEOUT, what=fleet.describe)

    # SIGTERM stops the relay cleanly; its log has one line per change of state.
    relay.stop(signal.SIGTERM, timeout=15)
    assert relay.process.returncode == 0, relay.tail()
    log = relay.output()
    assert unleash_server.client_token not in log
    assert log.count("Redis cache") == 2, log  # unreachable once, answering again once
    for reader in fleet.readers:
        assert unleash_server.client_token not in reader.output()
