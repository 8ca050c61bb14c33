"""The figures the reliability suite measures (written to the JSON file named by
``$UNLEASH_LITE_FIGURES``, for ``docs/reliability.md``; see ``report.py``). The ``server``
and ``make_client`` fixtures are the suite-wide ones of ``tests/conftest.py``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

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
