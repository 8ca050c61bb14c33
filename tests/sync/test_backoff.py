"""Backoff: what each failure class does to the polling schedule, and what gets logged.

The tests against ``FakeUnleashServer`` run for both clients (``kind``); those on
``responses`` (which mocks ``requests``) for the sync client only."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
import responses
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from tests.support.clients import new_client
from tests.support.doubles import DictCache, StubScheduler
from tests.support.helpers import full_text, messages
from tests.support.kinds import Driven, DrivenFactory
from tests.support.payloads import body_of, feature, payload
from tests.support.server import (
    FEATURES,
    TOKEN,
    URL,
    FakeUnleashServer,
    accept,
    hang,
    serve_payload,
)
from tests.support.server import status as answer
from unleash_lite import FetchStatus, UnleashClient
from unleash_lite.sync.backoff import MAX_MULTIPLIER, Backoff
from unleash_lite.sync.outcome import Outcome, Result
from unleash_lite.sync.scheduler import ApschedulerRunner, ThreadRunner

INTERVAL = 2.0
GOOD = payload(feature("kept"))

UNAVAILABLE = Outcome(Result.UNAVAILABLE, 503, "HTTP 503")
OK = Outcome(Result.OK, 200)


def client_with_stub(**options: Any) -> tuple[UnleashClient, StubScheduler]:
    """A client on a stub scheduler: initialize_client runs the first poll, nothing else
    runs by itself; the test calls ``client._sync.poll()``."""
    scheduler = StubScheduler()
    settings: dict[str, Any] = {
        "app_name": "backoff-app", "refresh_interval": INTERVAL, "metrics_interval": 5,
        "cache": DictCache(), "scheduler": scheduler, "request_timeout": 5,
    }
    return new_client(URL, **{**settings, **options}), scheduler


def poll(client: UnleashClient) -> None:
    assert client._sync is not None
    client._sync.poll()


@pytest.fixture
def make_stub(make_driven: DrivenFactory) -> DrivenFactory:
    """As ``client_with_stub``, for the tests of both clients (against a real server)."""
    return make_driven.with_defaults(app_name="backoff-app", refresh_interval=INTERVAL,
                                     metrics_interval=5, request_timeout=5)


def delay(client: UnleashClient | Driven) -> float:
    assert client._sync is not None
    return client._sync.features_backoff.delay


# -- the Backoff object ------------------------------------------------------------------------


def test_delay_grows_one_interval_per_failure_up_to_ten_times() -> None:
    backoff = Backoff("flags fetch", INTERVAL)
    assert backoff.delay == INTERVAL
    delays = []
    for _ in range(14):
        backoff.record(UNAVAILABLE)
        delays.append(backoff.delay / INTERVAL)
    assert delays == [2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 10, 10, 10]
    assert MAX_MULTIPLIER == 10
    backoff.record(OK)
    assert backoff.delay == INTERVAL
    backoff.record(Outcome(Result.NOT_MODIFIED, 304))
    assert backoff.delay == INTERVAL


@pytest.mark.parametrize("status", [401, 403, 404])
def test_rejection_goes_straight_to_the_slowest_rate(status: int) -> None:
    backoff = Backoff("flags fetch", INTERVAL)
    backoff.record(Outcome(Result.REJECTED, status, f"HTTP {status}"))
    assert backoff.delay == 10 * INTERVAL
    backoff.record(Outcome(Result.REJECTED, status, f"HTTP {status}"))
    assert backoff.delay == 10 * INTERVAL
    backoff.record(UNAVAILABLE)  # still capped
    assert backoff.delay == 10 * INTERVAL
    backoff.record(OK)
    assert backoff.delay == INTERVAL


def test_retry_after_is_honoured_and_cleared() -> None:
    backoff = Backoff("flags fetch", INTERVAL)
    backoff.record(Outcome(Result.UNAVAILABLE, 429, "HTTP 429", retry_after=30))
    assert backoff.delay == 30
    backoff.record(Outcome(Result.UNAVAILABLE, 429, "HTTP 429", retry_after=1))
    assert backoff.delay == 3 * INTERVAL  # the backoff is longer than the hint
    backoff.record(Outcome(Result.UNAVAILABLE, 429, "HTTP 429", retry_after=10 ** 9))
    assert backoff.delay == 3600  # an absurd hint is capped at an hour
    backoff.record(OK)
    assert backoff.delay == INTERVAL


def test_one_log_line_per_state_change(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backoff = Backoff("flags fetch", INTERVAL)
    for _ in range(5):
        backoff.record(UNAVAILABLE)
    assert len(messages(caplog.records, logging.WARNING)) == 1
    for _ in range(3):
        backoff.record(Outcome(Result.REJECTED, 401, "HTTP 401"))
    assert len(messages(caplog.records, logging.ERROR)) == 1
    for _ in range(3):
        backoff.record(OK)
    assert len(messages(caplog.records, logging.INFO)) == 1
    for _ in range(3):
        backoff.record(OK, "unusable flags payload")
    assert len(messages(caplog.records, logging.WARNING)) == 2
    assert len(messages(caplog.records)) == 4


# -- polling: every failure class ---------------------------------------------------------------


TRANSIENT: list[dict[str, Any]] = [
    {"status": 429},
    {"status": 500},
    {"status": 502},
    {"status": 503},
    {"status": 504},
    {"body": requests.exceptions.ReadTimeout("read timed out")},
    {"body": requests.exceptions.ConnectTimeout("connect timed out")},
    {"body": requests.exceptions.ConnectionError("connection refused")},
]


@pytest.mark.parametrize("failure", TRANSIENT,
                         ids=lambda f: str(f.get("status") or type(f["body"]).__name__))
@responses.activate
def test_transient_failures_grow_the_schedule_and_success_resets_it(
        failure: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    responses.get(FEATURES, body=body_of(GOOD), headers={"ETag": '"g"'})
    client, scheduler = client_with_stub()
    client.initialize_client()
    assert client.is_enabled("kept")
    assert scheduler.interval("poll") == INTERVAL

    responses.replace(responses.GET, FEATURES, **failure)
    seen = []
    for _ in range(12):
        poll(client)
        seen.append((delay(client) / INTERVAL, scheduler.interval("poll") / INTERVAL))
        assert client.is_enabled("kept")  # the last good flags keep answering
    expected = [2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 10]
    assert seen == [(m, m) for m in expected]
    warnings = messages(caplog.records, logging.WARNING)
    assert len(warnings) == 1, warnings
    assert "unavailable" in warnings[0]

    responses.replace(responses.GET, FEATURES, status=304)
    poll(client)
    assert delay(client) == INTERVAL
    assert scheduler.interval("poll") == INTERVAL
    poll(client)
    infos = messages(caplog.records, logging.INFO)
    assert infos == ["Unleash flags fetch: the server answers again"]
    assert not messages(caplog.records, logging.ERROR)
    client.destroy()


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_sets_the_next_poll(
        status: int, server: FakeUnleashServer, make_stub: DrivenFactory) -> None:
    server.payload = GOOD
    client = make_stub.stubbed(server.url)
    client.initialize_client()

    server.features.always(answer(status, headers={"Retry-After": "45"}))
    client.poll()
    assert delay(client) == 45
    assert client.interval("poll") == 45

    later = datetime.now(UTC) + timedelta(seconds=100)
    server.features.always(
        answer(status, headers={"Retry-After": format_datetime(later, usegmt=True)}))
    client.poll()
    assert 90 <= delay(client) <= 100
    assert client.interval("poll") == delay(client)

    server.features.always(answer(status))  # no hint: backoff only
    client.poll()
    assert delay(client) == 4 * INTERVAL

    server.features.always(serve_payload())
    client.poll()
    assert delay(client) == INTERVAL
    assert client.interval("poll") == INTERVAL


@pytest.mark.parametrize("status", [401, 403, 404])
def test_rejection_polls_at_the_slowest_rate_with_one_error(
        status: int, server: FakeUnleashServer, make_stub: DrivenFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.payload = GOOD
    server.features.always(answer(status))
    client = make_stub.stubbed(server.url)
    client.initialize_client()  # the first fetch is already rejected
    assert delay(client) == 10 * INTERVAL
    assert client.interval("poll") == 10 * INTERVAL
    for _ in range(5):
        client.poll()
        assert delay(client) == 10 * INTERVAL
        assert client.interval("poll") == 10 * INTERVAL
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert str(status) in errors[0].getMessage()
    assert not client.is_ready()

    # the token is fixed on the server: no restart needed
    server.features.always(serve_payload())
    client.poll()
    assert client.is_enabled("kept")
    assert delay(client) == INTERVAL
    assert client.interval("poll") == INTERVAL
    assert messages(caplog.records, logging.INFO) == [
        "Unleash flags fetch: the server answers again"]
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    for record in caplog.records:
        assert TOKEN not in full_text(record)


def test_fetch_status_follows_the_state_for_health_checks(
        server: FakeUnleashServer, make_stub: DrivenFactory) -> None:
    """``client.fetch_status``: what the one log line per change says, as data."""
    server.payload = GOOD
    client = make_stub.stubbed(server.url)
    client.initialize_client()
    assert client.fetch_status == FetchStatus("ok")  # never changed
    server.features.always(answer(503))
    client.poll()
    unavailable = client.fetch_status
    assert unavailable.state == "unavailable"
    assert unavailable.problem is not None and "server unavailable" in unavailable.problem
    assert unavailable.since is not None
    client.poll()
    assert client.fetch_status is unavailable  # no change, the same status
    server.features.always(answer(401))
    client.poll()
    assert client.fetch_status.state == "rejected"
    assert TOKEN not in (client.fetch_status.problem or "")
    server.features.always(answer(200, b"not json"))
    client.poll()
    assert client.fetch_status.state == "invalid"
    server.features.always(serve_payload())
    client.poll()
    ok = client.fetch_status
    assert (ok.state, ok.problem) == ("ok", None) and ok.since is not None
    assert unavailable.since <= ok.since


def test_an_offline_client_reports_an_ok_fetch_status() -> None:
    client = UnleashClient("", "offline", bootstrap=GOOD)
    assert client.fetch_status == FetchStatus("ok")


@responses.activate
def test_a_different_rejection_is_a_new_state(caplog: pytest.LogCaptureFixture) -> None:
    responses.get(FEATURES, status=401)
    client, _ = client_with_stub()
    client.initialize_client()
    poll(client)
    responses.replace(responses.GET, FEATURES, status=404)
    poll(client)
    poll(client)
    errors = messages(caplog.records, logging.ERROR)
    assert len(errors) == 2
    assert "401" in errors[0] and "404" in errors[1]
    client.destroy()


# -- bad payloads --------------------------------------------------------------------------------

BAD_BODIES = {
    "invalid-json": '{"version": 2, "features": [',
    "json-list": "[1, 2, 3]",
    "json-string": '"features"',
    "json-null": "null",
    "no-features": '{"version": 2, "flags": []}',
    "features-not-a-list": '{"version": 2, "features": {"a": 1}}',
    "segments-not-a-list": '{"version": 2, "features": [], "segments": 7}',
    "html-page": "<!doctype html><html><body><h1>Sign in</h1></body></html>",
    "empty-body": "",
}


@pytest.mark.parametrize("bad", list(BAD_BODIES), ids=list(BAD_BODIES))
@responses.activate
def test_bad_payload_keeps_the_last_good_flags(
        bad: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    events: list[Any] = []
    responses.get(FEATURES, body=body_of(GOOD), headers={"ETag": '"good"'})
    cache = DictCache()
    client, scheduler = client_with_stub(cache=cache, event_callback=events.append)
    client.initialize_client()
    assert client.is_enabled("kept")
    content_type = "text/html" if bad == "html-page" else "application/json"
    responses.replace(responses.GET, FEATURES, body=BAD_BODIES[bad], status=200,
                      content_type=content_type, headers={"ETag": '"bad"'})
    for _ in range(3):
        poll(client)  # never raises into the scheduler
        assert client.is_enabled("kept")
        assert scheduler.interval("poll") == INTERVAL
    assert client._sync is not None
    assert client._sync.loader.etag == '"good"'  # the next poll asks again for a good payload
    assert len(cache.mset_calls) == 1  # the bad payload never reaches the cache
    warnings = messages(caplog.records, logging.WARNING)
    assert len(warnings) == 1, warnings
    assert "keeping the last good flags" in warnings[0]
    assert client._events is not None and client._events.drain(2)
    assert [e.event_type.value for e in events] == ["ready", "fetched"]

    responses.replace(responses.GET, FEATURES, body=body_of(payload(feature("new"))),
                      headers={"ETag": '"new"'})
    poll(client)
    assert client.is_enabled("new") and not client.is_enabled("kept")
    assert len(messages(caplog.records, logging.INFO)) == 1
    assert len(messages(caplog.records, logging.WARNING)) == 1
    client.destroy()


@pytest.mark.parametrize("junk", [
    '{"version": 2, "features": [1, 2, 3]}',
    '{"version": 2, "features": ["kept"]}',
    '{"version": 2, "features": [{"enabled": true, "strategies": []}]}',
], ids=["numbers", "strings", "nameless"])
@responses.activate
def test_a_features_list_without_one_usable_feature_keeps_the_last_good_flags(
        junk: str, caplog: pytest.LogCaptureFixture) -> None:
    responses.get(FEATURES, body=body_of(GOOD), headers={"ETag": '"good"'})
    cache = DictCache()
    client, _ = client_with_stub(cache=cache)
    client.initialize_client()
    responses.replace(responses.GET, FEATURES, body=junk, headers={"ETag": '"junk"'})
    poll(client)
    assert client.is_enabled("kept")
    assert len(cache.mset_calls) == 1
    assert len(messages(caplog.records, logging.WARNING)) == 1
    client.destroy()


@responses.activate
def test_bad_payload_warnings_once_per_state_change(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    responses.get(FEATURES, body=body_of(GOOD))
    client, _ = client_with_stub()
    client.initialize_client()
    sequence = [
        ("json", "{nope"), ("json", "{nope"), ("html", "<html></html>"),  # one warning
        ("good", body_of(GOOD)), ("good", body_of(GOOD)),  # one info
        ("json", "[]"), ("json", "[]"),  # one warning
        ("503", ""), ("503", ""),  # one warning (a new state)
        ("json", "{}"),  # one warning
        ("good", body_of(GOOD)),  # one info
    ]
    for kind, text in sequence:
        status = 503 if kind == "503" else 200
        responses.replace(responses.GET, FEATURES, body=text, status=status)
        poll(client)
        assert client.is_enabled("kept")
    assert len(messages(caplog.records, logging.WARNING)) == 4
    assert len(messages(caplog.records, logging.INFO)) == 2
    client.destroy()


# -- metrics backoff ---------------------------------------------------------------------------


def test_metrics_failures_back_off_the_metrics_job(
        server: FakeUnleashServer, make_stub: DrivenFactory) -> None:
    server.payload = GOOD
    server.metrics.always(answer(500))
    client = make_stub.stubbed(server.url, metrics_interval=3)
    client.initialize_client()
    assert client.interval("metrics") == 3
    for step in range(2, 5):
        client.is_enabled("kept")
        client.send_metrics()
        assert client._sync.metrics_backoff.delay == 3 * step
        assert client.interval("metrics") == 3 * step
    assert client.interval("poll") == INTERVAL  # the flags poll is unaffected
    server.metrics.always(accept())
    client.send_metrics()
    assert client.interval("metrics") == 3


# -- the real scheduler -------------------------------------------------------------------------


@responses.activate
@pytest.mark.parametrize("own_scheduler", [True, False])
def test_backoff_reschedules_the_real_poll_job(own_scheduler: bool) -> None:
    """On our own runner, and on an application's APScheduler (``scheduler=``)."""
    responses.get(FEATURES, status=503)
    scheduler = None if own_scheduler else BackgroundScheduler(timezone=UTC)
    client = UnleashClient(URL, "real-scheduler", refresh_interval=30, metrics_interval=60,
                           custom_headers={"Authorization": TOKEN}, cache=DictCache(),
                           disable_metrics=True, disable_registration=True, request_retries=0,
                           scheduler=scheduler)
    client.initialize_client()
    sync = client._sync
    assert sync is not None

    def interval() -> float:
        runner = sync.runner
        if isinstance(runner, ThreadRunner):
            seconds = runner.interval("poll")
            assert seconds is not None
            return seconds
        assert isinstance(runner, ApschedulerRunner)
        trigger = runner.job("poll").trigger
        assert isinstance(trigger, IntervalTrigger)
        return float(trigger.interval.total_seconds())

    assert interval() == 60  # the failed first fetch already counts
    sync.poll()
    assert interval() == 90
    responses.replace(responses.GET, FEATURES, status=401)
    sync.poll()
    assert interval() == 300
    responses.replace(responses.GET, FEATURES, body=body_of(GOOD))
    sync.poll()
    assert interval() == 30
    assert client.is_enabled("kept")
    client.destroy()
    if scheduler is not None:
        scheduler.shutdown(wait=False)


# -- the token never reaches a log record ------------------------------------------------------


def test_token_never_logged_over_a_failing_and_recovering_sequence(
        caplog: pytest.LogCaptureFixture, make_driven: DrivenFactory) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, requests, urllib3, aiohttp, apscheduler
    server = FakeUnleashServer(payload=GOOD).start()
    try:
        client = make_driven.stubbed(server.url, app_name="token-app", refresh_interval=1,
                                     metrics_interval=1, request_timeout=0.5, request_retries=1)
        client.initialize_client()
        for code in (401, 403, 404, 429, 500, 503, None):
            server.features.always(serve_payload() if code is None else answer(code, b"{}"))
            client.poll()
            client.is_enabled("kept")
            client.get_variant("unknown-flag")
            server.metrics.always(accept() if code is None else answer(code))
            client.send_metrics()
        server.features.always(serve_payload())
        server.payload = "<html>not json</html>"
        client.poll()
        server.payload = payload(feature("recovered"))
        client.poll()
        assert client.is_enabled("recovered")
        release = threading.Event()
        server.features.always(hang(release, serve_payload()))  # a timeout
        client.poll()
        release.set()
        server.features.always(serve_payload())
        server.stop()
        client.poll()  # connection refused
        client.send_metrics()
        client.register()
        client.destroy()
    finally:
        server.stop()
    assert len(caplog.records) > 10
    if client.kind == "sync":
        assert any(r.name.startswith("urllib3") for r in caplog.records)
    for record in caplog.records:
        assert TOKEN not in full_text(record), record
        assert "s3cr3t" not in full_text(record), record
