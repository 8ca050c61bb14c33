"""Lifecycle and time bounds: what a client leaves behind when it is destroyed or the process
exits, how long its calls may take when the server hangs or refuses, and how many log lines
an outage costs a host application that configured ``logging.basicConfig(level=WARNING)``.

Every case runs a real client against a real HTTP server on 127.0.0.1 (the fake control
service), and the exit cases in a real child interpreter. The destroy and time-bound cases
run for both clients (``kind``).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import free_port, wait_for
from tests.support.kinds import Driven, DrivenFactory
from tests.support.server import PAYLOAD_A, TOKEN, FakeUnleashServer, accept, hang
from unleash_lite import FileCache, UnleashClient, UnleashEventType

from .conftest import Figures

REPO = Path(__file__).resolve().parents[2]


def our_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("unleash-lite")}


def threads_but_the_loops() -> list[threading.Thread]:
    """Every thread but an asyncio loop's default executor's (the async client runs its file
    I/O there: those threads are the loop's, and end with it)."""
    return [t for t in threading.enumerate() if not t.name.startswith("asyncio_")]


@pytest.fixture
def threads_before() -> set[threading.Thread]:
    """Threads of ours left by clients of earlier tests (not this test's to judge)."""
    return our_threads()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


SETTINGS: dict[str, Any] = {
    "request_timeout": 2,
    "refresh_interval": 60,
    "metrics_interval": 60,
}


def make(url: str, tmp_path: Path, **options: Any) -> UnleashClient:
    settings: dict[str, Any] = {
        "custom_headers": {"Authorization": TOKEN},
        "cache_directory": str(tmp_path),
        **SETTINGS,
    }
    settings.update(options)
    return UnleashClient(url, "lifecycle", **settings)


@pytest.fixture
def make_either(make_driven: DrivenFactory) -> DrivenFactory:
    """Clients of the test's ``kind`` with :data:`SETTINGS` (and the factory's defaults)."""
    return make_driven.with_defaults(app_name="lifecycle", request_retries=3, **SETTINGS)


@pytest.fixture
def caught_thread_errors() -> Iterator[list[str]]:
    """Exceptions that ended a thread (threading.excepthook), of any thread."""
    errors: list[str] = []
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        errors.append(f"{args.thread.name if args.thread else '?'}: {args.exc_type.__name__}")

    threading.excepthook = hook
    try:
        yield errors
    finally:
        threading.excepthook = previous


# -- destroy ------------------------------------------------------------------------------------


def test_destroy_ends_every_thread_and_connection_the_client_started(
    server: FakeUnleashServer,
    make_either: DrivenFactory,
    figures: Figures,
    threads_before: set[threading.Thread],
) -> None:
    """200 create/initialize/evaluate/destroy cycles with an event_callback used to leave
    200 event threads behind."""
    events: list[Any] = []
    gc.collect()
    count_before, fds_before = len(threads_but_the_loops()), open_descriptors()
    for _ in range(200):
        client = make_either(
            server.url,
            event_callback=events.append,
            multiple_instance_mode=_silent(),
        )
        client.initialize_client()
        client.is_enabled("shared")
        client.destroy()
    assert our_threads() <= threads_before
    wait_for(lambda: open_descriptors() <= fds_before + 2, message="sockets to close")
    gc.collect()
    figures.add(
        "lifecycle",
        case=f"200 create/destroy cycles with event_callback ({make_either.kind})",
        threads_left=len(threads_but_the_loops()) - count_before,
        descriptors_left=open_descriptors() - fds_before,
    )
    assert len(threads_but_the_loops()) <= count_before
    assert len([e for e in events if e.event_type is UnleashEventType.READY]) == 200


def test_destroy_called_from_the_event_callback_during_start_up(
    server: FakeUnleashServer,
    tmp_path: Path,
    caught_thread_errors: list[str],
    threads_before: set[threading.Thread],
) -> None:
    """It used to kill APScheduler's thread with an uncaught JobLookupError now and then."""
    for attempt in range(30):
        holder: list[UnleashClient] = []
        destroyed = threading.Event()

        def on_event(event: Any, holder: list[UnleashClient] = holder,
                     destroyed: threading.Event = destroyed) -> None:
            if event.event_type is UnleashEventType.READY:
                holder[0].destroy()
                destroyed.set()

        client = make(
            server.url,
            tmp_path / str(attempt),  # no cached flags: READY comes from the first fetch
            event_callback=on_event,
            refresh_interval=0.01,
            metrics_interval=0.01,
            multiple_instance_mode=_silent(),
        )
        holder.append(client)
        client.initialize_client()
        assert destroyed.wait(5)
        client.is_enabled("shared")
    wait_for(lambda: our_threads() <= threads_before, message="every thread of ours to end")
    assert caught_thread_errors == []


# -- time bounds --------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["bootstrap", "disk cache"])
def test_with_flags_at_hand_a_refusing_server_costs_initialize_client_nothing(
    source: str, tmp_path: Path, figures: Figures, make_either: DrivenFactory
) -> None:
    """It took 1.2 s (a refused connection retried with backoff); the official SDK returns
    at once. The background poll keeps trying."""
    url = f"http://127.0.0.1:{free_port()}/api"
    options: dict[str, Any] = {"request_retries": 3}
    if source == "bootstrap":
        options["bootstrap"] = PAYLOAD_A
    else:
        cache = FileCache("lifecycle-cache", directory=str(tmp_path))
        cache.mset({"/client/features": json.dumps(PAYLOAD_A), "etag": '"e1"'})
        options["cache"] = cache
    client = make_either(url, **options)
    started = time.monotonic()
    client.initialize_client()
    elapsed = time.monotonic() - started
    try:
        figures.add(
            "time bounds",
            case=f"initialize_client, {source}, refused ({client.kind})",
            seconds=elapsed,
        )
        assert client.is_enabled("shared")
        assert elapsed < 0.2
    finally:
        client.destroy()


@pytest.mark.parametrize("retries", [0, 3])
def test_a_server_that_never_answers_holds_initialize_and_destroy_for_the_timeout_only(
    server: FakeUnleashServer,
    tmp_path: Path,
    figures: Figures,
    retries: int,
    threads_before: set[threading.Thread],
    make_either: DrivenFactory,
) -> None:
    """One poll used to last (1 + retries) x request_timeout."""
    release = threading.Event()
    server.features.always(hang(release, accept()))
    server.metrics.always(hang(release, accept()))
    client: Driven = make_either(server.url, request_timeout=0.5, request_retries=retries)
    try:
        started = time.monotonic()
        client.initialize_client()
        initialize = time.monotonic() - started
        client.is_enabled("anything")
        started = time.monotonic()
        client.destroy()
        destroy = time.monotonic() - started
    finally:
        release.set()
    figures.add(
        "time bounds",
        case=f"hanging server, request_timeout=0.5, request_retries={retries} ({client.kind})",
        initialize_seconds=initialize,
        destroy_seconds=destroy,
    )
    assert 0.4 <= initialize < 0.9
    assert destroy < 1.2  # the flush (bounded) and the end of the poll in progress
    assert our_threads() <= threads_before


# -- interpreter exit and logs, in a real child interpreter --------------------------------


def run_child(script: str, timeout: float = 30) -> tuple[float, str]:
    """Run ``script`` in a new interpreter; its wall time and what it wrote to stderr."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    return elapsed, done.stderr


def test_exit_while_a_metrics_post_hangs_is_bounded_and_quiet(
    server: FakeUnleashServer, tmp_path: Path, figures: Figures
) -> None:
    """The process used to live as long as the request (26 s seen), then print tracebacks
    ("cannot schedule new futures after interpreter shutdown")."""
    release = threading.Event()
    server.metrics.always(hang(release, accept()))
    try:
        elapsed, stderr = run_child(
            f"""
            import logging, time
            logging.basicConfig(level=logging.WARNING)
            from unleash_lite import UnleashClient
            client = UnleashClient({server.url!r}, "exiting", request_timeout=30,
                                   custom_headers={{"Authorization": {TOKEN!r}}},
                                   cache_directory={str(tmp_path)!r}, metrics_interval=0.2)
            client.initialize_client()
            for _ in range(10):
                client.is_enabled("shared")
            time.sleep(0.5)  # the periodic send starts and hangs
            started = time.monotonic()
            """
        )
    finally:
        release.set()
    figures.add("lifecycle", case="exit while a metrics POST hangs", seconds=elapsed)
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) <= 1, stderr
    assert elapsed < 6  # interpreter start and imports, 0.5 s of work, the 2 s exit bound


def test_an_outage_costs_one_line_per_change_of_state(
    tmp_path: Path, figures: Figures
) -> None:
    """Server down with ``logging.basicConfig(level=WARNING)``: 24 relabelled urllib3
    "Retrying" lines in 6.5 s, an APScheduler warning on every tick a poll outlasted the
    interval, and APScheduler INFO lines used to reach the host's handler."""
    refused = f"http://127.0.0.1:{free_port()}/api"
    with FakeUnleashServer() as hanging:
        release = threading.Event()
        hanging.features.always(hang(release, accept()))
        try:
            _, stderr = run_child(
                f"""
                import logging, time
                logging.basicConfig(level=logging.WARNING)
                from unleash_lite import UnleashClient
                for url, name in (({refused!r}, "refused"), ({hanging.url!r}, "hanging")):
                    client = UnleashClient(url, name, refresh_interval=0.1,
                                           metrics_interval=0.1, request_timeout=0.3,
                                           custom_headers={{"Authorization": {TOKEN!r}}},
                                           cache_directory={str(tmp_path)!r})
                    client.initialize_client()
                    for _ in range(5):
                        client.is_enabled("shared")
                    time.sleep(2.5)
                    client.destroy()
                """
            )
        finally:
            release.set()
    lines = stderr.splitlines()
    figures.add("logs", case="refused then hanging server, 2.5 s each", lines=len(lines))
    assert not [line for line in lines if not line.startswith("WARNING:unleash_lite:")], stderr
    # per client: the flags fetch failing, no flags yet, and (refused) the metrics failing;
    # then nothing more, however many polls and sends failed
    fetch = [line for line in lines if "flags fetch: server unavailable" in line]
    assert len(fetch) == 2 and "ConnectionError" in fetch[0] and "timed out" in fetch[1]
    assert len([line for line in lines if "no flags yet" in line]) == 2
    assert len([line for line in lines if "Unleash metrics:" in line]) <= 2
    assert len(lines) <= 6, stderr


def _silent() -> Any:
    from unleash_lite import InstanceAllowType

    return InstanceAllowType.SILENTLY_ALLOW
