"""The FastAPI example (``examples/fastapi_checkout``, wired with ``unleash_lite.asgi``)
under a real uvicorn with two worker processes, each running its own ``AsyncUnleashClient``
(``unleash_lifespan``), against the real Unleash server: every request's context is set by
``UnleashMiddleware`` (the flag is evaluated without a context, for the request's user),
``flag_required`` refuses the gated route (404) while the flag is off and serves it once on,
switching the flag on in the Admin API changes every worker's answers within a refresh, and
when uvicorn stops, each worker's lifespan sends its last counts, so the server holds exactly
as many evaluations as the service answered requests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.support.helpers import free_port

from .admin import AdminApi
from .polling import wait_for
from .server import UnleashServer
from .test_metrics_arrive import metrics_delay

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2


@pytest.fixture
def service(
    unleash_server: UnleashServer, unique_name: Callable[[str], str], tmp_path: Path
) -> Iterator[tuple[str, str, str, subprocess.Popen[bytes]]]:
    """uvicorn serving the example with two workers: (base URL, flag, app name, process)."""
    flag, app_name, port = f"new_checkout_{uuid.uuid4().hex[:8]}", unique_name("app"), free_port()
    environment = {
        **os.environ,
        "UNLEASH_URL": unleash_server.api_url,
        "UNLEASH_API_TOKEN": unleash_server.client_token,
        "UNLEASH_APP_NAME": app_name,
        "CHECKOUT_FLAG": flag,
        "UNLEASH_REFRESH_INTERVAL": "1",
        "UNLEASH_METRICS_INTERVAL": "3600",  # only the shutdown sends: counts arrive once
        "UNLEASH_CACHE_DIRECTORY": str(tmp_path / "cache"),
    }
    log = (tmp_path / "uvicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.fastapi_checkout.app:app",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS)],
        cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}", flag, app_name, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()


def test_two_uvicorn_workers_follow_the_flag_and_send_exact_counts_at_shutdown(
    request: pytest.FixtureRequest,
    unleash_server: UnleashServer,
    admin: AdminApi,
    service: tuple[str, str, str, subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    base, flag, app_name, process = service
    admin.create_flag(flag, description="examples/fastapi_checkout")
    request.addfinalizer(lambda: admin.delete_flag(flag))
    answers: Counter[str] = Counter()
    workers: set[int] = set()

    def checkout(user: int) -> str:
        reply = requests.get(f"{base}/checkout", params={"user": str(user)}, timeout=5).json()
        answers[reply["flow"]] += 1
        workers.add(reply["pid"])
        # the middleware's context, as the dependency gives it (and the evaluation used it)
        assert reply["context"] == {"userId": str(user), "remoteAddress": "127.0.0.1"}
        return str(reply["flow"])

    def gated(user: int) -> int:
        reply = requests.get(f"{base}/new-checkout", params={"user": str(user)}, timeout=5)
        answers["new" if reply.status_code == 200 else "classic"] += 1  # one evaluation each
        return reply.status_code

    def health() -> bool:
        try:
            return bool(requests.get(f"{base}/health", timeout=1).json()["ready"])
        except requests.RequestException:
            return False

    log = lambda: (tmp_path / "uvicorn.log").read_text(errors="replace")  # noqa: E731
    wait_for(health, timeout=30, what="uvicorn to serve (its log is in tmp_path)")
    assert checkout(1) == "classic"  # a flag that is off (the default strategy, disabled)
    assert gated(1) == 404
    admin.enable(flag)
    user = iter(range(2, 10_000))
    # every worker sees the change: 20 answers in a row on the new flow, from both workers
    wait_for(
        lambda: all(checkout(next(user)) == "new" for _ in range(20)) and len(workers) == WORKERS,
        timeout=15,
        what="both workers answering the new flow",
    )
    assert [gated(next(user)) for _ in range(4)] == [200] * 4
    process.send_signal(signal.SIGTERM)  # uvicorn runs each worker's lifespan shutdown
    assert process.wait(30) == 0, log()
    assert "Unclosed" not in log(), log()
    expected = {"yes": answers["new"], "no": answers["classic"], "variants": {}}
    wait_for(
        lambda: admin.metric_totals(flag, app_name=app_name) == expected,
        timeout=metrics_delay(unleash_server),
        what=f"exact counts {expected} on the server",
    )
