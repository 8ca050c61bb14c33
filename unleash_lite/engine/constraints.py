"""Constraint compilation: every operator of the Unleash client specification.

Each constraint compiles once into a ``check(context) -> bool`` closure with its values already
parsed (sets, floats, datetimes, versions, networks, RE2 programs). A constraint that cannot
be compiled (unknown operator, unparsable value, invalid pattern) never matches, inverted or
not, records why in ``problem`` and reports it, with its field, to a
:class:`~unleash_lite.engine.problems.Problems` sink. :data:`OPERATORS` is the one table of
operators.
"""

from __future__ import annotations

import ipaddress
import operator as op
import re
import sys
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from .context import (
    Context,
    StaticContext,
    always_false,
    current_time_getter,
    field_check,
    field_getter,
    raw_field,
)
from .dates import date_value, instant_of
from .problems import CONSTRAINT_OFF, Problems, is_object, kind, quote, strings
from .regex import InvalidPattern, compile_search
from .semver import parse_version, version_value

Check = Callable[[Context], bool]
Test = Callable[[str], bool]

# The operator module's functions, not lambdas: a C call instead of a Python frame per check.
_ORDINAL: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": op.eq,
    "GT": op.gt,
    "GTE": op.ge,
    "LT": op.lt,
    "LTE": op.le,
}
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


# (operator, the values or the value, caseInsensitive, sink at that field) -> the test, or
# None when the value is rejected (reported to the sink)
OperatorTest = Callable[[str, Any, bool, Problems], Test | None]


class _Operator(NamedTuple):
    """How an operator compiles: the values it reads and the test it builds from them."""

    lists: bool  # reads ``values``; otherwise one value: ``value``, or the first of ``values``
    test: OperatorTest | None  # None: IN and NOT_IN
    raw_read: bool = False  # reads the context field unconverted (a datetime stays one)


class CompiledConstraint(NamedTuple):
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


def compile_constraint(
    raw: Any, static: StaticContext, problems: Problems | None = None
) -> CompiledConstraint:
    """Compile one constraint from its payload form, reporting what is wrong with it to
    ``problems`` (at the constraint's own path)."""
    problems = Problems(warns=False) if problems is None else problems
    if not is_object(raw):
        message = problems.error(f"expected a constraint object, got {kind(raw)}", CONSTRAINT_OFF)
        return compile_constraint({}, static, Problems(warns=False))._replace(problem=message)
    since = len(problems.found)
    context_name = str(raw.get("contextName") or "")
    operator = str(raw.get("operator") or "")
    inverted = bool(raw.get("inverted", False))
    case_insensitive = bool(raw.get("caseInsensitive", False))
    values = _listed_values(raw)
    spec = OPERATORS.get(operator)
    _check_fields(raw, spec, problems)
    get = field_getter(context_name, static)
    read: Callable[[Context], Any] = get
    test = _compile_operator(raw, operator, spec, values, case_insensitive, problems)
    problem = problems.first_error(since, CONSTRAINT_OFF)
    if problem is not None or spec is None:
        check: Check = always_false
    elif spec.test is None:
        check = _membership(context_name, static, values, operator == "NOT_IN", inverted)
    elif spec.raw_read:
        read = (
            current_time_getter(static)
            if context_name == "currentTime"
            else _raw_getter(context_name)
        )
        assert test is not None  # no problem: the operator compiled
        check = _tested(read, test, inverted)
    else:
        assert test is not None  # no problem: the operator compiled
        check = field_check(context_name, static, test, inverted)
    shown = values or ((str(raw["value"]),) if raw.get("value") is not None else ())
    return CompiledConstraint(
        context_name, operator, shown, inverted, case_insensitive, check, read, problem
    )


def _check_fields(raw: Mapping[str, Any], spec: _Operator | None, problems: Problems) -> None:
    """Report the fields read otherwise than written, and a missing contextName."""
    context_name = raw.get("contextName")
    if not context_name:
        problems.error("missing", CONSTRAINT_OFF, "contextName")
    if not problems.warns:
        return
    if context_name and not isinstance(context_name, str):
        problems.warning(
            f"expected a string, got {kind(context_name)}; read as {quote(str(context_name))}",
            "contextName",
        )
    problems.boolean(raw, "inverted", "read as true unless false, 0 or empty")
    problems.boolean(raw, "caseInsensitive", "read as true unless false, 0 or empty")
    operator = raw.get("operator")
    if spec is not None and spec.test is None and raw.get("caseInsensitive"):
        problems.warning(
            f"ignored: {operator} always compares exactly, as everywhere in Unleash "
            "(use STR_* or REGEX operators to ignore case)",
            "caseInsensitive",
        )
    values = raw.get("values")
    listing = spec is not None and spec.lists
    if values is not None and not isinstance(values, list) and not listing:
        problems.warning(f"expected a list, got {kind(values)}; ignored", "values")
    elif isinstance(values, list) and listing:
        strings(values, problems.at("values"))


def _compile_operator(
    raw: Mapping[str, Any],
    operator: str,
    spec: _Operator | None,
    values: tuple[str, ...],
    case_insensitive: bool,
    problems: Problems,
) -> Test | None:
    """The operator's test (None for IN and NOT_IN, or when rejected: then reported)."""
    if not operator:
        problems.error("missing", CONSTRAINT_OFF, "operator")
        return None
    if spec is None:
        upper = operator.upper()
        hint = f" (did you mean {quote(upper)}?)" if upper in OPERATORS else ""
        problems.error(
            f"unknown operator {quote(raw.get('operator'))}{hint}", CONSTRAINT_OFF, "operator"
        )
        return None
    if spec.lists:
        if not values and problems.warns:
            _no_values(raw, operator, problems)
        if spec.test is None:
            return None
        listed = raw.get("values")
        return spec.test(
            operator,
            listed if isinstance(listed, list) else [],
            case_insensitive,
            problems.at("values"),
        )
    value = raw.get("value")
    where: tuple[str | int, ...] = ("value",)
    raw_values = raw.get("values")
    if value is None and isinstance(raw_values, list) and raw_values:
        value, where = raw_values[0], ("values", 0)
        if len(raw_values) > 1:
            problems.warning(f"{operator} uses one value; only the first is used", "values")
    if value is None:
        problems.error(f"{operator} needs a value", CONSTRAINT_OFF, *where)
        return None
    assert spec.test is not None  # every single-value operator has a test
    return spec.test(operator, str(value), case_insensitive, problems.at(*where))


def _no_values(raw: Mapping[str, Any], operator: str, problems: Problems) -> None:
    always = (operator == "NOT_IN") != bool(raw.get("inverted", False))
    outcome = "always matches" if always else "never matches"
    raw_values = raw.get("values")
    if raw_values is not None and not isinstance(raw_values, list):
        found = f"expected a list, got {kind(raw_values)}; ignored, so"
    elif raw.get("value") is not None:
        found = "no values (this operator reads values, not value);"
    else:
        found = "no values;"
    problems.warning(f"{found} the constraint {outcome}", "values")


def _listed_values(raw: Mapping[str, Any]) -> tuple[str, ...]:
    values = raw.get("values")
    if not isinstance(values, list):
        return ()
    return tuple(str(value) for value in values if value is not None)


def _membership(
    field: str, static: StaticContext, values: tuple[str, ...], negate: bool, inverted: bool
) -> Check:
    # A missing field is "not in" any list: IN fails and NOT_IN holds. The comparison is
    # always exact: Unleash ignores caseInsensitive on IN/NOT_IN "for backwards
    # compatibility" (its docs, Yggdrasil and the Node SDK agree).
    return field_check(field, static, frozenset(values).__contains__, negate != inverted)


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


def _string_test(operator: str, values: Any, case_insensitive: bool, _: Problems) -> Test:
    listed = tuple(str(value) for value in values if value is not None)
    if case_insensitive:
        wanted = tuple(value.lower() for value in listed)
        if operator == "STR_STARTS_WITH":
            return lambda text: text.lower().startswith(wanted)
        if operator == "STR_ENDS_WITH":
            return lambda text: text.lower().endswith(wanted)
        return lambda text: any(part in text.lower() for part in wanted)
    if operator == "STR_STARTS_WITH":
        return lambda text: text.startswith(listed)
    if operator == "STR_ENDS_WITH":
        return lambda text: text.endswith(listed)
    return lambda text: any(part in text for part in listed)


def _compared(
    compare: Callable[[Any, Any], bool],
    target_of: Callable[[str], Any],
    value_of: Callable[[Any], Any] | ParsedMemo,
    what: str,
) -> OperatorTest:
    """An ordered operator: its value parsed once by ``target_of`` (None: it is not
    ``what``, and the constraint never matches), each context value by ``value_of``."""

    def build(_: str, value: str, __: bool, problems: Problems) -> Test | None:
        target = target_of(value)
        if target is None:
            problems.error(f"{quote(value)} is not {what}", CONSTRAINT_OFF)
            return None
        if isinstance(value_of, ParsedMemo):
            recall, parse = value_of.known.get, value_of.parse

            def recalled(text: str) -> bool:
                parsed = recall(text, _UNPARSED)
                if parsed is _UNPARSED:
                    parsed = parse(text)
                return parsed is not None and compare(parsed, target)

            return recalled

        def test(text: Any) -> bool:
            parsed = value_of(text)
            return parsed is not None and compare(parsed, target)

        return test

    return build


_UNPARSED = object()


class ParsedMemo:
    """A pure parser of context values remembering its answers for the last few thousand
    distinct texts.

    Apps send few distinct versions, ages or amounts, so the numbers and versions in
    contexts are parsed once each rather than on every evaluation. Process-wide, like a
    ``functools`` cache, and bounded: it empties when full, and keeps no text longer than
    :attr:`LONGEST` (a real version or number is short; a context value of any size must not
    make the memo large). It needs no lock: a dict's ``get`` and item assignment are atomic,
    and a lost insertion only costs a parse.
    """

    SIZE = 4096
    LONGEST = 64

    def __init__(self, parser: Callable[[str], Any]) -> None:
        self.parser = parser
        self.known: dict[str, Any] = {}

    def parse(self, text: str) -> Any:
        """``parser(text)``, remembered."""
        value = self.parser(text)
        if len(text) <= self.LONGEST:
            if len(self.known) >= self.SIZE:
                self.known.clear()
            self.known[text] = value
        return value


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


def _raw_getter(field: str) -> Callable[[Context], Any]:
    return lambda context: raw_field(context, field)


def _regex_test(_: str, value: str, case_insensitive: bool, problems: Problems) -> Test | None:
    try:
        return compile_search(value, ignore_case=case_insensitive)
    except InvalidPattern as error:
        reason = str(error).removeprefix(f"invalid regular expression {value!r}: ")
        problems.error(
            f"{quote(value)} is not a valid RE2 regular expression ({reason})", CONSTRAINT_OFF
        )
        return None


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


def networks(values: Any, problems: Problems, by_position: bool = True) -> tuple[str, ...]:
    """The entries of ``values`` that are IP addresses or ranges, with a warning for each
    entry that is not one (it is ignored): at its position, or at the field itself."""
    found = []
    for position, value in enumerate(values):
        if value is None:
            continue
        if parse_network(str(value)) is None:
            where = (position,) if by_position else ()
            problems.warning(f"{quote(value)} is not an IP address or range; ignored", *where)
        else:
            found.append(str(value))
    return tuple(found)


def _cidr_test(_: str, values: Any, __: bool, problems: Problems) -> Test:
    return cidr_test(networks(values, problems))


# How ordered operators read their value, a context value, and what the value must be.
_DATES = (
    date_value,
    instant_of,
    "a date and time such as 2024-06-01T12:00:00Z or 2024-06-01T14:00:00.000+02:00",
)
_NUMBERS = (number_value, ParsedMemo(as_number), "a number")
_VERSIONS = (
    version_value,
    ParsedMemo(parse_version),
    "a semantic version (such as 1.2.3 or 1.2.3-rc.1)",
)
# Every operator the engine knows, and how each compiles: the one table of them.
OPERATORS: Mapping[str, _Operator] = MappingProxyType(
    {
        "IN": _Operator(lists=True, test=None),
        "NOT_IN": _Operator(lists=True, test=None),
        "STR_STARTS_WITH": _Operator(lists=True, test=_string_test),
        "STR_ENDS_WITH": _Operator(lists=True, test=_string_test),
        "STR_CONTAINS": _Operator(lists=True, test=_string_test),
        "IN_CIDR": _Operator(lists=True, test=_cidr_test),
        "REGEX": _Operator(lists=False, test=_regex_test),
        **{
            f"DATE_{name}": _Operator(lists=False, test=_compared(compare, *_DATES), raw_read=True)
            for name, compare in (("AFTER", _ORDINAL["GT"]), ("BEFORE", _ORDINAL["LT"]))
        },
        **{
            f"NUM_{name}": _Operator(lists=False, test=_compared(compare, *_NUMBERS))
            for name, compare in _NUMBER_ORDINAL.items()
        },
        **{
            f"SEMVER_{name}": _Operator(lists=False, test=_compared(compare, *_VERSIONS))
            for name, compare in _ORDINAL.items()
        },
    }
)
