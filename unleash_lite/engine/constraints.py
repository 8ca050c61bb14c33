"""Constraint compilation: every operator of the Unleash client specification.

Each constraint compiles once into a ``check(context) -> bool`` closure with its values already
parsed (sets, floats, datetimes, versions, networks, RE2 programs). A constraint that cannot
be compiled (unknown operator, unparsable value, invalid pattern) never matches, inverted or
not, and records why in ``problem``.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .context import (
    Context,
    StaticContext,
    always_false,
    current_time_getter,
    field_getter,
    raw_field,
)
from .dates import date_value, instant_of
from .regex import InvalidPattern, compile_search
from .semver import Version, parse_version, version_value

Check = Callable[[Context], bool]
Test = Callable[[str], bool]

_ORDINAL: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
}
_DATE_ORDINAL = {"DATE_AFTER": _ORDINAL["GT"], "DATE_BEFORE": _ORDINAL["LT"]}
# NUM_EQ is Yggdrasil's: closer than machine epsilon (so 0.1 + 0.2 equals 0.3, and
# infinity equals nothing).
_NUMBER_ORDINAL: dict[str, Callable[[float, float], bool]] = {
    **_ORDINAL,
    "EQ": lambda a, b: abs(a - b) < sys.float_info.epsilon,
}


# What Rust's f64::from_str reads (Yggdrasil), with surrounding spaces allowed as the
# Playground, the Node SDK and the old Python SDK allow them (Yggdrasil does not).
_NUMBER = re.compile(
    r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|inf|infinity|nan)\s*",
    re.ASCII | re.IGNORECASE,
)
# A NUM_* constraint value, as Yggdrasil's rule grammar takes it.
_NUMBER_VALUE = re.compile(r"[ \t]*[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?[ \t]*", re.ASCII)


class ConstraintError(ValueError):
    """A constraint definition that cannot be evaluated."""


@dataclass(frozen=True, slots=True)
class CompiledConstraint:
    """One compiled constraint: its definition (for explanations) and its ``check``."""

    context_name: str
    operator: str
    values: tuple[str, ...]
    inverted: bool
    case_insensitive: bool
    check: Check
    read: Callable[[Context], Any]
    problem: str | None = None

    def describe(self) -> str:
        """A one-line human description, e.g. ``userId IN [a, b]``."""
        negation = "NOT " if self.inverted else ""
        folds = self.case_insensitive and self.operator not in ("IN", "NOT_IN")
        case = " (case-insensitive)" if folds else ""
        shown = ", ".join(self.values[:5]) + (", ..." if len(self.values) > 5 else "")
        return f"{negation}{self.context_name} {self.operator} [{shown}]{case}"


def compile_constraint(raw: Mapping[str, Any], static: StaticContext) -> CompiledConstraint:
    """Compile one constraint from its payload form."""
    context_name = str(raw.get("contextName") or "")
    operator = str(raw.get("operator") or "")
    inverted = bool(raw.get("inverted", False))
    case_insensitive = bool(raw.get("caseInsensitive", False))
    values = _listed_values(raw)
    get = field_getter(context_name, static)
    read: Callable[[Context], Any] = get
    try:
        if not context_name:
            raise ConstraintError("constraint has no contextName")
        if operator in ("IN", "NOT_IN"):
            check = _membership(get, values, operator == "NOT_IN", inverted)
        else:
            if operator in ("DATE_AFTER", "DATE_BEFORE"):
                # Raw values, so that a datetime in the context is read as a datetime.
                read = (
                    current_time_getter(static)
                    if context_name == "currentTime"
                    else _raw_getter(context_name)
                )
                test = _date_test(operator, _single_value(raw))
            else:
                test = _value_test(operator, raw, values, case_insensitive)
            check = _tested(read, test, inverted)
        problem = None
    except ConstraintError as error:
        check, problem = always_false, str(error)
    shown = values or ((str(raw["value"]),) if raw.get("value") is not None else ())
    return CompiledConstraint(
        context_name, operator, shown, inverted, case_insensitive, check, read, problem
    )


def _listed_values(raw: Mapping[str, Any]) -> tuple[str, ...]:
    values = raw.get("values")
    if not isinstance(values, list):
        return ()
    return tuple(str(value) for value in values if value is not None)


def _single_value(raw: Mapping[str, Any]) -> str:
    value = raw.get("value")
    if value is None:
        values = raw.get("values")
        if isinstance(values, list) and values:
            value = values[0]
    if value is None:
        raise ConstraintError(f"{raw.get('operator')} constraint has no value")
    return str(value)


def _membership(
    get: Callable[[Context], str | None], values: tuple[str, ...], negate: bool, inverted: bool
) -> Check:
    # A missing field is "not in" any list: IN fails and NOT_IN holds. The comparison is
    # always exact: Unleash ignores caseInsensitive on IN/NOT_IN "for backwards
    # compatibility" (its docs, Yggdrasil and the Node SDK agree).
    members = frozenset(values)
    if negate != inverted:
        return lambda context: get(context) not in members
    return lambda context: get(context) in members


def _tested(read: Callable[[Context], Any], test: Callable[[Any], bool], inverted: bool) -> Check:
    if inverted:

        def check_inverted(context: Context) -> bool:
            value = read(context)
            return value is None or not test(value)

        return check_inverted

    def check(context: Context) -> bool:
        value = read(context)
        return value is not None and test(value)

    return check


def _value_test(
    operator: str, raw: Mapping[str, Any], values: tuple[str, ...], case_insensitive: bool
) -> Test:
    if operator.startswith("STR_"):
        return _string_test(operator, values, case_insensitive)
    if operator.startswith("NUM_"):
        return _number_test(operator, _single_value(raw))
    if operator.startswith("SEMVER_"):
        return _semver_test(operator, _single_value(raw))
    if operator == "REGEX":
        try:
            return compile_search(_single_value(raw), ignore_case=case_insensitive)
        except InvalidPattern as error:
            raise ConstraintError(str(error)) from None
    if operator == "IN_CIDR":
        return cidr_test(values)
    raise ConstraintError(f"unknown operator {operator!r}")


def _string_test(operator: str, values: tuple[str, ...], case_insensitive: bool) -> Test:
    wanted = tuple(value.lower() for value in values) if case_insensitive else values
    fold: Callable[[str], str] = str.lower if case_insensitive else str
    if operator == "STR_STARTS_WITH":
        return lambda text: fold(text).startswith(wanted)
    if operator == "STR_ENDS_WITH":
        return lambda text: fold(text).endswith(wanted)
    if operator == "STR_CONTAINS":
        return lambda text: any(part in fold(text) for part in wanted)
    raise ConstraintError(f"unknown operator {operator!r}")


def _ordinal(operator: str, prefix: str) -> Callable[[Any, Any], bool]:
    compare = _ORDINAL.get(operator[len(prefix) :])
    if compare is None:
        raise ConstraintError(f"unknown operator {operator!r}")
    return compare


def _number_test(operator: str, value: str) -> Test:
    compare = _NUMBER_ORDINAL.get(operator.removeprefix("NUM_"))
    if compare is None:
        raise ConstraintError(f"unknown operator {operator!r}")
    target = number_value(value)
    if target is None:
        raise ConstraintError(f"{operator} value {value!r} is not a number")

    def test(text: str) -> bool:
        number = as_number(text)
        return number is not None and compare(number, target)

    return test


def as_number(text: str) -> float | None:
    """A float from a context value; ``None`` when it does not read as a number.

    What Yggdrasil reads (Rust's ``f64``: ASCII digits, ``.5``, ``5.``, exponents, ``inf``,
    ``nan``), and surrounding whitespace too, as the Playground, the Node SDK and the old
    Python SDK read ``" 11"`` (Yggdrasil does not: a deliberate difference). Python's
    ``float`` alone would also take ``1_000`` and non-ASCII digits.
    """
    if _NUMBER.fullmatch(text) is None:
        return None
    return float(text)


def number_value(text: str) -> float | None:
    """A NUM_* constraint value as a float: decimal digits with an optional sign, fraction
    and exponent (``1.5``, ``-2``, ``1e3``); not ``.5``, ``inf`` or ``nan``, which
    Yggdrasil's rule grammar refuses."""
    if _NUMBER_VALUE.fullmatch(text) is None:
        return None
    return float(text)


def _date_test(operator: str, value: str) -> Callable[[Any], bool]:
    compare = _DATE_ORDINAL[operator]
    target = date_value(value)
    if target is None:
        raise ConstraintError(
            f"{operator} value {value!r} is not a date and time such as 2024-06-01T12:00:00Z"
        )

    def test(moment: Any) -> bool:
        instant = instant_of(moment)
        return instant is not None and compare(instant, target)

    return test


def _raw_getter(field: str) -> Callable[[Context], Any]:
    return lambda context: raw_field(context, field)


def _semver_test(operator: str, value: str) -> Test:
    compare = _ordinal(operator, "SEMVER_")
    target: Version | None = version_value(value)
    if target is None:
        raise ConstraintError(f"{operator} value {value!r} is not a semantic version")

    def test(text: str) -> bool:
        version = parse_version(text)
        return version is not None and compare(version, target)

    return test


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_PREFIX = re.compile(r"\+?[0-9]+", re.ASCII)


def parse_address(text: str) -> IpAddress | None:
    """An IP address exactly as written, as Yggdrasil (Rust's ``IpAddr``) reads it: no
    surrounding spaces and no IPv6 zone (``%eth0``), which Python alone would accept."""
    if "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_network(text: str) -> IpNetwork | None:
    """An IP range as Yggdrasil (the ``ipnetwork`` crate) reads it: an address alone, or
    ``address/prefix`` with a decimal prefix (``+`` and leading zeros allowed) or, for IPv4,
    a contiguous netmask; host bits may be set. ``None`` when it is not one."""
    address_text, slash, prefix_text = text.partition("/")
    address = parse_address(address_text)
    if address is None or "/" in prefix_text:
        return None
    prefix: int = address.max_prefixlen
    if slash:
        mask = parse_address(prefix_text) if address.version == 4 else None
        if isinstance(mask, ipaddress.IPv4Address):
            bits = int(mask)
            prefix = 32 - (~bits & 0xFFFFFFFF).bit_length()
            if bits != (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF:
                return None  # not a netmask (ones, then zeros)
        elif _PREFIX.fullmatch(prefix_text) and int(prefix_text) <= address.max_prefixlen:
            prefix = int(prefix_text)
        else:
            return None
    return ipaddress.ip_network((address, prefix), strict=False)


def cidr_test(values: tuple[str, ...]) -> Test:
    """A test of whether a context value is an address inside one of the ranges ``values``.

    Neither the ranges nor the context value are trimmed, as in Yggdrasil (the
    ``remoteAddress`` strategy trims its comma-separated list itself).
    """
    networks = []
    for value in values:
        network = parse_network(value)
        if network is not None:  # a bad entry does not spoil the others, as in Yggdrasil
            networks.append(network)
    frozen_networks = tuple(networks)

    def test(text: str) -> bool:
        address = parse_address(text)
        return address is not None and any(address in network for network in frozen_networks)

    return test
