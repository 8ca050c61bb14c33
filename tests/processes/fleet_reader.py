"""A reader of a fleet, as a user writes one: flags from Redis only (``RedisCache`` and
``initialize_client(fetch_toggles=False)``), metrics to Unleash. Settings come from the
environment (the token too: never on a command line). It prints one JSON line at start and
one each time its answers change: ``{"ready_at_start", "ready", "enabled": {flag: bool}}``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading

from unleash_lite import UnleashClient
from unleash_lite.redis import RedisCache


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    token = os.environ["UNLEASH_TOKEN"]
    flags = os.environ["FLEET_FLAGS"].split(",")
    cache = RedisCache(os.environ["REDIS_URL"], app_name=os.environ["APP_NAME"], token=token)
    client = UnleashClient(
        url=os.environ["UNLEASH_URL"],
        app_name=os.environ["APP_NAME"],
        custom_headers={"Authorization": token},
        cache=cache,
        refresh_interval=float(os.environ.get("REFRESH_INTERVAL", "0.2")),
        metrics_interval=1,
        request_timeout=2,
    )
    ready_at_start = client.is_ready()
    client.initialize_client(fetch_toggles=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda number, frame: stop.set())
    last = None
    while not stop.is_set():
        state = {
            "ready_at_start": ready_at_start,
            "ready": client.is_ready(),
            "enabled": {name: client.is_enabled(name) for name in flags},
        }
        if state != last:
            print(json.dumps(state), flush=True)
            last = state
        stop.wait(0.05)
    client.destroy()


if __name__ == "__main__":
    main()
