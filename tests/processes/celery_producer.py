"""Send ``evaluate_flags`` tasks as a web app would (importing the tasks module, so with its
own client) and print the results as JSON: ``python -m tests.processes.celery_producer N``."""

from __future__ import annotations

import json
import sys

from tests.processes.celery_tasks import evaluate_flags

ROUNDS, HOLD = 5, 0.2

if __name__ == "__main__":
    results = [evaluate_flags.delay(ROUNDS, HOLD) for _ in range(int(sys.argv[1]))]
    print("RESULTS", json.dumps([result.get(timeout=30) for result in results]))
