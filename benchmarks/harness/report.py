"""The report: machine info, the tables, the targets with pass/miss marks (never asserted)."""

from __future__ import annotations

import functools
import math
import operator
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .envs import REPO
from .orchestrate import ASYNC_REFRESH_FLAGS

SDK_HEADERS = ("unleash_lite", "6.9", "5.11")
MB = 1024 * 1024


@dataclass(frozen=True)
class Target:
    """A performance target: a description, the measured value, and whether it is met."""

    name: str
    measured: str
    met: bool | None  # None: could not be measured in this run

    @property
    def mark(self) -> str:
        return {True: "PASS", False: "MISS", None: "n/a"}[self.met]


def machine_info(versions: dict[str, dict[str, str]]) -> dict[str, Any]:
    """CPU, cores, memory, OS, Python, the checkout and the SDK versions."""
    model = "unknown"
    try:
        for line in (
            Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines()
        ):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "checkout": _git("rev-parse", "--short", "HEAD")
        + (" (modified)" if _git("status", "--porcelain", "unleash_lite") else ""),
        "versions": versions,
    }


def _git(*arguments: str) -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO), *arguments], capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return result.stdout.strip()


# -- formatting ------------------------------------------------------------------------------


def _number(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _ratio(other: float | None, ours: float | None) -> str:
    """How many times ours is faster (or smaller): other / ours."""
    if not other or not ours or math.isnan(other) or math.isnan(ours):
        return "-"
    ratio = other / ours
    return f"{ratio:,.1f}x" if ratio < 100 else f"{ratio:,.0f}x"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _sdk_row(
    label: str, values: dict[str, float | None], digits: int = 0, more_is_better: bool = False
) -> list[str]:
    ours, six, five = (values.get(key) for key in ("unleash_lite", "official6", "official5"))
    return [
        label,
        _number(ours, digits),
        _number(six, digits),
        _number(five, digits),
        _ratio(ours, six) if more_is_better else _ratio(six, ours),
        _ratio(ours, five) if more_is_better else _ratio(five, ours),
    ]


# -- sections ---------------------------------------------------------------------------------


def per_call_rows(results: dict[str, Any]) -> list[str]:
    per_call = results.get("per_call", {})
    spec = results.get("spec", {})
    if not per_call and not spec:
        return []
    header = [
        "workload",
        "metrics",
        *(f"{sdk} ns/call" for sdk in SDK_HEADERS),
        "vs 6.9",
        "vs 5.11",
    ]
    rows = []
    names = [name for name in results["workloads"] if name in per_call.get("off", {})]
    for name in names:
        for mode in ("off", "on"):
            entry = per_call[mode][name]
            values = {key: sdk["ns"] for key, sdk in entry["sdks"].items()}
            label = name if entry["agree"] else f"{name} (ANSWERS DIFFER)"
            rows.append([*_sdk_row(label, values)[:1], mode, *_sdk_row(label, values)[1:]])
    for mode in ("off", "on"):
        if mode in spec:
            summary = spec[mode]
            label = f"spec corpus, gmean of {summary['common_cases']} cases"
            rows.append([label, mode, *_sdk_row(label, summary["gmean_common_ns"])[1:]])
    lines = ["### Per call (CPU ns per call, empty-loop baseline subtracted; median of rounds)", ""]
    lines += _table(header, rows)
    if per_call:
        baseline = (
            per_call["off"][names[0]]["sdks"]["unleash_lite"]["baseline_ns"] if names else None
        )
        lines += ["", f"Empty-loop baseline subtracted: {_number(baseline, 1)} ns per call."]
        counted = per_call["on"].get("_counted", {})
        counted_off = per_call["off"].get("_counted", {})
        lines.append(
            "Evaluations counted by each SDK's metrics after the workloads, metrics on / off: "
            + ", ".join(
                f"{sdk} {counted.get(key)} / {counted_off.get(key)}"
                for sdk, key in zip(
                    SDK_HEADERS, ("unleash_lite", "official6", "official5"), strict=True
                )
            )
            + " (both official SDKs count whatever disable_metrics says)."
        )
    for mode in ("on",):
        if mode in spec:
            summary = spec[mode]
            lines.append(
                f"Specification: {summary['cases']} cases; passing: "
                + ", ".join(
                    f"{sdk} {summary['passing'][key]}"
                    for sdk, key in zip(
                        SDK_HEADERS, ("unleash_lite", "official6", "official5"), strict=True
                    )
                )
                + f"; the ratios use the {summary['common_cases']} cases all three pass. "
                + "unleash_lite over all its passing cases: "
                + f"{_number(summary['gmean_passing_ns']['unleash_lite'])} ns gmean."
            )
    return lines


def thread_rows(results: dict[str, Any]) -> list[str]:
    threads = results.get("threads")
    if not threads:
        return []
    header = [
        "threads",
        *(f"{sdk} ns/call" for sdk in SDK_HEADERS),
        "vs 6.9",
        "vs 5.11",
        "unleash_lite calls/s",
    ]
    rows = []
    for count, entry in threads.items():
        values = {key: sdk["wall_ns_per_call"] for key, sdk in entry.items()}
        rows.append([*_sdk_row(count, values), _number(entry["unleash_lite"]["calls_per_second"])])
    return [
        "### Threads calling is_enabled at once (rollout flag, metrics on)",
        "",
        "Aggregate wall-clock ns per call (all threads' calls / elapsed time).",
        "",
        *_table(header, rows),
    ]


def scale_rows(results: dict[str, Any]) -> list[str]:
    scale = results.get("scale")
    imports = results.get("import")
    if not scale and not imports:
        return []
    header = ["measure", *SDK_HEADERS, "vs 6.9", "vs 5.11"]
    rows: list[list[str]] = []
    for size, entry in (scale or {}).items():
        n = int(size)
        rows.append(
            [f"**{n:,} flags** ({entry['payload_bytes'] / MB:.1f} MB JSON)", "", "", "", "", ""]
        )

        def add(
            label: str,
            section: str,
            metric: str,
            scale_by: float = 1.0,
            digits: int = 0,
            entry: dict[str, Any] = entry,
        ) -> None:
            if section in entry:
                values = {key: entry[section][key].get(metric) for key in entry[section]}
                if metric == "p99_during_ns":  # too few calls overlap a short swap for a p99
                    for key in values:
                        if entry[section][key].get("calls_during", 0) < 200:
                            values[key] = None
                if metric == "peak_rss_delta" and not all(
                    sdk.get("peak_rss_reliable", True) for sdk in entry[section].values()
                ):
                    label += " (high-water mark not reset: lower bound)"
                shown = {k: (v * scale_by if v is not None else None) for k, v in values.items()}
                rows.append(_sdk_row(label, shown, digits, metric == "calls_during"))

        add("load from dict, CPU s", "load_dict", "cpu_seconds", digits=3)
        add("load from JSON text, CPU s", "load_text", "cpu_seconds", digits=3)
        add("peak RSS during load from dict, MB", "load_dict", "peak_rss_delta", 1 / MB, 1)
        add("peak RSS during load from text, MB", "load_text", "peak_rss_delta", 1 / MB, 1)
        add("retained RSS (client + parsed input), MB", "load_text", "retained_rss", 1 / MB, 1)
        add("retained RSS per flag, KB", "load_text", "retained_rss", 1 / 1024 / n, 2)
        add(
            "then first is_enabled of every flag, CPU s",
            "load_text",
            "first_eval_all_cpu_seconds",
            digits=3,
        )
        add(
            "retained RSS with every flag evaluated, MB",
            "load_text",
            "retained_rss_all_evaluated",
            1 / MB,
            1,
        )
        add("tracemalloc peak (Python heap only), MB", "tracemalloc", "traced_peak", 1 / MB, 1)
        for section, share in (("refresh_all", "every flag"), ("refresh_1pct", "1% of flags")):
            add(f"refresh, {share} changed, 4 threads evaluating, s", section, "seconds", digits=3)
            add("  worst eval latency during it, ms", section, "worst_during_ns", 1e-6, 1)
            add("  evaluations completed during it (4 threads)", section, "calls_during")
            add("  p99 eval latency during it, us", section, "p99_during_ns", 1e-3, 1)
        add(
            "worst eval latency without refresh, ms",
            "refresh_all",
            "worst_before_ns",
            1e-6,
            1,
        )
        add("p99 eval latency without refresh, us", "refresh_all", "p99_before_ns", 1e-3, 1)
        add("ready from disk cache, CPU s", "from_cache", "cpu_seconds", digits=3)
        add(
            "ready from a bootstrap, server refusing connections, wall s",
            "ready_unreachable",
            "seconds",
            digits=3,
        )
    if imports:
        rows.append(_sdk_row("import time, ms", imports["ms"], 1))
    return [
        "### Scale (separate fresh process per measurement; median of rounds)",
        "",
        *_table(header, rows),
        "",
        "Ratios: how many times smaller/faster unleash_lite is (for evaluations completed: how "
        "many times more). RSS deltas include Rust allocations (yggdrasil); tracemalloc does "
        "not. Latencies are powers-of-two histogram buckets (p99) or exact (worst).",
    ]


def _async_eval_rows(entry: dict[str, Any]) -> list[str]:
    per_call = entry.get("per_call", {})
    spec = entry.get("spec", {})
    header = [
        "workload",
        "metrics",
        "async ns/call",
        "sync ns/call",
        "async vs sync",
        "6.9 async ns/call",
        "6.9 sync ns/call",
        "vs 6.9 async",
    ]
    rows = []

    def row(label: str, mode: str, values: dict[str, float]) -> list[str]:
        ours, sync = values.get("unleash_lite_async"), values.get("unleash_lite")
        six = values.get("official6_async")
        return [
            label,
            mode,
            _number(ours),
            _number(sync),
            f"{(ours / sync - 1) * 100:+.1f}%" if ours and sync else "-",
            _number(six),
            _number(values.get("official6")),
            _ratio(six, ours),
        ]

    names = [name for name in per_call.get("off", {}) if not name.startswith("_")]
    for name in names:
        for mode in ("off", "on"):
            workload = per_call[mode][name]
            label = name if workload["agree"] else f"{name} (ANSWERS DIFFER)"
            rows.append(row(label, mode, {k: v["ns"] for k, v in workload["sdks"].items()}))
    for mode in ("off", "on"):
        if mode in spec:
            label = f"spec corpus, gmean of {spec[mode]['common_cases']} cases"
            rows.append(row(label, mode, spec[mode]["gmean_common_ns"]))
    return [
        "CPU ns per call (empty-loop baseline subtracted; median of rounds); unleash_lite's "
        "AsyncUnleashClient and UnleashClient, UnleashClient 6.9's AsyncUnleashClient and "
        "UnleashClient, each in a fresh process, alternating.",
        "",
        *_table(header, rows),
    ]


def _times(other: float | None, ours: float | None) -> str:
    """``_ratio``, or "N x slower" when ours is the larger."""
    if other and ours and other < ours:
        return f"{ours / other:,.1f}x slower"
    return _ratio(other, ours)


def async_rows(results: dict[str, Any]) -> list[str]:
    entry = results.get("async")
    if not entry:
        return []
    lines = ["### The async clients", ""]
    if "per_call" in entry:
        lines += [*_async_eval_rows(entry), ""]
    rows: list[list[str]] = []
    keys = ("unleash_lite_async", "official6_async")

    def add(
        label: str, section: str, metric: str, scale_by: float, digits: int, ratio: bool = True
    ) -> None:
        if section not in entry:
            return
        values = [_get(entry, section, key, metric) for key in keys]
        shown = [v * scale_by if v is not None else None for v in values]
        compared = _times(shown[1], shown[0]) if ratio else ""
        rows.append([label, *(_number(v, digits) for v in shown), compared])

    add(
        "await initialize_client(), server refusing connections, ms",
        "init_refused",
        "init_seconds",
        1e3,
        1,
    )
    add("  then await destroy(), ms", "init_refused", "destroy_seconds", 1e3, 1)
    stalls = entry.get("refresh_stalls")
    if stalls:
        flags = f"{ASYNC_REFRESH_FLAGS:,}"
        add(
            f"await initialize_client(), loopback server, {flags} flags, ms",
            "refresh_stalls",
            "init_seconds",
            1e3,
            0,
        )
        add(
            "longest gap of a 1 ms ticker, idle (no client), ms",
            "refresh_stalls",
            "idle_max_gap_ns",
            1e-6,
            1,
            ratio=False,
        )
        add(
            f"longest gap while the client polls {flags} flags every 1 s, ms",
            "refresh_stalls",
            "window_max_gap_ns",
            1e-6,
            1,
        )
        add(
            "  ticker gaps over 10 ms in that window",
            "refresh_stalls",
            "window_gaps_over_10ms",
            1,
            0,
            ratio=False,
        )
        add(
            "  full refreshes served in that window",
            "refresh_stalls",
            "refreshes",
            1,
            0,
            ratio=False,
        )
    if rows:
        lines += [
            *_table(["measure", "unleash_lite async", "6.9 async", "vs 6.9 async"], rows),
            "",
            "Start and stalls: default keywords (registration and metrics on), empty disk "
            "cache, wall clock, median of rounds. The loopback server is its own process and "
            "answers every poll with a full payload, alternating two revisions "
            + (f"({stalls['payload_bytes'] / MB:.1f} MB JSON). " if stalls else ". ")
            + "Ratios: how many times faster or shorter unleash_lite's is.",
        ]
    return lines


# -- targets ----------------------------------------------------------------------------------


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def targets(results: dict[str, Any]) -> list[Target]:
    """Each target of the issue, measured (or n/a when this run did not measure it)."""
    found: list[Target] = []

    def add(
        name: str,
        value: float | None,
        describe: Callable[[float], str],
        ok: Callable[[float], bool],
    ) -> None:
        if value is None or math.isnan(value):
            found.append(Target(name, "not measured", None))
        else:
            found.append(Target(name, describe(value), ok(value)))

    simple = _get(results, "per_call", "on", "simple", "sdks", "unleash_lite", "ns")
    add(
        "simple flag is_enabled, metrics on <= 250 ns",
        simple,
        lambda v: f"{v:.0f} ns",
        lambda v: v <= 250,
    )
    spec = _get(results, "spec", "on", "gmean_common_ns") or {}
    ours = spec.get("unleash_lite")
    for key, label, factor in (("official5", "5.11.1", 10), ("official6", "6.9.x", 50)):
        ratio = spec[key] / ours if ours and spec.get(key) else None
        add(
            f"spec corpus gmean >= {factor}x faster than {label} (metrics on)",
            ratio,
            lambda v: f"{v:.1f}x",
            functools.partial(operator.le, factor),  # factor <= v
        )
    for mode in ("off", "on"):
        sdks = _get(results, "per_call", mode, "constraints", "sdks") or {}
        ours_ns, old_ns = _get(sdks, "unleash_lite", "ns"), _get(sdks, "official5", "ns")
        add(
            f"4-constraint flag >= 20x faster than 5.11.1 (metrics {mode})",
            old_ns / ours_ns if ours_ns and old_ns else None,
            lambda v, ns=ours_ns: f"{v:.1f}x ({ns:,.0f} ns)",
            lambda v: v >= 20,
        )
    overheads = {}
    for name, entry in (
        _get(results, "per_call", "on").items() if _get(results, "per_call", "on") else []
    ):
        if name.startswith("_"):
            continue
        off = results["per_call"]["off"][name]["sdks"]["unleash_lite"]["ns"]
        overheads[name] = entry["sdks"]["unleash_lite"]["ns"] / off if off else math.nan
    if "spec" in results:
        overheads["spec"] = (
            results["spec"]["on"]["gmean_common_ns"]["unleash_lite"]
            / results["spec"]["off"]["gmean_common_ns"]["unleash_lite"]
        )
    add(
        "simple flag with metrics on <= 1.2x its cost with metrics off",
        overheads.get("simple"),
        lambda v: f"{v:.2f}x; " + ", ".join(f"{n} {o:.2f}x" for n, o in overheads.items()),
        lambda v: v <= 1.2,
    )
    big = _get(results, "scale", "10000") or {}
    load = big.get("load_dict", {})
    seconds = _get(load, "unleash_lite", "cpu_seconds")
    add(
        "10,000 flags compiled < 0.5 s (load from dict, CPU)",
        seconds,
        lambda v: f"{v:.3f} s",
        lambda v: v < 0.5,
    )
    for key, label in (("official6", "6.9"), ("official5", "5.11")):
        other = _get(load, key, "cpu_seconds")
        add(
            f"10,000 flags load >= 3x faster than {label}",
            other / seconds if other and seconds else None,
            lambda v: f"{v:.1f}x",
            lambda v: v >= 3,
        )
    for mode in ("dict", "text"):
        section = big.get(f"load_{mode}", {})
        ours_peak = _get(section, "unleash_lite", "peak_rss_delta")
        six_peak = _get(section, "official6", "peak_rss_delta")
        shown = f"{(ours_peak or 0) / MB:.1f} MB vs {(six_peak or 0) / MB:.1f} MB"
        add(
            f"10,000 flags peak RSS <= half of 6.9's (load from {mode})",
            ours_peak / six_peak if ours_peak is not None and six_peak else None,
            functools.partial(_with_ratio, shown),
            lambda v: v <= 0.5,
        )
    text = big.get("load_text", {})
    add(
        "first is_enabled of all 10,000 flags after a load <= 0.2 s (CPU)",
        _get(text, "unleash_lite", "first_eval_all_cpu_seconds"),
        lambda v: f"{v:.3f} s",
        lambda v: v <= 0.2,
    )
    ours_all = _get(text, "unleash_lite", "retained_rss_all_evaluated")
    six_all = _get(text, "official6", "retained_rss_all_evaluated")
    add(
        "10,000 flags, all evaluated: retained RSS <= half of 6.9's",
        ours_all / six_all if ours_all is not None and six_all else None,
        functools.partial(
            _with_ratio, f"{(ours_all or 0) / MB:.1f} MB vs {(six_all or 0) / MB:.1f} MB"
        ),
        lambda v: v <= 0.5,
    )
    add(
        "ready from a 10,000-flag bootstrap, server refusing connections <= 0.3 s (wall)",
        _get(big, "ready_unreachable", "unleash_lite", "seconds"),
        lambda v: f"{v:.3f} s",
        lambda v: v <= 0.3,
    )
    import_ms = _get(results, "import", "ms", "unleash_lite")
    add(
        "from unleash_lite import UnleashClient <= 60 ms",
        import_ms,
        lambda v: f"{v:.1f} ms",
        lambda v: v <= 60,
    )
    gaps = {}
    for mode in ("off", "on"):
        entry = _get(results, "async", "per_call", mode) or {}
        for name, workload in entry.items():
            if not name.startswith("_"):
                gaps[f"{name} {mode}"] = _async_overhead(workload["sdks"])
        spec_entry = _get(results, "async", "spec", mode, "gmean_common_ns")
        if spec_entry:
            gaps[f"spec {mode}"] = _async_overhead({k: {"ns": v} for k, v in spec_entry.items()})
    slowest = max(gaps, key=lambda name: gaps[name]) if gaps else None
    add(
        "async client evaluation within 5% of the sync client's (worst workload)",
        gaps[slowest] if slowest else None,
        lambda v: f"{v * 100:+.1f}% ({slowest})",
        lambda v: v <= 0.05,
    )
    return found


def _async_overhead(sdks: dict[str, dict[str, float]]) -> float:
    """How much more the async client's call costs than the sync client's (a fraction)."""
    sync = sdks["unleash_lite"]["ns"]
    return sdks["unleash_lite_async"]["ns"] / sync - 1 if sync else math.nan


def _with_ratio(shown: str, ratio: float) -> str:
    return f"{shown} ({ratio:.2f}x)"


def target_rows(found: list[Target]) -> list[str]:
    rows = [[target.name, target.measured, target.mark] for target in found]
    return [
        "### Targets (reported, never asserted)",
        "",
        *_table(["target", "measured", "mark"], rows),
    ]


def markdown(results: dict[str, Any], found: list[Target], mismatches: list[str]) -> str:
    """The whole report as markdown."""
    machine = results["machine"]
    versions = machine["versions"]
    lines = [
        f"## unleash_lite benchmark ({results['mode']} run, {results['generated']})",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores ({machine['usable_cores']} usable), "
        f"{machine['memory_gib']} GiB, {machine['os']}, Python {machine['python']}; "
        f"checkout {machine['checkout']}.",
        "SDKs: "
        + "; ".join(
            f"{key}: " + ", ".join(f"{name} {version}" for name, version in listed.items())
            for key, listed in versions.items()
        )
        + ".",
        "",
    ]
    sections = (
        per_call_rows(results),
        thread_rows(results),
        scale_rows(results),
        async_rows(results),
    )
    for section in sections:
        if section:
            lines += [*section, ""]
    lines += [*target_rows(found), ""]
    if mismatches:
        lines += ["### Answer mismatches (these rows compare different work)", ""]
        lines += [f"- {mismatch}" for mismatch in mismatches]
    else:
        lines.append(
            "Answer check: the three SDKs gave identical answers on every workload and scale "
            "sample call (specification cases are checked against the expected answers)."
        )
    start, end = results["load_average_start"], results["load_average_end"]
    lines.append(
        f"\nTotal run time: {results['elapsed_seconds']:.0f} s; load average (1/5/15 min) "
        f"{start[0]:.1f}/{start[1]:.1f}/{start[2]:.1f} at the start, "
        f"{end[0]:.1f}/{end[1]:.1f}/{end[2]:.1f} at the end."
    )
    return "\n".join(lines) + "\n"
