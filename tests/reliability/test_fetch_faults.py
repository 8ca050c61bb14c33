"""Every class of fault on the flags endpoint, against a real HTTP server on 127.0.0.1.

For each class the client first holds payload A, then the server misbehaves for a number
of polls, then answers payload B. The test proves, per class:

* evaluation keeps answering from the last good flags (A), and no exception reaches the
  caller or the polling job;
* the poll interval follows the specification (grows one step per failure up to 10x, drops
  to 10x at once for a rejected token or URL, honours ``Retry-After``, or stays put for a
  bad payload), and the number of requests the server saw matches;
* one log line says what happened (one per change of state), never with the token;
* the next good answer is installed at once, the interval resets and one line says so.

The polls are driven by hand (a stub scheduler, or the async client's tasks held) so the
counts are exact; the second half of the file runs a few classes on the real scheduler and
measures the time to recover. The cases that hold for both clients run for each
(``kind``: ``UnleashClient`` over ``requests``, ``AsyncUnleashClient`` over aiohttp).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import ClientFactory
from tests.support.helpers import app_log_lines, full_text, wait_for
from tests.support.kinds import Driven, DrivenFactory
from tests.support.payloads import encode, etag_of, feature, payload
from tests.support.server import (
    PAYLOAD_A,
    PAYLOAD_B,
    TOKEN,
    FakeUnleashServer,
    Reply,
    accept,
    body,
    enormous,
    reset,
    serve_payload,
    slow,
    status,
    trickle,
    truncated,
)
from unleash_lite import FileCache, UnleashClient
from unleash_lite.cache import ETAG
from unleash_lite.config import DEFAULT_REQUEST_RETRIES

from .conftest import Figures

INTERVAL = 10.0  # refresh_interval of the hand-driven tests: never waited for
TIMEOUT = 0.4  # request_timeout
LIMIT = 1024 * 1024  # max_payload_bytes for the enormous bodies


def grows(polls: int) -> list[float]:
    return [float(min(2 + index, 10)) for index in range(polls)]


@dataclass(frozen=True)
class Fault:
    """One class of misbehaviour and what the client must do about it."""

    name: str
    reply: Callable[[], Reply]
    intervals: Callable[[int], list[float]]  # poll interval after each poll, in intervals
    level: int | None  # the level of the one log line (None: nothing to report)
    says: str = ""  # a fragment of that line
    requests_per_poll: int = 1
    polls: int = 12
    answers: str = "kept"  # "kept": A answers; "partial": the usable part of the payload
    options: dict[str, Any] = field(default_factory=dict)


def json_message(text: str) -> bytes:
    return json.dumps({"message": text}).encode()


HTML = "<!doctype html><html><body><h1>Sign in to the corporate proxy</h1></body></html>"
WRONG_SHAPE = {"version": 2, "features": {"shared": {"enabled": True}}, "segments": []}
NOT_FEATURES = {"version": 2, "features": [1, "two", None, [3]], "segments": []}
WRONG_TYPES_EVERYWHERE = {
    "version": "two",
    "features": [{"name": "shared", "enabled": "yes", "strategies": {"name": 7}}],
    "segments": {"id": "one"},
}
STRATEGY_WITHOUT_NAME = payload(
    feature("shared", strategies=[{"parameters": {}, "constraints": []}]), feature("only-b")
)
UNKNOWN_OPERATOR = payload(
    feature(
        "shared",
        strategies=[
            {
                "name": "default",
                "constraints": [
                    {"contextName": "userId", "operator": "SOUNDS_LIKE", "values": ["u1"]}
                ],
            }
        ],
    ),
    feature(
        "inverted-unknown",
        strategies=[
            {
                "name": "default",
                "constraints": [
                    {
                        "contextName": "userId",
                        "operator": "SOUNDS_LIKE",
                        "values": ["u1"],
                        "inverted": True,
                    }
                ],
            }
        ],
    ),
    feature("only-b"),
)
WRONG_TYPES_IN_A_FLAG = payload(
    feature(
        "shared",
        enabled="yes",
        strategies={"name": 7},
        variants="many",
        dependencies=7,
        impressionData="no",
        type=5,
        project=[],
    ),
    feature("only-b"),
)

FAULTS = [
    *(
        Fault(
            f"HTTP {code}",
            lambda code=code: status(code, json_message("down")),
            grows,
            logging.WARNING,
            f"server unavailable (HTTP {code})",
        )
        for code in (500, 502, 503, 504)
    ),
    Fault(
        "HTTP 429 without Retry-After",
        lambda: status(429),
        grows,
        logging.WARNING,
        "server unavailable (HTTP 429)",
    ),
    Fault(
        "HTTP 429 with Retry-After: 120",
        lambda: status(429, headers={"Retry-After": "120"}),
        lambda polls: [12.0] * polls,
        logging.WARNING,
        "next try in 120s",
    ),
    Fault(
        "HTTP 503 with Retry-After: 120",
        lambda: status(503, headers={"Retry-After": "120"}),
        lambda polls: [12.0] * polls,
        logging.WARNING,
        "next try in 120s",
    ),
    *(
        Fault(
            f"HTTP {code}",
            lambda code=code: status(code, json_message("Unauthorized")),
            lambda polls: [10.0] * polls,
            logging.ERROR,
            "check the API token",
        )
        for code in (401, 403)
    ),
    Fault(
        "HTTP 404",
        lambda: status(404, json_message("Not found")),
        lambda polls: [10.0] * polls,
        logging.ERROR,
        "check the url",
    ),
    Fault("HTTP 400 (another 4xx)", lambda: status(400), grows, logging.WARNING, "(HTTP 400)"),
    Fault(
        "200 with an HTML page",
        lambda: body(HTML, "text/html"),
        lambda polls: [1.0] * polls,
        logging.WARNING,
        "unusable flags payload",
    ),
    Fault(
        "200 with invalid JSON",
        lambda: body('{"version": 2, "features": [{"name": '),
        lambda polls: [1.0] * polls,
        logging.WARNING,
        "unusable flags payload",
    ),
    Fault(
        "200 with an empty body",
        lambda: body(""),
        lambda polls: [1.0] * polls,
        logging.WARNING,
        "unusable flags payload",
    ),
    Fault(
        "200 with JSON nested 100,000 deep",
        lambda: body("[" * 100_000),
        lambda polls: [1.0] * polls,
        logging.WARNING,
        "nested too deeply",
    ),
    Fault(
        "features not a list",
        lambda: body(encode(WRONG_SHAPE)),
        lambda polls: [1.0] * polls,
        logging.WARNING,
        "unusable flags payload",
    ),
    Fault(
        "features holding no feature",
        lambda: body(encode(NOT_FEATURES)),
        lambda polls: [1.0] * polls,
        logging.WARNING,
        "unusable flags payload",
    ),
    Fault(
        "wrong types everywhere",
        lambda: body(encode(WRONG_TYPES_EVERYWHERE)),
        lambda polls: [1.0] * polls,
        logging.WARNING,
        "unusable flags payload",
    ),
    Fault(
        "a flag of wrong types",
        lambda: serve_payload(WRONG_TYPES_IN_A_FLAG),
        lambda polls: [1.0] * polls,
        None,
        answers="partial",
    ),
    Fault(
        "a strategy without a name",
        lambda: serve_payload(STRATEGY_WITHOUT_NAME),
        lambda polls: [1.0] * polls,
        None,
        answers="partial",
    ),
    Fault(
        "an unknown operator",
        lambda: serve_payload(UNKNOWN_OPERATOR),
        lambda polls: [1.0] * polls,
        None,
        answers="partial",
    ),
    Fault(
        "truncated body (connection cut)",
        lambda: truncated(encode(PAYLOAD_B)),
        grows,
        logging.WARNING,
        "the answer broke off",
    ),
    Fault(
        "response slower than the timeout",
        lambda: slow(TIMEOUT * 3, serve_payload(PAYLOAD_B)),
        grows,
        logging.WARNING,
        "timed out",
        polls=3,
    ),
    Fault(
        "body trickling past the timeout",
        lambda: trickle(encode(PAYLOAD_B), every=TIMEOUT / 4),
        grows,
        logging.WARNING,
        "timed out",
        polls=3,
    ),
    Fault(
        "connection reset", reset, grows, logging.WARNING, "connection failed", requests_per_poll=2
    ),
    Fault(
        "enormous body, Content-Length announced",
        lambda: enormous(256 * 1024 * 1024, announce=True),
        grows,
        logging.WARNING,
        "announced, over max_payload_bytes",
        options={"max_payload_bytes": LIMIT},
    ),
    Fault(
        "enormous body, chunked",
        lambda: enormous(256 * 1024 * 1024, announce=False),
        grows,
        logging.WARNING,
        "more than max_payload_bytes",
        options={"max_payload_bytes": LIMIT},
    ),
    Fault(
        "gzip bomb (64 MiB from a few KB)",
        lambda: enormous(64 * 1024 * 1024, gzipped=True),
        grows,
        logging.WARNING,
        "more than max_payload_bytes",
        polls=3,
        options={"max_payload_bytes": LIMIT},
    ),
]


def summary(multipliers: list[float]) -> str:
    """``[2, 3, ..., 10, 10]`` as ``2x→10x``."""
    if len(set(multipliers)) == 1:
        return f"{multipliers[0]:g}x"
    return f"{multipliers[0]:g}x→{multipliers[-1]:g}x"


DEFAULTS: dict[str, Any] = {
    "app_name": "fault-app",
    "refresh_interval": INTERVAL,
    "request_timeout": TIMEOUT,
    "request_retries": DEFAULT_REQUEST_RETRIES,  # as in production: faults are retried
    "disable_metrics": True,
    "disable_registration": True,
}


@pytest.fixture
def make_client(make_client: ClientFactory) -> ClientFactory:
    return make_client.with_defaults(**DEFAULTS)


@pytest.fixture
def make_either(make_driven: DrivenFactory) -> DrivenFactory:
    return make_driven.with_defaults(**DEFAULTS)


def answers_a(client: UnleashClient | Driven) -> bool:
    return (
        client.is_enabled("shared")
        and client.is_enabled("only-a")
        and not client.is_enabled("only-b")
        and client.is_enabled("off-in-b")
        and client.get_variant("colour")["name"] == "red"
    )


def answers_b(client: UnleashClient | Driven) -> bool:
    return (
        client.is_enabled("shared")
        and client.is_enabled("only-b")
        and not client.is_enabled("only-a")
        and not client.is_enabled("off-in-b")
        and client.get_variant("colour")["name"] == "blue"
    )


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_fault_class(
    fault: Fault,
    server: FakeUnleashServer,
    figures: Figures,
    make_either: DrivenFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, ours, urllib3's, requests', aiohttp's
    client = make_either.stubbed(server.url, **fault.options)
    client.initialize_client()
    assert answers_a(client)
    assert isinstance(client.cache, FileCache)

    # the fault
    server.features.always(fault.reply())
    before = len(server.feature_gets())
    mark = len(caplog.records)
    seen = []
    started = time.monotonic()
    for _ in range(fault.polls):
        client.poll()  # never raises
        seen.append(client.interval("poll") / INTERVAL)
        if fault.answers == "kept":
            assert answers_a(client), "the last good flags must keep answering"
        else:
            assert client.is_enabled("only-b") and not client.is_enabled("shared")
            assert not client.is_enabled("inverted-unknown", {"userId": "u1"})
            assert client.get_variant("shared")["name"] == "disabled"
    fault_seconds = time.monotonic() - started
    requests = len(server.feature_gets()) - before
    assert seen == fault.intervals(fault.polls)
    assert requests == fault.polls * fault.requests_per_poll
    lines = app_log_lines(caplog.records, mark)
    if fault.level is None:
        assert lines == []
    else:
        assert [r.levelno for r in lines] == [fault.level], [r.getMessage() for r in lines]
        assert fault.says in lines[0].getMessage()
    if fault.answers == "kept":  # nothing of the bad answer reached the disk cache
        assert json.loads(client.cache.path.read_text())[ETAG] == etag_of(PAYLOAD_A)

    # recovery: the next good answer
    server.payload = PAYLOAD_B
    server.features.always(serve_payload())
    mark = len(caplog.records)
    before = len(server.feature_gets())
    client.poll()
    assert answers_b(client)
    assert len(server.feature_gets()) - before == 1
    assert client.interval("poll") == INTERVAL
    recovered = app_log_lines(caplog.records, mark)
    if fault.level is None:
        assert recovered == []
    else:
        assert [r.getMessage() for r in recovered] == [
            "Unleash flags fetch: the server answers again"
        ]
    assert json.loads(client.cache.path.read_text())[ETAG] == etag_of(PAYLOAD_B)
    for record in caplog.records:
        assert TOKEN not in full_text(record), record

    figures.add(
        "fetch",
        client=client.kind,
        fault=fault.name,
        polls=fault.polls,
        requests=requests,
        interval=summary(seen),
        log=(f"1 {logging.getLevelName(fault.level)}" if fault.level else "none")
        + " + 1 INFO on recovery" * (fault.level is not None),
        answers="last good (A)" if fault.answers == "kept" else "new payload, bad flag off",
        seconds_per_poll=round(fault_seconds / fault.polls, 3),
        recovery_polls=1,
    )


# what each transport's "connection refused" is called in the log line
REFUSED = {"sync": "ConnectionError", "async": "ClientConnectorError"}


def test_server_down_connection_refused(
    server: FakeUnleashServer,
    figures: Figures,
    make_either: DrivenFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server is gone (connection refused), with the default ``request_retries=3``."""
    client = make_either.stubbed(server.url, request_retries=3)
    client.initialize_client()
    server.go_down()
    mark = len(caplog.records)
    seen = []
    started = time.monotonic()
    for _ in range(2):
        client.poll()
        seen.append(client.interval("poll") / INTERVAL)
        assert answers_a(client)
    per_poll = (time.monotonic() - started) / 2
    assert seen == [2.0, 3.0]
    lines = app_log_lines(caplog.records, mark)
    assert [r.levelno for r in lines] == [logging.WARNING]
    assert f"connection failed ({REFUSED[client.kind]})" in lines[0].getMessage()
    server.payload = PAYLOAD_B
    server.come_back()
    client.poll()
    assert answers_b(client)
    assert client.interval("poll") == INTERVAL
    figures.add(
        "fetch",
        client=client.kind,
        fault="server down (connection refused)",
        polls=2,
        requests=0,
        interval=summary(seen),
        log="1 WARNING + 1 INFO on recovery",
        answers="last good (A)",
        seconds_per_poll=round(per_poll, 3),
        recovery_polls=1,
        note="4 connection attempts per poll (request_retries=3)",
    )


def test_a_fault_in_the_very_first_fetch_leaves_defaults_then_recovers(
    server: FakeUnleashServer,
    make_either: DrivenFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No last good flags yet: the documented defaults answer, nothing raises."""
    server.features.always(status(503))
    client = make_either.stubbed(server.url)
    client.initialize_client()
    assert not client.is_ready()
    assert client.is_enabled("shared") is False
    assert client.is_enabled("shared", fallback_function=lambda name, context: True) is True
    assert client.get_variant("colour")["name"] == "disabled"
    server.features.always(serve_payload())
    client.poll()
    assert answers_a(client)


# -- the real scheduler: request counts within a window, and the time to recover -----------

REAL_INTERVAL = 0.05
WINDOW = 0.6


@dataclass(frozen=True)
class Timed:
    name: str
    reply: Callable[[], Reply] | None  # None: the server goes down
    most_polls: int  # polls the backoff allows within WINDOW (plus one in flight)
    requests_per_poll: int = 1
    options: dict[str, Any] = field(default_factory=dict)


TIMED = [
    # growing delays of 0.1, 0.15, 0.2, 0.25 s: at most 4 polls start within 0.6 s, +1
    Timed("HTTP 503", lambda: status(503), 5),
    Timed("HTTP 429 with Retry-After: 1", lambda: status(429, headers={"Retry-After": "1"}), 2),
    Timed("HTTP 401", lambda: status(401), 3),  # 10x at once: one poll per 0.5 s
    Timed("200 with invalid JSON", lambda: body("{nope"), 14),  # interval unchanged: 12, +2
    Timed("connection reset", reset, 5, requests_per_poll=2),
    Timed(
        "response slower than the timeout",
        lambda: slow(1.0, serve_payload(PAYLOAD_B)),
        3,
        options={"request_timeout": 0.25},
    ),
    Timed(
        "enormous body, chunked",
        lambda: enormous(256 * 1024 * 1024, announce=False),
        5,
        options={"max_payload_bytes": LIMIT},
    ),
    Timed("server down (connection refused)", None, 5, options={"request_retries": 0}),
]


def run_timed(timed: Timed, directory: Path, make: DrivenFactory) -> dict[str, Any]:
    """One scenario on the real scheduler (the async client's real tasks), with its own
    server: the fault for WINDOW seconds, then payload B; returns what was measured (or the
    error)."""
    options: dict[str, Any] = {
        "refresh_interval": REAL_INTERVAL,
        "cache_directory": str(directory),
        "request_timeout": 1.0,
        "request_retries": DEFAULT_REQUEST_RETRIES,
        "disable_metrics": True,
        "disable_registration": True,
    }
    options.update(timed.options)
    with FakeUnleashServer() as server:
        client = make(server.url, f"timed-{directory.name}", **options)
        try:
            client.initialize_client()
            if not answers_a(client):
                return {"error": "did not start with A"}
            wait_for(lambda: len(server.feature_gets()) >= 3, message="the poller to run")
            if timed.reply is None:
                server.go_down()
            else:
                server.features.always(timed.reply())
            before = len(server.feature_gets())
            deadline = time.monotonic() + WINDOW
            while time.monotonic() < deadline:
                if not answers_a(client):
                    return {"error": "the last good flags stopped answering"}
                time.sleep(0.01)
            server.payload = PAYLOAD_B
            if timed.reply is None:
                server.come_back()
            server.features.always(serve_payload())
            requests = len(server.feature_gets()) - before
            switched = time.monotonic()
            wait_for(lambda: answers_b(client), timeout=20, message="the client to recover")
            return {"requests": requests, "recover_s": time.monotonic() - switched}
        finally:
            client.destroy()


def test_real_scheduler_backs_off_and_recovers(
    figures: Figures, tmp_path: Path, make_driven: DrivenFactory
) -> None:
    """Each scenario on its own server and client, all at once (their windows overlap, so
    the whole takes about one scenario's time). Only upper bounds on request counts are
    asserted: a loaded machine can only make the poller slower, never faster."""
    results: dict[str, dict[str, Any]] = {}

    def run(index: int, timed: Timed) -> None:
        try:
            results[timed.name] = run_timed(timed, tmp_path / str(index), make_driven)
        except Exception as error:  # reported below, with the scenario's name
            results[timed.name] = {"error": f"{type(error).__name__}: {error}"}

    threads = [
        threading.Thread(target=run, args=(index, timed)) for index, timed in enumerate(TIMED)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for timed in TIMED:
        result = results[timed.name]
        assert "error" not in result, (timed.name, result)
        assert result["requests"] <= timed.most_polls * timed.requests_per_poll, (
            timed.name,
            result,
        )
        assert result["recover_s"] < 15, (timed.name, result)
        figures.add(
            "recovery",
            client=make_driven.kind,
            fault=timed.name,
            window_s=WINDOW,
            interval_s=REAL_INTERVAL,
            requests=result["requests"],
            requests_without_backoff=round(WINDOW / REAL_INTERVAL) * timed.requests_per_poll,
            recover_s=round(result["recover_s"], 3),
        )


def test_one_kept_alive_connection_serves_every_call(
    server: FakeUnleashServer, make_client: ClientFactory
) -> None:
    """Bodies are streamed and bounded, yet read to the end when small (200, 304, errors),
    so the connection goes back to the pool instead of a new one per poll."""
    client, _ = make_client.stubbed(server.url, disable_metrics=False)
    client.initialize_client()
    sync = client._sync
    assert sync is not None
    for _ in range(3):
        sync.poll()  # 304
    server.payload = PAYLOAD_B
    sync.poll()  # 200
    server.features.always(status(401, json_message("invalid token")))
    sync.poll()
    client.is_enabled("shared")
    server.metrics.always(status(503, json_message("busy")))
    sync.send_metrics()
    server.metrics.always(accept())
    sync.send_metrics()
    assert len(server.requests) == 8
    assert server.connections_opened == 1, server.connections_opened
