"""Usage metrics: exact, lock-free counting on the hot path, and loss-free reporting.

Each flag has monotonic ``itertools.count`` counters: ``next()`` on one is a single C call
under the GIL, so concurrent threads never lose an increment and the hot path takes no lock.
Reporting sends the difference between the counters now and at the last *successful* send.
A failed send therefore loses nothing (the next bucket simply includes those counts) and a
retried send cannot double-count, all in memory bounded by the number of flags.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .http import iso_utc, platform_fields

LOGGER = logging.getLogger("unleash_lite")

MAX_UNKNOWN_FLAGS = 10_000  # counters kept for flag names the server does not know


def current_value(counter: itertools.count[int]) -> int:
    """The next value a counter would return, i.e. how many times it was advanced.

    ``itertools.count`` offers no read accessor; its repr, ``count(N)``, is the only way to
    read it without advancing it.
    """
    return int(repr(counter)[6:-1])


@dataclass
class FlagCounters:
    """Counters of one flag; they outlive snapshot swaps."""

    name: str
    yes: itertools.count[int] = field(default_factory=itertools.count)
    no: itertools.count[int] = field(default_factory=itertools.count)
    variants: dict[str, itertools.count[int]] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)  # values at the last successful send

    def readings(self) -> dict[str, int]:
        """Current totals, keyed ``yes``, ``no`` and ``variant:<name>``."""
        values = {"yes": current_value(self.yes), "no": current_value(self.no)}
        for name, counter in list(self.variants.items()):
            values[f"variant:{name}"] = current_value(counter)
        return values


@dataclass(frozen=True)
class Bucket:
    """Counts not yet sent, and the readings that mark them sent once the server has them."""

    start: datetime
    stop: datetime
    toggles: dict[str, dict[str, Any]]
    readings: dict[str, dict[str, int]]

    def body(
        self, app_name: str, instance_id: str, connection_id: str, environment: str
    ) -> dict[str, Any]:
        """The JSON body of ``POST /client/metrics``."""
        return {
            "appName": app_name,
            "instanceId": instance_id,
            "connectionId": connection_id,
            "environment": environment,
            **platform_fields(),
            "bucket": {
                "start": iso_utc(self.start),
                "stop": iso_utc(self.stop),
                "toggles": self.toggles,
            },
        }


class MetricsRegistry:
    """All flags' counters, the bucket of unsent counts, and fork handling."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, FlagCounters] = {}
        self._unknown = 0
        self._warned_unknown = False
        self.bucket_start = datetime.now(UTC)

    def counters(
        self, name: str, variant_names: Iterable[str] = (), known: bool = True
    ) -> FlagCounters | None:
        """The counters of flag ``name`` (created on first use, with counters for variants).

        Unknown flag names are bounded: past ``MAX_UNKNOWN_FLAGS`` they are not counted.
        """
        counters = self._flags.get(name)
        if counters is not None and not variant_names:
            return counters
        with self._lock:
            counters = self._flags.get(name)
            if counters is None:
                if not known:
                    if self._unknown >= MAX_UNKNOWN_FLAGS:
                        if not self._warned_unknown:
                            self._warned_unknown = True
                            LOGGER.warning(
                                "More than %d unknown flag names evaluated; not "
                                "counting further unknown names",
                                MAX_UNKNOWN_FLAGS,
                            )
                        return None
                    self._unknown += 1
                counters = FlagCounters(name)
                self._flags[name] = counters
            for variant_name in variant_names:
                counters.variants.setdefault(variant_name, itertools.count())
            return counters

    def variant_counter(self, counters: FlagCounters, variant_name: str) -> itertools.count[int]:
        """The counter of a variant, created if it is new."""
        counter = counters.variants.get(variant_name)
        if counter is None:
            with self._lock:
                counter = counters.variants.setdefault(variant_name, itertools.count())
        return counter

    def collect(self) -> Bucket | None:
        """The counts since the last successful send; ``None`` when there are none."""
        stop = datetime.now(UTC)
        toggles: dict[str, dict[str, Any]] = {}
        readings: dict[str, dict[str, int]] = {}
        for name, counters in list(self._flags.items()):
            now = counters.readings()
            deltas = {key: value - counters.sent.get(key, 0) for key, value in now.items()}
            if not any(deltas.values()):
                continue
            readings[name] = now
            toggles[name] = {
                "yes": deltas["yes"],
                "no": deltas["no"],
                "variants": {
                    key[8:]: count
                    for key, count in deltas.items()
                    if key.startswith("variant:") and count
                },
            }
        if not toggles:
            return None
        return Bucket(self.bucket_start, stop, toggles, readings)

    def mark_sent(self, bucket: Bucket) -> None:
        """Record that the server accepted ``bucket``: its counts are never sent again."""
        with self._lock:
            for name, reading in bucket.readings.items():
                self._flags[name].sent.update(reading)
            self.bucket_start = bucket.stop

    def forget_unsent(self) -> None:
        """Mark everything counted so far as sent (a forked child must not report its
        parent's counts again)."""
        self._lock = threading.Lock()
        for counters in list(self._flags.values()):
            counters.sent.update(counters.readings())
        self.bucket_start = datetime.now(UTC)

    def totals(self) -> dict[str, dict[str, int]]:
        """All counts ever made, per flag (for tests and diagnostics)."""
        return {name: counters.readings() for name, counters in list(self._flags.items())}
