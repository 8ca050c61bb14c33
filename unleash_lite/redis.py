"""A flag store shared by a fleet of hosts: :class:`RedisCache`, on redis-py (extra ``[redis]``).

A client given ``cache=RedisCache(...)`` writes every flags payload it fetches (and its ETag)
to Redis; a *reader* (``initialize_client(fetch_toggles=False)``) never asks Unleash for flags
and installs what Redis holds, every ``refresh_interval``. ``unleash-lite relay`` is a writer
made for fleets of readers (docs/fleet.md).

What Redis holds for one flag set, under :attr:`RedisCache.key`:

- ``<key>``: the cache's entries (the payload and its ETag) as one JSON object in one string
  value, like :class:`~unleash_lite.cache.FileCache`'s file: a reader sees the old pair or
  the new one, never a torn pair;
- ``<key>:version``: a short digest of that value, written in the same ``MULTI``/``EXEC``
  transaction, so a reader checks a few bytes every interval and reads the payload only
  when it changed.

Redis unreachable: the cache keeps the entries it read last (the client its last good
flags), logs one line when Redis goes away and one when it is back, and tries again with a
backoff (``retry_min`` doubling up to ``retry_max``); a writer writes what it holds again
once Redis answers (:meth:`RedisCache.refresh`). With a ``fallback`` cache (a
:class:`~unleash_lite.cache.FileCache`), a process started while Redis is unreachable
starts from the copy kept there. A value over ``max_bytes`` or not a JSON object is refused
with one warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .cache import ETAG, FEATURES_URL, BaseCache
from .config import DEFAULT_MAX_PAYLOAD_BYTES, redact_url

LOGGER = logging.getLogger("unleash_lite")

DEFAULT_NAMESPACE = "unleash-lite"
DEFAULT_SOCKET_TIMEOUT = 5.0
VERSION_SUFFIX = ":version"

__all__ = ["RedisCache", "redis_key"]


def redis_key(
    app_name: str,
    environment: str = "default",
    project: str | Iterable[str] | None = None,
    token: str = "",
    namespace: str = DEFAULT_NAMESPACE,
) -> str:
    """The Redis key of one flag set: ``<namespace>:<app>:<environment>:<digest>``, where the
    digest covers the project(s), the environment and the token (which never appears)."""
    projects = [project] if isinstance(project, str) else sorted(project or ())
    identity = "\0".join((",".join(projects), environment, token))
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return f"{namespace}:{app_name}:{environment}:{digest}"


class RedisCache(BaseCache):
    """A :class:`~unleash_lite.cache.BaseCache` in Redis, shared by every client that selects
    the same flag set.

    :param url: a ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL; or pass ``client``.
    :param client: a ready ``redis.Redis`` (its connection settings are yours; it is not
        closed by :meth:`destroy`).
    :param app_name, environment, project, token: what selects the flag set; they make the
        key (:func:`redis_key`). Give the values the clients use (``token``: the
        ``Authorization`` header's value; only its digest is stored).
    :param namespace: the key's first part.
    :param max_bytes: a stored value larger than this is refused (read no further than the
        limit) and so is a write that would be larger.
    :param ttl: seconds a written value lives unless written or refreshed again (``None``:
        forever); a writer's :meth:`refresh` renews it.
    :param retry_min, retry_max: the backoff, in seconds, between tries while Redis is
        unreachable.
    :param fallback: a cache that keeps a copy of what was read from (or written to) Redis,
        such as a :class:`~unleash_lite.cache.FileCache`: a process that starts while Redis
        is unreachable (or empty) starts from it.
    :param connection: passed to ``redis.Redis.from_url`` (``password``, ``username``,
        ``ssl_ca_certs``, ``socket_timeout``...); ``socket_timeout`` and
        ``socket_connect_timeout`` default to 5 s.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any | None = None,
        app_name: str,
        environment: str = "default",
        project: str | Iterable[str] | None = None,
        token: str = "",
        namespace: str = DEFAULT_NAMESPACE,
        max_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
        ttl: float | None = None,
        retry_min: float = 1.0,
        retry_max: float = 60.0,
        fallback: BaseCache | None = None,
        **connection: Any,
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("RedisCache needs a url or a client (one of them)")
        if ttl is not None and not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        self.key = redis_key(app_name, environment, project, token, namespace)
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.fallback = fallback
        self._secrets = [str(connection[name]) for name in ("password",) if connection.get(name)]
        if client is None:
            import redis  # only here: importing unleash_lite.redis needs no server

            connection.setdefault("socket_timeout", DEFAULT_SOCKET_TIMEOUT)
            connection.setdefault("socket_connect_timeout", DEFAULT_SOCKET_TIMEOUT)
            self.client: Any = redis.Redis.from_url(str(url), **connection)
            self._owns_client = True
            self._where = redact_url(str(url))
        else:
            self.client = client
            self._owns_client = False
            self._where = _describe_client(client)
        self._lock = threading.Lock()
        self._entries: dict[str, Any] | None = None  # None: not read yet
        self._version: str | None = None  # of the value the entries came from
        self._pending = False  # entries written while Redis was unreachable
        self._problem: str | None = None  # the last refused value, logged once
        self._failures = 0
        self._retry_at = 0.0
        self.state = "unknown"  # "ok" once Redis answered, "unreachable" while it does not
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"RedisCache(key={self.key!r}, server={self._where!r})"

    # -- BaseCache ---------------------------------------------------------------------------

    def set(self, key: str, value: Any) -> None:
        """Store one entry (all the entries are written again, as one value)."""
        self.mset({key: value})

    def mset(self, data: Mapping[str, Any]) -> None:
        """Store several entries and write them all to Redis as one value."""
        self._loaded()
        with self._lock:
            self._entries = {**(self._entries or {}), **data}
            self._write_locked()
            self._keep_copy(data)

    def get(self, key: str, default: Any | None = None) -> Any:
        """An entry of the value read last (read now if nothing was read yet), or ``default``."""
        return self._loaded().get(key, default)

    def exists(self, key: str) -> bool:
        """Whether the value read last holds the entry."""
        return key in self._loaded()

    def destroy(self) -> None:
        """Forget the entries and close the connections this cache opened. What Redis holds
        stays: other processes use it (:meth:`clear` removes it)."""
        with self._lock:
            self._entries = {}
            self._pending = False
        if self._owns_client:
            try:
                self.client.close()
            except Exception as error:  # closing must never break a shutdown
                LOGGER.debug("Unleash could not close the Redis connections: %s", error)

    # -- shared-store operations -------------------------------------------------------------

    def reload(self) -> None:
        """Read what Redis holds now (the client calls this every refresh interval of
        ``fetch_toggles=False``). Keeps the last entries when Redis is unreachable (and
        until the backoff allows another try), holds nothing, or holds an unusable value.
        Never raises."""
        with self._lock:
            self._reload_locked()

    def refresh(self) -> bool:
        """For a writer (the relay), on every poll: write the entries held here again when
        Redis lost them (restarted, flushed, expired) or missed them (unreachable when they
        were written), and renew the ``ttl``. A value another writer stored is left as it is.
        Returns whether Redis holds the flag set now. Never raises."""
        with self._lock:
            if not self._may_try():
                return False
            if self._pending:
                return self._write_locked()
            try:
                with self.client.pipeline(transaction=True) as pipe:
                    pipe.exists(self.key, self.key + VERSION_SUFFIX)
                    if self.ttl is not None:
                        pipe.pexpire(self.key, int(self.ttl * 1000))
                        pipe.pexpire(self.key + VERSION_SUFFIX, int(self.ttl * 1000))
                    present = pipe.execute()[0]
            except Exception as error:
                self._failed(error)
                return False
            self._answered()
            if present == 2:
                return True
            if not self._entries:
                return False  # nothing to write: Redis holds no flags
            return self._write_locked()  # lost: write what this process holds again

    def clear(self) -> None:
        """Remove the flag set from Redis (for every process) and forget it here."""
        with self._lock:
            self._entries = {}
            self._version = None
            self._pending = False
            self.client.delete(self.key, self.key + VERSION_SUFFIX)

    def after_fork(self) -> None:
        """A fresh lock in a forked child (redis-py opens new connections by itself)."""
        self._lock = threading.Lock()

    # -- internals ---------------------------------------------------------------------------

    def _loaded(self) -> dict[str, Any]:
        entries = self._entries
        if entries is None:
            with self._lock:
                if self._entries is None:
                    self._reload_locked()
                    if self._entries is None:  # Redis unreachable, empty or unusable
                        self._entries = self._copy()
                entries = self._entries
        return entries

    def _reload_locked(self) -> None:
        if not self._may_try():
            return
        try:
            version = _text(self.client.get(self.key + VERSION_SUFFIX))
            if version is not None and version == self._version and self._entries is not None:
                self._answered()
                return
            if self.max_bytes is None:
                raw = self.client.get(self.key)
            else:  # never more than one byte over the limit
                raw = self.client.getrange(self.key, 0, self.max_bytes)
        except Exception as error:
            if _is_connection_error(error):
                self._failed(error)
            else:  # WRONGTYPE and the like: something else lives under the key
                self._answered()
                self._refuse(f"Redis refused to read it ({self._redacted(error)})")
            return
        self._answered()
        if not raw:
            return  # nothing stored yet, or lost: keep what was read before
        if self.max_bytes is not None and len(raw) > self.max_bytes:
            self._refuse(f"it is over max_bytes ({self.max_bytes} bytes)")
            return
        try:
            entries = json.loads(raw)
        except ValueError as error:  # UnicodeDecodeError too
            self._refuse(f"it is not JSON ({type(error).__name__})")
            return
        if not isinstance(entries, dict):
            self._refuse("it does not hold a JSON object")
            return
        self._problem = None
        self._entries = entries
        self._version = version
        self._keep_copy(entries)

    def _write_locked(self) -> bool:
        entries = self._entries or {}
        try:
            text = json.dumps(entries, separators=(",", ":"))
        except (TypeError, ValueError) as error:
            self._refuse_write(f"the entries are not JSON ({error})")
            return False
        encoded = text.encode("utf-8")
        if self.max_bytes is not None and len(encoded) > self.max_bytes:
            self._refuse_write(f"it would be {len(encoded)} bytes, over max_bytes")
            return False
        version = hashlib.sha256(encoded).hexdigest()[:16]
        self._pending = True
        if not self._may_try():
            return False
        expiry = None if self.ttl is None else int(self.ttl * 1000)
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.set(self.key, encoded, px=expiry)
                pipe.set(self.key + VERSION_SUFFIX, version, px=expiry)
                pipe.execute()
        except Exception as error:
            if _is_connection_error(error):
                self._failed(error)
            else:
                self._answered()
                self._refuse_write(f"Redis refused it ({self._redacted(error)})")
            return False
        self._answered()
        self._pending = False
        self._version = version
        self._problem = None
        return True

    def _keep_copy(self, entries: Mapping[str, Any]) -> None:
        if self.fallback is not None:
            try:
                self.fallback.mset(entries)
            except Exception as error:  # a user-provided cache must not break the reader
                LOGGER.debug("Unleash could not copy the flags to the fallback cache: %s", error)

    def _copy(self) -> dict[str, Any]:
        """The fallback's entries (none without one)."""
        if self.fallback is None:
            return {}
        try:
            found = {key: self.fallback.get(key) for key in (FEATURES_URL, ETAG)}
        except Exception as error:  # a user-provided cache must not break the reader
            LOGGER.debug("Unleash could not read the fallback cache: %s", error)
            return {}
        return {key: value for key, value in found.items() if value is not None}

    def _may_try(self) -> bool:
        return self.state != "unreachable" or time.monotonic() >= self._retry_at

    def _failed(self, error: Exception) -> None:
        self._failures += 1
        delay = min(self.retry_min * 2 ** (self._failures - 1), self.retry_max)
        self._retry_at = time.monotonic() + delay
        self.last_error = f"{type(error).__name__}: {self._redacted(error)}"
        if self.state != "unreachable":
            self.state = "unreachable"
            LOGGER.warning(
                "Unleash Redis cache %s unreachable (%s); keeping the last good flags, "
                "retrying with backoff",
                self._where,
                self.last_error,
            )

    def _answered(self) -> None:
        self._failures = 0
        if self.state == "unreachable":
            LOGGER.info("Unleash Redis cache %s answers again", self._where)
        self.state = "ok"
        self.last_error = None

    def _refuse(self, problem: str) -> None:
        if problem != self._problem:
            self._problem = problem
            LOGGER.warning(
                "Unleash ignores the value in Redis at %s: %s; keeping the last good flags",
                self.key,
                problem,
            )

    def _refuse_write(self, problem: str) -> None:
        self._pending = False  # writing it again would fail again
        if problem != self._problem:
            self._problem = problem
            LOGGER.warning(
                "Unleash does not write the flags to Redis at %s: %s; they stay in memory",
                self.key,
                problem,
            )

    def _redacted(self, error: Exception) -> str:
        text = str(error) or type(error).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text[:300]


def _is_connection_error(error: Exception) -> bool:
    import redis

    if isinstance(error, redis.AuthenticationError | redis.exceptions.NoPermissionError):
        return True  # a configuration problem, reported (and retried) as an unreachable server
    return isinstance(error, redis.ConnectionError | redis.TimeoutError | OSError) or (
        isinstance(error, redis.ResponseError) and str(error).startswith(("LOADING", "NOAUTH"))
    )


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _describe_client(client: Any) -> str:
    """Where a ready redis-py client connects, without its password."""
    try:
        settings = client.connection_pool.connection_kwargs
    except AttributeError:
        return type(client).__name__
    if "path" in settings:
        return f"unix://{settings['path']}"
    return f"{settings.get('host', '?')}:{settings.get('port', '?')}/{settings.get('db', 0)}"
