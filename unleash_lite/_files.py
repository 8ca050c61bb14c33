"""Crash-safe JSON files: atomic replace on write, tolerant reads."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

PRIVATE_FILE = 0o600
PRIVATE_DIRECTORY = 0o700


def default_cache_directory() -> Path:
    """The per-user cache directory: ``$XDG_CACHE_HOME/unleash-lite`` or ``~/.cache/...``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "unleash-lite"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON so that readers see the old file or the new one, never a mix.

    The bytes go to a private temporary file in the same directory, are flushed to disk, and
    the file is renamed over ``path`` (atomic on POSIX and Windows), so several processes may
    share the directory and a crash mid-write leaves the previous file intact.
    """
    path.parent.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
    encoded = json.dumps(data, separators=(",", ":")).encode("utf-8")
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(encoded)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, PRIVATE_FILE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read_json(path: Path) -> Any:
    """Read a JSON file; raises ``OSError`` or ``ValueError`` when missing or corrupt."""
    with open(path, "rb") as handle:
        return json.loads(handle.read())
