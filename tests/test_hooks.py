"""Evaluation hooks (``hooks=[...]``): when they run, what they see, and that they never
change an answer or cost a client without them anything."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.payloads import constraint, feature, payload, strategy, variant
from unleash_lite import (
    AsyncUnleashClient,
    EvaluationResult,
    EvaluationSeries,
    Hook,
    Reason,
    UnleashClient,
)
from unleash_lite.context import request_context
from unleash_lite.hooks import add_global_hook, global_hooks, remove_global_hook

FLAGS = payload(
    feature("on"),
    feature("user-42", [strategy(constraints=[constraint("userId", "IN", ["42"])])]),
    feature("colors", variants=[variant("blue")]),
)


class Recorder(Hook):
    """Records every call, tagged with its own name."""

    def __init__(self, tag: str, calls: list[tuple[Any, ...]], read_detail: bool = True) -> None:
        self.tag = tag
        self.calls = calls
        self.read_detail = read_detail

    def before_evaluation(self, series: EvaluationSeries) -> Any:
        self.calls.append((self.tag, "before", series.method, series.flag_name))
        return f"{self.tag}-data"

    def after_evaluation(
        self, series: EvaluationSeries, data: Any, result: EvaluationResult
    ) -> None:
        reason = result.detail.reason if self.read_detail else None
        self.calls.append(
            (self.tag, "after", series.method, series.flag_name, data, result.enabled, reason)
        )


class Failing(Hook):
    name = "failing"

    def before_evaluation(self, series: EvaluationSeries) -> Any:
        raise RuntimeError("before")

    def after_evaluation(
        self, series: EvaluationSeries, data: Any, result: EvaluationResult
    ) -> None:
        raise RuntimeError("after")


@pytest.fixture(params=["sync", "async"])
def make(request: pytest.FixtureRequest) -> Iterator[Any]:
    kind = UnleashClient if request.param == "sync" else AsyncUnleashClient
    made: list[Any] = []

    def build(**options: Any) -> Any:
        client = kind("", "hooked", bootstrap=FLAGS, **options)
        made.append(client)
        return client

    yield build
    for client in made:
        client._release()


def test_hooks_run_in_order_before_and_in_reverse_after(make: Any) -> None:
    calls: list[tuple[Any, ...]] = []
    client = make(hooks=[Recorder("a", calls), Recorder("b", calls)])
    assert client.is_enabled("on") is True
    assert calls == [
        ("a", "before", "is_enabled", "on"),
        ("b", "before", "is_enabled", "on"),
        ("b", "after", "is_enabled", "on", "b-data", True, Reason.STRATEGY_MATCHED),
        ("a", "after", "is_enabled", "on", "a-data", True, Reason.STRATEGY_MATCHED),
    ]


def test_each_evaluation_method_runs_the_hooks_and_diagnostics_do_not(make: Any) -> None:
    calls: list[tuple[Any, ...]] = []
    client = make(hooks=[Recorder("a", calls)])
    client.get_variant("colors", {"userId": "1"})
    client.evaluate("user-42", {"userId": "42"})
    client.is_enabled("nope", fallback_function=lambda name, context: True)
    client.explain("on")
    client.all_flags()
    afters = [call for call in calls if call[1] == "after"]
    assert afters == [
        ("a", "after", "get_variant", "colors", "a-data", True, Reason.STRATEGY_MATCHED),
        ("a", "after", "evaluate", "user-42", "a-data", True, Reason.STRATEGY_MATCHED),
        # enabled is the fallback's answer; the detail says the flag is unknown
        ("a", "after", "is_enabled", "nope", "a-data", True, Reason.UNKNOWN_FLAG),
    ]


def test_the_variant_reaches_the_hook(make: Any) -> None:
    seen: list[Any] = []

    class Variants(Hook):
        def after_evaluation(self, series: Any, data: Any, result: EvaluationResult) -> None:
            seen.append(result.variant)

    client = make(hooks=[Variants()])
    client.get_variant("colors", {"userId": "1"})
    client.is_enabled("colors")
    assert seen[0]["name"] == "blue" and seen[1] is None


def test_the_detail_is_computed_only_when_a_hook_reads_it(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    client = make(hooks=[Recorder("lazy", calls, read_detail=False)])
    explained: list[str] = []
    original = type(client).explain

    def counting(self: Any, name: str, *rest: Any) -> Any:
        explained.append(name)
        return original(self, name, *rest)

    monkeypatch.setattr(type(client), "explain", counting)
    client.is_enabled("on")
    client.get_variant("colors")
    assert explained == []
    client.evaluate("on")  # evaluate's own detail is handed over as it is
    assert explained == []


def test_a_failing_hook_never_changes_the_answer_and_is_logged_once(
    make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[tuple[Any, ...]] = []
    client = make(hooks=[Failing(), Recorder("after-it", calls)])
    with caplog.at_level(logging.DEBUG, logger="unleash_lite"):
        for _ in range(3):
            assert client.is_enabled("user-42", {"userId": "42"}) is True
            assert client.get_variant("colors", {"userId": "1"})["name"] == "blue"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "Unleash hook failing failed (the evaluation goes on; later failures of this hook "
        "are logged at DEBUG)"
    ]
    assert sum("failing failed again" in r.getMessage() for r in caplog.records) == 11
    assert len([call for call in calls if call[1] == "after"]) == 6  # the others still ran


def test_hooks_see_the_request_context_merged_in(make: Any) -> None:
    contexts: list[Any] = []

    class Contexts(Hook):
        def before_evaluation(self, series: EvaluationSeries) -> Any:
            contexts.append(dict(series.context))

    client = make(hooks=[Contexts()], use_request_context=True)
    with request_context({"userId": "42"}):
        assert client.is_enabled("user-42", {"sessionId": "s"})
    assert contexts == [{"userId": "42", "sessionId": "s"}]


def test_a_client_without_hooks_runs_none_of_their_code(make: Any) -> None:
    client = make()
    assert not {"is_enabled", "get_variant", "evaluate"} & set(vars(client))


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        ("tracing", "hooks must be a list of hooks, not str"),
        ({"a": 1}, "hooks must be a list of hooks, not dict"),
        ([object()], r"hooks\[0\] \(object\) has neither before_evaluation"),
    ],
)
def test_unusable_hooks_fail_fast_naming_the_keyword(make: Any, hooks: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        make(hooks=hooks)


def test_a_global_hook_runs_in_every_client_created_while_it_is_registered(make: Any) -> None:
    calls: list[tuple[Any, ...]] = []
    before = make()
    everywhere = Recorder("global", calls, read_detail=False)
    add_global_hook(everywhere)
    try:
        during = make(hooks=[Recorder("own", calls, read_detail=False)])
    finally:
        remove_global_hook(everywhere)
    after = make()
    assert global_hooks() == ()
    for client in (before, during, after):
        client.is_enabled("on")
    assert [call[:2] for call in calls] == [  # only the client made meanwhile, global first
        ("global", "before"),
        ("own", "before"),
        ("own", "after"),
        ("global", "after"),
    ]


def test_a_global_hook_is_checked_like_the_keyword() -> None:
    with pytest.raises(TypeError, match="neither before_evaluation nor after_evaluation"):
        add_global_hook(object())  # type: ignore[arg-type]
    assert global_hooks() == ()
