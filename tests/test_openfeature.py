"""UnleashProvider, exercised through the OpenFeature API as applications use it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode, ProviderNotReadyError
from openfeature.flag_evaluation import FlagEvaluationDetails, Reason
from openfeature.hook import Hook, HookContext
from openfeature.provider import ProviderStatus
from openfeature.track import TrackingEventDetails

from tests.support.clients import ClientFactory
from tests.support.helpers import wait_for
from tests.support.payloads import constraint, feature, payload, rollout, strategy, variant
from tests.support.server import FakeUnleashServer, serve_payload, status
from unleash_lite import AsyncUnleashClient, BaseEvent, UnleashClient
from unleash_lite.openfeature import UnleashProvider, to_unleash_context
from unleash_lite.testing import FakeUnleash


def with_payload(name: str, kind: str, value: Any, **extra: Any) -> dict[str, Any]:
    """A flag on for everyone whose one variant ``v`` carries a payload."""
    return feature(
        name, variants=[variant("v", 1000, payload={"type": kind, "value": value})], **extra
    )


FLAGS = payload(
    feature("on"),
    feature("off", enabled=False),
    feature("users", [strategy(constraints=[constraint("userId", "IN", ["42"])])]),
    feature("half", [rollout(50, "userId", "half")]),
    feature(
        "context",
        [
            strategy(
                constraints=[
                    constraint("plan", "IN", ["pro"]),
                    constraint("remoteAddress", "IN", ["10.0.0.1"]),
                    constraint("beta", "IN", ["true"]),
                    constraint("ratio", "IN", ["2"]),
                ]
            )
        ],
    ),
    with_payload("text", "string", "hello"),
    with_payload("list", "csv", "a, b ,,c"),
    with_payload("int", "number", "42"),
    with_payload("whole-float", "number", "42.0"),
    with_payload("fraction", "number", "4.5"),
    with_payload("not-a-number", "number", "many"),
    with_payload("object", "json", '{"headline": "Hi", "n": [1, 2]}'),
    with_payload("array", "json", "[1, 2]"),
    with_payload("scalar-json", "json", "3"),
    with_payload("bad-json", "json", "{nope"),
    with_payload("raw-json", "json", {"written": "by hand"}),
    with_payload("odd-type", "xml", "<a/>"),
    feature("no-variants"),
    feature("no-payload", variants=[variant("bare", 1000)]),
    feature(
        "split",
        variants=[
            variant("a", 500, payload={"type": "string", "value": "A"}),
            variant("b", 500, payload={"type": "string", "value": "B"}),
        ],
    ),
    feature(
        "targeted-text",
        [strategy(constraints=[constraint("userId", "IN", ["42"])])],
        variants=[variant("v", 1000, payload={"type": "string", "value": "for 42"})],
    ),
    with_payload("disabled-text", "string", "x", enabled=False),
)
USER_42 = EvaluationContext("42")


@pytest.fixture
def unleash_client() -> UnleashClient:
    return UnleashClient(url="", app_name="openfeature-tests", bootstrap=FLAGS)


@pytest.fixture
def flags(unleash_client: UnleashClient) -> Iterator[OpenFeatureClient]:
    set_provider_and_wait(UnleashProvider(unleash_client))
    yield api.get_client()
    api.shutdown()


def set_provider_and_wait(provider: UnleashProvider) -> None:
    """``api.set_provider_and_wait`` (openfeature-sdk 0.10+); before 0.10, ``set_provider``
    itself ran ``initialize`` and waited (and never raised)."""
    if hasattr(api, "set_provider_and_wait"):
        api.set_provider_and_wait(provider)
    else:
        api.set_provider(provider)


def outcome(details: FlagEvaluationDetails[Any]) -> tuple[Any, ...]:
    # openfeature-sdk before 0.10 drops the provider's variant from error results; the
    # provider's own answer is checked in test_errors_name_the_variant.
    variant = None if details.error_code else details.variant
    return (details.value, variant, details.reason, details.error_code)


# -- provider ------------------------------------------------------------------------------


def test_metadata_and_status(flags: OpenFeatureClient) -> None:
    assert api.get_provider_metadata().name == "unleash-lite"
    assert flags.get_provider_status() is ProviderStatus.READY


# -- booleans ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "context", "expected"),
    [
        ("on", None, (True, None, Reason.STATIC, None)),
        ("off", None, (False, None, Reason.DISABLED, None)),
        ("users", USER_42, (True, None, Reason.TARGETING_MATCH, None)),
        ("users", EvaluationContext("7"), (False, None, Reason.DEFAULT, None)),
        ("users", None, (False, None, Reason.DEFAULT, None)),
        ("text", None, (True, None, Reason.STATIC, None)),
    ],
)
def test_boolean_flags(
    flags: OpenFeatureClient,
    flag: str,
    context: EvaluationContext | None,
    expected: tuple[Any, ...],
) -> None:
    assert outcome(flags.get_boolean_details(flag, not expected[0], context)) == expected


@pytest.mark.parametrize("default", [True, False])
def test_an_unknown_flag_is_flag_not_found_with_the_default(
    flags: OpenFeatureClient, default: bool
) -> None:
    details = flags.get_boolean_details("missing", default)
    assert outcome(details) == (default, None, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
    assert details.error_message == "flag 'missing' is not defined in Unleash"


def test_booleans_follow_the_rollout_exactly(
    flags: OpenFeatureClient, unleash_client: UnleashClient
) -> None:
    answers = {
        user: flags.get_boolean_value("half", False, EvaluationContext(str(user)))
        for user in range(200)
    }
    assert answers == {
        user: unleash_client.is_enabled("half", {"userId": str(user)}) for user in answers
    }
    assert 60 < sum(answers.values()) < 140


# -- values from variant payloads ----------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("text", ("hello", "v", Reason.STATIC, None)),
        ("list", ("a, b ,,c", "v", Reason.STATIC, None)),
        ("int", ("default", None, Reason.ERROR, ErrorCode.TYPE_MISMATCH)),
        ("object", ("default", None, Reason.ERROR, ErrorCode.TYPE_MISMATCH)),
        ("odd-type", ("default", None, Reason.ERROR, ErrorCode.TYPE_MISMATCH)),
        ("no-variants", ("default", None, Reason.DEFAULT, None)),
        ("no-payload", ("default", "bare", Reason.DEFAULT, None)),
        ("off", ("default", None, Reason.DISABLED, None)),
        ("disabled-text", ("default", None, Reason.DISABLED, None)),
        ("missing", ("default", None, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)),
    ],
)
def test_string_flags(flags: OpenFeatureClient, flag: str, expected: tuple[Any, ...]) -> None:
    assert outcome(flags.get_string_details(flag, "default", USER_42)) == expected


def test_a_split_answers_the_clients_variant(
    flags: OpenFeatureClient, unleash_client: UnleashClient
) -> None:
    seen = set()
    for user in range(20):
        details = flags.get_string_details("split", "", EvaluationContext(str(user)))
        official = unleash_client.get_variant("split", {"userId": str(user)})
        assert (details.variant, details.value) == (
            official["name"],
            official["payload"]["value"],
        )
        assert details.reason is Reason.SPLIT
        seen.add(details.value)
    assert seen == {"A", "B"}


def test_a_targeted_variant(flags: OpenFeatureClient) -> None:
    assert outcome(flags.get_string_details("targeted-text", "default", USER_42)) == (
        "for 42",
        "v",
        Reason.TARGETING_MATCH,
        None,
    )
    assert outcome(flags.get_string_details("targeted-text", "default")) == (
        "default",
        None,
        Reason.DEFAULT,
        None,
    )


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("int", (42, "v", Reason.STATIC, None)),
        ("whole-float", (42, "v", Reason.STATIC, None)),
        ("fraction", (-1, None, Reason.ERROR, ErrorCode.TYPE_MISMATCH)),
        ("not-a-number", (-1, None, Reason.ERROR, ErrorCode.PARSE_ERROR)),
        ("text", (-1, None, Reason.ERROR, ErrorCode.TYPE_MISMATCH)),
        ("missing", (-1, None, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)),
    ],
)
def test_integer_flags(flags: OpenFeatureClient, flag: str, expected: tuple[Any, ...]) -> None:
    details = flags.get_integer_details(flag, -1)
    assert outcome(details) == expected
    assert type(details.value) is int


def test_errors_name_the_variant(unleash_client: UnleashClient) -> None:
    provider = UnleashProvider(unleash_client)
    for details in (
        provider.resolve_string_details("int", ""),
        provider.resolve_integer_details("not-a-number", 0),
        provider.resolve_float_details("text", 0.0),
        provider.resolve_object_details("bad-json", {}),
    ):
        assert (details.variant, details.reason) == ("v", Reason.ERROR)
        assert details.error_code in (ErrorCode.TYPE_MISMATCH, ErrorCode.PARSE_ERROR)
    missing = provider.resolve_string_details("missing", "d")
    assert (missing.value, missing.variant, missing.error_code) == (
        "d",
        None,
        ErrorCode.FLAG_NOT_FOUND,
    )


def test_integer_errors_say_why(flags: OpenFeatureClient) -> None:
    assert flags.get_integer_details("fraction", 0).error_message == (
        "flag 'fraction', variant 'v': '4.5' is not a whole number"
    )
    assert flags.get_integer_details("text", 0).error_message == (
        "flag 'text', variant 'v': a 'string' payload is not an integer"
    )


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("fraction", (4.5, "v", Reason.STATIC, None)),
        ("int", (42.0, "v", Reason.STATIC, None)),
        ("not-a-number", (-1.0, None, Reason.ERROR, ErrorCode.PARSE_ERROR)),
        ("object", (-1.0, None, Reason.ERROR, ErrorCode.TYPE_MISMATCH)),
    ],
)
def test_float_flags(flags: OpenFeatureClient, flag: str, expected: tuple[Any, ...]) -> None:
    details = flags.get_float_details(flag, -1.0)
    assert outcome(details) == expected
    assert type(details.value) is float


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("object", ({"headline": "Hi", "n": [1, 2]}, "v", Reason.STATIC, None)),
        ("array", ([1, 2], "v", Reason.STATIC, None)),
        ("list", (["a", "b", "c"], "v", Reason.STATIC, None)),
        ("raw-json", ({"written": "by hand"}, "v", Reason.STATIC, None)),
        ("bad-json", ({"d": 1}, None, Reason.ERROR, ErrorCode.PARSE_ERROR)),
        ("scalar-json", ({"d": 1}, None, Reason.ERROR, ErrorCode.TYPE_MISMATCH)),
        ("text", ({"d": 1}, None, Reason.ERROR, ErrorCode.TYPE_MISMATCH)),
        ("missing", ({"d": 1}, None, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)),
    ],
)
def test_object_flags(flags: OpenFeatureClient, flag: str, expected: tuple[Any, ...]) -> None:
    assert outcome(flags.get_object_details(flag, {"d": 1})) == expected


def test_async_evaluation(flags: OpenFeatureClient) -> None:
    async def evaluate() -> tuple[bool, int]:
        return (
            await flags.get_boolean_value_async("users", False, USER_42),
            await flags.get_integer_value_async("int", 0),
        )

    assert asyncio.run(evaluate()) == (True, 42)


# -- contexts ------------------------------------------------------------------------------


def test_context_mapping() -> None:
    moment = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    context = EvaluationContext(
        "42",
        {
            "sessionId": "s1",
            "remoteAddress": "10.0.0.1",
            "environment": "production",
            "appName": "shop",
            "currentTime": moment,
            "plan": "pro",
            "beta": True,
            "ratio": 2.0,
            "count": 3,
            "roles": ["admin", "dev"],
            "address": {"city": "Oslo", "zip": 150},
            "properties": {"tier": "gold", "skip": None},
            "nothing": None,
        },
    )
    assert to_unleash_context(context) == {
        "userId": "42",
        "sessionId": "s1",
        "remoteAddress": "10.0.0.1",
        "environment": "production",
        "appName": "shop",
        "currentTime": "2024-05-01T12:30:00+00:00",
        "properties": {
            "plan": "pro",
            "beta": "true",
            "ratio": "2",
            "count": "3",
            "roles": "admin,dev",
            "address": '{"city": "Oslo", "zip": 150}',
            "tier": "gold",
        },
    }
    assert to_unleash_context(None) == {}
    assert to_unleash_context(EvaluationContext()) == {}


def test_the_targeting_key_wins_over_a_user_id_attribute() -> None:
    assert to_unleash_context(EvaluationContext("a", {"userId": "b"})) == {"userId": "a"}
    assert to_unleash_context(EvaluationContext(None, {"userId": "b"})) == {"userId": "b"}


def test_contexts_merge_and_reach_the_constraints(flags: OpenFeatureClient) -> None:
    attributes = {"plan": "pro", "remoteAddress": "10.0.0.1", "beta": True, "ratio": 2.0}
    assert flags.get_boolean_value("context", False, EvaluationContext(attributes=attributes))
    api.set_evaluation_context(EvaluationContext(attributes={"plan": "pro", "beta": True}))
    flags.context = EvaluationContext(attributes={"remoteAddress": "10.0.0.1"})
    assert not flags.get_boolean_value("context", False)
    assert flags.get_boolean_value("context", False, EvaluationContext(attributes={"ratio": 2}))


def test_an_invalid_current_time_does_not_raise(flags: OpenFeatureClient) -> None:
    context = EvaluationContext("42", {"currentTime": "not a time"})
    assert flags.get_boolean_details("users", False, context).value is True


# -- the client underneath -----------------------------------------------------------------


def test_evaluations_count_in_the_clients_metrics(
    flags: OpenFeatureClient, unleash_client: UnleashClient
) -> None:
    flags.get_boolean_value("users", False, USER_42)
    flags.get_boolean_value("users", False)
    flags.get_string_value("split", "", USER_42)
    totals = unleash_client.metrics.totals()
    assert (totals["users"]["yes"], totals["users"]["no"]) == (1, 1)
    assert totals["split"]["yes"] == 1


def test_overrides_show_through_as_static(
    flags: OpenFeatureClient, unleash_client: UnleashClient
) -> None:
    with unleash_client.override({"off": True, "new": "x"}):
        assert outcome(flags.get_boolean_details("off", False)) == (
            True,
            None,
            Reason.STATIC,
            None,
        )
        assert outcome(flags.get_boolean_details("new", False)) == (
            True,
            None,
            Reason.STATIC,
            None,
        )
    assert flags.get_boolean_value("off", True) is False


def test_a_fake_client_works_and_records_the_checks() -> None:
    fake = FakeUnleash()
    fake.enable("beta", for_users=["42"])
    fake.set_variant("limit", "ten", payload=10)
    set_provider_and_wait(UnleashProvider(fake))
    try:
        flags = api.get_client()
        assert flags.get_boolean_value("beta", False, USER_42)
        assert not flags.get_boolean_value("beta", False, EvaluationContext("7"))
        assert outcome(flags.get_integer_details("limit", 0)) == (10, "ten", Reason.STATIC, None)
        assert fake.was_checked("beta", {"userId": "42"})
        assert fake.checked_flags == {"beta", "limit"}
        fake.enable_all()
        assert outcome(flags.get_boolean_details("anything", False)) == (
            True,
            None,
            Reason.STATIC,
            None,
        )
    finally:
        api.shutdown()


class RecordingHook(Hook):
    def __init__(self) -> None:
        self.flags: list[str] = []

    def after(
        self,
        hook_context: HookContext,
        details: FlagEvaluationDetails[Any],
        hints: Mapping[str, Any],
    ) -> None:
        self.flags.append(hook_context.flag_key)


def test_provider_hooks_run(unleash_client: UnleashClient) -> None:
    hook = RecordingHook()
    set_provider_and_wait(UnleashProvider(unleash_client, hooks=[hook]))
    try:
        api.get_client().get_boolean_value("on", False)
        api.get_client().get_string_value("text", "")
    finally:
        api.shutdown()
    assert hook.flags == ["on", "text"]


# -- lifecycle -----------------------------------------------------------------------------


def test_the_provider_starts_and_stops_a_client_it_started(unleash_client: UnleashClient) -> None:
    assert not unleash_client.is_initialized
    set_provider_and_wait(UnleashProvider(unleash_client))
    assert unleash_client.is_initialized
    api.shutdown()
    assert not unleash_client.is_initialized


def test_the_provider_leaves_a_started_client_running(unleash_client: UnleashClient) -> None:
    unleash_client.initialize_client()
    set_provider_and_wait(UnleashProvider(unleash_client))
    api.shutdown()
    assert unleash_client.is_initialized
    unleash_client.destroy()


def ours_ready() -> tuple[threading.Event, Any]:
    """An event set when the provider named unleash-lite reports READY (handlers run on
    OpenFeature's thread pool, and run at once for the provider already in place)."""
    ready = threading.Event()

    def handler(details: EventDetails) -> None:
        if details.provider_name == "unleash-lite":
            ready.set()

    return ready, handler


def test_set_provider_initializes_in_the_background(unleash_client: UnleashClient) -> None:
    ready, handler = ours_ready()
    api.add_handler(ProviderEvent.PROVIDER_READY, handler)
    try:
        api.set_provider(UnleashProvider(unleash_client))
        assert ready.wait(5)
        assert api.get_client().get_boolean_value("on", False)
        assert unleash_client.is_initialized
    finally:
        api.shutdown()


def test_a_client_without_flags_is_an_error_until_flags_arrive() -> None:
    empty = UnleashClient(url="", app_name="no-flags")
    ready, handler = ours_ready()
    api.add_handler(ProviderEvent.PROVIDER_READY, handler)
    try:
        with contextlib.suppress(ProviderNotReadyError):  # raised by openfeature-sdk 0.10+
            set_provider_and_wait(UnleashProvider(empty))
        flags = api.get_client()
        assert flags.get_provider_status() is ProviderStatus.ERROR
        details = flags.get_boolean_details("on", True)
        assert outcome(details) == (True, None, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
        assert not ready.is_set()
        empty.apply_payload(FLAGS)  # e.g. the first successful fetch, later
        assert flags.get_boolean_details("on", False).value is True
        assert flags.get_provider_status() is ProviderStatus.READY
        assert ready.wait(5)
    finally:
        api.shutdown()


# -- provider events: configuration changes ------------------------------------------------


def recorded(event: ProviderEvent) -> tuple[list[EventDetails], threading.Event, Any]:
    """Details of every ``event`` of the provider named unleash-lite, and an event set at
    each (handlers run on OpenFeature's thread pool)."""
    seen: list[EventDetails] = []
    arrived = threading.Event()

    def handler(details: EventDetails) -> None:
        if details.provider_name == "unleash-lite":
            seen.append(details)
            arrived.set()

    return seen, arrived, handler


def test_a_change_of_flags_is_announced_at_the_next_evaluation(
    unleash_client: UnleashClient,
) -> None:
    changes, arrived, handler = recorded(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, handler)
    try:
        set_provider_and_wait(UnleashProvider(unleash_client))
        flags = api.get_client()
        unleash_client.apply_payload(FLAGS)  # a refresh that brought the same flags
        assert flags.get_boolean_value("on", False)
        unleash_client.apply_payload(
            {
                "version": 2,
                "features": [
                    *(f for f in FLAGS["features"] if f["name"] not in ("on", "text")),
                    feature("on", enabled=False),
                    feature("brand-new"),
                ],
            }
        )
        assert not flags.get_boolean_value("on", True)
        assert arrived.wait(5)
        assert flags.get_boolean_value("brand-new", False)  # no second announcement
    finally:
        api.shutdown()
    assert [details.flags_changed for details in changes] == [["brand-new", "on", "text"]]


def test_a_changed_segment_changes_the_flags_that_use_it() -> None:
    def flags_with(countries: list[str]) -> dict[str, Any]:
        uses_segment = feature("nordic", [strategy(segments=[1])])
        return {
            **payload(uses_segment, feature("plain")),
            "segments": [{"id": 1, "constraints": [constraint("country", "IN", countries)]}],
        }

    client = UnleashClient(url="", app_name="segments", bootstrap=flags_with(["NO"]))
    changes, arrived, handler = recorded(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, handler)
    try:
        set_provider_and_wait(UnleashProvider(client))
        client.apply_payload(flags_with(["NO", "SE"]))
        sweden = EvaluationContext(attributes={"country": "SE"})
        assert api.get_client().get_boolean_value("nordic", False, sweden)
        assert arrived.wait(5)
    finally:
        api.shutdown()
    assert [details.flags_changed for details in changes] == [["nordic"]]


def test_a_fetch_is_announced_at_once_through_the_event_callback(
    server: FakeUnleashServer, make_client: ClientFactory
) -> None:
    """A real client polling a server: the change arrives without any evaluation."""
    server.payload = FLAGS
    changes, arrived, handler = recorded(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    provider: UnleashProvider | None = None

    def unleash_events(event: BaseEvent) -> None:
        if provider is not None:
            provider.on_unleash_event(event)

    client = make_client(server.url, refresh_interval=0.05, event_callback=unleash_events)
    provider = UnleashProvider(client)
    api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, handler)
    try:
        set_provider_and_wait(provider)
        assert api.get_client().get_boolean_value("on", False)
        server.payload = payload(*FLAGS["features"], feature("added-on-the-server"))
        assert arrived.wait(10)
    finally:
        api.shutdown()
    assert changes[0].flags_changed == ["added-on-the-server"]


def test_a_fake_client_announces_what_a_test_changes() -> None:
    fake = FakeUnleash()
    changes, arrived, handler = recorded(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, handler)
    try:
        set_provider_and_wait(UnleashProvider(fake))
        fake.enable("beta")
        assert api.get_client().get_boolean_value("beta", False)
        assert arrived.wait(5)
    finally:
        api.shutdown()
    assert changes[0].flags_changed == ["beta"]


def test_a_lost_server_makes_the_provider_stale_until_it_answers_again(
    server: FakeUnleashServer, make_client: ClientFactory
) -> None:
    server.payload = FLAGS
    client = make_client(server.url, refresh_interval=0.05)
    stale, stale_arrived, on_stale = recorded(ProviderEvent.PROVIDER_STALE)
    errors, error_arrived, on_error = recorded(ProviderEvent.PROVIDER_ERROR)
    api.add_handler(ProviderEvent.PROVIDER_STALE, on_stale)
    api.add_handler(ProviderEvent.PROVIDER_ERROR, on_error)
    try:
        set_provider_and_wait(UnleashProvider(client))
        flags = api.get_client()

        def status_after_an_evaluation() -> tuple[bool, ProviderStatus]:
            return flags.get_boolean_value("on", False), flags.get_provider_status()

        server.features.always(status(503))
        wait_for(lambda: client.fetch_status.state == "unavailable", message="a failed poll")
        # the last flags still answer; the provider says they may be out of date
        assert status_after_an_evaluation() == (True, ProviderStatus.STALE)
        assert status_after_an_evaluation() == (True, ProviderStatus.STALE)  # said once
        server.features.always(serve_payload())
        wait_for(lambda: client.fetch_status.state == "ok", message="a good poll")
        assert status_after_an_evaluation() == (True, ProviderStatus.READY)
        server.features.always(status(401))
        wait_for(lambda: client.fetch_status.state == "rejected", message="a rejected poll")
        assert status_after_an_evaluation() == (True, ProviderStatus.ERROR)
        assert stale_arrived.wait(5) and error_arrived.wait(5)
    finally:
        api.shutdown()
    assert len(stale) == 1
    assert "503" in str(stale[0].message)
    assert [(details.error_code, "401" in str(details.message)) for details in errors] == [
        (ErrorCode.GENERAL, True)
    ]


# -- tracking: impact metrics --------------------------------------------------------------


def impact_samples(client: UnleashClient) -> list[tuple[str, dict[str, Any]]]:
    """What the client would report: (metric name, sample) for each series with news."""
    return [(sample.metric.name, sample.sample) for sample in client.impact_metrics.collect()]


def test_track_counts_and_observes_impact_metrics(
    flags: OpenFeatureClient, unleash_client: UnleashClient
) -> None:
    metrics = unleash_client.impact_metrics
    metrics.define_counter("checkout", "checkouts")
    metrics.define_histogram("basket-value", "basket values", buckets=[10, 100])
    flags.track("checkout")
    flags.track("checkout", USER_42)
    flags.track("basket-value", USER_42, TrackingEventDetails(value=42.5))
    samples = impact_samples(unleash_client)
    assert [name for name, _ in samples] == ["checkout", "basket-value"]
    assert samples[0][1]["value"] == 2
    histogram = samples[1][1]
    assert (histogram["count"], histogram["sum"]) == (1, 42.5)


def test_track_labels_with_the_flags_it_names(
    flags: OpenFeatureClient, unleash_client: UnleashClient
) -> None:
    unleash_client.impact_metrics.define_counter("signup", "signups")
    details = TrackingEventDetails(attributes={"flags": ["users", "split"], "plan": "pro"})
    flags.track("signup", USER_42, details)
    flags.track("signup", EvaluationContext("7"), TrackingEventDetails().add("flags", "users"))
    labels = [sample["labels"] for _, sample in impact_samples(unleash_client)]
    split = unleash_client.get_variant("split", {"userId": "42"})["name"]
    assert {"users": "enabled", "split": split}.items() <= labels[0].items()
    assert {"users": "disabled"}.items() <= labels[1].items()


def test_track_of_an_undefined_metric_is_dropped_with_a_warning(
    flags: OpenFeatureClient,
    unleash_client: UnleashClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    flags.track("never-defined")
    flags.track("never-defined", None, TrackingEventDetails(value=1.5))
    assert impact_samples(unleash_client) == []
    assert caplog.text.count("'never-defined'") == 1


# -- the async client ----------------------------------------------------------------------


def test_an_async_client_answers_the_async_resolutions() -> None:
    async def in_the_app() -> tuple[Any, ...]:
        client = AsyncUnleashClient(url="", app_name="openfeature-async", bootstrap=FLAGS)
        await client.initialize_client()  # the application starts its async client
        try:
            set_provider_and_wait(UnleashProvider(client))
            flags = api.get_client()
            answers = (
                await flags.get_boolean_value_async("users", False, USER_42),
                await flags.get_integer_value_async("int", 0),
                (await flags.get_string_details_async("missing", "d")).error_code,
                flags.get_provider_status(),
            )
            api.shutdown()
            assert client.is_initialized  # the provider never stops an async client
            return answers
        finally:
            await client.destroy()

    assert asyncio.run(in_the_app()) == (True, 42, ErrorCode.FLAG_NOT_FOUND, ProviderStatus.READY)


def test_an_async_client_without_flags_is_not_ready() -> None:
    async def in_the_app() -> ProviderStatus:
        client = AsyncUnleashClient(url="", app_name="openfeature-async-empty")
        try:
            with contextlib.suppress(ProviderNotReadyError):
                set_provider_and_wait(UnleashProvider(client))
            return api.get_client().get_provider_status()
        finally:
            api.shutdown()
            await client.destroy()

    assert asyncio.run(in_the_app()) is ProviderStatus.ERROR


# -- the documentation's examples ----------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "openfeature.md"
DOC_EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_the_doc_has_examples() -> None:
    assert len(DOC_EXAMPLES) == 5


@pytest.mark.skipif(
    not hasattr(api, "set_provider_and_wait"), reason="the examples use openfeature-sdk 0.10+"
)
@pytest.mark.parametrize("block", DOC_EXAMPLES)
def test_docs_openfeature_examples_run(block: str) -> None:
    try:
        exec(compile(block, str(DOC), "exec"), {})
    finally:
        api.shutdown()
