"""``unleash-lite relay`` as a process, against the fake Unleash server and a real
redis-server: exit codes on misconfiguration (never showing the token), the health endpoint,
a restarted relay polling with the ETag Redis holds; and several writer and reader processes
on one key at once, none of which ever reads a torn payload/ETag pair.
(With the real Unleash server and reader processes: tests/integration/test_fleet.py.)
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from tests.support.helpers import free_port, wait_for
from tests.support.server import PAYLOAD_A, TOKEN, FakeUnleashServer
from unleash_lite.redis import RedisCache

from .harness import Spawned, child_env, executable

APP = "relay-test"


@pytest.fixture
def server() -> Iterator[FakeUnleashServer]:
    with FakeUnleashServer(token=TOKEN) as fake:
        yield fake


def relay_command(url: str, *extra: str) -> list[str]:
    return [
        executable("unleash-lite", "pip install -e ."),
        "relay",
        "--url",
        url,
        "--app-name",
        APP,
        "--interval",
        "0.2",
        "--timeout",
        "2",
        *extra,
    ]


def run_relay(url: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        relay_command(url, *extra),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        answer = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except requests.RequestException:
        return 0, {}
    return answer.status_code, dict(answer.json())


def test_misconfiguration_exits_non_zero_without_showing_the_token(
    server: FakeUnleashServer, redis_url: str
) -> None:
    no_token = run_relay(server.url, child_env(UNLEASH_REDIS_URL=redis_url))
    assert no_token.returncode == 2 and "token is needed" in no_token.stderr
    no_redis = run_relay(server.url, child_env(UNLEASH_API_TOKEN=TOKEN))
    assert no_redis.returncode == 2 and "Redis URL is needed" in no_redis.stderr
    bad_port = run_relay(
        server.url,
        child_env(UNLEASH_API_TOKEN=TOKEN, UNLEASH_REDIS_URL="redis://:s3cret@host:port/0"),
    )
    assert bad_port.returncode == 2 and "not usable" in bad_port.stderr, bad_port.stderr
    assert "s3cret" not in bad_port.stderr
    wrong = "default:development.wrong-t0ken-7c2e"
    rejected = run_relay(
        server.url, child_env(UNLEASH_API_TOKEN=wrong, UNLEASH_REDIS_URL=redis_url)
    )
    assert rejected.returncode == 5, rejected.stderr
    assert "refuses the relay" in rejected.stderr and "401" in rejected.stderr
    assert wrong not in rejected.stdout + rejected.stderr
    connection = redis.Redis.from_url(redis_url)
    connection.config_set("requirepass", "r3dis-pa55")
    try:
        bad_password = f"redis://:not-it@{redis_url.partition('//')[2]}"
        refused = run_relay(
            server.url, child_env(UNLEASH_API_TOKEN=TOKEN, UNLEASH_REDIS_URL=bad_password)
        )
        assert refused.returncode == 2 and "refuses the credentials" in refused.stderr
        assert "not-it" not in refused.stdout + refused.stderr
    finally:
        authenticated = redis.Redis.from_url(redis_url, password="r3dis-pa55")
        authenticated.config_set("requirepass", "")
        authenticated.close()
        connection.close()


def test_health_reports_redis_and_a_restarted_relay_polls_with_the_stored_etag(
    server: FakeUnleashServer, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = child_env(UNLEASH_API_TOKEN=TOKEN, UNLEASH_REDIS_URL=redis_url)
    with Spawned(
        relay_command(server.url, "--health-port", str(port)), tmp_path / "1.log", env
    ) as relay:
        status, body = wait_for(
            lambda: (found := health(port))[1].get("status") == "ok" and found,
            timeout=20,
            message=lambda: relay.tail(),
        )
        assert status == 200
        assert body["flags"] == len(PAYLOAD_A["features"])
        assert body["redis"]["holds_flags"] and body["unleash"]["state"] == "ok"
        assert relay.stop(signal.SIGTERM, timeout=15) >= 0
        assert relay.process.returncode == 0
    reader = RedisCache(redis_url, app_name=APP, token=TOKEN)
    etag = reader.get("etag")
    assert etag and json.loads(reader.get("/client/features"))["features"]
    reader.destroy()
    fetches_before = len([r for r in server.requests if r.path.endswith("/client/features")])
    with Spawned(
        relay_command(server.url, "--health-port", str(port)), tmp_path / "2.log", env
    ) as relay:
        wait_for(lambda: health(port)[1].get("status") == "ok", timeout=20, message=relay.tail)
        relay.stop(signal.SIGTERM, timeout=15)
    first = [r for r in server.requests if r.path.endswith("/client/features")][fetches_before]
    assert first.header("If-None-Match") == etag  # it started from what Redis held
    assert TOKEN not in (tmp_path / "1.log").read_text() + (tmp_path / "2.log").read_text()


def test_health_is_503_until_redis_holds_flags(server: FakeUnleashServer, tmp_path: Path) -> None:
    port = free_port()
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    env = child_env(UNLEASH_API_TOKEN=TOKEN, UNLEASH_REDIS_URL=nowhere)
    with Spawned(
        relay_command(server.url, "--health-port", str(port)), tmp_path / "r.log", env
    ) as relay:
        status, body = wait_for(
            lambda: (found := health(port))[0] and found, timeout=20, message=relay.tail
        )
        assert status == 503 and body["status"] == "starting"
        wait_for(
            lambda: health(port)[1]["redis"]["state"] == "unreachable",
            timeout=20,
            message=relay.tail,
        )
        assert health(port)[1]["unleash"]["state"] == "ok"  # Unleash answers all the same
        relay.stop(signal.SIGTERM, timeout=15)
    assert relay.output().count("unreachable") == 1  # one line per change of state


# Writes pairs whose ETag is the digest of the payload, or reads and checks them, until the
# deadline; prints how many values it wrote or read, and (a reader) the torn ones.
STORE_WORKER = """
import hashlib, json, sys, time
from unleash_lite.redis import RedisCache

role, url, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
cache = RedisCache(url, app_name="torn", token="t", retry_min=0)
deadline, n, torn, seen = time.monotonic() + seconds, 0, 0, set()
while time.monotonic() < deadline:
    n += 1
    if role == "writer":
        body = json.dumps({"version": 2, "features": [{"name": f"{sys.argv[4]}-{n}"}]})
        cache.mset({"/client/features": body, "etag": hashlib.sha256(body.encode()).hexdigest()})
    else:
        cache.reload()
        body, etag = cache.get("/client/features"), cache.get("etag")
        if body is not None:
            seen.add(etag)
            torn += hashlib.sha256(body.encode()).hexdigest() != etag
print(json.dumps({"role": role, "count": n, "distinct": len(seen), "torn": torn}))
"""


def test_many_writer_and_reader_processes_never_see_a_torn_pair(
    redis_url: str, tmp_path: Path
) -> None:
    def start(role: str, n: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", STORE_WORKER, role, redis_url, "3", f"w{n}"],
            env=child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )

    workers = [start("writer", n) for n in range(3)] + [start("reader", n) for n in range(4)]
    reports = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        reports.append(json.loads(out))
    readers = [report for report in reports if report["role"] == "reader"]
    assert all(report["distinct"] > 1 for report in readers)  # they saw values change
    assert [report["torn"] for report in readers] == [0, 0, 0, 0]
