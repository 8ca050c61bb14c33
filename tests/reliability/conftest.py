"""Fixtures of the reliability suite: a fresh fake control service per test, no client left
running after its test, and the figures the suite measures (written to the JSON file named
by ``$UNLEASH_LITE_FIGURES``, for ``docs/reliability.md``; see ``report.py``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.sync import stopping_leftover_clients

from .fake_server import FakeUnleash

FIGURES_ENV = "UNLEASH_LITE_FIGURES"


class Figures:
    """Rows measured by the tests, grouped by table."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {}

    def add(self, table: str, **row: Any) -> None:
        self.tables.setdefault(table, []).append(row)


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    collected = Figures()
    yield collected
    target = os.environ.get(FIGURES_ENV)
    if target and collected.tables:
        existing: dict[str, Any] = {}
        if os.path.exists(target):
            with open(target, encoding="utf-8") as handle:
                existing = json.load(handle)
        existing.update(collected.tables)
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(existing, handle, indent=1, sort_keys=True)


@pytest.fixture
def server() -> Iterator[FakeUnleash]:
    with FakeUnleash() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _no_client_outlives_its_test() -> Iterator[None]:
    with stopping_leftover_clients():
        yield
