"""Reading bootstrap flag definitions from a dict, a JSON string or a JSON file."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .engine.state import FlagState, PayloadError

BootstrapSource = Mapping[str, Any] | str | bytes | os.PathLike[str]


MAX_SHOWN_PATH = 200


def load_bootstrap(source: BootstrapSource) -> Mapping[str, Any]:
    """Return the payload a bootstrap source holds (full or delta format).

    A string is JSON when it starts with ``{``, otherwise a path. Raises ``ValueError`` for
    unreadable or malformed sources.
    """
    if isinstance(source, Mapping):
        return source
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return _parse(source, "bootstrap string")
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            f"a bootstrap is a dict, a JSON string or a path, not {type(source).__name__}"
        )
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        shown = str(path)
        if len(shown) > MAX_SHOWN_PATH:  # most likely JSON that does not start with "{"
            shown = f"{shown[:MAX_SHOWN_PATH]}... ({len(shown)} characters)"
        raise ValueError(f"cannot read bootstrap file {shown}: {error.strerror}") from None
    return _parse(text, f"bootstrap file {path}")


def require_bootstrap(source: BootstrapSource) -> Mapping[str, Any]:
    """The payload of a bootstrap a client depends on (an offline one has no other source
    of flags): :func:`load_bootstrap`, then a check that it is a features payload or delta.
    Raises ``ValueError`` (``TypeError`` for a source of the wrong type) naming
    ``bootstrap``, with what is wrong."""
    if not isinstance(source, (Mapping, str, bytes, os.PathLike)):
        raise TypeError(
            f"bootstrap must be a dict, a JSON string or a path, not {type(source).__name__}"
        )
    try:
        payload = load_bootstrap(source)
        FlagState().apply(payload)  # what installing it does first (a private copy included)
    except (ValueError, RecursionError) as error:  # PayloadError is a ValueError
        detail = "it nests too deeply" if isinstance(error, RecursionError) else str(error)
        kind = "flags payload" if isinstance(error, PayloadError) else "source"
        raise ValueError(
            f'bootstrap is not a usable {kind} ({detail}); with url="" (offline) it is the '
            "only source of flags"
        ) from None
    return payload


def _parse(text: str, origin: str) -> Mapping[str, Any]:
    try:
        payload = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{origin} is not valid JSON: {error}") from None
    if not isinstance(payload, Mapping):
        raise ValueError(f"{origin} does not hold a JSON object")
    return payload
