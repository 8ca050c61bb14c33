"""Streaming mode's decisions, sans-IO: what to install, when to reconnect, when to poll.

``experimental_mode={"type": "streaming"}`` keeps a ``GET {url}/client/streaming``
server-sent-events connection open. The server first sends ``unleash-connected`` (the whole
state, as delta events opening with ``hydration``), then ``unleash-updated`` (delta events:
``feature-updated``, ``feature-removed``, ``segment-updated``, ``segment-removed``) as flags
change. Both install through the client's loader, so a bad event changes nothing: the last
good flags stay, and the stream is dropped and opened again (``Last-Event-ID`` names the last
event installed; the server answers with a fresh ``unleash-connected`` anyway).

:class:`StreamingState` falls back to polling at once on an answer meaning "not here" (401,
403, 404, 429: too many streaming clients, 501) or on the server's ``fetch-mode: polling``
event, and after :data:`MAX_FAILURES` failures within :data:`FAILURE_WINDOW` seconds
otherwise (errors, 5xx, a stream that ends or breaks, an unusable event). While polling, an
answer carrying the header ``fetch-mode: streaming`` brings it back; after a fallback of the
second kind it also tries streaming again every :data:`RETRY_STREAMING_AFTER` seconds.
Reconnects back off exponentially from :data:`INITIAL_DELAY` to :data:`MAX_DELAY` with
jitter (a ``retry:`` from the server sets the first step). One log line per change of state,
never per attempt.

Nothing here holds a socket or starts a thread: :func:`connection_steps`, one connection
from request to end, is written as :mod:`.steps` (I/O as values; each install is an
:class:`~.steps.Offload` step, so an async driver compiles off its event loop). A driver
(a thread of the sync client, :mod:`.stream_thread`; a task of the async one,
:mod:`.async_stream`) waits :meth:`StreamingState.next_wait`, performs a connection's steps
when :meth:`StreamingState.connect_now` says so, and wakes early when a poll answer hands
the flags back to the stream.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from .http import CHUNK_BYTES, ApiCalls
from .sse import DEFAULT_MAX_EVENT_BYTES, Event, EventStreamParser, EventTooLarge
from .steps import Offload, Read, Send, Steps
from .transport import Failure, TransportError

LOGGER = logging.getLogger("unleash_lite")

STREAMING_PATH = "/client/streaming"
INITIAL_DELAY = 2.0  # seconds before the first reconnect
MAX_DELAY = 30.0
JITTER = 0.5  # a reconnect waits between 50% and 100% of its step
MAX_FAILURES = 3  # soft failures within FAILURE_WINDOW that make it poll instead
FAILURE_WINDOW = 60.0
RETRY_STREAMING_AFTER = 300.0  # after a fallback on failures (not one the server asked for)
# Answers that say this server will not stream to us: poll at once (429: too many streams).
HARD_FALLBACK_STATUSES = frozenset({401, 403, 404, 429, 501})

# Installs a streamed payload (JSON text: full state or delta); returns what is wrong with
# it, or None once it is installed.
Install = Callable[[str], "str | None"]


class Mode(Enum):
    """Where the flags come from right now."""

    STREAMING = "streaming"
    POLLING = "polling"


class StreamingState:
    """The streaming protocol's state for one client; see the module's documentation."""

    def __init__(
        self,
        install: Install,
        describe: str = "",
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        on_change: Callable[[StreamingState], None] = lambda state: None,
    ) -> None:
        self.install = install
        self.describe = describe  # the stream's URL, for log lines (credentials masked)
        self.max_event_bytes = max_event_bytes
        self.clock = clock
        self.rand = rand
        self.on_change = on_change
        self.mode = Mode.STREAMING
        self.connected = False  # the current connection delivered a usable full state
        self.last_event_id = ""  # of the last event installed
        self.retry_streaming_at: float | None = None  # while polling after failures
        self.state = "starting"
        self._retry_ms: int | None = None
        self._attempt = 0  # reconnects since the last healthy stream
        self._failures: deque[float] = deque()
        self._parser: EventStreamParser | None = None

    # -- what the driver asks --------------------------------------------------------------

    def request_headers(self) -> dict[str, str]:
        """The headers of a streaming request, besides the client's own."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    def connect_delay(self) -> float:
        """Seconds to wait before opening the next connection (0 for the first)."""
        if self._attempt == 0:
            return 0.0
        first = INITIAL_DELAY if self._retry_ms is None else self._retry_ms / 1000.0
        step = min(first * 2.0 ** (self._attempt - 1), MAX_DELAY)
        return step * (1.0 - JITTER * self.rand())

    def polling_wait(self) -> float | None:
        """While polling: seconds until streaming is tried again (``None``: only when a
        poll answer asks for it)."""
        if self.retry_streaming_at is None:
            return None
        return max(self.retry_streaming_at - self.clock(), 0.0)

    def next_wait(self) -> float | None:
        """Seconds the driver waits before asking :meth:`connect_now` (``None``: until it is
        woken): the reconnect backoff while streaming, :meth:`polling_wait` while polling.
        A driver wakes early when a change of state leaves the mode streaming (a poll
        answer asked for it), and when it stops."""
        return self.connect_delay() if self.mode is Mode.STREAMING else self.polling_wait()

    def connect_now(self) -> bool:
        """After the wait: whether to open a connection now. While polling after failures,
        it tries streaming again once :meth:`polling_wait` is over."""
        if self.mode is Mode.POLLING and self.polling_wait() == 0.0:
            self.retry_streaming()
        return self.mode is Mode.STREAMING

    # -- what happened ---------------------------------------------------------------------

    def opened(self, status: int, headers: Mapping[str, str]) -> bool:
        """The server answered the streaming request; whether to read the stream."""
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if status == 200 and content_type == "text/event-stream":
            self._parser = EventStreamParser(self.max_event_bytes)
            self._attempt += 1  # until the stream proves healthy, a reconnect backs off
            return True
        if status in HARD_FALLBACK_STATUSES:
            self._fall_back(f"the server answered HTTP {status}", hard=True)
        elif status == 200:
            self.failed(f"the answer is not an event stream ({content_type or 'no type'})")
        else:
            self.failed(f"the server answered HTTP {status}")
        return False

    def received(self, chunk: bytes) -> Steps[bool]:
        """Bytes of the open stream, as steps (each install is an
        :class:`~.steps.Offload`); whether to keep reading it."""
        parser = self._parser
        if parser is None:
            return False
        try:
            events = parser.feed(chunk)
        except EventTooLarge as error:
            self.failed(str(error))
            return False
        if parser.retry_ms is not None:
            self._retry_ms = min(parser.retry_ms, int(MAX_DELAY * 1000))
        for event in events:
            if not (yield from self._handle(event)):
                return False  # the rest of the chunk goes with the stream
        return True

    def failed(self, reason: str) -> None:
        """The connection could not be made, broke, or ended: reconnect, or after too many
        failures in a short time, poll."""
        self._parser = None
        self.connected = False
        if self.mode is not Mode.STREAMING:
            return
        self._count_failure(reason)

    def went_silent(self) -> None:
        """The open stream sent nothing for the read timeout: reconnect. Not a failure when
        the stream had delivered its state (an idle server), one otherwise."""
        if not self.connected:
            self.failed("no event within the read timeout")
            return
        self._parser = None
        self.connected = False
        self._attempt = max(self._attempt, 1)
        LOGGER.debug("Unleash streaming: the stream went silent; reconnecting")

    def _count_failure(self, reason: str) -> None:
        now = self.clock()
        self._failures.append(now)
        while self._failures and self._failures[0] < now - FAILURE_WINDOW:
            self._failures.popleft()
        self._attempt = max(self._attempt, 1)
        if len(self._failures) >= MAX_FAILURES:
            self._fall_back(
                f"{reason} ({len(self._failures)} failures in {FAILURE_WINDOW:g}s)", hard=False
            )
        else:
            self._change(
                "interrupted",
                logging.WARNING,
                f"Unleash streaming from {self.describe} interrupted ({reason}); reconnecting, "
                "keeping the last good flags",
            )

    def poll_answered(self, fetch_mode: str | None) -> bool:
        """A poll's answer and its ``fetch-mode`` header; True when it switches back to
        streaming (the driver then connects, and polls pause)."""
        if self.mode is Mode.POLLING and (fetch_mode or "").strip().lower() == "streaming":
            self._resume("the server asks for streaming")
            return True
        return False

    def retry_streaming(self) -> None:
        """Try streaming again after a fallback on failures (see :meth:`polling_wait`)."""
        if self.mode is Mode.POLLING:
            self._resume(f"trying again after {RETRY_STREAMING_AFTER:g}s of polling")

    # -- internals -------------------------------------------------------------------------

    def _handle(self, event: Event) -> Steps[bool]:
        if event.event in ("unleash-connected", "unleash-updated"):
            problem = yield Offload(self.install, (event.data,))
            if problem is not None:
                self.failed(f"{event.event} event: {problem}")
                return False
            if event.id:
                self.last_event_id = event.id
            if event.event == "unleash-connected":
                self.connected = True
                self._attempt = 0  # failures stay counted: a stream that keeps breaking polls
                self._change(
                    "connected", logging.INFO, f"Unleash: flags stream from {self.describe}"
                )
            return True
        if event.event == "fetch-mode" and event.data.strip().lower() == "polling":
            self._fall_back("the server asks for polling", hard=True)
            return False
        LOGGER.debug("Unleash streaming: ignoring an event of type %r", event.event[:100])
        return True

    def _fall_back(self, reason: str, hard: bool) -> None:
        self.mode = Mode.POLLING
        self._parser = None
        self.connected = False
        self._failures.clear()
        self._attempt = 0
        self.retry_streaming_at = None if hard else self.clock() + RETRY_STREAMING_AFTER
        later = (
            "until the server asks for streaming"
            if hard
            else f"and trying streaming again in {RETRY_STREAMING_AFTER:g}s"
        )
        self._change(
            "polling",
            logging.WARNING,
            f"Unleash streaming from {self.describe} stopped: {reason}; polling instead {later}",
        )

    def _resume(self, reason: str) -> None:
        self.mode = Mode.STREAMING
        self.retry_streaming_at = None
        self._attempt = 0
        self._change("resuming", logging.INFO, f"Unleash streaming: {reason}; reconnecting")

    def _change(self, state: str, level: int, message: str) -> None:
        if state != self.state:
            self.state = state
            LOGGER.log(level, "%s", message)
        self.on_change(self)


def connection_steps(
    state: StreamingState,
    calls: ApiCalls,
    stopping: Callable[[], bool] = lambda: False,
    hold: Callable[[Any], None] = lambda reply: None,
) -> Steps[None]:
    """One streaming connection, as :mod:`.steps`: open ``GET {url}/client/streaming`` with
    the client's headers and ``state``'s (``Accept: text/event-stream``, ``Last-Event-ID``),
    feed what arrives to ``state``, until the stream ends, breaks, goes silent for the read
    timeout, or ``state`` drops it. Never raises; the answer is closed however it ends (a
    driver that stops mid-way closes the steps, which closes it).

    ``stopping``: the driver is stopping, so what fails from then on is no failure of the
    server. ``hold``: told of the open answer, then of ``None`` once it is closed, so a
    blocking driver can end a read from another thread.
    """
    try:
        yield from _connection(state, calls, stopping, hold)
    except Exception as error:  # a bug, or an install that raised: the driver goes on
        if not stopping():
            LOGGER.debug("Unleash streaming failed", exc_info=True)
            state.failed(f"an error ({type(error).__name__})")


def _connection(
    state: StreamingState,
    calls: ApiCalls,
    stopping: Callable[[], bool],
    hold: Callable[[Any], None],
) -> Steps[None]:
    config = calls.config
    headers = {**calls.headers(config.refresh_interval), **state.request_headers()}
    url = config.api_url + STREAMING_PATH + calls.project_query()
    timeout = calls.fixed_timeout or config.request_timeout
    try:
        reply = yield Send("GET", url, headers, None, timeout)
    except TransportError as error:
        if not stopping():
            state.failed(f"connection failed ({error.reason})")
        return
    hold(reply)
    try:
        if stopping() or not state.opened(reply.status, reply.headers):
            return
        while not stopping():
            chunk = yield Read(reply, CHUNK_BYTES)
            if not chunk:
                if not stopping():
                    state.failed("the server ended the stream")
                return
            if not (yield from state.received(chunk)):
                return
    except TransportError as error:
        if stopping():
            return
        if error.failure is Failure.TIMEOUT:
            state.went_silent()
        else:
            state.failed(f"the stream broke off ({error.reason})")
    finally:
        hold(None)
        reply.close()
