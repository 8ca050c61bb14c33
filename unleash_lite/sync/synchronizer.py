"""Keeping a client's flags fresh and reporting its usage, on an APScheduler scheduler."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from ..cache import ETAG, FEATURES_URL, BaseCache
from ..config import ClientConfig
from ..engine import PayloadError
from ..version import __version__
from .backoff import Backoff
from .http import SDK_NAME, Result, UnleashApi, iso_utc, platform_fields
from .metrics import MetricsRegistry

LOGGER = logging.getLogger("unleash_lite")

ApplyPayload = Callable[[Any], object]


class Synchronizer:
    """Polls the flags (ETag, backoff), registers, and sends metrics (loss-free).

    A new payload is compiled on the scheduler's thread and swapped into the client by
    ``apply_payload``; the evaluating threads never wait for it.
    """

    def __init__(
        self,
        config: ClientConfig,
        cache: BaseCache,
        metrics: MetricsRegistry,
        apply_payload: ApplyPayload,
        on_fetched: Callable[[str], None],
        strategy_names: Iterable[str],
        etag: str | None = None,
        scheduler: BaseScheduler | None = None,
        executor: str | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        self.metrics = metrics
        self.apply_payload = apply_payload
        self.on_fetched = on_fetched
        self.strategy_names = sorted(set(strategy_names))
        self.api = UnleashApi(config)
        self.etag = etag  # of the flags the client holds, when they came from the cache
        self.features_backoff = Backoff("flags fetch", config.refresh_interval)
        self.metrics_backoff = Backoff(
            "metrics", config.metrics_interval, companion=self.features_backoff
        )
        self.registered = False
        self.started_at = datetime.now(UTC)
        self.fetch_toggles = True
        self._owns_scheduler = scheduler is None
        self._executor = executor or ("default" if scheduler else "unleash-lite")
        self._scheduler = scheduler or self._new_scheduler()
        self._jobs: dict[str, Job] = {}
        self._send_lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._job_prefix = f"unleash-lite-{uuid.uuid4().hex[:8]}"
        self._unusable_etag: str | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, fetch_toggles: bool = True) -> None:
        """Fetch once (bounded by the request timeout), then start the periodic jobs."""
        self.fetch_toggles = fetch_toggles
        first = threading.Thread(
            target=self.poll if fetch_toggles else self.reload_cache,
            name="unleash-lite-first-fetch",
            daemon=True,
        )
        first.start()
        first.join(self.config.request_timeout)
        self._start_jobs()

    def stop(self, flush_timeout: float | None) -> None:
        """Remove the jobs, optionally send the last metrics, stop our scheduler."""
        for job in list(self._jobs.values()):
            try:
                job.remove()
            except Exception:
                LOGGER.debug("job already gone", exc_info=True)
        self._jobs.clear()
        if flush_timeout is not None and not self.config.disable_metrics:
            flush = threading.Thread(
                target=self.send_metrics, daemon=True, name="unleash-lite-final-metrics"
            )
            flush.start()
            flush.join(flush_timeout)
        if self._owns_scheduler and self._scheduler.state != STATE_STOPPED:
            self._scheduler.shutdown(wait=False)
            self._scheduler = self._new_scheduler()  # a shut-down pool cannot run jobs again
        self.api.close()

    def after_fork(self) -> None:
        """In a forked child: fresh locks, connections and connection id; restart the jobs."""
        self._send_lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self.features_backoff.after_fork()
        self.metrics_backoff.after_fork()
        cache_after_fork = getattr(self.cache, "after_fork", None)
        if callable(cache_after_fork):
            cache_after_fork()
        self.api.reset_after_fork()
        had_jobs = bool(self._jobs)
        self._jobs = {}
        if not had_jobs:
            return
        if self._owns_scheduler:
            self._scheduler = self._new_scheduler()  # the parent's scheduler thread is gone
            self._start_jobs()
        else:
            LOGGER.warning(
                "Unleash: this process was forked and uses a custom scheduler; "
                "start its jobs again (call initialize_client in the child)"
            )

    # -- jobs -----------------------------------------------------------------------------

    def poll(self) -> None:
        """Fetch the flags once and install them when they changed. Never raises: whatever
        happens is classified, logged once per change of state, and the job goes on."""
        with self._poll_lock:
            try:
                self._poll_once()
            except Exception as error:  # a bug must neither stop the job nor reach its thread
                LOGGER.debug("Unleash flags poll failed", exc_info=True)
                self.features_backoff.record_problem(
                    f"the poll failed ({type(error).__name__})", state="poll-failed"
                )
            self._reschedule("poll", self.features_backoff.delay, self.config.refresh_jitter)

    def _poll_once(self) -> None:
        outcome = self.api.fetch_features(self.etag)
        if outcome.result is Result.TOO_LARGE:
            # Refused before it was read (or as soon as it passed the limit). Every try costs
            # the server up to max_payload_bytes, so this backs off like an overload.
            self.features_backoff.record_problem(
                f"refused the flags payload: {outcome.detail}", state="too-large", back_off=True
            )
            return
        problem = None
        if outcome.result is Result.OK:
            problem = self._install(outcome.body, outcome.etag)
        elif outcome.result is Result.NOT_MODIFIED:
            LOGGER.debug("Unleash flags unchanged (304)")
        self.features_backoff.record(outcome, problem)

    def reload_cache(self) -> None:
        """Install the flags another process wrote to the shared cache (``fetch_toggles=False``)."""
        try:
            reload = getattr(self.cache, "reload", None)
            if callable(reload):
                reload()
            stored = self.cache.get(FEATURES_URL)
            stored_etag = self.cache.get(ETAG) or None
        except Exception as error:  # a user-provided cache must not break the job
            self.features_backoff.record_problem(f"the cache cannot be read ({error})")
            return
        if not stored or (
            stored_etag is not None and stored_etag in (self.etag, self._unusable_etag)
        ):
            return
        try:
            text = stored if isinstance(stored, str) else json.dumps(stored)
        except (TypeError, ValueError, RecursionError) as error:
            text = ""  # a user cache holding something that is not JSON at all
            LOGGER.debug("Unleash cache entry is not JSON: %s", type(error).__name__)
        problem = self._apply(text)
        if problem is not None:
            self._unusable_etag = stored_etag  # warn once, not on every refresh
            self.features_backoff.record_problem(f"the cache holds {problem}")
            return
        self.etag = stored_etag

    def send_metrics(self) -> None:
        """Send the counts not yet accepted by the server; keep them if the send fails."""
        with self._send_lock:
            try:
                self._send_metrics_once()
            except Exception:  # the counts stay; a bug must not stop the job
                LOGGER.debug("Unleash metrics send failed", exc_info=True)
            self._reschedule("metrics", self.metrics_backoff.delay, self.config.metrics_jitter)

    def _send_metrics_once(self) -> None:
        if not self.registered and not self.config.disable_registration:
            self.register()
        bucket = self.metrics.collect()
        if bucket is not None:
            outcome = self.api.send_metrics(
                bucket.body(
                    self.config.app_name,
                    self.config.instance_id,
                    self.api.connection_id,
                    self.config.environment,
                )
            )
            if outcome.ok:
                self.metrics.mark_sent(bucket)
            self.metrics_backoff.record(outcome)

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

    def _install(self, body: str, etag: str | None) -> str | None:
        """Compile and swap in a fetched payload; the reason it is unusable, if it is."""
        problem = self._apply(body)
        if problem is not None:
            return problem
        self.etag = etag
        try:
            self.cache.mset({FEATURES_URL: body, ETAG: etag or ""})
        except Exception as error:  # a user-provided cache must not stop the poller
            LOGGER.warning("Unleash could not write the flags to the cache: %s", error)
        self.on_fetched(body)
        return None

    def _apply(self, text: str) -> str | None:
        """Parse, check and swap in a payload; the reason it is unusable, if it is."""
        try:
            payload = json.loads(text)
            if _drops_every_feature(payload):
                raise PayloadError("'features' holds no object with a name")
            self.apply_payload(payload)
        except ValueError as error:  # includes PayloadError and JSON decode errors
            return f"unusable flags payload ({type(error).__name__}: {str(error)[:200]})"
        except RecursionError:  # JSON nested deeper than the parser's stack
            return "unusable flags payload (nested too deeply)"
        except Exception as error:  # never let a payload break the poller
            LOGGER.debug("Unleash could not install a flags payload", exc_info=True)
            return f"unusable flags payload ({type(error).__name__})"
        return None

    def _new_scheduler(self) -> BaseScheduler:
        return BackgroundScheduler(
            executors={self._executor: ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
            daemon=True,
        )

    def _start_jobs(self) -> None:
        if self._scheduler.state == STATE_STOPPED:
            self._scheduler.start()
        poll = self.poll if self.fetch_toggles else self.reload_cache
        self._add_job("poll", poll, self.features_backoff.delay, self.config.refresh_jitter)
        if not self.config.disable_metrics:
            self._add_job(
                "metrics",
                self.send_metrics,
                self.config.metrics_interval,
                self.config.metrics_jitter,
            )
        if not self.config.disable_registration:
            self._jobs["register"] = self._scheduler.add_job(
                self.register, executor=self._executor, id=f"{self._job_prefix}-register"
            )

    def _add_job(
        self, kind: str, function: Callable[[], None], seconds: float, jitter: float | None
    ) -> None:
        self._jobs[kind] = self._scheduler.add_job(
            function,
            IntervalTrigger(seconds=seconds, jitter=jitter, timezone=UTC),
            id=f"{self._job_prefix}-{kind}",
            executor=self._executor,
            max_instances=1,
            coalesce=True,
        )

    def _reschedule(self, kind: str, seconds: float, jitter: float | None) -> None:
        job = self._jobs.get(kind)
        if job is None:
            return
        trigger = job.trigger
        if isinstance(trigger, IntervalTrigger) and trigger.interval.total_seconds() == seconds:
            return
        try:
            job.reschedule(IntervalTrigger(seconds=seconds, jitter=jitter, timezone=UTC))
        except Exception:
            LOGGER.debug("could not reschedule the %s job", kind, exc_info=True)


def _drops_every_feature(payload: Any) -> bool:
    """True for a full payload listing features of which none is usable (say ``[1, 2]``):
    installing it would silently turn every flag off, so it is treated as a bad payload."""
    features = payload.get("features") if isinstance(payload, dict) else None
    return (
        bool(features)
        and isinstance(features, list)
        and not any(
            isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]
            for item in features
        )
    )
