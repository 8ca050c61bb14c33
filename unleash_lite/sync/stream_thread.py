"""The sync client's streaming connection: one thread driving :class:`~.streaming.StreamingState`.

The thread performs :func:`~.streaming.connection_steps` with blocking I/O (:func:`~.steps.drive`)
on a transport of its own (a connection held open for minutes must not hold one of the
pollers'), and waits between connections as the state machine says. While the state machine
says "poll", the thread sleeps and the synchronizer's poll job runs; a poll answer asking for
streaming wakes it. :meth:`StreamThread.stop` closes the open answer from the calling thread,
so a stream blocked in a read ends at once; a request still waiting for the server's headers
ends within ``request_timeout``, as every call of the client does.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Any

from ..config import ClientConfig
from .http import UnleashApi
from .loader import FlagLoader
from .steps import drive
from .streaming import STREAMING_PATH, Mode, StreamingState, connection_steps
from .transport import Reply, Transport

LOGGER = logging.getLogger("unleash_lite")


class StreamThread:
    """Keeps a client's streaming connection, on a daemon thread of its own."""

    def __init__(
        self,
        config: ClientConfig,
        api: UnleashApi,
        loader: FlagLoader,
        transport: Transport | None = None,
    ) -> None:
        self.config = config
        self.api = api
        if transport is None:
            from .requests_transport import RequestsTransport

            transport = RequestsTransport(api.calls.transport_options)
        self.transport: Transport = transport
        self.settled = threading.Event()  # a first state arrived, or it polls instead
        self.state = StreamingState(
            loader.install_delta,
            describe=config.display_url + STREAMING_PATH,
            max_event_bytes=config.max_payload_bytes,
            on_change=self._changed,
        )
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._reply: Reply | None = None
        self._thread: threading.Thread | None = None

    @property
    def streaming(self) -> bool:
        """True while the thread runs and the flags come from the stream (the poll job then
        skips its polls)."""
        thread = self._thread
        alive = thread is not None and thread.is_alive() and not self._stopping.is_set()
        return alive and self.state.mode is Mode.STREAMING

    @property
    def connected(self) -> bool:
        """True once the current connection delivered the server's full state."""
        return self.state.connected

    @property
    def thread(self) -> threading.Thread | None:
        """The streaming thread, if started (for tests and diagnostics)."""
        return self._thread

    def start(self) -> None:
        """Start the thread unless it runs."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"unleash-lite-stream-{self.config.app_name}", daemon=True
        )
        self._thread.start()

    def wait_settled(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the stream's first state (or its fallback)."""
        self.settled.wait(timeout)

    def stop(self, timeout: float) -> None:
        """End the stream and the thread; wait up to ``timeout`` seconds for it (again, to
        wait longer)."""
        self._stopping.set()
        self._wake.set()
        with self._lock:
            reply = self._reply
        if reply is not None:
            _abort(reply)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.transport.close()

    # -- the thread ------------------------------------------------------------------------

    def _changed(self, state: StreamingState) -> None:
        if state.connected or state.mode is Mode.POLLING:
            self.settled.set()
        if state.mode is Mode.STREAMING:
            self._wake.set()  # back from polling (a poll answer asked for it): connect

    def _run(self) -> None:
        while True:
            self._wake.clear()  # before the wait is decided: a later wake-up ends it
            if self._stopping.is_set():  # set before stop() wakes the thread
                return
            wait = self.state.next_wait()
            if wait != 0.0:
                self._wake.wait(wait)
                if self._stopping.is_set():
                    return
            if self.state.connect_now():
                steps = connection_steps(
                    self.state, self.api.calls, self._stopping.is_set, self._hold
                )
                drive(steps, self.transport)

    def _hold(self, reply: Reply | None) -> None:
        with self._lock:
            self._reply = reply


def _abort(reply: Reply) -> None:
    """End ``reply`` from another thread: shut its socket down (a read blocked on it returns
    at once; a plain close would leave it blocked), then close it."""
    sock = _socket_of(reply)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        reply.close()


def _socket_of(reply: Any) -> socket.socket | None:
    """The socket under a ``requests`` answer, if there is one: its connection's while
    urllib3 keeps it, else the one the body is read from (``http.client`` lets go of the
    connection's own reference to it when the server said ``Connection: close``)."""
    raw = getattr(getattr(reply, "response", None), "raw", None)
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if not isinstance(sock, socket.socket):
        body = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(body, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None
