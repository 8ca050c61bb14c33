"""``settings.UNLEASH`` read, checked and reported: the system checks, the middleware at
start-up, and the client's creation."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import override_settings

from tests.django.flags import FLAGS
from unleash_lite.django import UnleashMiddleware, get_client
from unleash_lite.django.settings import read_settings

SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
OURS = "unleash_lite.django.middleware.UnleashMiddleware"


def check_ids(**settings: Any) -> list[str]:
    with override_settings(**settings):
        return [message.id or "" for message in run_checks(tags=["unleash"])]


def check_messages(**settings: Any) -> list[str]:
    with override_settings(**settings):
        return [message.msg for message in run_checks(tags=["unleash"])]


def test_the_test_settings_pass_the_checks() -> None:
    assert check_ids() == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "settings.UNLEASH is missing"),
        ([("url", "")], "must be a dict, not list"),
        ({"urll": ""}, "unknown key 'urll'; did you mean 'url'"),
        ({"app_name": "x", "refresh_intervall": 5}, "'refresh_interval'"),
        ({"url": 5}, 'UNLEASH["url"] must be a string'),
        ({"api_token": ""}, '"api_token"] must be a non-empty string'),
        (
            {"api_token": "t", "custom_headers": {"authorization": "u"}},
            'both "api_token" and an Authorization header',
        ),
        ({"trusted_proxy_count": -1}, "trusted_proxy_count"),
        ({"trusted_proxy_count": True}, "trusted_proxy_count"),
        ({"session_key": 3}, "session_key"),
        ({"user_id": "no.such.module.function"}, "cannot import 'no.such.module.function'"),
        ({"user_id": 42}, "function of the request"),
        ({"context_providers": "tests.django.x"}, "must be a list"),
    ],
)
def test_an_unusable_setting_is_an_error_naming_it(value: Any, message: str) -> None:
    with override_settings(UNLEASH=value):
        with pytest.raises(ImproperlyConfigured) as raised:
            read_settings()
        assert message in str(raised.value)
        assert [m.id for m in run_checks(tags=["unleash"])] == ["unleash.E001"]
        assert message in run_checks(tags=["unleash"])[0].msg


def test_the_middleware_refuses_to_start_on_an_unusable_setting() -> None:
    with (
        override_settings(UNLEASH={"url": "", "colour": "blue"}),
        pytest.raises(ImproperlyConfigured, match="unknown key 'colour'"),
    ):
        UnleashMiddleware(lambda request: HttpResponse())


def test_a_value_the_client_refuses_is_improperly_configured() -> None:
    with (
        override_settings(UNLEASH={"app_name": "x", "refresh_interval": "soon"}),
        pytest.raises(ImproperlyConfigured, match=r"settings\.UNLEASH: .*refresh_interval"),
    ):
        get_client()


def test_the_token_becomes_the_authorization_header_and_the_app_name_defaults() -> None:
    with override_settings(
        UNLEASH={"api_token": "s3cr3t", "custom_headers": {"X-Team": "a"}},
        SETTINGS_MODULE="shop.settings",
    ):
        options = read_settings().client_options
    assert options["custom_headers"] == {"X-Team": "a", "Authorization": "s3cr3t"}
    assert (options["url"], options["app_name"]) == ("", "shop")


def test_every_client_keyword_is_accepted() -> None:
    settings = {"app_name": "x", "bootstrap": FLAGS, "environment": "staging"}
    settings |= {"disable_metrics": True, "refresh_interval": 30}
    with override_settings(UNLEASH=settings):
        client = get_client()
        assert client.config.environment == "staging"
        assert client.is_enabled("on")


def test_missing_middleware_is_a_warning() -> None:
    assert check_ids(MIDDLEWARE=[SESSION, AUTH]) == ["unleash.W001"]
    assert check_ids(MIDDLEWARE=[SESSION, AUTH, "unleash_lite.django.UnleashMiddleware"]) == []


def test_the_middleware_before_sessions_or_auth_is_a_warning() -> None:
    assert check_ids(MIDDLEWARE=[OURS, SESSION, AUTH]) == ["unleash.W002", "unleash.W002"]
    messages = check_messages(MIDDLEWARE=[SESSION, OURS, AUTH])
    assert len(messages) == 1 and "userId" in messages[0]


def test_missing_session_or_auth_middleware_is_a_warning_unless_not_needed() -> None:
    assert check_ids(MIDDLEWARE=[AUTH, OURS]) == ["unleash.W003"]
    assert check_ids(MIDDLEWARE=[SESSION, OURS]) == ["unleash.W004"]
    settings = {"app_name": "x", "session_key": None, "user_id": lambda request: None}
    assert check_ids(MIDDLEWARE=[OURS], UNLEASH=settings) == []
