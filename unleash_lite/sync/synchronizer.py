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
from .http import ApiCalls, UnleashApi
from .loader import FlagLoader
from .metrics import MetricsRegistry, send_unsent
from .outcome import SDK_NAME, Result, iso_utc, platform_fields
from .scheduler import ApschedulerRunner, Job, Runner, ThreadRunner
from .steps import Offload, Steps
from .stream_thread import StreamThread
from .streaming import StreamingState
from .transport import Transport

LOGGER = logging.getLogger("unleash_lite")


class Operations:
    """What a client does with its server, written once as :mod:`.steps` for the sync
    and the async client: fetch and install the flags (ETag, backoff), re-read a shared
    cache, register, and send metrics (loss-free).

    Parsing and compiling what arrives, and cache I/O, are :class:`~.steps.Offload` steps:
    the async client runs them off its event loop.
    """

    def __init__(
        self,
        config: ClientConfig,
        loader: FlagLoader,
        metrics: MetricsRegistry,
        strategy_names: Iterable[str],
        calls: ApiCalls,
    ) -> None:
        self.config = config
        self.loader = loader
        self.metrics = metrics
        self.strategy_names = sorted(set(strategy_names))
        self.calls = calls
        self.features_backoff = Backoff("flags fetch", config.refresh_interval)
        self.metrics_backoff = Backoff(
            "metrics", config.metrics_interval, companion=self.features_backoff
        )
        self.registered = False
        self.started_at = datetime.now(UTC)
        self.fetch_toggles = True
        # Streaming mode's state, set by the driver of the stream: a poll answer's
        # "fetch-mode: streaming" header hands the flags back to the stream.
        self.stream_state: StreamingState | None = None

    def reconfigure(self, config: ClientConfig) -> None:
        """Use ``config`` from the next request and the next interval on."""
        self.config = config
        self.calls.config = config
        self.features_backoff.interval = config.refresh_interval
        self.metrics_backoff.interval = config.metrics_interval

    def poll_steps(self, retries: int | None = None) -> Steps[None]:
        """Fetch the flags once and install them when they changed. Never raises: whatever
        happens is classified, logged once per change of state, and the job goes on."""
        try:
            yield from self._poll_once(retries)
        except Exception as error:  # a bug must neither stop the job nor reach its thread
            LOGGER.debug("Unleash flags poll failed", exc_info=True)
            self.features_backoff.record_problem(
                f"the poll failed ({type(error).__name__})", state="poll-failed"
            )

    def _poll_once(self, retries: int | None) -> Steps[None]:
        outcome = yield from self.calls.fetch_features(self.loader.etag, retries)
        if outcome.result is Result.TOO_LARGE:
            # Refused before it was read (or as soon as it passed the limit). Every try costs
            # the server up to max_payload_bytes, so this backs off like an overload.
            self.features_backoff.record_problem(
                f"refused the flags payload: {outcome.detail}", state="too-large", back_off=True
            )
            return
        problem = None
        if self.stream_state is not None:
            self.stream_state.poll_answered(outcome.fetch_mode)
        if outcome.result is Result.OK and outcome.delta:
            problem = yield Offload(self.loader.install_delta, (outcome.body, outcome.etag))
        elif outcome.result is Result.OK:
            problem = yield Offload(self.loader.install_fetched, (outcome.body, outcome.etag))
        elif outcome.result is Result.NOT_MODIFIED:
            LOGGER.debug("Unleash flags unchanged (304)")
        self.features_backoff.record(outcome, problem)

    def reload_cache_steps(self) -> Steps[None]:
        """Install the flags another process wrote to the shared cache (``fetch_toggles=False``)."""
        problem = yield Offload(self.loader.read_cache)
        if problem is not None:
            self.features_backoff.record_problem(problem)

    def send_metrics_steps(self, budget: float | None = None) -> Steps[bool]:
        """Send the counts not yet accepted by the server; keep them if the send fails.

        ``budget``: seconds the whole send may take (a flush at exit); ``None``: the
        request timeout, as the periodic job, which also registers first if that has not
        succeeded yet. Returns whether nothing is left unsent. Never raises.
        """
        try:
            if budget is None and not self.registered and not self.config.disable_registration:
                yield from self.register_steps()  # a flush (budget given) only sends counts
            identity = {
                "appName": self.config.app_name,
                "instanceId": self.config.instance_id,
                "connectionId": self.calls.connection_id,
                "environment": self.config.environment,
                **self.config.sdk_metadata,
            }
            outcome, done = yield from send_unsent(
                self.metrics,
                identity,
                self.calls.send_metrics,
                self.config.request_timeout if budget is None else budget,
            )
        except Exception:  # the counts stay; a bug must not stop the job
            LOGGER.debug("Unleash metrics send failed", exc_info=True)
            return False
        if outcome is not None:
            self.metrics_backoff.record(outcome)
        return done

    def register_steps(self) -> Steps[None]:
        """POST the registration; retried with the next metrics send until it succeeds."""
        outcome = yield from self.calls.register(
            {
                "appName": self.config.app_name,
                "instanceId": self.config.instance_id,
                "connectionId": self.calls.connection_id,
                "sdkVersion": f"{SDK_NAME}:{__version__}",
                "strategies": self.strategy_names,
                "started": iso_utc(self.started_at),
                "interval": int(self.config.metrics_interval * 1000),
                "environment": self.config.environment,
                **self.config.sdk_metadata,
                **platform_fields(),
            }
        )
        self.registered = outcome.ok
        if not outcome.ok:
            LOGGER.debug("Unleash registration failed (%s); will retry", outcome.detail)


class Synchronizer(Operations):
    """:class:`Operations` with blocking I/O, on a background runner.

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
        self.api = UnleashApi(config, transport)
        super().__init__(config, loader, metrics, strategy_names, self.api.calls)
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
        """:meth:`Operations.poll_steps`, now; then the poll job's next interval."""
        if reschedule and self.stream is not None and self.stream.streaming:
            return  # the job is paused while the flags stream
        with self._poll_lock:
            self.api.run(self.poll_steps(retries))
            if reschedule:
                self.runner.set_interval("poll", self.features_backoff.delay)

    def reload_cache(self) -> None:
        """:meth:`Operations.reload_cache_steps`, now."""
        self.api.run(self.reload_cache_steps())

    def send_metrics(self, budget: float | None = None) -> bool:
        """:meth:`Operations.send_metrics_steps`, now, waiting for a send in progress
        within ``budget`` (which then reports the counts)."""
        if not self._send_lock.acquire(timeout=-1 if budget is None else budget):
            return False  # a send in progress holds the counts; it reports them
        try:
            return self.api.run(self.send_metrics_steps(budget))
        finally:
            if budget is None:
                self.runner.set_interval("metrics", self.metrics_backoff.delay)
            self._send_lock.release()

    def register(self) -> None:
        """:meth:`Operations.register_steps`, now."""
        self.api.run(self.register_steps())

    # -- internals ------------------------------------------------------------------------

    def _new_stream(self) -> StreamThread | None:
        if not self.config.streaming:
            self.stream_state = None
            return None
        stream = StreamThread(self.config, self.api, self.loader, self._transport)
        self.stream_state = stream.state
        return stream

    def _new_runner(self) -> Runner:
        if self._user_scheduler is not None:
            return ApschedulerRunner(self._user_scheduler, self._executor, self._job_prefix)
        return ThreadRunner(f"unleash-lite-{self.config.app_name}")
