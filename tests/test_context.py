"""The typed ``Context`` builder (the official SDK's plain dict context), merging, and the
context of the current request."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.payloads import constraint, feature, payload, rollout, strategy, variant
from unleash_lite import AsyncUnleashClient, Context, UnleashClient
from unleash_lite.context import (
    context_text,
    current_request_context,
    is_context_time,
    merge_contexts,
    merge_provided,
    request_context,
    request_fields,
    reset_request_context,
    set_request_context,
    sticky_session_id,
)


def test_every_standard_field_maps_to_its_official_key() -> None:
    moment = datetime(2024, 6, 1, tzinfo=UTC)
    context = Context(
        user_id="u1",
        session_id="s1",
        remote_address="10.0.0.1",
        environment="prod",
        app_name="shop",
        current_time=moment,
        properties={"plan": "pro"},
    )
    assert context == {
        "userId": "u1",
        "sessionId": "s1",
        "remoteAddress": "10.0.0.1",
        "environment": "prod",
        "appName": "shop",
        "currentTime": moment,
        "properties": {"plan": "pro"},
    }


def test_it_is_a_plain_dict() -> None:
    context = Context(user_id="1")
    assert isinstance(context, dict)
    assert dict(context) == {"userId": "1"}
    context["sessionId"] = "s"
    assert context == {"userId": "1", "sessionId": "s"}


def test_unset_fields_are_left_out() -> None:
    assert Context() == {}
    assert Context(user_id=None, session_id="s") == {"sessionId": "s"}
    assert "properties" not in Context(user_id="1")
    assert "properties" not in Context(user_id="1", properties={})


def test_extra_keywords_become_properties() -> None:
    context = Context(user_id="1", country="NO", appVersion="3.1.0")
    assert context == {"userId": "1", "properties": {"country": "NO", "appVersion": "3.1.0"}}


def test_extra_keywords_merge_with_and_win_over_properties() -> None:
    base = {"plan": "free", "country": "SE"}
    context = Context(properties=base, plan="pro")
    assert context["properties"] == {"plan": "pro", "country": "SE"}
    assert base == {"plan": "free", "country": "SE"}  # the caller's mapping is not changed


def test_current_time_may_be_text() -> None:
    assert Context(current_time="2024-06-01T00:00:00Z") == {"currentTime": "2024-06-01T00:00:00Z"}


NEW_YEAR_2030 = "2030-01-01T00:00:00Z"


def test_typed_and_dict_contexts_evaluate_the_same() -> None:
    flags = payload(
        feature("norway", [strategy(constraints=[constraint("country", "IN", ["NO"])])]),
        feature("rollout", [rollout(50, "userId", "g")]),
        feature("staging", [strategy(constraints=[constraint("environment", "IN", ["staging"])])]),
        feature(
            "late",
            [strategy(constraints=[constraint("currentTime", "DATE_AFTER", value=NEW_YEAR_2030)])],
        ),
    )
    client = UnleashClient(url="", app_name="tests", bootstrap=flags)
    for user in ("1", "2", "3", "4", "5", "6", "7", "8"):
        typed = Context(
            user_id=user,
            environment="staging",
            current_time=datetime(2031, 1, 1, tzinfo=UTC),
            country="NO" if int(user) % 2 else "SE",
        )
        plain = {
            "userId": user,
            "environment": "staging",
            "currentTime": datetime(2031, 1, 1, tzinfo=UTC),
            "properties": {"country": "NO" if int(user) % 2 else "SE"},
        }
        assert typed == plain
        for name in ("norway", "rollout", "staging", "late"):
            assert client.is_enabled(name, typed) is client.is_enabled(name, plain)
            assert client.get_variant(name, typed) == client.get_variant(name, plain)
        assert client.is_enabled("norway", typed) is (int(user) % 2 == 1)
        assert client.is_enabled("staging", typed) is True
        assert client.is_enabled("late", typed) is True


def test_context_text_is_how_constraints_read_a_value() -> None:
    assert [context_text(v) for v in ("a", True, False, 2.0, 2.5, 7, None)] == [
        "a",
        "true",
        "false",
        "2",
        "2.5",
        "7",
        None,
    ]
    assert context_text(datetime(2024, 6, 1, 12, tzinfo=UTC)) == "2024-06-01T12:00:00+00:00"
    client = UnleashClient(
        url="",
        app_name="t",
        bootstrap=payload(
            feature("on", strategies=[strategy(constraints=[constraint("beta", "IN", ["true"])])])
        ),
    )
    try:
        assert client.is_enabled("on", {"properties": {"beta": True}})
    finally:
        client.destroy()


def test_is_context_time_needs_an_offset() -> None:
    assert is_context_time("2024-06-01T12:00:00Z")
    assert is_context_time("2024-06-01 12:00:00+02:00")
    assert is_context_time(datetime(2024, 6, 1))  # naive: UTC
    assert not is_context_time("2024-06-01T12:00:00")
    assert not is_context_time("2024-06-01")
    assert not is_context_time(1717243200)


# -- the request context ------------------------------------------------------------------


def test_request_context_is_current_inside_the_block_and_restored_after() -> None:
    assert current_request_context() is None
    with request_context({"userId": "1"}):
        with request_context({"userId": "2"}) as inner:
            assert current_request_context() is inner
        assert current_request_context() == {"userId": "1"}
    assert current_request_context() is None


def test_request_context_is_restored_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), request_context({"userId": "1"}):
        raise RuntimeError("boom")
    assert current_request_context() is None


def test_each_thread_sees_its_own_request_context() -> None:
    seen: dict[str, Any] = {}
    barrier = threading.Barrier(2)

    def worker(user: str) -> None:
        with request_context({"userId": user}):
            barrier.wait()  # both contexts are set at once
            seen[user] = current_request_context()

    threads = [threading.Thread(target=worker, args=(user,)) for user in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": {"userId": "a"}, "b": {"userId": "b"}}


def test_each_asyncio_task_sees_its_own_request_context() -> None:
    async def handler(user: str) -> Any:
        token = set_request_context({"userId": user})
        await asyncio.sleep(0)  # the other task runs and sets its own
        try:
            return current_request_context()
        finally:
            reset_request_context(token)

    async def main() -> list[Any]:
        return list(await asyncio.gather(handler("a"), handler("b")))

    assert asyncio.run(main()) == [{"userId": "a"}, {"userId": "b"}]


def test_a_request_context_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="mapping"):
        set_request_context(["userId", "1"])  # type: ignore[arg-type]


def test_merge_contexts_merges_properties_key_by_key() -> None:
    base = {"userId": "1", "properties": {"plan": "pro", "region": "eu"}}
    extra = {"sessionId": "s", "properties": {"region": "us"}}
    assert merge_contexts(base, extra) == {
        "userId": "1",
        "sessionId": "s",
        "properties": {"plan": "pro", "region": "us"},
    }
    assert base["properties"] == {"plan": "pro", "region": "eu"}  # inputs untouched


def test_merge_provided_merges_each_provider_in_order_and_skips_the_broken(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> Any:
        raise RuntimeError("provider failed")

    providers = [
        lambda: {"properties": {"plan": "pro", "region": "eu"}},
        lambda: None,
        broken,
        lambda: "not a mapping",
        lambda: {"userId": "2", "properties": {"region": "us"}},
    ]
    base = {"userId": "1"}
    with caplog.at_level(logging.DEBUG, "tests.context"):
        merged = merge_provided(base, providers, logging.getLogger("tests.context"))
    assert merged == {"userId": "2", "properties": {"plan": "pro", "region": "us"}}
    assert base == {"userId": "1"}
    assert [record.levelno for record in caplog.records] == [logging.DEBUG, logging.DEBUG]


# -- use_request_context: the clients merge it into evaluations ------------------------------

FLAGS = payload(
    feature("user-42", [strategy(constraints=[constraint("userId", "IN", ["42"])])]),
    feature(
        "pro-42",
        [
            strategy(
                constraints=[constraint("userId", "IN", ["42"]), constraint("plan", "IN", ["pro"])]
            )
        ],
    ),
    feature("colors", variants=[variant("blue")]),
)


@pytest.fixture(params=["sync", "async"])
def merging(request: pytest.FixtureRequest) -> Any:
    kind = UnleashClient if request.param == "sync" else AsyncUnleashClient
    client = kind("", "merging", bootstrap=FLAGS, use_request_context=True)
    yield client
    client._release()


def test_every_evaluation_method_takes_the_request_context(merging: Any) -> None:
    fallbacks: list[Any] = []

    def fallback(name: str, context: Any) -> bool:
        fallbacks.append(context)
        return False

    with request_context({"userId": "42", "properties": {"plan": "pro"}}):
        assert merging.is_enabled("user-42")
        assert merging.get_variant("colors")["name"] == "blue"
        assert merging.evaluate("user-42").enabled
        assert merging.explain("pro-42").enabled
        assert [flag["name"] for flag in merging.all_flags()] == ["user-42", "pro-42", "colors"]
        merging.is_enabled("unknown", fallback_function=fallback)
    assert fallbacks[0]["userId"] == "42"
    assert not merging.is_enabled("user-42")  # outside it: no userId


def test_the_context_given_is_merged_over_the_request_context(merging: Any) -> None:
    with request_context({"userId": "42", "properties": {"plan": "pro", "region": "eu"}}):
        assert merging.is_enabled("pro-42", {"properties": {"region": "us"}})  # keeps plan
        assert not merging.is_enabled("pro-42", {"properties": {"plan": "free"}})
        assert not merging.is_enabled("user-42", {"userId": "7"})


def test_a_request_context_that_fails_to_read_leaves_the_context_given(merging: Any) -> None:
    class Broken(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError("broken")

        def __iter__(self) -> Iterator[str]:
            raise RuntimeError("broken")

        def __len__(self) -> int:
            return 1

    with request_context(Broken()):
        assert merging.is_enabled("user-42", {"userId": "42"})
        assert not merging.is_enabled("user-42")  # never raises


def test_without_the_option_the_request_context_is_ignored_and_costs_nothing() -> None:
    client = UnleashClient("", "plain", bootstrap=FLAGS)
    with request_context({"userId": "42"}):
        assert not client.is_enabled("user-42")
    assert "is_enabled" not in vars(client)  # the class's method, untouched
    client._release()


def test_a_sticky_session_id_is_made_once_and_kept() -> None:
    session: dict[str, Any] = {}
    first = sticky_session_id(session, "sid")
    assert len(first) == 32 and session == {"sid": first}
    assert sticky_session_id(session, "sid") == first
    session["sid"] = 42  # not an id we made: replaced
    assert sticky_session_id(session, "sid") != first and isinstance(session["sid"], str)


def test_request_fields_leave_out_what_is_empty_or_fails(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> str:
        raise LookupError("no session store")

    with caplog.at_level(logging.DEBUG, "unleash_lite.test"):
        fields = request_fields(
            lambda: 42, broken, lambda: "", logging.getLogger("unleash_lite.test")
        )
    assert fields == {"userId": "42"}
    assert [r.getMessage() for r in caplog.records] == [
        "Unleash: no sessionId (the session failed)"
    ]
    assert request_fields(None, None, lambda: "10.0.0.1", logging.getLogger("x")) == {
        "remoteAddress": "10.0.0.1"
    }
