"""Runs the workers: SDKs alternate process by process, round after round.

Each measurement is one fresh worker process per SDK, in the order unleash_lite, 6.9, 5.11,
unleash_lite, 6.9, 5.11, ... so slow drifts of the machine (frequency, noisy neighbours) hit
all three alike. Per-round figures are aggregated by their median.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .envs import REPO, TARGETS, Target, cache_root
from .payloads import generate_payload
from .workloads import WORKLOAD_NAMES, WORKLOADS

BENCHMARKS = Path(__file__).resolve().parents[1]
WORKER = BENCHMARKS / "worker.py"
RESULT_MARKER = "@@bench-result@@"
SDK_KEYS = tuple(target.key for target in TARGETS)
METRICS_MODES = (("off", False), ("on", True))

ASYNC_GROUPS = ("async_eval", "async_init", "async_refresh")
GROUPS = ("threads", "load", "refresh", "cache", "unreachable", "import", *ASYNC_GROUPS)
SELECTABLE = (*WORKLOAD_NAMES, "spec", *GROUPS)
ALIASES = {
    "eval": (*WORKLOAD_NAMES, "spec"),
    "scale": ("load", "refresh", "cache", "unreachable"),
    "async": ASYNC_GROUPS,
}
# The async clients' runs: (environment, SDK), the sync client of each environment included so
# that the async figures sit next to the sync ones measured in the same rounds.
ASYNC_RUNS = (
    ("unleash_lite", "unleash_lite"),
    ("unleash_lite", "unleash_lite_async"),
    ("official6", "official6"),
    ("official6", "official6_async"),
)
ASYNC_REFRESH_FLAGS = 10_000


@dataclass(frozen=True)
class Config:
    """How much to measure: the full run, or a smoke test (``--quick``)."""

    rounds: int  # processes per SDK and metrics mode for the per-call workloads
    target_ms: float  # CPU time of one timed loop
    case_target_ms: float  # the same, per specification case
    repeats: int  # timed loops per process (best kept)
    thread_rounds: int
    thread_target_ms: float
    threads: tuple[int, ...]
    sizes: tuple[int, ...]
    scale_rounds: int
    refresh_rounds: int
    import_rounds: int
    refresh_settle_s: float
    tracemalloc: bool  # an extra load per SDK and size under tracemalloc
    async_rounds: int  # processes per async client for start-up and refresh stalls
    async_window_s: float  # how long the ticker watches the loop while the client polls


FULL = Config(
    rounds=5,
    target_ms=150,
    case_target_ms=3,
    repeats=3,
    thread_rounds=3,
    thread_target_ms=400,
    threads=(1, 4, 8),
    sizes=(1000, 10000),
    scale_rounds=3,
    refresh_rounds=2,
    import_rounds=7,
    refresh_settle_s=0.3,
    tracemalloc=True,
    async_rounds=3,
    async_window_s=5.5,
)
QUICK = Config(
    rounds=1,
    target_ms=20,
    case_target_ms=0.2,
    repeats=2,
    thread_rounds=1,
    thread_target_ms=100,
    threads=(1, 4, 8),
    sizes=(1000, 10000),
    scale_rounds=1,
    refresh_rounds=1,
    import_rounds=2,
    refresh_settle_s=0.15,
    tracemalloc=False,
    async_rounds=1,
    async_window_s=2.5,
)
SEED = 42


class WorkerError(RuntimeError):
    """A worker process failed."""


def selection(only: Iterable[str]) -> set[str]:
    """The workloads and groups ``--only`` names (all of them when it names none)."""
    chosen: set[str] = set()
    for item in only:
        for name in item.split(","):
            name = name.strip()
            if not name:
                continue
            if name in ALIASES:
                chosen.update(ALIASES[name])
            elif name in SELECTABLE:
                chosen.add(name)
            else:
                known = ", ".join((*SELECTABLE, *ALIASES))
                raise SystemExit(f"unknown workload {name!r}; choose from {known}")
    return chosen or set(SELECTABLE)


def worker_environment() -> dict[str, str]:
    """The environment of worker processes: ours, minus what would change what they run."""
    dropped = {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONSTARTUP", "PYTHONPROFILEIMPORTTIME"}
    environment = {key: value for key, value in os.environ.items() if key not in dropped}
    environment["PYTHONHASHSEED"] = "0"
    return environment


def run_worker(target: Target, request: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
    """Run one task in a fresh process of ``target``'s Python; return its result. The task is
    for the target's SDK unless ``request["sdk"]`` names another SDK of that environment."""
    environment = worker_environment()
    with tempfile.TemporaryDirectory(prefix="bench-cwd-") as cwd:
        process = subprocess.run(
            [str(target.python), str(WORKER)],
            input=json.dumps({"sdk": target.key, **request}),  # a request may name another
            capture_output=True,
            text=True,
            cwd=cwd,
            env=environment,
            timeout=timeout,
            check=False,
        )
    for line in process.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
            return result
    raise WorkerError(
        f"{target.key} worker failed ({request['task']}, exit {process.returncode}):\n"
        f"{process.stderr[-3000:]}"
    )


def free_port() -> int:
    """A loopback port nothing listens on (bound to find it, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _passing(spec: dict[str, Any]) -> set[str]:
    """The cases an SDK answered as the specification expects."""
    return {
        case["id"]
        for case in spec["cases"]
        if "answer" in case and case["answer"] == case["expected"]
    }


def median(values: Iterable[float]) -> float:
    """Median of the values (NaN when there are none)."""
    listed = list(values)
    return statistics.median(listed) if listed else math.nan


def geometric_mean(values: Iterable[float]) -> float:
    """Geometric mean of positive values (NaN when there are none)."""
    listed = [value for value in values if value > 0]
    return math.exp(sum(math.log(value) for value in listed) / len(listed)) if listed else math.nan


@dataclass
class Run:
    """Everything measured in one invocation, then aggregated into ``results``."""

    config: Config
    chosen: set[str]
    spec_dir: Path | None
    progress: Callable[[str], None]
    results: dict[str, Any] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)

    # -- per-call workloads ---------------------------------------------------------------

    def per_call(self) -> None:
        workloads = [name for name in WORKLOAD_NAMES if name in self.chosen]
        spec = "spec" in self.chosen and self.spec_dir is not None
        if not workloads and not spec:
            return
        raw: dict[str, dict[str, list[dict[str, Any]]]] = {
            mode: {key: [] for key in SDK_KEYS} for mode, _ in METRICS_MODES
        }
        for round_index in range(self.config.rounds):
            for mode, metrics in METRICS_MODES:
                for target in TARGETS:
                    self.progress(
                        f"per-call round {round_index + 1}/{self.config.rounds}, "
                        f"metrics {mode}, {target.label}"
                    )
                    raw[mode][target.key].append(
                        run_worker(
                            target,
                            {
                                "task": "eval",
                                "metrics": metrics,
                                "workloads": workloads,
                                "target_ms": self.config.target_ms,
                                "case_target_ms": self.config.case_target_ms,
                                "repeats": self.config.repeats,
                                "verify": round_index == 0,
                                "spec_dir": str(self.spec_dir) if spec else None,
                            },
                        )
                    )
        self.results["per_call"] = {
            mode: self._per_call_summary(mode, raw[mode], workloads) for mode, _ in METRICS_MODES
        }
        if spec:
            first = {mode: {key: raw[mode][key][0]["spec"] for key in SDK_KEYS} for mode in raw}
            passing = {
                key: set.intersection(*(_passing(first[mode][key]) for mode in raw))
                for key in SDK_KEYS
            }
            self.results["spec"] = {
                mode: self._spec_summary(raw[mode], passing) for mode, _ in METRICS_MODES
            }

    def _per_call_summary(
        self, mode: str, raw: dict[str, list[dict[str, Any]]], workloads: list[str]
    ) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        for name in workloads:
            answers = {key: raw[key][0]["answers"][name] for key in raw}
            agree = self._check_answers(f"{name} (metrics {mode})", answers)
            summary[name] = {
                "agree": agree,
                "sdks": {
                    key: {
                        "ns": median(run["workloads"][name]["ns"] for run in raw[key]),
                        "baseline_ns": median(
                            run["workloads"][name]["baseline_ns"] for run in raw[key]
                        ),
                        "rounds_ns": [run["workloads"][name]["ns"] for run in raw[key]],
                    }
                    for key in raw
                },
            }
        summary["_counted"] = {key: raw[key][0].get("counted") for key in raw}
        return summary

    def _check_answers(self, label: str, answers: dict[str, list[Any]]) -> bool:
        reference = answers["unleash_lite"]
        agree = True
        for key, listed in answers.items():
            differing = [
                i for i, (a, b) in enumerate(zip(reference, listed, strict=True)) if a != b
            ]
            if differing:
                agree = False
                first = differing[0]
                self.mismatches.append(
                    f"{label}: {key} differs from unleash_lite on {len(differing)} of "
                    f"{len(listed)} calls (first: call {first}: {listed[first]!r} vs "
                    f"{reference[first]!r})"
                )
        return agree

    def _spec_summary(
        self, raw: dict[str, list[dict[str, Any]]], passing: dict[str, set[str]]
    ) -> dict[str, Any]:
        """Per-case medians; geometric means over the cases every SDK answers correctly
        (in both metrics modes, so both rows compare the same cases)."""
        first = {key: raw[key][0]["spec"] for key in raw}
        case_ids = [case["id"] for case in first["unleash_lite"]["cases"]]
        common = [case_id for case_id in case_ids if all(case_id in passing[k] for k in raw)]
        per_case: dict[str, dict[str, float]] = {}
        for key in raw:
            rounds = [
                {case["id"]: case["ns"] for case in run["spec"]["cases"] if "ns" in case}
                for run in raw[key]
            ]
            per_case[key] = {
                case_id: median(r[case_id] for r in rounds if case_id in r)
                for case_id in case_ids
                if case_id in rounds[0]
            }
        return {
            "cases": len(case_ids),
            "common_cases": len(common),
            "passing": {key: len(passing[key]) for key in raw},
            "failing": {
                key: [case_id for case_id in case_ids if case_id not in passing[key]] for key in raw
            },
            "build_errors": {key: first[key]["build_errors"] for key in raw},
            "gmean_common_ns": {
                key: geometric_mean(per_case[key][case_id] for case_id in common) for key in raw
            },
            "gmean_passing_ns": {
                key: geometric_mean(per_case[key][case_id] for case_id in passing[key])
                for key in raw
            },
            "per_case_ns": per_case,
        }

    # -- the async clients ------------------------------------------------------------------

    def async_clients(self, scratch: Path) -> None:
        """The async clients next to the sync clients of their environments: per-call cost
        (the workloads and the specification corpus, metrics off and on), start-up against a
        server that refuses connections, and event-loop stalls during 10,000-flag refreshes."""
        targets = {target.key: target for target in TARGETS}
        if "async_eval" in self.chosen:
            self._async_eval(targets)
        results: dict[str, Any] = self.results.setdefault("async", {})
        if "async_init" in self.chosen:
            refused = free_port()  # bound, then closed: nothing listens there
            results["init_refused"] = self._async_rounds(
                "async initialize_client(), server refusing connections",
                targets,
                {"task": "async_init", "url": f"http://127.0.0.1:{refused}/api", "n_flags": 0},
            )
        if "async_refresh" in self.chosen:
            paths = []
            for label, revision in (("r0", 0), ("r1", 1)):
                path = scratch / f"async-payload-{label}.json"
                payload = generate_payload(ASYNC_REFRESH_FLAGS, SEED, revision, 1)
                path.write_text(json.dumps(payload), encoding="utf-8")
                paths.append(str(path))
            results["refresh_stalls"] = self._async_rounds(
                f"async event-loop stalls, {ASYNC_REFRESH_FLAGS:,}-flag refreshes",
                targets,
                {
                    "task": "async_refresh",
                    "paths": paths,
                    "n_flags": ASYNC_REFRESH_FLAGS,
                    "idle_s": 1.0,
                    "window_s": self.config.async_window_s,
                },
            )
            results["refresh_stalls"]["payload_bytes"] = Path(paths[0]).stat().st_size

    def _async_eval(self, targets: dict[str, Target]) -> None:
        spec = self.spec_dir is not None
        raw: dict[str, dict[str, list[dict[str, Any]]]] = {
            mode: {sdk: [] for _, sdk in ASYNC_RUNS} for mode, _ in METRICS_MODES
        }
        for round_index in range(self.config.rounds):
            for mode, metrics in METRICS_MODES:
                for environment, sdk in ASYNC_RUNS:
                    self.progress(
                        f"async per-call round {round_index + 1}/{self.config.rounds}, "
                        f"metrics {mode}, {sdk}"
                    )
                    request = {
                        "task": "eval",
                        "sdk": sdk,
                        "metrics": metrics,
                        "workloads": list(WORKLOAD_NAMES),
                        "target_ms": self.config.target_ms,
                        "case_target_ms": self.config.case_target_ms,
                        "repeats": self.config.repeats,
                        "verify": round_index == 0,
                        "spec_dir": str(self.spec_dir) if spec else None,
                    }
                    raw[mode][sdk].append(run_worker(targets[environment], request))
        summary: dict[str, Any] = {
            "per_call": {
                mode: self._per_call_summary(
                    f"{mode}, async clients", raw[mode], list(WORKLOAD_NAMES)
                )
                for mode, _ in METRICS_MODES
            }
        }
        if spec:
            passing = {
                sdk: set.intersection(*(_passing(raw[mode][sdk][0]["spec"]) for mode in raw))
                for _, sdk in ASYNC_RUNS
            }
            summary["spec"] = {
                mode: self._spec_summary(raw[mode], passing) for mode, _ in METRICS_MODES
            }
        self.results["async"] = summary

    def _async_rounds(
        self, label: str, targets: dict[str, Target], request: dict[str, Any]
    ) -> dict[str, Any]:
        """``request`` for each async client, alternating, ``async_rounds`` times; medians."""
        runs = [(environment, sdk) for environment, sdk in ASYNC_RUNS if sdk.endswith("_async")]
        raw: dict[str, list[dict[str, Any]]] = {sdk: [] for _, sdk in runs}
        for round_index in range(self.config.async_rounds):
            for environment, sdk in runs:
                self.progress(f"{label}, round {round_index + 1}/{self.config.async_rounds}, {sdk}")
                result = run_worker(targets[environment], {**request, "sdk": sdk})
                if result["known_flags"] != request["n_flags"]:
                    self.mismatches.append(
                        f"{label}, round {round_index + 1}: {sdk} holds "
                        f"{result['known_flags']} flags instead of {request['n_flags']}"
                    )
                raw[sdk].append(result)
        summary: dict[str, Any] = {}
        for sdk, results in raw.items():
            numeric = [name for name, value in results[0].items() if isinstance(value, int | float)]
            summary[sdk] = {name: median(run[name] for run in results) for name in numeric}
            summary[sdk]["rounds"] = results
        return summary

    # -- threads --------------------------------------------------------------------------

    def threads(self) -> None:
        if "threads" not in self.chosen:
            return
        raw: dict[str, list[dict[str, Any]]] = {key: [] for key in SDK_KEYS}
        for round_index in range(self.config.thread_rounds):
            for target in TARGETS:
                self.progress(
                    f"threads round {round_index + 1}/{self.config.thread_rounds}, {target.label}"
                )
                raw[target.key].append(
                    run_worker(
                        target,
                        {
                            "task": "threads",
                            "workload": "rollout",
                            "metrics": True,
                            "threads": list(self.config.threads),
                            "target_ms": self.config.thread_target_ms,
                            "repeats": 2,
                        },
                    )
                )
        self.results["threads"] = {
            str(n): {
                key: {
                    metric: median(run["threads"][str(n)][metric] for run in raw[key])
                    for metric in ("wall_ns_per_call", "cpu_ns_per_call", "calls_per_second")
                }
                for key in SDK_KEYS
            }
            for n in self.config.threads
        }

    # -- scale ----------------------------------------------------------------------------

    def scale(self, scratch: Path) -> None:
        wanted = [
            group for group in ("load", "refresh", "cache", "unreachable") if group in self.chosen
        ]
        if not wanted:
            return
        paths: dict[tuple[int, str], Path] = {}
        for size in self.config.sizes:
            for label, revision, changed_every in (("r0", 0, 1), ("all", 1, 1), ("1pct", 1, 100)):
                path = scratch / f"payload-{size}-{label}.json"
                payload = generate_payload(size, SEED, revision, changed_every)
                path.write_text(json.dumps(payload), encoding="utf-8")
                paths[size, label] = path
        scale: dict[str, Any] = {
            str(size): {"payload_bytes": paths[size, "r0"].stat().st_size}
            for size in self.config.sizes
        }
        for size in self.config.sizes:
            base = {"n_flags": size, "seed": SEED, "path": str(paths[size, "r0"])}
            if "load" in wanted:
                for mode in ("dict", "text"):
                    scale[str(size)][f"load_{mode}"] = self._rounds(
                        f"load {size} flags from {mode}",
                        self.config.scale_rounds,
                        {**base, "task": "load", "mode": mode},
                        f"load {size} ({mode})",
                    )
                if self.config.tracemalloc:
                    scale[str(size)]["tracemalloc"] = self._rounds(
                        f"tracemalloc {size} flags",
                        1,
                        {**base, "task": "load", "mode": "text", "tracemalloc": True},
                        None,
                    )
            if "refresh" in wanted:
                for label, share in (("all", "every flag"), ("1pct", "1% of the flags")):
                    scale[str(size)][f"refresh_{label}"] = self._rounds(
                        f"refresh {size} flags ({share} changed) under load",
                        self.config.refresh_rounds,
                        {
                            **base,
                            "task": "refresh",
                            "new_path": str(paths[size, label]),
                            "threads": 4,
                            "settle_s": self.config.refresh_settle_s,
                        },
                        f"refresh {size} ({share} changed)",
                    )
            if "cache" in wanted:
                directories = {}
                for target in TARGETS:
                    directory = scratch / f"cache-{target.key}-{size}"
                    directory.mkdir()
                    directories[target.key] = str(directory)
                    run_worker(target, {**base, "task": "write_cache", "directory": str(directory)})
                scale[str(size)]["from_cache"] = self._rounds(
                    f"ready from disk cache, {size} flags",
                    self.config.scale_rounds,
                    {**base, "task": "from_cache", "directories": directories},
                    f"disk cache {size}",
                )
            if "unreachable" in wanted:
                scale[str(size)]["ready_unreachable"] = self._rounds(
                    f"ready from a bootstrap, server refusing, {size} flags",
                    self.config.scale_rounds,
                    {**base, "task": "ready_unreachable"},
                    f"bootstrap, server refusing {size}",
                )
        self.results["scale"] = scale

    def _rounds(
        self, label: str, rounds: int, request: dict[str, Any], check: str | None
    ) -> dict[str, Any]:
        """Run ``request`` for every SDK, ``rounds`` times alternating; median per metric."""
        raw: dict[str, list[dict[str, Any]]] = {key: [] for key in SDK_KEYS}
        for round_index in range(rounds):
            for target in TARGETS:
                self.progress(f"{label}, round {round_index + 1}/{rounds}, {target.label}")
                task = dict(request, verify=round_index == 0 and check is not None)
                if "directories" in task:  # a fresh copy of the prepared cache every round
                    prepared = Path(task.pop("directories")[target.key])
                    copy = prepared.with_name(f"{prepared.name}-round{round_index}")
                    shutil.copytree(prepared, copy)
                    task["directory"] = str(copy)
                result = run_worker(target, task)
                if result.get("known_flags", request["n_flags"]) != request["n_flags"]:
                    self.mismatches.append(
                        f"{label}, round {round_index + 1}: {target.key} holds "
                        f"{result['known_flags']} flags instead of {request['n_flags']}"
                    )
                raw[target.key].append(result)
        if check is not None:
            self._check_answers(check, {key: raw[key][0]["answers"] for key in SDK_KEYS})
        summary: dict[str, Any] = {}
        for key in SDK_KEYS:
            numeric = {
                name
                for name, value in raw[key][0].items()
                if isinstance(value, (int, float)) and not isinstance(value, bool)
            }
            summary[key] = {name: median(run[name] for run in raw[key]) for name in sorted(numeric)}
            summary[key]["rounds_seconds"] = [run.get("seconds") for run in raw[key]]
            if "peak_rss_reliable" in raw[key][0]:
                summary[key]["peak_rss_reliable"] = all(
                    run["peak_rss_reliable"] for run in raw[key]
                )
        return summary

    # -- import time ----------------------------------------------------------------------

    def import_time(self) -> None:
        if "import" not in self.chosen:
            return
        # What an application writes; unleash_lite's package namespace is lazy, so a bare
        # ``import unleash_lite`` would not load the client.
        statements = {
            "unleash_lite": "from unleash_lite import UnleashClient",
            "official6": "from UnleashClient import UnleashClient",
            "official5": "from UnleashClient import UnleashClient",
        }
        timings: dict[str, list[float]] = {key: [] for key in SDK_KEYS}
        script = (
            "import time; start = time.perf_counter_ns(); {statement}; "
            "print(time.perf_counter_ns() - start)"
        )
        for target in TARGETS:  # a first import compiles the bytecode: not timed
            self._python(target, "-c", statements[target.key])
        for round_index in range(self.config.import_rounds):
            for target in TARGETS:
                self.progress(f"import time, round {round_index + 1}, {target.label}")
                output = self._python(target, "-c", script.format(statement=statements[target.key]))
                timings[target.key].append(int(output.stdout.strip().splitlines()[-1]) / 1e6)
        breakdown = self._python(TARGETS[0], "-X", "importtime", "-c", statements[TARGETS[0].key])
        self.results["import"] = {
            "ms": {key: median(timings[key]) for key in SDK_KEYS},
            "rounds_ms": timings,
            "unleash_lite_slowest_modules": slowest_imports(breakdown.stderr),
        }

    def _python(self, target: Target, *arguments: str) -> subprocess.CompletedProcess[str]:
        environment = worker_environment()
        with tempfile.TemporaryDirectory(prefix="bench-cwd-") as cwd:
            return subprocess.run(
                [str(target.python), *arguments],
                capture_output=True,
                text=True,
                cwd=cwd,
                env=environment,
                check=True,
            )


def slowest_imports(importtime_output: str, count: int = 8) -> list[dict[str, Any]]:
    """The modules with the largest self time in ``python -X importtime`` output."""
    rows: list[dict[str, Any]] = []
    for line in importtime_output.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, module = line[len("import time:") :].split("|", 2)
        rows.append(
            {"module": module.strip(), "self_us": int(self_us), "cumulative_us": int(cumulative_us)}
        )
    total = next((row["cumulative_us"] for row in rows if row["module"] == "unleash_lite"), None)
    rows.sort(key=lambda row: row["self_us"], reverse=True)
    return [{"total_us": total}, *rows[:count]]


def find_spec_dir(progress: Callable[[str], None]) -> Path | None:
    """The client specification's directory: the test suite's helper (downloads it once with
    npm), else the cached copy; ``None`` when neither is available."""
    try:
        sys.path.insert(0, str(REPO))
        from tests.client_spec import specification_dir

        spec_dir: Path = specification_dir()
        return spec_dir
    except Exception as error:  # no npm, no network, no tests package...
        cached = cache_root() / "client-specification-6.1.0"
        if (cached / "index.json").is_file():
            return cached
        progress(f"client specification unavailable ({error}); skipping the spec workload")
        return None
    finally:
        if sys.path and sys.path[0] == str(REPO):
            sys.path.pop(0)


def measure(config: Config, chosen: set[str], progress: Callable[[str], None]) -> Run:
    """Run everything selected; returns the run with aggregated results and mismatches."""
    wants_spec = "spec" in chosen or "async_eval" in chosen
    spec_dir = find_spec_dir(progress) if wants_spec else None
    run = Run(config, chosen, spec_dir, progress)
    run.results["load_average_start"] = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="unleash-bench-") as scratch:
        run.per_call()
        run.threads()
        run.scale(Path(scratch))
        run.import_time()
        run.async_clients(Path(scratch))
    run.results["elapsed_seconds"] = time.perf_counter() - started
    run.results["load_average_end"] = os.getloadavg()
    run.results["workloads"] = {w.name: w.description for w in WORKLOADS}
    return run
