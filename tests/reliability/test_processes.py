"""Processes: several of them sharing one cache directory, and forks in the middle of a
refresh or of a metrics send.

* Writers fetch and write the shared cache file for many cycles (every answer is a new
  payload) while readers keep starting new clients from that file: every start sees one
  complete payload, never a torn or partial file, and logs nothing.
* A child forked while the parent's poller is mid-request (or mid-install, or while a
  metrics send is in flight) neither deadlocks nor loses its poller: it answers at once, its
  own poller installs the next payload, and its metrics send holds only its own counts.
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.forking import run_in_child
from tests.support.clients import new_client
from tests.support.doubles import StubScheduler
from tests.support.helpers import wait_for
from tests.support.payloads import encode, etag_of, feature, payload, variants
from tests.support.server import (
    PAYLOAD_A,
    PAYLOAD_B,
    TOKEN,
    Exchange,
    FakeUnleashServer,
    Reply,
    accept,
    hang,
    serve_payload,
)
from unleash_lite import FileCache, InstanceAllowType, UnleashClient
from unleash_lite.cache import ETAG, FEATURES_URL
from unleash_lite.config import DEFAULT_REQUEST_RETRIES

from .conftest import Figures

FLAGS_EACH = 150
BIG_A = payload(
    feature("marker", variants=variants("from-a")),
    *(feature(f"a-{n}", enabled=bool(n % 2)) for n in range(FLAGS_EACH)),
)
BIG_B = payload(
    feature("marker", variants=variants("from-b")),
    *(feature(f"b-{n}", enabled=not n % 2) for n in range(FLAGS_EACH)),
)
NAMES = {
    etag_of(BIG_A): {f["name"] for f in BIG_A["features"]},
    etag_of(BIG_B): {f["name"] for f in BIG_B["features"]},
}
WRITERS, READERS, CYCLES = 3, 3, 60


def alternating() -> Reply:
    """A or B, the other one each time (ETags ignored): every poll installs and writes."""
    turn = [0]
    lock = threading.Lock()

    def reply(exchange: Exchange) -> None:
        with lock:
            turn[0] += 1
            data = BIG_A if turn[0] % 2 else BIG_B
        exchange.send(
            200, encode(data), {"ETag": etag_of(data), "Content-Type": "application/json"}
        )

    return reply


def shared_cache_client(url: str, directory: str, **options: Any) -> UnleashClient:
    """A client of the shared cache directory, polled by hand: no metrics, no registration."""
    return new_client(
        url,
        directory,
        app_name="shared-cache",
        scheduler=StubScheduler(),
        disable_metrics=True,
        disable_registration=True,
        request_timeout=5,
        request_retries=DEFAULT_REQUEST_RETRIES,
        **options,
    )


def _writer(url: str, directory: str, start: Any, results: Any) -> None:
    start.wait(30)
    client = shared_cache_client(
        url, directory, multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW
    )
    client.initialize_client()
    assert client._sync is not None
    for _ in range(CYCLES):
        client._sync.poll()
    results.put(("writer", CYCLES, []))


def _reader(url: str, directory: str, start: Any, done: Any, results: Any) -> None:
    """Start clients from the cache file until the writers are done; report any start that
    saw anything but one whole payload, and any warning logged."""
    problems: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                problems.append(f"logged: {record.getMessage()[:200]}")

    logging.getLogger("unleash_lite").addHandler(Catch())
    start.wait(30)
    shared = FileCache(_cache_file_name(url), directory=directory)
    starts = 0
    deadline = time.monotonic() + 60
    while not done.is_set() and time.monotonic() < deadline:
        client = UnleashClient(
            url,
            "shared-cache",
            custom_headers={"Authorization": TOKEN},
            cache_directory=directory,
            disable_metrics=True,
            multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
        )
        starts += 1
        if not client.is_ready():
            problems.append("a client started without flags")
            continue
        names = set(client.feature_definitions())
        if names not in NAMES.values():
            problems.append(f"a client started with {len(names)} flags of neither payload")
            continue
        expected = "from-a" if "a-0" in names else "from-b"
        if client.get_variant("marker")["name"] != expected:
            problems.append("a variant of the other payload")
        shared.reload()  # the fetch_toggles=False path: whole entries, the right ETag
        stored, etag = shared.get(FEATURES_URL), shared.get(ETAG)
        if stored is not None and NAMES.get(etag) != {
            f["name"] for f in json.loads(stored)["features"]
        }:
            problems.append("a reloaded cache whose ETag and flags disagree")
    results.put(("reader", starts, problems[:5] + [f"({len(problems)} problems)"] * bool(problems)))


def _cache_file_name(url: str) -> str:
    probe = UnleashClient(
        url,
        "shared-cache",
        custom_headers={"Authorization": TOKEN},  # the token is part of the cache file's key
        disable_metrics=True,
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    assert isinstance(probe.cache, FileCache)
    return probe.cache.path.stem


def test_processes_sharing_a_cache_directory_never_read_a_torn_file(
    server: FakeUnleashServer, tmp_path: Path, figures: Figures
) -> None:
    server.features.always(alternating())
    directory = str(tmp_path / "shared")
    seed = shared_cache_client(server.url, directory)
    seed.initialize_client()  # the file exists before the readers start
    seed.destroy()
    context = multiprocessing.get_context("fork")
    start, done, results = context.Event(), context.Event(), context.Queue()
    writers = [
        context.Process(target=_writer, args=(server.url, directory, start, results))
        for _ in range(WRITERS)
    ]
    readers = [
        context.Process(target=_reader, args=(server.url, directory, start, done, results))
        for _ in range(READERS)
    ]
    started = time.monotonic()
    try:
        for process in (*writers, *readers):
            process.start()
        start.set()
        for process in writers:
            process.join(90)
            assert process.exitcode == 0
        done.set()
        reports = [results.get(timeout=60) for _ in range(WRITERS + READERS)]
        for process in readers:
            process.join(30)
            assert process.exitcode == 0
    finally:
        done.set()
        for process in (*writers, *readers):
            if process.is_alive():
                process.kill()
                process.join(5)
    seconds = time.monotonic() - started
    starts = sum(count for kind, count, _ in reports if kind == "reader")
    writes = sum(count for kind, count, _ in reports if kind == "writer")
    problems = [p for _, _, found in reports for p in found]
    assert problems == []
    assert writes == WRITERS * CYCLES
    assert starts >= READERS  # every reader started at least once while writes went on
    assert sorted(p.name for p in Path(directory).iterdir()) == [
        Path(_cache_file_name(server.url)).name + ".json"
    ]  # no temporary file left
    figures.add(
        "processes",
        writers=WRITERS,
        readers=READERS,
        cache_writes=writes,
        starts_from_cache=starts,
        torn_or_partial_reads=0,
        seconds=round(seconds, 1),
        flags_per_payload=FLAGS_EACH + 1,
    )


# -- fork ------------------------------------------------------------------------------------


def by_connection(records: list[Any], connection: str) -> list[Any]:
    return [r for r in records if r.header("unleash-connection-id") == connection]


def forking_client(server: FakeUnleashServer, tmp_path: Path, **options: Any) -> UnleashClient:
    settings: dict[str, Any] = {
        "app_name": "forking-app",
        "refresh_interval": 0.1,
        "request_timeout": 5,
        "request_retries": DEFAULT_REQUEST_RETRIES,
    }
    return new_client(server.url, tmp_path / "cache", **{**settings, **options})


def test_fork_during_a_refresh(server: FakeUnleashServer, tmp_path: Path, figures: Figures) -> None:
    client = forking_client(server, tmp_path)
    release = threading.Event()
    try:
        client.initialize_client()
        assert client.is_enabled("only-a")
        for _ in range(4):
            client.is_enabled("shared")  # the parent's counts: never sent by the child
        server.features.then(hang(release, serve_payload()))
        assert server.hanging.wait(10)  # the parent's poller is inside its request now
        server.payload = PAYLOAD_B
        assert client._sync is not None
        parent_connection = client._sync.api.connection_id

        def child() -> dict[str, Any]:
            assert client._sync is not None
            started = time.monotonic()
            first_answer = client.is_enabled("only-a")  # from the flags it was forked with
            answered_in = time.monotonic() - started
            wait_for(
                lambda: client.is_enabled("only-b"),
                timeout=10,
                message="the child's own poller to install B",
            )
            switched_in = time.monotonic() - started
            client.is_enabled("shared")
            client.flush_metrics()
            return {
                "first": first_answer,
                "answered_in": answered_in,
                "switched_in": switched_in,
                "connection": client._sync.api.connection_id,
                "scheduler": bool(client._sync.runner.running),
            }

        report = run_in_child(child)
    finally:
        release.set()
    assert report["first"] is True and report["answered_in"] < 1.0
    assert report["scheduler"]
    assert report["connection"] != parent_connection
    child_gets = by_connection(server.feature_gets(), report["connection"])
    assert child_gets, "the child never polled"
    (child_post,) = by_connection(server.metrics_posts(), report["connection"])
    toggles = child_post.body["bucket"]["toggles"]
    assert toggles["shared"] == {"yes": 1, "no": 0, "variants": {}}  # its own, not the 4
    wait_for(lambda: client.is_enabled("only-b"), message="the parent to recover too")
    client.flush_metrics()
    (parent_post,) = by_connection(server.metrics_posts(), parent_connection)
    assert parent_post.body["bucket"]["toggles"]["shared"]["yes"] == 4
    client.destroy()
    figures.add(
        "fork",
        moment="mid-request of a refresh",
        child_answers_in_s=round(report["answered_in"], 4),
        child_polls_new_flags_in_s=round(report["switched_in"], 3),
        deadlocks=0,
        counts_sent_twice=0,
    )


def test_fork_during_a_metrics_send(
    server: FakeUnleashServer, tmp_path: Path, figures: Figures
) -> None:
    client = forking_client(server, tmp_path)
    release = threading.Event()
    flushing = None
    try:
        client.initialize_client()
        for _ in range(5):
            client.is_enabled("shared")
        server.metrics.then(hang(release, accept()))
        flushing = threading.Thread(target=client.flush_metrics, daemon=True)
        flushing.start()  # holds the send lock, mid-request
        assert server.hanging.wait(10)
        server.payload = PAYLOAD_B
        assert client._sync is not None
        parent_connection = client._sync.api.connection_id

        def child() -> dict[str, Any]:
            assert client._sync is not None
            for _ in range(3):
                client.is_enabled("shared")
            started = time.monotonic()
            client.flush_metrics()  # the parent's send lock was held at fork time
            flushed_in = time.monotonic() - started
            wait_for(
                lambda: client.is_enabled("only-b"),
                timeout=10,
                message="the child's poller to install B",
            )
            return {"flushed_in": flushed_in, "connection": client._sync.api.connection_id}

        report = run_in_child(child)
    finally:
        release.set()
        if flushing is not None:
            flushing.join(10)
    assert report["flushed_in"] < 5
    (child_post,) = by_connection(server.metrics_posts(), report["connection"])
    assert child_post.body["bucket"]["toggles"] == {"shared": {"yes": 3, "no": 0, "variants": {}}}
    (parent_post,) = by_connection(server.metrics_posts(), parent_connection)
    assert parent_post.body["bucket"]["toggles"] == {"shared": {"yes": 5, "no": 0, "variants": {}}}
    assert parent_post.accepted and child_post.accepted
    client.destroy()
    figures.add(
        "fork",
        moment="mid-request of a metrics send",
        child_answers_in_s=None,
        child_polls_new_flags_in_s=None,
        child_flush_s=round(report["flushed_in"], 3),
        deadlocks=0,
        counts_sent_twice=0,
    )


class _Installing(dict):  # type: ignore[type-arg]
    """A payload whose reading blocks: a refresh stays in the middle of installing it."""

    def __init__(
        self, data: Mapping[str, Any], entered: threading.Event, release: threading.Event
    ) -> None:
        super().__init__(data)
        self.entered = entered
        self.release = release

    def __getitem__(self, key: Any) -> Any:
        self.entered.set()
        self.release.wait(10)
        return super().__getitem__(key)


def _fork_while_installing(
    client: UnleashClient, child: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    entered, release = threading.Event(), threading.Event()
    installing = threading.Thread(
        target=client.apply_payload,
        args=(_Installing(PAYLOAD_B, entered, release),),
        kwargs={"owned": True},
        daemon=True,
    )
    installing.start()
    try:
        assert entered.wait(10)  # the install holds the swap lock, the collector paused
        return run_in_child(child)
    finally:
        release.set()
        installing.join(10)


def test_fork_while_a_payload_is_installed_the_child_can_install_the_next() -> None:
    client = UnleashClient("", "install-fork", bootstrap=PAYLOAD_A, disable_metrics=True)

    def child() -> dict[str, Any]:
        started = time.monotonic()
        client.apply_payload(PAYLOAD_B)  # the parent's swap lock was held at fork time
        return {"installed_in": time.monotonic() - started, "only_b": client.is_enabled("only-b")}

    report = _fork_while_installing(client, child)
    assert report["only_b"] is True and report["installed_in"] < 5
    assert client.is_enabled("only-b")  # and the parent finished its own install


def test_a_child_forked_while_a_payload_is_installed_has_its_garbage_collector_on() -> None:
    assert gc.isenabled()
    client = UnleashClient("", "gc-fork", bootstrap=PAYLOAD_A, disable_metrics=True)
    report = _fork_while_installing(client, lambda: {"gc_enabled": gc.isenabled()})
    assert gc.isenabled()  # the parent's compile finished and re-enabled it
    assert report["gc_enabled"] is True
