"""The official SDK's ``unleash_*`` attributes, ``connection_id`` and ``connector_mode``:
readable on both clients, writable where 6.9.1 allows it, checked as the keywords are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.clients import new_client
from tests.support.doubles import StubScheduler
from tests.support.payloads import feature, payload, variant
from tests.support.server import FakeUnleashServer
from unleash_lite import AsyncUnleashClient, MemoryCache, UnleashClient

SETTINGS: dict[str, Any] = {
    "url": "http://127.0.0.1:9/api",
    "app_name": "attributes",
    "environment": "staging",
    "instance_id": "pod-7",
    "project_name": "billing",
    "refresh_interval": 20,
    "refresh_jitter": 2,
    "metrics_interval": 45,
    "metrics_jitter": 3,
    "request_timeout": 4,
    "request_retries": 1,
    "disable_metrics": False,
    "disable_registration": True,
    "custom_headers": {"Authorization": "default:development.x", "X-Team": "pay"},
    "custom_options": {"verify": True},
    "verbose_log_level": 20,
    "sdk_flavor": "openfeature",
    "sdk_flavor_version": "1.2",
}

KINDS: list[Callable[..., Any]] = [UnleashClient, AsyncUnleashClient]


@pytest.mark.parametrize("kind", KINDS, ids=["sync", "async"])
def test_every_setting_reads_as_unleash_attribute(kind: Callable[..., Any]) -> None:
    client = kind(**SETTINGS, event_callback=print, cache=MemoryCache())
    for name, value in SETTINGS.items():
        assert getattr(client, f"unleash_{name}") == value, name
    assert client.unleash_event_callback is print
    assert client.unleash_static_context == {"appName": "attributes", "environment": "staging"}
    assert client.unleash_metrics_interval_str_millis == "45000"
    assert client.connector_mode is None
    assert isinstance(client.connection_id, str) and len(client.connection_id) == 36
    assert kind("", "offline").connection_id is None


def test_the_scheduler_attributes_are_what_was_passed() -> None:
    scheduler = StubScheduler()
    client = UnleashClient("", "s", scheduler=scheduler, scheduler_executor="threads")
    assert client.unleash_scheduler is scheduler
    assert client.unleash_executor_name == "threads"
    own = UnleashClient("", "own")
    assert own.unleash_scheduler is None and own.unleash_executor_name is None


@pytest.mark.parametrize("kind", KINDS, ids=["sync", "async"])
def test_a_written_setting_is_checked_and_a_bad_one_changes_nothing(
    kind: Callable[..., Any],
) -> None:
    client = kind("http://127.0.0.1:9/api", "writes", request_timeout=4, cache=MemoryCache())
    client.unleash_request_timeout = 7
    assert client.unleash_request_timeout == 7 == client.config.request_timeout
    with pytest.raises(ValueError, match="request_timeout"):
        client.unleash_request_timeout = -1
    assert client.unleash_request_timeout == 7
    with pytest.raises(ValueError, match="url"):
        client.unleash_url = "not a url"
    assert client.unleash_url == "http://127.0.0.1:9/api"


def test_disable_metrics_written_stops_counting_at_once() -> None:
    client = UnleashClient("", "counting", bootstrap={"version": 2, "features": []})
    client.is_enabled("a")
    client.unleash_disable_metrics = True
    client.is_enabled("a")
    assert client.metrics.totals()["a"]["no"] == 1


def test_metrics_enabled_after_construction_count_every_kind_of_call_from_then_on() -> None:
    flags = payload(
        feature("on"), feature("off", enabled=False), feature("variant", variants=[variant("blue")])
    )
    client = UnleashClient("", "counting", bootstrap=flags, disable_metrics=True)
    for name in ("on", "off", "variant", "unknown"):  # compiled entries that count nothing
        client.is_enabled(name)
    assert client.metrics.totals() == {}
    client.unleash_disable_metrics = False
    client.is_enabled("on")
    client.is_enabled("off")
    client.is_enabled("unknown")
    client.get_variant("variant")
    client.evaluate("variant")
    totals = client.metrics.totals()
    assert totals["on"]["yes"] == 1 and totals["off"]["no"] == 1
    assert totals["unknown"]["no"] == 1
    assert totals["variant"]["yes"] == 2 and totals["variant"]["variants"] == {"blue": 2}


def test_headers_changed_in_place_and_intervals_written_reach_the_next_requests(
    server: FakeUnleashServer, tmp_path: Any
) -> None:
    client = new_client(server.url, tmp_path, refresh_interval=30, disable_metrics=True)
    client.initialize_client()
    try:
        assert client._sync is not None
        client.unleash_custom_headers["X-Team"] = "pay"  # the live dict, as in 6.9.1
        client.unleash_refresh_interval = 12
        client._sync.poll()
        last = server.feature_gets()[-1]
        assert last.header("X-Team") == "pay"
        assert last.header("unleash-interval") == "12000"
        assert last.header("unleash-connection-id") == client.connection_id
        assert client._sync.features_backoff.delay == 12
    finally:
        client.destroy()
