"""Semantic versions (semver.org 2.0.0) for the SEMVER_* constraint operators."""

from __future__ import annotations

import re
from typing import NamedTuple

_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?",
    re.ASCII,
)
_MAX_COMPONENT = 2**64 - 1  # major, minor and patch are u64 in Rust's semver crate

# A prerelease identifier sorts as (0, length, digits) when numeric, which orders numbers of
# any size by value (they have no leading zeros), and as (1, 0, text) otherwise, so numeric
# identifiers come first, as semver requires.
_Identifier = tuple[int, int, str]


class Version(NamedTuple):
    """A parsed version; tuples of these compare by semver precedence (build ignored)."""

    major: int
    minor: int
    patch: int
    is_release: bool  # a release sorts after every prerelease of the same core version
    prerelease: tuple[_Identifier, ...]


def parse_version(text: str) -> Version | None:
    """Parse a strict semver string as Yggdrasil (the ``semver`` crate) does: no leading
    ``v``, no spaces, ASCII digits, major/minor/patch within 64 bits; ``None`` otherwise."""
    match = _SEMVER.fullmatch(text)
    if match is None:
        return None
    major, minor, patch, prerelease, _build = match.groups()
    if max(len(major), len(minor), len(patch)) > 20:
        return None  # beyond 64 bits (and no int() of hostile lengths)
    if max(int(major), int(minor), int(patch)) > _MAX_COMPONENT:
        return None
    identifiers: tuple[_Identifier, ...] = ()
    if prerelease:
        identifiers = tuple(
            (0, len(part), part) if part.isdigit() else (1, 0, part)
            for part in prerelease.split(".")
        )
    return Version(int(major), int(minor), int(patch), not prerelease, identifiers)


def version_value(text: str) -> Version | None:
    """A SEMVER_* constraint value: a version, with spaces or tabs around it allowed as in
    Yggdrasil's rule grammar."""
    return parse_version(text.strip(" \t"))
