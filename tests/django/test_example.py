"""The example project, examples/django_shop, run as a user runs it: its own tests under
Django's test runner, ``manage.py`` commands, and ``runserver`` against a fake Unleash
server (one client per process, none started by ``migrate``, the last counts sent at
exit)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.helpers import free_port, wait_for
from tests.support.server import FakeUnleashServer

SHOP = Path(__file__).resolve().parents[2] / "examples" / "django_shop"
FLAGS = json.loads((SHOP / "shop" / "flags.json").read_text(encoding="utf-8"))


def environment(tmp_path: Path, url: str = "") -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("UNLEASH_", "DJANGO_", "SHOP_"))
    }
    root = str(SHOP.parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env["SHOP_DATABASE"] = str(tmp_path / "shop.sqlite3")
    env["UNLEASH_CACHE_DIRECTORY"] = str(tmp_path / "cache")
    if url:
        env["UNLEASH_URL"] = url
    return env


def manage(tmp_path: Path, *args: str, url: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=SHOP,
        env=environment(tmp_path, url),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def server() -> Iterator[FakeUnleashServer]:
    with FakeUnleashServer(payload=FLAGS) as fake:
        yield fake


def test_the_example_s_tests_pass_under_django_s_test_runner(tmp_path: Path) -> None:
    result = manage(tmp_path, "test", "shop")
    assert result.returncode == 0, result.stderr
    assert "Ran 6 tests" in result.stderr and "OK" in result.stderr


def test_offline_the_commands_see_the_bundled_flags(tmp_path: Path) -> None:
    result = manage(tmp_path, "unleash", "eval", "member-prices", "-c", "userId=3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "member-prices: on"
    assert manage(tmp_path, "check").returncode == 0


def test_migrate_starts_no_client_and_a_command_that_uses_flags_does(
    tmp_path: Path, server: FakeUnleashServer
) -> None:
    result = manage(tmp_path, "migrate", url=server.url)
    assert result.returncode == 0, result.stderr
    assert server.recorded() == []
    result = manage(tmp_path, "unleash", "list", "--json", url=server.url)
    assert result.returncode == 0, result.stderr
    assert len(server.feature_gets()) == 1
    assert {flag["name"] for flag in json.loads(result.stdout)["flags"]} == {
        flag["name"] for flag in FLAGS["features"]
    }


def test_a_process_sends_its_last_counts_when_it_exits(
    tmp_path: Path, server: FakeUnleashServer
) -> None:
    code = (
        "from unleash_lite.django import get_client\n"
        "for _ in range(3): get_client().is_enabled('reports')\n"
    )
    result = manage(tmp_path, "shell", "-c", code, url=server.url)
    assert result.returncode == 0, result.stderr
    assert server.accepted_counts()[("reports", "yes")] == 3


def test_runserver_serves_concurrent_first_requests_with_one_client(
    tmp_path: Path, server: FakeUnleashServer
) -> None:
    assert manage(tmp_path, "migrate", url=server.url).returncode == 0
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=SHOP,
        env=environment(tmp_path, server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                # a page that checks no flag, so the requests below are the first to
                return requests.get(f"{base}/no-such-page/", timeout=5).status_code == 404
            except requests.ConnectionError:
                return process.poll() is not None  # stop waiting if it died

        with ThreadPoolExecutor(8) as pool:
            wait_for(up, timeout=60, message="runserver to answer")
            assert process.poll() is None
            pages = list(pool.map(lambda _: requests.get(f"{base}/", timeout=10), range(8)))
        assert all(page.status_code == 200 for page in pages)
        assert all("Winter sale: 20% off" in page.text for page in pages)
        price = requests.get(f"{base}/api/price/", timeout=10).json()
        assert price == {"price": 100, "discount": 20, "member": False}
        wait_for(lambda: server.recorded("/client/register"), message="the registration")
    finally:
        process.send_signal(signal.SIGINT)  # as Ctrl-C: the interpreter exits normally
        _, errors = process.communicate(timeout=30)
    # One client in the process: one registration, and every count sent by that instance.
    assert len(server.recorded("/client/register")) == 1
    assert len({post.body["instanceId"] for post in server.metrics_posts()}) == 1
    counts = server.accepted_counts()  # sent at exit
    assert counts[("banner", "variant:winter-sale")] == 8, errors
    assert counts[("reports", "yes")] == 8
