"""SentryHook with the real sentry-sdk: error events captured after evaluations carry the
flags, read from a transport that keeps the envelopes instead of sending them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from tests.support.payloads import constraint, feature, payload, strategy, variant
from unleash_lite import AsyncUnleashClient, UnleashClient
from unleash_lite.sentry import SentryHook

FLAGS = payload(
    feature("on"),
    feature("off", enabled=False),
    feature("user-42", [strategy(constraints=[constraint("userId", "IN", ["42"])])]),
    feature("colors", variants=[variant("blue")]),
)


class CapturingTransport(Transport):
    """Keeps every envelope the Sentry client would send."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[dict[str, Any]]:
        return [
            item.payload.json
            for envelope in self.envelopes
            for item in envelope.items
            if item.type == "event" and item.payload.json is not None
        ]


@pytest.fixture
def transport() -> Iterator[CapturingTransport]:
    transport = CapturingTransport()
    sentry_sdk.init(
        dsn="https://key@sentry.invalid/1", transport=transport, default_integrations=False
    )
    try:
        with sentry_sdk.isolation_scope():
            yield transport
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


def flags_of(event: dict[str, Any]) -> list[dict[str, Any]] | None:
    values = event.get("contexts", {}).get("flags", {}).get("values")
    return None if values is None else list(values)


def hooked_client() -> UnleashClient:
    return UnleashClient(url="", app_name="sentry-tests", bootstrap=FLAGS, hooks=[SentryHook()])


def fail() -> None:
    raise ValueError("checkout broke")


def test_an_error_event_carries_the_flags_evaluated_before_it(
    transport: CapturingTransport,
) -> None:
    client = hooked_client()
    assert client.is_enabled("on")
    assert not client.is_enabled("off")
    assert client.is_enabled("user-42", {"userId": "42"})
    assert client.get_variant("colors")["name"] == "blue"
    assert client.evaluate("off").reason == "disabled"
    assert not client.is_enabled("missing")
    try:
        fail()
    except ValueError:
        sentry_sdk.capture_exception()
    (event,) = transport.events()
    assert event["exception"]["values"][0]["value"] == "checkout broke"
    # The newest answer of each flag, least recently evaluated first.
    assert flags_of(event) == [
        {"flag": "on", "result": True},
        {"flag": "user-42", "result": True},
        {"flag": "colors", "result": True},
        {"flag": "off", "result": False},
        {"flag": "missing", "result": False},
    ]


def test_the_last_answer_of_a_flag_wins(transport: CapturingTransport) -> None:
    client = hooked_client()
    client.is_enabled("user-42", {"userId": "42"})
    client.is_enabled("user-42", {"userId": "7"})
    sentry_sdk.capture_exception(ValueError("x"))
    (event,) = transport.events()
    assert flags_of(event) == [{"flag": "user-42", "result": False}]


def test_each_request_scope_has_its_own_flags(transport: CapturingTransport) -> None:
    client = hooked_client()
    with sentry_sdk.isolation_scope():  # what Sentry's web integrations open per request
        client.is_enabled("on")
        sentry_sdk.capture_exception(ValueError("first request"))
    with sentry_sdk.isolation_scope():
        client.is_enabled("off")
        sentry_sdk.capture_exception(ValueError("second request"))
    assert [flags_of(event) for event in transport.events()] == [
        [{"flag": "on", "result": True}],
        [{"flag": "off", "result": False}],
    ]


def test_a_client_without_the_hook_records_nothing(transport: CapturingTransport) -> None:
    UnleashClient(url="", app_name="plain", bootstrap=FLAGS).is_enabled("on")
    sentry_sdk.capture_exception(ValueError("x"))
    (event,) = transport.events()
    assert flags_of(event) is None


def test_without_sentry_init_nothing_fails() -> None:
    with sentry_sdk.isolation_scope():
        assert hooked_client().is_enabled("on")  # no Sentry client: the buffer only


def test_the_async_client(transport: CapturingTransport) -> None:
    async def handle_request() -> None:
        client = AsyncUnleashClient(
            url="", app_name="sentry-async", bootstrap=FLAGS, hooks=[SentryHook()]
        )
        await client.initialize_client()
        try:
            assert client.is_enabled("user-42", {"userId": "42"})
            await asyncio.sleep(0)
            assert not client.is_enabled("off")
            try:
                fail()
            except ValueError:
                sentry_sdk.capture_exception()
        finally:
            await client.destroy()

    asyncio.run(handle_request())
    (event,) = transport.events()
    assert flags_of(event) == [
        {"flag": "user-42", "result": True},
        {"flag": "off", "result": False},
    ]
