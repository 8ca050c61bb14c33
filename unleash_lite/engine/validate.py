"""Checking flag definitions before they ship: each problem, with its flag and field.

Pure: a parsed payload in, problems out; no I/O. The checks follow the compiler's own
reading of every field and reuse its parsers, so the two agree:

* an **error** is something the compiler rejects: it skips the entry, or turns the flag
  always off, or makes a strategy or a constraint never match (``client.explain`` shows the
  same cause). A flag with no error compiles without a problem, and every flag the compiler
  turns off for a problem in its definition has at least one error.
* a **warning** is something the compiler accepts but reads differently from what the
  definition seems to say: a field of the wrong type that is ignored or coerced, a parent
  flag that does not exist (the child is then always off), a variant weight read as 0, an
  IP range that is skipped, a name defined twice.

Paths are relative to the flag (``strategies[1].constraints[0].operator``) or the segment,
with list positions counted from 0; problems in the payload itself carry no flag and no
segment and a path from the payload's root (``features[3]``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .constraints import as_number, number_value, parse_network
from .dates import date_value
from .regex import InvalidPattern, compile_search
from .semver import version_value
from .state import FlagState, PayloadError, segment_id
from .strategies import BUILTIN_STRATEGIES, _csv, _percentage, rollout_group_id

Severity = Literal["error", "warning"]
ERROR: Severity = "error"
WARNING: Severity = "warning"

PayloadFormat = Literal["full", "delta", "export", "invalid"]

_ORDINALS = ("EQ", "GT", "GTE", "LT", "LTE")
_LIST_OPERATORS = ("IN", "NOT_IN", "STR_STARTS_WITH", "STR_ENDS_WITH", "STR_CONTAINS", "IN_CIDR")
_KNOWN_OPERATORS = frozenset(
    [
        *_LIST_OPERATORS,
        "DATE_AFTER",
        "DATE_BEFORE",
        "REGEX",
        *(f"NUM_{suffix}" for suffix in _ORDINALS),
        *(f"SEMVER_{suffix}" for suffix in _ORDINALS),
    ]
)
_ROLLOUTS = ("flexibleRollout", "gradualRolloutUserId", "gradualRolloutSessionId")
_EXPORT_KEYS = ("featureStrategies", "featureEnvironments")
_NEVER = "the constraint never matches"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a payload: where it is, what is wrong, and how bad it is."""

    flag: str | None  # the flag it is in; None for a segment or the payload itself
    path: str  # the field, relative to the flag or segment ("" for the whole of it)
    message: str
    severity: Severity = ERROR
    segment: int | None = None  # the segment id, for a problem in a segment

    @property
    def where(self) -> str:
        """``flag "checkout": strategies[1].operator``, ``segment 3: ...`` or a root path."""
        if self.flag is not None:
            owner = f"flag {quote(self.flag)}"
        elif self.segment is not None:
            owner = f"segment {self.segment}"
        else:
            owner = ""
        return ": ".join(part for part in (owner, self.path) if part)

    def __str__(self) -> str:
        where = self.where
        return f"{where}: {self.message}" if where else self.message

    def as_dict(self) -> dict[str, Any]:
        """The problem as JSON-ready data (the CLI's ``--json`` shape)."""
        return {
            "severity": self.severity,
            "flag": self.flag,
            "segment": self.segment,
            "path": self.path,
            "message": self.message,
        }


def quote(value: Any) -> str:
    """A value as JSON text: strings in double quotes, with anything odd escaped."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def payload_format(payload: Any) -> PayloadFormat:
    """Which kind of JSON document ``payload`` is: a full client API payload, a delta, an
    Unleash admin export (not something the SDK reads), or none of those."""
    if not isinstance(payload, Mapping):
        return "invalid"
    if any(key in payload for key in _EXPORT_KEYS):
        return "export"
    if "events" in payload:
        return "delta"
    if "features" in payload:
        return "full"
    return "invalid"


def export_message(payload: Mapping[str, Any]) -> str:
    """Why an admin export cannot be used as flags, and what to do instead."""
    key = next(key for key in _EXPORT_KEYS if key in payload)
    return (
        f"this is an Unleash admin export (it has {quote(key)}), not the client API format "
        "the SDK reads: an export keeps strategies and per-environment settings in separate "
        "lists and leaves segment constraints out, so it cannot be evaluated faithfully; "
        "get a bootstrap file from the server's client API instead: "
        "unleash-lite fetch --url https://<server>/api --token <client token> -o flags.json"
    )


def validate(payload: Any, custom_strategies: Collection[str] = ()) -> list[Problem]:
    """Every problem in a features payload (full or delta format), in the order: the payload
    itself, then each flag, then each segment.

    ``custom_strategies``: names of the custom strategies the application registers (any
    other strategy name that is not built in is an error, as it is for the compiler).
    """
    kind = payload_format(payload)
    if kind == "export":
        return [Problem(None, "", export_message(payload))]
    try:
        state = FlagState().apply(payload)
    except PayloadError as error:
        return [Problem(None, "", f"not a flags payload: {error}")]
    checker = _Checker(state, frozenset(custom_strategies))
    checker.payload(payload)
    return checker.results()


# -- the checks ---------------------------------------------------------------------------------


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    """A JSON value's type, as JSON names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


class _Checker:
    """Collects problems; ``owner`` says which flag or segment the next ones belong to."""

    def __init__(self, state: FlagState, custom_strategies: frozenset[str]) -> None:
        self.state = state
        self.strategy_names = frozenset(BUILTIN_STRATEGIES) | custom_strategies
        self.flag: str | None = None
        self.segment: int | None = None
        self.found: list[Problem] = []

    def error(self, path: str, message: str) -> None:
        self.found.append(Problem(self.flag, path, message, ERROR, self.segment))

    def warning(self, path: str, message: str) -> None:
        self.found.append(Problem(self.flag, path, message, WARNING, self.segment))

    def results(self) -> list[Problem]:
        """The problems found so far and those of every flag and segment, grouped: the
        payload's own, then each flag's and each segment's, in payload order."""
        early, self.found = self.found, []
        broken = self.segments()  # first: a flag using a broken segment says so
        for name, definition in self.state.features.items():
            self.flag, self.segment = name, None
            self.feature(definition, broken)
        self.flag = None
        flag_order = {name: position for position, name in enumerate(self.state.features)}
        segment_order = {key: position for position, key in enumerate(self.state.segments)}
        end = len(flag_order) + len(segment_order)

        def order(problem: Problem) -> int:
            if problem.flag is not None:
                return 1 + flag_order.get(problem.flag, end)
            if problem.segment is not None:
                return 1 + len(flag_order) + segment_order.get(problem.segment, end)
            return 0

        return sorted([*early, *self.found], key=order)  # stable: each owner's in found order

    # -- the payload ------------------------------------------------------------------------

    def payload(self, payload: Mapping[str, Any]) -> None:
        if "events" in payload:
            for position, event in enumerate(payload["events"]):
                self.event(event, _join("events", position))
            return
        self.feature_list(payload["features"], "features")
        self.segment_list(payload.get("segments"), "segments")

    def event(self, event: Any, path: str) -> None:
        kind = event.get("type") if isinstance(event, Mapping) else None
        if not isinstance(event, Mapping):
            self.error(path, f"expected an event object, got {_kind(event)}; ignored")
        elif kind == "hydration":
            self.feature_list(event.get("features"), _join(path, "features"))
            self.segment_list(event.get("segments"), _join(path, "segments"))
        elif kind == "feature-updated":
            self.feature_list([event.get("feature")], _join(path, "feature"), single=True)
        elif kind == "segment-updated":
            self.segment_list([event.get("segment")], _join(path, "segment"), single=True)
        elif kind == "feature-removed":
            if not isinstance(event.get("featureName"), str):
                self.warning(_join(path, "featureName"), "expected a flag name; ignored")
        elif kind == "segment-removed":
            if segment_id(event.get("segmentId")) is None:
                self.warning(_join(path, "segmentId"), "expected a segment id; ignored")
        else:
            self.error(_join(path, "type"), f"unknown event type {quote(kind)}; ignored")

    def feature_list(self, features: Any, path: str, single: bool = False) -> None:
        if not isinstance(features, list):
            return  # FlagState.apply has already refused it
        names: dict[str, list[str]] = {}
        for position, raw in enumerate(features):
            where = path if single else _join(path, position)
            name = raw.get("name") if isinstance(raw, Mapping) else None
            if isinstance(name, str) and name:
                names.setdefault(name, []).append(where)
            elif not isinstance(raw, Mapping):
                self.error(where, f"expected a flag object, got {_kind(raw)}; skipped")
            else:
                self.error(
                    _join(where, "name"), f"expected a flag name, got {quote(name)}; skipped"
                )
        for name, places in names.items():
            if len(places) > 1:
                self.flag = name
                self.warning(
                    "", f"defined {len(places)} times ({', '.join(places)}); the last one is used"
                )
                self.flag = None

    def segment_list(self, segments: Any, path: str, single: bool = False) -> None:
        if not isinstance(segments, list):
            return  # absent, or FlagState.apply has already refused it
        ids: dict[int, list[str]] = {}
        for position, raw in enumerate(segments):
            where = path if single else _join(path, position)
            key = segment_id(raw.get("id")) if isinstance(raw, Mapping) else None
            if key is not None:
                ids.setdefault(key, []).append(where)
            elif not isinstance(raw, Mapping):
                self.error(where, f"expected a segment object, got {_kind(raw)}; skipped")
            else:
                self.error(
                    _join(where, "id"),
                    f"expected a numeric id, got {quote(raw.get('id'))}; skipped",
                )
        for key, places in ids.items():
            if len(places) > 1:
                self.segment = key
                self.warning(
                    "", f"defined {len(places)} times ({', '.join(places)}); the last one is used"
                )
                self.segment = None

    # -- segments ---------------------------------------------------------------------------

    def segments(self) -> set[int]:
        """Check every segment; the ids of those with a constraint the compiler rejects."""
        broken = set()
        for key, segment in self.state.segments.items():
            self.flag, self.segment = None, key
            constraints = segment.get("constraints")
            if constraints is not None and not isinstance(constraints, list):
                self.warning(
                    "constraints",
                    f"expected a list, got {_kind(constraints)}; ignored, so the segment "
                    "matches everyone",
                )
                continue
            for position, raw in enumerate(constraints or ()):
                if self.constraint(raw, _join("constraints", position)):
                    broken.add(key)
        self.segment = None
        return broken

    # -- flags ------------------------------------------------------------------------------

    def feature(self, definition: Mapping[str, Any], broken_segments: set[int]) -> None:
        if "enabled" not in definition:
            self.warning("enabled", "missing; the flag is off")
        else:
            self.boolean(definition, "enabled", "", "the flag is off unless it is true")
        self.boolean(definition, "impressionData", "", "impression events only when true")
        raw_strategies = definition.get("strategies")
        if raw_strategies is not None and not isinstance(raw_strategies, list):
            self.warning(
                "strategies",
                f"expected a list, got {_kind(raw_strategies)}; ignored, so the flag is on "
                "for everyone when enabled",
            )
        strategies = raw_strategies if isinstance(raw_strategies, list) else []
        usable = 0
        for position, raw in enumerate(strategies):
            path = _join("strategies", position)
            if not isinstance(raw, Mapping):
                self.warning(path, f"expected a strategy object, got {_kind(raw)}; ignored")
                continue
            self.boolean(raw, "disabled", path, "only true disables the strategy")
            if raw.get("disabled") is True:
                continue
            usable += 1
            self.strategy(raw, path, broken_segments)
        if strategies and not usable:
            self.error(
                "strategies",
                "no usable strategy (every one is disabled or not an object); "
                "the flag is always off",
            )
        self.variants(definition.get("variants"), "variants", feature_level=True)
        self.dependencies(definition.get("dependencies"))

    def strategy(self, raw: Mapping[str, Any], path: str, broken_segments: set[int]) -> None:
        name = raw.get("name")
        raw_parameters = raw.get("parameters")
        if raw_parameters is not None and not isinstance(raw_parameters, Mapping):
            self.warning(
                _join(path, "parameters"),
                f"expected an object, got {_kind(raw_parameters)}; ignored",
            )
        parameters: Mapping[str, Any] = (
            raw_parameters if isinstance(raw_parameters, Mapping) else {}
        )
        if not name:
            self.error(_join(path, "name"), "missing strategy name; the strategy never matches")
        elif str(name) not in self.strategy_names:
            self.error(
                _join(path, "name"),
                f"unknown strategy {quote(name)} (neither built in nor a registered custom "
                "strategy); the strategy never matches",
            )
        else:
            self.strategy_rule(str(name), parameters, _join(path, "parameters"))
        constraints = raw.get("constraints")
        if constraints is not None and not isinstance(constraints, list):
            self.warning(
                _join(path, "constraints"),
                f"expected a list, got {_kind(constraints)}; ignored, so the strategy has no "
                "constraints",
            )
        elif constraints:
            for position, constraint in enumerate(constraints):
                self.constraint(constraint, _join(_join(path, "constraints"), position))
        self.segment_references(raw.get("segments"), _join(path, "segments"), broken_segments)
        self.variants(raw.get("variants"), _join(path, "variants"), feature_level=False)

    def strategy_rule(self, name: str, parameters: Mapping[str, Any], path: str) -> None:
        if name in (*_ROLLOUTS, "gradualRolloutRandom"):
            key = "rollout" if name == "flexibleRollout" else "percentage"
            value = parameters.get(key)
            percentage = _percentage(value)
            if percentage is None:
                shown = (
                    "missing"
                    if value is None
                    else f"{quote(value)} is not a whole number (digits only)"
                )
                self.error(_join(path, key), f"{shown}; the strategy never matches")
            elif percentage > 100 and name != "gradualRolloutRandom":
                self.error(
                    _join(path, key), f"{percentage} is above 100; the strategy never matches"
                )
            elif percentage > 100:
                self.warning(_join(path, key), f"{percentage} is above 100; read as 100")
            if rollout_group_id(name, parameters, "") is None:
                self.error(
                    _join(path, "groupId"), f"{name} needs a groupId; the strategy never matches"
                )
        elif name == "userWithId":
            listed = parameters.get("userIds")
            ids = [] if listed is None else [i.strip() for i in str(listed).split(",")]
            if listed is None:
                self.warning(_join(path, "userIds"), "no user ids; the strategy matches no one")
            elif not any(ids):
                self.warning(
                    _join(path, "userIds"),
                    "no user ids; the strategy matches only an empty userId",
                )
            elif "" in ids:
                self.warning(
                    _join(path, "userIds"), "an empty entry, which matches an empty userId"
                )
        elif name == "remoteAddress":
            addresses = _csv(parameters.get("IPs"))
            valid = [part for part in addresses if parse_network(part) is not None]
            for part in addresses:
                if parse_network(part) is None:
                    self.warning(
                        _join(path, "IPs"),
                        f"{quote(part)} is not an IP address or range; ignored",
                    )
            if not valid:
                self.warning(_join(path, "IPs"), "no valid address; the strategy matches no one")

    def segment_references(self, raw_ids: Any, path: str, broken_segments: set[int]) -> None:
        if raw_ids is not None and not isinstance(raw_ids, list):
            self.warning(
                path,
                f"expected a list, got {_kind(raw_ids)}; ignored, so the strategy uses no segment",
            )
            return
        for position, raw_id in enumerate(raw_ids or ()):
            where = _join(path, position)
            key = segment_id(raw_id)
            if key is None:
                self.error(where, f"{quote(raw_id)} is not a segment id; the flag is always off")
            elif key not in self.state.segments:
                self.error(where, f"unknown segment {key}; the flag is always off")
            elif key in broken_segments:
                self.error(
                    where,
                    f"segment {key} has an invalid constraint (see segment {key}); "
                    "the strategy never matches",
                )

    # -- constraints ------------------------------------------------------------------------

    def constraint(self, raw: Any, path: str) -> bool:
        """Check one constraint; True when the compiler rejects it (it never matches)."""
        if not isinstance(raw, Mapping):
            self.error(path, f"expected a constraint object, got {_kind(raw)}; {_NEVER}")
            return True
        rejected = False
        context_name = raw.get("contextName")
        if not context_name:
            self.error(_join(path, "contextName"), f"missing; {_NEVER}")
            rejected = True
        elif not isinstance(context_name, str):
            self.warning(
                _join(path, "contextName"),
                f"expected a string, got {_kind(context_name)}; read as {quote(str(context_name))}",
            )
        self.boolean(raw, "inverted", path, "read as true unless false, 0 or empty")
        self.boolean(raw, "caseInsensitive", path, "read as true unless false, 0 or empty")
        operator = raw.get("operator")
        if operator in ("IN", "NOT_IN") and raw.get("caseInsensitive"):
            self.warning(
                _join(path, "caseInsensitive"),
                f"ignored: {operator} always compares exactly, as everywhere in Unleash "
                "(use STR_* or REGEX operators to ignore case)",
            )
        values = raw.get("values")
        listing = str(raw.get("operator") or "") in _LIST_OPERATORS
        if values is not None and not isinstance(values, list) and not listing:
            self.warning(_join(path, "values"), f"expected a list, got {_kind(values)}; ignored")
        elif isinstance(values, list) and listing:
            self.strings(values, _join(path, "values"))
        return self.operator(raw, path) or rejected

    def operator(self, raw: Mapping[str, Any], path: str) -> bool:
        """Check the operator and its values; True when the compiler rejects them."""
        raw_operator = raw.get("operator")
        operator = str(raw_operator or "")
        raw_values = raw.get("values")
        values: list[Any] = raw_values if isinstance(raw_values, list) else []
        listed = [value for value in values if value is not None]
        if not operator:
            self.error(_join(path, "operator"), f"missing; {_NEVER}")
            return True
        if operator not in _KNOWN_OPERATORS:
            hint = (
                f" (did you mean {quote(operator.upper())}?)"
                if (operator.upper() in _KNOWN_OPERATORS)
                else ""
            )
            self.error(
                _join(path, "operator"), f"unknown operator {quote(raw_operator)}{hint}; {_NEVER}"
            )
            return True
        if operator in _LIST_OPERATORS:
            if not listed:
                always = (operator == "NOT_IN") != bool(raw.get("inverted", False))
                outcome = "always matches" if always else "never matches"
                if raw_values is not None and not isinstance(raw_values, list):
                    found = f"expected a list, got {_kind(raw_values)}; ignored, so"
                elif raw.get("value") is not None:
                    found = "no values (this operator reads values, not value);"
                else:
                    found = "no values;"
                self.warning(_join(path, "values"), f"{found} the constraint {outcome}")
            if operator == "IN_CIDR":
                for position, value in enumerate(values):
                    if value is not None and parse_network(str(value)) is None:
                        self.warning(
                            _join(_join(path, "values"), position),
                            f"{quote(value)} is not an IP address or range; ignored",
                        )
            return False
        value, where = raw.get("value"), _join(path, "value")
        if value is None and values:
            value, where = values[0], _join(_join(path, "values"), 0)
            if len(values) > 1:
                self.warning(
                    _join(path, "values"), f"{operator} uses one value; only the first is used"
                )
        if value is None:
            self.error(where, f"{operator} needs a value; {_NEVER}")
            return True
        text = str(value)
        problem = None
        if operator.startswith("NUM_") and number_value(text) is None:
            problem = f"{quote(text)} is not a number"
        elif operator.startswith("SEMVER_") and version_value(text) is None:
            problem = f"{quote(text)} is not a semantic version (such as 1.2.3 or 1.2.3-rc.1)"
        elif operator.startswith("DATE_") and date_value(text) is None:
            problem = (
                f"{quote(text)} is not a date and time such as 2024-06-01T12:00:00Z or "
                "2024-06-01T14:00:00.000+02:00"
            )
        elif operator == "REGEX":
            try:
                compile_search(text, ignore_case=bool(raw.get("caseInsensitive", False)))
            except InvalidPattern as error:
                reason = str(error).removeprefix(f"invalid regular expression {text!r}: ")
                problem = f"{quote(text)} is not a valid RE2 regular expression ({reason})"
        if problem is not None:
            self.error(where, f"{problem}; {_NEVER}")
            return True
        return False

    # -- variants ---------------------------------------------------------------------------

    def variants(self, raw_variants: Any, path: str, feature_level: bool) -> None:
        if raw_variants is None:
            return
        if not isinstance(raw_variants, list):
            self.warning(path, f"expected a list, got {_kind(raw_variants)}; ignored")
            return
        names: Counter[str] = Counter()
        total = 0
        first_stickiness: Any = None
        for position, raw in enumerate(raw_variants):
            where = _join(path, position)
            if not isinstance(raw, Mapping):
                self.warning(where, f"expected a variant object, got {_kind(raw)}; ignored")
                continue
            if position == 0:
                first_stickiness = raw.get("stickiness")
            name = raw.get("name")
            if not isinstance(name, str):
                self.warning(_join(where, "name"), f"expected a name, got {quote(name)}; ignored")
                continue
            names[name] += 1
            total += self.weight(raw.get("weight"), _join(where, "weight"))
            self.variant_payload(raw, where)
            self.overrides(raw.get("overrides"), _join(where, "overrides"))
            stickiness = raw.get("stickiness")
            if feature_level and stickiness is not None:
                if not isinstance(stickiness, str):
                    self.warning(
                        _join(where, "stickiness"), f"expected a string, got {_kind(stickiness)}"
                    )
                elif position > 0 and stickiness != first_stickiness:
                    self.warning(
                        _join(where, "stickiness"),
                        f"{quote(stickiness)} differs from the first variant's "
                        f"{quote(first_stickiness)}, which is the one used",
                    )
        for name, count in names.items():
            if count > 1:
                self.warning(path, f"variant {quote(name)} is defined {count} times")
        if names and total <= 0:
            self.warning(
                path, "the weights add up to 0, so no variant is picked by weight (only overrides)"
            )

    def weight(self, value: Any, path: str) -> int:
        """The weight as the compiler reads it, with a warning when that is not its face
        value."""
        try:
            weight = max(int(value), 0)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite weight
            shown = "missing" if value is None else f"{quote(value)} is not a whole number"
            self.warning(path, f"{shown}; read as 0")
            return 0
        face = as_number(str(value)) if not isinstance(value, bool) else None
        if face != weight:
            self.warning(path, f"{quote(value)} is read as {weight}")
        return weight

    def variant_payload(self, raw: Mapping[str, Any], path: str) -> None:
        payload = raw.get("payload")
        if payload is None:
            return
        where = _join(path, "payload")
        if not isinstance(payload, Mapping):
            self.warning(where, f"expected an object, got {_kind(payload)}; ignored")
            return
        kind, value = payload.get("type"), payload.get("value")
        if not isinstance(kind, str) or "value" not in payload:
            self.warning(where, 'expected {"type": ..., "value": ...}')
        elif kind == "json" and not _is_json(value):
            self.warning(_join(where, "value"), "a json payload that is not valid JSON text")
        elif kind == "number" and as_number(str(value)) is None:
            self.warning(_join(where, "value"), f"{quote(value)} is not a number")

    def overrides(self, overrides: Any, path: str) -> None:
        if not overrides:
            return
        if not isinstance(overrides, (list, str, Mapping)):
            # The compiler iterates it and fails on the whole definition.
            self.error(
                path,
                f"expected a list, got {_kind(overrides)}; the flag does not compile "
                "and is always off",
            )
            return
        if not isinstance(overrides, list):
            self.warning(path, f"expected a list, got {_kind(overrides)}; ignored")
            return
        for position, override in enumerate(overrides):
            where = _join(path, position)
            if not isinstance(override, Mapping) or not override.get("contextName"):
                self.warning(where, "expected an object with a contextName; ignored")
                continue
            values = override.get("values")
            if not values:
                self.warning(_join(where, "values"), "no values; the override never applies")
            elif not isinstance(values, (list, str, Mapping)):
                self.error(
                    _join(where, "values"),
                    f"expected a list, got {_kind(values)}; the flag does not compile "
                    "and is always off",
                )
            elif not isinstance(values, list):
                self.warning(
                    _join(where, "values"),
                    f"expected a list, got {_kind(values)}; its "
                    + ("characters" if isinstance(values, str) else "keys")
                    + " are read as the values",
                )
            else:
                self.strings(values, _join(where, "values"))

    # -- dependencies -----------------------------------------------------------------------

    def dependencies(self, raw_dependencies: Any) -> None:
        if raw_dependencies is None:
            return
        if not isinstance(raw_dependencies, list):
            self.warning("dependencies", f"expected a list, got {_kind(raw_dependencies)}; ignored")
            return
        for position, raw in enumerate(raw_dependencies):
            where = _join("dependencies", position)
            if not isinstance(raw, Mapping) or not raw.get("feature"):
                self.warning(where, "expected an object with a parent feature name; ignored")
                continue
            parent_name = str(raw["feature"])
            if not isinstance(raw["feature"], str):
                self.warning(
                    _join(where, "feature"),
                    f"expected a flag name, got {_kind(raw['feature'])}; read as "
                    f"{quote(parent_name)}",
                )
            self.boolean(raw, "enabled", where, "only false asks for a disabled parent")
            wanted = raw.get("variants")
            if wanted is not None and not isinstance(wanted, list):
                self.warning(
                    _join(where, "variants"), f"expected a list, got {_kind(wanted)}; ignored"
                )
            parent = self.state.features.get(parent_name)
            if parent is None:
                self.warning(
                    _join(where, "feature"),
                    f"parent flag {quote(parent_name)} is not defined; this flag is always off",
                )
                continue
            if _has_dependencies(parent):
                self.warning(
                    _join(where, "feature"),
                    f"parent flag {quote(parent_name)} depends on other flags itself; Unleash "
                    "follows one level only, so this flag is always off",
                )
            if isinstance(wanted, list) and wanted:
                offered = _variant_names(parent)
                if offered and not offered & {str(name) for name in wanted}:
                    self.warning(
                        _join(where, "variants"),
                        f"parent flag {quote(parent_name)} has no variant named "
                        f"{', '.join(quote(str(name)) for name in wanted)}; this flag is off "
                        "whenever the parent picks a variant",
                    )

    # -- shared -----------------------------------------------------------------------------

    def boolean(self, raw: Mapping[str, Any], key: str, path: str, reading: str) -> None:
        value = raw.get(key)
        if value is not None and not isinstance(value, bool):
            self.warning(_join(path, key), f"expected true or false, got {quote(value)}; {reading}")

    def strings(self, values: Iterable[Any], path: str) -> None:
        for position, value in enumerate(values):
            if value is None:
                self.warning(_join(path, position), "null; ignored")
            elif not isinstance(value, str):
                self.warning(
                    _join(path, position),
                    f"expected a string, got {_kind(value)}; compared as {quote(str(value))}",
                )


def _is_json(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _has_dependencies(definition: Mapping[str, Any]) -> bool:
    """Whether the compiler gives this flag parents of its own."""
    dependencies = definition.get("dependencies")
    return isinstance(dependencies, list) and any(
        isinstance(raw, Mapping) and raw.get("feature") for raw in dependencies
    )


def _variant_names(definition: Mapping[str, Any]) -> set[str]:
    """The names of the variants a flag can pick (its own and its enabled strategies')."""
    lists = [definition.get("variants")]
    strategies = definition.get("strategies")
    if isinstance(strategies, list):
        lists += [
            strategy.get("variants")
            for strategy in strategies
            if isinstance(strategy, Mapping) and strategy.get("disabled") is not True
        ]
    return {
        variant["name"]
        for variants in lists
        if isinstance(variants, list)
        for variant in variants
        if isinstance(variant, Mapping) and isinstance(variant.get("name"), str)
    }
