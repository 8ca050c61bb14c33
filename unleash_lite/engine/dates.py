"""Dates and times for the DATE_* operators, read exactly as Yggdrasil reads them.

A context value (``currentTime`` or any field a DATE_* constraint names) is RFC 3339 as the
Rust ``chrono`` crate parses a ``DateTime``: an offset (``Z``, ``+02:00``, ``+0200``,
``UTC``) is required, so a date alone or a time without offset is not a time and the
constraint does not hold (the Unleash docs: a failed conversion is false). chrono is relaxed
about the rest: ``T``, ``t`` or a space between date and time, spaces between the parts,
unpadded numbers, any number of fraction digits (nanoseconds are kept, further digits
ignored), a leap second ``:60``, signed years beyond 9999. A Python ``datetime`` is taken as
it is (a naive one as UTC).

A constraint's own value is stricter, as Yggdrasil's rule grammar is: ``YYYY-MM-DDTHH:MM:SS``,
optionally ``.fff`` (exactly three digits), then ``Z`` or ``+HH:MM``/``-HH:MM``, with spaces
or tabs around it.

Instants are ``(seconds since 1970-01-01T00:00:00Z, nanoseconds)``; a leap second keeps the
seconds of ``:59`` and counts nanoseconds from 1,000,000,000, so tuples sort as chrono does.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime
from typing import Any

Instant = tuple[int, int]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAYS_PER_400_YEARS = 146_097  # the Gregorian calendar repeats every 400 years
_MIN_YEAR, _MAX_YEAR = -262_143, 262_142  # chrono's NaiveDate range
_DIGITS = frozenset("0123456789")
# What one unit of the last fraction digit is worth, by the number of digits read.
_NANOSECONDS_PER_UNIT: tuple[int, ...] = tuple(10**9 // 10**digits for digits in range(10))
# Rust's char::is_whitespace (Unicode White_Space), which str.trim_start skips.
_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# The usual shapes, read without the scanner (same result, a tenth of the time).
_COMMON = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:[Zz]|([+-])([0-9]{2}):?([0-9]{2}))"
)
_VALUE = re.compile(
    r"[ \t]*([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3})?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2}))[ \t]*"
)


def date_value(text: str) -> Instant | None:
    """A DATE_* constraint value as an instant; ``None`` when Yggdrasil's grammar refuses it."""
    match = _VALUE.fullmatch(text)
    return None if match is None else instant_of(match[1])


def instant_of(value: Any) -> Instant | None:
    """A context value as an instant: a ``datetime`` (naive means UTC) or RFC 3339 text as
    chrono reads it; ``None`` for anything else."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - _EPOCH
        return delta.days * 86_400 + delta.seconds, delta.microseconds * 1_000
    if isinstance(value, str):
        return _cached_text_instant(value) if len(value) <= 64 else _text_instant(value)
    return None


def _text_instant(value: str) -> Instant | None:
    common = _COMMON.fullmatch(value)
    if common is None:
        return _Scanner(value).instant()
    year, month, day, hour, minute, second, fraction, sign, offset_hours, offset_minutes = (
        common.groups()
    )
    offset = int(offset_hours or 0) * 3_600 + int(offset_minutes or 0) * 60
    if offset_minutes and offset_minutes[0] > "5":
        return None
    return _instant(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        int(fraction.ljust(9, "0")) if fraction else 0,
        -offset if sign == "-" else offset,
    )


# Contexts often repeat a time (a rounded "now", fixtures); only short texts are kept.
_cached_text_instant = functools.lru_cache(maxsize=1024)(_text_instant)


def _instant(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    nanoseconds: int,
    offset: int,
) -> Instant | None:
    """The instant of these parts, after chrono's range checks."""
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59):
        return None
    if second > 60 or not _MIN_YEAR <= year <= _MAX_YEAR or abs(offset) >= 86_400:
        return None
    days = _days_since_epoch(year, month, day)
    if days is None:
        return None
    if second == 60:  # a leap second: :59 plus a second's worth of nanoseconds
        second, nanoseconds = 59, nanoseconds + 1_000_000_000
    seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset
    if not _FIRST_SECOND <= seconds < _END_SECOND:  # the offset took it out of range
        return None
    return seconds, nanoseconds


class _Scanner:
    """chrono's relaxed RFC 3339 reading, one part at a time; every method returns ``None``
    (or False) when the text does not fit."""

    __slots__ = ("position", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def instant(self) -> Instant | None:
        year = self.year()
        month = self.dash_then_number()
        day = self.dash_then_number()
        if year is None or month is None or day is None or not self.separator():
            return None
        hour = self.number(2)
        minute = self.colon_then_number()
        second = self.colon_then_number()
        if hour is None or minute is None or second is None:
            return None
        nanoseconds = self.fraction()
        if nanoseconds is None:
            return None
        self.skip_space()
        offset = self.offset()
        self.skip_space()
        if offset is None or self.position != len(self.text):
            return None
        return _instant(year, month, day, hour, minute, second, nanoseconds, offset)

    def skip_space(self) -> None:
        text, position = self.text, self.position
        while position < len(text) and text[position] in _SPACE:
            position += 1
        self.position = position

    def digits(self, most: int) -> int | None:
        """One to ``most`` ASCII digits (no limit when ``most`` is 0)."""
        text, start = self.text, self.position
        end = start
        while end < len(text) and text[end] in _DIGITS and (not most or end - start < most):
            end += 1
        if end == start:
            return None
        self.position = end
        return int(text[start:end])

    def number(self, most: int) -> int | None:
        self.skip_space()
        return self.digits(most)

    def year(self) -> int | None:
        self.skip_space()
        sign = self.text[self.position : self.position + 1]
        if sign in ("+", "-"):  # a signed year may have any number of digits
            self.position += 1
            value = self.digits(0)
            if value is None or value >= 2**63:
                return None
            return -value if sign == "-" else value
        return self.digits(4)

    def literal(self, char: str) -> bool:
        self.skip_space()
        if self.text.startswith(char, self.position):
            self.position += 1
            return True
        return False

    def dash_then_number(self) -> int | None:
        return self.number(2) if self.literal("-") else None

    def colon_then_number(self) -> int | None:
        return self.number(2) if self.literal(":") else None

    def separator(self) -> bool:
        if self.text[self.position : self.position + 1] in ("T", "t", " "):
            self.position += 1
            return True
        return False

    def fraction(self) -> int | None:
        """Nanoseconds from an optional ``.digits`` (0 without); digits after the ninth are
        read and dropped."""
        if not self.text.startswith(".", self.position):
            return 0
        self.position += 1
        start = self.position
        digits = self.digits(9)
        if digits is None:
            return None
        nanoseconds = digits * _NANOSECONDS_PER_UNIT[self.position - start]
        self.digits(0)
        return nanoseconds

    def offset(self) -> int | None:
        """The offset in seconds: ``Z``, ``UTC`` (any case) or a sign (``+``, ``-`` or the
        minus sign U+2212), two digits of hours, any colons and spaces, two of minutes."""
        text, position = self.text, self.position
        head = text[position : position + 3]
        if head.isascii() and head.lower() == "utc":
            self.position += 3
            return 0
        sign = text[position : position + 1]
        if sign in ("Z", "z"):
            self.position += 1
            return 0
        if sign not in ("+", "-", "\u2212"):
            return None
        hours = text[position + 1 : position + 3]
        if len(hours) != 2 or not set(hours) <= _DIGITS:
            return None
        position += 3
        while position < len(text) and (text[position] == ":" or text[position] in _SPACE):
            position += 1
        minutes = text[position : position + 2]
        if len(minutes) != 2 or not set(minutes) <= _DIGITS or minutes[0] > "5":
            return None
        self.position = position + 2
        seconds = int(hours) * 3_600 + int(minutes) * 60
        return seconds if sign == "+" else -seconds


def _days_since_epoch(year: int, month: int, day: int) -> int | None:
    """Days from 1970-01-01 to a proleptic Gregorian date of any year; ``None`` when the
    month has no such day."""
    cycles, year_in_cycle = year // 400, year % 400
    try:  # the same day of the same year of the cycle, within what ``date`` takes
        ordinal = date(2000 + year_in_cycle, month, day).toordinal()
    except ValueError:
        return None
    return ordinal - _EPOCH_ORDINAL + (cycles - 5) * _DAYS_PER_400_YEARS


_FIRST_SECOND = (_days_since_epoch(_MIN_YEAR, 1, 1) or 0) * 86_400
_END_SECOND = (_days_since_epoch(_MAX_YEAR + 1, 1, 1) or 0) * 86_400
