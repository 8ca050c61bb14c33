"""Impact metrics on the wire: the body they ride in, and the usage counts' guarantees
(loss-free on failures and 413s, never sent twice, split under the byte budget)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.clients import new_client
from tests.support.doubles import DictCache, StubScheduler
from tests.support.helpers import messages
from tests.support.payloads import feature, payload, variants
from tests.support.server import TOKEN, FakeUnleashServer, status
from unleash_lite import MetricFlagContext, UnleashClient
from unleash_lite.impact_metrics import ImpactMetrics, environment_of
from unleash_lite.sync import metrics as metrics_module
from unleash_lite.sync.metrics import Bucket, MetricsRegistry

FLAGS = payload(feature("on"), feature("colour", variants=variants("blue")))
LABELS = {"appName": "impact-app", "environment": environment_of(TOKEN, "default")}


@pytest.fixture
def server() -> Iterator[FakeUnleashServer]:
    with FakeUnleashServer(payload=FLAGS) as running:
        yield running


@pytest.fixture
def client(server: FakeUnleashServer) -> Iterator[UnleashClient]:
    made = new_client(
        server.url,
        app_name="impact-app",
        cache=DictCache(),
        scheduler=StubScheduler(),
        bootstrap=FLAGS,
        disable_registration=True,
    )
    yield made
    made.destroy()


def accepted_bodies(server: FakeUnleashServer) -> list[dict[str, Any]]:
    return [post.body for post in server.metrics_posts() if post.accepted]


def counter_total(bodies: list[dict[str, Any]], name: str) -> float:
    return float(
        sum(
            sample["value"]
            for body in bodies
            for metric in body.get("impactMetrics", [])
            if metric["name"] == name
            for sample in metric["samples"]
        )
    )


def test_the_body_carries_impact_metrics_next_to_the_bucket(
    server: FakeUnleashServer, client: UnleashClient
) -> None:
    impact = client.impact_metrics
    impact.define_counter("orders", "Orders placed")
    impact.define_gauge("queue", "Jobs waiting")
    impact.define_histogram("latency", "Seconds per request", [0.1, 1])
    impact.increment_counter("orders", 2, MetricFlagContext(["colour"], {"userId": "1"}))
    impact.update_gauge("queue", 12)
    impact.observe_histogram("latency", 0.05)
    impact.observe_histogram("latency", 0.5)
    client.is_enabled("on")
    assert client.flush_metrics()
    (post,) = server.metrics_posts()
    body = post.body
    assert body["appName"] == "impact-app"
    assert body["bucket"]["toggles"] == {"on": {"yes": 1, "no": 0, "variants": {}}}
    assert body["impactMetrics"] == [
        {
            "name": "orders",
            "help": "Orders placed",
            "type": "counter",
            "samples": [{"labels": {**LABELS, "colour": "blue"}, "value": 2}],
        },
        {
            "name": "queue",
            "help": "Jobs waiting",
            "type": "gauge",
            "samples": [{"labels": LABELS, "value": 12}],
        },
        {
            "name": "latency",
            "help": "Seconds per request",
            "type": "histogram",
            "samples": [
                {
                    "labels": LABELS,
                    "count": 2,
                    "sum": 0.55,
                    "buckets": [
                        {"le": 0.1, "count": 1},
                        {"le": 1.0, "count": 2},
                        {"le": "+Inf", "count": 2},
                    ],
                }
            ],
        },
    ]
    assert client.flush_metrics()  # nothing new: no POST, nothing sent twice
    assert len(server.metrics_posts()) == 1


def test_impact_metrics_alone_go_with_an_empty_bucket_and_usage_alone_without_them(
    server: FakeUnleashServer, client: UnleashClient
) -> None:
    impact = client.impact_metrics
    impact.define_counter("orders", "Orders placed")
    assert client.flush_metrics()
    assert server.metrics_posts() == []  # defined, never recorded: nothing to send
    impact.increment_counter("orders")
    assert client.flush_metrics()
    client.is_enabled("on")
    assert client.flush_metrics()
    first, second = (post.body for post in server.metrics_posts())
    assert first["bucket"]["toggles"] == {}
    assert set(first["bucket"]) == {"start", "stop", "toggles"}
    assert counter_total([first], "orders") == 1
    assert "impactMetrics" not in second
    assert second["bucket"]["toggles"] == {"on": {"yes": 1, "no": 0, "variants": {}}}


def test_a_failed_send_keeps_impact_metrics_for_the_next_one(
    server: FakeUnleashServer, client: UnleashClient
) -> None:
    impact = client.impact_metrics
    impact.define_counter("orders", "Orders placed")
    impact.define_gauge("queue", "Jobs waiting")
    impact.increment_counter("orders", 3)
    impact.update_gauge("queue", 5)
    server.metrics.then(status(500), status(503))
    assert not client.flush_metrics()
    impact.increment_counter("orders")
    assert not client.flush_metrics()
    impact.increment_counter("orders")
    impact.update_gauge("queue", 6)
    assert client.flush_metrics()
    assert client.flush_metrics()
    posts = server.metrics_posts()
    assert [post.accepted for post in posts] == [False, False, True]
    (body,) = accepted_bodies(server)
    assert counter_total([body], "orders") == 5
    gauge = next(m for m in body["impactMetrics"] if m["name"] == "queue")
    assert gauge["samples"] == [{"labels": LABELS, "value": 6}]


def test_a_refused_body_drops_its_impact_metrics_with_one_error(
    server: FakeUnleashServer, client: UnleashClient, caplog: pytest.LogCaptureFixture
) -> None:
    impact = client.impact_metrics
    impact.define_counter("orders", "Orders placed")
    impact.increment_counter("orders", 3)
    server.metrics.then(status(400))
    assert client.flush_metrics()  # a refusal is an answer
    impact.increment_counter("orders")
    assert client.flush_metrics()
    assert counter_total(accepted_bodies(server), "orders") == 1
    assert messages(caplog.records, logging.ERROR) == [
        "Unleash metrics: dropped 1 impact metrics sample: the server refused them (HTTP 400); "
        "they will not be sent again"
    ]


def test_large_impact_metrics_are_split_and_413s_lose_nothing(
    server: FakeUnleashServer, client: UnleashClient
) -> None:
    """A server refusing bodies over 30,000 bytes: the impact metrics (about 100 KB) go out
    in smaller bodies, every increment exactly once."""
    server.max_body_bytes = 30_000
    impact = client.impact_metrics
    names = [f"metric-{index:03d}" for index in range(300)]
    for name in names:
        impact.define_counter(name, "Counts things, with a help text of some length " * 4)
        impact.increment_counter(name, 2)
    for _ in range(5):
        client.is_enabled("on")
    while not client.flush_metrics():
        pass
    posts = server.metrics_posts()
    assert [post.accepted for post in posts[:2]] == [False, False]  # 92 KB, then 46 KB
    assert all(post.accepted for post in posts[2:])
    bodies = accepted_bodies(server)
    assert len(bodies) > 4
    assert all(post.size <= 30_000 for post in posts[2:])
    for name in names:
        assert counter_total(bodies, name) == 2
    assert sum(body["bucket"]["toggles"].get("on", {}).get("yes", 0) for body in bodies) == 5
    assert client.metrics.collect() is None


# -- splitting ---------------------------------------------------------------------------------


def impact_bucket(samples: int, help_size: int = 50) -> tuple[MetricsRegistry, Bucket]:
    impact = ImpactMetrics("app", "env", lambda flag, context: {})
    registry = MetricsRegistry(impact)
    for index in range(samples):
        name = f"m{index}"
        impact.define_histogram(name, "h" * help_size)
        impact.observe_histogram(name, index)
    counters = registry.counters("flag")
    assert counters is not None
    next(counters.yes)
    bucket = registry.collect()
    assert bucket is not None
    return registry, bucket


IDENTITY = {
    "appName": "app",
    "instanceId": "i",
    "connectionId": "c",
    "environment": "e",
}


@pytest.mark.parametrize("budget", [4096, 9000, 20_000])
def test_parts_fit_the_budget_and_hold_every_sample_once(budget: int) -> None:
    _, bucket = impact_bucket(120)
    parts, left = bucket.split(IDENTITY, budget)
    assert not left.toggles and not left.impact
    sizes = [len(json.dumps(part.body(IDENTITY))) for part in parts]
    assert all(size <= budget for size in sizes)
    assert max(sizes) > budget * 0.8  # parts are filled, not merely small
    sent = [sample for part in parts for sample in part.impact]
    assert sent == list(bucket.impact)
    names = [m["name"] for part in parts for m in part.body(IDENTITY).get("impactMetrics", [])]
    assert names == [f"m{index}" for index in range(120)]
    assert parts[0].toggles == bucket.toggles  # usage counts first


def test_a_sample_too_big_for_any_body_is_left_over(caplog: pytest.LogCaptureFixture) -> None:
    registry, bucket = impact_bucket(3, help_size=5000)
    parts, left = bucket.split(IDENTITY, 4096)
    assert [part.toggles for part in parts] == [bucket.toggles]
    assert len(left.impact) == 3
    registry.drop(left, metrics_module._too_big(left, 4096))
    after = registry.collect()
    assert after is not None and after.impact == ()  # dropped for good; the counts stay
    assert "impact metric 'm0'" in messages(caplog.records, logging.ERROR)[0]


def test_a_forked_child_does_not_send_its_parents_impact_metrics() -> None:
    registry, _ = impact_bucket(2)
    registry.forget_unsent()
    assert registry.collect() is None


def test_bucket_stop_is_now_even_with_impact_metrics_only() -> None:
    impact = ImpactMetrics("app", "env", lambda flag, context: {})
    registry = MetricsRegistry(impact)
    impact.define_counter("c", "help")
    impact.increment_counter("c")
    before = datetime.now(UTC)
    bucket = registry.collect()
    assert bucket is not None and bucket.toggles == {} and bucket.stop >= before


def test_the_async_client_sends_the_same_impact_metrics(server: FakeUnleashServer) -> None:
    pytest.importorskip("aiohttp")
    from unleash_lite import AsyncUnleashClient

    async def scenario() -> None:
        client = AsyncUnleashClient(
            server.url,
            "impact-app",
            cache=DictCache(),
            disable_registration=True,
            custom_headers={"Authorization": TOKEN},
            request_timeout=2,
            metrics_interval=60,
        )
        try:
            await client.initialize_client()
            impact = client.impact_metrics
            impact.define_counter("orders", "Orders placed")
            impact.increment_counter("orders", 2, MetricFlagContext(["on"], {}))
            assert await client.flush_metrics()
        finally:
            await client.destroy()

    asyncio.run(scenario())
    (post,) = server.metrics_posts()
    assert post.body["impactMetrics"] == [
        {
            "name": "orders",
            "help": "Orders placed",
            "type": "counter",
            "samples": [{"labels": {**LABELS, "on": "enabled"}, "value": 2}],
        }
    ]
