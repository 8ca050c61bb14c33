"""Every class of fault on the metrics endpoint: the counts the server finally keeps equal
the evaluations made (none lost, none doubled), except where the server kept a send whose
answer never reached the client, which is then sent again (at least once, as documented).

Sends are driven by hand (a stub scheduler) against a real HTTP server, so request counts
and the metrics job's interval are exact.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.sync import StubScheduler, full_text
from unleash_lite import UnleashClient

from .conftest import Figures
from .fake_server import (
    TOKEN,
    Exchange,
    FakeUnleash,
    Reply,
    accept,
    kept,
    reset,
    slow,
    status,
)

INTERVAL = 10.0  # metrics_interval: never waited for
TIMEOUT = 0.4


def cut_202() -> Reply:
    """202 announcing a body it does not send: the server kept the counts."""

    def reply(exchange: Exchange) -> None:
        exchange.send(202, b'{"ok"', content_length=100)
        exchange.close()

    return kept(reply)


@dataclass(frozen=True)
class MetricsFault:
    name: str
    reply: Callable[[], Reply] | None  # None: the server is down
    intervals: list[float]  # the metrics job's interval after each failing send
    level: int | None  # the one log line about it
    failing_sends: int = 3
    duplicated: bool = False  # the server kept a send the client did not see succeed


GROWS = [2.0, 3.0, 4.0]
FAULTS = [
    *(
        MetricsFault(f"HTTP {code}", lambda code=code: status(code), GROWS, logging.WARNING)
        for code in (500, 502, 503, 504, 429)
    ),
    MetricsFault(
        "HTTP 429 with Retry-After: 300",
        lambda: status(429, headers={"Retry-After": "300"}),
        [30.0] * 3,
        logging.WARNING,
    ),
    *(
        MetricsFault(f"HTTP {code}", lambda code=code: status(code), [10.0] * 3, logging.ERROR)
        for code in (401, 403, 404)
    ),
    MetricsFault("HTTP 400", lambda: status(400), GROWS, logging.WARNING),
    MetricsFault("HTTP 413", lambda: status(413), GROWS, logging.WARNING),
    MetricsFault("connection reset", reset, GROWS, logging.WARNING),
    MetricsFault("server down (connection refused)", None, GROWS, logging.WARNING),
    MetricsFault(
        "slower than the timeout, then failing",
        lambda: slow(TIMEOUT * 3, status(503)),
        [2.0],
        logging.WARNING,
        failing_sends=1,
    ),
    MetricsFault(
        "slower than the timeout, but kept by the server",
        lambda: slow(TIMEOUT * 3, accept()),
        [2.0],
        logging.WARNING,
        failing_sends=1,
        duplicated=True,
    ),
    MetricsFault("202 with a cut body", cut_202, [1.0] * 3, None),
    MetricsFault(
        "200 with an HTML page", lambda: accept(200, "text/html", b"<html></html>"), [1.0] * 3, None
    ),
]


class Workload:
    """Evaluations of every kind, with the totals the server must end up with."""

    def __init__(self, client: UnleashClient) -> None:
        self.client = client
        self.expected: Counter[tuple[str, str]] = Counter()
        self.calls = 0

    def run(self, rounds: int) -> Counter[tuple[str, str]]:
        made: Counter[tuple[str, str]] = Counter()
        for index in range(rounds):
            context = {"userId": str(index)}
            made[("shared", "yes" if self.client.is_enabled("shared", context) else "no")] += 1
            made[("off-in-b", "yes" if self.client.is_enabled("off-in-b") else "no")] += 1
            made[("not-a-flag", "yes" if self.client.is_enabled("not-a-flag") else "no")] += 1
            variant = self.client.get_variant("colour", context)
            made[("colour", "yes" if variant["feature_enabled"] else "no")] += 1
            made[("colour", f"variant:{variant['name']}")] += 1
            self.calls += 4
        self.expected.update(made)
        return made


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., tuple[UnleashClient, StubScheduler]]]:
    clients: list[UnleashClient] = []

    def make(url: str, **options: Any) -> tuple[UnleashClient, StubScheduler]:
        scheduler = StubScheduler()
        settings: dict[str, Any] = {
            "custom_headers": {"Authorization": TOKEN},
            "refresh_interval": 30,
            "metrics_interval": INTERVAL,
            "cache_directory": str(tmp_path / "cache"),
            "scheduler": scheduler,
            "request_timeout": TIMEOUT,
            "request_retries": 0,
            "disable_registration": True,
        }
        settings.update(options)
        client = UnleashClient(url, "metrics-fault-app", **settings)
        clients.append(client)
        return client, scheduler

    yield make
    for client in clients:
        assert client._sync is not None
        client._sync.stop(flush_budget=None)  # no flush: the test counted everything


def lines(records: list[logging.LogRecord], since: int) -> list[logging.LogRecord]:
    return [
        r
        for r in records[since:]
        if r.levelno >= logging.WARNING or (r.name == "unleash_lite" and r.levelno >= logging.INFO)
    ]


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_no_count_is_lost(
    fault: MetricsFault,
    server: FakeUnleash,
    figures: Figures,
    make_client: Callable[..., tuple[UnleashClient, StubScheduler]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client, scheduler = make_client(server.url)
    client.initialize_client()
    sync = client._sync
    assert sync is not None
    work = Workload(client)

    # the fault: evaluations between failing sends
    if fault.reply is None:
        server.go_down()
    else:
        server.metrics.always(fault.reply())
    mark = len(caplog.records)
    seen = []
    duplicate: Counter[tuple[str, str]] = Counter()
    for round_number in range(fault.failing_sends):
        made = work.run(50 + round_number)
        if fault.duplicated:
            duplicate.update(made)  # everything unsent so far goes out, and is kept
        sync.send_metrics()  # never raises
        seen.append(scheduler.interval("metrics") / INTERVAL)
    fault_lines = lines(caplog.records, mark)

    # the server answers again
    if fault.reply is None:
        server.come_back()
    server.metrics.always(accept())
    mark = len(caplog.records)
    for _ in range(2):
        work.run(7)
        sync.send_metrics()
    sync.send_metrics()  # nothing new: no POST
    recovery_lines = lines(caplog.records, mark)

    assert client.metrics.collect() is None  # everything counted was accepted
    delivered = server.accepted_counts()
    assert delivered == work.expected + duplicate
    assert seen == fault.intervals
    assert scheduler.interval("metrics") == INTERVAL
    posts = len(server.metrics_posts())
    sends = fault.failing_sends + 2
    assert posts == (2 if fault.reply is None else sends)  # one POST per send, never retried
    if fault.level is None:
        assert fault_lines == [] and recovery_lines == []
    else:
        assert [r.levelno for r in fault_lines] == [fault.level], [
            r.getMessage() for r in fault_lines
        ]
        assert [r.getMessage() for r in recovery_lines] == [
            "Unleash metrics: the server answers again"
        ]
    for record in caplog.records:
        assert TOKEN not in full_text(record)
    for post in server.metrics_posts():
        assert TOKEN not in str(post.body)

    made_total = sum(work.expected.values())
    figures.add(
        "metrics",
        fault=fault.name,
        evaluations=work.calls,
        counts_made=made_total,
        counts_delivered=sum(delivered.values()),
        counted_twice=sum(duplicate.values()),
        lost=sum((work.expected - delivered).values()),
        posts=posts,
        interval=", ".join(f"{m:g}x" for m in seen),
        log=(f"1 {logging.getLevelName(fault.level)} + 1 INFO" if fault.level else "none"),
    )


def test_counts_survive_a_long_outage_in_bounded_memory(
    server: FakeUnleash,
    make_client: Callable[..., tuple[UnleashClient, StubScheduler]],
    figures: Figures,
) -> None:
    """Hundreds of failed sends: the unsent counts are one set of counters per flag (memory
    does not grow with the outage), and the first good send delivers them all, once."""
    client, _ = make_client(server.url)
    client.initialize_client()
    sync = client._sync
    assert sync is not None
    work = Workload(client)
    server.metrics.always(status(503))
    for _ in range(300):
        work.run(20)
        sync.send_metrics()
    bucket = client.metrics.collect()
    assert bucket is not None and len(bucket.toggles) == 4  # one entry per flag, not per send
    server.metrics.always(accept())
    sync.send_metrics()
    assert server.accepted_counts() == work.expected
    assert len([p for p in server.metrics_posts() if p.accepted]) == 1
    figures.add(
        "metrics",
        fault="HTTP 503 for 300 sends in a row",
        evaluations=work.calls,
        counts_made=sum(work.expected.values()),
        counts_delivered=sum(server.accepted_counts().values()),
        counted_twice=0,
        lost=0,
        posts=301,
        interval="2x→10x",
        log="1 WARNING + 1 INFO",
    )
