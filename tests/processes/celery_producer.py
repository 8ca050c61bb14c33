"""Send ``evaluate_flags`` tasks as a web app would (importing the tasks module) and print
the results as JSON, then this process's id and threads:
``python -m tests.processes.celery_producer MODULE N`` (MODULE: ``celery_tasks``, whose
import creates a client, or ``celery_setup_tasks``, whose import creates none)."""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading

ROUNDS, HOLD = 5, 0.2

if __name__ == "__main__":
    module = importlib.import_module(f"tests.processes.{sys.argv[1]}")
    results = [module.evaluate_flags.delay(ROUNDS, HOLD) for _ in range(int(sys.argv[2]))]
    print("RESULTS", json.dumps([result.get(timeout=30) for result in results]))
    threads = [thread.name for thread in threading.enumerate()]
    print("PRODUCER", json.dumps({"pid": os.getpid(), "threads": threads}))
