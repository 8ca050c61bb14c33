"""``@flag_required`` and ``FlagRequiredMixin``: the view runs when the flag is on for the
request; otherwise 404, or a redirect. Sync and async views alike."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import AsyncClient, Client, override_settings

from unleash_lite.django import flag_required

pytestmark = pytest.mark.django_db


def signed_in() -> Client:
    browser = Client()
    browser.force_login(User.objects.create(id=42, username="ada"))
    return browser


def test_a_view_runs_when_its_flag_is_on_and_answers_404_when_off() -> None:
    assert Client().get("/gated/on/").content == b"on page"
    assert Client().get("/gated/off/").status_code == 404


def test_a_view_redirects_when_asked_to() -> None:
    response = Client().get("/gated/off-redirect/")
    assert response.status_code == 302
    assert response["Location"] == "/gated/on/"  # the URL pattern name, reversed


def test_the_flag_is_checked_for_the_request_s_user() -> None:
    assert Client().get("/members/").status_code == 404
    assert signed_in().get("/members/").content == b"members page"


def test_the_mixin_redirects_to_its_url() -> None:
    response = Client().get("/members/redirecting/")
    assert (response.status_code, response["Location"]) == (302, "/somewhere/")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", ["/gated/async/", "/members/async/"])
def test_async_views_are_gated_too(url: str) -> None:
    async def visit() -> tuple[int, int, bytes]:
        anonymous = await AsyncClient().get(url)
        browser = AsyncClient()
        await browser.aforce_login(await User.objects.acreate(id=42, username="ada"))
        member = await browser.get(url)
        return anonymous.status_code, member.status_code, member.content

    assert async_to_sync(visit)() == (404, 200, b"async members page")


@override_settings(MIDDLEWARE=[])
def test_the_decorator_works_without_the_middleware() -> None:
    assert Client().get("/gated/on/").status_code == 200
    assert Client().get("/gated/off/").status_code == 404


@override_settings(MIDDLEWARE=[], UNLEASH={"app_name": "x", "refresh_interval": "soon"})
def test_without_a_usable_client_gated_views_are_refused_and_the_error_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, "unleash_lite.django"):
        assert Client().get("/gated/on/").status_code == 404
        assert Client().get("/gated/on/").status_code == 404
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "refresh_interval" in errors[0]


def test_flag_required_needs_a_name() -> None:
    with pytest.raises(TypeError, match="flag's name"):
        flag_required("")


@pytest.mark.django_db(transaction=True)
@override_settings(
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ]
)
def test_an_async_view_without_the_middleware_builds_the_context_off_the_event_loop() -> None:
    # The user is loaded from the database: only possible from a thread, not the loop.
    async def visit() -> int:
        browser = AsyncClient()
        await browser.aforce_login(await User.objects.acreate(id=42, username="ada"))
        return (await browser.get("/gated/async/")).status_code

    assert async_to_sync(visit)() == 200
