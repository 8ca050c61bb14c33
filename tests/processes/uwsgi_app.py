"""A WSGI application as users write it: a module-level client (registration and metrics
on), created and initialized when the module is imported (in the uWSGI master without
``lazy-apps``, in each worker with it). Each answer is JSON: the worker's pid, this
request's answers, and everything the worker has evaluated so far (``?hold=S`` keeps the
worker busy S seconds, so concurrent requests reach different workers)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from tests.processes.harness import client_from_environment, evaluate

client = client_from_environment("uwsgi-app")
client.initialize_client()
counts: dict[str, dict[str, int]] = {}


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    hold = float(parse_qs(environ.get("QUERY_STRING", "")).get("hold", ["0"])[0])
    answers = evaluate(client, counts)
    time.sleep(hold)
    body = json.dumps({"pid": os.getpid(), "answers": answers, "counts": counts}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
