"""Crash-safe JSON files: atomic replace on write, bounded and tolerant reads."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Any

APP_DIRECTORY = "unleash-lite"
PRIVATE_FILE = 0o600
PRIVATE_DIRECTORY = 0o700
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class FileTooLarge(ValueError):
    """A file (to read, or about to be written) is over the size limit."""


def default_cache_directory() -> Path:
    """The per-user cache directory: ``$XDG_CACHE_HOME/unleash-lite`` when that variable is
    set (on every platform), else the platform's own: ``~/.cache/unleash-lite`` on Linux,
    ``~/Library/Caches/unleash-lite`` on macOS, ``%LOCALAPPDATA%\\unleash-lite\\Cache`` on
    Windows."""
    override = os.environ.get("XDG_CACHE_HOME")
    if override:
        return Path(override) / APP_DIRECTORY
    import platformdirs  # here: a client that keeps no cache never needs it

    return Path(platformdirs.user_cache_dir(APP_DIRECTORY, appauthor=False))


def write_json_atomic(path: Path, data: Any, max_bytes: int | None = None) -> None:
    """Write ``data`` as JSON so that readers see the old file or the new one, never a mix.

    The bytes go to a private (0600) temporary file in the same directory, are flushed to
    disk, and the file is renamed over ``path`` (atomic on POSIX and Windows), so several
    processes may share the directory and a crash mid-write leaves the previous file intact.
    A missing directory is created private (0700); an existing one is left as it is. Raises
    :class:`FileTooLarge`, writing nothing, when the JSON would be over ``max_bytes``.
    """
    encoded = json.dumps(data, separators=(",", ":")).encode("utf-8")
    if max_bytes is not None and len(encoded) > max_bytes:
        raise FileTooLarge(f"it would be {len(encoded)} bytes, over the limit of {max_bytes}")
    import tempfile  # here: a client that writes no cache never needs it

    path.parent.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
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


def read_json(path: Path, max_bytes: int | None = None) -> Any:
    """Read a JSON file; raises ``OSError`` when it cannot be read and ``ValueError`` when it
    is not a regular file, is over ``max_bytes`` (:class:`FileTooLarge`, checked before
    reading) or is not JSON.

    Only JSON is ever parsed (never pickle), and never more than ``max_bytes`` bytes are read,
    even from a file that grows while it is read.
    """
    descriptor = os.open(path, _READ_FLAGS)  # non-blocking: a FIFO planted here cannot hang us
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("it is not a regular file")
        if max_bytes is not None and info.st_size > max_bytes:
            raise FileTooLarge(f"it is {info.st_size} bytes, over the limit of {max_bytes}")
        data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise FileTooLarge(f"it grew past the limit of {max_bytes} bytes while being read")
    try:
        return json.loads(data)
    except RecursionError:  # nesting deeper than the parser's stack: not a payload either
        raise ValueError("it nests too deeply to be a payload") from None
