"""``experimental_mode``: a client streaming from, and delta-polling, a loopback server that
follows the documented protocol (``tests.support.server``)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from tests.support.clients import ClientFactory
from tests.support.helpers import messages, wait_for
from tests.support.payloads import delta, feature, feature_removed, feature_updated, payload
from tests.support.server import (
    TOKEN,
    FakeUnleashServer,
    reset,
    serve_payload,
    silence,
    status,
)
from unleash_lite import UnleashClient
from unleash_lite.sync import streaming

STREAMING = {"type": "streaming"}
FAST_RETRY = b"retry: 10\n\n"  # the server's own reconnect delay: 10 ms


def stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("unleash-lite-stream")]


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnect after 10 ms rather than seconds (the protocol is the same)."""
    monkeypatch.setattr(streaming, "INITIAL_DELAY", 0.01)


def streaming_client(
    make_client: ClientFactory, server: FakeUnleashServer, **options: Any
) -> UnleashClient:
    client = make_client(server.url, experimental_mode=STREAMING, **options)
    client.initialize_client()
    return client


def test_connects_and_installs_the_full_state_without_polling(
    make_client: ClientFactory, server: FakeUnleashServer
) -> None:
    client = streaming_client(make_client, server)
    assert client.is_enabled("only-a") and client.get_variant("colour")["name"] == "red"
    assert server.feature_gets() == []
    (request,) = server.recorded("/client/streaming")
    assert request.header("Accept") == "text/event-stream"
    assert request.header("Authorization") == TOKEN
    assert request.header("unleash-appname") == "test-app"
    assert request.header("unleash-connection-id")
    assert request.header("Last-Event-ID") is None


def test_project_name_filters_the_stream_too(
    make_client: ClientFactory, server: FakeUnleashServer
) -> None:
    streaming_client(make_client, server, project_name="web")
    (request,) = server.recorded("/client/streaming")
    assert request.path.endswith("/client/streaming?project=web")


def test_updates_are_applied_as_they_arrive(
    make_client: ClientFactory, server: FakeUnleashServer
) -> None:
    client = streaming_client(make_client, server)
    server.stream_feed.send("unleash-updated", delta(feature_updated(feature("new"))), "2")
    wait_for(lambda: client.is_enabled("new"), message="the streamed flag")
    server.stream_feed.send("unleash-updated", delta(feature_removed("only-a")), "3")
    wait_for(lambda: not client.is_enabled("only-a"), message="the flag removed")
    assert client.is_enabled("shared")  # the rest stays


def test_a_dropped_stream_reconnects_with_last_event_id(
    make_client: ClientFactory, server: FakeUnleashServer
) -> None:
    client = streaming_client(make_client, server)
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
    make_client: ClientFactory, server: FakeUnleashServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.streaming.always(status(429))
    client = streaming_client(make_client, server)
    assert client.is_enabled("only-a")  # from the poll initialize_client made instead
    assert len(server.recorded("/client/streaming")) == 1
    assert len(server.feature_gets()) == 1
    assert any("HTTP 429" in line and "polling" in line for line in messages(caplog.records))


def test_repeated_errors_fall_back_to_polling_and_polls_resume(
    make_client: ClientFactory, server: FakeUnleashServer, fast_backoff: None
) -> None:
    server.streaming.always(status(503))
    client, scheduler = make_client.stubbed(server.url, experimental_mode=STREAMING)
    client.initialize_client()
    wait_for(lambda: not client._sync.stream.streaming, message="the fallback")
    assert len(server.recorded("/client/streaming")) == streaming.MAX_FAILURES
    server.payload = payload(feature("polled"))
    scheduler.job("poll").function()
    assert client.is_enabled("polled")


def test_fetch_mode_header_brings_streaming_back_and_pauses_polls(
    make_client: ClientFactory, server: FakeUnleashServer
) -> None:
    server.streaming.then(status(429))  # then the standing event stream
    server.features.always(serve_payload(headers={"fetch-mode": "streaming"}))
    client, scheduler = make_client.stubbed(server.url, experimental_mode=STREAMING)
    client.initialize_client()  # 429 -> the poll answers "fetch-mode: streaming"
    wait_for(lambda: client._sync.stream.connected, message="streaming again")
    assert len(server.recorded("/client/streaming")) == 2
    polls = len(server.feature_gets())
    scheduler.job("poll").function()  # paused: no request
    assert len(server.feature_gets()) == polls
    server.stream_feed.send("unleash-updated", delta(feature_updated(feature("new"))), "2")
    wait_for(lambda: client.is_enabled("new"))


def test_destroy_mid_stream_ends_the_thread(
    make_client: ClientFactory, server: FakeUnleashServer
) -> None:
    client = streaming_client(make_client, server)
    thread = client._sync.stream.thread
    assert thread is not None and thread.is_alive()
    client.destroy()
    assert not thread.is_alive()
    assert stream_threads() == []


def test_destroy_while_the_server_holds_the_request_ends_the_thread(
    make_client: ClientFactory, server: FakeUnleashServer
) -> None:
    server.streaming.always(silence())
    client = make_client(server.url, experimental_mode=STREAMING, request_timeout=0.5)
    client.initialize_client()  # no state within request_timeout: it polled once instead
    assert client.is_enabled("only-a")
    client.destroy()
    assert stream_threads() == []


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
    make_client: ClientFactory, server: FakeUnleashServer, hostile: bytes, fast_backoff: None
) -> None:
    client = streaming_client(make_client, server, max_payload_bytes=100_000)
    server.stream_feed.raw(hostile)
    # Still on the stream (ignored), or dropped and connected again (the new full state).
    server.payload = payload(feature("shared"), feature("after"))
    server.stream_feed.send("unleash-updated", delta(feature_updated(feature("after"))), "2")
    wait_for(lambda: client.is_enabled("after"), message="the good event, or a reconnect")
    assert client.is_enabled("shared")


def test_a_stream_reset_keeps_the_last_good_flags(
    make_client: ClientFactory, server: FakeUnleashServer, fast_backoff: None
) -> None:
    client = streaming_client(make_client, server)
    server.streaming.always(reset())
    server.stream_feed.close()
    wait_for(lambda: not client._sync.stream.streaming, message="the fallback")
    assert client.is_enabled("only-a")


def test_streamed_state_reaches_the_cache(
    make_client: ClientFactory, server: FakeUnleashServer
) -> None:
    client = streaming_client(make_client, server)
    server.stream_feed.send("unleash-updated", delta(feature_updated(feature("new"))), "2")
    wait_for(lambda: client.is_enabled("new"))
    client.destroy()
    server.streaming.always(status(500))
    server.features.always(status(500))
    later = make_client(server.url, experimental_mode=STREAMING)
    assert later.is_enabled("new") and later.is_enabled("only-a")  # from the cache


# -- delta polling ---------------------------------------------------------------------------

DELTA = {"type": "polling", "format": "delta"}


def test_delta_polling_applies_the_delta_and_sends_its_etag(
    make_client: ClientFactory, server: FakeUnleashServer
) -> None:
    client, scheduler = make_client.stubbed(server.url, experimental_mode=DELTA)
    client.initialize_client()
    assert client.is_enabled("only-a")
    scheduler.job("poll").function()
    first, second = server.recorded("/client/delta")
    assert first.header("If-None-Match") is None
    assert (second.header("If-None-Match") or "").startswith('"delta-')
    server.payload = payload(feature("changed"))
    scheduler.job("poll").function()
    assert client.is_enabled("changed") and not client.is_enabled("only-a")
    assert server.feature_gets() == []


def test_delta_polling_falls_back_to_features_on_404(
    make_client: ClientFactory, server: FakeUnleashServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.delta.always(status(404))
    client, scheduler = make_client.stubbed(server.url, experimental_mode=DELTA)
    client.initialize_client()
    assert client.is_enabled("only-a")
    scheduler.job("poll").function()
    assert len(server.recorded("/client/delta")) == 1
    assert len(server.feature_gets()) == 2
    assert len([m for m in messages(caplog.records, logging.WARNING) if "/client/delta" in m]) == 1


def test_delta_polling_under_stream_route_untouched(
    make_client: ClientFactory, server: FakeUnleashServer
) -> None:
    client = make_client(server.url, experimental_mode=DELTA)
    client.initialize_client()
    assert server.recorded("/client/streaming") == []
    assert stream_threads() == []


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
    make_client: ClientFactory, server: FakeUnleashServer, mode: Any
) -> None:
    with pytest.raises(ValueError, match="experimental_mode"):
        make_client(server.url, experimental_mode=mode)


@pytest.mark.parametrize("mode", [None, {}, {"type": "polling"}, STREAMING, DELTA])
def test_the_official_shapes_are_accepted(
    make_client: ClientFactory, server: FakeUnleashServer, mode: Any
) -> None:
    client = make_client(server.url, experimental_mode=mode)
    client.initialize_client()
    assert client.is_enabled("only-a")


def test_an_idle_stream_is_reopened_and_never_falls_back(
    make_client: ClientFactory, server: FakeUnleashServer, fast_backoff: None
) -> None:
    client = streaming_client(make_client, server, request_timeout=0.3)
    wait_for(
        lambda: len(server.recorded("/client/streaming")) > streaming.MAX_FAILURES,
        message="reconnects after silences",
    )
    assert client._sync.stream.streaming and server.feature_gets() == []


@pytest.mark.parametrize("mode", [DELTA, STREAMING])
def test_the_async_client_polls_delta_or_full_flags(
    server: FakeUnleashServer, tmp_path: Any, mode: dict[str, str]
) -> None:
    import asyncio

    from unleash_lite import AsyncUnleashClient

    async def run() -> bool:
        client = AsyncUnleashClient(
            server.url,
            "async-app",
            custom_headers={"Authorization": TOKEN},
            cache_directory=str(tmp_path),
            request_timeout=2,
            disable_metrics=True,
            disable_registration=True,
            experimental_mode=mode,
        )
        await client.initialize_client()
        try:
            return client.is_enabled("only-a")
        finally:
            await client.destroy()

    assert asyncio.run(run())
    route = "/client/delta" if mode is DELTA else "/client/features"
    assert len(server.recorded(route)) == 1
    assert server.recorded("/client/streaming") == []
