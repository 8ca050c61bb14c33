"""The sync client's streaming connection: one thread driving :class:`~.streaming.StreamingState`.

The thread opens ``GET {url}/client/streaming`` on a transport of its own (a connection held
open for minutes must not hold one of the pollers'), with the client's protocol headers and
``Accept: text/event-stream``, and feeds what arrives to the state machine, which decides the
rest. While the state machine says "poll", the thread sleeps and the synchronizer's poll job
runs. :meth:`StreamThread.stop` closes the open answer from the calling thread, so a stream
blocked in a read ends at once; a request still waiting for the server's headers ends within
``request_timeout``, as every call of the client does.
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
from .streaming import STREAMING_PATH, Mode, StreamingState
from .transport import Failure, Reply, RequestsTransport, Transport, TransportError

LOGGER = logging.getLogger("unleash_lite")

CHUNK_BYTES = 64 * 1024


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
        self.transport: Transport = transport or RequestsTransport(api.calls.transport_options)
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
        while not self._stopping.is_set():
            try:
                if self.state.mode is Mode.POLLING:
                    self._wait_while_polling()
                    continue
                delay = self.state.connect_delay()
                if delay and self._stopping.wait(delay):
                    return
                self._connect_once()
            except Exception as error:  # a bug (or a read of an answer stop() closed)
                if self._stopping.is_set():
                    return
                LOGGER.debug("Unleash streaming failed", exc_info=True)
                self.state.failed(f"an error ({type(error).__name__})")

    def _wait_while_polling(self) -> None:
        wait = self.state.polling_wait()
        self._wake.wait(wait)
        self._wake.clear()
        if self.state.mode is Mode.POLLING and self.state.polling_wait() == 0.0:
            self.state.retry_streaming()

    def _connect_once(self) -> None:
        headers = {
            **self.api.headers(self.config.refresh_interval),
            **self.state.request_headers(),
        }
        url = self.config.api_url + STREAMING_PATH + self.api.calls.project_query()
        timeout = self.api.calls.fixed_timeout or self.config.request_timeout
        try:
            reply = self.transport.send("GET", url, headers, None, timeout)
        except TransportError as error:
            if not self._stopping.is_set():
                self.state.failed(f"connection failed ({error.reason})")
            return
        with self._lock:
            self._reply = reply
        try:
            if self._stopping.is_set() or not self.state.opened(reply.status, reply.headers):
                return
            while not self._stopping.is_set():
                chunk = reply.read(CHUNK_BYTES)
                if not chunk:
                    if not self._stopping.is_set():
                        self.state.failed("the server ended the stream")
                    return
                if not self.state.received(chunk):
                    return
        except TransportError as error:
            if self._stopping.is_set():
                return
            if error.failure is Failure.TIMEOUT:
                self.state.went_silent()
            else:
                self.state.failed(f"the stream broke off ({error.reason})")
        finally:
            with self._lock:
                self._reply = None
            reply.close()


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
