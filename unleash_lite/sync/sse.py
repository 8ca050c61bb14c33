"""An incremental parser of server-sent events (``text/event-stream``), sans-IO.

Feed it the bytes of a stream as they arrive, in chunks of any size; it returns the events
they complete. It follows the WHATWG HTML "event stream interpretation": lines end with
CRLF, LF or CR (a CRLF split across two chunks included), a leading UTF-8 BOM is dropped,
``:`` starts a comment, ``data`` lines join with ``\\n``, ``id`` sets the last event id
(kept for later events and for ``Last-Event-ID`` on reconnect), ``retry`` sets the
reconnection time, an empty line dispatches the event. Bytes that are not UTF-8 are
replaced, never raised on.

A hostile or broken server cannot make it hold more than ``max_event_bytes``: a line, or an
event's data, growing past it raises :class:`EventTooLarge` (the caller drops the stream).
Nothing here reads a socket, so the sync and the async clients drive the same parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_EVENT_BYTES = 64 * 1024 * 1024
_LINE_END = re.compile(rb"\r\n|\r|\n")


class EventTooLarge(ValueError):
    """A line or an event's data grew past the parser's limit."""


@dataclass(frozen=True)
class Event:
    """One dispatched event: its type (``message`` unless named), its data, and the last
    event id at the time (``""`` when none was ever set)."""

    event: str
    data: str
    id: str = ""


class EventStreamParser:
    """Turns the bytes of one event stream into :class:`Event` objects."""

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self.last_event_id = ""  # survives events (and is sent back on reconnect)
        self.retry_ms: int | None = None  # the reconnection time the server asked for
        self._partial = bytearray()  # the line not ended yet
        self._head: bytes | None = b""  # the first bytes, until the BOM is settled; then None
        self._skip_lf = False  # the last chunk ended with CR: a LF opening the next is its pair
        self._data: list[str] = []
        self._data_size = 0
        self._event_type = ""

    def feed(self, chunk: bytes) -> list[Event]:
        """The events ``chunk`` completes (none while an event is still arriving). Raises
        :class:`EventTooLarge` past ``max_event_bytes``."""
        if self._head is not None:
            head = self._head + chunk
            if len(head) < len(BOM) and BOM.startswith(head):
                self._head = head
                return []
            self._head = None
            chunk = head[len(BOM) :] if head.startswith(BOM) else head
        if not chunk:
            return []
        start = 0
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                start = 1
        events: list[Event] = []
        for match in _LINE_END.finditer(chunk, start):
            piece = chunk[start : match.start()]
            if self._partial:
                self._check(len(self._partial) + len(piece))
                self._partial += piece
                line = bytes(self._partial)
                self._partial.clear()
            else:
                self._check(len(piece))
                line = piece
            event = self._line(line)
            if event is not None:
                events.append(event)
            start = match.end()
            if match.group() == b"\r" and start == len(chunk):
                self._skip_lf = True
        rest = len(chunk) - start
        if rest:
            self._check(len(self._partial) + rest)
            self._partial += chunk[start:]
        return events

    def _check(self, size: int) -> None:
        if size + self._data_size > self.max_event_bytes:
            raise EventTooLarge(f"an event longer than {self.max_event_bytes} bytes")

    def _line(self, raw: bytes) -> Event | None:
        if not raw:
            return self._dispatch()
        if raw[:1] == b":":
            return None  # a comment (servers send them as heartbeats)
        name, colon, value = raw.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        field = name.decode("utf-8", "replace")
        text = value.decode("utf-8", "replace")
        if field == "data":
            self._data.append(text)
            self._data_size += len(value) + 1
        elif field == "event":
            self._event_type = text
        elif field == "id" and "\0" not in text:
            self.last_event_id = text
        elif field == "retry" and text.isascii() and text.isdigit():
            self.retry_ms = int(text)
        return None  # any other field is ignored, as the standard says

    def _dispatch(self) -> Event | None:
        data, event_type = self._data, self._event_type
        self._data, self._data_size, self._event_type = [], 0, ""
        if not data:
            return None
        return Event(event_type or "message", "\n".join(data), self.last_event_id)
