"""Caches compatible with the official SDK's ``UnleashClient.cache`` module.

``FileCache`` keeps the official API (``bootstrap_from_dict/file/url``, ``get``, ``set``,
``mset``, ``exists``, ``destroy``, ``bootstrapped``) but stores its entries in one JSON file
written atomically, so several processes can share a cache directory safely, and
``destroy()`` removes only its own file, never a directory other processes use.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._files import FileTooLarge, default_cache_directory, read_json, write_json_atomic
from .config import DEFAULT_MAX_PAYLOAD_BYTES

LOGGER = logging.getLogger("unleash_lite")

FEATURES_URL = "/client/features"  # the key the official SDK stores the flags payload under
ETAG = "etag"
REQUEST_TIMEOUT = 30


class BaseCache(abc.ABC):
    """The official SDK's cache interface; implement it to store flags elsewhere (Redis...).

    A cache that was pre-filled with flag definitions sets ``bootstrapped = True``; the
    client then starts from its ``FEATURES_URL`` entry (a JSON string or a dict).
    """

    bootstrapped = False

    @abc.abstractmethod
    def set(self, key: str, value: Any) -> None:
        """Store one entry."""

    @abc.abstractmethod
    def mset(self, data: Mapping[str, Any]) -> None:
        """Store several entries at once."""

    @abc.abstractmethod
    def get(self, key: str, default: Any | None = None) -> Any:
        """Return an entry, or ``default``."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether the entry is present."""

    @abc.abstractmethod
    def destroy(self) -> None:
        """Remove everything this cache stored."""


class MemoryCache(BaseCache):
    """A cache that keeps everything in memory and nothing on disk (one-off tools, read-only
    file systems). A new process starts with no cached flags."""

    def __init__(self, entries: Mapping[str, Any] | None = None) -> None:
        self.entries: dict[str, Any] = dict(entries or {})

    def set(self, key: str, value: Any) -> None:
        self.entries[key] = value

    def mset(self, data: Mapping[str, Any]) -> None:
        self.entries.update(data)

    def get(self, key: str, default: Any | None = None) -> Any:
        return self.entries.get(key, default)

    def exists(self, key: str) -> bool:
        return key in self.entries

    def destroy(self) -> None:
        self.entries.clear()


class FileCache(BaseCache):
    """A JSON-file cache, drop-in for the official ``FileCache``.

    The file is JSON only (never pickle), created 0600; a directory it has to create is
    created 0700 (an existing one is left as it is).

    :param name: cache name; the file is ``<directory>/<name>.json``.
    :param directory: where to keep it; defaults to the per-user cache directory.
    :param request_timeout: timeout in seconds for :meth:`bootstrap_from_url`.
    :param max_bytes: a cache file larger than this is refused (checked before reading it),
        and entries that would make the file larger are kept in memory only, with a warning.
        ``UnleashClient`` passes its ``max_payload_bytes``.
    :param read_now: read the file here (default), or on first use (``AsyncUnleashClient``
        passes ``False``: it is often built on its event loop, and reads in its executor).
    """

    def __init__(
        self,
        name: str,
        directory: str | os.PathLike[str] | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
        max_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
        *,
        read_now: bool = True,
    ) -> None:
        safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "unleash"
        self.path = Path(directory or default_cache_directory()) / f"{safe_name}.json"
        self.request_timeout = request_timeout
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._read_problem: str | None = None  # the last one logged, so it is logged once
        self._entries: dict[str, Any] | None = self._read() or {} if read_now else None
        self._warned_unwritable = False

    def __repr__(self) -> str:
        return f"FileCache(path={str(self.path)!r})"

    def bootstrap_from_dict(self, initial_config: Mapping[str, Any]) -> None:
        """Pre-fill the cache with a features payload given as a dict."""
        self.set(FEATURES_URL, json.dumps(initial_config))
        self.bootstrapped = True

    def bootstrap_from_file(self, initial_config_file: str | os.PathLike[str]) -> None:
        """Pre-fill the cache with a features payload read from a JSON file."""
        self.set(FEATURES_URL, Path(initial_config_file).read_text(encoding="utf-8"))
        self.bootstrapped = True

    def bootstrap_from_url(
        self,
        initial_config_url: str,
        headers: Mapping[str, str] | None = None,
        request_timeout: float | None = None,
    ) -> None:
        """Pre-fill the cache with a features payload fetched (GET) from a URL."""
        import requests  # only here: an offline client never loads the network stack

        response = requests.get(
            initial_config_url,
            headers=dict(headers or {}),
            timeout=request_timeout or self.request_timeout,
        )
        response.raise_for_status()
        self.set(FEATURES_URL, response.text)
        self.bootstrapped = True

    def set(self, key: str, value: Any) -> None:
        """Store one entry and persist the file."""
        self.mset({key: value})

    def mset(self, data: Mapping[str, Any]) -> None:
        """Store several entries and persist the file once."""
        self._loaded()  # first: reading the file takes the lock
        with self._lock:  # held while writing, so an older copy never overwrites a newer one
            self._entries = {**(self._entries or {}), **data}
            self._write(self._entries)

    def get(self, key: str, default: Any | None = None) -> Any:
        """Return an entry, or ``default``."""
        return self._loaded().get(key, default)

    def exists(self, key: str) -> bool:
        """Whether the entry is present."""
        return key in self._loaded()

    def reload(self) -> None:
        """Re-read the file, picking up what another process wrote.

        A file that has become unusable (corrupt, too large) is reported once and the entries
        read before are kept: the last good flags stay.
        """
        entries = self._read()
        if entries is None:
            return
        with self._lock:
            self._entries = entries

    def after_fork(self) -> None:
        """A fresh lock in a forked child (the parent's may have been held at fork time)."""
        self._lock = threading.Lock()

    def destroy(self) -> None:
        """Forget the entries and remove this cache's file (and nothing else)."""
        with self._lock:
            self._entries = {}
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:
            LOGGER.warning("Could not remove cache file %s: %s", self.path, error.strerror)

    def _loaded(self) -> dict[str, Any]:
        """The entries (read from the file now if ``read_now`` was false)."""
        entries = self._entries
        if entries is None:
            with self._lock:
                if self._entries is None:
                    self._entries = self._read() or {}
                entries = self._entries
        return entries

    def _read(self) -> dict[str, Any] | None:
        """The file's entries: ``{}`` when there is no file, ``None`` when it is unusable."""
        try:
            entries = read_json(self.path, self.max_bytes)
        except (FileNotFoundError, NotADirectoryError):
            self._read_problem = None
            return {}  # nothing cached yet; an unusable directory is reported when writing
        except FileTooLarge as error:
            self._unusable(f"{error} (max_payload_bytes)")
            return None
        except (OSError, ValueError) as error:
            self._unusable(str(error))
            return None
        if not isinstance(entries, dict):
            self._unusable("it does not hold a JSON object")
            return None
        self._read_problem = None
        return entries

    def _unusable(self, problem: str) -> None:
        """Log ``problem`` once (a reader re-reading the same bad file says it only once)."""
        if problem != self._read_problem:
            self._read_problem = problem
            LOGGER.warning("Ignoring unusable cache file %s: %s", self.path, problem)

    def _write(self, entries: dict[str, Any]) -> None:
        try:
            write_json_atomic(self.path, entries, self.max_bytes)
        except (OSError, TypeError, ValueError) as error:
            if not self._warned_unwritable:
                self._warned_unwritable = True
                LOGGER.warning(
                    "Cache file %s cannot be written (%s); keeping flags in memory only",
                    self.path,
                    error,
                )
        else:
            self._warned_unwritable = False
