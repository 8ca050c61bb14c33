"""16 threads evaluating while the poller swaps snapshots every few milliseconds (a fetched
body installed by the sync layer: parse, compile, swap, cache): no exception, and every
answer is the answer of payload A or of payload B, never of a mix of the two.

The payloads are built so a mix would show: a child flag whose parent requirement is met
only by its own payload's parent, a flag whose segment exists only in its own payload, and
a variant whose payload must belong to the variant.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.support.doubles import DictCache, StubScheduler
from tests.support.helpers import frequent_thread_switches
from tests.support.payloads import encode, etag_of, feature, payload
from tests.support.server import TOKEN, FakeUnleashServer
from unleash_lite import UnleashClient

from .conftest import Figures

THREADS = 16
RUN_SECONDS = 1.0


def in_list(users: list[str]) -> dict[str, Any]:
    return {"contextName": "userId", "operator": "IN", "values": users}


USERS = [f"user-{n}" for n in range(20)]

SWAP_A = payload(
    feature("parent", enabled=True),
    feature("child", dependencies=[{"feature": "parent", "enabled": True}]),
    feature(
        "segmented",
        strategies=[{"name": "default", "parameters": {}, "constraints": [], "segments": [1]}],
    ),
    feature(
        "colour",
        variants=[
            {
                "name": "red",
                "weight": 1000,
                "weightType": "variable",
                "stickiness": "default",
                "payload": {"type": "string", "value": "red-of-a"},
            }
        ],
    ),
    feature("only-a"),
    feature(
        "rollout",
        strategies=[
            {
                "name": "flexibleRollout",
                "constraints": [],
                "parameters": {"rollout": "30", "stickiness": "userId", "groupId": "rollout"},
            }
        ],
    ),
    segments=[{"id": 1, "constraints": [in_list(USERS)]}],
)
SWAP_B = payload(
    feature("parent", enabled=False),
    feature("child", dependencies=[{"feature": "parent", "enabled": False}]),
    feature(
        "segmented",
        strategies=[{"name": "default", "parameters": {}, "constraints": [], "segments": [2]}],
    ),
    feature(
        "colour",
        variants=[
            {
                "name": "blue",
                "weight": 1000,
                "weightType": "variable",
                "stickiness": "default",
                "payload": {"type": "string", "value": "blue-of-b"},
            }
        ],
    ),
    feature("only-b"),
    feature(
        "rollout",
        strategies=[
            {
                "name": "flexibleRollout",
                "constraints": [],
                "parameters": {"rollout": "70", "stickiness": "userId", "groupId": "rollout"},
            }
        ],
    ),
    segments=[{"id": 2, "constraints": [in_list(USERS)]}],
)


def answers_of(data: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """What a client holding only ``data`` answers, for each flag and user."""
    client = UnleashClient("", "oracle", bootstrap=data, disable_metrics=True)
    return {
        (name, user): (
            client.is_enabled(name, {"userId": user}),
            client.get_variant(name, {"userId": user}),
        )
        for name in ("parent", "child", "segmented", "colour", "only-a", "only-b", "rollout")
        for user in USERS
    }


def test_sixteen_threads_while_snapshots_swap_every_few_milliseconds(
    server: FakeUnleashServer, figures: Figures
) -> None:
    expected_a, expected_b = answers_of(SWAP_A), answers_of(SWAP_B)
    assert any(expected_a[k] != expected_b[k] for k in expected_a)  # the payloads differ
    server.payload = SWAP_A
    client = UnleashClient(
        server.url,
        "threads-app",
        custom_headers={"Authorization": TOKEN},
        cache=DictCache(),
        scheduler=StubScheduler(),
        request_timeout=5,
        disable_registration=True,
    )
    client.initialize_client()
    sync = client._sync
    assert sync is not None
    stop = threading.Event()
    errors: list[str] = []
    wrong: list[Any] = []
    calls = [0] * THREADS
    swaps = [0]

    bodies = [
        (encode(SWAP_B).decode(), etag_of(SWAP_B)),
        (encode(SWAP_A).decode(), etag_of(SWAP_A)),
    ]

    def swapper() -> None:
        try:
            while not stop.is_set():
                # what a poll does once the body has arrived: parse, compile, swap, cache
                problem = sync.loader.install_fetched(*bodies[swaps[0] % 2])
                if problem is not None:
                    errors.append(problem)
                swaps[0] += 1
                time.sleep(0.002)
        except BaseException as error:
            errors.append(f"swapper: {error!r}")

    def reader(index: int) -> None:
        made = 0
        try:
            while not stop.is_set():
                user = USERS[made % len(USERS)]
                context = {"userId": user}
                for name in ("child", "segmented"):  # True in A and in B: False is a mix
                    if not client.is_enabled(name, context):
                        wrong.append((name, user))
                colour = client.get_variant("colour", context)
                if (colour["name"], colour.get("payload", {}).get("value")) not in (
                    ("red", "red-of-a"),
                    ("blue", "blue-of-b"),
                ):
                    wrong.append(colour)
                for name in ("parent", "rollout", "only-a"):
                    answer = client.is_enabled(name, context)
                    if answer not in (expected_a[(name, user)][0], expected_b[(name, user)][0]):
                        wrong.append((name, user, answer))
                names = set(client.snapshot.features)
                if names not in (
                    {f["name"] for f in SWAP_A["features"]},
                    {f["name"] for f in SWAP_B["features"]},
                ):
                    wrong.append(names)
                made += 6
                time.sleep(0)  # a request thread does some I/O now and then: the GIL changes hands
        except BaseException as error:
            errors.append(f"reader {index}: {error!r}")
        calls[index] = made

    readers = [threading.Thread(target=reader, args=(i,)) for i in range(THREADS)]
    swapping = threading.Thread(target=swapper)
    with frequent_thread_switches(5e-3):
        for thread in (*readers, swapping):
            thread.start()
        time.sleep(RUN_SECONDS)
        deadline = time.monotonic() + 10  # a loaded machine: give the swapper its turns
        while swaps[0] < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for thread in (*readers, swapping):
            thread.join(30)
    client.destroy()
    assert errors == []
    assert wrong[:5] == []
    assert swaps[0] >= 50
    evaluations = sum(calls)
    totals = client.metrics.totals()
    counted = sum(reading["yes"] + reading["no"] for reading in totals.values())
    assert counted == evaluations  # every evaluation counted, none lost to a swap
    figures.add(
        "threads",
        threads=THREADS,
        swaps=swaps[0],
        evaluations=evaluations,
        mixed_answers=0,
        exceptions=0,
        swap_every_ms=round(1000 * RUN_SECONDS / max(swaps[0], 1), 1),
    )
