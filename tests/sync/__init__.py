"""Helpers shared by the sync-layer tests (``tests/sync`` and ``tests/test_client_sync.py``).

Nothing here is a fixture, so test modules import plain functions and classes and build
their own fixtures from them:

* payload builders (``feature``, ``payload``, ``body_of``),
* ``wait_for``: poll a condition with a deadline instead of sleeping a fixed time,
* ``DictCache``: a dict-backed ``BaseCache`` that records its ``mset`` calls,
* ``Installs``: the client's side of a ``FlagLoader`` (its swap), recording what it installs,
* ``MemoryTransport``: a ``Transport`` answering from a script, in memory (no sockets),
* ``StubScheduler``: an APScheduler stand-in that records jobs and reschedules and never runs
  anything by itself, so a test drives ``Synchronizer.poll`` / ``send_metrics`` directly,
* ``FakeUnleash``: a real HTTP server (``ThreadingHTTPServer`` on 127.0.0.1, port 0) serving
  a mutable flags payload with ETags, recording every request, able to hang or fail on demand.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from apscheduler.schedulers.base import STATE_RUNNING, STATE_STOPPED
from apscheduler.triggers.interval import IntervalTrigger

from tests.dict_cache import DictCache as DictCache  # re-exported for the sync tests
from unleash_lite.engine import FlagState, Snapshot, compile_snapshot
from unleash_lite.sync.transport import Failure, TransportError

TOKEN = "default:development.s3cr3t-t0ken-4b1d9f"  # must never show up in any log record
URL = "http://unleash.test/api"
FEATURES = URL + "/client/features"
REGISTER = URL + "/client/register"
METRICS = URL + "/client/metrics"


# -- payloads --------------------------------------------------------------------------------


def feature(name: str, enabled: bool = True, **extra: Any) -> dict[str, Any]:
    """A feature definition with the default strategy (on for everyone when enabled)."""
    definition: dict[str, Any] = {
        "name": name,
        "type": "release",
        "project": "default",
        "enabled": enabled,
        "stale": False,
        "impressionData": False,
        "strategies": [{"name": "default", "parameters": {}, "constraints": []}],
        "variants": [],
    }
    definition.update(extra)
    return definition


def variants(*names: str) -> list[dict[str, Any]]:
    """Feature variants of equal weight (one name: everybody gets it)."""
    weight = 1000 // max(len(names), 1)
    return [{"name": name, "weight": weight, "stickiness": "default",
             "weightType": "variable", "payload": {"type": "string", "value": name}}
            for name in names]


def payload(*features: Mapping[str, Any], segments: list[Any] | None = None) -> dict[str, Any]:
    """A version-2 features payload."""
    return {"version": 2, "features": [dict(f) for f in features], "segments": segments or [],
            "query": {}, "meta": {}}


def names(data: Mapping[str, Any]) -> list[str]:
    """The flag names of a payload, sorted: what :class:`Installs` records of it."""
    return sorted(definition["name"] for definition in data["features"])


class Installs:
    """Stands in for the client's swap, the callback of a ``FlagLoader``: applies what the
    loader hands over to the last snapshot and records the flag names of each one installed.
    ``failure``: an exception every install raises instead, while it is set."""

    def __init__(self) -> None:
        self.snapshot = compile_snapshot(FlagState())
        self.applied: list[list[str]] = []
        self.failure: Exception | None = None

    def __call__(self, update: Callable[[Snapshot], Snapshot]) -> Snapshot:
        if self.failure is not None:
            raise self.failure
        self.snapshot = update(self.snapshot)
        self.applied.append(sorted(self.snapshot.features))
        return self.snapshot


@dataclass
class Sent:
    """One request a :class:`MemoryTransport` received."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    timeout: float

    def json(self) -> Any:
        assert self.body is not None
        return json.loads(self.body)


class MemoryReply:
    """An answer of a :class:`MemoryTransport`: its body handed out in ``chunk`` bytes,
    ``broken_after``: a :class:`TransportError` once that many bytes were read."""

    def __init__(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None,
                 chunk: int = 1 << 20, broken_after: int | None = None,
                 announce_length: bool = True) -> None:
        self.status = status
        self.body = body
        self.headers: dict[str, str] = _Caseless(headers or {})
        if announce_length and "content-length" not in self.headers:
            self.headers["Content-Length"] = str(len(body))
        self.position = 0
        self.chunk = chunk
        self.broken_after = broken_after
        self.announced = announce_length
        self.released = False
        self.closed = False

    @property
    def length_remaining(self) -> int | None:
        return len(self.body) - self.position if self.announced else None

    def read(self, size: int) -> bytes:
        if self.broken_after is not None and self.position >= self.broken_after:
            raise TransportError(Failure.FAILED, "ProtocolError")
        data = self.body[self.position:self.position + min(size, self.chunk)]
        self.position += len(data)
        return data

    def release(self) -> None:
        self.released = True

    def close(self) -> None:
        self.closed = True


class _Caseless(dict[str, str]):
    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__((key.lower(), value) for key, value in headers.items())

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


Answer = MemoryReply | Failure | Callable[[Sent], "MemoryReply | Failure"]


class MemoryTransport:
    """A ``Transport`` that answers from a script, without sockets: ``answer(path, ...)``
    queues answers for requests whose URL path ends with ``path`` (the last one repeats);
    a :class:`Failure` raises the matching :class:`TransportError`. Records every request."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.scripts: dict[str, list[Answer]] = {}
        self.closed = 0
        self.resets = 0

    def answer(self, path: str, *answers: Answer) -> None:
        self.scripts[path] = list(answers)

    def json(self, path: str, data: Any, status: int = 200, etag: str | None = None) -> None:
        headers = {"Content-Type": "application/json"}
        if etag is not None:
            headers["ETag"] = etag
        self.answer(path, MemoryReply(status, body_of(data).encode(), headers))

    def requests_to(self, path: str) -> list[Sent]:
        return [sent for sent in self.sent if sent.url.split("?")[0].endswith(path)]

    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
             timeout: float) -> MemoryReply:
        sent = Sent(method, url, dict(headers), body, timeout)
        self.sent.append(sent)
        path = next((p for p in self.scripts if url.split("?")[0].endswith(p)), None)
        if path is None:
            raise AssertionError(f"no answer scripted for {method} {url}")
        script = self.scripts[path]
        answer = script.pop(0) if len(script) > 1 else script[0]
        if callable(answer) and not isinstance(answer, MemoryReply):
            answer = answer(sent)
        if isinstance(answer, Failure):
            raise TransportError(answer, answer.name.title())
        return MemoryReply(answer.status, answer.body, dict(answer.headers), answer.chunk,
                           answer.broken_after, answer.announced)  # fresh: readable again

    def close(self) -> None:
        self.closed += 1

    def reset(self) -> None:
        self.resets += 1


def body_of(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def etag_of(data: Any) -> str:
    return '"' + hashlib.sha256(body_of(data).encode()).hexdigest()[:16] + '"'


# -- waiting ---------------------------------------------------------------------------------


def wait_for(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01,
             message: str | Callable[[], str] = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds
    (``message`` may be a function, to describe the state at that moment)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            what = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@contextmanager
def frequent_thread_switches(interval: float = 1e-5) -> Iterator[None]:
    """Make the interpreter switch threads every ``interval`` seconds (default every 5 ms),
    so races between evaluating threads and a swapping thread get many chances to show."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def free_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def messages(records: Iterable[logging.LogRecord], level: int | None = None,
             logger: str = "unleash_lite") -> list[str]:
    """The messages logged by ``logger`` (at ``level`` exactly, when given)."""
    return [r.getMessage() for r in records
            if r.name == logger and (level is None or r.levelno == level)]


def full_text(record: logging.LogRecord) -> str:
    """Everything a handler could print for a record: message, exception and stack."""
    return logging.Formatter("%(name)s %(levelname)s %(message)s").format(record) + " " + repr(
        record.args)


@contextmanager
def stopping_leftover_clients() -> Iterator[None]:
    """Stop (without the final metrics flush) every client created inside the block that is
    still initialized, e.g. because an assertion failed before its ``destroy()``; otherwise
    its atexit flush would try the network when the interpreter exits."""
    from unleash_lite.sync import processes

    before = set(map(id, processes._clients))
    try:
        yield
    finally:
        for client in list(processes._clients):
            if id(client) in before or not client.is_initialized or client._sync is None:
                continue
            atexit.unregister(client._flush_at_exit)
            client._sync.stop(flush_budget=None)
            client._sync.runner.stop(timeout=5)  # a poll in progress must not log in the next test
            client.is_initialized = False


# -- caches and schedulers -------------------------------------------------------------------


class StubJob:
    def __init__(self, scheduler: StubScheduler, job_id: str, function: Callable[[], Any],
                 trigger: Any) -> None:
        self.scheduler = scheduler
        self.id = job_id
        self.function = function
        self.trigger = trigger
        self.reschedules: list[Any] = []

    def reschedule(self, trigger: Any, **_: Any) -> StubJob:
        self.trigger = trigger
        self.reschedules.append(trigger)
        return self

    def remove(self) -> None:
        self.scheduler.jobs.pop(self.id, None)


class StubScheduler:
    """Records ``add_job`` calls; runs nothing. Pass as ``UnleashClient(scheduler=...)``."""

    def __init__(self) -> None:
        self.state = STATE_RUNNING
        self.jobs: dict[str, StubJob] = {}
        self.added: list[StubJob] = []

    def add_job(self, function: Callable[[], Any], trigger: Any = None, *, id: str,
                **_: Any) -> StubJob:
        job = StubJob(self, id, function, trigger)
        self.jobs[id] = job
        self.added.append(job)
        return job

    def start(self) -> None:
        self.state = STATE_RUNNING

    def shutdown(self, wait: bool = True) -> None:
        self.state = STATE_STOPPED

    def job(self, kind: str) -> StubJob:
        matches = [job for job in self.jobs.values() if job.id.endswith("-" + kind)]
        assert len(matches) == 1, f"expected one {kind} job, have {list(self.jobs)}"
        return matches[0]

    def interval(self, kind: str) -> float:
        trigger = self.job(kind).trigger
        assert isinstance(trigger, IntervalTrigger)
        return float(trigger.interval.total_seconds())


# -- a real local Unleash stand-in -----------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None
    thread: str = ""

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class FakeUnleash:
    """An Unleash server stand-in for one test: ``/api/client/{features,register,metrics}``.

    ``PUT /_admin/payload`` replaces the payload (so a forked child can change it), and
    ``GET /_admin/requests`` returns what was recorded (so a child can look, too).
    """

    payload: Any = field(default_factory=lambda: payload())
    features_status: int | None = None  # answer every features GET with this status
    metrics_status: int = 202
    hang: bool = False  # features GETs wait until ``release`` is set (or 10 s)
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> FakeUnleash:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

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

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that time out leave broken pipes behind: not our business

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="fake-unleash")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeUnleash:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    # what happened
    def recorded(self, path_suffix: str = "", method: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests
                    if r.path.split("?")[0].endswith(path_suffix)
                    and (method is None or r.method == method)]

    def feature_gets(self) -> list[Recorded]:
        return self.recorded("/client/features", "GET")

    def metrics_posts(self) -> list[Recorded]:
        return self.recorded("/client/metrics", "POST")

    # serving
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = handler.path
        if path.startswith("/_admin/"):
            self._admin(handler, method, path, body)
            return
        with self._lock:
            self.requests.append(Recorded(method, path, dict(handler.headers.items()), body,
                                          threading.current_thread().name))
        route = path.split("?")[0]
        if method == "GET" and route == "/api/client/features":
            if self.hang:
                self.release.wait(10)
            if self.features_status is not None:
                self._send(handler, self.features_status, b"{}")
                return
            current = self.payload
            etag = etag_of(current)
            if handler.headers.get("If-None-Match") == etag:
                self._send(handler, 304, b"", {"ETag": etag})
                return
            self._send(handler, 200, body_of(current).encode(),
                       {"ETag": etag, "Content-Type": "application/json"})
        elif method == "POST" and route == "/api/client/register":
            self._send(handler, 202, b"")
        elif method == "POST" and route == "/api/client/metrics":
            self._send(handler, self.metrics_status, b"")
        else:
            self._send(handler, 404, b"not found")

    def _admin(self, handler: BaseHTTPRequestHandler, method: str, path: str,
               body: Any) -> None:
        if method == "PUT" and path == "/_admin/payload":
            self.payload = body
            self._send(handler, 204, b"")
        elif method == "GET" and path == "/_admin/requests":
            with self._lock:
                data = [{"method": r.method, "path": r.path, "headers": r.headers,
                         "body": r.body} for r in self.requests]
            self._send(handler, 200, json.dumps(data).encode())
        else:
            self._send(handler, 404, b"")

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, data: bytes,
              headers: Mapping[str, str] | None = None) -> None:
        try:
            handler.send_response(status)
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            if status != 304:
                handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            if data and status != 304:
                handler.wfile.write(data)
        except OSError:
            pass
