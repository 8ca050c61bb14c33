"""Checking flag definitions before they ship: each problem, with its flag and field.

Pure: a parsed payload in, problems out; no I/O. The problems in flags and segments are the
compiler's own reports (every flag is compiled with a :class:`Problems` sink), so the two
agree by construction; this module adds the payload's own problems (skipped entries, names
defined twice) and what only shows across flags (parents that keep a child off):

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

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .compiler import CompiledFeature, Compiler, read_dependencies
from .context import StaticContext
from .problems import ERROR, WARNING, Finding, Problems, Severity, join, kind, quote
from .state import FlagState, PayloadError, feature_name, segment_id, segment_key

__all__ = [
    "ERROR",
    "WARNING",
    "PayloadFormat",
    "Problem",
    "Severity",
    "export_message",
    "payload_format",
    "quote",
    "validate",
]

PayloadFormat = Literal["full", "delta", "export", "invalid"]

_EXPORT_KEYS = ("featureStrategies", "featureEnvironments")


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
    if payload_format(payload) == "export":
        return [Problem(None, "", export_message(payload))]
    try:
        state = FlagState().apply(payload)
    except PayloadError as error:
        return [Problem(None, "", f"not a flags payload: {error}")]
    checker = _Checker(state, custom_strategies)
    checker.payload(payload)
    return checker.results()


# -- the checks ---------------------------------------------------------------------------------


class _Checker:
    """Collects problems; ``owner`` says which flag or segment the next ones belong to."""

    def __init__(self, state: FlagState, custom_strategies: Collection[str]) -> None:
        self.state = state
        registered = dict.fromkeys(custom_strategies, _Unevaluated())
        self.compiler = Compiler(state.segments, StaticContext(), registered, warns=True)
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
        compiled = {}
        for name, definition in self.state.features.items():
            problems = Problems()
            compiled[name] = self.compiler.feature(name, definition, problems)
            self.found += [_problem(finding, flag=name) for finding in problems.found]
        for name, feature in compiled.items():
            self.flag = name
            self.parents(feature, compiled)
        self.flag = None
        for key in self.state.segments:
            self.found += [
                _problem(finding, segment=key) for finding in self.compiler.segment_problems(key)
            ]
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
                self.event(event, join("events", position))
            return
        self.feature_list(payload["features"], "features")
        self.segment_list(payload.get("segments"), "segments")

    def event(self, event: Any, path: str) -> None:
        event_type = event.get("type") if isinstance(event, Mapping) else None
        if not isinstance(event, Mapping):
            self.error(path, f"expected an event object, got {kind(event)}; ignored")
        elif event_type == "hydration":
            self.feature_list(event.get("features"), join(path, "features"))
            self.segment_list(event.get("segments"), join(path, "segments"))
        elif event_type == "feature-updated":
            self.feature_list([event.get("feature")], join(path, "feature"), single=True)
        elif event_type == "segment-updated":
            self.segment_list([event.get("segment")], join(path, "segment"), single=True)
        elif event_type == "feature-removed":
            if not isinstance(event.get("featureName"), str):
                self.warning(join(path, "featureName"), "expected a flag name; ignored")
        elif event_type == "segment-removed":
            if segment_id(event.get("segmentId")) is None:
                self.warning(join(path, "segmentId"), "expected a segment id; ignored")
        else:
            self.error(join(path, "type"), f"unknown event type {quote(event_type)}; ignored")

    def feature_list(self, features: Any, path: str, single: bool = False) -> None:
        entries = self.entries(features, path, single, feature_name, "flag", "name", "a flag name")
        for name, places in entries.items():
            self.flag = name
            self.defined_twice(places)
        self.flag = None

    def segment_list(self, segments: Any, path: str, single: bool = False) -> None:
        entries = self.entries(segments, path, single, segment_key, "segment", "id", "a numeric id")
        for key, places in entries.items():
            self.segment = key
            self.defined_twice(places)
        self.segment = None

    def entries(
        self,
        items: Any,
        path: str,
        single: bool,
        key_of: Callable[[Any], str | int | None],
        noun: str,
        field: str,
        expected: str,
    ) -> dict[Any, list[str]]:
        """Report the entries ``FlagState`` skips; where each kept one is, by its key."""
        if not isinstance(items, list):
            return {}  # absent, or FlagState.apply has already refused it
        places: dict[Any, list[str]] = {}
        for position, raw in enumerate(items):
            where = path if single else join(path, position)
            key = key_of(raw)
            if key is not None:
                places.setdefault(key, []).append(where)
            elif not isinstance(raw, Mapping):
                self.error(where, f"expected a {noun} object, got {kind(raw)}; skipped")
            else:
                self.error(
                    join(where, field), f"expected {expected}, got {quote(raw.get(field))}; skipped"
                )
        return places

    def defined_twice(self, places: list[str]) -> None:
        if len(places) > 1:
            self.warning(
                "", f"defined {len(places)} times ({', '.join(places)}); the last one is used"
            )

    # -- across flags -----------------------------------------------------------------------

    def parents(self, feature: CompiledFeature, compiled: Mapping[str, CompiledFeature]) -> None:
        """Warn about parents that keep this flag off: missing, themselves children, or
        without the variant asked for."""
        raw = feature.definition.get("dependencies")
        for position, dependency in read_dependencies(raw, Problems(warns=False)):
            where = join("dependencies", position)
            name = dependency.feature
            parent = compiled.get(name)
            if parent is None:
                self.warning(
                    join(where, "feature"),
                    f"parent flag {quote(name)} is not defined; this flag is always off",
                )
                continue
            if parent.dependencies:
                self.warning(
                    join(where, "feature"),
                    f"parent flag {quote(name)} depends on other flags itself; Unleash "
                    "follows one level only, so this flag is always off",
                )
            offered = {
                variant.name
                for variants in (parent.variants, *(s.variants for s in parent.strategies))
                if variants is not None
                for variant in variants.variants
            }
            if dependency.variants and offered and not offered & dependency.variants:
                wanted = feature.definition["dependencies"][position]["variants"]
                self.warning(
                    join(where, "variants"),
                    f"parent flag {quote(name)} has no variant named "
                    f"{', '.join(quote(str(name)) for name in wanted)}; this flag is off "
                    "whenever the parent picks a variant",
                )


class _Unevaluated:
    """A registered custom strategy's stand-in: validation compiles, never evaluates."""

    def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        return False


def _problem(finding: Finding, flag: str | None = None, segment: int | None = None) -> Problem:
    return Problem(flag, finding.path, finding.text, finding.severity, segment)
