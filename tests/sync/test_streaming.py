"""``StreamingState``: the streaming protocol's decisions, driven without any I/O (its
installs are ``Offload`` steps, performed inline by ``drive``), and ``connection_steps``,
one connection, on an in-memory transport."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.support.helpers import messages
from tests.support.payloads import delta, feature, feature_updated, hydration
from tests.support.server import sse
from tests.support.sync import MemoryReply, MemoryTransport
from unleash_lite.config import ClientConfig
from unleash_lite.sync.http import ApiCalls
from unleash_lite.sync.steps import drive
from unleash_lite.sync.streaming import (
    FAILURE_WINDOW,
    INITIAL_DELAY,
    MAX_DELAY,
    MAX_FAILURES,
    RETRY_STREAMING_AFTER,
    Mode,
    StreamingState,
    connection_steps,
)
from unleash_lite.sync.transport import Failure

STREAM = {"Content-Type": "text/event-stream; charset=utf-8"}
CONNECTED = sse("unleash-connected", delta(hydration(feature("a"))), "1")


def received(state: StreamingState, chunk: bytes) -> bool:
    """Feed ``chunk`` to ``state``, performing its installs; whether it keeps the stream."""
    return drive(state.received(chunk), MemoryTransport())  # no script: a request would fail


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """A state machine whose installs are recorded (a payload with ``"bad"`` is refused)."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.installed: list[Any] = []
        self.state = StreamingState(
            self.install,
            describe="http://unleash/api/client/streaming",
            clock=self.clock,
            rand=lambda: 0.0,
        )

    def install(self, text: str) -> str | None:
        payload = json.loads(text)
        if "bad" in payload:
            return "unusable flags payload"
        self.installed.append(payload)
        return None

    def connect(self) -> bool:
        return self.state.opened(200, STREAM) and received(self.state, CONNECTED)


@pytest.fixture
def harness() -> Harness:
    return Harness()


def test_connected_installs_the_full_state_and_names_its_id(harness: Harness) -> None:
    assert harness.state.request_headers() == {
        "Accept": "text/event-stream",
        "Cache-Control": "no-cache",
    }
    assert harness.connect()
    assert harness.installed == [delta(hydration(feature("a")))]
    assert harness.state.connected and harness.state.mode is Mode.STREAMING
    assert harness.state.request_headers()["Last-Event-ID"] == "1"


def test_updates_install_in_order_even_split_anywhere(harness: Harness) -> None:
    harness.connect()
    data = sse("unleash-updated", delta(feature_updated(feature("b"))), "2") + sse(
        "unleash-updated", delta(feature_updated(feature("c"))), "3"
    )
    for index in range(len(data)):
        assert received(harness.state, data[index : index + 1])
    assert [p["events"][0]["feature"]["name"] for p in harness.installed[1:]] == ["b", "c"]
    assert harness.state.last_event_id == "3"


def test_a_bad_update_drops_the_stream_and_keeps_the_last_installed_id(
    harness: Harness,
) -> None:
    harness.connect()
    assert not received(harness.state, sse("unleash-updated", {"bad": 1}, "2"))
    assert harness.state.last_event_id == "1"  # the server resends from there
    assert harness.state.mode is Mode.STREAMING and not harness.state.connected
    assert harness.state.connect_delay() > 0


def test_unknown_events_and_comments_are_ignored(harness: Harness) -> None:
    harness.connect()
    assert received(harness.state, b": keep-alive\n\n" + sse("something-new", {"x": 1}))
    assert harness.state.connected and len(harness.installed) == 1


@pytest.mark.parametrize("status", [401, 403, 404, 429, 501])
def test_statuses_meaning_no_streaming_here_fall_back_at_once(
    harness: Harness, status: int
) -> None:
    assert not harness.state.opened(status, {})
    assert harness.state.mode is Mode.POLLING
    assert harness.state.polling_wait() is None  # only the server brings it back


def test_the_server_asking_for_polling_falls_back_at_once(harness: Harness) -> None:
    harness.connect()
    assert not received(harness.state, sse("fetch-mode", "polling"))
    assert harness.state.mode is Mode.POLLING


def test_a_poll_answer_with_fetch_mode_streaming_brings_streaming_back(
    harness: Harness,
) -> None:
    harness.state.opened(429, {})
    assert not harness.state.poll_answered(None)
    assert not harness.state.poll_answered("polling")
    assert harness.state.poll_answered("streaming")
    assert harness.state.mode is Mode.STREAMING
    assert harness.state.connect_delay() == 0.0
    assert not harness.state.poll_answered("streaming")  # already streaming: nothing to do


@pytest.mark.parametrize(
    "fail",
    [
        lambda s: s.failed("connection refused"),
        lambda s: s.opened(503, {}),
        lambda s: s.opened(200, {"Content-Type": "text/html"}),
    ],
)
def test_soft_failures_reconnect_with_backoff_then_poll(harness: Harness, fail: Any) -> None:
    delays = []
    for _ in range(MAX_FAILURES - 1):
        fail(harness.state)
        assert harness.state.mode is Mode.STREAMING
        delays.append(harness.state.connect_delay())
        harness.state.opened(200, STREAM)  # a connection that then breaks
        harness.clock.now += 1
    assert delays == sorted(delays) and delays[0] == INITIAL_DELAY
    fail(harness.state)
    assert harness.state.mode is Mode.POLLING
    assert harness.state.polling_wait() == RETRY_STREAMING_AFTER
    harness.clock.now += RETRY_STREAMING_AFTER
    assert harness.state.polling_wait() == 0.0
    harness.state.retry_streaming()
    assert harness.state.mode is Mode.STREAMING


def test_failures_spread_wider_than_the_window_keep_streaming(harness: Harness) -> None:
    for _ in range(MAX_FAILURES * 3):
        harness.state.failed("the server ended the stream")
        harness.clock.now += FAILURE_WINDOW / (MAX_FAILURES - 1) + 1
    assert harness.state.mode is Mode.STREAMING


def test_a_healthy_stream_resets_the_backoff(harness: Harness) -> None:
    harness.state.failed("refused")
    harness.state.failed("refused")
    assert harness.connect()
    harness.clock.now += FAILURE_WINDOW + 1
    harness.state.failed("the server ended the stream")
    assert harness.state.mode is Mode.STREAMING
    assert harness.state.connect_delay() == INITIAL_DELAY


def test_a_stream_that_keeps_breaking_right_after_connecting_polls(harness: Harness) -> None:
    for _ in range(MAX_FAILURES):
        assert harness.connect()
        received(harness.state, sse("unleash-updated", {"bad": 1}))
    assert harness.state.mode is Mode.POLLING


def test_backoff_is_capped_and_jittered() -> None:
    state = StreamingState(lambda text: None, rand=lambda: 1.0)
    for _ in range(20):
        state.opened(200, STREAM)
        state.failed("broke")
        state._failures.clear()  # keep it streaming for this test
    assert state.connect_delay() == MAX_DELAY * 0.5


def test_retry_field_sets_the_first_step(harness: Harness) -> None:
    harness.state.opened(200, STREAM)
    received(harness.state, b"retry: 500\n\n")
    harness.state.failed("broke")
    assert harness.state.connect_delay() == 0.5


def test_a_huge_event_drops_the_stream_without_installing(harness: Harness) -> None:
    state = StreamingState(harness.install, max_event_bytes=1024)
    state.opened(200, STREAM)
    assert not received(state, b"event: unleash-connected\ndata: " + b"x" * 2000)
    assert harness.installed == [] and not state.connected


def test_one_log_line_per_change_of_state(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "unleash_lite")
    harness.connect()
    harness.state.failed("broke")
    harness.state.failed("broke again")
    for _ in range(5):
        harness.state.opened(429, {})
    harness.state.poll_answered("streaming")
    harness.connect()
    lines = messages(caplog.records)
    assert len(lines) == 5, lines
    assert "interrupted (broke)" in lines[1]
    assert "HTTP 429" in lines[2] and "polling instead" in lines[2]
    assert "asks for streaming" in lines[3]


def test_an_idle_stream_reconnects_without_counting_a_failure(harness: Harness) -> None:
    for _ in range(MAX_FAILURES * 2):
        assert harness.connect()
        harness.state.went_silent()
        assert harness.state.connect_delay() == INITIAL_DELAY
    assert harness.state.mode is Mode.STREAMING


def test_a_stream_silent_before_its_state_counts_as_failing(harness: Harness) -> None:
    for _ in range(MAX_FAILURES):
        harness.state.opened(200, STREAM)
        harness.state.went_silent()
    assert harness.state.mode is Mode.POLLING


# -- one connection, as steps (``connection_steps``), on an in-memory transport ------------------


def connect(harness: Harness, *answers: Any, **config: Any) -> MemoryTransport:
    """Perform one connection's steps against ``answers``; the transport, with its requests."""
    transport = MemoryTransport()
    transport.answer("/client/streaming", *answers)
    settings = {"url": "http://unleash/api", "app_name": "steps", **config}
    calls = ApiCalls(ClientConfig(**settings, custom_headers={"Authorization": "secret"}))
    drive(connection_steps(harness.state, calls), transport)
    return transport


def test_a_connection_asks_for_events_and_feeds_them_as_they_come(harness: Harness) -> None:
    update = sse("unleash-updated", delta(feature_updated(feature("b"))), "2")
    transport = connect(harness, MemoryReply(200, CONNECTED + update, STREAM, chunk=7))
    (request,) = transport.sent
    assert request.url == "http://unleash/api/client/streaming"
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["Authorization"] == "secret"
    assert "Last-Event-ID" not in request.headers
    assert len(harness.installed) == 2 and harness.state.last_event_id == "2"
    assert harness.state.state == "interrupted"  # the stream ended: reconnect
    transport = connect(harness, MemoryReply(200, CONNECTED, STREAM), project_name="web")
    assert transport.sent[0].headers["Last-Event-ID"] == "2"
    assert transport.sent[0].url.endswith("/client/streaming?project=web")


@pytest.mark.parametrize(
    "answer",
    [Failure.NOT_CONNECTED, MemoryReply(200, CONNECTED * 3, STREAM, chunk=10, broken_after=20)],
    ids=["refused", "broken"],
)
def test_a_connection_that_fails_counts_a_failure(harness: Harness, answer: Any) -> None:
    for _ in range(MAX_FAILURES):
        connect(harness, answer)
    assert harness.state.mode is Mode.POLLING


def test_an_install_that_raises_fails_the_connection_not_the_driver(harness: Harness) -> None:
    def install(text: str) -> str | None:
        raise RuntimeError("a bug")

    harness.state.install = install
    connect(harness, MemoryReply(200, CONNECTED, STREAM))
    assert harness.state.state == "interrupted" and not harness.state.connected
