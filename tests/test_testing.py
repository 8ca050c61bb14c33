"""FakeUnleash: a client that answers what the test says, with the real client's shapes."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.support.payloads import (
    constraint,
    delta,
    feature,
    feature_removed,
    feature_updated,
    payload,
    segment,
    segment_updated,
    strategy,
    variant,
)
from unleash_lite import Context, PayloadError, Reason, UnleashClient
from unleash_lite.testing import Evaluation, FakeUnleash

EXAMPLE_FLAGS = str(resources.files("unleash_lite.examples") / "flags.json")
DOCS = Path(__file__).resolve().parent.parent / "docs"
OFF = {"name": "disabled", "enabled": False, "feature_enabled": False}
ON_WITHOUT_VARIANT = {"name": "disabled", "enabled": False, "feature_enabled": True}


@pytest.fixture
def fake() -> FakeUnleash:
    return FakeUnleash()


def real_client(flags: Mapping[str, Any] | str) -> UnleashClient:
    return UnleashClient(url="", app_name="fake-unleash", bootstrap=flags)


# -- a drop-in client ---------------------------------------------------------------------


def test_it_is_a_client_and_takes_the_official_keywords() -> None:
    fake = FakeUnleash(
        "https://unleash.example.com/api",
        "my-app",
        custom_headers={"Authorization": "secret"},
        refresh_interval=1,
        metrics_interval=1,
        cache_directory="/nonexistent",
        instance_id="x",
    )
    assert isinstance(fake, UnleashClient)
    assert fake.config.app_name == "my-app"
    assert fake.cache is None  # offline: no cache file, whatever the keywords say
    assert fake.is_ready() and fake.wait_until_ready(0)
    assert fake.unleash_bootstrapped is False


def test_a_misspelt_keyword_is_refused() -> None:
    with pytest.raises(TypeError, match="bootstap"):
        FakeUnleash(bootstap="flags.json")


def test_lifecycle_starts_no_thread_and_touches_no_network() -> None:
    before = set(threading.enumerate())
    with FakeUnleash(url="http://127.0.0.1:9/api", app_name="app") as fake:
        assert fake.is_initialized
        fake.enable("x")
        assert fake.is_enabled("x")
        fake.flush_metrics()
        assert set(threading.enumerate()) == before
    assert not fake.is_initialized
    assert set(threading.enumerate()) == before


def test_initialize_and_destroy_as_the_real_client(fake: FakeUnleash) -> None:
    fake.initialize_client()
    assert fake.is_initialized
    fake.destroy()
    assert not fake.is_initialized
    fake.enable("still-answers")
    assert fake.is_enabled("still-answers")


def test_unknown_flags_answer_like_the_real_client(fake: FakeUnleash) -> None:
    real = real_client(payload())
    assert fake.is_enabled("unknown") is real.is_enabled("unknown") is False
    assert fake.get_variant("unknown") == real.get_variant("unknown") == OFF
    assert fake.is_enabled("unknown", fallback_function=lambda name, ctx: name == "unknown")
    assert fake.explain("unknown").reason is Reason.UNKNOWN_FLAG
    assert fake.feature_definitions() == {}


# -- enable, disable, conditions ----------------------------------------------------------


def test_enable_and_disable_several_flags(fake: FakeUnleash) -> None:
    fake.enable("a", "b")
    fake.disable("c")
    assert (fake.is_enabled("a"), fake.is_enabled("b"), fake.is_enabled("c")) == (
        True,
        True,
        False,
    )
    assert fake.get_variant("a") == ON_WITHOUT_VARIANT
    assert fake.get_variant("c") == OFF
    assert fake.explain("c").reason is Reason.DISABLED
    assert set(fake.feature_definitions()) == {"a", "b", "c"}


def test_the_last_call_wins(fake: FakeUnleash) -> None:
    fake.enable("x", for_users=["1"])
    fake.disable("x")
    assert not fake.is_enabled("x", {"userId": "1"})
    fake.enable("x")
    assert fake.is_enabled("x", {"userId": "2"})


def test_enable_for_users(fake: FakeUnleash) -> None:
    fake.enable("beta", for_users=["1", 2])
    assert fake.is_enabled("beta", {"userId": "1"})
    assert fake.is_enabled("beta", Context(user_id="2"))
    assert fake.is_enabled("beta", {"userId": 2})  # compared as text, as Unleash does
    assert not fake.is_enabled("beta", {"userId": "3"})
    assert not fake.is_enabled("beta")
    explanation = fake.explain("beta", {"userId": "3"})
    assert explanation.reason is Reason.NO_STRATEGY_MATCHED
    assert "userId IN [1, 2]" in explanation.message
    assert "'3'" in explanation.message


def test_enable_when_context_fields_match(fake: FakeUnleash) -> None:
    fake.enable("nordic", when={"country": ["NO", "SE"], "beta": True})
    assert fake.is_enabled("nordic", {"properties": {"country": "NO", "beta": "true"}})
    assert fake.is_enabled("nordic", Context(country="SE", beta=True))
    assert fake.is_enabled("nordic", {"country": "SE", "beta": True})  # top-level fields too
    assert not fake.is_enabled("nordic", Context(country="DK", beta=True))
    assert not fake.is_enabled("nordic", Context(country="NO"))  # every field must match


def test_enable_when_standard_fields_match(fake: FakeUnleash) -> None:
    fake.enable("staging-only", when={"environment": "staging"})
    assert not fake.is_enabled("staging-only")  # the fake's environment is "default"
    staging = FakeUnleash(environment="staging")
    staging.enable("staging-only", when={"environment": "staging"})
    assert staging.is_enabled("staging-only")


def test_enable_when_a_predicate_holds(fake: FakeUnleash) -> None:
    seen: list[Mapping[str, Any]] = []

    def staff(context: Mapping[str, Any]) -> bool:
        seen.append(context)
        return str(context.get("userId", "")).startswith("staff-")

    fake.enable("internal", when=staff)
    assert fake.is_enabled("internal", {"userId": "staff-1"})
    assert not fake.is_enabled("internal", {"userId": "42"})
    assert not fake.is_enabled("internal")
    assert seen[0] == {"userId": "staff-1", "appName": "fake-unleash", "environment": "default"}
    assert fake.explain("internal", {"userId": "staff-1"}).reason is Reason.STRATEGY_MATCHED


def test_a_new_predicate_replaces_the_old_one(fake: FakeUnleash) -> None:
    fake.enable("x", when=lambda context: True)
    fake.enable("x", when=lambda context: False)
    assert not fake.is_enabled("x")
    fake.enable("x", when=lambda context: True)
    assert fake.is_enabled("x")


def test_a_raising_predicate_counts_as_not_matching(
    fake: FakeUnleash, caplog: pytest.LogCaptureFixture
) -> None:
    fake.enable("x", when=lambda context: context["properties"]["plan"] == "pro")
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        assert fake.is_enabled("x") is False
    assert "when= predicate of 'x' raised" in caplog.text
    assert fake.is_enabled("x", Context(plan="pro"))


def test_conditions_given_together_must_all_hold(fake: FakeUnleash) -> None:
    fake.enable("x", for_users=["1", "2"], when=lambda context: context.get("sessionId") == "s")
    assert fake.is_enabled("x", {"userId": "1", "sessionId": "s"})
    assert not fake.is_enabled("x", {"userId": "1"})
    assert not fake.is_enabled("x", {"userId": "3", "sessionId": "s"})


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda fake: fake.enable(), ValueError),
        (lambda fake: fake.enable(""), ValueError),
        (lambda fake: fake.disable(3), ValueError),
        (lambda fake: fake.enable("x", when=5), TypeError),
        (lambda fake: fake.enable("x", when={"country": None}), ValueError),
        (lambda fake: fake.enable("x", for_users=[None]), ValueError),
        (lambda fake: fake.set_variant("x", ""), ValueError),
        (lambda fake: fake.set_variant("x", "v", payload=object()), TypeError),
    ],
)
def test_mistakes_are_refused(fake: FakeUnleash, call: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        call(fake)
    assert fake.feature_definitions() == {}


# -- variants -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        ("hello", {"type": "string", "value": "hello"}),
        (42, {"type": "number", "value": "42"}),
        (2.5, {"type": "number", "value": "2.5"}),
        ({"headline": "Hi"}, {"type": "json", "value": '{"headline": "Hi"}'}),
        ([1, 2], {"type": "json", "value": "[1, 2]"}),
        ({"type": "csv", "value": "a,b"}, {"type": "csv", "value": "a,b"}),
        # Not the official form (unknown payload type): an ordinary JSON object.
        ({"type": "x", "value": "y"}, {"type": "json", "value": '{"type": "x", "value": "y"}'}),
    ],
)
def test_set_variant_answers_as_the_real_client(
    fake: FakeUnleash, given: object, expected: dict[str, str] | None
) -> None:
    fake.set_variant("pricing", "blue", payload=given)
    answer = fake.get_variant("pricing", {"userId": "7"})
    official: dict[str, Any] = {"name": "blue"}
    if expected is not None:
        official["payload"] = expected
    real = real_client(payload())
    with real.override({"pricing": official}):
        assert answer == real.get_variant("pricing", {"userId": "7"})
    assert answer == {"name": "blue", "enabled": True, "feature_enabled": True} | (
        {"payload": expected} if expected is not None else {}
    )
    assert fake.is_enabled("pricing")


def test_a_variant_follows_the_flags_rule(fake: FakeUnleash) -> None:
    fake.enable("pricing", for_users=["1"])
    fake.set_variant("pricing", "blue", "b")
    assert fake.get_variant("pricing", {"userId": "1"})["name"] == "blue"
    assert fake.get_variant("pricing", {"userId": "2"}) == OFF
    fake.disable("pricing")
    assert fake.get_variant("pricing", {"userId": "1"}) == OFF
    fake.enable("pricing")  # the variant is remembered
    assert fake.get_variant("pricing", {"userId": "2"})["payload"] == {
        "type": "string",
        "value": "b",
    }


def test_set_variant_again_replaces_it(fake: FakeUnleash) -> None:
    fake.set_variant("pricing", "blue", {"n": 1})
    fake.set_variant("pricing", "green")
    assert fake.get_variant("pricing") == {
        "name": "green",
        "enabled": True,
        "feature_enabled": True,
    }


# -- enable_all, disable_all --------------------------------------------------------------


def test_enable_all_turns_unknown_flags_on(fake: FakeUnleash) -> None:
    fake.enable_all()
    assert fake.is_enabled("anything")
    assert fake.is_enabled("anything", fallback_function=lambda name, context: False)
    assert fake.get_variant("anything") == ON_WITHOUT_VARIANT
    explanation = fake.explain("anything")
    assert (explanation.enabled, explanation.reason) == (True, Reason.FALLBACK)
    assert "enable_all" in explanation.message
    fake.disable_all()
    assert not fake.is_enabled("anything", fallback_function=lambda name, context: True)
    assert fake.get_variant("anything") == OFF
    assert fake.explain("anything").enabled is False


def test_rules_win_over_enable_all_in_any_order(fake: FakeUnleash) -> None:
    fake.disable("legacy")
    fake.enable_all()
    fake.enable("beta", for_users=["1"])
    assert fake.is_enabled("other")
    assert not fake.is_enabled("legacy")
    assert not fake.is_enabled("beta", {"userId": "2"})
    fake.set_variant("pricing", "blue")
    fake.disable_all()
    assert fake.get_variant("pricing")["name"] == "blue"
    assert not fake.is_enabled("other")


def test_enable_all_covers_bootstrapped_flags() -> None:
    fake = FakeUnleash(
        bootstrap=payload(
            feature(
                "off",
                enabled=False,
                variants=[variant("v", payload={"type": "string", "value": "p"})],
            ),
            feature("targeted", [strategy(constraints=[constraint("userId", "IN", ["1"])])]),
        )
    )
    assert not fake.is_enabled("off")
    fake.enable_all()
    assert fake.is_enabled("off") and fake.is_enabled("targeted", {"userId": "2"})
    assert fake.get_variant("off")["payload"] == {"type": "string", "value": "p"}
    fake.disable_all()
    assert not fake.is_enabled("targeted", {"userId": "1"})
    fake.reset()
    assert fake.is_enabled("targeted", {"userId": "1"})  # the definitions answer again
    assert not fake.is_enabled("targeted", {"userId": "2"})


def test_override_wins_over_enable_all(fake: FakeUnleash) -> None:
    fake.enable_all()
    with fake.override({"new": False, "variant": "blue"}):
        assert not fake.is_enabled("new")
        assert fake.get_variant("new") == OFF
        assert fake.explain("new").reason is Reason.OVERRIDDEN
        assert fake.get_variant("variant")["name"] == "blue"
    assert fake.is_enabled("new")


# -- real definitions ---------------------------------------------------------------------


def test_bootstrap_runs_real_definitions_as_the_real_client() -> None:
    fake = FakeUnleash(app_name="demo", bootstrap=EXAMPLE_FLAGS)
    real = UnleashClient(url="", app_name="demo", bootstrap=EXAMPLE_FLAGS)
    assert fake.unleash_bootstrapped
    assert fake.feature_definitions() == real.feature_definitions()
    contexts = [
        Context(user_id=str(n), country=country, appVersion=version, email=f"u{n}@example.com")
        for n in range(40)
        for country, version in (("NO", "3.1.0"), ("DK", "2.0.0"))
    ]
    for name in real.feature_definitions():
        for context in contexts:
            assert fake.is_enabled(name, context) is real.is_enabled(name, context), name
            assert fake.get_variant(name, context) == real.get_variant(name, context), name
            assert fake.explain(name, context) == real.explain(name, context), name


def test_a_rule_replaces_a_bootstrapped_definition() -> None:
    fake = FakeUnleash(bootstrap=EXAMPLE_FLAGS)
    assert not fake.is_enabled("maintenance-banner")
    fake.enable("maintenance-banner", for_users=["1"])
    assert fake.is_enabled("maintenance-banner", {"userId": "1"})
    assert fake.feature_definitions()["maintenance-banner"] == {
        "type": "kill-switch",
        "project": "default",
    }
    fake.reset()
    assert not fake.is_enabled("maintenance-banner", {"userId": "1"})


def test_a_bad_bootstrap_is_an_error_not_a_log_line(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="cannot read bootstrap file"):
        FakeUnleash(bootstrap=str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="not valid JSON"):
        FakeUnleash(bootstrap="{not json")


def test_apply_payload_loads_definitions_under_the_rules(fake: FakeUnleash) -> None:
    fake.disable("kept")
    fake.apply_payload(payload(feature("kept"), feature("loaded")))
    assert fake.is_enabled("loaded") and not fake.is_enabled("kept")
    fake.apply_payload(delta(feature_updated(feature("loaded", enabled=False))))
    assert not fake.is_enabled("loaded")
    assert not fake.is_enabled("kept")


def test_deltas_fold_into_the_real_definitions_as_in_the_real_client(fake: FakeUnleash) -> None:
    staff = segment(1, constraint("email", "STR_ENDS_WITH", ["@example.com"]))
    fake.apply_payload(
        payload(feature("staff", [strategy(segments=[1])]), feature("gone"), segments=[staff])
    )
    fake.enable("ruled")
    fake.apply_payload(
        delta(
            feature_removed("gone"),
            segment_updated(segment(1, constraint("email", "STR_ENDS_WITH", ["@example.org"]))),
        )
    )
    assert fake.is_enabled("staff", {"properties": {"email": "a@example.org"}})
    assert not fake.is_enabled("staff", {"properties": {"email": "a@example.com"}})
    assert "gone" not in fake.feature_definitions()
    assert fake.is_enabled("ruled")
    before = fake.export_payload()
    with pytest.raises(PayloadError):
        fake.apply_payload({"events": "not a list"})
    assert fake.export_payload() == before  # a bad payload changes nothing


def test_custom_strategies_work_as_in_the_real_client() -> None:
    class Even:
        def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
            return int(context.get("userId", "1")) % 2 == 0

    fake = FakeUnleash(
        bootstrap=payload(feature("even", [strategy("even")])),
        custom_strategies={"even": Even()},
    )
    assert fake.is_enabled("even", {"userId": "2"})
    assert not fake.is_enabled("even", {"userId": "3"})


def test_override_on_the_fake_nests_and_restores(fake: FakeUnleash) -> None:
    fake.enable("x")
    with fake.override({"x": False}):
        assert not fake.is_enabled("x")
        with fake.override({"x": "blue"}) as client:
            assert client is fake
            assert fake.get_variant("x")["name"] == "blue"
        fake.disable("y")  # the fake's rules stay settable inside a block
        assert not fake.is_enabled("x")
    assert fake.is_enabled("x")
    assert not fake.is_enabled("y")


# -- what was checked ---------------------------------------------------------------------


def test_evaluations_record_every_check(fake: FakeUnleash) -> None:
    fake.enable("a")
    fake.set_variant("b", "blue")
    fake.is_enabled("a", Context(user_id="1", plan="pro"))
    fake.get_variant("b")
    fake.is_enabled("unknown")
    fake.explain("a")  # diagnostics, not a check by the code under test
    assert fake.evaluations == [
        Evaluation("a", {"userId": "1", "properties": {"plan": "pro"}}, "is_enabled", True),
        Evaluation("b", {}, "get_variant", True, "blue"),
        Evaluation("unknown", {}, "is_enabled", False),
    ]
    assert fake.checked_flags == {"a", "b", "unknown"}


def test_was_checked_matches_part_of_the_context(fake: FakeUnleash) -> None:
    fake.is_enabled("a", {"userId": "1", "properties": {"plan": "pro", "country": "NO"}})
    assert fake.was_checked("a")
    assert fake.was_checked("a", {"userId": "1"})
    assert fake.was_checked("a", {"properties": {"plan": "pro"}})
    assert fake.was_checked("a", Context(user_id="1", country="NO"))
    assert not fake.was_checked("a", {"userId": "2"})
    assert not fake.was_checked("a", {"sessionId": "1"})
    assert not fake.was_checked("a", {"properties": {"plan": "free"}})
    assert not fake.was_checked("b")


def test_recorded_contexts_are_copies(fake: FakeUnleash) -> None:
    context: dict[str, Any] = {"userId": "1", "properties": {"plan": "pro"}}
    fake.is_enabled("a", context)
    context["userId"] = "2"
    context["properties"]["plan"] = "free"
    assert fake.evaluations[0].context == {"userId": "1", "properties": {"plan": "pro"}}


def test_reset_forgets_rules_and_evaluations(fake: FakeUnleash) -> None:
    fake.enable("a")
    fake.set_variant("b", "blue")
    fake.enable_all()
    fake.is_enabled("a")
    records = fake.evaluations
    fake.reset()
    assert records is fake.evaluations and fake.evaluations == []
    assert not fake.is_enabled("a")
    assert fake.get_variant("b") == OFF
    assert not fake.is_enabled("c")
    assert fake.feature_definitions() == {}


def test_repr_says_what_it_is(fake: FakeUnleash) -> None:
    fake.enable("a")
    fake.is_enabled("a")
    assert repr(fake) == "FakeUnleash(app_name='fake-unleash', flags=1, evaluations=1)"


# -- the documentation's examples ---------------------------------------------------------


def python_blocks(path: Path) -> list[str]:
    """The ``python`` code blocks of a Markdown file."""
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)


def test_the_docs_have_examples() -> None:
    blocks = python_blocks(DOCS / "testing.md")
    assert len([b for b in blocks if not b.startswith("# test_")]) >= 2
    assert len([b for b in blocks if b.startswith("# test_")]) >= 2  # see test_pytest_plugin


@pytest.mark.parametrize(
    "block",
    [b for b in python_blocks(DOCS / "testing.md") if not b.startswith("# test_")],
)
def test_docs_testing_examples_run(block: str) -> None:
    exec(compile(block, str(DOCS / "testing.md"), "exec"), {})


def test_evaluate_is_recorded_and_follows_the_rules(fake: FakeUnleash) -> None:
    fake.enable("beta", for_users=["42"])
    fake.set_variant("theme", "dark")
    detail = fake.evaluate("beta", {"userId": "42"})
    assert detail.enabled and detail.known
    assert not fake.evaluate("beta", {"userId": "7"}).enabled
    assert fake.evaluate("theme").variant["name"] == "dark"
    fake.enable_all()
    assert fake.evaluate("anything").enabled
    assert [(e.feature_name, e.method, e.enabled, e.variant) for e in fake.evaluations] == [
        ("beta", "evaluate", True, "disabled"),
        ("beta", "evaluate", False, "disabled"),
        ("theme", "evaluate", True, "dark"),
        ("anything", "evaluate", True, "disabled"),
    ]
