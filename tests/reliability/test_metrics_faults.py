"""Every class of fault on the metrics endpoint: the counts the server finally keeps equal
the evaluations made (none lost, none doubled), except where the server kept a send whose
answer never reached the client, which is then sent again (at least once, as documented).

Sends are driven by hand (a stub scheduler, or the async client's tasks held) against a real
HTTP server, so request counts and the metrics job's interval are exact. The fault classes
and the long outage run for both clients (``kind``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.clients import ClientFactory
from tests.support.doubles import StubScheduler
from tests.support.helpers import app_log_lines, full_text
from tests.support.kinds import Driven, DrivenFactory
from tests.support.payloads import feature, payload, variants
from tests.support.server import (
    TOKEN,
    UNLEASH_BODY_LIMIT,
    Exchange,
    FakeUnleashServer,
    Reply,
    accept,
    hang,
    kept,
    reset,
    slow,
    status,
)
from unleash_lite import UnleashClient
from unleash_lite.sync import metrics as metrics_module
from unleash_lite.sync.synchronizer import Synchronizer

from .conftest import Figures

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
    # a timeout or a proxy's complaint about the request, not about the counts: kept
    *(
        MetricsFault(f"HTTP {code}", lambda code=code: status(code), GROWS, logging.WARNING)
        for code in (405, 407, 408)
    ),
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

    def __init__(self, client: UnleashClient | Driven) -> None:
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


DEFAULTS: dict[str, Any] = {
    "app_name": "metrics-fault-app",
    "metrics_interval": INTERVAL,
    "request_timeout": TIMEOUT,
    "disable_registration": True,
}


@pytest.fixture
def make_client(make_client: ClientFactory) -> ClientFactory:
    return make_client.with_defaults(**DEFAULTS)


@pytest.fixture
def make_either(make_driven: DrivenFactory) -> DrivenFactory:
    return make_driven.with_defaults(**DEFAULTS)


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_no_count_is_lost(
    fault: MetricsFault,
    server: FakeUnleashServer,
    figures: Figures,
    make_either: DrivenFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_either.stubbed(server.url)
    client.initialize_client()
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
        client.send_metrics()  # never raises
        seen.append(client.interval("metrics") / INTERVAL)
    fault_lines = app_log_lines(caplog.records, mark)

    # the server answers again
    if fault.reply is None:
        server.come_back()
    server.metrics.always(accept())
    mark = len(caplog.records)
    for _ in range(2):
        work.run(7)
        client.send_metrics()
    client.send_metrics()  # nothing new: no POST
    recovery_lines = app_log_lines(caplog.records, mark)

    assert client.metrics.collect() is None  # everything counted was accepted
    delivered = server.accepted_counts()
    assert delivered == work.expected + duplicate
    assert seen == fault.intervals
    assert client.interval("metrics") == INTERVAL
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
        client=client.kind,
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
    server: FakeUnleashServer,
    make_either: DrivenFactory,
    figures: Figures,
) -> None:
    """Hundreds of failed sends: the unsent counts are one set of counters per flag (memory
    does not grow with the outage), and the first good send delivers them all, once."""
    client = make_either.stubbed(server.url)
    client.initialize_client()
    work = Workload(client)
    server.metrics.always(status(503))
    for _ in range(300):
        work.run(20)
        client.send_metrics()
    bucket = client.metrics.collect()
    assert bucket is not None and len(bucket.toggles) == 4  # one entry per flag, not per send
    server.metrics.always(accept())
    client.send_metrics()
    assert server.accepted_counts() == work.expected
    assert len([p for p in server.metrics_posts() if p.accepted]) == 1
    figures.add(
        "metrics",
        client=client.kind,
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


# -- bodies over the server's size limit --------------------------------------------------------

BURST = 5_000  # distinct flag names, 40 characters each: about 400 KB of counts
SPLIT_TIMEOUT = 5.0  # the budget of a whole send: ample for ten local POSTs


def burst_names(count: int, first: int = 0) -> list[str]:
    return [f"burst-{index:06d}-".ljust(40, "x") for index in range(first, first + count)]


def evaluate_unknown(work: Workload, names: list[str]) -> None:
    for name in names:
        assert not work.client.is_enabled(name)
        work.expected[(name, "no")] += 1
        work.calls += 1


def toggles(post: Any) -> dict[str, Any]:
    return dict(post.body["bucket"]["toggles"])


def split_client(
    make_client: ClientFactory, url: str
) -> tuple[UnleashClient, Synchronizer, StubScheduler]:
    """An initialized client with the timeout of the split tests, its synchronizer and its
    scheduler."""
    client, scheduler = make_client.stubbed(url, request_timeout=SPLIT_TIMEOUT)
    client.initialize_client()
    assert client._sync is not None
    return client, client._sync, scheduler


def error_lines(records: list[logging.LogRecord], since: int) -> list[str]:
    return [r.getMessage() for r in app_log_lines(records, since) if r.levelno >= logging.ERROR]


def test_a_burst_of_distinct_flag_names_arrives_in_bodies_under_the_limit(
    server: FakeUnleashServer,
    figures: Figures,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Counts of 5,000 distinct names (over 400 KB as one body, which Unleash answers 413)
    arrive exactly once, in several complete bodies each under the limit; later counts of new
    and old names arrive too."""
    caplog.set_level(logging.DEBUG)
    server.max_body_bytes = UNLEASH_BODY_LIMIT
    client, sync, scheduler = split_client(make_client, server.url)
    work = Workload(client)
    work.run(20)
    evaluate_unknown(work, burst_names(BURST))

    sync.send_metrics()
    posts = server.metrics_posts()
    assert len(posts) >= 2 and all(post.accepted for post in posts)
    assert all(post.size <= metrics_module.BODY_BUDGET for post in posts)
    assert server.accepted_counts() == work.expected  # each count once
    assert client.metrics.collect() is None
    bodies = [post.body for post in posts]
    for body in bodies:  # each part is a complete metrics body
        assert body["appName"] == "metrics-fault-app"
        assert body["instanceId"] == client.config.instance_id
        assert body["connectionId"] == sync.api.connection_id
        assert body["platformName"] and body["specVersion"]
        assert body["bucket"]["start"] == bodies[0]["bucket"]["start"]
        assert body["bucket"]["stop"] == bodies[0]["bucket"]["stop"]
    assert scheduler.interval("metrics") == INTERVAL

    # the next sends: new names, names already sent, known flags
    evaluate_unknown(work, burst_names(600, first=BURST) + burst_names(400))
    work.run(5)
    sync.send_metrics()
    assert server.accepted_counts() == work.expected
    assert len(server.metrics_posts()) == len(posts) + 1  # 1,000 names fit one body
    assert app_log_lines(caplog.records, 0) == []
    sizes = [post.size for post in posts]
    figures.add(
        "metrics",
        fault=f"{BURST:,} distinct 40-character flag names, 100 KB body limit",
        evaluations=work.calls,
        counts_made=sum(work.expected.values()),
        counts_delivered=sum(server.accepted_counts().values()),
        counted_twice=0,
        lost=0,
        posts=f"{len(posts)} + 1 (bodies of {min(sizes):,} to {max(sizes):,} bytes)",
        interval="1x",
        log="none",
    )


@pytest.mark.parametrize("code", [400, 422])
def test_a_refused_body_is_dropped_with_one_error_and_the_next_bucket_arrives(
    code: int,
    server: FakeUnleashServer,
    figures: Figures,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client, sync, scheduler = split_client(make_client, server.url)
    work = Workload(client)
    refused = work.run(30)  # 120 evaluations of 4 flags, 30 of them with a variant
    server.metrics.then(status(code))
    mark = len(caplog.records)
    sync.send_metrics()
    assert error_lines(caplog.records, mark) == [
        "Unleash metrics: dropped 120 evaluations (yes + no) and 30 variant counts of 4 "
        f"flags: the server refused them (HTTP {code}); they will not be sent again"
    ]
    assert [r.levelno for r in app_log_lines(caplog.records, mark)] == [logging.ERROR]
    assert client.metrics.collect() is None  # handled: never sent again
    assert scheduler.interval("metrics") == INTERVAL  # the server answered: no backoff

    mark = len(caplog.records)
    delivered = work.run(7)
    sync.send_metrics()
    sync.send_metrics()  # nothing new: no POST
    assert server.accepted_counts() == delivered
    assert len(server.metrics_posts()) == 2
    assert app_log_lines(caplog.records, mark) == []
    figures.add(
        "metrics",
        fault=f"HTTP {code} to one body",
        evaluations=work.calls,
        counts_made=sum(work.expected.values()),
        counts_delivered=sum(server.accepted_counts().values()),
        counted_twice=0,
        lost=sum(refused.values()),
        posts=2,
        interval="1x",
        log="1 ERROR",
    )


def test_a_refused_part_does_not_block_the_other_parts(
    server: FakeUnleashServer,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Of the bodies a burst is split into, the second is refused: its counts are dropped,
    every other body is delivered in the same send, and nothing is sent twice."""
    server.max_body_bytes = UNLEASH_BODY_LIMIT
    server.metrics.then(accept(), status(400))
    client, sync, _ = split_client(make_client, server.url)
    work = Workload(client)
    evaluate_unknown(work, burst_names(BURST))
    mark = len(caplog.records)
    sync.send_metrics()
    posts = server.metrics_posts()
    assert [post.accepted for post in posts] == [True, False] + [True] * (len(posts) - 2)
    dropped = posts[1].body["bucket"]["toggles"]
    lost = Counter({(name, "no"): counts["no"] for name, counts in dropped.items()})
    assert server.accepted_counts() == work.expected - lost
    assert sum(lost.values()) > 0
    assert error_lines(caplog.records, mark) == [
        f"Unleash metrics: dropped {sum(lost.values())} evaluations (yes + no) and 0 variant "
        f"counts of {len(dropped)} flags: the server refused them (HTTP 400); they will not be "
        "sent again"
    ]
    assert client.metrics.collect() is None
    work.run(3)
    sync.send_metrics()
    assert server.accepted_counts() == work.expected - lost


def test_a_server_with_a_smaller_body_limit_gets_smaller_bodies_and_loses_nothing(
    server: FakeUnleashServer,
    figures: Figures,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A proxy refusing bodies over 30 KB: each 413 halves the size of the bodies made (the
    counts of the refused one go out in the smaller ones); each send makes at most
    MAX_POSTS_PER_SEND POSTs, the rest follows with the next sends."""
    caplog.set_level(logging.DEBUG)
    server.max_body_bytes = 30_000
    client, sync, scheduler = split_client(make_client, server.url)
    work = Workload(client)
    evaluate_unknown(work, burst_names(BURST))
    per_send = []
    for _ in range(4):
        before = len(server.metrics_posts())
        sync.send_metrics()
        per_send.append(len(server.metrics_posts()) - before)
        assert scheduler.interval("metrics") == INTERVAL
    posts = server.metrics_posts()
    assert [post.size > 30_000 for post in posts[:2]] == [True, True]
    assert [post.accepted for post in posts] == [False, False] + [True] * (len(posts) - 2)
    assert max(per_send) == metrics_module.MAX_POSTS_PER_SEND and per_send[-1] == 0
    assert server.accepted_counts() == work.expected
    assert client.metrics.collect() is None
    budget = metrics_module.BODY_BUDGET
    assert [r.getMessage() for r in app_log_lines(caplog.records, 0)] == [
        f"Unleash metrics: the server refused a body of at most {size:,} bytes (HTTP 413); "
        f"sending bodies of at most {size // 2:,} bytes from now on"
        for size in (budget, budget // 2)
    ]
    assert [r.levelno for r in app_log_lines(caplog.records, 0)] == [logging.WARNING] * 2
    figures.add(
        "metrics",
        fault=f"{BURST:,} distinct names, a proxy refusing bodies over 30,000 bytes",
        evaluations=work.calls,
        counts_made=sum(work.expected.values()),
        counts_delivered=sum(server.accepted_counts().values()),
        counted_twice=0,
        lost=0,
        posts=" + ".join(str(count) for count in per_send if count),
        interval="1x",
        log="2 WARNING",
    )


def test_a_long_run_of_parts_resumes_where_it_stopped(
    server: FakeUnleashServer,
    make_client: ClientFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Capped at 2 POSTs per send, the names evaluated again before every send do not
    starve the ones behind them: each send starts where the previous one stopped."""
    monkeypatch.setattr(metrics_module, "MAX_POSTS_PER_SEND", 2)
    server.max_body_bytes = UNLEASH_BODY_LIMIT
    client, sync, _ = split_client(make_client, server.url)
    work = Workload(client)
    names = burst_names(BURST)
    evaluate_unknown(work, names)
    sync.send_metrics()
    first_send = {name for post in server.metrics_posts() for name in toggles(post)}
    assert len(server.metrics_posts()) == 2 and len(first_send) < BURST
    for _ in range(3):
        evaluate_unknown(work, sorted(first_send))  # enough to fill the 2 POSTs again
        sync.send_metrics()
    assert len(server.metrics_posts()) <= 8
    assert server.accepted_counts() == work.expected
    assert client.metrics.collect() is None


def test_a_flag_with_more_variants_than_a_body_holds_is_split(
    server: FakeUnleashServer,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """1,000 variants of 120-character names (about 130 KB of counts for one flag) go out in
    several bodies, each carrying a share of the yes/no counts (Unleash ignores an entry whose
    yes and no are both 0, variants included)."""
    caplog.set_level(logging.DEBUG)
    server.max_body_bytes = UNLEASH_BODY_LIMIT
    names = [f"variant-{index:04d}-".ljust(120, "v") for index in range(1_000)]
    server.payload = payload(feature("many", variants=variants(*names, weight=1)))
    client, sync, _ = split_client(make_client, server.url)
    expected: Counter[tuple[str, str]] = Counter()
    for user in range(20_000):
        chosen = client.get_variant("many", {"userId": str(user)})
        expected[("many", "yes" if chosen["feature_enabled"] else "no")] += 1
        expected[("many", f"variant:{chosen['name']}")] += 1
    assert len(expected) > 900  # most variants were chosen
    sync.send_metrics()
    posts = server.metrics_posts()
    assert len(posts) >= 2 and all(post.accepted for post in posts)
    for post in posts:
        (entry,) = post.body["bucket"]["toggles"].values()
        assert entry["yes"] + entry["no"] == sum(entry["variants"].values()) > 0
    assert server.accepted_counts() == expected
    assert client.metrics.collect() is None
    assert app_log_lines(caplog.records, 0) == []


def test_a_flag_name_longer_than_a_body_is_dropped_with_one_error(
    server: FakeUnleashServer,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.max_body_bytes = UNLEASH_BODY_LIMIT
    client, sync, _ = split_client(make_client, server.url)
    work = Workload(client)
    work.run(10)
    enormous_name = "n" * UNLEASH_BODY_LIMIT
    for _ in range(3):
        assert not client.is_enabled(enormous_name)
    mark = len(caplog.records)
    sync.send_metrics()
    assert error_lines(caplog.records, mark) == [
        "Unleash metrics: dropped 3 evaluations (yes + no) and 0 variant counts of 1 flag: "
        f"a flag's counts do not fit in a body of {metrics_module.BODY_BUDGET:,} bytes (flag "
        f"name of {UNLEASH_BODY_LIMIT:,} characters); they will not be sent again"
    ]
    (post,) = server.metrics_posts()
    assert post.accepted
    assert server.accepted_counts() == work.expected
    assert client.metrics.collect() is None


def test_one_send_of_many_parts_keeps_to_its_time_budget(
    server: FakeUnleashServer,
    make_either: DrivenFactory,
) -> None:
    """The budget covers the whole send, not each POST: a slow first part leaves the second
    only what remains; the parts not sent go out with the next send, once."""
    server.max_body_bytes = UNLEASH_BODY_LIMIT
    release = threading.Event()
    server.metrics.then(slow(1.0, accept()), hang(release, status(503)))
    client = make_either.stubbed(server.url, request_timeout=SPLIT_TIMEOUT)
    client.initialize_client()
    work = Workload(client)
    evaluate_unknown(work, burst_names(BURST))
    try:
        started = time.monotonic()
        assert not client.flush_metrics(timeout=2.0)  # counts are left
        elapsed = time.monotonic() - started
    finally:
        release.set()
    # One budget of 2 s in all; a budget per part would take 1 s + 2 s. The margins (0.1 s
    # below, 0.9 s above) hold on a loaded machine.
    assert 1.9 <= elapsed < 2.9
    assert [post.accepted for post in server.metrics_posts()] == [True, False]
    assert client.flush_metrics()
    assert server.accepted_counts() == work.expected
    assert client.metrics.collect() is None
