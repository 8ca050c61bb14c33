"""Reading values out of evaluation contexts: text forms, lookups, stickiness and time."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from unleash_lite.engine.context import (
    StaticContext,
    as_text,
    current_time,
    field_getter,
    random_seed,
    raw_field,
    stickiness_getter,
)

STATIC = StaticContext(app_name="shop", environment="prod", hostname="web-1")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("plain", "plain"),
        ("", ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (42, "42"),
        (-7, "-7"),
        (5.0, "5"),
        (5.5, "5.5"),
        (1e20, "100000000000000000000"),
        (float("inf"), "inf"),
        (Decimal("1.50"), "1.50"),
        (datetime(2024, 6, 1, 12, 0, tzinfo=UTC), "2024-06-01T12:00:00+00:00"),
        (date(2024, 6, 1), "2024-06-01"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        ([1, 2], "[1, 2]"),
    ],
)
def test_as_text(value: Any, text: str | None) -> None:
    assert as_text(value) == text


def test_as_text_keeps_string_subclasses_as_their_text() -> None:
    class Tag(str):
        pass

    assert as_text(Tag("beta")) == "beta"


def test_raw_field_reads_top_level_then_properties() -> None:
    context = {"userId": "1", "plan": None, "properties": {"plan": "pro", "userId": "2"}}
    assert raw_field(context, "userId") == "1"
    assert raw_field(context, "plan") == "pro"
    assert raw_field(context, "missing") is None
    assert raw_field({"properties": "not a mapping"}, "plan") is None
    assert raw_field({"properties": {"properties": 1}}, "properties") == {"properties": 1}


def test_field_getter_returns_text_and_static_defaults() -> None:
    get_user = field_getter("userId", STATIC)
    assert get_user({"userId": 7}) == "7"
    assert get_user({"properties": {"userId": True}}) == "true"
    assert get_user({}) is None
    assert field_getter("appName", STATIC)({}) == "shop"
    assert field_getter("appName", STATIC)({"appName": "other"}) == "other"
    assert field_getter("environment", STATIC)({}) == "prod"
    assert field_getter("environment", StaticContext(environment=""))({}) is None
    assert field_getter("appName", StaticContext())({}) is None


def test_static_default_for_only_covers_app_name_and_environment() -> None:
    assert STATIC.default_for("appName") == "shop"
    assert STATIC.default_for("environment") == "prod"
    assert STATIC.default_for("hostname") is None
    assert STATIC.default_for("userId") is None


def test_merged_with_puts_the_context_over_static_values_in_a_new_dict() -> None:
    context = {"userId": "1", "environment": "staging"}
    merged = STATIC.merged_with(context)
    assert merged == {"appName": "shop", "environment": "staging", "userId": "1"}
    merged["userId"] = "changed"
    assert context == {"userId": "1", "environment": "staging"}


def test_default_stickiness_is_user_then_session_then_nothing() -> None:
    seed = stickiness_getter("default", STATIC)
    assert seed({"userId": "u", "sessionId": "s"}) == "u"
    assert seed({"sessionId": "s"}) == "s"
    assert seed({"properties": {"sessionId": 9}}) == "9"
    assert seed({}) is None
    assert stickiness_getter(None, STATIC)({"userId": "u"}) == "u"


def test_empty_stickiness_names_the_empty_field() -> None:
    # As Yggdrasil reads it (not as "default"): no context has that field.
    seed = stickiness_getter("", STATIC)
    assert seed({"userId": "u", "sessionId": "s"}) is None
    assert seed({"properties": {"": "x"}}) == "x"


def test_default_stickiness_may_fall_back_to_a_random_seed() -> None:
    seed = stickiness_getter("default", STATIC, random_when_missing=True)
    random.seed(3)
    seeds = {seed({}) for _ in range(50)}
    assert all(s is not None and 1 <= int(s) <= 10000 for s in seeds)
    assert len(seeds) > 40
    assert seed({"userId": "u"}) == "u"


def test_random_and_custom_stickiness() -> None:
    random.seed(5)
    random_seeds = {stickiness_getter("random", STATIC)({"userId": "u"}) for _ in range(20)}
    assert len(random_seeds) > 1
    tenant = stickiness_getter("tenant", STATIC)
    assert tenant({"properties": {"tenant": "acme"}}) == "acme"
    assert tenant({"tenant": 12}) == "12"
    assert tenant({"userId": "u"}) is None


def test_random_seed_range() -> None:
    random.seed(11)
    values = [int(random_seed({})) for _ in range(2000)]
    assert min(values) >= 1
    assert max(values) <= 10000


def test_current_time_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    now = current_time({})
    after = datetime.now(UTC)
    assert isinstance(now, datetime) and now.tzinfo is not None
    assert before <= now <= after


def test_current_time_is_the_value_given() -> None:
    # Parsed by the DATE_* constraints (see test_dates.py); kept as given for explanations.
    aware = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=5)))
    assert current_time({"currentTime": aware}) is aware
    assert current_time({"currentTime": "2024-01-01T12:00:00Z"}) == "2024-01-01T12:00:00Z"
    assert current_time({"properties": {"currentTime": "soon"}}) == "soon"
