"""Impact metrics: what unleash-server keeps of the ``impactMetrics`` field of a client
metrics body (``POST /api/client/metrics``), read back with ``AdminApi.impact_metrics``.

The bodies here are written by hand, so this pins the shape the server accepts
(counters, gauges, histograms) independently of the SDK that sends them. Both
versions keep them (7.5.1 with its experimental flag ``impactMetrics``, which
scripts/unleash-server turns on; 8.2.0 by default).
"""

from __future__ import annotations

import uuid
from typing import Any

import requests

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
