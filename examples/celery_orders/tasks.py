"""A Celery worker whose tasks read a flag: one client per worker process, set up in three
lines (see docs/celery.md).

With ``UNLEASH_URL`` and ``UNLEASH_API_TOKEN`` set the clients fetch from that server; without
them they run offline from ``flags.json`` beside this file. ``CELERY_BROKER_URL`` defaults to a
local Redis.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

from unleash_lite import UnleashClient
from unleash_lite.celery import setup

FLAGS = Path(__file__).resolve().parent / "flags.json"

app = Celery("orders", broker=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"))


def new_client() -> UnleashClient:
    """A client for this worker process (``setup`` calls it after the fork)."""
    url = os.environ.get("UNLEASH_URL", "")
    headers = {"Authorization": os.environ["UNLEASH_API_TOKEN"]} if url else {}
    return UnleashClient(url, "orders-worker", custom_headers=headers, bootstrap=FLAGS)


unleash = setup(app, new_client)


@app.task
def ship(order_id: int, customer: str, plan: str) -> str:
    """Ship an order: by priority for the customers the flag lets in."""
    context = {"userId": customer, "properties": {"plan": plan}}
    if unleash.client.is_enabled("priority-shipping", context):
        return f"order {order_id}: priority"
    return f"order {order_id}: standard"
