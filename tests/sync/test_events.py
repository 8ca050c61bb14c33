"""Events: READY, FETCHED, impressions, and a callback that can neither slow nor break."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from tests.support.doubles import DictCache, StubScheduler
from tests.support.helpers import messages, wait_for
from tests.support.payloads import body_of, feature, payload, variants
from tests.support.server import FEATURES, REGISTER, TOKEN, URL
from unleash_lite import (
    UnleashClient,
    UnleashEvent,
    UnleashEventType,
    UnleashFetchedEvent,
    UnleashReadyEvent,
)
from unleash_lite.cache import ETAG, FEATURES_URL
from unleash_lite.sync import events as events_module
from unleash_lite.sync.events import EventDispatcher

FLAGS = payload(
    feature("tracked", impressionData=True, variants=variants("green")),
    feature("tracked-off", enabled=False, impressionData=True),
    feature("quiet", variants=variants("red")),
    feature("parent", impressionData=True),
    feature("child", dependencies=[{"feature": "parent"}]),
)


class Collector:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.threads: set[str] = set()

    def __call__(self, event: Any) -> None:
        self.threads.add(threading.current_thread().name)
        self.events.append(event)

    def kinds(self) -> list[UnleashEventType]:
        return [event.event_type for event in self.events]


def drain(client: UnleashClient) -> None:
    assert client._events is not None
    assert client._events.drain(timeout=5)


# -- the dispatcher ------------------------------------------------------------------------------


def test_dispatcher_calls_back_on_its_own_thread() -> None:
    collector = Collector()
    dispatcher = EventDispatcher(collector)
    for index in range(5):
        dispatcher.emit(index)
    assert dispatcher.drain(5)
    assert collector.events == [0, 1, 2, 3, 4]
    assert collector.threads == {"unleash-lite-events"}


def test_dispatcher_survives_a_raising_callback() -> None:
    seen: list[int] = []

    def callback(event: int) -> None:
        seen.append(event)
        raise RuntimeError("user code failed")

    dispatcher = EventDispatcher(callback)
    for index in range(3):
        dispatcher.emit(index)
    assert dispatcher.drain(5)
    assert seen == [0, 1, 2]


def test_dispatcher_drops_events_past_the_limit_with_one_warning(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(events_module, "MAX_PENDING_EVENTS", 3)
    gate = threading.Event()
    seen: list[int] = []

    def callback(event: int) -> None:
        gate.wait(5)
        seen.append(event)

    dispatcher = EventDispatcher(callback)
    for index in range(20):
        dispatcher.emit(index)  # never blocks
    warnings = [m for m in messages(caplog.records, logging.WARNING) if "falling behind" in m]
    assert len(warnings) == 1
    gate.set()
    wait_for(lambda: dispatcher.drain(0.5), message="drain")
    assert 3 <= len(seen) <= 4 and seen == sorted(seen)


# -- READY -----------------------------------------------------------------------------------------


@responses.activate
def test_ready_once_from_the_first_fetch() -> None:
    responses.get(FEATURES, body=body_of(FLAGS), headers={"ETag": '"1"'})
    responses.post(REGISTER, status=202)
    collector = Collector()
    client = UnleashClient(URL, "events", custom_headers={"Authorization": TOKEN},
                           event_callback=collector, cache=DictCache(),
                           scheduler=StubScheduler(), disable_metrics=True)
    assert not client.is_ready()
    client.initialize_client()
    assert client.is_ready()
    assert client._sync is not None
    responses.replace(responses.GET, FEATURES, body=body_of(payload(feature("x"))),
                      headers={"ETag": '"2"'})
    client._sync.poll()
    drain(client)
    assert collector.kinds() == [UnleashEventType.READY, UnleashEventType.FETCHED,
                                 UnleashEventType.FETCHED]
    assert isinstance(collector.events[0], UnleashReadyEvent)
    client.destroy()


@responses.activate
def test_ready_once_from_bootstrap_then_fetches_add_no_ready() -> None:
    responses.get(FEATURES, body=body_of(payload(feature("x"))))
    responses.post(REGISTER, status=202)
    collector = Collector()
    client = UnleashClient(URL, "events", bootstrap=FLAGS, event_callback=collector,
                           cache=DictCache(), scheduler=StubScheduler(), disable_metrics=True)
    assert client.is_ready()
    drain(client)
    assert collector.kinds() == []  # as 6.9.1: READY is announced by initialize_client()
    client.initialize_client()
    drain(client)
    assert collector.kinds() == [UnleashEventType.READY, UnleashEventType.FETCHED]
    client.destroy()


def test_ready_once_from_the_cache() -> None:
    collector = Collector()
    cache = DictCache({FEATURES_URL: body_of(FLAGS), ETAG: '"c"'})
    client = UnleashClient(URL, "events", event_callback=collector, cache=cache,
                           scheduler=StubScheduler())
    assert client.is_ready()
    client.apply_payload(payload(feature("x")))
    drain(client)
    assert collector.kinds() == []  # not before initialize_client(), as 6.9.1
    client.initialize_client()
    client.apply_payload(payload(feature("y")))
    drain(client)
    assert collector.kinds() == [UnleashEventType.READY]
    client.destroy()


def test_ready_when_the_first_flags_arrive_after_initialize_client() -> None:
    collector = Collector()
    client = UnleashClient("", "events", event_callback=collector)
    client.initialize_client()
    drain(client)
    assert collector.kinds() == []
    client.apply_payload(payload(feature("x")))
    client.apply_payload(payload(feature("y")))
    drain(client)
    assert collector.kinds() == [UnleashEventType.READY]


def test_no_ready_without_flags() -> None:
    collector = Collector()
    client = UnleashClient(URL, "events", event_callback=collector, cache=DictCache(),
                           scheduler=StubScheduler())
    drain(client)
    assert collector.events == []
    assert not client.is_ready()
    assert not client.wait_until_ready(0.05)


# -- FETCHED -------------------------------------------------------------------------------------


@responses.activate
def test_fetched_on_each_new_payload_and_never_on_304() -> None:
    second = payload(feature("second"))
    responses.get(FEATURES, body=body_of(FLAGS), headers={"ETag": '"1"'})
    responses.get(FEATURES, status=304)
    responses.get(FEATURES, body=body_of(second), headers={"ETag": '"2"'})
    responses.get(FEATURES, status=304)
    responses.post(REGISTER, status=202)
    collector = Collector()
    client = UnleashClient(URL, "events", event_callback=collector, cache=DictCache(),
                           scheduler=StubScheduler(), disable_metrics=True)
    client.initialize_client()
    assert client._sync is not None
    for _ in range(3):
        client._sync.poll()
    drain(client)
    fetched = [e for e in collector.events if e.event_type is UnleashEventType.FETCHED]
    assert len(fetched) == 2
    assert all(isinstance(e, UnleashFetchedEvent) for e in fetched)
    assert json.loads(fetched[0].raw_features) == FLAGS
    assert [f["name"] for f in fetched[0].features] == [f["name"] for f in FLAGS["features"]]
    assert fetched[1].raw_features == body_of(second)
    assert fetched[1].features == second["features"]
    assert fetched[0].event_id != fetched[1].event_id
    client.destroy()


# -- impressions ---------------------------------------------------------------------------------


def test_impression_events_only_for_flags_with_impression_data() -> None:
    collector = Collector()
    client = UnleashClient("", "impressions", environment="staging", bootstrap=FLAGS,
                           event_callback=collector)
    context = {"userId": "u1", "properties": {"plan": "pro"}}
    assert client.is_enabled("tracked", context)
    assert not client.is_enabled("tracked-off", context)
    assert client.get_variant("tracked", context)["name"] == "green"
    assert client.is_enabled("quiet", context)
    assert client.get_variant("quiet", context)["name"] == "red"
    assert client.is_enabled("child", context)  # the parent check raises no impression
    assert not client.is_enabled("unknown", context)
    drain(client)
    impressions = [e for e in collector.events if isinstance(e, UnleashEvent)]
    assert [(e.event_type, e.feature_name, e.enabled, e.variant) for e in impressions] == [
        (UnleashEventType.FEATURE_FLAG, "tracked", True, ""),
        (UnleashEventType.FEATURE_FLAG, "tracked-off", False, ""),
        (UnleashEventType.VARIANT, "tracked", True, "green"),
    ]
    for event in impressions:
        assert event.context["userId"] == "u1"
        assert event.context["properties"] == {"plan": "pro"}
        assert event.context["appName"] == "impressions"
        assert event.context["environment"] == "staging"
    assert len({e.event_id for e in impressions}) == 3


def test_impressions_carry_their_time_and_the_reason_when_it_is_known() -> None:
    collector = Collector()
    client = UnleashClient("", "impressions", bootstrap=FLAGS, event_callback=collector)
    before = datetime.now(UTC)
    client.is_enabled("tracked", {"userId": "u1"})
    client.is_enabled("tracked-off")
    client.evaluate("tracked", {"userId": "u1"})
    after = datetime.now(UTC)
    drain(client)
    impressions = [e for e in collector.events if isinstance(e, UnleashEvent)]
    assert [e.reason for e in impressions] == [None, "disabled", "strategy_matched"]
    assert all(e.timestamp is not None and before <= e.timestamp <= after for e in impressions)


def test_impressions_for_a_disabled_variant() -> None:
    collector = Collector()
    client = UnleashClient("", "impressions", bootstrap=FLAGS, event_callback=collector)
    assert client.get_variant("tracked-off")["name"] == "disabled"
    drain(client)
    (event,) = [e for e in collector.events if isinstance(e, UnleashEvent)]
    assert event.event_type is UnleashEventType.VARIANT
    assert (event.feature_name, event.enabled, event.variant) == ("tracked-off", False,
                                                                  "disabled")


def test_a_slow_callback_does_not_slow_evaluation() -> None:
    gate = threading.Event()
    started = threading.Event()
    delivered: list[Any] = []

    def slow(event: Any) -> None:
        started.set()
        gate.wait(10)  # stands in for time.sleep(0.5) in user code, without the wait
        delivered.append(event)

    client = UnleashClient("", "slow", bootstrap=FLAGS, event_callback=slow)
    client.initialize_client()
    assert started.wait(5)  # the callback is now stuck on the READY event
    for _ in range(1000):
        assert client.is_enabled("tracked", {"userId": "1"})
        assert client.get_variant("tracked")["name"] == "green"
    assert not gate.is_set() and delivered == []  # all 2000 answers came back meanwhile
    gate.set()
    drain(client)
    assert len(delivered) == 2001


def test_a_raising_callback_breaks_nothing() -> None:
    calls: list[Any] = []

    def broken(event: Any) -> None:
        calls.append(event)
        raise ValueError("user bug")

    client = UnleashClient("", "broken", bootstrap=FLAGS, event_callback=broken)
    client.initialize_client()
    for _ in range(5):
        assert client.is_enabled("tracked")
        assert client.get_variant("tracked")["name"] == "green"
    client.apply_payload(payload(feature("tracked", enabled=False, impressionData=True)))
    assert not client.is_enabled("tracked")
    drain(client)
    assert len(calls) == 1 + 10 + 1
    totals = client.metrics.totals()["tracked"]
    assert (totals["yes"], totals["no"]) == (10, 1)
    client.destroy()


def test_ready_fires_once_when_payloads_are_applied_concurrently() -> None:
    collector = Collector()
    client = UnleashClient("", "race", event_callback=collector)
    client.initialize_client()
    together = threading.Barrier(2, timeout=0.5)

    class ReadTogether(threading.Event):
        """Both appliers read 'not ready' before either sets it (a rare real interleaving,
        seen about once in 300 tries with 8 appliers); with a lock the barrier just times
        out and the second reader sees the flag set."""

        def is_set(self) -> bool:
            value = super().is_set()
            with contextlib.suppress(threading.BrokenBarrierError):
                together.wait()
            return value

    client._ready = ReadTogether()
    appliers = [threading.Thread(target=client.apply_payload, args=(payload(feature("a")),))
                for _ in range(2)]
    for thread in appliers:
        thread.start()
    for thread in appliers:
        thread.join(5)
    drain(client)
    assert collector.kinds() == [UnleashEventType.READY]
