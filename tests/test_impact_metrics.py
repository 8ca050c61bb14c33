"""Impact metrics: definitions, labels from flag answers, counters, gauges, histograms,
what is reported between sends, and exact recording under threads."""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import pytest

from tests.support.doubles import DictCache
from tests.support.helpers import frequent_thread_switches, messages
from tests.support.payloads import feature, payload, variants
from unleash_lite import ImpactMetrics, MetricFlagContext, UnleashClient
from unleash_lite.impact_metrics import DEFAULT_BUCKETS, FOLD_AT, environment_of, wire_metrics

BASE = {"appName": "app", "environment": "production"}
ANSWERS = {  # flag -> its variant dict, as get_variant answers
    "with-variant": {"name": "blue", "enabled": True, "feature_enabled": True},
    "on": {"name": "disabled", "enabled": False, "feature_enabled": True},
    "off": {"name": "disabled", "enabled": False, "feature_enabled": False},
}


def fixed_answers(flag: str, context: dict[str, Any]) -> dict[str, Any]:
    return ANSWERS[flag]


def new_impact() -> ImpactMetrics:
    return ImpactMetrics("app", "production", fixed_answers)


def send(impact: ImpactMetrics) -> list[dict[str, Any]]:
    """What a send would carry, marked sent as if the server accepted it."""
    samples = impact.collect()
    impact.mark_sent(samples)
    return wire_metrics(samples)


def values(sent: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {metric["name"]: [s["value"] for s in metric["samples"]] for metric in sent}


# -- labels ------------------------------------------------------------------------------------


def test_every_value_carries_the_app_name_and_environment() -> None:
    impact = new_impact()
    impact.define_counter("requests", "Requests served")
    impact.increment_counter("requests")
    assert send(impact) == [
        {
            "name": "requests",
            "help": "Requests served",
            "type": "counter",
            "samples": [{"labels": BASE, "value": 1}],
        }
    ]


def test_flag_answers_become_labels() -> None:
    impact = new_impact()
    impact.define_counter("checkouts", "Checkouts")
    context = MetricFlagContext(["with-variant", "on", "off"], {"userId": "7"})
    impact.increment_counter("checkouts", 2, context)
    impact.increment_counter("checkouts", 1, context)
    impact.increment_counter("checkouts")
    (metric,) = send(impact)
    assert metric["samples"] == [
        {"labels": BASE, "value": 1},
        {
            "labels": {**BASE, "with-variant": "blue", "on": "enabled", "off": "disabled"},
            "value": 3,
        },
    ]


def test_a_flag_whose_answer_fails_is_labelled_disabled() -> None:
    impact = new_impact()
    impact.define_gauge("queue", "Queue length")
    impact.update_gauge("queue", 4, MetricFlagContext(["missing"], {}))  # KeyError inside
    (metric,) = send(impact)
    assert metric["samples"] == [{"labels": {**BASE, "missing": "disabled"}, "value": 4}]


def test_the_environment_comes_from_the_api_token_when_it_names_one() -> None:
    assert environment_of("*:development.abc123", "production") == "development"
    assert environment_of("default:staging.abc", "production") == "staging"
    assert environment_of("an-opaque-token", "production") == "production"
    assert environment_of("", "production") == "production"
    assert environment_of("project:.abc", "production") == "production"


FLAGS = payload(
    feature("plain"),
    feature("colour", variants=variants("blue")),
    feature("dark", enabled=False),
)


def test_the_client_labels_with_its_flags_without_counting_them_as_usage() -> None:
    events: list[Any] = []
    client = UnleashClient(
        "",
        "labels-app",
        environment="production",
        bootstrap=FLAGS,
        cache=DictCache(),
        custom_headers={"Authorization": "*:development.secret"},
        event_callback=events.append,
    )
    try:
        impact = client.impact_metrics
        impact.define_counter("orders", "Orders")
        flags = MetricFlagContext(["plain", "colour", "dark", "unknown"], {"userId": "1"})
        impact.increment_counter("orders", flag_context=flags)
        (metric,) = send(impact)
        assert metric["samples"] == [
            {
                "labels": {
                    "appName": "labels-app",
                    "environment": "development",  # from the token, as the official SDK
                    "plain": "enabled",
                    "colour": "blue",
                    "dark": "disabled",
                    "unknown": "disabled",
                },
                "value": 1,
            }
        ]
        assert client.metrics.collect() is None  # the label lookups counted nothing
        assert events == []
    finally:
        client.destroy()


# -- counters ------------------------------------------------------------------------------------


def test_a_counter_reports_its_increase_since_the_last_accepted_send() -> None:
    impact = new_impact()
    impact.define_counter("c", "help")
    impact.increment_counter("c", 5)
    impact.increment_counter("c")
    unsent = impact.collect()  # a send that fails: nothing marked
    assert values(wire_metrics(unsent)) == {"c": [6]}
    impact.increment_counter("c", 2)
    assert values(send(impact)) == {"c": [8]}
    assert send(impact) == []  # accepted: never again
    impact.increment_counter("c")
    assert values(send(impact)) == {"c": [1]}


def test_increments_made_between_collect_and_mark_sent_go_out_next() -> None:
    impact = new_impact()
    impact.define_counter("c", "help")
    impact.increment_counter("c", 3)
    samples = impact.collect()
    impact.increment_counter("c", 4)
    impact.increment_counter("c")
    impact.mark_sent(samples)
    assert values(send(impact)) == {"c": [5]}


def test_counter_increments_that_are_not_positive_finite_numbers_are_ignored() -> None:
    impact = new_impact()
    impact.define_counter("c", "help")
    for value in (0, -3, math.nan, math.inf):
        impact.increment_counter("c", value)  # type: ignore[arg-type]
    assert send(impact) == []
    impact.increment_counter("c", 2.5)  # type: ignore[arg-type]
    assert values(send(impact)) == {"c": [2.5]}


# -- gauges --------------------------------------------------------------------------------------


def test_a_gauge_reports_its_last_value_once_per_change() -> None:
    impact = new_impact()
    impact.define_gauge("g", "help")
    impact.update_gauge("g", 3.5)
    impact.update_gauge("g", -1.25)
    assert values(send(impact)) == {"g": [-1.25]}
    assert send(impact) == []  # unchanged: not sent again
    impact.update_gauge("g", 7)
    failed = impact.collect()
    assert values(wire_metrics(failed)) == {"g": [7]}
    assert values(send(impact)) == {"g": [7]}  # the failed send's value goes out next
    impact.update_gauge("g", 7)  # set again, same value: still a report
    assert values(send(impact)) == {"g": [7]}


def test_a_gauge_updated_between_collect_and_mark_sent_is_sent_again() -> None:
    impact = new_impact()
    impact.define_gauge("g", "help")
    impact.update_gauge("g", 1)
    samples = impact.collect()
    impact.update_gauge("g", 2)
    impact.mark_sent(samples)
    assert values(send(impact)) == {"g": [2]}


def test_non_finite_gauge_values_are_ignored() -> None:
    impact = new_impact()
    impact.define_gauge("g", "help")
    impact.update_gauge("g", math.nan)
    impact.update_gauge("g", -math.inf)
    assert send(impact) == []


# -- histograms ----------------------------------------------------------------------------------


def test_a_histogram_has_the_default_buckets_upper_bounds_inclusive() -> None:
    impact = new_impact()
    impact.define_histogram("latency", "Latency in seconds")
    for value in (0.005, 0.3, 1.0, 20):
        impact.observe_histogram("latency", value)
    (metric,) = send(impact)
    assert (metric["name"], metric["type"]) == ("latency", "histogram")
    (sample,) = metric["samples"]
    assert sample["labels"] == BASE
    assert (sample["count"], sample["sum"]) == (4, pytest.approx(21.305))
    assert [bucket["le"] for bucket in sample["buckets"]] == [*DEFAULT_BUCKETS, "+Inf"]
    cumulative = dict((b["le"], b["count"]) for b in sample["buckets"])
    assert cumulative[0.005] == 1 and cumulative[0.25] == 1
    assert cumulative[0.5] == 2 and cumulative[1.0] == 3 and cumulative[10.0] == 3
    assert cumulative["+Inf"] == 4


def test_histogram_buckets_are_sorted_deduplicated_and_finite() -> None:
    impact = new_impact()
    impact.define_histogram("h", "help", [5, 0.5, 1, 1.0, math.inf, math.nan])
    impact.observe_histogram("h", 0.7)
    impact.observe_histogram("h", 1)
    impact.observe_histogram("h", 100)
    (metric,) = send(impact)
    assert metric["samples"] == [
        {
            "labels": BASE,
            "count": 3,
            "sum": 101.7,
            "buckets": [
                {"le": 0.5, "count": 0},
                {"le": 1.0, "count": 2},
                {"le": 5.0, "count": 2},
                {"le": "+Inf", "count": 3},
            ],
        }
    ]


def test_a_histogram_reports_only_new_observations() -> None:
    impact = new_impact()
    impact.define_histogram("h", "help", [1])
    impact.observe_histogram("h", 0.5)
    assert send(impact)[0]["samples"][0]["count"] == 1
    assert send(impact) == []
    impact.observe_histogram("h", 2)
    impact.observe_histogram("h", math.nan)  # ignored
    (sample,) = send(impact)[0]["samples"]
    assert (sample["count"], sample["sum"]) == (1, 2)
    assert sample["buckets"] == [{"le": 1.0, "count": 0}, {"le": "+Inf", "count": 1}]


# -- definitions ---------------------------------------------------------------------------------


def test_recording_an_undefined_metric_records_nothing_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    impact = new_impact()
    impact.define_gauge("g", "help")
    for _ in range(3):
        impact.increment_counter("nope")
        impact.increment_counter("g")  # a gauge, not a counter
    impact.observe_histogram("nope-either", 1)
    assert send(impact) == []
    assert messages(caplog.records, logging.WARNING) == [
        "Impact metric 'nope' is not defined; define it with define_counter() first; "
        "not recording it",
        "Impact metric 'g' is a gauge; define it with define_counter() first; not recording it",
        "Impact metric 'nope-either' is not defined; define it with define_histogram() first; "
        "not recording it",
    ]


def test_the_first_definition_of_a_name_wins(caplog: pytest.LogCaptureFixture) -> None:
    impact = new_impact()
    impact.define_counter("c", "first")
    impact.define_counter("c", "second")
    impact.define_gauge("c", "a gauge now")
    impact.increment_counter("c")
    impact.update_gauge("c", 1)  # not a gauge: warned, not recorded
    (metric,) = send(impact)
    assert (metric["help"], metric["type"], metric["samples"][0]["value"]) == (
        "first",
        "counter",
        1,
    )
    assert messages(caplog.records, logging.WARNING)[0] == (
        "Impact metric 'c' is already a counter; not defining it as a gauge"
    )


def test_forget_unsent_marks_everything_recorded_as_sent() -> None:
    impact = new_impact()
    impact.define_counter("c", "help")
    impact.define_histogram("h", "help")
    impact.increment_counter("c", 3)
    impact.observe_histogram("h", 1)
    impact.forget_unsent()
    assert send(impact) == []
    impact.increment_counter("c")
    assert values(send(impact)) == {"c": [1]}


# -- threads -------------------------------------------------------------------------------------


def test_recording_is_exact_under_threads_while_sends_happen() -> None:
    """Threads record while a reporter keeps sending: what was sent adds up exactly."""
    impact = new_impact()
    impact.define_counter("c", "help")
    impact.define_histogram("h", "help", [1])
    threads_count, calls = 4, 5 * FOLD_AT
    flags = MetricFlagContext(["on"], {})

    def record() -> None:
        for index in range(calls):
            impact.increment_counter("c")
            impact.increment_counter("c", 2, flags)
            impact.observe_histogram("h", 0.5 if index % 2 else 3)

    totals: dict[tuple[str, str], float] = {}

    def account(sent: list[dict[str, Any]]) -> None:
        for metric in sent:
            for sample in metric["samples"]:
                key = (metric["name"], sample["labels"].get("on", ""))
                if metric["type"] == "histogram":
                    totals[("h-count", "")] = totals.get(("h-count", ""), 0) + sample["count"]
                    totals[("h-low", "")] = (
                        totals.get(("h-low", ""), 0) + sample["buckets"][0]["count"]
                    )
                    totals[("h-sum", "")] = totals.get(("h-sum", ""), 0) + sample["sum"]
                else:
                    totals[key] = totals.get(key, 0) + sample["value"]

    with frequent_thread_switches():
        workers = [threading.Thread(target=record) for _ in range(threads_count)]
        for worker in workers:
            worker.start()
        while any(worker.is_alive() for worker in workers):
            account(send(impact))
        for worker in workers:
            worker.join()
    account(send(impact))
    made = threads_count * calls
    assert totals == {
        ("c", ""): made,
        ("c", "enabled"): 2 * made,
        ("h-count", ""): made,
        ("h-low", ""): made // 2,
        ("h-sum", ""): made // 2 * 0.5 + made // 2 * 3,
    }


def test_the_same_flags_in_another_order_record_in_the_same_series() -> None:
    impact = new_impact()
    impact.define_counter("c", "help")
    impact.increment_counter("c", 1, MetricFlagContext(["on", "off"], {}))
    impact.increment_counter("c", 2, MetricFlagContext(["off", "on"], {}))
    impact.increment_counter("c", 4, MetricFlagContext(["off", "on", "off"], {}))
    (metric,) = send(impact)
    assert metric["samples"] == [
        {"labels": {**BASE, "on": "enabled", "off": "disabled"}, "value": 7}
    ]


def test_a_flag_named_like_a_base_label_replaces_it() -> None:
    impact = ImpactMetrics("app", "production", lambda flag, context: ANSWERS["on"])
    impact.define_counter("c", "help")
    impact.increment_counter("c", 1, MetricFlagContext(["environment"], {}))
    (metric,) = send(impact)
    assert metric["samples"] == [
        {"labels": {"appName": "app", "environment": "enabled"}, "value": 1}
    ]
