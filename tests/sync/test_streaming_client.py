"""``experimental_mode``: a client streaming from, and delta-polling, a loopback server that
follows the documented protocol (``tests.support.server``).

Every test runs for both clients (``kind``: ``UnleashClient`` streams on a thread,
``AsyncUnleashClient`` on a task of its event loop; ``tests/support/kinds.py``), but the last
ones: the async client's loop runs on while its stream hangs.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.doubles import ThreadRecordingCache
from tests.support.helpers import messages, wait_for
from tests.support.kinds import Driven, DrivenFactory
from tests.support.payloads import delta, feature, feature_removed, feature_updated, payload
from tests.support.server import (
    PAYLOAD_A,
    TOKEN,
    FakeUnleashServer,
    event_stream,
    hang,
    reset,
    serve_payload,
    silence,
    status,
)
from unleash_lite import AsyncUnleashClient
from unleash_lite.sync import streaming

STREAMING = {"type": "streaming"}
FAST_RETRY = b"retry: 10\n\n"  # the server's own reconnect delay: 10 ms


def stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("unleash-lite-stream")]


def stream_worker(client: Driven) -> Any:
    """What keeps the client's stream: the sync client's thread, the async client's task."""
    stream = client._sync.stream
    return stream.thread if client.kind == "sync" else stream.task


def running(worker: Any) -> bool:
    if isinstance(worker, threading.Thread):
        return worker.is_alive()
    return worker is not None and not worker.done()


def destroyed(client: Driven) -> list[str]:
    """``destroy()``; then what it left behind, and the "Unclosed ..." warnings of what it
    left open, once the garbage is collected."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.destroy()
        gc.collect()
    unclosed = [str(w.message) for w in caught if "nclosed" in str(w.message)]
    return left_behind(client) + unclosed


def left_behind(client: Driven) -> list[str]:
    """Streaming threads, and for the async client its loop's tasks and open sessions,
    still there (after ``destroy()``)."""
    left = [thread.name for thread in stream_threads()]
    if client.loop is not None:
        left += client.loop.run(other_tasks())
        for transport in (client._sync.transport, client._sync.stream.transport):
            if getattr(transport, "_session", None) is not None:
                left.append(f"the session of {transport!r}")
    return left


async def other_tasks() -> list[str]:
    return [t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task()]


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnect after 10 ms rather than seconds (the protocol is the same)."""
    monkeypatch.setattr(streaming, "INITIAL_DELAY", 0.01)


def streaming_client(
    make_driven: DrivenFactory, server: FakeUnleashServer, **options: Any
) -> Driven:
    client = make_driven(server.url, experimental_mode=STREAMING, **options)
    client.initialize_client()
    return client


def test_connects_and_installs_the_full_state_without_polling(
    make_driven: DrivenFactory, server: FakeUnleashServer
) -> None:
    client = streaming_client(make_driven, server)
    assert client.is_enabled("only-a") and client.get_variant("colour")["name"] == "red"
    assert server.feature_gets() == []
    (request,) = server.recorded("/client/streaming")
    assert request.header("Accept") == "text/event-stream"
    assert request.header("Authorization") == TOKEN
    assert request.header("unleash-appname") == "test-app"
    assert request.header("unleash-connection-id")
    assert request.header("Last-Event-ID") is None


def test_project_name_filters_the_stream_too(
    make_driven: DrivenFactory, server: FakeUnleashServer
) -> None:
    streaming_client(make_driven, server, project_name="web")
    (request,) = server.recorded("/client/streaming")
    assert request.path.endswith("/client/streaming?project=web")


def test_updates_are_applied_as_they_arrive(
    make_driven: DrivenFactory, server: FakeUnleashServer
) -> None:
    client = streaming_client(make_driven, server)
    server.stream_feed.send("unleash-updated", delta(feature_updated(feature("new"))), "2")
    wait_for(lambda: client.is_enabled("new"), message="the streamed flag")
    server.stream_feed.send("unleash-updated", delta(feature_removed("only-a")), "3")
    wait_for(lambda: not client.is_enabled("only-a"), message="the flag removed")
    assert client.is_enabled("shared")  # the rest stays


def test_a_dropped_stream_reconnects_with_last_event_id(
    make_driven: DrivenFactory, server: FakeUnleashServer
) -> None:
    client = streaming_client(make_driven, server)
    server.stream_feed.raw(FAST_RETRY)
    server.stream_feed.send("unleash-updated", delta(feature_updated(feature("new"))), "2")
    wait_for(lambda: client.is_enabled("new"))
    server.payload = payload(feature("new"), feature("since"))  # what the server holds now
    server.stream_feed.close()
    wait_for(lambda: len(server.recorded("/client/streaming")) == 2, message="a reconnect")
    assert server.recorded("/client/streaming")[1].header("Last-Event-ID") == "2"
    wait_for(lambda: client.is_enabled("since"), message="the new connection's full state")
    assert client.is_enabled("new") and not client.is_enabled("shared")
    assert server.feature_gets() == []


def test_429_falls_back_to_polling_at_once(
    make_driven: DrivenFactory, server: FakeUnleashServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.streaming.always(status(429))
    client = streaming_client(make_driven, server)
    assert client.is_enabled("only-a")  # from the poll initialize_client made instead
    assert len(server.recorded("/client/streaming")) == 1
    assert len(server.feature_gets()) == 1
    assert any("HTTP 429" in line and "polling" in line for line in messages(caplog.records))


def test_repeated_errors_fall_back_to_polling_and_polls_resume(
    make_driven: DrivenFactory, server: FakeUnleashServer, fast_backoff: None
) -> None:
    server.streaming.always(status(503))
    client = make_driven.stubbed(server.url, experimental_mode=STREAMING)
    client.initialize_client()
    wait_for(lambda: not client._sync.stream.streaming, message="the fallback")
    assert len(server.recorded("/client/streaming")) == streaming.MAX_FAILURES
    server.payload = payload(feature("polled"))
    client.poll()
    assert client.is_enabled("polled")


def test_fetch_mode_header_brings_streaming_back_and_pauses_polls(
    make_driven: DrivenFactory, server: FakeUnleashServer
) -> None:
    server.streaming.then(status(429))  # then the standing event stream
    server.features.always(serve_payload(headers={"fetch-mode": "streaming"}))
    client = make_driven.stubbed(server.url, experimental_mode=STREAMING)
    client.initialize_client()  # 429 -> the poll answers "fetch-mode: streaming"
    wait_for(lambda: client._sync.stream.connected, message="streaming again")
    assert len(server.recorded("/client/streaming")) == 2
    polls = len(server.feature_gets())
    client.poll()  # paused: no request
    assert len(server.feature_gets()) == polls
    server.stream_feed.send("unleash-updated", delta(feature_updated(feature("new"))), "2")
    wait_for(lambda: client.is_enabled("new"))


def test_destroy_mid_stream_ends_the_stream(
    make_driven: DrivenFactory, server: FakeUnleashServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = streaming_client(make_driven, server)
    worker = stream_worker(client)
    assert running(worker)
    assert destroyed(client) == []
    assert not running(worker)
    assert not [line for line in messages(caplog.records, logger="asyncio") if "nclosed" in line]


def test_destroy_while_the_server_holds_the_request_ends_the_stream(
    make_driven: DrivenFactory, server: FakeUnleashServer
) -> None:
    server.streaming.always(silence())
    client = make_driven(server.url, experimental_mode=STREAMING, request_timeout=0.5)
    client.initialize_client()  # no state within request_timeout: it polled once instead
    assert client.is_enabled("only-a")
    worker = stream_worker(client)
    assert destroyed(client) == []
    assert not running(worker)


@pytest.mark.parametrize(
    "hostile",
    [
        b"data: " + b"x" * 300_000 + b"\n\n",  # a line past max_payload_bytes
        b"event: unleash-updated\n" + b"data: " + b"y" * 1000 + b"\n" * 1 + b"data: z\n" * 50_000,
        b"\x00\xff\xfe garbage \r\r\n\n\x85\n:::\n\n",
        b"event: unleash-updated\ndata: {not json\n\n",
        b"event: unleash-updated\ndata: [1, 2, 3]\n\n",
        b'event: unleash-connected\ndata: {"events": 7}\n\n',
    ],
)
def test_hostile_streams_never_break_the_client(
    make_driven: DrivenFactory, server: FakeUnleashServer, hostile: bytes, fast_backoff: None
) -> None:
    client = streaming_client(make_driven, server, max_payload_bytes=100_000)
    server.stream_feed.raw(hostile)
    # Still on the stream (ignored), or dropped and connected again (the new full state).
    server.payload = payload(feature("shared"), feature("after"))
    server.stream_feed.send("unleash-updated", delta(feature_updated(feature("after"))), "2")
    wait_for(lambda: client.is_enabled("after"), message="the good event, or a reconnect")
    assert client.is_enabled("shared")


def test_a_stream_reset_keeps_the_last_good_flags(
    make_driven: DrivenFactory, server: FakeUnleashServer, fast_backoff: None
) -> None:
    client = streaming_client(make_driven, server)
    server.streaming.always(reset())
    server.stream_feed.close()
    wait_for(lambda: not client._sync.stream.streaming, message="the fallback")
    assert client.is_enabled("only-a")


def test_streamed_state_reaches_the_cache(
    make_driven: DrivenFactory, server: FakeUnleashServer
) -> None:
    client = streaming_client(make_driven, server)
    server.stream_feed.send("unleash-updated", delta(feature_updated(feature("new"))), "2")
    wait_for(lambda: client.is_enabled("new"))
    client.destroy()
    server.streaming.always(status(500))
    server.features.always(status(500))
    later = make_driven(server.url, experimental_mode=STREAMING)
    later.initialize_client()  # the async client reads its cache here
    assert later.is_enabled("new") and later.is_enabled("only-a")  # from the cache



def test_streamed_events_install_off_the_callers_thread(
    make_driven: DrivenFactory, server: FakeUnleashServer
) -> None:
    """On the streaming thread (sync client); in the loop's executor, never on the loop
    (async client): parsing, compiling and the cache write never stall evaluations or the
    application's loop."""
    cache = ThreadRecordingCache()
    client = streaming_client(make_driven, server, cache=cache)
    server.stream_feed.send("unleash-updated", delta(feature_updated(feature("new"))), "2")
    wait_for(lambda: client.is_enabled("new"))
    wait_for(lambda: len(cache.writers) == 2, message="the connected state and the update")
    prefix = "unleash-lite-stream" if client.kind == "sync" else "asyncio"  # executor threads
    assert all(name.startswith(prefix) for name in cache.writers), cache.writers


# -- delta polling ---------------------------------------------------------------------------

DELTA = {"type": "polling", "format": "delta"}


def test_delta_polling_applies_the_delta_and_sends_its_etag(
    make_driven: DrivenFactory, server: FakeUnleashServer
) -> None:
    client = make_driven.stubbed(server.url, experimental_mode=DELTA)
    client.initialize_client()
    assert client.is_enabled("only-a")
    client.poll()
    first, second = server.recorded("/client/delta")
    assert first.header("If-None-Match") is None
    assert (second.header("If-None-Match") or "").startswith('"delta-')
    server.payload = payload(feature("changed"))
    client.poll()
    assert client.is_enabled("changed") and not client.is_enabled("only-a")
    assert server.feature_gets() == []


def test_delta_polling_falls_back_to_features_on_404(
    make_driven: DrivenFactory, server: FakeUnleashServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.delta.always(status(404))
    client = make_driven.stubbed(server.url, experimental_mode=DELTA)
    client.initialize_client()
    assert client.is_enabled("only-a")
    client.poll()
    assert len(server.recorded("/client/delta")) == 1
    assert len(server.feature_gets()) == 2
    assert len([m for m in messages(caplog.records, logging.WARNING) if "/client/delta" in m]) == 1


def test_delta_polling_under_stream_route_untouched(
    make_driven: DrivenFactory, server: FakeUnleashServer
) -> None:
    client = make_driven(server.url, experimental_mode=DELTA)
    client.initialize_client()
    assert server.recorded("/client/streaming") == []
    assert client._sync.stream is None and stream_threads() == []


# -- the keyword -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode",
    [
        "streaming",
        {"type": "sse"},
        {"type": "streaming", "format": "delta"},
        {"type": "polling", "format": "json"},
        {"type": "polling", "interval": 5},
        {"type": 1},
    ],
)
def test_a_wrong_experimental_mode_fails_naming_the_keyword(
    make_driven: DrivenFactory, server: FakeUnleashServer, mode: Any
) -> None:
    with pytest.raises(ValueError, match="experimental_mode"):
        make_driven(server.url, experimental_mode=mode)


@pytest.mark.parametrize("mode", [None, {}, {"type": "polling"}, STREAMING, DELTA])
def test_the_official_shapes_are_accepted(
    make_driven: DrivenFactory, server: FakeUnleashServer, mode: Any
) -> None:
    client = make_driven(server.url, experimental_mode=mode)
    client.initialize_client()
    assert client.is_enabled("only-a")


def test_an_idle_stream_is_reopened_and_never_falls_back(
    make_driven: DrivenFactory, server: FakeUnleashServer, fast_backoff: None
) -> None:
    client = streaming_client(make_driven, server, request_timeout=0.3)
    wait_for(
        lambda: len(server.recorded("/client/streaming")) > streaming.MAX_FAILURES,
        message="reconnects after silences",
    )
    assert client._sync.stream.streaming and server.feature_gets() == []


# -- the async client's own ------------------------------------------------------------------

WATCHDOG = 10.0  # seconds before a hanging stream is released, should the loop be stuck


@pytest.mark.parametrize("where", ["waiting for the headers", "reading the open stream"])
def test_the_async_client_loop_runs_on_while_the_stream_hangs(
    server: FakeUnleashServer, tmp_path: Path, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The stream hangs until a watchdog releases it; on the client's loop a poll (request,
    read, install), timers, evaluations and ``destroy()`` all happen before that. Were the
    stream read or its installs blocking the loop, they would happen only after the
    watchdog: the test fails by order of events, never by a measured time."""
    release = threading.Event()
    fired = threading.Event()
    if where == "waiting for the headers":
        server.streaming.always(hang(release, event_stream()))
        hanging = server.hanging
    else:
        server.streaming.always(event_stream(connected=False))  # headers, then nothing
        hanging = server.stream_feed.opened

    def unstick() -> None:
        fired.set()
        release.set()
        server.stream_feed.close()

    watchdog = threading.Timer(WATCHDOG, unstick)

    async def scenario() -> list[str]:
        client = AsyncUnleashClient(
            server.url,
            "hang-app",
            custom_headers={"Authorization": TOKEN},
            cache_directory=str(tmp_path / "cache"),
            request_timeout=60,  # a blocking read would hold the loop past the watchdog
            refresh_interval=60,
            disable_metrics=True,
            disable_registration=True,
            bootstrap=PAYLOAD_A,  # flags at hand: initialize_client does not wait for them
            experimental_mode=STREAMING,
        )
        watchdog.start()
        await client.initialize_client()
        await until(hanging.is_set)
        done = []
        for _ in range(10):
            await asyncio.sleep(0.001)
        done.append("timers")
        server.payload = payload(feature("polled"))
        assert client._sync is not None
        await client._sync.poll(scheduled=False)  # the stream holds no lock the poll needs
        if client.is_enabled("polled"):
            done.append("a poll")
        await client.destroy()
        done.append("destroy")
        return done if not fired.is_set() else ["the watchdog fired first", *done]

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            done = asyncio.run(scenario())
            gc.collect()
    finally:
        watchdog.cancel()
        release.set()
    assert done == ["timers", "a poll", "destroy"]
    assert [str(w.message) for w in caught if "nclosed" in str(w.message)] == []
    assert not [line for line in messages(caplog.records, logger="asyncio") if "nclosed" in line]


async def until(condition: Callable[[], bool], timeout: float = WATCHDOG) -> None:
    """Await until ``condition()`` holds, giving the loop to others meanwhile."""
    await asyncio.wait_for(_until(condition), timeout)


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)
