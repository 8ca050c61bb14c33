"""The synchronizer's decisions on an in-memory transport: no sockets, no ``responses``.

ETags and 304s, backoff, which payloads get installed or refused, and how metrics are split
and marked sent, each driven by scripted answers.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import pytest

from tests.support.doubles import DictCache, StubScheduler
from tests.support.helpers import messages
from tests.support.payloads import body_of, feature, payload
from tests.support.server import TOKEN, URL
from tests.support.sync import Installs, MemoryReply, MemoryTransport, Sent, names
from unleash_lite.cache import ETAG, FEATURES_URL
from unleash_lite.config import ClientConfig
from unleash_lite.sync.loader import FlagLoader
from unleash_lite.sync.metrics import MetricsRegistry
from unleash_lite.sync.synchronizer import Synchronizer
from unleash_lite.sync.transport import Failure

FEATURES = "/client/features"
METRICS = "/client/metrics"
REGISTER = "/client/register"
FIRST = payload(feature("a"))
SECOND = payload(feature("a"), feature("b"))
INTERVAL = 10


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a test of this module opened a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


class Rig:
    """A started synchronizer on a :class:`MemoryTransport`, a :class:`DictCache` and a
    stub scheduler, with what it installed and announced. Its first fetch (at start) was
    answered 304, so nothing is installed yet; that request is forgotten."""

    def __init__(self, **overrides: Any) -> None:
        options: dict[str, Any] = {
            "url": URL, "app_name": "memory", "custom_headers": {"Authorization": TOKEN},
            "refresh_interval": INTERVAL, "metrics_interval": 20, "request_timeout": 5,
            "request_retries": 0, "disable_registration": True,
        }
        options.update(overrides)
        self.transport = MemoryTransport()
        self.transport.answer(FEATURES, MemoryReply(304))
        self.cache = DictCache()
        self.installs = Installs()
        self.fetched: list[str] = []
        self.scheduler = StubScheduler()
        self.metrics = MetricsRegistry()
        self.loader = FlagLoader(self.cache, self.installs, self.fetched.append)
        self.sync = Synchronizer(ClientConfig(**options), self.loader, self.metrics,
                                 ["default"], self.scheduler, transport=self.transport)
        self.sync.start()
        self.transport.sent.clear()

    @property
    def poll_interval(self) -> float:
        return self.scheduler.interval("poll")

    @property
    def metrics_interval(self) -> float:
        return self.scheduler.interval("metrics")


def flags(data: Any, etag: str | None = None, **reply: Any) -> MemoryReply:
    headers = {"Content-Type": "application/json"}
    if etag is not None:
        headers["ETag"] = etag
    body = data if isinstance(data, bytes) else body_of(data).encode()
    return MemoryReply(200, body, headers, **reply)


# -- ETag and 304 -----------------------------------------------------------------------------


def test_the_etag_of_installed_flags_is_sent_and_a_304_installs_nothing() -> None:
    rig = Rig()
    rig.transport.answer(FEATURES, flags(FIRST, '"v1"'), MemoryReply(304),
                         flags(SECOND, '"v2"'))
    rig.sync.poll()
    rig.sync.poll()
    rig.sync.poll()
    sent = rig.transport.requests_to(FEATURES)
    assert "If-None-Match" not in sent[0].headers
    assert [s.headers["If-None-Match"] for s in sent[1:]] == ['"v1"', '"v1"']
    assert rig.installs.applied == [names(FIRST), names(SECOND)]
    assert rig.fetched == [body_of(FIRST), body_of(SECOND)]
    assert rig.cache.mset_calls == [{FEATURES_URL: body_of(FIRST), ETAG: '"v1"'},
                                    {FEATURES_URL: body_of(SECOND), ETAG: '"v2"'}]
    assert rig.loader.etag == '"v2"'


def test_the_etag_of_cached_flags_is_sent_with_the_first_fetch() -> None:
    rig = Rig()
    rig.cache.entries.update({FEATURES_URL: body_of(FIRST), ETAG: '"cached"'})
    rig.loader.start(None)
    assert rig.installs.applied == [names(FIRST)]
    rig.transport.answer(FEATURES, MemoryReply(304))
    rig.sync.poll()
    assert rig.transport.sent[0].headers["If-None-Match"] == '"cached"'
    assert rig.installs.applied == [names(FIRST)] and rig.fetched == []


def test_a_bootstrapped_caches_etag_is_not_sent() -> None:
    rig = Rig()
    rig.cache.entries.update({FEATURES_URL: FIRST, ETAG: '"not-the-servers"'})
    rig.cache.bootstrapped = True
    rig.loader.start(None)
    assert rig.loader.bootstrapped and rig.installs.applied == [names(FIRST)]
    rig.transport.answer(FEATURES, MemoryReply(304))
    rig.sync.poll()
    assert "If-None-Match" not in rig.transport.sent[0].headers


# -- backoff ----------------------------------------------------------------------------------


def test_an_unavailable_server_backs_off_step_by_step_and_a_success_resets() -> None:
    rig = Rig()
    rig.transport.answer(FEATURES, MemoryReply(503), MemoryReply(503), Failure.TIMEOUT,
                         flags(FIRST))
    intervals = []
    for _ in range(4):
        rig.sync.poll()
        intervals.append(rig.poll_interval)
    assert intervals == [2 * INTERVAL, 3 * INTERVAL, 4 * INTERVAL, INTERVAL]
    assert rig.installs.applied == [names(FIRST)]


def test_a_rejected_token_polls_at_the_slowest_rate_and_says_why_once(
        caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    rig.transport.answer(FEATURES, MemoryReply(401, b'{"message": "bad token"}'))
    rig.sync.poll()
    rig.sync.poll()
    slowest = rig.poll_interval
    assert slowest == rig.sync.features_backoff.delay and slowest > 4 * INTERVAL
    (error,) = messages(caplog.records, logging.ERROR)
    assert "HTTP 401 for /api/client/features (bad token)" in error
    assert TOKEN not in error


def test_retry_after_stretches_the_next_poll() -> None:
    rig = Rig()
    rig.transport.answer(FEATURES, MemoryReply(429, headers={"Retry-After": "120"}))
    rig.sync.poll()
    assert rig.poll_interval == 120


def test_only_a_connection_never_made_is_tried_again_within_the_call() -> None:
    rig = Rig(request_retries=2)
    rig.transport.answer(FEATURES, Failure.NOT_CONNECTED, Failure.NOT_CONNECTED, flags(FIRST))
    rig.sync.poll()
    assert len(rig.transport.sent) == 3 and rig.installs.applied == [names(FIRST)]
    rig.transport.sent.clear()
    rig.transport.answer(FEATURES, Failure.FAILED, flags(SECOND))
    rig.sync.poll()  # may have reached the server: left to the backoff
    assert len(rig.transport.sent) == 1 and rig.poll_interval == 2 * INTERVAL


def test_a_get_on_a_dropped_keep_alive_connection_is_sent_again_once() -> None:
    rig = Rig(request_retries=3)
    rig.transport.answer(FEATURES, Failure.DROPPED, Failure.DROPPED, flags(FIRST))
    rig.sync.poll()
    assert len(rig.transport.sent) == 2 and rig.installs.applied == []
    rig.sync.poll()
    assert rig.installs.applied == [names(FIRST)]


# -- installing or refusing a payload ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>maintenance</html>", "JSONDecodeError"),
        (b'{"features": 5}', "PayloadError"),
        (b'{"features": [1, 2]}', "no object with a name"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_an_unusable_payload_is_refused_and_the_last_good_flags_stay(
        body: bytes, why: str, caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    rig.transport.answer(FEATURES, flags(FIRST, '"good"'), flags(body, '"bad"'))
    rig.sync.poll()
    rig.sync.poll()
    rig.sync.poll()
    assert rig.installs.applied == [names(FIRST)]
    assert rig.loader.etag == '"good"'  # the next poll asks again for a good payload
    assert len(rig.cache.mset_calls) == 1 and len(rig.fetched) == 1
    (warning,) = messages(caplog.records, logging.WARNING)
    assert why in warning
    assert rig.poll_interval == INTERVAL  # the server answered: no backoff


def test_a_payload_over_the_limit_is_refused_unread_or_as_soon_as_it_passes_it() -> None:
    big = payload(*(feature(f"flag-{n}") for n in range(100)))
    rig = Rig(max_payload_bytes=2000)
    announced = flags(big)
    rig.transport.answer(FEATURES, announced)
    rig.sync.poll()
    assert rig.installs.applied == [] and rig.poll_interval == 2 * INTERVAL
    streamed = flags(big, announce_length=False, chunk=512)
    rig.transport.answer(FEATURES, streamed)
    rig.sync.poll()
    assert rig.installs.applied == [] and rig.poll_interval == 3 * INTERVAL


def test_an_answer_that_breaks_off_is_unavailable_not_a_bad_payload() -> None:
    rig = Rig()
    rig.transport.answer(FEATURES, flags(FIRST, broken_after=10, chunk=5))
    rig.sync.poll()
    assert rig.installs.applied == [] and rig.poll_interval == 2 * INTERVAL
    assert rig.sync.features_backoff.state == "unavailable"


def test_a_delta_applies_to_the_flags_installed_before() -> None:
    rig = Rig()
    delta = {"events": [{"type": "feature-updated", "eventId": 2, "feature": feature("b")}]}
    rig.transport.answer(FEATURES, flags(FIRST), flags(delta))
    rig.sync.poll()
    rig.sync.poll()
    assert rig.installs.applied == [["a"], ["a", "b"]]


# -- metrics: split, mark sent ----------------------------------------------------------------


def count(rig: Rig, name: str, yes: int = 0, no: int = 0, **variants: int) -> None:
    counters = rig.metrics.counters(name)
    assert counters is not None
    for _ in range(yes):
        next(counters.yes)
    for _ in range(no):
        next(counters.no)
    for variant, times in variants.items():
        counter = rig.metrics.variant_counter(counters, variant)
        for _ in range(times):
            next(counter)


def toggles(sent: list[Sent]) -> list[dict[str, Any]]:
    return [request.json()["bucket"]["toggles"] for request in sent]


def test_accepted_counts_are_marked_sent_and_never_sent_again() -> None:
    rig = Rig()
    rig.transport.answer(METRICS, MemoryReply(202))
    count(rig, "a", yes=3, no=1, blue=2)
    assert rig.sync.send_metrics() is True
    count(rig, "a", yes=1)
    assert rig.sync.send_metrics() is True
    assert rig.sync.send_metrics() is True  # nothing new: no POST
    assert toggles(rig.transport.requests_to(METRICS)) == [
        {"a": {"yes": 3, "no": 1, "variants": {"blue": 2}}},
        {"a": {"yes": 1, "no": 0, "variants": {}}},
    ]
    body = rig.transport.requests_to(METRICS)[0]
    assert body.method == "POST" and body.headers["Content-Type"] == "application/json"


def test_a_failed_send_keeps_the_counts_for_the_next_one() -> None:
    rig = Rig()
    rig.transport.answer(METRICS, MemoryReply(503), MemoryReply(202))
    count(rig, "a", yes=2)
    assert rig.sync.send_metrics() is False
    assert rig.metrics_interval == 2 * 20
    count(rig, "a", no=1)
    assert rig.sync.send_metrics() is True
    assert toggles(rig.transport.requests_to(METRICS)) == [
        {"a": {"yes": 2, "no": 0, "variants": {}}},
        {"a": {"yes": 2, "no": 1, "variants": {}}},
    ]
    assert rig.metrics.collect() is None


def test_counts_the_server_refuses_for_good_are_dropped_once(
        caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    rig.transport.answer(METRICS, MemoryReply(400), MemoryReply(202))
    count(rig, "a", yes=2)
    assert rig.sync.send_metrics() is True
    assert rig.metrics.collect() is None
    (error,) = messages(caplog.records, logging.ERROR)
    assert "dropped 2 evaluations" in error and "HTTP 400" in error


def test_a_413_halves_the_body_budget_and_sends_the_counts_in_smaller_parts() -> None:
    rig = Rig()
    many = {f"flag-{n:03}": n + 1 for n in range(300)}
    for name, times in many.items():
        count(rig, name, yes=times)

    def at_most(limit: int) -> Any:
        def answer(sent: Sent) -> MemoryReply:
            assert sent.body is not None
            return MemoryReply(202 if len(sent.body) <= limit else 413)
        return answer

    budget = rig.metrics.body_budget = 8 * 1024
    rig.transport.answer(METRICS, at_most(budget // 2))
    assert rig.sync.send_metrics() is True
    assert rig.metrics.body_budget == budget // 2
    assert len(rig.transport.requests_to(METRICS)) > 3
    accepted = [request for request in rig.transport.requests_to(METRICS)
                if request.body is not None and len(request.body) <= budget // 2]
    reported: dict[str, int] = {}
    for part in toggles(accepted):
        for name, counts in part.items():
            reported[name] = reported.get(name, 0) + counts["yes"]
    assert reported == many
    assert rig.metrics.collect() is None


def test_a_flag_with_more_variants_than_one_body_holds_is_spread_over_parts() -> None:
    rig = Rig()
    rig.metrics.body_budget = 4 * 1024
    variants = {f"variant-{n:03}-{'x' * 40}": 1 for n in range(200)}
    count(rig, "wide", yes=200, **variants)
    rig.transport.answer(METRICS, MemoryReply(202))
    assert rig.sync.send_metrics() is True
    sent = rig.transport.requests_to(METRICS)
    assert len(sent) > 1 and all(len(s.body or b"") <= 4 * 1024 for s in sent)
    parts = toggles(sent)
    assert sum(part["wide"]["yes"] for part in parts) == 200
    assert {v: c for part in parts for v, c in part["wide"]["variants"].items()} == variants
    assert rig.metrics.totals()["wide"]["variants"] == variants
    assert rig.metrics.collect() is None


def test_the_metrics_body_is_json_as_the_server_reads_it() -> None:
    rig = Rig()
    rig.transport.answer(METRICS, MemoryReply(202))
    count(rig, "ünïcode", yes=1)
    rig.sync.send_metrics()
    (sent,) = rig.transport.requests_to(METRICS)
    assert sent.body is not None and json.loads(sent.body)["bucket"]["toggles"] == {
        "ünïcode": {"yes": 1, "no": 0, "variants": {}}
    }
    assert sent.body.isascii()  # escaped, as the size budget assumes
