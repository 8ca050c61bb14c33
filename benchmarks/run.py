"""Benchmark unleash_lite against the official Unleash Python SDKs (6.9.x and 5.11.1).

    python3 benchmarks/run.py            # full run (about 20-25 minutes on 2 cores)
    python3 benchmarks/run.py --quick    # smoke test (about 2 minutes)
    python3 benchmarks/run.py --only simple,spec --only threads

Creates (once) a virtual environment per SDK under ``$UNLEASH_LITE_CACHE/bench-venvs``, runs
every measurement in fresh worker processes alternating between the SDKs, prints a markdown
report and writes it to ``benchmarks/results/latest.json`` (and ``latest.md``).
See docs/performance.md for what each workload measures and how.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import envs, orchestrate, report

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="WORKLOAD",
        help="run only these (repeatable, comma-separated): "
        + ", ".join((*orchestrate.SELECTABLE, *orchestrate.ALIASES)),
    )
    parser.add_argument("--rounds", type=int, help="override the number of per-call rounds")
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "latest.json", help="where to write the JSON"
    )
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="only re-render the report of a saved run"
    )
    arguments = parser.parse_args(argv)
    if arguments.render:
        results = json.loads(arguments.render.read_text(encoding="utf-8"))
        return write_report(results, results["mismatches"], arguments.output)
    config = orchestrate.QUICK if arguments.quick else orchestrate.FULL
    if arguments.rounds:
        config = dataclasses.replace(config, rounds=arguments.rounds)
    chosen = orchestrate.selection(arguments.only)
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    for target in envs.TARGETS:
        envs.ensure(target)
    versions = {
        target.key: orchestrate.run_worker(target, {"task": "versions"})["versions"]
        for target in envs.TARGETS
    }
    for key, listed in versions.items():
        progress(f"{key}: " + ", ".join(f"{name}=={version}" for name, version in listed.items()))

    machine = report.machine_info(versions)  # before measuring: the checkout that was installed
    run = orchestrate.measure(config, chosen, progress)
    results = dict(run.results)
    results.update(
        mode="quick" if arguments.quick else "full",
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        config=dataclasses.asdict(config),
        selected=sorted(chosen),
        machine=machine,
        mismatches=run.mismatches,
    )
    write_report(results, run.mismatches, arguments.output)
    progress(f"wrote {arguments.output} and {arguments.output.with_suffix('.md')}")
    return 0


def write_report(results: dict[str, Any], mismatches: list[str], output: Path) -> int:
    """Evaluate the targets, print the markdown report and write it (JSON and markdown)."""
    found = report.targets(results)
    results["targets"] = [dataclasses.asdict(target) | {"mark": target.mark} for target in found]
    text = report.markdown(results, found, mismatches)
    results["markdown"] = text
    print(text)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    output.with_suffix(".md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
