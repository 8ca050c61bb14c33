"""Helpers every suite uses: wait for a condition, find a free port, read log records,
stop the clients a test left running, and hold what a command run in-process gave.

Nothing here is a fixture; the fixtures built on them are in ``tests/conftest.py``.
"""

from __future__ import annotations

import atexit
import json
import logging
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unleash_lite import UnleashClient

def wait_for(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01,
             message: str | Callable[[], str] = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds
    (``message`` may be a function, to describe the state at that moment)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            what = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@contextmanager
def frequent_thread_switches(interval: float = 1e-5) -> Iterator[None]:
    """Make the interpreter switch threads every ``interval`` seconds (default every 5 ms),
    so races between evaluating threads and a swapping thread get many chances to show."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def free_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def messages(records: Iterable[logging.LogRecord], level: int | None = None,
             logger: str = "unleash_lite") -> list[str]:
    """The messages logged by ``logger`` (at ``level`` exactly, when given)."""
    return [r.getMessage() for r in records
            if r.name == logger and (level is None or r.levelno == level)]


def app_log_lines(records: list[logging.LogRecord], since: int = 0) -> list[logging.LogRecord]:
    """What an application logging at INFO would see (of ``records[since:]``): ours at INFO
    and up, and any other library's warnings (urllib3's retries included)."""
    return [r for r in records[since:]
            if r.levelno >= logging.WARNING
            or (r.name == "unleash_lite" and r.levelno >= logging.INFO)]


def full_text(record: logging.LogRecord) -> str:
    """Everything a handler could print for a record: message, exception and stack."""
    return logging.Formatter("%(name)s %(levelname)s %(message)s").format(record) + " " + repr(
        record.args)


@contextmanager
def stopping_leftover_clients() -> Iterator[None]:
    """Stop (without the final metrics flush) every client created inside the block that is
    still initialized, e.g. because an assertion failed before its ``destroy()``; otherwise
    its atexit flush would try the network when the interpreter exits."""
    from unleash_lite.sync import processes

    before = set(map(id, processes._clients))
    try:
        yield
    finally:
        for client in list(processes._clients):
            if id(client) not in before:
                stop_without_flush(client)


def stop_without_flush(client: UnleashClient) -> None:
    """Stop a client that is still initialized without its final metrics flush (the test has
    counted what it wanted; the server may be gone already)."""
    if not client.is_initialized or client._sync is None:
        return
    atexit.unregister(client._flush_at_exit)
    client._sync.stop(flush_budget=None)
    client._sync.runner.stop(timeout=5)  # a poll in progress must not log in the next test
    client.is_initialized = False


@dataclass
class Ran:
    """What a command run in the test's process gave: exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def json(self) -> Any:
        return json.loads(self.out)
