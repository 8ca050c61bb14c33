"""Test doubles for the sync layer's own seams, without sockets: ``Installs`` stands in for
the client's swap (the callback of a ``FlagLoader``) and ``MemoryTransport`` for the HTTP
transport (a ``Transport`` answering from a script, in memory)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.payloads import body_of
from unleash_lite.engine import FlagState, Snapshot, compile_snapshot
from unleash_lite.sync.transport import Failure, TransportError


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
