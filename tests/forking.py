"""Run a test's code in a forked child process and get its report back."""

from __future__ import annotations

import json
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest


def run_in_child(body: Callable[[], dict[str, Any]], timeout: float = 20.0) -> dict[str, Any]:
    """Fork; run ``body`` in the child and return its JSON report. The child always leaves
    through ``os._exit``; a child that overruns ``timeout`` (a deadlock) is killed and the
    test fails."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read_end)
            signal.alarm(int(timeout) + 5)  # the last resort against a deadlocked child
            report = body()
            status = 0
        except BaseException as error:
            report = {"error": f"{type(error).__name__}: {error}"}
        try:
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(status)
    os.close(write_end)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"the forked child did not finish within {timeout}s: a deadlock")
            ready, _, _ = select.select([read_end], [], [], 0.1)
            if ready:
                chunk = os.read(read_end, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    report = json.loads(b"".join(chunks) or b'{"error": "no report"}')
    assert "error" not in report, report["error"]
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    return dict(report)
