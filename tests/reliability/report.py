"""Print the figures the reliability suite measured as the Markdown tables of
``docs/reliability.md``.

    UNLEASH_LITE_FIGURES=/tmp/figures.json .venv/bin/python -m pytest tests/reliability
    .venv/bin/python -m tests.reliability.report /tmp/figures.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

COLUMNS: dict[str, list[tuple[str, str]]] = {
    "fetch": [
        ("client", "client"),
        ("fault", "fault"),
        ("polls", "polls"),
        ("requests", "requests sent"),
        ("interval", "poll interval"),
        ("answers", "answers during the fault"),
        ("log", "log lines"),
        ("recovery_polls", "polls to recover"),
        ("seconds_per_poll", "s per poll"),
    ],
    "recovery": [
        ("client", "client"),
        ("fault", "fault"),
        ("requests", "requests in 0.6 s"),
        ("requests_without_backoff", "without backoff"),
        ("recover_s", "time to recover (s)"),
    ],
    "metrics": [
        ("client", "client"),
        ("fault", "fault"),
        ("evaluations", "evaluations"),
        ("counts_made", "counts made"),
        ("counts_delivered", "counts the server kept"),
        ("lost", "lost"),
        ("counted_twice", "counted twice"),
        ("posts", "POSTs"),
        ("interval", "metrics interval"),
        ("log", "log lines"),
    ],
    "processes": [
        ("writers", "writer processes"),
        ("readers", "reader processes"),
        ("cache_writes", "cache writes"),
        ("starts_from_cache", "starts from cache"),
        ("torn_or_partial_reads", "torn or partial reads"),
        ("seconds", "s"),
    ],
    "fork": [
        ("moment", "fork"),
        ("child_answers_in_s", "child answers in (s)"),
        ("child_polls_new_flags_in_s", "child installs new flags in (s)"),
        ("child_flush_s", "child flush (s)"),
        ("deadlocks", "deadlocks"),
        ("counts_sent_twice", "counts sent twice"),
    ],
    "threads": [
        ("threads", "threads"),
        ("swaps", "swaps"),
        ("swap_every_ms", "every (ms)"),
        ("evaluations", "evaluations"),
        ("mixed_answers", "mixed answers"),
        ("exceptions", "exceptions"),
    ],
    "soak": [
        ("refreshes", "refreshes"),
        ("evaluations", "evaluations"),
        ("seconds", "s"),
        ("memory_growth_kib", "memory still held (KiB)"),
        ("traced_refreshes", "over refreshes"),
        ("live_object_growth", "live objects added"),
        ("threads_before", "threads before"),
        ("threads_running", "while running"),
        ("threads_after", "after destroy"),
    ],
    "hostile": [("case", "input"), ("examples", "calls or examples"), ("result", "result")],
    "regex": [
        ("pattern", "pattern"),
        ("ms_10k", "10,000 chars (ms)"),
        ("ms_100k", "100,000 chars (ms)"),
    ],
    "size": [
        ("case", "input"),
        ("limit", "limit"),
        ("client_peak_mib", "client peak (MiB)"),
        ("result", "result"),
    ],
    "security": [("check", "check"), ("result", "result")],
}


def cell(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    return text.replace("|", "\\|")


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    lines = [
        "| " + " | ".join(title for _, title in columns) + " |",
        "|" + "|".join(" --- " for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell(row.get(key)) for key, _ in columns) + " |")
    return "\n".join(lines)


def main(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        figures = json.load(handle)
    for name, columns in COLUMNS.items():
        if name in figures:
            print(f"### {name}\n\n{table(figures[name], columns)}\n")


if __name__ == "__main__":
    main(sys.argv[1])
