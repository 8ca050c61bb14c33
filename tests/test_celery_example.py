"""examples/celery_orders: its task answers from the bundled flags (Celery's eager mode, in
this process: setup() then creates the client on first use)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from unleash_lite import UnleashClient


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("UNLEASH_URL", raising=False)
    from examples.celery_orders import tasks

    tasks.app.conf.task_always_eager = True
    yield tasks
    tasks.app.conf.task_always_eager = False


def test_the_example_task_follows_the_flag(tasks: Any) -> None:
    answers = [tasks.ship.delay(n, f"user-{n}", "pro").get() for n in range(40)]
    kinds = [answer.removeprefix(f"order {n}: ") for n, answer in enumerate(answers)]
    assert set(kinds) == {"priority", "standard"}  # a 50% rollout: some in, not all
    assert tasks.ship.delay(1, "user-1", "free").get() == "order 1: standard"  # not pro
    assert isinstance(tasks.unleash.client, UnleashClient)
    assert tasks.unleash.client.is_ready()
