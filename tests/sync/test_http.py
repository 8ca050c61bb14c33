"""``UnleashApi``: the protocol's headers, one session, timeouts/options, classification."""

from __future__ import annotations

import json
import platform
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from unittest import mock

import pytest
import requests
import responses

from tests.support.doubles import DictCache, StubScheduler
from tests.support.helpers import free_port
from tests.support.payloads import body_of, feature, payload
from tests.support.server import (
    FEATURES,
    METRICS,
    REGISTER,
    TOKEN,
    URL,
    FakeUnleashServer,
    hang_up,
    silence,
)
from tests.support.sync import Installs, names
from unleash_lite import UnleashClient, __version__
from unleash_lite.config import ClientConfig
from unleash_lite.engine import BUILTIN_STRATEGIES
from unleash_lite.sync.http import UnleashApi
from unleash_lite.sync.loader import FlagLoader
from unleash_lite.sync.outcome import SPEC_VERSION, Outcome, Result
from unleash_lite.sync.requests_transport import RequestsTransport
from unleash_lite.sync.synchronizer import Synchronizer


def session_of(api: UnleashApi) -> requests.Session:
    """The requests session of the default transport."""
    transport = api.transport
    assert isinstance(transport, RequestsTransport)
    return transport.session


def make_config(**overrides: Any) -> ClientConfig:
    options: dict[str, Any] = {
        "url": URL, "app_name": "checkout", "instance_id": "instance-1",
        "custom_headers": {"Authorization": TOKEN}, "refresh_interval": 15,
        "metrics_interval": 60, "request_timeout": 4,
    }
    options.update(overrides)
    return ClientConfig(**options)


def make_sync(**overrides: Any) -> tuple[Synchronizer, list[Any], list[str]]:
    installs = Installs()
    fetched: list[str] = []
    loader = FlagLoader(DictCache(), installs, fetched.append)
    sync = Synchronizer(make_config(**overrides), loader, _registry(), ("default", "my-custom"),
                        StubScheduler())
    return sync, installs.applied, fetched


def _registry() -> Any:
    from unleash_lite.sync.metrics import MetricsRegistry

    return MetricsRegistry()


def header(call: Any, name: str) -> str | None:
    return call.request.headers.get(name)


# -- headers ---------------------------------------------------------------------------------


@responses.activate
def test_every_call_carries_the_protocol_headers() -> None:
    responses.get(FEATURES, json=payload(), headers={"ETag": '"e1"'})
    responses.post(REGISTER, status=202)
    responses.post(METRICS, status=202)
    api = UnleashApi(make_config())

    assert api.fetch_features(None).result is Result.OK
    assert api.register({"appName": "checkout"}).result is Result.OK
    assert api.send_metrics({"appName": "checkout"}).result is Result.OK

    assert len(responses.calls) == 3
    connection_ids = set()
    for call in responses.calls:
        assert header(call, "Authorization") == TOKEN
        assert header(call, "unleash-appname") == "checkout"
        assert header(call, "unleash-instanceid") == "instance-1"
        assert header(call, "unleash-sdk") == f"unleash-lite:{__version__}"
        assert header(call, "unleash-client-spec") == SPEC_VERSION
        agent = header(call, "User-Agent")
        assert agent is not None and agent.startswith(f"unleash-lite/{__version__}")
        connection_ids.add(header(call, "unleash-connection-id"))
    # one uuid4 per client, the same on every call
    assert len(connection_ids) == 1
    (connection_id,) = connection_ids
    assert connection_id == api.connection_id
    assert uuid.UUID(connection_id).version == 4
    # the interval of the call's own kind, in milliseconds
    assert header(responses.calls[0], "unleash-interval") == "15000"
    assert header(responses.calls[1], "unleash-interval") == "60000"
    assert header(responses.calls[2], "unleash-interval") == "60000"


@responses.activate
def test_fractional_intervals_are_sent_in_whole_milliseconds() -> None:
    responses.get(FEATURES, json=payload())
    responses.post(METRICS, status=202)
    api = UnleashApi(make_config(refresh_interval=0.25, metrics_interval=1.5))
    api.fetch_features(None)
    api.send_metrics({})
    assert header(responses.calls[0], "unleash-interval") == "250"
    assert header(responses.calls[1], "unleash-interval") == "1500"


def test_each_client_has_its_own_connection_id() -> None:
    first, second = UnleashApi(make_config()), UnleashApi(make_config())
    assert first.connection_id != second.connection_id
    assert uuid.UUID(first.connection_id).version == 4


@responses.activate
def test_custom_headers_are_sent_as_given() -> None:
    responses.get(FEATURES, json=payload())
    api = UnleashApi(make_config(custom_headers={"Authorization": TOKEN, "X-Team": "pay"}))
    api.fetch_features(None)
    assert header(responses.calls[0], "X-Team") == "pay"
    assert header(responses.calls[0], "Authorization") == TOKEN


@responses.activate
def test_project_name_is_sent_as_query_parameter() -> None:
    responses.get(FEATURES, json=payload())
    UnleashApi(make_config(project_name="billing")).fetch_features(None)
    UnleashApi(make_config()).fetch_features(None)
    assert responses.calls[0].request.params == {"project": "billing"}
    assert responses.calls[0].request.url == FEATURES + "?project=billing"
    assert responses.calls[1].request.url == FEATURES


@responses.activate
def test_request_timeout_and_custom_options_reach_requests() -> None:
    responses.get(FEATURES, json=payload())
    responses.post(REGISTER, status=202)
    responses.post(METRICS, status=202)
    api = UnleashApi(make_config(request_timeout=0.7,
                                 custom_options={"verify": False, "allow_redirects": False}))
    api.fetch_features(None)
    api.register({})
    api.send_metrics({})
    for call in responses.calls:
        kwargs = call.request.req_kwargs
        assert 0.6 < kwargs["timeout"] <= 0.7  # what is left of the call's budget
        assert kwargs["verify"] is False
    # allow_redirects is consumed by Session.request; check it through a patched session
    with mock.patch.object(session_of(api), "request", wraps=session_of(api).request) as spy:
        api.fetch_features(None)
    assert spy.call_args.kwargs["allow_redirects"] is False
    assert spy.call_args.kwargs["verify"] is False
    assert 0.6 < spy.call_args.kwargs["timeout"] <= 0.7


@responses.activate
def test_one_session_is_reused_for_every_call() -> None:
    responses.get(FEATURES, json=payload(), headers={"ETag": '"e1"'})
    responses.post(REGISTER, status=202)
    responses.post(METRICS, status=202)
    sync, _, _ = make_sync()
    session = session_of(sync.api)
    with mock.patch.object(requests, "Session", side_effect=AssertionError("new session")), \
            mock.patch.object(session, "request", wraps=session.request) as spy:
        sync.poll()
        sync.poll()
        sync.register()
        sync.api.send_metrics({})
    assert spy.call_count == 4
    assert session_of(sync.api) is session


def test_a_refused_connection_is_retried_within_the_budget() -> None:
    api = UnleashApi(make_config(url=f"http://127.0.0.1:{free_port()}/api", request_retries=2))
    with mock.patch.object(session_of(api), "request", wraps=session_of(api).request) as spy:
        started = time.monotonic()
        outcome = api.fetch_features(None)
        elapsed = time.monotonic() - started
    assert outcome.result is Result.UNAVAILABLE and "ConnectionError" in outcome.detail
    assert spy.call_count == 3  # the first try and two retries, 0.1 s then 0.2 s apart
    assert 0.3 <= elapsed < 2.0
    with mock.patch.object(session_of(api), "request", wraps=session_of(api).request) as spy:
        started = time.monotonic()
        api.fetch_features(None, retries=0)  # the first fetch of a client that has flags
    assert spy.call_count == 1 and time.monotonic() - started < 0.3


@pytest.mark.parametrize("retries", [0, 3])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_dropped_connection_is_tried_again_once_for_a_get_never_for_a_post(
        method: str, retries: int) -> None:
    """Once for a GET whatever request_retries says (it counts connections never made)."""
    with FakeUnleashServer() as server:
        server.features.always(hang_up())
        server.metrics.always(hang_up())
        api = UnleashApi(make_config(url=server.url, request_retries=retries, request_timeout=5))
        outcome = api.fetch_features(None) if method == "GET" else api.send_metrics({"x": 1})
    assert outcome.result is Result.UNAVAILABLE
    assert len(server.requests) == (2 if method == "GET" else 1)


@pytest.mark.parametrize("retries", [0, 3])
def test_a_server_that_never_answers_holds_a_call_for_the_request_timeout_in_all(
        retries: int) -> None:
    """Retries share the budget: (1 + retries) x request_timeout was the old worst case."""
    with FakeUnleashServer() as server:
        server.features.always(silence())
        api = UnleashApi(make_config(url=server.url, request_retries=retries,
                                     request_timeout=0.5))
        started = time.monotonic()
        outcome = api.fetch_features(None)
        elapsed = time.monotonic() - started
    assert outcome.result is Result.UNAVAILABLE and "timed out" in outcome.detail
    assert 0.45 <= elapsed < 0.9
    assert len(server.requests) == 1


def test_a_budget_bounds_a_post_below_the_request_timeout() -> None:
    with FakeUnleashServer() as server:
        server.metrics.always(silence())
        api = UnleashApi(make_config(url=server.url, request_timeout=30))
        started = time.monotonic()
        outcome = api.send_metrics({"x": 1}, budget=0.3)
        elapsed = time.monotonic() - started
    assert outcome.result is Result.UNAVAILABLE
    assert elapsed < 0.8


@responses.activate
def test_a_failing_post_is_not_retried_by_the_session() -> None:
    responses.post(METRICS, status=503)
    outcome = UnleashApi(make_config(request_retries=3)).send_metrics({"x": 1})
    assert outcome.result is Result.UNAVAILABLE
    assert len(responses.calls) == 1


# -- If-None-Match and 304 ---------------------------------------------------------------------


@responses.activate
def test_if_none_match_carries_the_last_etag_and_304_keeps_the_flags() -> None:
    first = payload(feature("a"))
    second = payload(feature("a"), feature("b"))
    responses.get(FEATURES, body=body_of(first), headers={"ETag": '"v1"'})
    responses.get(FEATURES, status=304, headers={"ETag": '"v1"'})
    responses.get(FEATURES, body=body_of(second), headers={"ETag": '"v2"'})
    responses.get(FEATURES, status=304)
    sync, applied, fetched = make_sync()

    sync.poll()
    assert "If-None-Match" not in responses.calls[0].request.headers
    assert applied == [names(first)] and fetched == [body_of(first)]
    assert sync.loader.cache.get("etag") == '"v1"'

    sync.poll()  # 304: nothing installed, no FETCHED, flags kept
    assert responses.calls[1].request.headers["If-None-Match"] == '"v1"'
    assert applied == [names(first)] and fetched == [body_of(first)]
    assert sync.loader.etag == '"v1"'

    sync.poll()
    assert responses.calls[2].request.headers["If-None-Match"] == '"v1"'
    assert applied == [names(first), names(second)] and len(fetched) == 2

    sync.poll()
    assert responses.calls[3].request.headers["If-None-Match"] == '"v2"'
    assert len(applied) == 2


@responses.activate
def test_304_keeps_client_flags_and_fires_no_fetched_event(tmp_path: Any) -> None:
    events: list[Any] = []
    responses.get(FEATURES, body=body_of(payload(feature("on"))), headers={"ETag": '"v1"'})
    responses.get(FEATURES, status=304)
    responses.post(REGISTER, status=202)
    client = UnleashClient(URL, "etag-app", custom_headers={"Authorization": TOKEN},
                           scheduler=StubScheduler(), cache=DictCache(),
                           disable_metrics=True, event_callback=events.append)
    client.initialize_client()
    assert client.is_enabled("on")
    assert client._sync is not None
    client._sync.poll()
    assert responses.calls[1].request.headers["If-None-Match"] == '"v1"'
    assert client.is_enabled("on")
    assert client._events is not None and client._events.drain(2)
    kinds = [event.event_type.value for event in events]
    assert kinds == ["ready", "fetched"]
    client.destroy()


# -- registration ------------------------------------------------------------------------------


@responses.activate
def test_registration_body() -> None:
    responses.post(REGISTER, status=202)
    custom = mock.Mock()
    client = UnleashClient(URL, "checkout", instance_id="pod-7", environment="production",
                           metrics_interval=30, custom_headers={"Authorization": TOKEN},
                           custom_strategies={"byTenant": custom}, scheduler=StubScheduler(),
                           cache=DictCache())
    sync = client._sync
    assert sync is not None
    before = datetime.now(UTC)
    sync.register()
    assert sync.registered
    (call,) = responses.calls
    body = json.loads(call.request.body)
    assert body["appName"] == "checkout"
    assert body["instanceId"] == "pod-7"
    assert body["connectionId"] == sync.api.connection_id
    assert body["connectionId"] == call.request.headers["unleash-connection-id"]
    assert body["sdkVersion"] == f"unleash-lite:{__version__}"
    assert set(body["strategies"]) == {*BUILTIN_STRATEGIES, "byTenant"}
    assert len(body["strategies"]) == len(set(body["strategies"]))
    for name in ("default", "flexibleRollout", "userWithId", "remoteAddress",
                 "applicationHostname"):
        assert name in body["strategies"]
    started = datetime.fromisoformat(body["started"].replace("Z", "+00:00"))
    assert body["started"].endswith("Z")
    assert started <= before + timedelta(seconds=1)
    assert started >= before - timedelta(minutes=5)
    assert body["interval"] == 30000
    assert body["platformName"] == platform.python_implementation()
    assert body["platformVersion"] == platform.python_version()
    assert body["specVersion"] == SPEC_VERSION
    assert body["environment"] == "production"
    assert call.request.headers["Content-Type"] == "application/json"
    client.destroy()


@responses.activate
def test_failed_registration_is_retried_with_the_next_metrics_send() -> None:
    responses.post(REGISTER, status=500)
    responses.post(REGISTER, status=202)
    responses.post(METRICS, status=202)
    sync, _, _ = make_sync()
    sync.register()
    assert not sync.registered
    sync.send_metrics()  # nothing counted: only the registration goes out
    assert sync.registered
    assert [c.request.url for c in responses.calls] == [REGISTER, REGISTER]
    sync.send_metrics()
    assert len(responses.calls) == 2


# -- classification ----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "result"), [
    (200, Result.OK), (202, Result.OK), (304, Result.NOT_MODIFIED),
    (401, Result.REJECTED), (403, Result.REJECTED), (404, Result.REJECTED),
    (429, Result.UNAVAILABLE), (500, Result.UNAVAILABLE), (502, Result.UNAVAILABLE),
    (503, Result.UNAVAILABLE), (504, Result.UNAVAILABLE), (400, Result.FAILED),
    (418, Result.FAILED),
])
@responses.activate
def test_status_classification(status: int, result: Result) -> None:
    responses.get(FEATURES, status=status, body="" if status == 304 else "{}")
    outcome = UnleashApi(make_config()).fetch_features(None)
    assert outcome.result is result
    assert outcome.status == status
    assert outcome.ok is (result in (Result.OK, Result.NOT_MODIFIED))
    assert TOKEN not in outcome.detail


@pytest.mark.parametrize("error", [
    requests.exceptions.ReadTimeout("read timed out"),
    requests.exceptions.ConnectTimeout("connect timed out"),
    requests.exceptions.ConnectionError("refused"),
    requests.exceptions.ChunkedEncodingError("broken"),
    requests.exceptions.SSLError("bad certificate"),
])
@responses.activate
def test_network_errors_are_unavailable_and_never_raise(error: Exception) -> None:
    responses.get(FEATURES, body=error)
    responses.post(METRICS, body=error)
    api = UnleashApi(make_config())
    for outcome in (api.fetch_features(None), api.send_metrics({})):
        assert outcome.result is Result.UNAVAILABLE
        assert outcome.status is None
        assert not outcome.ok


def test_refused_connection_is_unavailable() -> None:
    api = UnleashApi(make_config(url=f"http://127.0.0.1:{free_port()}/api",
                                 request_retries=0))
    outcome = api.fetch_features(None)
    assert outcome.result is Result.UNAVAILABLE
    assert "connection failed" in outcome.detail


@responses.activate
def test_retry_after_seconds_and_http_date() -> None:
    later = datetime.now(UTC) + timedelta(seconds=120)
    responses.get(FEATURES, status=429, headers={"Retry-After": "7"})
    responses.get(FEATURES, status=503, headers={"Retry-After": format_datetime(later, True)})
    responses.get(FEATURES, status=429, headers={"Retry-After": "soon"})
    responses.get(FEATURES, status=429,
                  headers={"Retry-After": "Mon, 01 Jan 2001 00:00:00 GMT"})
    api = UnleashApi(make_config())
    assert api.fetch_features(None).retry_after == 7.0
    in_two_minutes = api.fetch_features(None).retry_after
    assert in_two_minutes is not None and 110 <= in_two_minutes <= 120
    assert api.fetch_features(None).retry_after is None
    assert api.fetch_features(None).retry_after == 0.0


@responses.activate
def test_404_detail_names_the_path_not_the_token() -> None:
    responses.get(FEATURES, status=404)
    outcome = UnleashApi(make_config(project_name="p1")).fetch_features(None)
    assert "/api/client/features" in outcome.detail
    assert TOKEN not in outcome.detail


def test_outcome_ok_property() -> None:
    assert Outcome(Result.OK).ok
    assert Outcome(Result.NOT_MODIFIED).ok
    assert not Outcome(Result.UNAVAILABLE).ok
    assert not Outcome(Result.REJECTED).ok
    assert not Outcome(Result.FAILED).ok


# -- regressions from the reliability suite (tests/reliability) ---------------------------------


def test_a_timed_out_get_is_not_sent_again() -> None:
    """urllib3's read retry (meant for a keep-alive connection the server closed) also
    re-sent a GET that timed out: twice the load on a slow server, twice the wait."""
    with FakeUnleashServer() as server:
        server.features.always(silence())
        api = UnleashApi(make_config(url=server.url, request_timeout=0.2))
        outcome = api.fetch_features(None)
    assert outcome.result is Result.UNAVAILABLE and outcome.detail == "timed out"
    assert server.connections_opened == 1
    assert len(server.feature_gets()) == 1


@responses.activate
def test_a_flags_body_over_max_payload_bytes_is_refused() -> None:
    big = body_of(payload(*(feature(f"f{n}") for n in range(100))))
    responses.get(FEATURES, body=big)
    announced = UnleashApi(make_config(max_payload_bytes=len(big) - 1)).fetch_features(None)
    assert announced.result is Result.TOO_LARGE and announced.body == ""
    assert f"max_payload_bytes={len(big) - 1}" in announced.detail
    exact = UnleashApi(make_config(max_payload_bytes=len(big))).fetch_features(None)
    assert exact.result is Result.OK and exact.body == big


def test_retrying_a_refused_connection_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """urllib3 used to log a "Retrying" WARNING per attempt (relabelled DEBUG, still printed
    by a root handler): retries are ours now and silent; the backoff says it once."""
    import logging


    caplog.set_level(logging.DEBUG)
    api = UnleashApi(make_config(url=f"http://127.0.0.1:{free_port()}/api", request_retries=2))
    api.fetch_features(None)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")
            and "Retrying" in r.getMessage()] == []


def test_the_tls_warning_masks_credentials_in_the_url(
        caplog: pytest.LogCaptureFixture) -> None:
    UnleashApi(make_config(url="https://ops:hunter2@unleash.test/api",
                           custom_options={"verify": False}))
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "hunter2" not in warning and "***@unleash.test" in warning


def test_verify_false_warns_once_at_start_up(caplog: pytest.LogCaptureFixture) -> None:
    UnleashApi(make_config(custom_options={"verify": False}))
    UnleashApi(make_config(custom_options={"verify": "/etc/ssl/certs/ca.pem"}))
    UnleashApi(make_config())
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "verification is OFF for unleash.test" in warnings[0]
    assert TOKEN not in warnings[0]
