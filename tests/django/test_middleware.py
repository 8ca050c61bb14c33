"""``UnleashMiddleware``: ``request.unleash`` and the request context variable, with the
request's user, sticky session id and address, in sync and async stacks."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import AsyncClient, Client, override_settings

from tests.django.flags import FLAGS
from unleash_lite.context import current_request_context
from unleash_lite.django import DEFAULT_SESSION_KEY

pytestmark = pytest.mark.django_db


def unleash(**extra: Any) -> dict[str, Any]:
    return {"app_name": "tests-django", "bootstrap": FLAGS, **extra}


def test_an_anonymous_request_has_a_session_id_and_the_peer_address() -> None:
    data = Client(REMOTE_ADDR="10.0.0.7").get("/context/").json()
    assert set(data["context"]) == {"sessionId", "remoteAddress"}
    assert data["context"]["remoteAddress"] == "10.0.0.7"
    assert len(data["context"]["sessionId"]) == 32
    assert data["user-42"] is False


def test_the_session_id_sticks_to_a_browser_and_differs_between_browsers() -> None:
    browser, other = Client(), Client()
    first = browser.get("/context/").json()["context"]["sessionId"]
    assert browser.get("/context/").json()["context"]["sessionId"] == first
    assert browser.session[DEFAULT_SESSION_KEY] == first
    assert other.get("/context/").json()["context"]["sessionId"] != first


def test_the_session_id_survives_logging_in() -> None:
    browser = Client()
    before = browser.get("/context/").json()["context"]["sessionId"]
    browser.force_login(User.objects.create(id=42, username="ada"))
    after = browser.get("/context/").json()["context"]
    assert after["userId"] == "42"
    assert after["sessionId"] == before


def test_a_signed_in_user_is_the_user_id() -> None:
    browser = Client()
    browser.force_login(User.objects.create(id=42, username="ada"))
    data = browser.get("/context/").json()
    assert data["context"]["userId"] == "42"
    assert data["user-42"] is True


def test_a_request_that_checks_no_flag_sets_no_session_cookie() -> None:
    assert "sessionid" not in Client().get("/untouched/").cookies
    assert "sessionid" in Client().get("/context/").cookies


@override_settings(UNLEASH=unleash(session_key=None))
def test_no_session_id_when_the_session_key_is_none() -> None:
    assert "sessionId" not in Client().get("/context/").json()["context"]


@override_settings(MIDDLEWARE=["unleash_lite.django.middleware.UnleashMiddleware"])
def test_without_session_and_auth_middleware_the_context_has_the_address_only() -> None:
    assert Client().get("/context/").json()["context"] == {"remoteAddress": "127.0.0.1"}


def test_x_forwarded_for_is_ignored_unless_proxies_are_declared() -> None:
    browser = Client(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.0.0.7")
    assert browser.get("/context/").json()["context"]["remoteAddress"] == "192.0.2.1"


@pytest.mark.parametrize(
    ("proxies", "header", "expected"),
    [
        (1, "10.0.0.7", "10.0.0.7"),
        (1, "6.6.6.6, 10.0.0.7", "10.0.0.7"),  # the visitor's own entry (6.6.6.6) is ignored
        (2, "6.6.6.6, 10.0.0.7, 192.0.2.50", "10.0.0.7"),
        (2, "10.0.0.7", "192.0.2.1"),  # fewer entries than proxies: the peer
        (1, "not-an-address", "192.0.2.1"),
        (1, "", "192.0.2.1"),
        (1, " 2001:db8::1 ", "2001:db8::1"),
    ],
)
def test_x_forwarded_for_is_read_as_far_as_your_proxies_wrote_it(
    proxies: int, header: str, expected: str
) -> None:
    with override_settings(UNLEASH=unleash(trusted_proxy_count=proxies)):
        browser = Client(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=header)
        assert browser.get("/context/").json()["context"]["remoteAddress"] == expected


def plan_provider(request: Any) -> dict[str, Any]:
    return {"properties": {"plan": request.GET.get("plan", "free"), "source": "plan"}}


def source_provider(request: Any) -> dict[str, Any]:
    return {"properties": {"source": "second"}}


def broken_provider(request: Any) -> dict[str, Any]:
    raise RuntimeError("provider failed")


def user_from_header(request: Any) -> str | None:
    return request.headers.get("X-Account")


@override_settings(
    UNLEASH=unleash(
        context_providers=[
            "tests.django.test_middleware.plan_provider",
            broken_provider,
            lambda request: "not a mapping",
            source_provider,
        ],
        user_id="tests.django.test_middleware.user_from_header",
    )
)
def test_user_id_and_context_providers_from_settings() -> None:
    data = Client(HTTP_X_ACCOUNT="7").get("/context/?plan=pro").json()
    assert data["context"]["userId"] == "7"
    assert data["context"]["properties"] == {"plan": "pro", "source": "second"}


def test_the_context_variable_is_the_request_context_during_the_view_and_reset_after() -> None:
    data = Client().get("/context/").json()
    assert data["current"] == data["context"]
    assert current_request_context() is None


def test_the_context_variable_is_reset_when_the_view_raises() -> None:
    browser = Client(raise_request_exception=False)
    assert browser.get("/failing/").status_code == 500
    assert current_request_context() is None
    with pytest.raises(RuntimeError, match="the view failed"):
        Client().get("/failing/")
    assert current_request_context() is None


def test_a_streaming_response_is_produced_with_the_context_and_reset_after() -> None:
    browser = Client()
    browser.force_login(User.objects.create(id=42, username="ada"))
    response = browser.get("/streaming/")
    assert current_request_context() is None  # between the view and the body
    assert b"".join(response.streaming_content) == b"42;42;42;"  # type: ignore[attr-defined]
    assert current_request_context() is None


@pytest.mark.django_db(transaction=True)
def test_an_async_stack_builds_the_context_before_the_view() -> None:
    async_to_sync(an_async_stack_builds_the_context_before_the_view)()


async def an_async_stack_builds_the_context_before_the_view() -> None:
    user = await User.objects.acreate(id=42, username="ada")
    browser = AsyncClient()
    await browser.aforce_login(user)
    data = (await browser.get("/async-context/")).json()
    assert data["context"]["userId"] == "42"
    assert data["context"]["remoteAddress"] == "127.0.0.1"  # the ASGI scope's client
    assert data["current"] == data["context"]
    assert (data["signed-in"], data["colors"], data["reason"]) == (True, "blue", "strategy_matched")
    assert current_request_context() is None


@pytest.mark.django_db(transaction=True)
def test_an_async_streaming_response_is_produced_with_the_context() -> None:
    async_to_sync(an_async_streaming_response_is_produced_with_the_context)()


async def an_async_streaming_response_is_produced_with_the_context() -> None:
    user = await User.objects.acreate(id=42, username="ada")
    browser = AsyncClient()
    await browser.aforce_login(user)
    response = await browser.get("/async-streaming/")
    chunks = [chunk async for chunk in response.streaming_content]  # type: ignore[attr-defined]
    assert b"".join(chunks) == b"42;42;42;"
    assert current_request_context() is None
