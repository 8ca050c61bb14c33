"""A user-provided cache for tests: the official ``BaseCache`` interface over a dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unleash_lite.cache import MemoryCache


class DictCache(MemoryCache):
    """A user-provided cache: a dict, recording the ``mset`` calls the client makes."""

    def __init__(self, entries: Mapping[str, Any] | None = None,
                 bootstrapped: bool = False) -> None:
        super().__init__(entries)
        self.bootstrapped = bootstrapped
        self.mset_calls: list[dict[str, Any]] = []
        self.destroyed = False

    def mset(self, data: Mapping[str, Any]) -> None:
        self.mset_calls.append(dict(data))
        super().mset(data)

    def destroy(self) -> None:
        self.destroyed = True
        super().destroy()
