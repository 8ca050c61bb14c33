"""``UnleashClient``: the official SDK's public surface over a compiled snapshot."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from .bootstrap import BootstrapSource, load_bootstrap
from .cache import FEATURES_URL, BaseCache
from .config import (
    DEFAULT_METRICS_INTERVAL,
    DEFAULT_REFRESH_INTERVAL,
    DEFAULT_REQUEST_RETRIES,
    DEFAULT_REQUEST_TIMEOUT,
    ClientConfig,
    InstanceAllowType,
    default_instance_id,
)
from .engine import FlagState, PayloadError, Snapshot, StaticContext, compile_snapshot
from .engine.explain import Explanation, Reason, explain
from .engine.snapshot import disabled_variant
from .engine.strategies import CustomStrategy

LOGGER = logging.getLogger("unleash_lite")

FallbackFunction = Callable[[str, Mapping[str, Any]], bool]
_EMPTY_CONTEXT: Mapping[str, Any] = {}


class UnleashClient:
    """A feature-flag client for Unleash, drop-in compatible with the official ``UnleashClient``.

    Flags evaluate locally against an immutable compiled snapshot: ``is_enabled`` and
    ``get_variant`` take no lock, never raise, and never do I/O. Keyword arguments are those
    of the official SDK (see ``docs/compatibility.md``), plus ``bootstrap``: a dict, JSON
    string or JSON file path with flag definitions to answer from before (or without) a server.
    Pass ``url=""`` to run fully offline from ``bootstrap``.
    """

    def __init__(
        self,
        url: str,
        app_name: str,
        environment: str = "default",
        instance_id: str | None = None,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        refresh_jitter: float | None = None,
        metrics_interval: float = DEFAULT_METRICS_INTERVAL,
        metrics_jitter: float | None = None,
        disable_metrics: bool = False,
        disable_registration: bool = False,
        custom_headers: Mapping[str, str] | None = None,
        custom_options: Mapping[str, Any] | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        request_retries: int = DEFAULT_REQUEST_RETRIES,
        custom_strategies: Mapping[str, CustomStrategy] | None = None,
        cache_directory: str | None = None,
        project_name: str | None = None,
        verbose_log_level: int = 30,
        cache: BaseCache | None = None,
        scheduler: Any | None = None,
        scheduler_executor: str | None = None,
        multiple_instance_mode: InstanceAllowType = InstanceAllowType.WARN,
        event_callback: Callable[[Any], None] | None = None,
        bootstrap: BootstrapSource | None = None,
    ) -> None:
        self.config = ClientConfig(
            url=url,
            app_name=app_name,
            environment=environment,
            instance_id=instance_id or default_instance_id(),
            refresh_interval=refresh_interval,
            refresh_jitter=refresh_jitter,
            metrics_interval=metrics_interval,
            metrics_jitter=metrics_jitter,
            disable_metrics=disable_metrics,
            disable_registration=disable_registration,
            custom_headers=dict(custom_headers or {}),
            custom_options=dict(custom_options or {}),
            request_timeout=request_timeout,
            request_retries=request_retries,
            cache_directory=cache_directory,
            project_name=project_name,
            verbose_log_level=verbose_log_level,
            event_callback=event_callback,
        )
        self.scheduler = scheduler
        self.scheduler_executor = scheduler_executor
        self.multiple_instance_mode = multiple_instance_mode
        self.cache = cache
        self.custom_strategies: Mapping[str, CustomStrategy] = dict(custom_strategies or {})
        self._static = StaticContext(app_name, environment, socket.gethostname())
        self._swap_lock = threading.Lock()  # serialises writers only; readers never lock
        self._snapshot: Snapshot = compile_snapshot(
            FlagState(), self._static, self.custom_strategies
        )
        self.is_initialized = False
        self.unleash_bootstrapped = False
        self._load_initial_flags(bootstrap)

    def __repr__(self) -> str:
        return (
            f"UnleashClient(url={self.config.url!r}, app_name={self.config.app_name!r}, "
            f"instance_id={self.config.instance_id!r}, flags={len(self._snapshot)})"
        )

    # -- evaluation (the hot path) -------------------------------------------------------

    def is_enabled(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None = None,
        fallback_function: FallbackFunction | None = None,
    ) -> bool:
        """Whether ``feature_name`` is on for ``context``.

        Unknown flags (and, should it ever happen, an internal error) answer
        ``fallback_function(feature_name, context)`` when given, else ``False``. Never raises.
        """
        snapshot = self._snapshot
        try:
            feature = snapshot.features.get(feature_name)
            if feature is not None:
                enabled = feature.constant
                if enabled is None:
                    enabled = snapshot.evaluate(
                        feature, context if type(context) is dict else _as_context(context)
                    )
                return enabled
        except Exception:
            LOGGER.debug("is_enabled(%r) failed; using the fallback", feature_name, exc_info=True)
        return _fallback(feature_name, context, fallback_function)

    def get_variant(
        self, feature_name: str, context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The variant of ``feature_name`` for ``context``, as the official SDK's dict:
        ``{"name", "enabled", "feature_enabled", "payload"?}``. Never raises."""
        snapshot = self._snapshot
        try:
            variant = snapshot.get_variant(
                feature_name, context if type(context) is dict else _as_context(context)
            )
            if variant is not None:
                return variant
        except Exception:
            LOGGER.debug(
                "get_variant(%r) failed; answering 'disabled'", feature_name, exc_info=True
            )
        return disabled_variant(False)

    def explain(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None = None,
        fallback_function: FallbackFunction | None = None,
    ) -> Explanation:
        """Evaluate ``feature_name`` and say why: the reason, the strategy that decided, the
        constraint that failed and the value it saw, or the rollout bucket and threshold.

        Slower than :meth:`is_enabled` and separate from it, so it costs the hot path nothing.
        """
        try:
            result = explain(self._snapshot, feature_name, _as_context(context))
        except Exception as error:
            LOGGER.debug("explain(%r) failed", feature_name, exc_info=True)
            result = Explanation(
                feature_name,
                False,
                disabled_variant(False),
                Reason.INVALID_DEFINITION,
                f"evaluation failed: {error}",
            )
        if result.reason is Reason.UNKNOWN_FLAG and fallback_function is not None:
            enabled = _fallback(feature_name, context, fallback_function)
            return Explanation(
                feature_name,
                enabled,
                disabled_variant(False),
                Reason.FALLBACK,
                f"the flag is unknown; the fallback function answered {enabled}",
            )
        return result

    # -- flag state -----------------------------------------------------------------------

    def feature_definitions(self) -> dict[str, dict[str, Any]]:
        """Known flags: ``{name: {"type": ..., "project": ...}}`` as the official SDK returns."""
        return {
            name: {"type": feature.type, "project": feature.project}
            for name, feature in self._snapshot.features.items()
        }

    @property
    def snapshot(self) -> Snapshot:
        """The compiled flag set answering right now (immutable)."""
        return self._snapshot

    def apply_payload(self, payload: Any) -> Snapshot:
        """Compile a features payload (full or delta) and swap it in atomically.

        Raises :class:`~unleash_lite.engine.PayloadError` when the payload is not one; the
        current flags then stay as they are.
        """
        with self._swap_lock:
            snapshot = self._snapshot.apply(payload)
            self._snapshot = snapshot
        for warning in snapshot.warnings:
            LOGGER.debug("flag payload: %s", warning)
        return snapshot

    # -- lifecycle ------------------------------------------------------------------------

    def initialize_client(self, fetch_toggles: bool = True) -> None:
        """Start the client: register, fetch flags, and start the background jobs."""
        self.is_initialized = True

    def destroy(self) -> None:
        """Stop background work. Cached files are kept for other processes and restarts."""
        self.is_initialized = False

    def __enter__(self) -> UnleashClient:
        self.initialize_client()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.destroy()

    # -- start-up -------------------------------------------------------------------------

    def _load_initial_flags(self, bootstrap: BootstrapSource | None) -> None:
        """Start from the bootstrap argument, else from a bootstrapped cache."""
        if bootstrap is not None:
            try:
                self.apply_payload(load_bootstrap(bootstrap))
                self.unleash_bootstrapped = True
            except (ValueError, PayloadError) as error:
                LOGGER.error("Ignoring the bootstrap: %s", error)
            return
        if self.cache is not None and getattr(self.cache, "bootstrapped", False):
            stored = self.cache.get(FEATURES_URL)
            try:
                payload = json.loads(stored) if isinstance(stored, (str, bytes)) else stored
                self.apply_payload(payload)
                self.unleash_bootstrapped = True
            except (ValueError, PayloadError) as error:
                LOGGER.error("Ignoring the bootstrapped cache: %s", error)


def _as_context(context: Any) -> Mapping[str, Any]:
    """Any context argument as a mapping; ``None`` and non-mappings become empty."""
    if isinstance(context, Mapping):
        return context
    if context is not None:
        LOGGER.debug("ignoring a context of type %s: contexts are mappings", type(context).__name__)
    return _EMPTY_CONTEXT


def _fallback(feature_name: str, context: Any, fallback_function: FallbackFunction | None) -> bool:
    if fallback_function is None:
        return False
    try:
        return bool(fallback_function(feature_name, _as_context(context)))
    except Exception:
        LOGGER.debug(
            "the fallback function for %r raised; answering False", feature_name, exc_info=True
        )
        return False
