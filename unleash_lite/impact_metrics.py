"""Impact metrics: counters, gauges and histograms the application defines and records,
labelled with the answers of feature flags, and reported with the usage metrics.

Recording is cheap and takes no lock on the common paths: a counter's increment by 1 and
a histogram's bucket counts are ``next()`` on an ``itertools.count`` (one atomic C call,
see :mod:`unleash_lite.sync.metrics`); other amounts go on a ``deque`` (``append`` is
atomic too) that is folded into a total, under a lock, once it holds :data:`FOLD_AT`
amounts or when the reporter reads it. A gauge is one assignment and one ``next()``.

The reporter reads every series (one label set of one metric) and sends what changed since
the last reading the server *accepted*: a counter's increase, a histogram's new
observations, a gauge's last value when it was set since. A failed send loses nothing and
an accepted one is never sent again. Nothing here does I/O or starts a thread: the
synchronous and asynchronous clients share it.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LOGGER = logging.getLogger("unleash_lite")

# Yggdrasil's (and Prometheus') default histogram bounds, in seconds.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FOLD_AT = 1024  # amounts other than 1 a series holds before the recording thread folds them
MAX_WARNED_NAMES = 1000  # undefined metric names warned about (once each)

VariantOf = Callable[[str, dict[str, Any]], Mapping[str, Any]]


@dataclass
class MetricFlagContext:
    """Flags whose answers for ``context`` become labels of a recorded value: a flag's label
    is the name of its variant when one is enabled, ``"enabled"`` when the flag is on
    without a variant, else ``"disabled"``."""

    flag_names: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)


def environment_of(authorization: str, default: str) -> str:
    """The environment the metrics are labelled with: the one an Unleash API token names
    (``"project:environment.secret"``), else ``default``, as the official SDK does."""
    _, colon, rest = authorization.partition(":")
    return (rest.partition(".")[0] if colon else "") or default


class _Tally:
    """An exact total that threads add to without a lock (see the module docstring).

    :meth:`total` is for the reporter only; its calls must be serialised.
    """

    __slots__ = ("_adds", "_folded", "_lock", "_ones", "_reads")

    def __init__(self) -> None:
        self._ones = itertools.count()
        self._reads = 0  # how often total() advanced _ones
        self._adds: deque[float] = deque()
        self._folded: float = 0
        self._lock = threading.Lock()

    def add(self, amount: float) -> None:
        if amount == 1:
            next(self._ones)
            return
        adds = self._adds
        adds.append(amount)
        if len(adds) >= FOLD_AT:
            self._fold()

    def _fold(self) -> None:
        with self._lock:
            adds = self._adds
            total = self._folded
            for _ in range(len(adds)):  # only folders pop, so these many are there
                total += adds.popleft()
            self._folded = total

    def total(self) -> float:
        """Everything added so far."""
        self._fold()
        reads = self._reads
        self._reads = reads + 1
        return next(self._ones) - reads + self._folded

    def after_fork(self) -> None:
        self._lock = threading.Lock()


class _Series:
    """The values of one metric under one label set, and the reading last sent."""

    __slots__ = ("labels", "sent")

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels
        self.sent: Any = None

    def reading(self) -> Any:
        raise NotImplementedError

    def unsent(self, reading: Any) -> dict[str, Any] | None:
        """The sample for the wire between ``self.sent`` and ``reading``; None: nothing."""
        raise NotImplementedError

    def mark(self, reading: Any) -> Any:
        """What ``self.sent`` becomes once ``reading`` is sent."""
        return reading

    def after_fork(self) -> None:
        """Fresh locks in a forked child."""


class _CounterSeries(_Series):
    __slots__ = ("tally",)

    def __init__(self, labels: dict[str, str]) -> None:
        super().__init__(labels)
        self.tally = _Tally()
        self.sent = 0

    def reading(self) -> float:
        return self.tally.total()

    def unsent(self, reading: float) -> dict[str, Any] | None:
        increase = reading - self.sent
        return {"labels": self.labels, "value": increase} if increase else None

    def after_fork(self) -> None:
        self.tally.after_fork()


class _GaugeSeries(_Series):
    __slots__ = ("set_reads", "sets", "value")

    def __init__(self, labels: dict[str, str]) -> None:
        super().__init__(labels)
        self.value: float = 0
        self.sets = itertools.count()  # advanced after each assignment of value
        self.set_reads = 0
        self.sent = 0

    def reading(self) -> tuple[int, float]:
        reads = self.set_reads
        sets = next(self.sets) - reads
        self.set_reads = reads + 1
        return sets, self.value  # the value is at least as new as the count of sets

    def unsent(self, reading: tuple[int, float]) -> dict[str, Any] | None:
        sets, value = reading
        return {"labels": self.labels, "value": value} if sets != self.sent else None

    def mark(self, reading: tuple[int, float]) -> int:
        return reading[0]


class _HistogramSeries(_Series):
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, labels: dict[str, str], bounds: tuple[float, ...]) -> None:
        super().__init__(labels)
        self.bounds = bounds
        self.counts = [_Tally() for _ in range(len(bounds) + 1)]  # the last: above all
        self.sum = _Tally()
        self.sent = ((0,) * len(self.counts), 0)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)].add(1)  # a bound counts values <= it
        self.sum.add(value)

    def reading(self) -> tuple[tuple[float, ...], float]:
        # A reading may catch an observation's count without its value in the sum (or the
        # reverse): the next one has the rest, so the totals sent stay exact.
        return tuple(tally.total() for tally in self.counts), self.sum.total()

    def unsent(self, reading: tuple[tuple[float, ...], float]) -> dict[str, Any] | None:
        counts, total = reading
        sent_counts, sent_total = self.sent
        new = [now - before for now, before in zip(counts, sent_counts, strict=True)]
        if not any(new) and total == sent_total:
            return None
        cumulative = list(itertools.accumulate(new))
        buckets = [{"le": bound, "count": cumulative[i]} for i, bound in enumerate(self.bounds)]
        buckets.append({"le": "+Inf", "count": cumulative[-1]})
        return {
            "labels": self.labels,
            "count": cumulative[-1],
            "sum": total - sent_total,
            "buckets": buckets,
        }

    def after_fork(self) -> None:
        for tally in (*self.counts, self.sum):
            tally.after_fork()


class _Metric:
    """A defined metric and its series by label set."""

    def __init__(
        self,
        name: str,
        help_text: str,
        kind: str,
        make: Callable[[dict[str, str]], _Series],
        base_labels: dict[str, str],
    ) -> None:
        self.name = name
        self.help = help_text
        self.kind = kind
        self._make = make
        self._base_labels = base_labels
        self.base: Any = make(dict(base_labels))  # the series without a flag context
        # Each series once, by its sorted labels (what collect() reads), and by the flags'
        # labels in the order given (what recording looks up: no sorting, no dict).
        self.series: dict[tuple[tuple[str, str], ...], Any] = {
            tuple(sorted(base_labels.items())): self.base
        }
        self.lookup: dict[tuple[tuple[str, str], ...], Any] = {(): self.base}

    def series_for(self, flag_labels: tuple[tuple[str, str], ...], lock: threading.Lock) -> Any:
        """The series of the base labels plus ``flag_labels`` (a flag may replace one)."""
        series = self.lookup.get(flag_labels)
        if series is None:
            labels = {**self._base_labels, **dict(flag_labels)}
            key = tuple(sorted(labels.items()))
            with lock:
                series = self.series.get(key)
                if series is None:
                    series = self.series[key] = self._make(labels)
                self.lookup[flag_labels] = series
        return series

    def header(self) -> dict[str, Any]:
        """The metric's entry on the wire, without samples."""
        return {"name": self.name, "help": self.help, "type": self.kind, "samples": []}


@dataclass(frozen=True, slots=True)
class ImpactSample:
    """One series' values not yet sent: the sample for the wire, and the reading that marks
    it sent."""

    metric: _Metric
    series: _Series
    sample: dict[str, Any]
    reading: Any


def wire_metrics(samples: Iterable[ImpactSample]) -> list[dict[str, Any]]:
    """The ``impactMetrics`` member of a metrics body: one entry per metric, its samples in
    the order given (samples of one metric are expected together)."""
    metrics: list[dict[str, Any]] = []
    last: _Metric | None = None
    for sample in samples:
        if sample.metric is not last:
            last = sample.metric
            metrics.append(last.header())
        metrics[-1]["samples"].append(sample.sample)
    return metrics


class ImpactMetrics:
    """``client.impact_metrics``: define metrics once, then record values, optionally
    labelled by the answers of flags (:class:`MetricFlagContext`).

    Every value carries the labels ``appName`` and ``environment``. Recording a metric that
    was not defined (or was defined as another type) records nothing and logs one WARNING
    per name. Defining a name again keeps the first definition. Values that are not finite
    numbers, and counter increments that are not positive, are ignored: they would make
    the whole metrics body invalid JSON or break the counter's meaning.

    ``variant_of(flag_name, context)`` answers a flag's variant dict (``name``,
    ``enabled``, ``feature_enabled``) without counting it as usage.
    """

    def __init__(self, app_name: str, environment: str, variant_of: VariantOf) -> None:
        self._base_labels = {"appName": app_name, "environment": environment}
        self._variant_of = variant_of
        self._lock = threading.Lock()  # definitions, new series, and readings
        self._metrics: dict[str, _Metric] = {}
        self._counters: dict[str, _Metric] = {}
        self._gauges: dict[str, _Metric] = {}
        self._histograms: dict[str, _Metric] = {}
        self._warned: set[str] = set()

    # -- definitions ----------------------------------------------------------------------

    def define_counter(self, name: str, help_text: str) -> None:
        """A counter: a total that only goes up; each send reports its increase."""
        self._define(self._counters, name, help_text, "counter", _CounterSeries)

    def define_gauge(self, name: str, help_text: str) -> None:
        """A gauge: a value that goes up and down; a send reports the last value set."""
        self._define(self._gauges, name, help_text, "gauge", _GaugeSeries)

    def define_histogram(
        self, name: str, help_text: str, buckets: Sequence[float] | None = None
    ) -> None:
        """A histogram: observations counted in buckets by upper bound (inclusive), with
        their count and sum. ``buckets``: the bounds (sorted here, non-finite ones and
        duplicates left out, ``+Inf`` added); :data:`DEFAULT_BUCKETS` when none."""
        bounds = tuple(sorted({float(b) for b in buckets or () if math.isfinite(b)}))
        bounds = bounds or DEFAULT_BUCKETS

        def make(labels: dict[str, str]) -> _Series:
            return _HistogramSeries(labels, bounds)

        self._define(self._histograms, name, help_text, "histogram", make)

    def _define(
        self,
        table: dict[str, _Metric],
        name: str,
        help_text: str,
        kind: str,
        make: Callable[[dict[str, str]], _Series],
    ) -> None:
        with self._lock:
            defined = self._metrics.get(name)
            if defined is not None:
                if defined.kind != kind:
                    LOGGER.warning(
                        "Impact metric %r is already a %s; not defining it as a %s",
                        name,
                        defined.kind,
                        kind,
                    )
                return
            metric = _Metric(name, help_text, kind, make, self._base_labels)
            self._metrics[name] = metric
            table[name] = metric

    # -- recording (hot path) -------------------------------------------------------------

    def increment_counter(
        self, name: str, value: int = 1, flag_context: MetricFlagContext | None = None
    ) -> None:
        """Add ``value`` (positive) to counter ``name``."""
        metric = self._counters.get(name)
        if metric is None:
            self._undefined(name, "counter")
            return
        if value != 1 and not (value > 0 and math.isfinite(value)):
            return
        series = metric.base if flag_context is None else self._series(metric, flag_context)
        series.tally.add(value)

    def update_gauge(
        self, name: str, value: float, flag_context: MetricFlagContext | None = None
    ) -> None:
        """Set gauge ``name`` to ``value``."""
        metric = self._gauges.get(name)
        if metric is None:
            self._undefined(name, "gauge")
            return
        if not math.isfinite(value):
            return
        series = metric.base if flag_context is None else self._series(metric, flag_context)
        series.value = value
        next(series.sets)

    def observe_histogram(
        self, name: str, value: float, flag_context: MetricFlagContext | None = None
    ) -> None:
        """Record one observation of ``value`` in histogram ``name``."""
        metric = self._histograms.get(name)
        if metric is None:
            self._undefined(name, "histogram")
            return
        if not math.isfinite(value):
            return
        series = metric.base if flag_context is None else self._series(metric, flag_context)
        series.observe(value)

    def _series(self, metric: _Metric, flag_context: MetricFlagContext) -> Any:
        context = flag_context.context
        label = self._flag_label
        flag_labels = tuple([(flag, label(flag, context)) for flag in flag_context.flag_names])
        return metric.series_for(flag_labels, self._lock)

    def _flag_label(self, flag: str, context: dict[str, Any]) -> str:
        try:
            variant = self._variant_of(flag, context)
            if variant["enabled"]:
                return str(variant["name"])
            return "enabled" if variant["feature_enabled"] else "disabled"
        except Exception:
            LOGGER.debug("Impact metrics: no answer for flag %r", flag, exc_info=True)
            return "disabled"

    def _undefined(self, name: str, kind: str) -> None:
        if name in self._warned or len(self._warned) >= MAX_WARNED_NAMES:
            return
        self._warned.add(name)
        defined = self._metrics.get(name)
        LOGGER.warning(
            "Impact metric %r is %s; define it with define_%s() first; not recording it",
            name,
            f"a {defined.kind}" if defined else "not defined",
            kind,
        )

    # -- reporting (the metrics sender) ---------------------------------------------------

    def collect(self) -> list[ImpactSample]:
        """Every series' values not yet sent, metric by metric in the order defined."""
        samples = []
        with self._lock:
            for metric in list(self._metrics.values()):
                for series in list(metric.series.values()):
                    reading = series.reading()
                    sample = series.unsent(reading)
                    if sample is not None:
                        samples.append(ImpactSample(metric, series, sample, reading))
        return samples

    def mark_sent(self, samples: Iterable[ImpactSample]) -> None:
        """Record that the server accepted ``samples`` (or that they are dropped)."""
        with self._lock:
            for sample in samples:
                sample.series.sent = sample.series.mark(sample.reading)

    def forget_unsent(self) -> None:
        """Mark everything recorded so far as sent, with fresh locks (a forked child must
        not report its parent's values again)."""
        self._lock = threading.Lock()
        for metric in list(self._metrics.values()):
            for series in list(metric.series.values()):
                series.after_fork()
        self.mark_sent(self.collect())
