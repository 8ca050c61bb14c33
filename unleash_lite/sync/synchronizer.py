"""Keeping a client's flags fresh and reporting its usage, on a background runner."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ..config import ClientConfig
from ..version import __version__
from .backoff import Backoff
from .http import SDK_NAME, Result, UnleashApi, iso_utc, platform_fields
from .loader import FlagLoader
from .metrics import MetricsRegistry, send_unsent
from .scheduler import ApschedulerRunner, Job, Runner, ThreadRunner
from .stream_thread import StreamThread
from .transport import Transport

LOGGER = logging.getLogger("unleash_lite")


class Synchronizer:
    """Polls the flags (ETag, backoff), registers, and sends metrics (loss-free).

    What the server (or, with ``fetch_toggles=False``, the shared cache) holds goes through
    the client's :class:`~.loader.FlagLoader`: compiled on the runner's thread and swapped
    in, so the evaluating threads never wait for it. Jobs run on a
    :class:`~.scheduler.ThreadRunner` of our own, or on the application's APScheduler
    (``scheduler=``).
    """

    def __init__(
        self,
        config: ClientConfig,
        loader: FlagLoader,
        metrics: MetricsRegistry,
        strategy_names: Iterable[str],
        scheduler: Any | None = None,
        executor: str | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.config = config
        self.loader = loader
        self.metrics = metrics
        self.strategy_names = sorted(set(strategy_names))
        self.api = UnleashApi(config, transport)
        self.features_backoff = Backoff("flags fetch", config.refresh_interval)
        self.metrics_backoff = Backoff(
            "metrics", config.metrics_interval, companion=self.features_backoff
        )
        self.registered = False
        self.started_at = datetime.now(UTC)
        self.fetch_toggles = True
        self.active = False  # started and not stopped: jobs should run in this process
        self._user_scheduler = scheduler
        self._executor = executor
        self._job_prefix = f"unleash-lite-{uuid.uuid4().hex[:8]}"
        self.runner: Runner = self._new_runner()
        self._send_lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._transport = transport
        self.stream = self._new_stream()

    # -- lifecycle ------------------------------------------------------------------------

    def start(
        self, fetch_toggles: bool = True, have_flags: bool = False, defer: bool = False
    ) -> None:
        """Fetch the flags once on the calling thread, then start the periodic jobs.

        The first fetch is bounded by ``request_timeout``. When the client already holds
        flags (``have_flags``: a bootstrap or the disk cache), it is one attempt with no
        retry, so an unreachable server costs nothing; the background poll keeps trying.
        ``defer``: start no background work in this process (a uWSGI master about to fork
        its workers): :meth:`resume` starts it, in each worker, on first use.
        """
        self.fetch_toggles = fetch_toggles
        self.active = True
        if fetch_toggles:
            if self.stream is not None and not defer:
                self.stream.start()  # its first state, else its fallback, in request_timeout
                self.stream.wait_settled(0.0 if have_flags else self.config.request_timeout)
            if self.stream is None or not (self.stream.connected and self.stream.streaming):
                self.poll(retries=0 if have_flags else None, reschedule=False)
        else:
            self.reload_cache()
        if defer:
            self.api.close()  # no connection of the master's must reach its workers
            return
        self.resume(first_poll_in=self.features_backoff.delay)

    def resume(self, first_poll_in: float = 0.0) -> None:
        """Start the periodic jobs if they should run and are not running (after a fork, on
        first use in the child)."""
        if not self.active or self.runner.running:
            return
        if self.stream is not None and self.fetch_toggles:
            self.stream.start()
        jobs = [
            Job(
                "poll",
                self.poll if self.fetch_toggles else self.reload_cache,
                self.features_backoff.delay,
                self.config.refresh_jitter,
                delay=first_poll_in,
            )
        ]
        if not self.config.disable_metrics:
            jobs.append(
                Job(
                    "metrics",
                    self.send_metrics,
                    self.metrics_backoff.delay,
                    self.config.metrics_jitter,
                    delay=self.metrics_backoff.delay,
                )
            )
        if not self.config.disable_registration and not self.registered:
            jobs.append(Job("register", self.register, 0.0, once=True))
        self.runner.start(jobs)

    def stop(self, flush_budget: float | None) -> None:
        """Stop the jobs, send the last metrics within ``flush_budget`` seconds (``None``: no
        flush), and wait for a job in progress for what is left of that budget."""
        self.active = False
        deadline = time.monotonic() + (flush_budget or 0.0)
        if self.stream is not None:
            self.stream.stop(timeout=0)  # ends an open stream at once
        self.runner.stop(timeout=0)
        if flush_budget is not None and not self.config.disable_metrics:
            self.send_metrics(budget=flush_budget)
        self.runner.stop(timeout=max(deadline - time.monotonic(), 0.0))
        if self.stream is not None:  # a connection still being made ends in request_timeout
            left = deadline - time.monotonic() if flush_budget is not None else None
            self.stream.stop(timeout=self.config.request_timeout if left is None else max(left, 0))
        self.api.close()

    def after_fork(self) -> None:
        """In a forked child: fresh locks, connections, connection id and runner. Starts
        nothing: the client calls :meth:`resume` on its first use in the child."""
        self._send_lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self.features_backoff.after_fork()
        self.metrics_backoff.after_fork()
        cache_after_fork = getattr(self.loader.cache, "after_fork", None)
        if callable(cache_after_fork):
            cache_after_fork()
        self.api.reset_after_fork()
        self.stream = self._new_stream()  # the parent's thread does not exist here
        if self._user_scheduler is None:
            self.runner = self._new_runner()  # the parent's thread does not exist here
        elif self.active:
            self.active = False
            LOGGER.warning(
                "Unleash: this process was forked and uses a custom scheduler; "
                "start its jobs again (call initialize_client in the child)"
            )

    # -- jobs -----------------------------------------------------------------------------

    def poll(self, retries: int | None = None, reschedule: bool = True) -> None:
        """Fetch the flags once and install them when they changed. Never raises: whatever
        happens is classified, logged once per change of state, and the job goes on."""
        if reschedule and self.stream is not None and self.stream.streaming:
            return  # the job is paused while the flags stream
        with self._poll_lock:
            try:
                self._poll_once(retries)
            except Exception as error:  # a bug must neither stop the job nor reach its thread
                LOGGER.debug("Unleash flags poll failed", exc_info=True)
                self.features_backoff.record_problem(
                    f"the poll failed ({type(error).__name__})", state="poll-failed"
                )
            if reschedule:
                self.runner.set_interval("poll", self.features_backoff.delay)

    def _poll_once(self, retries: int | None) -> None:
        outcome = self.api.fetch_features(self.loader.etag, retries)
        if outcome.result is Result.TOO_LARGE:
            # Refused before it was read (or as soon as it passed the limit). Every try costs
            # the server up to max_payload_bytes, so this backs off like an overload.
            self.features_backoff.record_problem(
                f"refused the flags payload: {outcome.detail}", state="too-large", back_off=True
            )
            return
        problem = None
        if self.stream is not None:
            self.stream.poll_answered(outcome.fetch_mode)
        if outcome.result is Result.OK and outcome.delta:
            problem = self.loader.install_delta(outcome.body, outcome.etag)
        elif outcome.result is Result.OK:
            problem = self.loader.install_fetched(outcome.body, outcome.etag)
        elif outcome.result is Result.NOT_MODIFIED:
            LOGGER.debug("Unleash flags unchanged (304)")
        self.features_backoff.record(outcome, problem)

    def reload_cache(self) -> None:
        """Install the flags another process wrote to the shared cache (``fetch_toggles=False``)."""
        problem = self.loader.read_cache()
        if problem is not None:
            self.features_backoff.record_problem(problem)

    def send_metrics(self, budget: float | None = None) -> bool:
        """Send the counts not yet accepted by the server; keep them if the send fails.

        ``budget``: seconds the whole send may take, waiting for a send in progress
        included (a flush at exit); ``None``: the request timeout, as the periodic job.
        Returns whether nothing is left unsent.
        """
        if not self._send_lock.acquire(timeout=-1 if budget is None else budget):
            return False  # a send in progress holds the counts; it reports them
        try:
            try:
                return self._send_metrics_once(budget)
            except Exception:  # the counts stay; a bug must not stop the job
                LOGGER.debug("Unleash metrics send failed", exc_info=True)
                return False
            finally:
                if budget is None:
                    self.runner.set_interval("metrics", self.metrics_backoff.delay)
        finally:
            self._send_lock.release()

    def _send_metrics_once(self, budget: float | None) -> bool:
        if budget is None and not self.registered and not self.config.disable_registration:
            self.register()  # a flush (budget given) only sends what was counted
        identity = {
            "appName": self.config.app_name,
            "instanceId": self.config.instance_id,
            "connectionId": self.api.connection_id,
            "environment": self.config.environment,
        }
        if budget is None:
            budget = self.config.request_timeout  # for every part of the send together
        outcome, done = send_unsent(self.metrics, identity, self.api.send_metrics, budget)
        if outcome is not None:
            self.metrics_backoff.record(outcome)
        return done

    def register(self) -> None:
        """POST the registration; retried with the next metrics send until it succeeds."""
        outcome = self.api.register(
            {
                "appName": self.config.app_name,
                "instanceId": self.config.instance_id,
                "connectionId": self.api.connection_id,
                "sdkVersion": f"{SDK_NAME}:{__version__}",
                "strategies": self.strategy_names,
                "started": iso_utc(self.started_at),
                "interval": int(self.config.metrics_interval * 1000),
                "environment": self.config.environment,
                **platform_fields(),
            }
        )
        self.registered = outcome.ok
        if not outcome.ok:
            LOGGER.debug("Unleash registration failed (%s); will retry", outcome.detail)

    # -- internals ------------------------------------------------------------------------

    def _new_stream(self) -> StreamThread | None:
        if not self.config.streaming:
            return None
        return StreamThread(self.config, self.api, self.loader, self._transport)

    def _new_runner(self) -> Runner:
        if self._user_scheduler is not None:
            return ApschedulerRunner(self._user_scheduler, self._executor, self._job_prefix)
        return ThreadRunner(f"unleash-lite-{self.config.app_name}")
