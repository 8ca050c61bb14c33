"""The cost of recording impact metrics, unleash_lite against UnleashClient 6.9.1.

    .venv/bin/python benchmarks/impact_metrics.py

Each SDK runs in a process of its own: unleash_lite with the Python running this script
(the checkout's environment), UnleashClient 6.9.1 in its environment of
``harness/envs.py`` (created on first use, as by ``run.py``). Each builds a client as in the
per-call workloads (metrics on) and makes the same calls: a counter increment without and
with a flag context (one flag, three weighted variants, resolved for each call), a gauge
update and a histogram observation. Prints the median of 7 timings of each call (each at
least 0.2 s), in nanoseconds per call. 5.11.1 has no impact metrics.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.envs import TARGETS, ensure

REPEATS = 7

# Run with the SDK's Python; argv[1] is the SDK key. Prints one JSON line: call -> ns.
MEASURE = """
import json, statistics, sys, timeit
sys.path.insert(0, {benchmarks!r})
from harness.adapters import SDKS
from harness.workloads import VARIANTS, workload_payload
key = sys.argv[1]
sdk = SDKS[key]()
sdk.prepare(warm=True)
client = sdk.client(workload_payload(), True)
if key == "unleash_lite":
    from unleash_lite import MetricFlagContext
else:
    from UnleashClient.impact_metrics import MetricFlagContext
impact = client.impact_metrics
impact.define_counter("bench_counter", "calls")
impact.define_gauge("bench_gauge", "level")
impact.define_histogram("bench_histogram", "seconds")
flags = MetricFlagContext([VARIANTS], {{"userId": "42"}})
calls = {{
    "increment_counter(name)": lambda: impact.increment_counter("bench_counter"),
    "increment_counter(name, 1, flag_context)": (
        lambda: impact.increment_counter("bench_counter", 1, flags)
    ),
    "update_gauge(name, value)": lambda: impact.update_gauge("bench_gauge", 3.5),
    "observe_histogram(name, value)": lambda: impact.observe_histogram("bench_histogram", 0.03),
}}
result = {{}}
for name, call in calls.items():
    call()
    timer = timeit.Timer(call)
    number = max(timer.autorange()[0], 1000)  # at least 0.2 s a timing
    result[name] = statistics.median(timer.repeat({repeats}, number)) / number * 1e9
sdk.stop(client)
print("@@" + json.dumps(result))
"""


def measure(key: str) -> dict[str, float]:
    if key == "unleash_lite":
        python = Path(sys.executable)
    else:
        python = ensure(next(target for target in TARGETS if target.key == key))
    code = MEASURE.format(benchmarks=str(Path(__file__).resolve().parent), repeats=REPEATS)
    done = subprocess.run(
        [str(python), "-c", code, key], capture_output=True, text=True, check=True
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("@@"))
    result: dict[str, float] = json.loads(line[2:])
    return result


def main() -> None:
    results = {key: measure(key) for key in ("unleash_lite", "official6")}
    print("| call | unleash_lite (ns) | UnleashClient 6.9.1 (ns) | ratio |")
    print("|---|---:|---:|---:|")
    for call, ours in results["unleash_lite"].items():
        theirs = results["official6"][call]
        print(f"| `{call}` | {ours:,.0f} | {theirs:,.0f} | {theirs / ours:.1f}x |")


if __name__ == "__main__":
    main()
