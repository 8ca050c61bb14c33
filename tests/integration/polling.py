"""Waiting for eventually-consistent server state."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    what: str = "condition",
) -> tuple[T, float]:
    """Call ``probe`` until it returns something truthy; return it and the seconds waited.

    Raises AssertionError (with the last value seen) after ``timeout`` seconds.
    """
    started = time.monotonic()
    while True:
        value = probe()
        elapsed = time.monotonic() - started
        if value:
            return value, elapsed
        if elapsed > timeout:
            raise AssertionError(f"{what} not met after {timeout:.0f}s (last value: {value!r})")
        time.sleep(interval)


def holds_for(
    probe: Callable[[], T | None],
    seconds: float,
    *,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call ``probe`` for ``seconds``; every answer must be truthy. Return the last one.

    For "nothing changes" checks (answers kept during an outage, no late duplicate).
    """
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if not value:
            raise AssertionError(f"{what} stopped holding (value: {value!r})")
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)
