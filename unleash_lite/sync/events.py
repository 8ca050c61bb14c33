"""Delivering events to the user's ``event_callback`` off the caller's thread."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LOGGER = logging.getLogger("unleash_lite")

MAX_PENDING_EVENTS = 10_000


@dataclass(frozen=True)
class _DrainMarker:
    delivered: threading.Event
    stop: bool = False  # end the delivering thread once everything before is delivered


class EventDispatcher:
    """Runs the callback on one daemon thread, so a slow or raising callback can neither
    slow down nor break flag evaluation. Past ``MAX_PENDING_EVENTS`` waiting events, new
    ones are dropped (with one warning) rather than letting memory grow."""

    def __init__(self, callback: Callable[[Any], None]) -> None:
        self.callback = callback
        self._queue: queue.Queue[Any] = queue.Queue(MAX_PENDING_EVENTS)
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._warned_full = False
        self._closed = False

    def open(self) -> None:
        """Deliver events again after :meth:`close` (the client was initialized again)."""
        self._closed = False

    def emit(self, event: Any) -> None:
        """Queue an event for the callback; never blocks, never raises. Events emitted
        after :meth:`close` are dropped."""
        if self._closed:
            return
        if self._thread is None or self._pid != os.getpid():
            self._start()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            if not self._warned_full:
                self._warned_full = True
                LOGGER.warning("event_callback is falling behind: dropping events")

    def drain(self, timeout: float) -> bool:
        """Wait until queued events are delivered (for shutdown and tests)."""
        if self._thread is None or self._pid != os.getpid():
            self._start()
        finished = threading.Event()
        try:
            self._queue.put(_DrainMarker(finished), timeout=timeout)
        except queue.Full:
            return False
        return finished.wait(timeout)

    def close(self, timeout: float) -> bool:
        """Deliver what is queued (up to ``timeout`` seconds), then end the delivering
        thread. Returns whether it ended. Events emitted later are dropped until
        :meth:`open`."""
        self._closed = True
        with self._lock:
            thread, events = self._thread, self._queue
            if thread is None or self._pid != os.getpid():
                return True
            self._thread = None
            self._queue = queue.Queue(MAX_PENDING_EVENTS)  # for a thread a later emit starts
        finished = threading.Event()
        try:
            events.put(_DrainMarker(finished, stop=True), timeout=timeout)
        except queue.Full:
            return False
        if thread is threading.current_thread():
            return True  # destroy() called from the callback: the thread ends after it
        thread.join(timeout)
        return not thread.is_alive()

    def _start(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's thread does not exist here
                self._pid = os.getpid()
                self._queue = queue.Queue(MAX_PENDING_EVENTS)
                self._thread = None
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._deliver, daemon=True, name="unleash-lite-events"
                )
                self._thread.start()

    def _deliver(self) -> None:
        events = self._queue
        while True:
            event = events.get()
            if isinstance(event, _DrainMarker):
                event.delivered.set()
                if event.stop:
                    return
                continue
            try:
                self.callback(event)
            except Exception:
                LOGGER.debug("event_callback raised", exc_info=True)
