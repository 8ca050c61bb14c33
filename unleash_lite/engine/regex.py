"""REGEX constraint patterns: RE2 syntax and linear-time matching.

The client specification follows the Rust ``regex`` crate (RE2 syntax: POSIX classes, inline
flags anywhere, no lookaround and no backreferences). Python's ``re`` differs on all of those
and backtracks exponentially on patterns such as ``^(a+)+$``, so patterns compile with Google's
RE2, which guarantees time linear in the input.
"""

from __future__ import annotations

from collections.abc import Callable

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # an invalid pattern is reported by us, not printed to stderr

_OPTIONS_IGNORE_CASE = re2.Options()
_OPTIONS_IGNORE_CASE.log_errors = False
_OPTIONS_IGNORE_CASE.case_sensitive = False


class InvalidPattern(ValueError):
    """The pattern is not valid RE2 syntax."""


def compile_search(pattern: str, ignore_case: bool = False) -> Callable[[str], bool]:
    """Compile ``pattern`` into a predicate telling whether it matches anywhere in a string.

    Raises :class:`InvalidPattern` when RE2 rejects it (for example lookaround or backreferences).
    """
    try:
        compiled = re2.compile(pattern, _OPTIONS_IGNORE_CASE if ignore_case else _OPTIONS)
    except (re2.error, TypeError, ValueError) as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):  # RE2 reports its reason as bytes
            reason = reason.decode("utf-8", "replace")
        raise InvalidPattern(f"invalid regular expression {pattern!r}: {reason}") from None
    search = compiled.search

    def matches(text: str) -> bool:
        try:
            return search(text) is not None
        except UnicodeEncodeError:  # lone surrogates cannot reach RE2 as UTF-8
            return search(text.encode("utf-8", "replace").decode("utf-8")) is not None

    return matches
