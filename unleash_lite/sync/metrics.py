"""Usage metrics: exact, lock-free counting on the hot path, and loss-free reporting.

Each flag has monotonic ``itertools.count`` counters: ``next()`` on one is a single C call
under the GIL, so concurrent threads never lose an increment and the hot path takes no lock.
The reporter reads them with ``next()`` as well, minus its own earlier reads.
Reporting sends the difference between the counters now and at the last *successful* send.
A failed send therefore loses nothing (the next bucket simply includes those counts) and a
retried send cannot double-count, all in memory bounded by the number of flags.

Unleash answers 413 to a JSON body over 100 KB, so a bucket is sent as parts, each a complete
body of at most ``body_budget`` bytes, each marked sent when the server accepts it. Counts the
server refuses for good (400, 422...) or that fit in no body are dropped, with one ERROR line,
so one bad body never blocks the others.

Impact metrics (:mod:`unleash_lite.impact_metrics`) ride in the same bodies, after the
usage counts, under the same rules: each sample is marked sent when a body holding it is
accepted, and dropped with it.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..impact_metrics import ImpactMetrics, ImpactSample, wire_metrics
from .outcome import Outcome, Result, iso_utc, platform_fields

if TYPE_CHECKING:
    from .steps import Steps

LOGGER = logging.getLogger("unleash_lite")

MAX_UNKNOWN_FLAGS = 10_000  # counters kept for flag names the server does not know
BODY_LIMIT = 100 * 1024  # Unleash's JSON body parser ("100kb") answers 413 past this
BODY_BUDGET = BODY_LIMIT * 9 // 10  # the most a metrics body is made to take (92,160 bytes)
MIN_BODY_BUDGET = 4 * 1024  # the floor for a server whose 413s keep halving the budget
MAX_POSTS_PER_SEND = 10  # the most one send asks of the server (about 900 KB)
# 4xx answers about the request rather than the counts (method, proxy credentials, timeout,
# headers): the counts are kept, as for 401/403/404. Any other 4xx refuses them for good.
KEPT_4XX = frozenset({405, 407, 408, 425, 431})
_SEPARATOR = len(", ")  # between two members of a JSON object, as json.dumps writes them
_IMPACT_MEMBER = len(', "impactMetrics": []')  # what the first impact sample adds to a body


@dataclass(slots=True)
class Counts:
    """How often one flag answered yes, no, and each variant (totals, or marks of what a
    part of a bucket reports: ``None`` for a yes/no count the part leaves as it was)."""

    yes: int | None = 0
    no: int | None = 0
    variants: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """``{"yes", "no", "variants": {name: count}}``, the shape of a metrics entry."""
        return {"yes": self.yes, "no": self.no, "variants": dict(self.variants)}


@dataclass(eq=False, slots=True)
class FlagCounters:
    """Counters of one flag; they outlive snapshot swaps.

    The hot path advances ``yes``, ``no`` and the ``variants`` with ``next()``. The reporter
    reads a counter by advancing it too (``itertools.count`` has no other accessor) and
    subtracting the reads it made before: ``next()`` is atomic, so the reading is exact
    whatever the other threads do. Reads are serialised by the registry's lock.
    """

    name: str
    yes: itertools.count[int] = field(default_factory=itertools.count)
    no: itertools.count[int] = field(default_factory=itertools.count)
    variants: dict[str, itertools.count[int]] = field(default_factory=dict)
    sent: Counts = field(default_factory=Counts)  # the readings at the last successful send
    reads: int = 0  # how often the reader advanced yes and no (each once per reading)
    variant_reads: dict[str, int] = field(default_factory=dict)

    def reading(self) -> Counts:
        """Every count made so far (call under the registry's lock)."""
        reads = self.reads
        yes, no = next(self.yes) - reads, next(self.no) - reads
        self.reads = reads + 1
        variants = {}
        variant_reads = self.variant_reads
        for name, counter in list(self.variants.items()):
            made = variant_reads.get(name, 0)
            variants[name] = next(counter) - made
            variant_reads[name] = made + 1
        return Counts(yes, no, variants)

    def mark(self, reading: Counts) -> None:
        """Record ``reading`` (or part of one) as reported."""
        if reading.yes is not None:
            self.sent.yes = reading.yes
        if reading.no is not None:
            self.sent.no = reading.no
        self.sent.variants.update(reading.variants)


@dataclass(frozen=True)
class Bucket:
    """Counts not yet sent, and the readings that mark them sent once the server has them;
    and impact metrics samples not yet sent (each marks itself)."""

    start: datetime
    stop: datetime
    toggles: dict[str, dict[str, Any]]
    readings: dict[str, Counts]
    impact: tuple[ImpactSample, ...] = ()

    def body(self, identity: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON body of ``POST /client/metrics``; ``identity``: appName, instanceId,
        connectionId and environment."""
        body = {
            **identity,
            **platform_fields(),
            "bucket": {
                "start": iso_utc(self.start),
                "stop": iso_utc(self.stop),
                "toggles": self.toggles,
            },
        }
        if self.impact:
            body["impactMetrics"] = wire_metrics(self.impact)
        return body

    @property
    def evaluations(self) -> int:
        """The yes and no counts: one per evaluation counted."""
        return sum(counts["yes"] + counts["no"] for counts in self.toggles.values())

    @property
    def variant_counts(self) -> int:
        """The variant counts (each also counted as an evaluation's yes or no)."""
        return sum(sum(counts["variants"].values()) for counts in self.toggles.values())

    def split(self, identity: Mapping[str, Any], budget: int) -> tuple[list[Bucket], Bucket]:
        """Parts whose bodies serialize (as ``requests`` sends ``json=``) to at most
        ``budget`` bytes each, in flag order; and the counts that fit in no such body.

        A flag too big for one body by itself has its variants spread over several parts,
        each with a share of its yes/no counts (Unleash ignores an entry whose yes and no
        are both 0, variants included). A flag name or variant too long for any body is
        left over. Impact samples follow the counts, in order; one too big for any body is
        left over too.
        """
        room = budget - _json_size(self._part({}, {}).body(identity))
        parts: list[Bucket] = []
        left = self._part({}, {})
        left_impact: list[ImpactSample] = []
        toggles: dict[str, dict[str, Any]] = {}
        readings: dict[str, Counts] = {}
        used = 0
        for name, counts in self.toggles.items():
            size = _entry_size(name, counts)
            if toggles and used + _SEPARATOR + size > room:
                parts.append(self._part(toggles, readings))
                toggles, readings, used = {}, {}, 0
            if size <= room:
                used += (_SEPARATOR if toggles else 0) + size
                toggles[name] = counts
                readings[name] = self.readings[name]
                continue
            pieces, lost = _flag_pieces(name, counts, self.readings[name], room)
            for piece, reading in pieces:
                parts.append(self._part({name: piece}, {name: reading}))
            if lost is not None:
                left.toggles[name], left.readings[name] = lost
        impact: list[ImpactSample] = []
        for sample in self.impact:
            size = _impact_size(sample, impact)
            if (toggles or impact) and used + size > room:
                parts.append(self._part(toggles, readings, impact))
                toggles, readings, impact, used = {}, {}, [], 0
                size = _impact_size(sample, impact)
            if size > room:
                left_impact.append(sample)
                continue
            impact.append(sample)
            used += size
        if toggles or impact:
            parts.append(self._part(toggles, readings, impact))
        if left_impact:
            left = self._part(left.toggles, left.readings, left_impact)
        return parts, left

    def _part(
        self,
        toggles: dict[str, dict[str, Any]],
        readings: dict[str, Counts],
        impact: Iterable[ImpactSample] = (),
    ) -> Bucket:
        return Bucket(self.start, self.stop, toggles, readings, tuple(impact))


class MetricsRegistry:
    """All flags' counters, the bucket of unsent counts, and fork handling; and the impact
    metrics sent with them, when given."""

    def __init__(self, impact: ImpactMetrics | None = None) -> None:
        self.impact = impact
        self._lock = threading.Lock()
        self._flags: dict[str, FlagCounters] = {}
        self._unknown = 0
        self._warned_unknown = False
        self._resume_at: str | None = None  # the first flag a send stopped before
        self.bucket_start = datetime.now(UTC)
        self.body_budget = BODY_BUDGET

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
        """The counts since the last successful send; ``None`` when there are none.

        Flags come in the order they were first counted, starting with the first one the
        last send did not reach, so flags counted early cannot keep later ones waiting.
        """
        stop = datetime.now(UTC)
        toggles: dict[str, dict[str, Any]] = {}
        readings: dict[str, Counts] = {}
        flags = list(self._flags.items())
        names = [name for name, _ in flags]
        if self._resume_at in names:
            first = names.index(self._resume_at)
            flags = flags[first:] + flags[:first]
        with self._lock:
            for name, counters in flags:
                now = counters.reading()
                sent = counters.sent
                yes = (now.yes or 0) - (sent.yes or 0)
                no = (now.no or 0) - (sent.no or 0)
                variants = {
                    variant: count - sent.variants.get(variant, 0)
                    for variant, count in now.variants.items()
                    if count != sent.variants.get(variant, 0)
                }
                if yes or no or variants:
                    readings[name] = now
                    toggles[name] = {"yes": yes, "no": no, "variants": variants}
        impact = tuple(self.impact.collect()) if self.impact is not None else ()
        if not toggles and not impact:
            return None
        return Bucket(self.bucket_start, stop, toggles, readings, impact)

    def mark_sent(self, bucket: Bucket) -> None:
        """Record that the server accepted ``bucket`` (or a part of one), or that its counts
        are dropped: they are never sent again."""
        with self._lock:
            for name, reading in bucket.readings.items():
                self._flags[name].mark(reading)
        if bucket.impact and self.impact is not None:
            self.impact.mark_sent(bucket.impact)

    def drop(self, bucket: Bucket, reason: str) -> None:
        """Mark ``bucket``'s counts handled without the server having them; one ERROR."""
        self.mark_sent(bucket)
        what = []
        if bucket.toggles:
            flags = len(bucket.toggles)
            what.append(
                f"{bucket.evaluations} evaluations (yes + no) and {bucket.variant_counts} "
                f"variant counts of {flags} flag{'' if flags == 1 else 's'}"
            )
        if bucket.impact:
            samples = len(bucket.impact)
            what.append(f"{samples} impact metrics sample{'' if samples == 1 else 's'}")
        LOGGER.error(
            "Unleash metrics: dropped %s: %s; they will not be sent again",
            " and ".join(what),
            reason,
        )

    def settle(self, bucket: Bucket, unsent: list[Bucket]) -> None:
        """End a send of ``bucket`` whose parts ``unsent`` were not handled: when none are
        left the next bucket starts at this one's stop, else the next collect starts with
        the first flag not handled (and the bucket keeps its start)."""
        with self._lock:
            if unsent:
                counts = next((part.toggles for part in unsent if part.toggles), None)
                self._resume_at = next(iter(counts)) if counts else None
            else:
                self._resume_at = None
                self.bucket_start = bucket.stop

    def forget_unsent(self) -> None:
        """Mark everything counted so far as sent (a forked child must not report its
        parent's counts again)."""
        self._lock = threading.Lock()
        for counters in list(self._flags.values()):
            counters.mark(counters.reading())
        self._resume_at = None
        self.bucket_start = datetime.now(UTC)
        if self.impact is not None:
            self.impact.forget_unsent()

    def totals(self) -> dict[str, dict[str, Any]]:
        """All counts ever made, per flag, as ``{"yes", "no", "variants": {name: count}}``
        (for tests and diagnostics)."""
        with self._lock:
            flags = list(self._flags.items())
            return {name: counters.reading().as_dict() for name, counters in flags}


def send_unsent(
    registry: MetricsRegistry,
    identity: Mapping[str, Any],
    post: Callable[[dict[str, Any], float], Steps[Outcome]],
    budget: float,
) -> Steps[tuple[Outcome | None, bool]]:
    """Send the counts not yet sent, in parts: the outcome for the backoff (``None``: no
    POST) and whether nothing is left unsent.

    Each part is marked sent when the server accepts it, and dropped when it refuses it for
    good (any 4xx but 401/403/404, 429, :data:`KEPT_4XX` and 413). A 413 halves
    ``registry.body_budget`` (down to :data:`MIN_BODY_BUDGET`, below which it drops the part)
    and the counts are split again. Any other failure ends the send, keeping the counts for
    the next one, as does reaching :data:`MAX_POSTS_PER_SEND` POSTs or the end of ``budget``
    (seconds for the whole send, every POST included). A refusal counts as an answer: it
    does not back off.
    """
    deadline = time.monotonic() + budget
    answer: Outcome | None = None
    posts = 0
    while True:
        bucket = registry.collect()
        if bucket is None:
            return answer, True
        size = registry.body_budget
        parts, left = bucket.split(identity, size)
        if left.toggles or left.impact:
            registry.drop(left, _too_big(left, size))
        for index, part in enumerate(parts):
            remaining = deadline - time.monotonic()
            if posts == MAX_POSTS_PER_SEND or remaining <= 0:
                registry.settle(bucket, parts[index:])
                return answer, False
            outcome = yield from post(part.body(identity), remaining)
            posts += 1
            if outcome.ok:
                registry.mark_sent(part)
                answer = outcome
                continue
            if not _refused(outcome):
                registry.settle(bucket, parts[index:])
                return outcome, False
            answer = Outcome(Result.OK, outcome.status, outcome.detail)
            if outcome.status == 413 and size > MIN_BODY_BUDGET:
                registry.body_budget = max(size // 2, MIN_BODY_BUDGET)
                LOGGER.warning(
                    "Unleash metrics: the server refused a body of at most %s bytes (HTTP 413); "
                    "sending bodies of at most %s bytes from now on",
                    f"{size:,}",
                    f"{registry.body_budget:,}",
                )
                registry.settle(bucket, parts[index:])
                break  # collect again, in smaller parts
            registry.drop(part, f"the server refused them (HTTP {outcome.status})")
        else:
            registry.settle(bucket, [])
            return answer, True


def _refused(outcome: Outcome) -> bool:
    """True for an answer refusing this body for good, whatever the server's state."""
    status = outcome.status
    return (
        outcome.result is Result.FAILED
        and status is not None
        and 400 <= status < 500
        and status not in KEPT_4XX
    )


def _too_big(left: Bucket, budget: int) -> str:
    flags = [name for name, counts in left.toggles.items() if counts["yes"] or counts["no"]]
    if not left.toggles:
        what = f"impact metric {left.impact[0].metric.name!r}"
        return f"an impact metrics sample does not fit in a body of {budget:,} bytes ({what})"
    if flags:
        what = f"flag name of {max(map(len, flags)):,} characters"
    else:
        longest = max(len(v) for counts in left.toggles.values() for v in counts["variants"])
        what = f"variant name of {longest:,} characters"
    return f"a flag's counts do not fit in a body of {budget:,} bytes ({what})"


def _json_size(data: Any) -> int:
    # json.dumps escapes every non-ASCII character (ensure_ascii), so characters are bytes.
    return len(json.dumps(data))


def _entry_size(name: str, counts: Mapping[str, Any]) -> int:
    """Bytes of ``"name": {...}`` inside the toggles object."""
    return _json_size(name) + len(": ") + _json_size(counts)


def _impact_size(sample: ImpactSample, before: list[ImpactSample]) -> int:
    """Bytes ``sample`` adds to a body whose impact samples are ``before``."""
    size = _json_size(sample.sample)
    if before and before[-1].metric is sample.metric:
        return _SEPARATOR + size  # one more sample in the metric's list
    header = _json_size(sample.metric.header())
    return (_SEPARATOR if before else _IMPACT_MEMBER) + header + size


Piece = tuple[dict[str, Any], Counts]  # a flag's entry in the toggles, its readings


def _flag_pieces(
    name: str, counts: dict[str, Any], reading: Counts, room: int
) -> tuple[list[Piece], Piece | None]:
    """A flag's counts as entries of at most ``room`` bytes each, with the readings that
    mark each sent (in order: each piece's yes/no readings include the pieces before it);
    and the counts no entry can hold."""
    yes, no = counts["yes"], counts["no"]
    frame = _entry_size(name, {"yes": yes, "no": no, "variants": {}})  # shares are no longer
    if frame > room:  # not even the name fits
        return [], (counts, reading)
    groups: list[dict[str, int]] = []
    lost: dict[str, int] = {}
    used = 0
    for variant, count in counts["variants"].items():
        size = _json_size(variant) + len(": ") + len(str(count))
        if frame + size > room:
            lost[variant] = count
        elif groups and frame + used + _SEPARATOR + size <= room:
            groups[-1][variant] = count
            used += _SEPARATOR + size
        else:
            groups.append({variant: count})
            used = size
    groups = groups or [{}]  # every variant lost: the yes/no counts still go out
    pieces: list[Piece] = []
    given_yes = given_no = 0
    for index, group in enumerate(groups):
        if index == len(groups) - 1:  # the last piece takes what is left
            share_yes, share_no = yes - given_yes, no - given_no
        else:  # as many evaluations as variant counts, so that Unleash keeps them
            share_yes = min(sum(group.values()), yes - given_yes)
            share_no = min(sum(group.values()) - share_yes, no - given_no)
        given_yes += share_yes
        given_no += share_no
        marks = Counts(
            (reading.yes or 0) - yes + given_yes,
            (reading.no or 0) - no + given_no,
            {v: reading.variants[v] for v in group},
        )
        pieces.append(({"yes": share_yes, "no": share_no, "variants": group}, marks))
    if not lost:
        return pieces, None
    left_marks = Counts(None, None, {v: reading.variants[v] for v in lost})
    return pieces, ({"yes": 0, "no": 0, "variants": lost}, left_marks)
