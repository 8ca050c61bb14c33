"""Test doubles of the client's collaborators: a user-provided cache over a dict, and an
APScheduler stand-in that records jobs and reschedules and never runs anything by itself,
so a test drives ``Synchronizer.poll`` / ``send_metrics`` directly."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from apscheduler.schedulers.base import STATE_RUNNING, STATE_STOPPED
from apscheduler.triggers.interval import IntervalTrigger

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


class ThreadRecordingCache(DictCache):
    """A user cache that records which thread writes it (the thread of each install)."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: list[str] = []

    def mset(self, data: Mapping[str, Any]) -> None:
        self.writers.append(threading.current_thread().name)
        super().mset(data)


class StubJob:
    def __init__(self, scheduler: StubScheduler, job_id: str, function: Callable[[], Any],
                 trigger: Any) -> None:
        self.scheduler = scheduler
        self.id = job_id
        self.function = function
        self.trigger = trigger
        self.reschedules: list[Any] = []

    def reschedule(self, trigger: Any, **_: Any) -> StubJob:
        self.trigger = trigger
        self.reschedules.append(trigger)
        return self

    def remove(self) -> None:
        self.scheduler.jobs.pop(self.id, None)


class StubScheduler:
    """Records ``add_job`` calls; runs nothing. Pass as ``UnleashClient(scheduler=...)``."""

    def __init__(self) -> None:
        self.state = STATE_RUNNING
        self.jobs: dict[str, StubJob] = {}
        self.added: list[StubJob] = []

    def add_job(self, function: Callable[[], Any], trigger: Any = None, *, id: str,
                **_: Any) -> StubJob:
        job = StubJob(self, id, function, trigger)
        self.jobs[id] = job
        self.added.append(job)
        return job

    def start(self) -> None:
        self.state = STATE_RUNNING

    def shutdown(self, wait: bool = True) -> None:
        self.state = STATE_STOPPED

    def job(self, kind: str) -> StubJob:
        matches = [job for job in self.jobs.values() if job.id.endswith("-" + kind)]
        assert len(matches) == 1, f"expected one {kind} job, have {list(self.jobs)}"
        return matches[0]

    def interval(self, kind: str) -> float:
        trigger = self.job(kind).trigger
        assert isinstance(trigger, IntervalTrigger)
        return float(trigger.interval.total_seconds())
