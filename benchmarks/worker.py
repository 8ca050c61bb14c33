"""One benchmark worker: reads a task (JSON) on stdin, prints its result (JSON) on stdout.

Run by ``run.py`` with the Python of the SDK's virtual environment, one process per task, so
SDKs never share a process and every load starts cold. Its directory is on ``sys.path`` (it
is run as a script), which is how it finds the ``harness`` package. The result line starts
with a marker, so anything an SDK prints cannot be mistaken for it.
"""

from __future__ import annotations

import json
import sys

from harness.measure import run_task

RESULT_MARKER = "@@bench-result@@"

if __name__ == "__main__":
    result = run_task(json.load(sys.stdin))
    sys.stdout.write("\n" + RESULT_MARKER + json.dumps(result) + "\n")
