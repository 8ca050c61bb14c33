"""A fleet's cost to Unleash and its propagation delay: N clients polling Unleash against one
``unleash-lite relay`` feeding N readers through Redis (docs/fleet.md quotes the figures).

    .venv/bin/python benchmarks/fleet.py [--clients 20] [--interval 1] [--seconds 30]

Needs the checkout's environment (``pip install -e . --group test``), Debian's
``redis-server``, and a real Unleash server: started with ``scripts/unleash-server`` (as the
integration tests do: Node.js and PostgreSQL), or the one named by UNLEASH_URL,
UNLEASH_ADMIN_TOKEN and UNLEASH_CLIENT_TOKEN. Every request to Unleash goes through a
counting HTTP proxy of this script's.

For each set-up it prints the requests Unleash received in ``--seconds`` (flag fetches,
answered 200 or 304, and metrics/registration posts), and, over ``--changes`` flag
changes made with the admin API, the time from the change (the admin call returning) to
every client or reader answering the new value: median and worst. The N clients (or
readers) of a set-up run in one process, each its own ``UnleashClient``; the relay is its
own process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.admin import AdminApi  # noqa: E402
from tests.integration.server import (  # noqa: E402
    UnleashServer,
    existing_server_from_env,
    start_server,
    stop_server,
)
from unleash_lite import InstanceAllowType, UnleashClient  # noqa: E402
from unleash_lite.redis import RedisCache  # noqa: E402

SETTLE = 3.0
FORWARDED = ("Authorization", "If-None-Match", "Content-Type", "Accept", "User-Agent")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CountingProxy:
    """An HTTP proxy to Unleash counting what it forwards: ``(method, kind, status)``."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.counts: Counter[tuple[str, str, int]] = Counter()
        self.lock = threading.Lock()
        session = requests.Session()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k in FORWARDED}
                for name, value in self.headers.items():
                    if name.lower().startswith("unleash-"):
                        headers[name] = value
                answer = session.request(
                    self.command, proxy.target + self.path, headers=headers, data=body, timeout=10
                )
                kind = self.path.split("?")[0].rsplit("/", 1)[-1]
                with proxy.lock:
                    proxy.counts[(self.command, kind, answer.status_code)] += 1
                content = answer.content
                self.send_response(answer.status_code)
                for name in ("Content-Type", "ETag"):
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> Counter[tuple[str, str, int]]:
        with self.lock:
            counts, self.counts = self.counts, Counter()
        return counts

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait(lambda: _pings(url), 10)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _pings(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url).ping())
    except redis.RedisError:
        return False


def wait(condition: Callable[[], Any], timeout: float) -> float:
    """Seconds until ``condition`` holds (checked every 10 ms); exits after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            sys.exit(f"timed out after {timeout}s")
        time.sleep(0.01)
    return time.monotonic() - started


def clients(count: int, make: Callable[[int], UnleashClient]) -> list[UnleashClient]:
    return [make(n) for n in range(count)]


def propagation(
    admin: AdminApi, flag: str, fleet: list[UnleashClient], changes: int
) -> list[float]:
    """Seconds from each change on the server to every client of ``fleet`` answering it."""
    delays = []
    for change in range(changes):
        enabled = change % 2 == 0
        (admin.enable if enabled else admin.disable)(flag)
        delays.append(wait(lambda on=enabled: all(c.is_enabled(flag) is on for c in fleet), 60))
        time.sleep(0.3)
    return delays


def summary(counts: Counter[tuple[str, str, int]], seconds: float) -> dict[str, float]:
    fetches = sum(n for (method, kind, _), n in counts.items() if kind == "features")
    not_modified = sum(n for (_, kind, status), n in counts.items() if status == 304)
    posts = sum(n for (method, _, _), n in counts.items() if method == "POST")
    return {
        "fetches": fetches,
        "fetches_304": not_modified,
        "posts": posts,
        "per_second": round((fetches + posts) / seconds, 1),
    }


def run(arguments: argparse.Namespace, server: UnleashServer, redis_url: str) -> None:
    admin = AdminApi(server.api_url, server.admin_token)
    flag = f"fleet-bench-{uuid.uuid4().hex[:8]}"
    admin.create_flag(flag)
    admin.add_strategy(flag, "default")
    admin.disable(flag)
    proxy = CountingProxy(server.url)
    token = server.client_token
    n, interval = arguments.clients, arguments.interval
    common: dict[str, Any] = {
        "custom_headers": {"Authorization": token},
        "refresh_interval": interval,
        "metrics_interval": 60,  # the same for both set-ups: the readers send theirs too
        "request_timeout": 5,
        "multiple_instance_mode": InstanceAllowType.SILENTLY_ALLOW,
    }
    results = {}

    def measured(fleet: list[UnleashClient], fetch_toggles: bool) -> tuple[Any, Any]:
        """Start ``fleet``, count the requests Unleash gets, time changes reaching it all."""
        for client in fleet:
            client.initialize_client(fetch_toggles=fetch_toggles)
        time.sleep(SETTLE)  # registrations and first fetches are not counted
        proxy.take()
        time.sleep(arguments.seconds)
        counted = summary(proxy.take(), arguments.seconds)
        delays = propagation(admin, flag, fleet, arguments.changes)
        for client in fleet:
            client.destroy()
        return counted, delays

    # N clients polling Unleash.
    with tempfile.TemporaryDirectory() as directory:
        app = f"bench-polling-{uuid.uuid4().hex[:6]}"
        fleet = clients(
            n,
            lambda i: UnleashClient(
                proxy.url, app, instance_id=f"p{i}", cache_directory=directory, **common
            ),
        )
        results[f"{n} clients polling Unleash"] = measured(fleet, fetch_toggles=True)

    # One relay, N readers on Redis.
    app = f"bench-relay-{uuid.uuid4().hex[:6]}"
    command = [sys.executable, "-m", "unleash_lite.cli", "relay", "--url", proxy.url]
    command += ["--app-name", app, "--interval", str(interval)]
    relay = subprocess.Popen(
        command,
        env={**os.environ, "UNLEASH_API_TOKEN": token, "UNLEASH_REDIS_URL": redis_url},
        stderr=subprocess.DEVNULL,
    )
    try:
        probe = RedisCache(redis_url, app_name=app, token=token)
        wait(lambda: (probe.reload(), probe.get("etag"))[1] is not None, 30)
        probe.destroy()
        fleet = clients(
            n,
            lambda i: UnleashClient(
                proxy.url,
                app,
                instance_id=f"r{i}",
                cache=RedisCache(redis_url, app_name=app, token=token),
                **common,
            ),
        )
        results[f"1 relay + {n} readers on Redis"] = measured(fleet, fetch_toggles=False)
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(30)
        proxy.close()
        admin.close()

    print(
        f"\n{n} clients, refresh_interval {interval:g}s, requests counted over "
        f"{arguments.seconds:g}s, {arguments.changes} flag changes"
        + (f", Unleash {server.version}" if server.version else "")
    )
    print("| set-up | flag fetches (304) | posts | requests/s | change -> all: median | worst |")
    print("|---|---|---|---|---|---|")
    for name, (counted, delays) in results.items():
        print(
            f"| {name} | {counted['fetches']:g} ({counted['fetches_304']:g}) | "
            f"{counted['posts']:g} | {counted['per_second']:g} | "
            f"{statistics.median(delays):.2f} s | {max(delays):.2f} s |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--changes", type=int, default=6)
    parser.add_argument("--version", default="8.2.0", help="the unleash-server to start")
    arguments = parser.parse_args()
    existing = existing_server_from_env()
    server = existing or start_server(arguments.version)
    try:
        with tempfile.TemporaryDirectory() as directory, redis_server(Path(directory)) as url:
            run(arguments, server, url)
    finally:
        if existing is None:
            stop_server(server)


if __name__ == "__main__":
    main()
