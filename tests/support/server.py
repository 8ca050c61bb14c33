"""``FakeUnleashServer``: the one stand-in for the Unleash control service in every suite
(not to be confused with ``unleash_lite.testing.FakeUnleash``, the public test double of the
client). A real HTTP server on 127.0.0.1 (``ThreadingHTTPServer``, port 0), not a mock of
``requests``.

Each endpoint (flags GET, registration POST, metrics POST, the streaming and delta
routes of experimental_mode, and any Admin API route, 404 unless scripted) answers from its own
:class:`Script`: one-shot replies queued with ``then(...)``, and a standing reply set with
``always(...)``. A reply is a function writing the answer on the raw exchange, so it can do
what a real network does: answer late, answer part of a body, reset the connection, stream
an enormous (or gzip-bombed) body, or hang until released. Every request is recorded,
and the metrics the server *accepted* are summed, so tests compare them with the
evaluations made. Before any script runs, ``token`` answers 401 to a request without that
Authorization, as Unleash does, and ``max_body_bytes`` answers 413 to a larger request body,
as Unleash's JSON body parser does (its limit is 100 KB, :data:`UNLEASH_BODY_LIMIT`).

``PUT /_admin/payload`` (outside the API, not recorded) replaces the payload, so another
process (a forked child, a worker) can change what the server serves. A request in absolute
form (what a client sends to an HTTP proxy) is served as its path, so the fake can stand for
a proxy too; it is recorded with the full target.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import select
import socket
import ssl
import struct
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from queue import Empty, Queue
from typing import Any
from urllib.parse import urlsplit

from tests.support.payloads import (
    delta,
    encode,
    etag_of,
    feature,
    hydration,
    payload,
    variants,
)

TOKEN = "default:development.s3cr3t-t0ken-4b1d9f"  # must never show up in any log record
# An address for the tests that mock the HTTP layer (``responses``) instead of serving.
URL = "http://unleash.test/api"
FEATURES = URL + "/client/features"
REGISTER = URL + "/client/register"
METRICS = URL + "/client/metrics"
UNLEASH_BODY_LIMIT = 100 * 1024  # express.json()'s default "100kb": a longer body gets 413


# Two payloads that differ in every way a test can see.
PAYLOAD_A = payload(
    feature("shared"),
    feature("only-a"),
    feature("colour", variants=variants("red")),
    feature("off-in-b"),
)
PAYLOAD_B = payload(
    feature("shared"),
    feature("only-b"),
    feature("colour", variants=variants("blue")),
    feature("off-in-b", enabled=False),
)


# -- the exchange a reply writes on ----------------------------------------------------------


@dataclass
class Exchange:
    """One request as the server saw it, and the means to answer it."""

    handler: BaseHTTPRequestHandler
    server: FakeUnleashServer
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def send(
        self,
        status: int,
        data: bytes = b"",
        headers: Mapping[str, str] | None = None,
        content_length: int | None = None,
    ) -> None:
        """Status, headers and body; ``content_length`` may announce more than is sent."""
        handler = self.handler
        handler.send_response(status)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        if status not in (204, 304):
            length = len(data) if content_length is None else content_length
            handler.send_header("Content-Length", str(length))
        handler.end_headers()
        if data and status not in (204, 304):
            handler.wfile.write(data)
        handler.wfile.flush()

    def close(self, reset: bool = False) -> None:
        """Drop the connection after this exchange; ``reset``: at once, with a TCP RST."""
        self.handler.close_connection = True
        if reset:
            sock = self.handler.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up early when the server stops (so tests never wait for it)."""
        self.server.stopping.wait(seconds)


Reply = Callable[[Exchange], None]


# -- replies ---------------------------------------------------------------------------------


def serve_payload(data: Any = None, headers: Mapping[str, str] | None = None) -> Reply:
    """200 with the server's current payload (or ``data``) and its ETag; 304 on a match;
    ``headers`` added to either (``{"fetch-mode": "streaming"}``, say)."""

    def reply(exchange: Exchange) -> None:
        current = exchange.server.payload if data is None else data
        etag = etag_of(current)
        if exchange.header("If-None-Match") == etag:
            exchange.send(304, headers={"ETag": etag, **(headers or {})})
            return
        exchange.send(
            200,
            encode(current),
            {"ETag": etag, "Content-Type": "application/json", **(headers or {})},
        )

    return reply


def hydrated(data: Any) -> dict[str, Any]:
    """A full payload as the delta protocol sends it: one ``hydration`` event."""
    return delta(hydration(*data.get("features", []), segments=data.get("segments", [])))


def sse(event: str, data: Any, event_id: str | None = None) -> bytes:
    """One server-sent event (``data`` JSON-encoded unless bytes or text)."""
    text = data if isinstance(data, str) else json.dumps(data)
    lines = [f"event: {event}"] + ([f"id: {event_id}"] if event_id is not None else [])
    lines += [f"data: {line}" for line in text.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


CLOSE = b""  # queued in an EventFeed: end the stream


class EventFeed:
    """What the server writes on its open event streams, queued by the test: events, raw
    bytes (garbage, enormous lines) or :data:`CLOSE`. The open stream takes them (a stream
    the client dropped stops taking them within 50 ms)."""

    def __init__(self) -> None:
        self._queue: Queue[bytes] = Queue()
        self.opened = threading.Event()  # a stream is open (cleared by the test)

    def send(self, event: str, data: Any, event_id: str | None = None) -> None:
        self._queue.put(sse(event, data, event_id))

    def raw(self, data: bytes) -> None:
        self._queue.put(data)

    def close(self) -> None:
        self._queue.put(CLOSE)

    def take(self, timeout: float) -> bytes | None:
        try:
            return self._queue.get(timeout=timeout)
        except Empty:
            return None


def event_stream(connected: bool = True) -> Reply:
    """200 ``text/event-stream``: ``unleash-connected`` with the server's payload (id
    ``"1"``) unless ``connected=False``, then whatever the test queues in
    ``server.stream_feed``, until it queues :data:`CLOSE` or the server stops. The body is
    delimited by closing the connection, as an endless stream is."""

    def reply(exchange: Exchange) -> None:
        handler = exchange.handler
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()
        exchange.close()
        server = exchange.server
        if connected:
            handler.wfile.write(sse("unleash-connected", hydrated(server.payload), "1"))
        handler.wfile.flush()
        server.stream_feed.opened.set()
        while not server.stopping.is_set() and not _hung_up(handler.connection):
            data = server.stream_feed.take(0.05)
            if data is None:
                continue
            if data == CLOSE:
                return
            handler.wfile.write(data)
            handler.wfile.flush()

    return reply


def _hung_up(sock: socket.socket) -> bool:
    """Whether the client closed its end (so a stream stops taking the feed's items)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def serve_delta(headers: Mapping[str, str] | None = None) -> Reply:
    """``/client/delta``: the server's payload as one hydration event, its ETag, 304 on a
    match (a real server answers the events since the revision the ETag names; a test
    changing the payload gets a hydration of the new one, which is what a client must
    apply too)."""

    def reply(exchange: Exchange) -> None:
        current = exchange.server.payload
        etag = '"delta-' + etag_of(current).strip('"') + '"'
        if exchange.header("If-None-Match") == etag:
            exchange.send(304, headers={"ETag": etag, **(headers or {})})
            return
        exchange.send(
            200,
            encode(hydrated(current)),
            {"ETag": etag, "Content-Type": "application/json", **(headers or {})},
        )

    return reply


def status(
    code: int,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> Reply:
    """A fixed answer: any status, headers and body."""

    def reply(exchange: Exchange) -> None:
        exchange.send(code, body, {"Content-Type": content_type, **(headers or {})})

    return reply


def body(
    data: bytes | str, content_type: str = "application/json", etag: str | None = '"bad"'
) -> Reply:
    """200 with an arbitrary body (HTML, invalid JSON, the wrong shape...)."""
    raw = data.encode() if isinstance(data, str) else data
    headers = {"Content-Type": content_type, **({"ETag": etag} if etag else {})}
    return status(200, raw, headers, content_type)


def accept(code: int = 202, content_type: str = "application/json", data: bytes = b"") -> Reply:
    """For POSTs: answer ``code`` (a 2xx), keeping what was sent."""
    return kept(status(code, data, content_type=content_type))


def slow(seconds: float, then: Reply) -> Reply:
    """Answer ``then``, but only after ``seconds`` (longer than the client's timeout)."""

    def reply(exchange: Exchange) -> None:
        exchange.wait(seconds)
        then(exchange)

    reply.keeps_metrics = getattr(then, "keeps_metrics", False)  # type: ignore[attr-defined]
    return reply


def reset() -> Reply:
    """Read the request, then reset the connection without a word."""

    def reply(exchange: Exchange) -> None:
        exchange.close(reset=True)

    return reply


def hang_up() -> Reply:
    """Read the request, then close the connection without a word (no reset)."""

    def reply(exchange: Exchange) -> None:
        exchange.close()

    return reply


def silence() -> Reply:
    """Read the request, keep the connection open and say nothing until the server stops."""

    def reply(exchange: Exchange) -> None:
        exchange.server.stopping.wait()

    return reply


def truncated(data: bytes, keep: float = 0.5) -> Reply:
    """200 announcing ``len(data)`` bytes, sending only a part, then closing."""

    def reply(exchange: Exchange) -> None:
        part = data[: int(len(data) * keep)]
        exchange.send(
            200,
            part,
            {"Content-Type": "application/json", "ETag": '"cut"'},
            content_length=len(data),
        )
        exchange.close()

    return reply


def trickle(data: bytes, every: float) -> Reply:
    """200 with ``data`` sent one byte every ``every`` seconds (each byte within the read
    timeout, the whole body far beyond it)."""

    def reply(exchange: Exchange) -> None:
        handler = exchange.handler
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.flush()
        for index in range(len(data)):
            if exchange.server.stopping.is_set():
                break
            handler.wfile.write(data[index : index + 1])
            handler.wfile.flush()
            exchange.wait(every)
        exchange.close()

    return reply


def trickled_headers(every: float, count: int = 30) -> Reply:
    """A status line, then ``count`` header lines one every ``every`` seconds (each within
    the read timeout, all of them far beyond it), then hang up: the answer never starts."""

    def reply(exchange: Exchange) -> None:
        handler = exchange.handler
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        handler.wfile.flush()
        for _ in range(count):
            if exchange.server.stopping.is_set():
                break
            handler.wfile.write(b"X-Slow: a\r\n")
            handler.wfile.flush()
            exchange.wait(every)
        exchange.close()

    return reply


def enormous(total: int, announce: bool = True, gzipped: bool = False) -> Reply:
    """200 with a body of ``total`` bytes (decompressed), streamed until the client hangs
    up; ``announce``: with its Content-Length, else chunked; ``gzipped``: a gzip bomb, a
    small compressed stream inflating to ``total`` bytes. The bytes actually written are
    recorded in ``server.stream_bytes_sent``."""

    def reply(exchange: Exchange) -> None:
        handler = exchange.handler
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("ETag", '"enormous"')
        chunks = _gzip_chunks(total) if gzipped else _padding_chunks(total)
        if gzipped:
            handler.send_header("Content-Encoding", "gzip")
        if announce and not gzipped:
            handler.send_header("Content-Length", str(total))
        else:
            handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        sent = 0
        try:
            for chunk in chunks:
                if announce and not gzipped:
                    handler.wfile.write(chunk)
                else:
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            if not announce or gzipped:
                handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except OSError:
            pass  # the client hung up: what we expect
        finally:
            exchange.server.stream_bytes_sent.append(sent)
            exchange.close()

    return reply


def _padding_chunks(total: int, size: int = 256 * 1024) -> Iterator[bytes]:
    head = b'{"version":2,"features":[],"padding":"'
    yield head
    left = total - len(head) - 2
    block = b"x" * size
    while left > 0:
        piece = block[: min(size, left)]
        left -= len(piece)
        yield piece
    yield b'"}'


def _gzip_chunks(total: int, size: int = 1024 * 1024) -> Iterator[bytes]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    block = b" " * size
    left = total
    while left > 0:
        piece = block[: min(size, left)]
        left -= len(piece)
        out = compressor.compress(piece)
        if out:
            yield out
    yield compressor.flush()


def gzip_body(data: bytes) -> Reply:
    """200 with ``data`` gzip-compressed (a legitimate compressed answer)."""

    def reply(exchange: Exchange) -> None:
        exchange.send(
            200,
            gzip.compress(data),
            {"Content-Type": "application/json", "Content-Encoding": "gzip", "ETag": etag_of(data)},
        )

    return reply


def hang(release: threading.Event, then: Reply) -> Reply:
    """Hold the request until ``release`` is set (or the server stops), then answer."""

    def reply(exchange: Exchange) -> None:
        exchange.server.hanging.set()
        while not release.wait(0.05):
            if exchange.server.stopping.is_set():
                return
        then(exchange)

    reply.keeps_metrics = getattr(then, "keeps_metrics", False)  # type: ignore[attr-defined]
    return reply


# -- scripts and records ---------------------------------------------------------------------


class Script:
    """The replies of one endpoint: queued one-shot replies first, then the standing one."""

    def __init__(self, standing: Reply) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._standing = standing

    def always(self, reply: Reply) -> None:
        with self._lock:
            self._queue.clear()
            self._standing = reply

    def then(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def next(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else self._standing


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float
    accepted: bool = False  # for metrics: whether the server kept the counts
    size: int = 0  # bytes of the request body

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class FakeUnleashServer:
    """The control service. Use as a context manager; ``url`` is the client's ``url``."""

    payload: Any = field(default_factory=lambda: PAYLOAD_A)
    requests: list[Recorded] = field(default_factory=list)
    keep_feature_gets: bool = True  # False: only count them (a soak makes thousands)
    tls: tuple[str, str] | None = None  # (certificate file, key file): serve HTTPS
    max_body_bytes: int | None = None  # a longer request body is answered 413, not scripted
    token: str | None = None  # set: another Authorization is answered 401, as Unleash does
    echo_token: bool = False  # the 401 quotes the token it got, as some proxies do

    def __post_init__(self) -> None:
        self.features = Script(serve_payload())
        self.register = Script(accept())
        self.metrics = Script(accept())
        self.streaming = Script(event_stream())
        self.delta = Script(serve_delta())
        self.admin = Script(status(404, b"{}"))  # any /api/admin/ route (unleash-lite admin)
        self.stream_feed = EventFeed()
        self.stopping = threading.Event()
        self.hanging = threading.Event()
        self.stream_bytes_sent: list[int] = []
        self.feature_get_count = 0
        self.connections_opened = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._port = 0
        self._connections: set[socket.socket] = set()

    # lifecycle
    def start(self, port: int = 0) -> FakeUnleashServer:
        """Listen (on ``port``, or a free one) and serve on a daemon thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body as written, no 40 ms stall

            def setup(self) -> None:
                super().setup()
                with fake._lock:
                    fake._connections.add(self.connection)
                    fake.connections_opened += 1

            def finish(self) -> None:
                with fake._lock:
                    fake._connections.discard(self.connection)
                super().finish()

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 64

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that time out or hang up leave broken pipes: expected

        self._server = Server(("127.0.0.1", port), Handler)
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._port = int(self._server.server_address[1])
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="fake-unleash",
        ).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._close()

    def go_down(self) -> None:
        """Stop listening and drop every open connection, as a crashed server would
        (connections are then refused), but keep the port, for :meth:`come_back`."""
        self._close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def come_back(self) -> None:
        self.start(self._port)

    def _close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeUnleashServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/api"

    # what happened
    def recorded(self, route: str = "", method: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.split("?")[0].endswith(route) and (method is None or r.method == method)
            ]

    def feature_gets(self) -> list[Recorded]:
        return self.recorded("/client/features", "GET")

    def metrics_posts(self) -> list[Recorded]:
        return self.recorded("/client/metrics", "POST")

    def accepted_counts(
        self, sent_by: Callable[[Recorded], bool] | None = None
    ) -> Counter[tuple[str, str]]:
        """What the metrics the server kept add up to: ``(flag, "yes"|"no"|"variant:x")``;
        only those of the requests ``sent_by`` accepts, when given."""
        totals: Counter[tuple[str, str]] = Counter()
        for record in self.metrics_posts():
            if not record.accepted or (sent_by is not None and not sent_by(record)):
                continue
            for name, counts in record.body["bucket"]["toggles"].items():
                totals[(name, "yes")] += counts["yes"]
                totals[(name, "no")] += counts["no"]
                for variant_name, count in counts.get("variants", {}).items():
                    totals[(name, f"variant:{variant_name}")] += count
        return +totals

    # serving
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode("utf-8", "replace")
        # A request in absolute form (``GET http://host/api/...``), as a client sends it to a
        # proxy, is served as its path: the fake is then the proxy too (recorded as sent).
        route = urlsplit(handler.path).path if "://" in handler.path else handler.path
        route = route.split("?")[0]
        if route.startswith("/_admin/"):
            self._admin(Exchange(handler, self, method, handler.path, {}, data), route)
            return
        headers = dict(handler.headers.items())
        record = Recorded(method, handler.path, headers, data, time.monotonic(), size=len(raw))
        is_get = method == "GET" and route == "/api/client/features"
        with self._lock:
            self.feature_get_count += is_get
            if self.keep_feature_gets or not is_get:
                self.requests.append(record)
        exchange = Exchange(handler, self, method, handler.path, record.headers, data)
        if self.token is not None and record.header("Authorization") != self.token:
            said = (
                f"Invalid token {record.header('Authorization')}"
                if self.echo_token
                else "Invalid token"
            )
            with contextlib.suppress(OSError):
                exchange.send(
                    401,
                    json.dumps({"message": said}).encode(),
                    {"Content-Type": "application/json"},
                )
            return
        if self.max_body_bytes is not None and len(raw) > self.max_body_bytes:
            with contextlib.suppress(OSError):
                exchange.send(413, b'{"message": "request entity too large"}')
            return
        if method == "GET" and route == "/api/client/features":
            script = self.features
        elif method == "GET" and route == "/api/client/streaming":
            script = self.streaming
        elif method == "GET" and route == "/api/client/delta":
            script = self.delta
        elif method == "POST" and route == "/api/client/register":
            script = self.register
        elif method == "POST" and route == "/api/client/metrics":
            script = self.metrics
        elif route.startswith("/api/admin/"):
            script = self.admin
        else:
            exchange.send(404, b"{}")  # no message for clients to quote: their own words show
            return
        reply = script.next()
        # The server keeps a metrics body when it decides to answer 2xx, whether or not the
        # answer then reaches the client (a slow 202 is kept: the client may send it again).
        record.accepted = script is self.metrics and _answers_2xx(reply)
        with contextlib.suppress(OSError):  # the client may go away mid-answer
            reply(exchange)

    def _admin(self, exchange: Exchange, route: str) -> None:
        if exchange.method == "PUT" and route == "/_admin/payload":
            self.payload = exchange.body
            exchange.send(204)
        else:
            exchange.send(404, b"{}")


def _answers_2xx(reply: Reply) -> bool:
    return bool(getattr(reply, "keeps_metrics", False))


def kept(reply: Reply) -> Reply:
    """Mark a metrics reply as one where the server keeps the counts it was sent."""
    reply.keeps_metrics = True  # type: ignore[attr-defined]
    return reply
