"""Soak: millions of evaluations and thousands of refreshes (real HTTP fetches of payloads
that change every time, installed and written to the disk cache), with metrics sent along
the way. Bounded to well under a minute. Proves:

* memory does not grow: of everything allocated during 300 traced refreshes after a
  warm-up (tracemalloc, after a full collection), less than a small bound is still held,
  and the number of live objects after all the refreshes is where it was after the warm-up;
* no thread leaks: the thread count is the same after every refresh, and back to where it
  was once the client is destroyed;
* every evaluation is counted and delivered.
"""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from tests.support.helpers import wait_for
from tests.support.payloads import encode, feature, payload, variants
from tests.support.server import TOKEN, Exchange, FakeUnleashServer, Reply
from unleash_lite import UnleashClient

from .conftest import Figures

REFRESHES = 2_000
EVALUATIONS_PER_REFRESH = 1_000
WARM_UP = 200
TRACED = 300  # refreshes (and their evaluations) run under tracemalloc
TIME_CAP = 40.0  # seconds: on a slow machine the soak stops early, above the minimums
MIN_REFRESHES, MIN_EVALUATIONS = 1_000, 1_000_000
GROWTH_BOUND = 256 * 1024  # bytes allocated in the traced window and still held after it
OBJECT_BOUND = 2_000  # more live objects at the end than after the warm-up


def rule(operator: str, context_name: str, values: list[str]) -> dict[str, Any]:
    return {"contextName": context_name, "operator": operator, "values": values}


def soak_payload(version: int) -> dict[str, Any]:
    """Flags of every kind; each version differs (so every refresh installs and writes)."""
    return payload(
        feature("constant"),
        feature(
            "by-user",
            strategies=[
                {
                    "name": "default",
                    "parameters": {},
                    "constraints": [rule("IN", "userId", [f"user-{n}" for n in range(0, 100, 3)])],
                }
            ],
        ),
        feature(
            "rollout",
            strategies=[
                {
                    "name": "flexibleRollout",
                    "constraints": [],
                    "parameters": {
                        "rollout": str(version % 100),
                        "stickiness": "userId",
                        "groupId": "r",
                    },
                }
            ],
        ),
        feature(
            "regex",
            strategies=[
                {
                    "name": "default",
                    "parameters": {},
                    "constraints": [
                        {
                            "contextName": "email",
                            "operator": "REGEX",
                            "value": r"^[a-z]+-\d+@example\.com$",
                        }
                    ],
                }
            ],
        ),
        feature("variants", variants=variants("one", "two")),
        feature("parent"),
        feature("child", dependencies=[{"feature": "parent", "enabled": True}]),
        feature("toggled", enabled=bool(version % 2)),
    )


def changing() -> Reply:
    counter = [0]
    lock = threading.Lock()

    def reply(exchange: Exchange) -> None:
        with lock:
            counter[0] += 1
            data = soak_payload(counter[0])
        exchange.send(
            200, encode(data), {"ETag": f'"v{counter[0]}"', "Content-Type": "application/json"}
        )

    return reply


def own_threads() -> int:
    """Threads of this process but those the fake server runs for its connections."""
    return sum(
        1
        for thread in threading.enumerate()
        if thread.name != "fake-unleash" and "process_request" not in thread.name
    )


def test_soak(server: FakeUnleashServer, tmp_path: Path, figures: Figures) -> None:
    server.keep_feature_gets = False  # thousands of them: count, do not keep
    server.features.always(changing())
    threads_before = own_threads()
    client = UnleashClient(
        server.url,
        "soak-app",
        custom_headers={"Authorization": TOKEN},
        cache_directory=str(tmp_path),
        refresh_interval=3600,
        metrics_interval=3600,
        request_timeout=5,
    )
    client.initialize_client()  # the real scheduler; the polls below are driven by hand
    sync = client._sync
    assert sync is not None
    names = ["constant", "by-user", "rollout", "regex", "variants", "child", "toggled"]
    contexts = [
        {
            "userId": f"user-{n}",
            "email": f"someone-{n}@example.com",
            "properties": {"tenant": str(n % 7)},
        }
        for n in range(100)
    ]
    is_enabled, get_variant = client.is_enabled, client.get_variant
    evaluations = refreshes = 0

    def refresh_and_evaluate() -> None:
        nonlocal evaluations, refreshes
        sync.poll()
        refreshes += 1
        for index in range(EVALUATIONS_PER_REFRESH // 10):
            context = contexts[index % 100]
            for name in names:
                is_enabled(name, context)
            is_enabled("missing", context)
            is_enabled("child", context)
            get_variant("variants", context)
        evaluations += EVALUATIONS_PER_REFRESH
        if refreshes % 250 == 0:
            sync.send_metrics()

    started = time.monotonic()
    for _ in range(WARM_UP):
        refresh_and_evaluate()
    sync.send_metrics()
    threads_running = own_threads()  # the scheduler's pool has all its threads by now
    gc.collect()
    objects_before = len(gc.get_objects())
    tracemalloc.start()
    for _ in range(TRACED):
        refresh_and_evaluate()
    sync.send_metrics()
    gc.collect()
    growth, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    deadline = started + TIME_CAP
    while refreshes < REFRESHES and time.monotonic() < deadline:
        refresh_and_evaluate()
        if refreshes % 100 == 0:
            assert own_threads() == threads_running
    sync.send_metrics()
    gc.collect()
    object_growth = len(gc.get_objects()) - objects_before
    seconds = time.monotonic() - started
    assert client.is_enabled("toggled") is bool((refreshes + 1) % 2)  # the last payload
    assert server.feature_get_count == refreshes + 1
    delivered = server.accepted_counts()
    client.destroy()
    wait_for(
        lambda: own_threads() <= threads_before, timeout=10, message="the client's threads to end"
    )

    assert refreshes >= MIN_REFRESHES and evaluations >= MIN_EVALUATIONS, (refreshes, seconds)
    assert growth < GROWTH_BOUND, f"{growth} bytes allocated in the traced window still held"
    assert object_growth < OBJECT_BOUND, f"{object_growth} more live objects"
    counted = sum(n for (name, kind), n in delivered.items() if kind in ("yes", "no"))
    assert counted == evaluations  # every evaluation was delivered, once
    figures.add(
        "soak",
        refreshes=refreshes,
        evaluations=evaluations,
        seconds=round(seconds, 1),
        traced_refreshes=TRACED,
        memory_growth_kib=round(growth / 1024, 1),
        traced_peak_kib=round(peak / 1024, 1),
        live_object_growth=object_growth,
        threads_before=threads_before,
        threads_running=threads_running,
        threads_after=own_threads(),
    )
