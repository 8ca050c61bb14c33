"""Semantic versions (semver.org 2.0.0) for the SEMVER_* constraint operators."""

from __future__ import annotations

import re
from typing import NamedTuple

_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)

# A prerelease identifier sorts as (0, number) when numeric and (1, text) otherwise, so
# numeric identifiers come first, as semver requires.
_Identifier = tuple[int, int | str]


class Version(NamedTuple):
    """A parsed version; tuples of these compare by semver precedence (build ignored)."""

    major: int
    minor: int
    patch: int
    is_release: bool  # a release sorts after every prerelease of the same core version
    prerelease: tuple[_Identifier, ...]


def parse_version(text: str) -> Version | None:
    """Parse a strict semver string (no leading ``v``); ``None`` when it is not one."""
    match = _SEMVER.fullmatch(text)
    if match is None:
        return None
    major, minor, patch, prerelease, _build = match.groups()
    identifiers: tuple[_Identifier, ...] = ()
    if prerelease:
        identifiers = tuple(
            (0, int(part)) if part.isdigit() else (1, part) for part in prerelease.split(".")
        )
    return Version(int(major), int(minor), int(patch), not prerelease, identifiers)
