"""A user-provided cache for tests: the official ``BaseCache`` interface over a dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unleash_lite.cache import BaseCache


class DictCache(BaseCache):
    """A user-provided cache: a dict, recording the ``mset`` calls the client makes."""

    def __init__(self, entries: Mapping[str, Any] | None = None,
                 bootstrapped: bool = False) -> None:
        self.entries: dict[str, Any] = dict(entries or {})
        self.bootstrapped = bootstrapped
        self.mset_calls: list[dict[str, Any]] = []
        self.destroyed = False

    def set(self, key: str, value: Any) -> None:
        self.entries[key] = value

    def mset(self, data: Mapping[str, Any]) -> None:
        self.mset_calls.append(dict(data))
        self.entries.update(data)

    def get(self, key: str, default: Any | None = None) -> Any:
        return self.entries.get(key, default)

    def exists(self, key: str) -> bool:
        return key in self.entries

    def destroy(self) -> None:
        self.destroyed = True
        self.entries.clear()
