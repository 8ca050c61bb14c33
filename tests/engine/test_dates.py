"""DATE_* values and context times, read as Yggdrasil reads them (each case checked against
yggdrasil-engine 2.0.0, Yggdrasil 0.21.5; tests/engine/test_differential.py keeps checking)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.support.payloads import constraint
from unleash_lite.engine import StaticContext
from unleash_lite.engine.constraints import compile_constraint
from unleash_lite.engine.dates import date_value, instant_of

NOON = instant_of("2024-06-01T12:00:00Z")


@pytest.mark.parametrize(
    "text",
    [
        "2024-06-01T12:00:00Z",
        "2024-06-01T12:00:00z",
        "2024-06-01t12:00:00Z",
        "2024-06-01 12:00:00Z",
        "2024-06-01T14:00:00+02:00",
        "2024-06-01T14:00:00+0200",
        "2024-06-01T14:00:00 +02 : 00",
        "2024-06-01T10:00:00\u221202:00",  # the minus sign
        "2024-06-01T12:00:00UTC",
        "2024-06-01T12:00:00 utc",
        "2024-6-1T12:0:0Z",
        "2024 - 06 - 01T 12 : 00 : 00 Z",
        " 2024-06-01T12:00:00Z\n",
        "2024-06-01T12:00:00.000000000Z",
        "2024-06-01T12:00:00.0000000009Z",  # digits after the ninth are dropped
        "+2024-06-01T12:00:00Z",
        "+002024-06-01T12:00:00Z",
    ],
)
def test_context_times_chrono_reads(text: str) -> None:
    assert instant_of(text) == NOON


@pytest.mark.parametrize(
    "text",
    [
        "2024-06-01",  # a date alone is not a time
        "2024-06-01T12:00:00",  # no offset
        "2024-06-01T12:00Z",  # no seconds
        "2024-06-01T12:00:00+02",  # no offset minutes
        "2024-06-01T12:00:00+24:00",  # beyond a day
        "2024-06-01T12:00:00+02:60",
        "2024-06-01T24:00:00Z",
        "2024-06-31T12:00:00Z",
        "2023-02-29T12:00:00Z",
        "2024-06-01T12:00:00.Z",
        "2024-06-01T12:00:00,5Z",
        "2024-06-01T12:00:00 .5Z",
        "2024-06-01T12:00:00Zx",
        "2024-06-01TT12:00:00Z",
        "20240-06-01T12:00:00Z",
        "20240601T120000Z",
        "2024-06-01T12:00:00\u00a0Z\x1c",  # \x1c is space to Python, not to Rust
        "\uff12024-06-01T12:00:00Z",  # only ASCII digits
        "+262143-01-01T00:00:00Z",  # beyond chrono's years
        "1717243200",
        "",
    ],
)
def test_context_times_chrono_refuses(text: str) -> None:
    assert instant_of(text) is None


def test_instants_keep_nanoseconds_and_leap_seconds_in_order() -> None:
    ordered = [
        "2024-06-01T12:00:59.999999999Z",
        "2024-06-01T12:00:60Z",
        "2024-06-01T12:00:60.5Z",
        "2024-06-01T12:01:00Z",
        "2024-06-01T12:01:00.000000001Z",
    ]
    instants = [instant_of(text) for text in ordered]
    assert instants == sorted(instants)  # type: ignore[type-var]
    assert len(set(instants)) == len(instants)
    assert instant_of("2024-06-01T14:00:60+02:00") == instant_of("2024-06-01T12:00:60Z")


def test_years_outside_the_python_range() -> None:
    assert instant_of("0000-03-01T00:00:00Z") == (-62162035200, 0)
    assert instant_of("-0001-01-01T00:00:00Z") == (-62198755200, 0)
    assert instant_of("+10000-01-01T00:00:00Z") == (253402300800, 0)


def test_python_datetimes_are_read_as_they_are() -> None:
    assert instant_of(datetime(2024, 6, 1, 12, tzinfo=UTC)) == NOON
    assert instant_of(datetime(2024, 6, 1, 14, tzinfo=timezone(timedelta(hours=2)))) == NOON
    assert instant_of(datetime(2024, 6, 1, 12)) == NOON  # naive means UTC
    assert instant_of(datetime(2024, 6, 1, 12, 0, 0, 1)) == (NOON[0], 1000)  # type: ignore[index]
    for other in (date(2024, 6, 1), 1717243200, None, ["2024-06-01T12:00:00Z"]):
        assert instant_of(other) is None


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2024-06-01T12:00:00Z", True),
        ("2024-06-01T12:00:00.123Z", True),
        ("2024-06-01T12:00:00.000-00:00", True),
        (" \t2024-06-01T12:00:00+02:00 ", True),
        ("2024-06-01T12:00:60Z", True),
        ("2024-06-01T12:00:00.5Z", False),  # exactly three fraction digits or none
        ("2024-06-01T12:00:00.123456Z", False),
        ("2024-06-01T12:00:00+0200", False),
        ("2024-06-01 12:00:00Z", False),
        ("2024-06-01T12:00:00z", False),
        ("2024-06-01", False),
        ("2024-06-01T12:00:00", False),
        ("2024-02-30T00:00:00Z", False),
        ("\n2024-06-01T12:00:00Z", False),
    ],
)
def test_constraint_values_follow_the_rule_grammar(text: str, valid: bool) -> None:
    assert (date_value(text) is not None) is valid


@pytest.mark.parametrize("current_time", ["2030-06-01", "2030-06-01T00:00:00", "2030-06-01T00Z"])
def test_a_current_time_without_a_time_and_offset_is_no_time(current_time: str) -> None:
    # Yggdrasil: false (the Unleash docs: a failed conversion is false); inverted: true.
    for inverted in (False, True):
        raw = constraint(
            "currentTime", "DATE_AFTER", value="2024-06-01T12:00:00Z", inverted=inverted
        )
        compiled = compile_constraint(raw, StaticContext())
        assert compiled.check({"currentTime": current_time}) is inverted


def test_explanations_show_the_time_as_given() -> None:
    raw = constraint("currentTime", "DATE_AFTER", value="2024-06-01T12:00:00Z")
    compiled = compile_constraint(raw, StaticContext())
    given: Any = "2024-06-01 11:00:00+00:00"
    assert compiled.read({"currentTime": given}) == given
