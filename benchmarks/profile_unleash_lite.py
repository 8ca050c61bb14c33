"""Profiles of unleash_lite for the targets the benchmark misses (see docs/performance.md).

    python3 benchmarks/profile_unleash_lite.py [load] [memory] [hot] [hooks] [eval] [ideas] [async]

Runs in the benchmark's unleash_lite environment (re-executing itself with that Python when
the current one cannot import unleash_lite). Sections:

* ``load``: where loading 10,000 flags goes (cyclic GC on and off, engine vs client, cProfile);
* ``memory``: what the compiled snapshot of 10,000 flags is made of (tracemalloc, object counts);
* ``hot``: the parts of an ``is_enabled`` call with metrics counting on and off;
* ``eval``: cProfile of the per-call workloads that cost more than a microsecond;
* ``ideas``: micro-measurements behind the suggestions in docs/performance.md;
* ``async``: ``AsyncUnleashClient`` against ``UnleashClient`` per call, both in this process,
  timed alternately (no process-to-process variation between the two).
"""

from __future__ import annotations

import cProfile
import gc
import io
import itertools
import os
import pstats
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))

from harness import envs  # noqa: E402
from harness.measure import per_call_ns  # noqa: E402
from harness.payloads import generate_payload  # noqa: E402
from harness.workloads import (  # noqa: E402
    ROLLOUT,
    SIMPLE,
    UNKNOWN,
    WORKLOADS,
    workload_calls,
    workload_contexts,
    workload_payload,
)

N_FLAGS = 10_000
SECTIONS = ("load", "memory", "hot", "hooks", "eval", "ideas", "async")


def client(payload: dict[str, Any], metrics: bool = False, kind: str = "UnleashClient") -> Any:
    import unleash_lite
    from unleash_lite import InstanceAllowType

    return getattr(unleash_lite, kind)(
        url="",
        app_name="bench",
        bootstrap=payload,
        disable_metrics=not metrics,
        disable_registration=True,
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )


def timed(action: Callable[[], object], runs: int = 3, collect: bool = True) -> float:
    """Median CPU seconds of ``action`` (cyclic GC enabled or not)."""
    samples = []
    for _ in range(runs):
        gc.collect()
        if not collect:
            gc.disable()
        start = time.process_time()
        action()
        samples.append(time.process_time() - start)
        gc.enable()
    return statistics.median(samples)


def top(profile: cProfile.Profile, count: int = 14) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(count)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("ncalls"))
    return "\n".join(lines[start - 2 :])


def section_load() -> None:
    from unleash_lite.engine import FlagState, compile_snapshot

    payload = generate_payload(N_FLAGS)
    client({"version": 2, "features": []})
    print(f"## load: {N_FLAGS:,} flags from a dict (CPU seconds, median of 3)\n")
    rows = [
        ("FlagState().apply (index the raw payload)", lambda: FlagState().apply(payload)),
        ("compile_snapshot (engine)", lambda: compile_snapshot(payload)),
        ("UnleashClient(bootstrap=...) (engine + client)", lambda: client(payload)),
    ]
    for label, action in rows:
        with_gc, without_gc = timed(action), timed(action, collect=False)
        print(f"{label:50s} GC on {with_gc:.3f} s   GC off {without_gc:.3f} s")
    collections: Counter[int] = Counter()
    spent = [0.0]
    started = [0.0]

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            collections[info["generation"]] += 1
            spent[0] += time.perf_counter() - started[0]

    gc.collect()
    gc.callbacks.append(watch)
    start = time.perf_counter()
    client(payload)
    total = time.perf_counter() - start
    gc.callbacks.remove(watch)
    print(
        f"\none client load: {total:.3f} s wall, of which {spent[0]:.3f} s in "
        f"{sum(collections.values())} cyclic-GC collections (by generation: "
        f"{dict(sorted(collections.items()))}); gc thresholds {gc.get_threshold()}\n"
    )
    profile = cProfile.Profile()
    gc.disable()
    profile.runcall(client, payload)
    gc.enable()
    print("cProfile of the client load with GC disabled (tottime):\n")
    print(top(profile))


def section_memory() -> None:
    payload = generate_payload(N_FLAGS)
    client({"version": 2, "features": []})
    gc.collect()
    before = Counter(type(obj).__name__ for obj in gc.get_objects())
    tracemalloc.start(1)
    loaded = client(payload)
    current, peak = tracemalloc.get_traced_memory()
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    gc.collect()
    after = Counter(type(obj).__name__ for obj in gc.get_objects())
    print(f"## memory: {N_FLAGS:,} flags from a dict\n")
    print(f"Python heap: {current / 2**20:.1f} MB retained, {peak / 2**20:.1f} MB peak\n")
    print("largest allocation sites (retained):\n")
    for stat in snapshot.statistics("lineno")[:12]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"  {stat.size / 2**20:6.2f} MB {stat.count:8,d} blocks  {where}")
    print("\nGC-tracked objects the load added, by type:\n")
    for name, count in (after - before).most_common(12):
        print(f"  {count:8,d}  {name}")
    del loaded


def section_hot() -> None:
    payload = workload_payload()
    context = workload_contexts()[0]
    calls = [(SIMPLE, context)] * 1000
    unknown_calls = [(UNKNOWN, context)] * 1000
    target = int(200e6)
    print("## hot path: CPU ns per call (best of 5, empty-loop baseline subtracted)\n")
    for metrics in (False, True):
        subject = client(payload, metrics)
        lookup = subject._entries.get

        def get_entry(name: str, _context: object, lookup: Callable[[str], Any] = lookup) -> Any:
            return lookup(name)

        for label, call, listed in (
            ("is_enabled(simple flag)", subject.is_enabled, calls),
            ("is_enabled(unknown flag)", subject.is_enabled, unknown_calls),
            ("  a call doing _entries.get(name)", get_entry, calls),
        ):
            ns = per_call_ns(call, listed, target, 5)["ns"]
            print(f"metrics {'on ' if metrics else 'off'}  {label:32s} {ns:7.1f} ns")
    counter = iter(range(10**12))

    def count(_name: str, _context: object) -> object:
        return next(counter)

    ns = per_call_ns(count, calls, target, 5)["ns"]
    print(f"{'':12s} {'a Python call doing one next()':32s} {ns:7.1f} ns")


def section_hooks() -> None:
    """What evaluation hooks cost: nothing without them (the client's methods are the
    class's own), the series and result objects and one call per hook and evaluation, and
    a second, slower walk over the flag for a hook that reads the reason."""
    import unleash_lite
    from unleash_lite import Hook, InstanceAllowType

    class Empty(Hook):
        def after_evaluation(self, series: Any, data: Any, result: Any) -> None:
            pass

    class ReadsReason(Hook):
        def after_evaluation(self, series: Any, data: Any, result: Any) -> None:
            result.detail.reason  # noqa: B018 (reading it is the cost measured)

    payload = workload_payload()
    context = workload_contexts()[0]
    target = int(200e6)
    print("## hooks: CPU ns per is_enabled call, metrics on (best of 5, baseline subtracted)\n")
    for flag in (SIMPLE, ROLLOUT):
        calls = [(flag, context)] * 1000
        for label, hooks in (
            ("no hooks keyword", None),
            ("hooks=[]", []),
            ("Hook() (nothing overridden)", [Hook()]),
            ("a hook with an empty after", [Empty()]),
            ("one hook reading result.detail", [ReadsReason()]),
        ):
            subject = unleash_lite.UnleashClient(
                url="",
                app_name="bench",
                bootstrap=payload,
                multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
                hooks=hooks,
            )
            ns = per_call_ns(subject.is_enabled, calls, target, 5)["ns"]
            print(f"{flag:14s} {label:32s} {ns:8.1f} ns")


def section_eval() -> None:
    subject = client(workload_payload(), metrics=True)
    for workload in WORKLOADS:
        if workload.name not in ("rollout", "constraints", "variant", "dependent"):
            continue
        call = getattr(subject, workload.method)
        calls = workload_calls(workload) * 100
        profile = cProfile.Profile()
        profile.enable()
        for name, context in calls:
            call(name, context)
        profile.disable()
        print(f"## eval: {workload.name} ({workload.description}), {len(calls):,} calls\n")
        print(top(profile, 10))


def section_ideas() -> None:
    from unleash_lite.engine import compile_snapshot
    from unleash_lite.engine.state import _private_copy

    target = int(200e6)
    print("## ideas: CPU ns per call (best of 5, empty-loop baseline subtracted)\n")
    context = {"userId": "1", "properties": {"country": "NO", "age": "30"}}
    calls = [("country", context)] * 1000

    def read_abc(field: str, context: Mapping[str, Any]) -> Any:  # today's field getter
        value = context.get(field)
        if value is None:
            properties = context.get("properties")
            if isinstance(properties, Mapping):
                value = properties.get(field)
        return value

    def read_dict_first(field: str, context: Mapping[str, Any]) -> Any:
        value = context.get(field)
        if value is None:
            properties = context.get("properties")
            if type(properties) is dict or isinstance(properties, Mapping):
                value = properties.get(field)
        return value

    for label, read in (
        ("property read, isinstance(Mapping)", read_abc),
        ("property read, type(...) is dict first", read_dict_first),
    ):
        print(f"{label:45s} {per_call_ns(read, calls, target, 5)['ns']:6.1f} ns")

    class Entry:
        __slots__ = ("hits", "no", "yes")
        hits: int
        no: itertools.count[int]
        yes: itertools.count[int]

    entry = Entry()
    entry.yes, entry.no, entry.hits = itertools.count(), itertools.count(), 0

    def nothing(_name: str, _enabled: bool) -> None:
        pass

    def count_next(_name: str, enabled: bool) -> None:
        next(entry.yes if enabled else entry.no)

    def count_add(_name: str, _enabled: bool) -> None:
        entry.hits += 1  # not atomic across threads

    flags = [("flag", True)] * 1000
    for label, counting in (
        ("a call doing nothing", nothing),
        ("a call doing next(itertools.count)", count_next),
        ("a call doing entry.hits += 1", count_add),
    ):
        print(f"{label:45s} {per_call_ns(counting, flags, target, 5)['ns']:6.1f} ns")

    payload = generate_payload(N_FLAGS)
    print(f"\n## ideas: compiling {N_FLAGS:,} flags (CPU seconds, median of 3)\n")
    features = payload["features"]
    seconds = timed(lambda: [_private_copy(feature) for feature in features])
    print(f"{'_private_copy of every feature':45s} {seconds:.3f} s")
    threshold = gc.get_threshold()
    for label, setting in (("default", threshold), ("gen0 threshold 100,000", (100_000, 50, 100))):
        gc.set_threshold(*setting)
        seconds = timed(lambda: compile_snapshot(payload))
        gc.set_threshold(*threshold)
        print(f"{'compile_snapshot, GC thresholds ' + label:45s} {seconds:.3f} s")
    seconds = timed(lambda: compile_snapshot(payload), collect=False)
    print(f"{'compile_snapshot, GC disabled':45s} {seconds:.3f} s")

    print("\n## ideas: import time (python -X importtime, cumulative ms, best of 3)\n")
    wanted = ("unleash_lite", "unleash_lite.engine", "unleash_lite.sync.synchronizer", "requests")
    best: dict[str, float] = {}
    for _ in range(3):
        output = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import unleash_lite"],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        for line in output.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].strip() in wanted:
                module, milliseconds = parts[2].strip(), int(parts[1]) / 1000
                best[module] = min(best.get(module, milliseconds), milliseconds)
    for module in wanted:
        print(f"{module:45s} {best.get(module, float('nan')):6.1f} ms")


def section_async(rounds: int = 7) -> None:
    """Per-call CPU ns of both clients built in this process from the same bootstrap, each
    workload timed alternately sync, async, ``rounds`` times; the median of each."""
    print("## async: AsyncUnleashClient vs UnleashClient in one process (CPU ns per call)\n")
    print(f"{'workload':12s} {'metrics':7s} {'sync':>7s} {'async':>7s} {'async vs sync':>14s}")
    for metrics in (False, True):
        clients = [client(workload_payload(), metrics, kind) for kind in KINDS]
        for workload in WORKLOADS:
            calls = workload_calls(workload)
            samples: list[list[float]] = [[], []]
            for _ in range(rounds):
                for index, subject in enumerate(clients):
                    call = getattr(subject, workload.method)
                    samples[index].append(per_call_ns(call, calls, int(100e6), 3)["ns"])
            sync, asynchronous = (statistics.median(listed) for listed in samples)
            mode = "on" if metrics else "off"
            print(
                f"{workload.name:12s} {mode:7s} {sync:7.0f} {asynchronous:7.0f} "
                f"{(asynchronous / sync - 1) * 100:+13.1f}%"
            )


KINDS = ("UnleashClient", "AsyncUnleashClient")


def main() -> None:
    try:
        import unleash_lite  # noqa: F401
    except ImportError:
        python = envs.ensure(envs.TARGETS[0])
        os.execv(str(python), [str(python), *sys.argv])
    wanted = [name for name in sys.argv[1:] if name in SECTIONS] or list(SECTIONS)
    for name in wanted:
        sections = {
            "load": section_load,
            "memory": section_memory,
            "hot": section_hot,
            "hooks": section_hooks,
            "eval": section_eval,
            "ideas": section_ideas,
            "async": section_async,
        }
        sections[name]()
        print()


if __name__ == "__main__":
    main()
