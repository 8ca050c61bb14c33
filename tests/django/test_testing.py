"""``override_flag`` / ``override_flags`` under pytest-django: as a decorator of test
functions (sync and async) and ``TestCase`` classes, and as a context manager."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client, SimpleTestCase

from unleash_lite.django import get_client, override_flag, override_flags


def page(path: str) -> int:
    return Client().get(path).status_code


@override_flag("off")
def test_a_decorated_test_sees_the_flag_on() -> None:
    assert page("/gated/off/") == 200


@override_flag("on", active=False)
def test_a_decorated_test_sees_the_flag_off() -> None:
    assert page("/gated/on/") == 404


def test_the_context_manager_restores_the_flag_after() -> None:
    with override_flag("off"):
        assert page("/gated/off/") == 200
    assert page("/gated/off/") == 404


def test_overrides_nest_and_the_innermost_wins() -> None:
    with override_flags({"off": True, "on": False}):
        with override_flag("off", active=False):
            assert (page("/gated/off/"), page("/gated/on/")) == (404, 404)
        assert (page("/gated/off/"), page("/gated/on/")) == (200, 404)
    assert (page("/gated/off/"), page("/gated/on/")) == (404, 200)


def test_a_variant_can_be_forced() -> None:
    with override_flag("colors", variant="red"):
        assert get_client().get_variant("colors")["name"] == "red"
    green = {"type": "string", "value": "g"}
    with override_flags({"colors": {"name": "green", "payload": green}}):
        variant = get_client().get_variant("colors")
        assert (variant["name"], variant.get("payload")) == ("green", green)
    assert get_client().get_variant("colors")["name"] == "blue"


@override_flag("off")
async def overridden_async_visit() -> int:
    return (await AsyncClient().get("/gated/off/")).status_code


def test_an_async_function_can_be_decorated() -> None:
    assert async_to_sync(overridden_async_visit)() == 200
    assert page("/gated/off/") == 404


@override_flags({"off": True})
class TestADecoratedTestCase(SimpleTestCase):
    def test_each_test_sees_the_override(self) -> None:
        self.assertEqual(self.client.get("/gated/off/").status_code, 200)

    def test_and_so_does_the_next(self) -> None:
        self.assertEqual(self.client.get("/gated/off/").status_code, 200)


def test_after_the_decorated_test_case_the_flag_is_back() -> None:
    assert page("/gated/off/") == 404


@pytest.fixture
def off_is_on() -> Iterator[None]:
    with override_flag("off"):
        yield


def test_an_override_in_a_fixture(off_is_on: None) -> None:
    assert page("/gated/off/") == 200
