"""Running a client's periodic jobs: on one thread of our own, or on the user's APScheduler.

The default :class:`ThreadRunner` is one daemon thread per client that sleeps until the
next job is due, runs it, and sleeps again. It logs nothing per run, never lets a job's
exception end the thread, and ends as soon as ``stop()`` is called (or, when a job is in the
middle of a network call, as soon as that call ends: calls are bounded by the request
timeout). :class:`ApschedulerRunner` keeps the official SDK's ``scheduler=`` keyword working
by adding the same jobs to a scheduler the application owns.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

LOGGER = logging.getLogger("unleash_lite")


@dataclass
class Job:
    """A function to run every ``interval`` seconds (plus up to ``jitter`` seconds)."""

    name: str
    function: Callable[[], object]
    interval: float
    jitter: float | None = None
    delay: float = 0.0  # seconds from start() to the first run
    once: bool = False  # run once, ``delay`` seconds after start(), then forget it
    due: float = 0.0  # time.monotonic() of the next run (set by the runner)

    def schedule_next(self, now: float) -> None:
        """Set ``due`` one interval (plus jitter) after ``now``."""
        extra = random.uniform(0, self.jitter) if self.jitter else 0.0
        self.due = now + self.interval + extra


class Runner(Protocol):
    """What the synchronizer needs of a scheduler."""

    @property
    def running(self) -> bool:
        """Whether jobs are being run."""

    def start(self, jobs: list[Job]) -> None:
        """Run ``jobs``: each ``delay`` seconds from now, then every interval."""

    def set_interval(self, name: str, seconds: float) -> None:
        """Change a job's interval (backoff); takes effect from its next run."""

    def stop(self, timeout: float) -> None:
        """Run no more jobs; wait up to ``timeout`` seconds for a job in progress."""


class ThreadRunner:
    """Runs jobs one after another on a single daemon thread of its own."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: dict[str, Job] = {}
        self._wakeup = threading.Condition(threading.Lock())
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stopping

    @property
    def thread(self) -> threading.Thread | None:
        """The thread running the jobs, if started (for tests and diagnostics)."""
        return self._thread

    def start(self, jobs: list[Job]) -> None:
        with self._wakeup:
            self._stopping = False
            now = time.monotonic()
            for job in jobs:
                job.due = now + job.delay
                self._jobs[job.name] = job
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._wakeup.notify()

    def interval(self, name: str) -> float | None:
        """The current interval of a job (for tests and diagnostics)."""
        job = self._jobs.get(name)
        return None if job is None else job.interval

    def set_interval(self, name: str, seconds: float) -> None:
        with self._wakeup:
            job = self._jobs.get(name)
            if job is not None and job.interval != seconds:
                job.due += seconds - job.interval
                job.interval = seconds
                self._wakeup.notify()

    def stop(self, timeout: float) -> None:
        with self._wakeup:
            self._stopping = True
            self._jobs.clear()
            self._wakeup.notify()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._wakeup:
                job = self._next_due()
                while job is None and not self._stopping:
                    self._wakeup.wait(self._seconds_to_next())
                    job = self._next_due()
                if self._stopping:
                    return
                assert job is not None
                if job.once:
                    del self._jobs[job.name]
                else:
                    job.schedule_next(time.monotonic())
            try:
                job.function()
            except BaseException:  # a job must never end the thread
                LOGGER.debug("Unleash background job %s failed", job.name, exc_info=True)

    def _next_due(self) -> Job | None:
        now = time.monotonic()
        due = [job for job in self._jobs.values() if job.due <= now]
        return min(due, key=lambda job: job.due) if due else None

    def _seconds_to_next(self) -> float | None:
        if not self._jobs:
            return None
        return max(min(job.due for job in self._jobs.values()) - time.monotonic(), 0.0)


class ApschedulerRunner:
    """Adds the jobs to an APScheduler scheduler the application owns (``scheduler=``).

    The scheduler is started if it is not running, and never shut down by the client.
    """

    def __init__(self, scheduler: Any, executor: str | None, prefix: str) -> None:
        self.scheduler = scheduler
        self.executor = executor or "default"
        self.prefix = prefix
        self._jobs: dict[str, Any] = {}

    @property
    def running(self) -> bool:
        return bool(self._jobs) and bool(getattr(self.scheduler, "running", False))

    def start(self, jobs: list[Job]) -> None:
        from apscheduler.schedulers.base import STATE_STOPPED

        if self.scheduler.state == STATE_STOPPED:
            self.scheduler.start()
        for job in jobs:
            options: dict[str, Any] = {
                "id": f"{self.prefix}-{job.name}",
                "executor": self.executor,
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": None,
            }
            if job.once or job.delay < job.interval:
                options["next_run_time"] = datetime.now(UTC) + timedelta(seconds=job.delay)
            if job.once:
                self._jobs[job.name] = self.scheduler.add_job(job.function, **options)
            else:
                self._jobs[job.name] = self.scheduler.add_job(
                    job.function, self._trigger(job.interval, job.jitter), **options
                )

    def set_interval(self, name: str, seconds: float) -> None:
        job = self._jobs.get(name)
        if job is None:
            return
        interval = getattr(job.trigger, "interval", None)
        if interval is not None and interval.total_seconds() == seconds:
            return
        try:
            job.reschedule(self._trigger(seconds, getattr(job.trigger, "jitter", None)))
        except Exception:  # the job was removed meanwhile (stop, or by the application)
            LOGGER.debug("could not reschedule the Unleash %s job", name, exc_info=True)

    def stop(self, timeout: float) -> None:
        for job in list(self._jobs.values()):
            try:
                job.remove()
            except Exception:  # already run (a one-off job) or removed by the application
                LOGGER.debug("Unleash job already gone", exc_info=True)
        self._jobs.clear()

    def job(self, name: str) -> Any:
        """The APScheduler job of that name (for tests and diagnostics)."""
        return self._jobs.get(name)

    @staticmethod
    def _trigger(seconds: float, jitter: float | None) -> Any:
        from apscheduler.triggers.interval import IntervalTrigger

        return IntervalTrigger(seconds=seconds, jitter=jitter, timezone=UTC)
