"""Usage metrics: exact counting, loss-free sending, bucket format, flush on destroy."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses

from tests.support.clients import new_client
from tests.support.doubles import DictCache, StubScheduler
from tests.support.helpers import frequent_thread_switches, messages, wait_for
from tests.support.payloads import body_of, feature, payload, variants
from tests.support.server import FEATURES, METRICS, REGISTER, TOKEN, URL, FakeUnleashServer
from unleash_lite import UnleashClient
from unleash_lite.config import DEFAULT_REQUEST_TIMEOUT
from unleash_lite.sync import metrics as metrics_module
from unleash_lite.sync.metrics import Counts, MetricsRegistry
from unleash_lite.sync.scheduler import ThreadRunner

FLAGS = payload(
    feature("on"),
    feature("off", enabled=False),
    feature("colour", variants=variants("blue")),
    feature("colour-off", enabled=False, variants=variants("blue")),
    feature("parent"),
    feature("child", dependencies=[{"feature": "parent", "enabled": True}]),
)


def metric_bodies(mocked: responses.RequestsMock) -> list[dict[str, Any]]:
    return [json.loads(call.request.body) for call in mocked.calls
            if call.request.url == METRICS]


def stub_client(**options: Any) -> UnleashClient:
    settings: dict[str, Any] = {
        "app_name": "metrics-app", "metrics_interval": 30, "cache": DictCache(),
        "scheduler": StubScheduler(), "request_timeout": DEFAULT_REQUEST_TIMEOUT,
        "bootstrap": FLAGS,
    }
    return new_client(URL, **{**settings, **options})


def send(client: UnleashClient) -> None:
    assert client._sync is not None
    client._sync.send_metrics()


@pytest.fixture
def server_api() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.get(FEATURES, body=body_of(FLAGS), headers={"ETag": '"f"'})
        mocked.post(REGISTER, status=202)
        mocked.post(METRICS, status=202)
        yield mocked


# -- the registry ------------------------------------------------------------------------------


def test_reading_a_counter_counts_nothing() -> None:
    registry = MetricsRegistry()
    counters = registry.counters("a", ["v1"])
    assert counters is not None
    for _ in range(3):
        next(counters.yes)
    assert counters.reading() == Counts(3, 0, {"v1": 0})
    assert counters.reading() == Counts(3, 0, {"v1": 0})  # reading counts nothing
    next(counters.yes)
    next(counters.variants["v1"])
    assert counters.reading() == Counts(4, 0, {"v1": 1})
    assert registry.totals() == {"a": {"yes": 4, "no": 0, "variants": {"v1": 1}}}


def test_readings_taken_while_threads_count_are_exact_and_monotonic() -> None:
    registry = MetricsRegistry()
    counters = registry.counters("a", ["v1"])
    assert counters is not None
    threads_count, calls = 4, 20_000

    def count() -> None:
        for _ in range(calls):
            next(counters.yes)
            next(counters.variants["v1"])

    workers = [threading.Thread(target=count) for _ in range(threads_count)]
    for worker in workers:
        worker.start()
    seen = []
    while any(worker.is_alive() for worker in workers):
        seen.append(registry.totals()["a"]["yes"])
    for worker in workers:
        worker.join()
    assert seen == sorted(seen)
    expected = threads_count * calls
    assert registry.totals() == {"a": {"yes": expected, "no": 0, "variants": {"v1": expected}}}


def test_collect_returns_deltas_since_the_last_successful_send() -> None:
    registry = MetricsRegistry()
    assert registry.collect() is None  # nothing counted: nothing to send
    counters = registry.counters("a", ["v1"])
    assert counters is not None
    for _ in range(5):
        next(counters.yes)
    next(counters.no)
    next(counters.variants["v1"])
    first = registry.collect()
    assert first is not None
    assert first.toggles == {"a": {"yes": 5, "no": 1, "variants": {"v1": 1}}}
    # not sent yet: collecting again still includes everything, plus the new counts
    next(counters.yes)
    again = registry.collect()
    assert again is not None
    assert again.toggles == {"a": {"yes": 6, "no": 1, "variants": {"v1": 1}}}
    registry.mark_sent(again)
    assert registry.collect() is None
    assert registry.bucket_start == again.start  # until the send settles
    registry.settle(again, [])
    assert registry.bucket_start == again.stop
    next(counters.no)
    later = registry.collect()
    assert later is not None
    assert later.toggles == {"a": {"yes": 0, "no": 1, "variants": {}}}
    assert later.start == again.stop
    assert registry.totals() == {"a": {"yes": 6, "no": 2, "variants": {"v1": 1}}}


def test_counts_made_between_collect_and_mark_sent_are_not_lost() -> None:
    registry = MetricsRegistry()
    counters = registry.counters("a")
    assert counters is not None
    next(counters.yes)
    bucket = registry.collect()
    assert bucket is not None
    next(counters.yes)  # counted while the POST is in flight
    registry.mark_sent(bucket)
    rest = registry.collect()
    assert rest is not None and rest.toggles["a"]["yes"] == 1


IDENTITY = {"appName": "app", "instanceId": "host-1", "connectionId": "c0ffee",
            "environment": "production"}


def requests_body_size(body: dict[str, Any]) -> int:
    """Bytes of ``body`` as requests sends it for ``json=``."""
    prepared = requests.Request("POST", METRICS, json=body).prepare()
    assert isinstance(prepared.body, bytes)
    return len(prepared.body)


def count(registry: MetricsRegistry, name: str, yes: int = 0, no: int = 0,
          variants: dict[str, int] | None = None) -> None:
    counters = registry.counters(name)
    assert counters is not None
    for _ in range(yes):
        next(counters.yes)
    for _ in range(no):
        next(counters.no)
    for variant, times in (variants or {}).items():
        counter = registry.variant_counter(counters, variant)
        for _ in range(times):
            next(counter)


def test_parts_are_as_full_as_the_budget_allows_as_requests_serializes_them() -> None:
    registry = MetricsRegistry()
    odd = ["caf\u00e9-\u65e5\u672c", 'quote"back\\slash', "tab\tnew\nline", "\U0001f680"]
    for index in range(300):
        name = f"{odd[index % 4]}-{index}" if index % 3 == 0 else f"flag-{index}"
        count(registry, name, yes=index, no=index % 7 + 1,
              variants={f"v\u00e4-{index % 5}": index % 4} if index % 2 else None)
    bucket = registry.collect()
    assert bucket is not None
    budget = 2_000
    parts, left = bucket.split(IDENTITY, budget)
    assert left.toggles == {}
    assert len(parts) > 5
    merged: dict[str, Any] = {}
    for part, after in zip(parts, [*parts[1:], None], strict=True):
        body = part.body(IDENTITY)
        assert requests_body_size(body) <= budget
        assert body["appName"] == "app" and body["connectionId"] == "c0ffee"
        assert body["platformName"] and body["specVersion"]
        merged.update(part.toggles)
        if after is not None:  # the next flag did not fit: every part is full
            name, counts = next(iter(after.toggles.items()))
            fuller = {**body, "bucket": {**body["bucket"],
                                         "toggles": {**part.toggles, name: counts}}}
            assert requests_body_size(fuller) > budget
    assert list(merged) == list(bucket.toggles)
    assert merged == bucket.toggles


def test_a_flag_bigger_than_a_body_is_split_into_pieces_that_mark_their_own_counts() -> None:
    registry = MetricsRegistry()
    variants = {f"variant-{index:02d}-".ljust(30, "v"): index + 1 for index in range(40)}
    total = sum(variants.values())  # 820 get_variant calls...
    count(registry, "big", yes=total - 20, no=20 + 5, variants=variants)  # ...and 5 is_enabled
    count(registry, "small", yes=1)
    bucket = registry.collect()
    assert bucket is not None
    parts, left = bucket.split(IDENTITY, 1_000)
    assert left.toggles == {}
    pieces = [part.toggles["big"] for part in parts if "big" in part.toggles]
    assert len(pieces) > 2 and all(len(part.toggles) == 1 for part in parts[:len(pieces)])
    assert all(requests_body_size(part.body(IDENTITY)) <= 1_000 for part in parts)
    for piece in pieces[:-1]:  # as many evaluations as variant counts, so Unleash keeps them
        assert piece["yes"] + piece["no"] == sum(piece["variants"].values())
    assert sum(piece["yes"] for piece in pieces) == total - 20
    assert sum(piece["no"] for piece in pieces) == 25
    merged = {name: n for piece in pieces for name, n in piece["variants"].items()}
    assert merged == variants

    # the first piece accepted, the second refused (dropped), the rest not sent yet
    registry.mark_sent(parts[0])
    registry.mark_sent(parts[1])
    registry.settle(bucket, parts[2:])
    rest = registry.collect()
    assert rest is not None
    assert list(rest.toggles) == ["big", "small"]  # from where the send stopped
    sent = pieces[0]["variants"] | pieces[1]["variants"]
    assert rest.toggles["big"] == {
        "yes": total - 20 - pieces[0]["yes"] - pieces[1]["yes"],
        "no": 25 - pieces[0]["no"] - pieces[1]["no"],
        "variants": {name: n for name, n in variants.items() if name not in sent},
    }
    assert rest.start == bucket.start  # the bucket is not over until every part is handled


def test_counts_that_fit_in_no_body_are_left_over() -> None:
    registry = MetricsRegistry()
    count(registry, "n" * 2_000, no=3)  # a name longer than any body
    count(registry, "odd-variant", yes=4, no=1,
          variants={"v" * 2_000: 2, "fine": 3})  # one variant longer than any body
    count(registry, "fine", yes=1)
    bucket = registry.collect()
    assert bucket is not None
    parts, left = bucket.split(IDENTITY, 1_500)
    assert left.toggles == {
        "n" * 2_000: {"yes": 0, "no": 3, "variants": {}},
        "odd-variant": {"yes": 0, "no": 0, "variants": {"v" * 2_000: 2}},
    }
    assert left.evaluations == 3 and left.variant_counts == 2
    # a flag that was split has parts of its own
    assert [part.toggles for part in parts] == [
        {"odd-variant": {"yes": 4, "no": 1, "variants": {"fine": 3}}},
        {"fine": {"yes": 1, "no": 0, "variants": {}}},
    ]
    registry.mark_sent(left)
    for part in parts:
        registry.mark_sent(part)
    assert registry.collect() is None


def test_forget_unsent_drops_the_parents_counts() -> None:
    registry = MetricsRegistry()
    counters = registry.counters("a")
    assert counters is not None
    next(counters.yes)
    registry.forget_unsent()
    assert registry.collect() is None
    next(counters.no)
    bucket = registry.collect()
    assert bucket is not None and bucket.toggles == {"a": {"yes": 0, "no": 1, "variants": {}}}


def test_unknown_flag_names_are_bounded(monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(metrics_module, "MAX_UNKNOWN_FLAGS", 3)
    client = UnleashClient("", "bounded", bootstrap=payload(feature("known")))
    for index in range(10):
        client.is_enabled(f"unknown-{index}")
        client.is_enabled(f"unknown-{index}")
    client.is_enabled("known")
    totals = client.metrics.totals()
    assert set(totals) == {"known", "unknown-0", "unknown-1", "unknown-2"}
    assert totals["unknown-0"]["no"] == 2
    assert len([m for m in messages(caplog.records, logging.WARNING)
                if "unknown flag names" in m]) == 1


# -- what the client counts ----------------------------------------------------------------------


def test_exact_totals_for_flags_variants_and_unknown_names(server_api: Any) -> None:
    client = stub_client()
    for _ in range(7):
        assert client.is_enabled("on")
    for _ in range(3):
        assert not client.is_enabled("off")
    for _ in range(4):
        assert client.get_variant("colour")["name"] == "blue"
    for _ in range(2):
        assert client.get_variant("colour-off")["name"] == "disabled"
    for _ in range(5):
        assert not client.is_enabled("nobody-knows")
    assert client.get_variant("nobody-knows-either")["name"] == "disabled"
    assert client.is_enabled("nobody-knows", fallback_function=lambda name, ctx: True)

    send(client)
    (body,) = metric_bodies(server_api)
    assert body["bucket"]["toggles"] == {
        "on": {"yes": 7, "no": 0, "variants": {}},
        "off": {"yes": 0, "no": 3, "variants": {}},
        "colour": {"yes": 4, "no": 0, "variants": {"blue": 4}},
        "colour-off": {"yes": 0, "no": 2, "variants": {"disabled": 2}},
        "nobody-knows": {"yes": 1, "no": 5, "variants": {}},
        "nobody-knows-either": {"yes": 0, "no": 1, "variants": {"disabled": 1}},
    }
    assert body["appName"] == "metrics-app"
    assert body["instanceId"] == client.config.instance_id
    assert client._sync is not None
    assert body["connectionId"] == client._sync.api.connection_id
    assert body["platformName"] and body["platformVersion"] and body["specVersion"]
    client.destroy()


def test_parent_checks_of_dependent_flags_are_not_counted(server_api: Any) -> None:
    client = stub_client()
    for _ in range(3):
        assert client.is_enabled("child")
    assert client.get_variant("child")["feature_enabled"] is True
    send(client)
    (body,) = metric_bodies(server_api)
    assert body["bucket"]["toggles"] == {
        "child": {"yes": 4, "no": 0, "variants": {"disabled": 1}}}
    client.destroy()


def test_nothing_is_sent_when_nothing_was_counted(server_api: Any) -> None:
    client = stub_client()
    send(client)
    send(client)
    assert metric_bodies(server_api) == []
    client.is_enabled("on")
    send(client)
    send(client)  # the counts went out already
    assert len(metric_bodies(server_api)) == 1
    client.destroy()


def test_disable_metrics_counts_and_sends_nothing(server_api: Any) -> None:
    client = stub_client(disable_metrics=True)
    client.is_enabled("on")
    client.get_variant("colour")
    assert client.metrics.collect() is None
    client.flush_metrics()
    assert metric_bodies(server_api) == []
    client.destroy()


def test_bucket_start_and_stop_are_iso_8601_utc(server_api: Any) -> None:
    client = stub_client()
    client.is_enabled("on")
    send(client)
    client.is_enabled("on")
    send(client)
    first, second = metric_bodies(server_api)
    for body in (first, second):
        bucket = body["bucket"]
        start = datetime.fromisoformat(bucket["start"].replace("Z", "+00:00"))
        stop = datetime.fromisoformat(bucket["stop"].replace("Z", "+00:00"))
        assert bucket["start"].endswith("Z") and bucket["stop"].endswith("Z")
        assert start.tzinfo is not None and start.utcoffset() == UTC.utcoffset(None)
        assert start <= stop <= datetime.now(UTC)
    # buckets follow each other without a gap
    assert second["bucket"]["start"] == first["bucket"]["stop"]
    client.destroy()


@pytest.mark.parametrize("failure", [
    {"status": 500},
    {"status": 503},
    {"status": 429},
    {"body": requests.exceptions.ReadTimeout("timed out")},
    {"body": requests.exceptions.ConnectionError("refused")},
], ids=["500", "503", "429", "timeout", "connection-error"])
def test_a_failed_send_keeps_the_counts_for_the_next_one(
        server_api: Any, failure: dict[str, Any]) -> None:
    client = stub_client()
    for _ in range(3):
        client.is_enabled("on")
    server_api.replace(responses.POST, METRICS, **failure)
    send(client)
    client.is_enabled("on")
    client.is_enabled("off")
    send(client)  # fails again
    server_api.replace(responses.POST, METRICS, status=202)
    client.is_enabled("on")
    send(client)
    send(client)
    client.is_enabled("off")
    send(client)
    posted = [json.loads(c.request.body)["bucket"]["toggles"] for c in server_api.calls
              if c.request.url == METRICS
              and getattr(c.response, "status_code", None) == 202]
    assert posted == [
        {"on": {"yes": 5, "no": 0, "variants": {}}, "off": {"yes": 0, "no": 1, "variants": {}}},
        {"off": {"yes": 0, "no": 1, "variants": {}}},
    ]
    # every count made was sent exactly once
    assert client.metrics.totals()["on"]["yes"] == 5
    assert client.metrics.collect() is None
    client.destroy()


def test_flush_metrics_sends_now(server_api: Any) -> None:
    client = stub_client()
    client.is_enabled("on")
    client.flush_metrics()
    (body,) = metric_bodies(server_api)
    assert body["bucket"]["toggles"]["on"]["yes"] == 1
    client.destroy()


# -- destroy ------------------------------------------------------------------------------------


def test_destroy_flushes_the_last_bucket_and_stops_the_scheduler(tmp_path: Any) -> None:
    with FakeUnleashServer(payload=FLAGS) as server:
        client = UnleashClient(server.url, "destroy-app", refresh_interval=0.1,
                               metrics_interval=30, custom_headers={"Authorization": TOKEN},
                               cache_directory=str(tmp_path), request_timeout=2)
        client.initialize_client()
        wait_for(lambda: len(server.feature_gets()) >= 2, message="the poll job to run")
        assert client._sync is not None
        runner = client._sync.runner
        assert isinstance(runner, ThreadRunner) and runner.thread is not None
        thread = runner.thread
        assert thread.is_alive() and thread.name == "unleash-lite-destroy-app"
        for _ in range(9):
            client.is_enabled("on")
        client.get_variant("colour")
        assert server.metrics_posts() == []
        client.destroy()
        (post,) = server.metrics_posts()
        assert post.body["bucket"]["toggles"] == {
            "on": {"yes": 9, "no": 0, "variants": {}},
            "colour": {"yes": 1, "no": 0, "variants": {"blue": 1}},
        }
        assert not thread.is_alive()  # destroy() waited for it
        gets = len(server.feature_gets())
        assert not client.is_initialized
        # the client keeps answering from its last flags after destroy
        assert client.is_enabled("on")
        client.destroy()  # a second destroy is harmless and sends nothing new
        assert len(server.metrics_posts()) == 1
        assert len(server.feature_gets()) == gets


# -- threads ------------------------------------------------------------------------------------


def test_counting_is_exact_under_threads_while_payloads_swap() -> None:
    first = payload(feature("x", variants=variants("a")), feature("y"))
    second = payload(feature("x", enabled=False, variants=variants("a")),
                     feature("z", variants=variants("b", "c")))
    client = UnleashClient("", "threads", bootstrap=first)
    threads_count, calls = 8, 20_000
    stop = threading.Event()
    errors: list[BaseException] = []
    swaps = [0]
    swapping_started = threading.Event()

    def swapper() -> None:
        try:
            while not stop.is_set():
                client.apply_payload(second if swaps[0] % 2 else first)
                swaps[0] += 1
                swapping_started.set()
        except BaseException as error:
            errors.append(error)

    def worker(index: int) -> None:
        try:
            swapping_started.wait(5)
            name = ("x", "y", "z")[index % 3]
            for call in range(calls):
                if call % 2:
                    client.is_enabled(name, {"userId": str(call)})
                else:
                    client.get_variant(name, {"userId": str(call)})
        except BaseException as error:
            errors.append(error)

    swapping = threading.Thread(target=swapper)
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
    with frequent_thread_switches():
        swapping.start()
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(60)
        stop.set()
        swapping.join(10)
    assert not errors
    assert swaps[0] >= 2
    totals = client.metrics.totals()
    per_flag = {"x": 0, "y": 0, "z": 0}
    for index in range(threads_count):
        per_flag[("x", "y", "z")[index % 3]] += calls
    for name, expected in per_flag.items():
        counted = totals[name]
        assert counted["yes"] + counted["no"] == expected, (name, counted)
        variant_total = sum(counted["variants"].values())
        assert variant_total == expected // 2, (name, counted)
    bucket = client.metrics.collect()
    assert bucket is not None
    assert sum(t["yes"] + t["no"] for t in bucket.toggles.values()) == threads_count * calls
    assert sum(sum(t["variants"].values()) for t in bucket.toggles.values()) == \
        threads_count * calls // 2
