"""The measurements a worker makes, one task per process.

Per-call costs are CPU time (``time.process_time_ns``) of a tight loop over a pre-built list of
``(flag, context)`` calls, repeated until the loop runs for the target time, minus the same
loop with an empty body (the baseline, reported). The best of a few repeats is kept; the
orchestrator then takes the median over processes.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from .adapters import SDKS, AsyncSdk, Sdk
from .payloads import flag_name, generate_payload, sample_contexts
from .workloads import WORKLOADS, workload_calls, workload_payload

Call = Callable[[str, Any], Any]
Calls = list[tuple[str, Any]]


VARIANT_FIELDS = ("name", "payload", "enabled", "feature_enabled")


def canonical(answer: Any) -> Any:
    """An answer in a form that compares equal across SDKs: variant dicts reduced to the
    documented fields (5.11 also returns the variant's ``weightType``), without ``None``s."""
    if isinstance(answer, dict):
        return {key: answer[key] for key in VARIANT_FIELDS if answer.get(key) is not None}
    return answer


# -- timing primitives -------------------------------------------------------------------


def loop_ns(call: Call, calls: Calls, outer: int) -> int:
    """CPU time of ``outer`` passes over ``calls``."""
    clock = time.process_time_ns
    start = clock()
    for _ in range(outer):
        for name, context in calls:
            call(name, context)
    return clock() - start


def empty_loop_ns(calls: Calls, outer: int) -> int:
    """CPU time of the same loop with nothing in its body (the baseline)."""
    clock = time.process_time_ns
    start = clock()
    for _ in range(outer):
        for _name, _context in calls:
            pass
    return clock() - start


def passes_for(call: Call, calls: Calls, target_ns: int) -> int:
    """How many passes over ``calls`` take about ``target_ns`` of CPU time."""
    outer = 1
    while True:
        elapsed = max(loop_ns(call, calls, outer), 1)
        if elapsed * 8 >= target_ns or outer >= 1 << 24:
            return max(1, math.ceil(outer * target_ns / elapsed))
        outer *= 8


def per_call_ns(call: Call, calls: Calls, target_ns: int, repeats: int) -> dict[str, Any]:
    """Net CPU ns per call: best of ``repeats`` loops minus the best empty loop."""
    outer = passes_for(call, calls, target_ns)
    n_calls = outer * len(calls)
    samples, baselines = [], []
    for _ in range(repeats):
        gc.collect()
        samples.append(loop_ns(call, calls, outer) / n_calls)
        baselines.append(empty_loop_ns(calls, outer) / n_calls)
    gross, baseline = min(samples), min(baselines)
    return {
        "ns": max(gross - baseline, 0.0),
        "gross_ns": gross,
        "baseline_ns": baseline,
        "calls": n_calls,
        "samples_ns": samples,
    }


def method(client: Any, name: str) -> Call:
    """``client.is_enabled`` or ``client.get_variant``, bound."""
    bound: Call = getattr(client, name)
    return bound


# -- per-call workloads ---------------------------------------------------------------------


def task_eval(sdk: Sdk, request: dict[str, Any]) -> dict[str, Any]:
    """The per-call workloads (and the specification corpus) with metrics on or off."""
    metrics: bool = request["metrics"]
    target_ns = int(request["target_ms"] * 1e6)
    repeats: int = request["repeats"]
    verify: bool = request["verify"]
    client = sdk.client(workload_payload(), metrics)
    results: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    for workload in WORKLOADS:
        if workload.name not in request["workloads"]:
            continue
        call = method(client, workload.method)
        calls = workload_calls(workload)
        warm = [canonical(call(name, context)) for name, context in calls]
        if verify:
            answers[workload.name] = warm
        results[workload.name] = per_call_ns(call, calls, target_ns, repeats)
    counted = sdk.counted(client)
    output: dict[str, Any] = {"workloads": results, "answers": answers, "counted": counted}
    if request.get("spec_dir"):
        output["spec"] = spec_corpus(sdk, request, metrics)
    return output


def spec_corpus(sdk: Sdk, request: dict[str, Any], metrics: bool) -> dict[str, Any]:
    """Every isEnabled/getVariant case of the client specification, timed one by one."""
    directory = Path(request["spec_dir"])
    target_ns = int(request["case_target_ms"] * 1e6)
    names = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    cases: list[dict[str, Any]] = []
    build_errors: dict[str, str] = {}
    for file_name in names:
        spec = json.loads((directory / file_name).read_text(encoding="utf-8"))
        try:
            client = sdk.client(spec["state"], metrics)
        except Exception as error:  # e.g. 5.x cannot read delta-format states
            build_errors[file_name] = f"{type(error).__name__}: {error}"
            client = None
        for kind, method_name in (("tests", "is_enabled"), ("variantTests", "get_variant")):
            for case in spec.get(kind, []):
                case_id = f"{file_name}:{case['description']}"
                entry: dict[str, Any] = {"id": case_id, "expected": case["expectedResult"]}
                if client is not None:
                    call = method(client, method_name)
                    # Contexts are copied per case: 5.11's get_variant writes into them.
                    calls: Calls = [(case["toggleName"], dict(case["context"]))] * 16
                    entry["answer"] = canonical(call(*calls[0]))
                    entry["ns"] = per_call_ns(call, calls, target_ns, request["repeats"])["ns"]
                cases.append(entry)
    return {"cases": cases, "build_errors": build_errors}


# -- threads ----------------------------------------------------------------------------------


def task_threads(sdk: Sdk, request: dict[str, Any]) -> dict[str, Any]:
    """Aggregate throughput of N threads calling ``is_enabled`` at once (wall clock)."""
    workload = next(w for w in WORKLOADS if w.name == request["workload"])
    client = sdk.client(workload_payload(), request["metrics"])
    call = method(client, workload.method)
    calls = workload_calls(workload)
    single = per_call_ns(call, calls, int(50e6), 1)["gross_ns"]
    target_ns = request["target_ms"] * 1e6
    results: dict[str, Any] = {}
    for n_threads in request["threads"]:
        outer = max(1, round(target_ns / (single * len(calls) * n_threads)))
        best: dict[str, Any] | None = None
        for _ in range(request["repeats"]):
            run = _threaded(call, calls, n_threads, outer)
            if best is None or run["wall_ns_per_call"] < best["wall_ns_per_call"]:
                best = run
        results[str(n_threads)] = best
    return {"threads": results}


def _threaded(call: Call, calls: Calls, n_threads: int, outer: int) -> dict[str, Any]:
    barrier = threading.Barrier(n_threads + 1)

    def work() -> None:
        barrier.wait()
        for _ in range(outer):
            for name, context in calls:
                call(name, context)

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for thread in threads:
        thread.start()
    gc.collect()
    barrier.wait()
    wall, cpu = time.perf_counter_ns(), time.process_time_ns()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter_ns() - wall, time.process_time_ns() - cpu
    total = n_threads * outer * len(calls)
    return {
        "calls": total,
        "wall_ns_per_call": wall / total,
        "cpu_ns_per_call": cpu / total,
        "calls_per_second": total / (wall / 1e9),
    }


# -- scale: load, memory, refresh, disk cache ----------------------------------------------------


def rss_bytes() -> int:
    """Resident set size right now."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux ``clear_refs``); False if impossible.

    ``ru_maxrss`` cannot be used as it is: Linux carries it across ``exec``, so a worker
    starts with the high-water mark of the (large) orchestrator that spawned it.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """The RSS high-water mark since the last reset (``VmHWM``), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def scale_answers(client: Any, n_flags: int) -> list[Any]:
    """Answers for a fixed sample of flags and contexts, to check all SDKs agree."""
    contexts = sample_contexts(5, seed=3)
    step = max(1, n_flags // 200)
    answers = []
    for index in range(0, n_flags, step):
        name = flag_name(index)
        for context in contexts:
            answers.append(canonical(client.is_enabled(name, dict(context))))
        answers.append(canonical(client.get_variant(name, dict(contexts[0]))))
    return answers


def task_load(sdk: Sdk, request: dict[str, Any]) -> dict[str, Any]:
    """Time and memory from a payload in memory to a ready client, in a fresh process.

    ``mode`` "dict": the parsed payload is in memory (generated here, so no earlier parse has
    raised the RSS high-water mark); the retained figure is what the client adds to it.
    ``mode`` "text": the payload is JSON text, as a server or a file gives it; the text is
    dropped after the load, so the retained figure is everything the client keeps (for
    unleash_lite that includes the parsed payload its snapshot references).
    Peak figures are the RSS high-water mark during the load (``VmHWM``, reset just before it)
    above the RSS just before it; ``tracemalloc`` (optional, slows the load) sees Python
    allocations only, not the Rust engine's.
    """
    n_flags: int = request["n_flags"]
    traced = request.get("tracemalloc", False)
    payload: dict[str, Any] | None = None
    text = ""
    gc.collect()
    rss_start = rss_bytes()
    if request["mode"] == "dict":
        payload = generate_payload(n_flags, seed=request["seed"])
    else:
        text = Path(request["path"]).read_text(encoding="utf-8")
    gc.collect()
    if traced:
        tracemalloc.start()
    peak_was_reset = reset_peak_rss()
    rss_before, peak_before = rss_bytes(), peak_rss_bytes()
    start, cpu = time.perf_counter_ns(), time.process_time_ns()
    client = (
        sdk.client(payload, metrics=False) if payload is not None else sdk.client_from_text(text)
    )
    cpu, elapsed = time.process_time_ns() - cpu, time.perf_counter_ns() - start
    peak_after = peak_rss_bytes()
    traced_peak = tracemalloc.get_traced_memory()[1] if traced else None
    text = ""
    gc.collect()
    rss_after = rss_bytes()
    traced_current = tracemalloc.get_traced_memory()[0] if traced else None
    if traced:
        tracemalloc.stop()
    result: dict[str, Any] = {
        "seconds": elapsed / 1e9,
        "cpu_seconds": cpu / 1e9,
        "rss_start": rss_start,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "peak_rss_delta": max(peak_after - rss_before, 0),
        "peak_rss_reliable": peak_was_reset or peak_after > peak_before,
        "retained_rss": rss_after - (rss_before if payload is not None else rss_start),
        "traced_peak": traced_peak,
        "traced_retained": traced_current,
        "known_flags": sdk.known_flags(client),
    }
    if not traced:
        # unleash_lite compiles a flag on its first evaluation: show that cost too, and the
        # memory once every flag has been evaluated (a process that uses all of them).
        context = dict(sample_contexts(1, seed=5)[0])
        names = [flag_name(index) for index in range(n_flags)]
        cpu = time.process_time_ns()
        for name in names:
            client.is_enabled(name, dict(context))
        result["first_eval_all_cpu_seconds"] = (time.process_time_ns() - cpu) / 1e9
        gc.collect()
        result["retained_rss_all_evaluated"] = rss_bytes() - (
            rss_before if payload is not None else rss_start
        )
    if request.get("verify"):
        result["answers"] = scale_answers(client, n_flags)
    sdk.stop(client)
    return result


def task_refresh(sdk: Sdk, request: dict[str, Any]) -> dict[str, Any]:
    """Apply a refresh of the same size while other threads evaluate.

    Each evaluating thread keeps, per phase (before, during, after the swap), its worst call
    latency and a histogram of latencies in powers of two; a call overlapping the swap counts
    as during.
    """
    n_flags: int = request["n_flags"]
    payload = generate_payload(n_flags, seed=request["seed"])
    new_text = Path(request["new_path"]).read_text(encoding="utf-8")
    parse_start = time.perf_counter_ns()
    json.loads(new_text)  # for reference: the part of a refresh that is json.loads
    parse_ns = time.perf_counter_ns() - parse_start
    client = sdk.client(payload, metrics=True)
    names = [flag_name(index) for index in range(0, n_flags, max(1, n_flags // 100))]
    calls = [(name, context) for name in names for context in sample_contexts(10, seed=5)]
    phase = [0]
    stop = threading.Event()
    worst = [0, 0, 0]
    histograms = [[0] * 64 for _ in range(3)]
    lock = threading.Lock()

    def evaluate() -> None:
        maxima = [0, 0, 0]
        local = [[0] * 64 for _ in range(3)]
        clock, is_enabled = time.perf_counter_ns, client.is_enabled
        while not stop.is_set():
            for name, context in calls:
                before = phase[0]
                start = clock()
                is_enabled(name, context)
                took = clock() - start
                after = phase[0]
                current = 1 if before != after else before
                local[current][took.bit_length()] += 1
                if took > maxima[current]:
                    maxima[current] = took
        with lock:
            for index in range(3):
                worst[index] = max(worst[index], maxima[index])
                histograms[index] = [
                    a + b for a, b in zip(histograms[index], local[index], strict=True)
                ]

    threads = [threading.Thread(target=evaluate) for _ in range(request["threads"])]
    for thread in threads:
        thread.start()
    time.sleep(request["settle_s"])
    phase[0] = 1
    start = time.perf_counter_ns()
    sdk.refresh(client, new_text)
    elapsed = time.perf_counter_ns() - start
    phase[0] = 2
    time.sleep(request["settle_s"])
    stop.set()
    for thread in threads:
        thread.join()
    result: dict[str, Any] = {
        "seconds": elapsed / 1e9,
        "json_loads_seconds": parse_ns / 1e9,
        "worst_before_ns": worst[0],
        "worst_during_ns": worst[1],
        "worst_after_ns": worst[2],
        "p99_before_ns": percentile(histograms[0], 0.99),
        "p99_during_ns": percentile(histograms[1], 0.99),
        "p50_during_ns": percentile(histograms[1], 0.50),
        "calls_during": sum(histograms[1]),
    }
    if request.get("verify"):
        result["answers"] = scale_answers(client, n_flags)
    return result


def percentile(histogram: list[int], share: float) -> int:
    """The upper bound (a power of two, in ns) of the bucket holding that share of calls."""
    total = sum(histogram)
    if not total:
        return 0
    seen = 0
    for bits, count in enumerate(histogram):
        seen += count
        if seen >= share * total:
            return 1 << bits
    return 1 << (len(histogram) - 1)


def task_write_cache(sdk: Sdk, request: dict[str, Any]) -> dict[str, Any]:
    """Leave a disk cache as this SDK writes it after a fetch (preparation, not timed)."""
    sdk.write_disk_cache(request["directory"], Path(request["path"]).read_text("utf-8"))
    return {}


def task_from_cache(sdk: Sdk, request: dict[str, Any]) -> dict[str, Any]:
    """Time from nothing to a client answering from the disk cache (server unreachable)."""
    return _started(sdk, request, lambda: sdk.client_from_disk_cache(request["directory"]))


def task_ready_unreachable(sdk: Sdk, request: dict[str, Any]) -> dict[str, Any]:
    """Time from a bootstrap payload in memory to a client answering from it, started as an
    application starts it while the server refuses connections."""
    payload = generate_payload(request["n_flags"], seed=request["seed"])
    context = dict(sample_contexts(1, seed=5)[0])
    directory = sdk.scratch_dir()

    def start() -> Any:
        client = sdk.ready_with_unreachable_server(payload, directory)
        client.is_enabled(flag_name(0), context)
        return client

    return _started(sdk, request, start)


def _started(sdk: Sdk, request: dict[str, Any], start: Callable[[], Any]) -> dict[str, Any]:
    """Wall and CPU time of ``start()``, which returns a ready client; then its answers."""
    begun, cpu = time.perf_counter_ns(), time.process_time_ns()
    client = start()
    cpu, elapsed = time.process_time_ns() - cpu, time.perf_counter_ns() - begun
    result: dict[str, Any] = {
        "seconds": elapsed / 1e9,
        "cpu_seconds": cpu / 1e9,
        "known_flags": sdk.known_flags(client),
    }
    if request.get("verify"):
        result["answers"] = scale_answers(client, request["n_flags"])
    sdk.stop(client)
    return result


# -- the async clients against a server -----------------------------------------------------


def _async_sdk(sdk: Sdk) -> AsyncSdk:
    if not isinstance(sdk, AsyncSdk):
        raise TypeError(f"{sdk.key} is not an async client")
    return sdk


def task_async_init(sdk: Sdk, request: dict[str, Any]) -> dict[str, Any]:
    """Wall time of ``await initialize_client()`` (default keywords, empty disk cache) against
    ``url``, whose port refuses connections, then of ``await destroy()``."""
    adapter = _async_sdk(sdk)

    async def main() -> dict[str, Any]:
        client = adapter.server_client(request["url"], refresh_interval=15)
        clock = time.perf_counter_ns
        start, cpu = clock(), time.process_time_ns()
        await client.initialize_client()
        init_ns, init_cpu = clock() - start, time.process_time_ns() - cpu
        known = sdk.known_flags(client)
        start = clock()
        await adapter.destroy(client)
        return {
            "init_seconds": init_ns / 1e9,
            "init_cpu_seconds": init_cpu / 1e9,
            "destroy_seconds": (clock() - start) / 1e9,
            "known_flags": known,
        }

    return asyncio.run(main())


async def _ticker(seconds: float) -> list[int]:
    """Gaps (ns) between the wake-ups of a task sleeping 1 ms at a time, for ``seconds``."""
    clock = time.perf_counter_ns
    gaps: list[int] = []
    last = clock()
    stop_at = last + int(seconds * 1e9)
    while last < stop_at:
        await asyncio.sleep(0.001)
        now = clock()
        gaps.append(now - last)
        last = now
    return gaps


def _gap_summary(gaps: list[int], prefix: str) -> dict[str, Any]:
    ordered = sorted(gaps)
    return {
        f"{prefix}_max_gap_ns": ordered[-1] if ordered else 0,
        f"{prefix}_p99_gap_ns": ordered[int(0.99 * (len(ordered) - 1))] if ordered else 0,
        f"{prefix}_gaps_over_10ms": sum(gap > 10_000_000 for gap in ordered),
        f"{prefix}_ticks": len(ordered),
    }


def task_async_refresh(sdk: Sdk, request: dict[str, Any]) -> dict[str, Any]:
    """Event-loop stalls while the client polls a loopback server (its own process) that
    answers every poll with a full payload of ``n_flags`` flags, alternating two revisions:
    the largest gap between the wake-ups of a 1 ms ticker, idle (no client) and during a
    window of ``window_s`` seconds with ``refresh_interval`` 1 s (every poll a full refresh)."""
    adapter = _async_sdk(sdk)
    script = Path(__file__).with_name("payload_server.py")
    server = subprocess.Popen(
        [sys.executable, str(script), *request["paths"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base = f"http://127.0.0.1:{int(server.stdout.readline())}"

        def served() -> int:
            with urlopen(f"{base}/served", timeout=10) as response:
                return int(response.read())

        async def main() -> dict[str, Any]:
            loop = asyncio.get_running_loop()
            result = _gap_summary(await _ticker(request["idle_s"]), "idle")
            client = adapter.server_client(f"{base}/api", refresh_interval=1)
            start = time.perf_counter_ns()
            await client.initialize_client()
            result["init_seconds"] = (time.perf_counter_ns() - start) / 1e9
            before = await loop.run_in_executor(None, served)
            result.update(_gap_summary(await _ticker(request["window_s"]), "window"))
            result["refreshes"] = await loop.run_in_executor(None, served) - before
            await asyncio.sleep(0.5)  # let the executor finish a refresh in progress
            result["known_flags"] = sdk.known_flags(client)
            await adapter.destroy(client)
            return result

        return asyncio.run(main())
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)


def task_versions(sdk: Sdk, request: dict[str, Any]) -> dict[str, Any]:
    """Nothing but the versions (added by ``run_task``)."""
    return {}


TASKS: dict[str, Callable[[Sdk, dict[str, Any]], dict[str, Any]]] = {
    "versions": task_versions,
    "eval": task_eval,
    "threads": task_threads,
    "load": task_load,
    "refresh": task_refresh,
    "write_cache": task_write_cache,
    "from_cache": task_from_cache,
    "ready_unreachable": task_ready_unreachable,
    "async_init": task_async_init,
    "async_refresh": task_async_refresh,
}


def run_task(request: dict[str, Any]) -> dict[str, Any]:
    """Run one task for one SDK and return its JSON-able result."""
    sdk = SDKS[request["sdk"]]()
    sdk.prepare(warm=request["task"] != "from_cache")
    try:
        result = TASKS[request["task"]](sdk, request)
        result["versions"] = sdk.versions()
        return result
    finally:
        sdk.close()
