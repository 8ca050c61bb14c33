"""Impact metrics: what unleash-server keeps of the ``impactMetrics`` field of a client
metrics body (``POST /api/client/metrics``), read back with ``AdminApi.impact_metrics``.

The bodies here are written by hand, so this pins the shape the server accepts
(counters, gauges, histograms) independently of the SDK that sends them. Both
versions keep them (7.5.1 with its experimental flag ``impactMetrics``, which
scripts/unleash-server turns on; 8.2.0 by default).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from unleash_lite import AsyncUnleashClient, MetricFlagContext, UnleashClient

from .admin import AdminApi, ImpactMetric
from .polling import wait_for
from .server import UnleashServer


def post_metrics(server: UnleashServer, body: dict[str, Any]) -> int:
    response = requests.post(
        f"{server.api_url}/client/metrics",
        json=body,
        headers={"Authorization": server.client_token},
        timeout=10,
    )
    return response.status_code


def metrics_body(impact_metrics: list[dict[str, Any]], *, with_bucket: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "appName": "it-impact-metrics-app",
        "instanceId": "it-impact-metrics-instance",
        "environment": "default",
        "impactMetrics": impact_metrics,
    }
    if with_bucket:  # what an SDK sends: its usage counts, here none
        body["bucket"] = {
            "start": "2026-01-01T00:00:00.000Z",
            "stop": "2026-01-01T00:00:01.000Z",
            "toggles": {},
        }
    return body


def stored(admin: AdminApi, name: str) -> ImpactMetric:
    metric, _ = wait_for(
        lambda: admin.impact_metrics().get(name), timeout=10, what=f"impact metric {name}"
    )
    return metric


def test_counter_gauge_and_histogram_are_kept(
    unleash_server: UnleashServer, admin: AdminApi
) -> None:
    suffix = uuid.uuid4().hex[:8]
    counter, gauge, histogram = (f"it_{kind}_{suffix}" for kind in ("counter", "gauge", "hist"))
    first: list[dict[str, Any]] = [
        {
            "name": counter,
            "help": "purchases made",
            "type": "counter",
            "samples": [{"labels": {"country": "no"}, "value": 5}, {"value": 1}],
        },
        {
            "name": gauge,
            "help": "items in the basket",
            "type": "gauge",
            "samples": [{"labels": {"shop": "oslo"}, "value": 7.5}],
        },
        {
            "name": histogram,
            "help": "checkout seconds",
            "type": "histogram",
            "samples": [
                {
                    "labels": {"shop": "oslo"},
                    "count": 3,
                    "sum": 1.75,
                    "buckets": [
                        {"le": 0.5, "count": 1},
                        {"le": 1, "count": 2},
                        {"le": "+Inf", "count": 3},
                    ],
                }
            ],
        },
    ]
    assert post_metrics(unleash_server, metrics_body(first, with_bucket=True)) == 202
    # Counters and histograms add up; a gauge takes the last value.
    second = [
        {**first[0], "samples": [{"labels": {"country": "no"}, "value": 2}]},
        {**first[1], "samples": [{"labels": {"shop": "oslo"}, "value": 3}]},
    ]
    assert post_metrics(unleash_server, metrics_body(second, with_bucket=True)) == 202

    kept = stored(admin, counter)
    assert (kept.type, kept.help) == ("counter", "purchases made")
    wait_for(
        lambda: admin.impact_metrics()[counter].value(country="no") == 7,
        timeout=10,
        what="the counter's two posts added up",
    )
    assert admin.impact_metrics()[counter].value() == 1  # the sample without labels

    kept = stored(admin, gauge)
    assert kept.type == "gauge"
    assert kept.value(shop="oslo") == 3

    kept = stored(admin, histogram)
    assert kept.type == "histogram"
    assert kept.value("_count", shop="oslo") == 3
    assert kept.value("_sum", shop="oslo") == 1.75
    assert kept.value("_bucket", shop="oslo", le="0.5") == 1
    assert kept.value("_bucket", shop="oslo", le="+Inf") == 3


def test_an_entry_without_help_is_dropped_and_the_post_still_accepted(
    unleash_server: UnleashServer, admin: AdminApi
) -> None:
    """The server validates impactMetrics separately and only logs a failure, so an SDK
    sending a bad entry loses it silently while its usage counts still arrive."""
    bad, good = f"it_nohelp_{uuid.uuid4().hex[:8]}", f"it_marker_{uuid.uuid4().hex[:8]}"
    entries = [
        {"name": bad, "type": "counter", "samples": [{"value": 1}]},
    ]
    assert post_metrics(unleash_server, metrics_body(entries, with_bucket=True)) == 202
    marker = [{"name": good, "help": "marker", "type": "counter", "samples": [{"value": 1}]}]
    assert post_metrics(unleash_server, metrics_body(marker, with_bucket=True)) == 202
    stored(admin, good)  # posted after the bad one, so the bad one was handled before
    assert bad not in admin.impact_metrics()


def test_a_body_without_bucket(unleash_server: UnleashServer, admin: AdminApi) -> None:
    """8.x accepts a body that carries only impact metrics (no ``bucket``); 7.5.1 answers
    400 and keeps nothing of it, so an SDK must always send a bucket there."""
    name = f"it_nobucket_{uuid.uuid4().hex[:8]}"
    entries = [{"name": name, "help": "no bucket", "type": "counter", "samples": [{"value": 4}]}]
    status = post_metrics(unleash_server, metrics_body(entries, with_bucket=False))
    if unleash_server.major == 7:
        assert status == 400
        assert name not in admin.impact_metrics()
    else:
        assert status == 202
        assert stored(admin, name).value() == 4


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_clients_impact_metrics_reach_the_server(
    kind: str,
    unleash_server: UnleashServer,
    admin: AdminApi,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """``client.impact_metrics`` of both clients, flag context as labels, as the server keeps
    them after the client's last send (``destroy()``): counters summed, the gauge's last
    value, the histogram's cumulative buckets."""
    suffix = uuid.uuid4().hex[:8]
    counter, gauge, histogram = (f"it_sdk_{kind}_{n}_{suffix}" for n in ("orders", "cart", "pay"))
    flag = unique_name("labels")
    admin.create_flag(flag)
    admin.enable(flag)
    settings: dict[str, Any] = {
        "url": unleash_server.api_url,
        "app_name": unique_name("app"),
        "custom_headers": {"Authorization": unleash_server.client_token},
        "refresh_interval": 1,
        "metrics_interval": 3600,  # only destroy() sends
        "cache_directory": str(tmp_path / "cache"),
        "request_timeout": 5,
    }

    def record(client: UnleashClient | AsyncUnleashClient) -> None:
        impact = client.impact_metrics
        impact.define_counter(counter, "orders placed")
        impact.define_gauge(gauge, "items in the cart")
        impact.define_histogram(histogram, "payment seconds", [0.5, 1.0])
        labelled = MetricFlagContext([flag], {"userId": "7"})
        impact.increment_counter(counter)
        impact.increment_counter(counter, 4, flag_context=labelled)
        impact.increment_counter(counter, 2, flag_context=labelled)
        impact.update_gauge(gauge, 3)
        impact.update_gauge(gauge, 5)
        for seconds in (0.2, 0.7, 3.0):
            impact.observe_histogram(histogram, seconds)

    if kind == "sync":
        sync_client = UnleashClient(**settings)
        sync_client.initialize_client()
        wait_for(lambda: sync_client.explain(flag).enabled, timeout=10, what="the flag on")
        record(sync_client)
        sync_client.destroy()
    else:

        async def run() -> None:
            async with AsyncUnleashClient(**settings) as async_client:
                for _ in range(200):  # the flag may need a poll: wait without blocking the loop
                    if async_client.explain(flag).enabled:
                        break
                    await asyncio.sleep(0.05)
                assert async_client.explain(flag).enabled, "the flag did not come on in 10 s"
                record(async_client)

        asyncio.run(run())

    environment = unleash_server.client_token.split(":", 1)[1].split(".", 1)[0]
    base = {"appName": settings["app_name"], "environment": environment}
    orders = stored(admin, counter)
    assert orders.type == "counter" and orders.help == "orders placed"
    assert orders.value(**base) == 1
    assert orders.value(**base, **{flag.replace("-", "_"): "enabled"}) == 6
    assert stored(admin, gauge).value(**base) == 5
    payments = stored(admin, histogram)
    assert payments.value("_count", **base) == 3
    assert payments.value("_sum", **base) == pytest.approx(3.9)
    assert payments.value("_bucket", **base, le="0.5") == 1
    assert payments.value("_bucket", **base, le="1") == 2
    assert payments.value("_bucket", **base, le="+Inf") == 3
