"""How each SDK is driven without a server: build a ready client, refresh it, read its metrics.

Runs inside the worker, in the SDK's own virtual environment. Nothing here does network I/O or
starts a background thread, with two exceptions: the disk-cache start of the official SDKs
(their documented way to start from the cache, ``initialize_client(fetch_toggles=False)``,
starts their scheduler), and the async clients' ``server_client``, which the async start-up and
refresh measurements initialize against a (refusing or loopback) server.

What the official SDKs do (read in their site-packages, see docs/performance.md):

* Both load a bootstrapped ``FileCache`` in the constructor, so ``initialize_client()`` (which
  would register, poll and start a scheduler) is never called. ``FileCache`` is ``fcache``: it
  pickles the entries into files, so bootstrapping writes the payload to disk.
* 6.9 (yggdrasil): ``bootstrap_from_dict`` serialises the dict to JSON text and the constructor
  hands it to the Rust engine (``take_state``). Every ``is_enabled`` serialises the context to
  JSON, crosses the FFI two or three times and counts the metric in the engine, whatever
  ``disable_metrics`` says (that flag only stops the sending job).
* 5.11 (pure Python): every evaluation increments ``yes_count``/``no_count`` on the ``Feature``
  whatever ``disable_metrics`` says, and ``get_variant`` writes the static context into the
  caller's dict.
"""

from __future__ import annotations

import importlib
import json
import shutil
import tempfile
from importlib import metadata
from typing import Any

APP_NAME = "bench"
OFFLINE_URL = "http://127.0.0.1:9"  # discard port: never contacted, initialize_client never runs
FEATURES_URL = "/client/features"  # the official SDKs' cache key of the flags payload


def _installed(*distributions: str) -> dict[str, str]:
    versions = {}
    for distribution in distributions:
        try:
            versions[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return versions


class Sdk:
    """One SDK under test; subclasses drive it."""

    key = ""
    module = ""
    imports: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._scratch = tempfile.mkdtemp(prefix=f"bench-{self.key}-")

    def prepare(self, warm: bool) -> None:
        """Import everything the SDK's client needs, so no measurement includes imports;
        with ``warm``, also build (and drop) a client with no flags, so one-time costs such
        as loading the Rust library are not counted as the cost of loading a payload."""
        for module in self.imports:
            importlib.import_module(module)
        if warm:
            self.stop(self.client({"version": 2, "features": []}, metrics=False))

    def close(self) -> None:
        """Remove the scratch directories (file caches)."""
        shutil.rmtree(self._scratch, ignore_errors=True)

    def scratch_dir(self) -> str:
        """A fresh directory for one file cache."""
        return tempfile.mkdtemp(dir=self._scratch)

    def versions(self) -> dict[str, str]:
        """Versions of the SDK and of the packages its evaluation runs on."""
        raise NotImplementedError

    def client(self, payload: dict[str, Any], metrics: bool) -> Any:
        """A ready client answering from ``payload`` (a parsed dict)."""
        raise NotImplementedError

    def client_from_text(self, text: str) -> Any:
        """A ready client answering from a payload given as JSON text."""
        raise NotImplementedError

    def refresh(self, client: Any, text: str) -> None:
        """Apply a new payload arriving as JSON text, as the SDK's poller does with a 200
        response (parse, compile, install), without writing its disk cache."""
        raise NotImplementedError

    def write_disk_cache(self, directory: str, text: str) -> None:
        """Leave the disk cache a previous run of this SDK would have left after a fetch."""
        raise NotImplementedError

    def client_from_disk_cache(self, directory: str) -> Any:
        """A client started (server unreachable) from the disk cache in ``directory``."""
        raise NotImplementedError

    def ready_with_unreachable_server(self, payload: dict[str, Any], directory: str) -> Any:
        """A client as an application starts it (``initialize_client()``, default keywords)
        from a bootstrap, while the server refuses connections."""
        raise NotImplementedError

    def stop(self, client: Any) -> None:
        """Stop whatever the client started."""

    def known_flags(self, client: Any) -> int:
        """How many flags the client holds (checked after every load)."""
        return len(client.feature_definitions())

    def counted(self, client: Any) -> int | None:
        """How many evaluations the client's metrics counted, or None if it cannot tell."""
        return None


class UnleashLite(Sdk):
    """unleash_lite: offline client (``url=""``), bootstrap given as the dict itself."""

    key = "unleash_lite"
    module = "unleash_lite"
    # What a client that talks to a server loads (the package namespace itself is lazy, and
    # an offline client loads no network stack): imported before any timing, as for the others.
    imports: tuple[str, ...] = (
        "unleash_lite.client",
        "unleash_lite.sync.synchronizer",
        "unleash_lite.sync.requests_transport",
    )

    def versions(self) -> dict[str, str]:
        return _installed("unleash-lite", "mmh3", "google-re2")

    client_class = "UnleashClient"  # the class offline per-call clients are made of

    def client(self, payload: dict[str, Any], metrics: bool) -> Any:
        import unleash_lite
        from unleash_lite import InstanceAllowType

        return getattr(unleash_lite, self.client_class)(
            url="",
            app_name=APP_NAME,
            bootstrap=payload,
            disable_metrics=not metrics,
            disable_registration=True,
            multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
        )

    def client_from_text(self, text: str) -> Any:
        from unleash_lite import InstanceAllowType, UnleashClient

        return UnleashClient(
            url="",
            app_name=APP_NAME,
            bootstrap=text,
            disable_metrics=True,
            disable_registration=True,
            multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
        )

    def refresh(self, client: Any, text: str) -> None:
        client.apply_payload(json.loads(text))

    def write_disk_cache(self, directory: str, text: str) -> None:
        from unleash_lite import FileCache

        FileCache(APP_NAME, directory=directory).mset({FEATURES_URL: text, "etag": '"bench"'})

    def client_from_disk_cache(self, directory: str) -> Any:
        from unleash_lite import FileCache, InstanceAllowType, UnleashClient

        # The constructor installs the cached flags; initialize_client() would only start
        # polling (the server is unreachable), so it is not needed to be ready.
        return UnleashClient(
            url=OFFLINE_URL,
            app_name=APP_NAME,
            cache=FileCache(APP_NAME, directory=directory),
            disable_metrics=True,
            disable_registration=True,
            multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
        )

    def ready_with_unreachable_server(self, payload: dict[str, Any], directory: str) -> Any:
        from unleash_lite import InstanceAllowType, UnleashClient

        client = UnleashClient(
            url=OFFLINE_URL,
            app_name=APP_NAME,
            bootstrap=payload,
            cache_directory=directory,
            multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
        )
        client.initialize_client()
        return client

    def counted(self, client: Any) -> int | None:
        metrics = getattr(client, "metrics", None)
        if metrics is None or not hasattr(metrics, "totals"):
            return None
        return int(
            sum(
                reading.get("yes", 0) + reading.get("no", 0)
                for reading in metrics.totals().values()
            )
        )


class Official(Sdk):
    """The official ``UnleashClient``, started from a bootstrapped ``FileCache``."""

    module = "UnleashClient"
    imports: tuple[str, ...] = ("UnleashClient", "UnleashClient.cache", "UnleashClient.utils")

    def _new_client(self, cache: Any, metrics: bool) -> Any:
        from UnleashClient import UnleashClient
        from UnleashClient.utils import InstanceAllowType

        return UnleashClient(
            url=OFFLINE_URL,
            app_name=APP_NAME,
            cache=cache,
            disable_metrics=not metrics,
            disable_registration=True,
            multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
        )

    def client(self, payload: dict[str, Any], metrics: bool) -> Any:
        from UnleashClient.cache import FileCache

        cache = FileCache(APP_NAME, directory=self.scratch_dir())
        cache.bootstrap_from_dict(payload)
        return self._new_client(cache, metrics)

    def client_from_disk_cache(self, directory: str) -> Any:
        from UnleashClient.cache import FileCache

        # The documented way to start from the cache without fetching: it loads the cached
        # flags and starts the scheduler that re-reads them every refresh_interval.
        client = self._new_client(FileCache(APP_NAME, directory=directory), metrics=False)
        client.initialize_client(fetch_toggles=False)
        return client

    def ready_with_unreachable_server(self, payload: dict[str, Any], directory: str) -> Any:
        from UnleashClient import UnleashClient
        from UnleashClient.cache import FileCache
        from UnleashClient.utils import InstanceAllowType

        cache = FileCache(APP_NAME, directory=directory)
        cache.bootstrap_from_dict(payload)  # the documented bootstrap
        client = UnleashClient(
            url=OFFLINE_URL,
            app_name=APP_NAME,
            cache=cache,
            multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
        )
        client.initialize_client()
        return client

    def stop(self, client: Any) -> None:
        if client.is_initialized:
            client.destroy()


class Official6(Official):
    """UnleashClient 6.x: evaluation in the Rust engine yggdrasil, through ctypes."""

    key = "official6"

    def versions(self) -> dict[str, str]:
        return _installed("UnleashClient", "yggdrasil-engine")

    def client_from_text(self, text: str) -> Any:
        from UnleashClient.cache import FileCache

        cache = FileCache(APP_NAME, directory=self.scratch_dir())
        cache.set(FEATURES_URL, text)  # what bootstrap_from_file does after reading the file
        cache.bootstrapped = True
        return self._new_client(cache, metrics=False)

    def refresh(self, client: Any, text: str) -> None:
        client._engine.take_state(text)  # the poller's step after caching the response body

    def write_disk_cache(self, directory: str, text: str) -> None:
        from UnleashClient.cache import FileCache

        FileCache(APP_NAME, directory=directory).mset({FEATURES_URL: text, "etag": '"bench"'})

    def counted(self, client: Any) -> int | None:
        bucket = client._engine.get_metrics() or {}  # drains the engine's bucket
        toggles = bucket.get("toggles", {})
        return int(sum(counts.get("yes", 0) + counts.get("no", 0) for counts in toggles.values()))


class _MemoryCache:
    """Just enough of a cache for 5.11's ``load_features`` (no disk)."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self._entries: dict[str, Any] = {FEATURES_URL: payload}

    def get(self, key: str, default: Any = None) -> Any:
        return self._entries.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._entries[key] = value


class Official5(Official):
    """UnleashClient 5.x: pure Python evaluation."""

    key = "official5"
    imports = (*Official.imports, "UnleashClient.loader")

    def versions(self) -> dict[str, str]:
        return _installed("UnleashClient", "mmhash3", "mmh3", "semver", "python-dateutil")

    def stop(self, client: Any) -> None:
        # Not destroy(): 5.x's destroy() also deletes the cache directory.
        if client.is_initialized:
            client.fl_job.remove()
            client.unleash_scheduler.shutdown()

    def known_flags(self, client: Any) -> int:
        return sum(not feature.only_for_metrics for feature in client.features.values())

    def client_from_text(self, text: str) -> Any:
        from UnleashClient.cache import FileCache

        cache = FileCache(APP_NAME, directory=self.scratch_dir())
        cache.bootstrap_from_dict(json.loads(text))  # 5.x caches the parsed dict
        return self._new_client(cache, metrics=False)

    def refresh(self, client: Any, text: str) -> None:
        from UnleashClient.loader import load_features

        # fetch_and_load_features: response.json(), cache it, load_features(cache, ...).
        load_features(
            cache=_MemoryCache(json.loads(text)),
            feature_toggles=client.features,
            strategy_mapping=client.strategy_mapping,
        )

    def write_disk_cache(self, directory: str, text: str) -> None:
        from UnleashClient.cache import FileCache

        FileCache(APP_NAME, directory=directory).mset(
            {FEATURES_URL: json.loads(text), "etag": '"bench"'}
        )

    def counted(self, client: Any) -> int | None:
        return int(sum(f.yes_count + f.no_count for f in client.features.values()))


# -- the async clients ----------------------------------------------------------------------
#
# Built for the per-call workloads exactly as the sync clients above, from the same source of
# flags and without a loop or a server: unleash_lite's from ``bootstrap`` (offline), 6.9's from
# a bootstrapped ``FileCache`` handed to its engine by its own feature store, the first step
# of its ``initialize_client()`` (its polling connector's ``start()`` loads the cache, then
# awaits the first fetch; the fetch is the step left out, as the sync adapters leave out
# ``initialize_client()``). ``server_client`` builds one with the default keywords for a real
# server, for the start-up and refresh measurements, which await ``initialize_client()``.


class AsyncSdk(Sdk):
    """An async client: ``server_client`` is what an application builds."""

    def server_client(self, url: str, refresh_interval: float) -> Any:
        """A client for ``url`` with default keywords (registration and metrics on), its disk
        cache in a fresh directory; ``initialize_client()`` not yet awaited."""
        raise NotImplementedError

    async def destroy(self, client: Any) -> None:
        """``await client.destroy()``."""
        await client.destroy()


class UnleashLiteAsync(UnleashLite, AsyncSdk):
    """unleash_lite's ``AsyncUnleashClient``: offline (``url=""``), bootstrap given as the dict."""

    key = "unleash_lite_async"
    client_class = "AsyncUnleashClient"
    imports = ("unleash_lite.async_client", "unleash_lite.sync.aiohttp_transport", "aiohttp")

    def versions(self) -> dict[str, str]:
        return _installed("unleash-lite", "mmh3", "google-re2", "aiohttp")

    def server_client(self, url: str, refresh_interval: float) -> Any:
        from unleash_lite import AsyncUnleashClient, InstanceAllowType

        return AsyncUnleashClient(
            url=url,
            app_name=APP_NAME,
            refresh_interval=refresh_interval,
            cache_directory=self.scratch_dir(),
            multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
        )


class Official6Async(Official6, AsyncSdk):
    """UnleashClient 6.9's ``AsyncUnleashClient`` (yggdrasil, aiohttp)."""

    key = "official6_async"
    imports = (*Official6.imports, "UnleashClient.clients.async_unleash_client", "aiohttp")

    def versions(self) -> dict[str, str]:
        return _installed("UnleashClient", "yggdrasil-engine", "aiohttp")

    def _new_client(self, cache: Any, metrics: bool) -> Any:
        from UnleashClient import AsyncUnleashClient
        from UnleashClient.utils import InstanceAllowType

        client = AsyncUnleashClient(
            url=OFFLINE_URL,
            app_name=APP_NAME,
            cache=cache,
            disable_metrics=not metrics,
            disable_registration=True,
            multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
        )
        client._store.load_from_cache()  # what its connector's start() does first
        return client

    def server_client(self, url: str, refresh_interval: float) -> Any:
        from UnleashClient import AsyncUnleashClient
        from UnleashClient.utils import InstanceAllowType

        return AsyncUnleashClient(
            url=url,
            app_name=APP_NAME,
            refresh_interval=int(refresh_interval),
            cache_directory=self.scratch_dir(),
            multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
        )

    def stop(self, client: Any) -> None:
        """Nothing started: ``initialize_client()`` was not awaited."""


SDKS: dict[str, type[Sdk]] = {
    sdk.key: sdk for sdk in (UnleashLite, Official6, Official5, UnleashLiteAsync, Official6Async)
}
