"""What the compiler finds wrong in a definition, at the field where it finds it.

The compile functions take a :class:`Problems` sink and report to it as they read each
field; the compiled objects' ``problem`` strings (what ``explain()`` shows) and the
``validate`` command's problems both come from these reports, so the rules live once, in
the compiler. Reporting happens at compile time only: evaluation never sees a sink.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

Severity = Literal["error", "warning"]
ERROR: Severity = "error"
WARNING: Severity = "warning"

# What an error does to the flag; a validate message ends with it.
CONSTRAINT_OFF = "the constraint never matches"
STRATEGY_OFF = "the strategy never matches"
FLAG_OFF = "the flag is always off"
FLAG_UNCOMPILABLE = "the flag does not compile and is always off"


class DefinitionError(ValueError):
    """A definition the compiler cannot compile at all (already reported to the sink)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem the compiler met: how bad, at which field, what, and (for an error) what
    it does to the flag."""

    severity: Severity
    path: str  # relative to the flag or segment, "" for the whole of it
    message: str
    consequence: str | None = None

    @property
    def text(self) -> str:
        """The message with its consequence, as ``validate`` shows it."""
        return f"{self.message}; {self.consequence}" if self.consequence else self.message


def join(path: str, key: str | int) -> str:
    """``path`` extended by a key (``a.b``) or a list position (``a[3]``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Problems:
    """A sink for findings; :meth:`at` gives one for a field below, sharing the same list.
    Paths are built only when something is reported: compiling a sound flag pays for none.

    ``warns``: whether warnings are wanted (``validate``); a snapshot's own compile needs
    only the errors, and skips the checks that can only warn.
    """

    __slots__ = ("_keys", "_parent", "found", "warns")

    def __init__(
        self,
        found: list[Finding] | None = None,
        parent: Problems | None = None,
        keys: tuple[str | int, ...] = (),
        warns: bool = True,
    ) -> None:
        self.found: list[Finding] = [] if found is None else found
        self._parent = parent
        self._keys = keys
        self.warns = warns

    @property
    def path(self) -> str:
        """This field's path."""
        path = "" if self._parent is None else self._parent.path
        for key in self._keys:
            path = join(path, key)
        return path

    def at(self, *keys: str | int) -> Problems:
        """The sink for the field ``keys`` below this one."""
        # Without __init__: one per strategy, constraint and variant list of every flag
        # compiled, so this is on the first evaluation of each flag.
        child = _new_sink(Problems)
        child.found, child._parent, child._keys, child.warns = self.found, self, keys, self.warns
        return child

    def error(self, message: str, consequence: str, *keys: str | int) -> str:
        """Report an error at ``keys`` below this field; returns ``message``."""
        self.found.append(Finding(ERROR, self._path(keys), message, consequence))
        return message

    def warning(self, message: str, *keys: str | int) -> None:
        """Report something read otherwise than it seems to be written."""
        if self.warns:
            self.found.append(Finding(WARNING, self._path(keys), message))

    def boolean(self, raw: Mapping[str, Any], key: str, reading: str) -> None:
        """Warn when ``raw[key]`` is present but not true or false; ``reading`` says how
        the compiler reads it then."""
        value = raw.get(key)
        if self.warns and value is not None and not isinstance(value, bool):
            self.warning(f"expected true or false, got {quote(value)}; {reading}", key)

    def first_error(self, since: int, consequence: str) -> str | None:
        """The first error with ``consequence`` reported after position ``since`` of the
        list (``len(found)`` before compiling something), with its path from this field:
        the compiled object's ``problem``."""
        for finding in self.found[since:]:
            if finding.severity == ERROR and finding.consequence == consequence:
                below = finding.path.removeprefix(self.path).removeprefix(".")
                return f"{below}: {finding.message}" if below else finding.message
        return None

    def _path(self, keys: tuple[str | int, ...]) -> str:
        return self.at(*keys).path


_new_sink = object.__new__


def quote(value: Any) -> str:
    """A value as JSON text: strings in double quotes, with anything odd escaped."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def is_object(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """Whether ``value`` is a JSON object (a mapping): ``isinstance(value, Mapping)``, with a
    fast path for the dicts a payload is made of (the ABC check costs 10x more)."""
    return type(value) is dict or isinstance(value, Mapping)


def kind(value: Any) -> str:
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


def strings(values: Any, problems: Problems) -> None:
    """Warn about list entries that are null (ignored) or not strings (compared as text)."""
    if not problems.warns:
        return
    for position, value in enumerate(values):
        if value is None:
            problems.warning("null; ignored", position)
        elif not isinstance(value, str):
            problems.warning(
                f"expected a string, got {kind(value)}; compared as {quote(str(value))}", position
            )
