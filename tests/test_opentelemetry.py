"""OpenTelemetryHook with the real opentelemetry-sdk: the ``feature_flag.evaluation`` events
it adds to spans, read back from the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes import feature_flag_attributes as semconv
from opentelemetry.semconv.attributes import error_attributes

from tests.support.payloads import constraint, feature, payload, strategy, variant
from unleash_lite import AsyncUnleashClient, UnleashClient
from unleash_lite.opentelemetry import EVENT_NAME, OpenTelemetryHook

FLAGS = payload(
    feature("on"),
    feature("off", enabled=False),
    feature("user-42", [strategy(constraints=[constraint("userId", "IN", ["42"])])]),
    feature("colors", variants=[variant("blue", 500), variant("red", 500)]),
    feature("one-color", variants=[variant("green", 1000)]),
)


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def events_of(exporter: InMemorySpanExporter) -> list[dict[str, Any]]:
    """The attributes of every flag event of every finished span, in order."""
    return [
        dict(event.attributes or {})
        for span in exporter.get_finished_spans()
        for event in span.events
        if event.name == EVENT_NAME
    ]


def hooked_client(**options: Any) -> UnleashClient:
    return UnleashClient(
        url="", app_name="otel-tests", bootstrap=FLAGS, hooks=[OpenTelemetryHook(**options)]
    )


def expected(key: str, reason: str, value: bool, **more: Any) -> dict[str, Any]:
    return {
        "feature_flag.key": key,
        "feature_flag.provider.name": "unleash-lite",
        "feature_flag.result.reason": reason,
        "feature_flag.result.value": value,
        **more,
    }


def test_the_attribute_names_are_the_semantic_conventions() -> None:
    """The names written out in unleash_lite.opentelemetry are the semconv package's."""
    from unleash_lite import opentelemetry as hook_module

    assert hook_module.KEY == semconv.FEATURE_FLAG_KEY
    assert hook_module.PROVIDER == semconv.FEATURE_FLAG_PROVIDER_NAME
    assert hook_module.REASON == semconv.FEATURE_FLAG_RESULT_REASON
    assert hook_module.VARIANT == semconv.FEATURE_FLAG_RESULT_VARIANT
    assert hook_module.VALUE == semconv.FEATURE_FLAG_RESULT_VALUE
    assert hook_module.CONTEXT_ID == semconv.FEATURE_FLAG_CONTEXT_ID
    assert hook_module.ERROR_MESSAGE == semconv.FEATURE_FLAG_ERROR_MESSAGE
    assert hook_module.ERROR_TYPE == error_attributes.ERROR_TYPE
    reasons = {value.value for value in semconv.FeatureFlagResultReasonValues}
    assert {"static", "targeting_match", "split", "default", "disabled", "error"} <= reasons


def test_each_evaluation_adds_an_event_to_the_current_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    client = hooked_client()
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("checkout"):
        assert client.is_enabled("on")
        assert not client.is_enabled("off")
        assert client.is_enabled("user-42", {"userId": "42"})
        assert not client.is_enabled("user-42", {"userId": "7"})
        assert client.get_variant("colors", {"userId": "1"})["enabled"]
        assert client.get_variant("one-color")["name"] == "green"
        assert client.evaluate("one-color").variant["name"] == "green"
        assert not client.is_enabled("missing")
        assert client.is_enabled("missing", fallback_function=lambda name, context: True)
    (span,) = exporter.get_finished_spans()
    assert span.name == "checkout"
    colors = client.get_variant("colors", {"userId": "1"})["name"]
    not_found = {
        "error.type": "flag_not_found",
        "feature_flag.error.message": "the flag is not defined in the current flag set",
    }
    assert events_of(exporter) == [
        expected("on", "static", True),
        expected("off", "disabled", False),
        expected("user-42", "targeting_match", True),
        expected("user-42", "default", False),
        expected("colors", "split", True, **{"feature_flag.result.variant": colors}),
        expected("one-color", "static", True, **{"feature_flag.result.variant": "green"}),
        expected("one-color", "static", True, **{"feature_flag.result.variant": "green"}),
        expected("missing", "error", False, **not_found),
        expected("missing", "error", True, **not_found),  # the fallback function's answer
    ]


def test_is_enabled_records_no_variant_and_no_split(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    with provider.get_tracer("tests").start_as_current_span("request"):
        hooked_client().is_enabled("colors", {"userId": "1"})
    # Not static either: the flag's answer as a whole (its variant) depends on the context,
    # as the OpenFeature provider reports it for a boolean flag.
    assert events_of(exporter) == [expected("colors", "targeting_match", True)]


def test_an_overridden_flag_is_static(spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = spans
    client = hooked_client()
    with client.override({"off": True}), provider.get_tracer("t").start_as_current_span("s"):
        client.is_enabled("off")
    assert events_of(exporter) == [expected("off", "static", True)]


def test_the_user_id_only_when_asked(spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("request"):
        hooked_client().is_enabled("on", {"userId": "42"})
        hooked_client(include_context_id=True).is_enabled("on", {"userId": "42"})
        hooked_client(include_context_id=True).is_enabled("on", {"sessionId": "s"})
    ids = [event.get("feature_flag.context.id") for event in events_of(exporter)]
    assert ids == [None, "42", None]


def test_without_a_span_nothing_is_recorded_and_nothing_fails(
    spans: tuple[TracerProvider, InMemorySpanExporter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, exporter = spans
    client = hooked_client()
    assert client.is_enabled("on")  # no span at all (and no global tracer provider)
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("not-sampled-out"):
        pass
    span = tracer.start_span("ended")
    span.end()
    from opentelemetry import trace

    with trace.use_span(span):  # a span that no longer records
        assert client.is_enabled("on")
    assert [s.name for s in exporter.get_finished_spans()] == ["not-sampled-out", "ended"]
    assert events_of(exporter) == []
    assert "hook" not in caplog.text


def test_events_go_to_the_innermost_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    client = hooked_client()
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("outer"):
        client.is_enabled("on")
        with tracer.start_as_current_span("inner"):
            client.is_enabled("off")
    by_span: Mapping[str, list[str]] = {
        span.name: [str((event.attributes or {})["feature_flag.key"]) for event in span.events]
        for span in exporter.get_finished_spans()
    }
    assert by_span == {"outer": ["on"], "inner": ["off"]}


def test_the_async_client(spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("tests")

    async def handle_request() -> None:
        client = AsyncUnleashClient(
            url="", app_name="otel-async", bootstrap=FLAGS, hooks=[OpenTelemetryHook()]
        )
        await client.initialize_client()
        try:
            with tracer.start_as_current_span("async-request"):
                await asyncio.sleep(0)  # the span stays current across an await
                assert client.is_enabled("user-42", {"userId": "42"})
                assert client.get_variant("one-color")["name"] == "green"
        finally:
            await client.destroy()

    asyncio.run(handle_request())
    (span,) = exporter.get_finished_spans()
    assert span.name == "async-request"
    assert events_of(exporter) == [
        expected("user-42", "targeting_match", True),
        expected("one-color", "static", True, **{"feature_flag.result.variant": "green"}),
    ]
