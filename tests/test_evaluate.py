"""The public evaluation-detail API: ``evaluate``, ``explain``, ``all_flags`` and
``export_payload``, and a property test that every way of asking a client about a flag
(``is_enabled``, ``get_variant``, ``evaluate``, ``explain``, ``all_flags`` and the
OpenFeature provider) always gives the same answer, on random payloads and contexts.
"""

from __future__ import annotations

import random
from typing import Any
from unittest import mock

import pytest
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import Reason as OpenFeatureReason

from tests.engine.test_differential import Generator
from unleash_lite import EvaluationDetail, Reason, UnleashClient, UnleashEventType
from unleash_lite.openfeature import UnleashProvider

FLAGS: dict[str, Any] = {
    "version": 2,
    "features": [
        {"name": "on", "enabled": True, "strategies": [{"name": "default"}]},
        {"name": "off", "enabled": False, "strategies": [{"name": "default"}]},
        {
            "name": "for-42",
            "enabled": True,
            "impressionData": True,
            "strategies": [{"name": "userWithId", "parameters": {"userIds": "42"}}],
            "variants": [
                {"name": "red", "weight": 500, "stickiness": "default"},
                {"name": "blue", "weight": 500, "stickiness": "default"},
            ],
        },
    ],
}


def offline(**options: Any) -> UnleashClient:
    return UnleashClient("", "evaluate-tests", bootstrap=FLAGS, **options)


def test_evaluate_gives_the_answer_and_its_reason() -> None:
    client = offline()
    detail = client.evaluate("for-42", {"userId": "42"})
    assert isinstance(detail, EvaluationDetail)
    assert detail.enabled and detail.known and detail.split and not detail.static
    assert detail.reason is Reason.STRATEGY_MATCHED
    assert detail.variant == client.get_variant("for-42", {"userId": "42"})
    assert detail.strategy is not None and detail.strategy.name == "userWithId"
    off = client.evaluate("for-42", {"userId": "7"})
    assert (off.enabled, off.reason, off.variant["name"]) == (
        False,
        Reason.NO_STRATEGY_MATCHED,
        "disabled",
    )
    assert client.evaluate("on").static and client.evaluate("off").static
    assert client.evaluate("off").reason is Reason.DISABLED
    unknown = client.evaluate("missing")
    assert (unknown.enabled, unknown.known, unknown.reason) == (False, False, Reason.UNKNOWN_FLAG)
    fallback = client.evaluate("missing", {}, lambda name, context: True)
    assert (fallback.enabled, fallback.known, fallback.reason) == (True, False, Reason.FALLBACK)


def test_evaluate_is_counted_and_raises_impression_events_but_explain_does_not() -> None:
    events: list[Any] = []
    client = offline(event_callback=events.append)
    client.evaluate("for-42", {"userId": "42"})
    client.evaluate("on")
    client.evaluate("for-42", {"userId": "7"})
    for _ in range(3):
        client.explain("for-42", {"userId": "42"})
    assert client._events is not None and client._events.drain(5)
    totals = client.metrics.totals()
    assert totals["for-42"]["yes"] == 1 and totals["for-42"]["no"] == 1
    assert sum(totals["for-42"]["variants"].values()) == 1
    assert totals["on"] == {"yes": 1, "no": 0, "variants": {}}  # counted as is_enabled is
    impressions = [
        (e.event_type, e.variant, e.enabled)
        for e in events
        if e.event_type in (UnleashEventType.VARIANT, UnleashEventType.FEATURE_FLAG)
    ]
    chosen = client.explain("for-42", {"userId": "42"}).variant["name"]
    assert impressions == [
        (UnleashEventType.VARIANT, chosen, True),  # "on" has no impression data
        (UnleashEventType.FEATURE_FLAG, "", False),
    ]


def test_evaluate_and_all_flags_honour_overrides() -> None:
    client = offline()
    with client.override({"off": True, "for-42": "blue", "new": False}):
        detail = client.evaluate("off")
        assert (detail.enabled, detail.reason, detail.static) == (True, Reason.OVERRIDDEN, True)
        assert client.evaluate("for-42", {"userId": "7"}).variant["name"] == "blue"
        listed = {flag["name"]: flag for flag in client.all_flags({"userId": "7"})}
        assert set(listed) == {"on", "off", "for-42"}
        assert listed["for-42"]["variant"]["name"] == "blue"
    assert not client.evaluate("off").enabled


def test_all_flags_has_the_frontend_api_shape_and_is_not_counted() -> None:
    client = offline()
    flags = client.all_flags({"userId": "42"})
    assert [flag["name"] for flag in flags] == ["on", "for-42"]  # only flags that are on
    (for_42,) = [flag for flag in flags if flag["name"] == "for-42"]
    assert for_42["enabled"] is True and for_42["impressionData"] is True
    assert for_42["variant"] == client.get_variant("for-42", {"userId": "42"})
    everything = client.all_flags({"userId": "7"}, include_disabled=True)
    assert {flag["name"]: flag["enabled"] for flag in everything} == {
        "on": True,
        "off": False,
        "for-42": False,
    }
    client.metrics.totals().clear()
    assert client.metrics.collect() is not None  # the get_variant calls above only
    assert "off" not in client.metrics.totals()


def test_export_payload_is_a_copy_that_bootstraps_the_same_flags() -> None:
    client = offline()
    exported = client.export_payload()
    exported["features"][0]["strategies"].clear()
    again = UnleashClient("", "again", bootstrap=client.export_payload())
    for name in ("on", "off", "for-42"):
        for context in ({}, {"userId": "42"}):
            assert again.evaluate(name, context) == client.evaluate(name, context)


def test_the_openfeature_provider_sees_overrides_with_a_static_reason() -> None:
    client = offline()
    provider = UnleashProvider(client)
    with client.override({"for-42": False}):
        details = provider.resolve_boolean_details("for-42", True, EvaluationContext("42"))
    assert (details.value, details.reason) == (False, OpenFeatureReason.STATIC)
    details = provider.resolve_boolean_details("for-42", False, EvaluationContext("42"))
    assert (details.value, details.reason) == (True, OpenFeatureReason.TARGETING_MATCH)


# -- every way of asking agrees -------------------------------------------------------------

PAYLOADS = 150
CONTEXTS = 16


def summary(detail: EvaluationDetail) -> tuple[Any, ...]:
    """All but the values seen (``currentTime`` defaults to a new "now" on every call)."""
    deciding = detail.strategy.index if detail.strategy is not None else None
    return (detail.enabled, detail.variant, detail.reason, deciding, detail.static, detail.split)


def provider_answers(provider: UnleashProvider, name: str, context: dict[str, Any]) -> Any:
    # userId as an attribute, not the targeting key: an empty targeting key means none.
    evaluation_context = EvaluationContext(None, dict(context))
    return provider.resolve_boolean_details(name, False, evaluation_context).value


@pytest.mark.parametrize("seed_block", range(3))
def test_every_way_of_asking_agrees_on_random_flag_sets(seed_block: int) -> None:
    compared = 0
    for seed in range(seed_block * PAYLOADS // 3, (seed_block + 1) * PAYLOADS // 3):
        generator = Generator(10_000 + seed)
        payload = generator.payload()
        client = UnleashClient("", f"agree-{seed}", bootstrap=payload)
        provider = UnleashProvider(client)
        names = [f["name"] for f in payload["features"]] + ["no-such-flag"]
        # One fixed draw for the random stickiness and random rollouts, so that every way of
        # asking sees the same "random" user.
        with mock.patch.object(random, "randint", lambda low, high: (low + high) // 2):
            for _ in range(CONTEXTS):
                context = generator.context()
                listed = {f["name"]: f for f in client.all_flags(context, include_disabled=True)}
                for name in names:
                    enabled = client.is_enabled(name, context)
                    variant = client.get_variant(name, context)
                    detail = client.evaluate(name, context)
                    explained = client.explain(name, context)
                    where = f"seed {10_000 + seed}, flag {name}, context {context}"
                    assert summary(detail) == summary(explained), where
                    assert (detail.enabled, detail.variant) == (enabled, variant), where
                    assert provider_answers(provider, name, context) == enabled, where
                    if name in listed:
                        assert listed[name]["enabled"] == enabled, where
                        assert listed[name]["variant"] == variant, where
                    else:
                        assert not detail.known, where
                    compared += 1
    assert compared >= PAYLOADS // 3 * CONTEXTS * 10
