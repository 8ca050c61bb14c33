"""``UnleashClient``: the official SDK's public surface, syncing on a background thread."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import warnings
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .bootstrap import BootstrapSource
from .cache import BaseCache
from .config import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_METRICS_INTERVAL,
    DEFAULT_REFRESH_INTERVAL,
    DEFAULT_REQUEST_RETRIES,
    DEFAULT_REQUEST_TIMEOUT,
    InstanceAllowType,
)
from .core import KEYWORDS_DOC, ClientCore, FallbackFunction, OverrideValue, config_from_keywords
from .engine import BUILTIN_STRATEGIES
from .engine.strategies import CustomStrategy
from .sync import processes

if TYPE_CHECKING:
    from .sync.synchronizer import Synchronizer

LOGGER = logging.getLogger("unleash_lite")

EXIT_FLUSH_TIMEOUT = 2.0

__all__ = ["FallbackFunction", "OverrideValue", "UnleashClient"]


class UnleashClient(ClientCore):
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
        sdk_flavor: str | None = None,
        sdk_flavor_version: str | None = None,
        bootstrap: BootstrapSource | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        experimental_mode: Mapping[str, str] | None = None,
        use_request_context: bool = False,
    ) -> None:
        config = config_from_keywords(locals())
        super().__init__(
            config,
            custom_strategies=custom_strategies,
            cache=cache,
            multiple_instance_mode=multiple_instance_mode,
            event_callback=event_callback,
            bootstrap=bootstrap,
        )
        self._resume_lock = threading.Lock()
        self._scheduler = scheduler
        self._scheduler_executor = scheduler_executor
        self._sync: Synchronizer | None = None
        if self.cache is not None and not self.config.offline:
            # Here, not at import: an offline client (and a test) never loads the sync layer.
            from .sync.synchronizer import Synchronizer

            self._sync = Synchronizer(
                self.config,
                self._loader,
                self.metrics,
                (*BUILTIN_STRATEGIES, *self.custom_strategies),
                scheduler,
                scheduler_executor,
            )
        processes.watch(self)

    @property
    def unleash_scheduler(self) -> Any | None:
        """The APScheduler scheduler passed as ``scheduler=``; ``None`` when the client runs
        its jobs on its own thread (the default)."""
        return self._scheduler

    @property
    def unleash_executor_name(self) -> str | None:
        """The ``scheduler_executor`` passed with ``scheduler=``."""
        return self._scheduler_executor

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until the client holds flags, or ``timeout`` seconds; returns ``is_ready()``."""
        return self._ready.wait(timeout)

    # -- lifecycle ------------------------------------------------------------------------

    def initialize_client(self, fetch_toggles: bool = True) -> None:
        """Start syncing: fetch the flags once (bounded by ``request_timeout``, so flags are
        ready when this returns if the server answers), then poll every ``refresh_interval``,
        register, and send metrics every ``metrics_interval`` on a background scheduler.

        With ``fetch_toggles=False`` the client only re-reads the shared cache that another
        process keeps fresh. Never raises for network problems: they are logged and retried
        with backoff while the client answers from its last good flags.
        """
        if self.is_initialized:
            warnings.warn(
                f"Unleash client {self.config.app_name!r} is already initialized",
                stacklevel=2,
            )
            return
        self.is_initialized = True
        self._open_events()
        if self._sync is not None:
            defer = processes.under_uwsgi_master()
            self._sync.start(fetch_toggles, have_flags=self.is_ready(), defer=defer)
            if defer:  # start the work on first use in a worker, whether forked or not
                self._resume_pending = True
                self._install_entries()
            if not self.is_ready():
                LOGGER.warning(
                    "Unleash has no flags yet: the first fetch did not succeed and "
                    "there is no bootstrap or cached copy; answering defaults"
                )
            if self._counting:
                atexit.register(self._flush_at_exit)

    def destroy(self) -> None:
        """Stop the background jobs, flush the last metrics and end every thread and
        connection of the client, all within ``request_timeout``. Cache files are kept:
        other processes may be using them."""
        self._resume_pending = False
        if self._sync is not None and self.is_initialized:
            self._sync.stop(flush_budget=self.config.request_timeout)
            atexit.unregister(self._flush_at_exit)
        processes.forget(self)
        self._release()

    def flush_metrics(self, timeout: float | None = None) -> bool:
        """Send the counts not yet sent, now, blocking for at most ``timeout`` seconds
        (default ``request_timeout``). Returns whether nothing is left unsent; counts that
        could not be sent stay queued for the next send."""
        if self._sync is None:
            return True
        if self._pid != os.getpid():
            processes.check_pid()
        return self._sync.send_metrics(budget=timeout)

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

    # -- processes -------------------------------------------------------------------------

    def _flush_at_exit(self) -> None:
        """At interpreter exit (or a forked child's end): the last counts, within 2 s."""
        if self._sync is not None and self.is_initialized:
            self._resume_pending = False
            self._sync.stop(flush_budget=min(self.config.request_timeout, EXIT_FLUSH_TIMEOUT))

    def _after_fork_in_child(self) -> None:
        """In a forked child: fresh locks and connections, the parent's counts marked as
        reported, and the background work left to start on the first use of the client
        here (a thread started during the fork could race the child's own set-up)."""
        self._pid = os.getpid()
        self._swap_lock = threading.Lock()
        self._resume_lock = threading.Lock()
        self.metrics.forget_unsent()
        if self._sync is not None:
            running = self.is_initialized and self._sync.active
            self._sync.after_fork()
            self._resume_pending = running and self._sync.active
            if running and not self._sync.active:  # the application's scheduler= is its own
                self.is_initialized = False  # so that initialize_client() in the child works
        self._entries = {}  # so that every name takes the slow path, which resumes the work

    def _resume_background_work(self) -> None:
        """Start the background work left for the first use (after a fork, or in a uWSGI
        process that loaded the app): not yet while still in a uWSGI master."""
        with self._resume_lock:
            if (
                self._resume_pending
                and self._sync is not None
                and not processes.under_uwsgi_master()
            ):
                self._resume_pending = False
                self._sync.resume()


_SCHEDULER_DOC = """\
    scheduler: an APScheduler scheduler of yours to run the jobs on (default: one thread of
        the client's own).
    scheduler_executor: the executor of ``scheduler`` to run the jobs on.
"""
UnleashClient.__doc__ = (UnleashClient.__doc__ or "") + KEYWORDS_DOC + _SCHEDULER_DOC
