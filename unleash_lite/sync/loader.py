"""Where a client's flags come from, and how they get in: one path for every source.

A bootstrap (at start), the disk cache (at start, and again on every refresh of a
``fetch_toggles=False`` client) and the server's answers all end in :meth:`FlagLoader.install`:
compile against the client's current snapshot with the garbage collector paused, and let the
client swap the result in. The loader keeps the ETag of the flags it installed from the
server or the cache. No network code here: an offline client runs on this module alone.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..bootstrap import BootstrapSource, load_bootstrap
from ..cache import ETAG, FEATURES_URL, BaseCache
from ..engine import PayloadError, Snapshot
from .processes import collector_paused

LOGGER = logging.getLogger("unleash_lite")

# The client's side of an install: under its swap lock, call the function with the snapshot
# answering now, swap in the one it returns, and return it.
Swap = Callable[[Callable[[Snapshot], Snapshot]], Snapshot]


def compile_payload(current: Snapshot, payload: Any, owned: bool = False) -> Snapshot:
    """``current`` with ``payload`` (full or delta) applied, compiled with the cyclic
    garbage collector paused (see :func:`~.processes.collector_paused`)."""
    with collector_paused():
        return current.apply(payload, owned)


class FlagLoader:
    """Installs flags from a bootstrap, a cache entry or a fetched body into a client."""

    def __init__(
        self,
        cache: BaseCache | None,
        swap: Swap,
        on_fetched: Callable[[str], None] = lambda body: None,
    ) -> None:
        self.cache = cache
        self.swap = swap
        self.on_fetched = on_fetched
        self.etag: str | None = None  # of the flags installed from the server or the cache
        self.bootstrapped = False  # started from a bootstrap, or a bootstrapped cache
        self._unusable_etag: str | None = None  # an entry already reported unusable
        self.installed: Snapshot | None = None  # the snapshot of the last install

    def start(self, bootstrap: BootstrapSource | None, use_cache: bool = True) -> None:
        """Install the first flags: ``bootstrap``, else (unless not ``use_cache``) the
        cache's entry (a bootstrapped cache's included). Never raises; what is unusable is
        logged."""
        if bootstrap is not None:
            try:
                # A dict is the caller's and gets copied; text or a file parses into our own.
                self.install(load_bootstrap(bootstrap), owned=not isinstance(bootstrap, Mapping))
            except (ValueError, RecursionError) as error:  # PayloadError is a ValueError
                LOGGER.error("Ignoring the bootstrap: %s", error or type(error).__name__)
            else:
                self.bootstrapped = True
                return
        if use_cache:
            self.start_from_cache()

    def start_from_cache(self) -> None:
        """Install the cache's entry as the first flags (a bootstrapped cache's included).
        Never raises; what is unusable is logged."""
        if self.cache is not None:
            problem = self.read_cache(initial=True)
            if problem is not None:
                LOGGER.warning("Unleash starts without the cached flags: %s", problem)

    def read_cache(self, initial: bool = False) -> str | None:
        """Install the cache's flags unless they are those installed already (same ETag);
        re-read the cache first (``reload()``) unless ``initial``. Returns what is wrong
        with the cache, if something is; an entry found unusable is reported once."""
        if self.cache is None:
            return None
        try:
            reload = getattr(self.cache, "reload", None)
            if not initial and callable(reload):
                reload()
            bootstrapped = initial and bool(getattr(self.cache, "bootstrapped", False))
            stored, etag = self.cache.get(FEATURES_URL), self.cache.get(ETAG)
        except Exception as error:  # a user-provided cache must not break the caller
            return f"the cache cannot be read ({error})"
        if isinstance(etag, bytes):  # a cache that stores bytes (Redis, say)
            etag = etag.decode("utf-8", "replace")
        etag = etag if isinstance(etag, str) and etag else None
        if not stored or (etag is not None and etag in (self.etag, self._unusable_etag)):
            return None
        problem = self.install_entry(stored)
        if problem is not None:
            self._unusable_etag = etag
            return f"the cache holds {problem}"
        # A bootstrapped cache's ETag is not the server's: the first fetch must not send it.
        self.etag = None if bootstrapped else etag
        if initial:
            self.bootstrapped = bootstrapped
        return None

    def install_fetched(self, body: str, etag: str | None) -> str | None:
        """Install the server's answer, store it in the cache and announce it (FETCHED);
        the reason it is unusable, if it is."""
        problem = self.install_entry(body)
        if problem is not None:
            return problem
        self.etag = etag
        if self.cache is not None:
            try:
                self.cache.mset({FEATURES_URL: body, ETAG: etag or ""})
            except Exception as error:  # a user-provided cache must not stop the poller
                LOGGER.warning("Unleash could not write the flags to the cache: %s", error)
        self.on_fetched(body)
        return None

    def install_delta(self, body: str, etag: str | None = None) -> str | None:
        """Install a streamed event's data or a delta poll's answer (full state or delta
        events), keep the resulting full state in the cache and announce it (FETCHED); the
        reason it is unusable, if it is. ``etag``: the delta's, sent with the next delta poll
        (never stored: the cache holds the full state, not the delta it came from)."""
        problem = self.install_entry(body)
        if problem is not None:
            return problem
        self.etag = etag
        state = json.dumps(self.installed.state.to_payload()) if self.installed else body
        if self.cache is not None:
            try:
                self.cache.mset({FEATURES_URL: state, ETAG: ""})
            except Exception as error:  # a user-provided cache must not stop the stream
                LOGGER.warning("Unleash could not write the flags to the cache: %s", error)
        self.on_fetched(state)
        return None

    def install_entry(self, entry: Any) -> str | None:
        """Install a payload kept as JSON text (``str`` or ``bytes``) or as a dict (copied);
        the reason it is unusable, if it is."""
        try:
            if isinstance(entry, (str, bytes, bytearray)):
                payload, owned = parse_json(entry), True
            elif isinstance(entry, Mapping):
                payload, owned = entry, False
            else:
                kind = type(entry).__name__
                raise PayloadError(f"an entry of type {kind}: not JSON text or a dict")
            if _drops_every_feature(payload):
                raise PayloadError("'features' holds no object with a name")
            self.install(payload, owned)
        except ValueError as error:  # includes PayloadError and JSON decode errors
            return f"unusable flags payload ({type(error).__name__}: {str(error)[:200]})"
        except RecursionError:  # JSON nested deeper than the parser's stack
            return "unusable flags payload (nested too deeply)"
        except Exception as error:  # never let a payload break the caller
            LOGGER.debug("Unleash could not install a flags payload", exc_info=True)
            return f"unusable flags payload ({type(error).__name__})"
        return None

    def install(self, payload: Any, owned: bool = False) -> Snapshot:
        """Compile ``payload`` against the client's current flags and swap it in. Raises
        :class:`~unleash_lite.engine.PayloadError` when it is not a payload."""
        self.installed = self.swap(lambda current: compile_payload(current, payload, owned))
        return self.installed


# A text shorter than this parses at once (a few milliseconds); a longer one in pieces.
PIECEWISE_FROM = 256 * 1024
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
# The decoder's scanner: the value at an index of a text, and the index after it (raises
# StopIteration when there is none); json.loads uses the same.
Scan = Callable[[str, int], tuple[Any, int]]


def parse_json(text: str | bytes | bytearray) -> Any:
    """``json.loads(text)``, letting other threads run while a large payload parses.

    ``json.loads`` holds the GIL for the whole text (tens of milliseconds per megabyte), so
    an async client parsing flags in its loop's executor would stall the loop as long. In a
    large top-level object, each array member (``features``, ``segments``) is parsed one
    element at a time, with the interpreter free to switch threads between elements (and
    the cyclic garbage collector, whose passes over a growing heap hold the GIL too, paused
    meanwhile). Any
    other text, or one that is not such a well-formed object, goes to ``json.loads``: the
    result, or the error, is always ``json.loads``'s.
    """
    if not isinstance(text, str) or len(text) < PIECEWISE_FROM:
        return json.loads(text)
    try:
        with collector_paused():  # nothing cyclic: its passes would hold the GIL as long
            return _object_in_pieces(text)
    except (_NotPlain, StopIteration, ValueError):  # json.loads says what is wrong
        return json.loads(text)


class _NotPlain(Exception):
    """The text is not a well-formed object: left to ``json.loads``."""


def _object_in_pieces(text: str) -> dict[str, Any]:
    scan: Scan = _DECODER.scan_once  # type: ignore[attr-defined]
    index = _skip(text, 0)
    if text[index : index + 1] != "{":
        raise _NotPlain
    index = _skip(text, index + 1)
    result: dict[str, Any] = {}
    closing = text[index : index + 1] == "}"
    index += closing
    while not closing:
        if text[index : index + 1] != '"':
            raise _NotPlain
        key, index = scan(text, index)
        index = _skip(text, index)
        if text[index : index + 1] != ":":
            raise _NotPlain
        index = _skip(text, index + 1)
        if text[index : index + 1] == "[":
            result[key], index = _array_in_pieces(text, index, scan)
        else:
            result[key], index = scan(text, index)
        index = _skip(text, index)
        separator = text[index : index + 1]
        index = _skip(text, index + 1)
        if separator not in (",", "}"):
            raise _NotPlain
        closing = separator == "}"
    if _skip(text, index) != len(text):
        raise _NotPlain
    return result


def _array_in_pieces(text: str, index: int, scan: Scan) -> tuple[list[Any], int]:
    items: list[Any] = []
    index = _skip(text, index + 1)
    if text[index : index + 1] == "]":
        return items, index + 1
    while True:
        item, index = scan(text, index)
        items.append(item)
        index = _skip(text, index)
        separator = text[index : index + 1]
        if separator == "]":
            return items, index + 1
        if separator != ",":
            raise _NotPlain
        index = _skip(text, index + 1)


def _skip(text: str, index: int) -> int:
    """The index of the first character at or after ``index`` that is not JSON whitespace."""
    return _SPACE.match(text, index).end()  # type: ignore[union-attr]  # "*" always matches


def _drops_every_feature(payload: Any) -> bool:
    """True for a full payload listing features of which none is usable (say ``[1, 2]``):
    installing it would silently turn every flag off, so it is treated as a bad payload."""
    features = payload.get("features") if isinstance(payload, Mapping) else None
    return (
        bool(features)
        and isinstance(features, list)
        and not any(
            isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]
            for item in features
        )
    )
