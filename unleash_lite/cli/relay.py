"""``unleash-lite relay``: one process polling Unleash for a fleet of readers, keeping the
flags in Redis (docs/fleet.md).

The polling is an :class:`~unleash_lite.UnleashClient`'s own (ETag, backoff, refused
payloads, one log line per change of state), with a :class:`~unleash_lite.redis.RedisCache`
as its cache: every new payload is written to Redis with its ETag as one value. Between
polls the relay writes the flags again when Redis lost them (a restart) and renews their
TTL. A restarted relay starts from what Redis holds and polls with its ETag.

``--health-port`` serves ``GET /healthz``: a JSON status, 503 until Redis first holds the
flags, then 200 (``degraded`` while Unleash or Redis fails: the readers keep answering).
Misconfiguration (no token, a token or URL Unleash rejects, Redis refusing the
credentials) exits non-zero at start; SIGTERM and SIGINT stop it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any
from urllib.parse import urlsplit

from ..client import UnleashClient
from ..config import redact_url
from ..events import UnleashEventType
from ..redis import RedisCache
from .arguments import positive_seconds
from .errors import EXIT_NETWORK, EXIT_OK, EXIT_USAGE, CliError
from .sources import DEFAULT_TIMEOUT, TOKEN_VARIABLE, display_url, redact

LOGGER = logging.getLogger("unleash_lite")

REDIS_VARIABLE = "UNLEASH_REDIS_URL"
DEFAULT_APP_NAME = "unleash-lite-relay"
DEFAULT_INTERVAL = 15.0
REDIS_SCHEMES = ("redis", "rediss", "unix")


class Relay:
    """The running relay: the polling client, its Redis store and the health status."""

    def __init__(self, client: UnleashClient, store: RedisCache) -> None:
        self.client = client
        self.store = store
        self.started = time.time()
        self.last_change: float | None = None  # when a new payload last arrived
        self.redis_holds_flags = False  # at the last check
        self.served = False  # Redis has held the flags at least once
        self.stopping = threading.Event()

    def fetched(self, event: Any) -> None:
        if getattr(event, "event_type", None) is UnleashEventType.FETCHED:
            self.last_change = time.time()

    def status(self) -> dict[str, Any]:
        fetch = self.client.fetch_status
        healthy = self.redis_holds_flags and fetch.state == "ok"
        return {
            "status": "ok" if healthy else "degraded" if self.served else "starting",
            "unleash": {
                "state": "ok" if fetch.state == "ok" else "failing",
                "problem": fetch.problem,
                "last_change": self.last_change,
            },
            "redis": {
                "state": self.store.state,
                "problem": self.store.last_error,
                "holds_flags": self.redis_holds_flags,
                "key": self.store.key,
            },
            "flags": len(self.client.feature_definitions()),
            "uptime": round(time.time() - self.started, 1),
        }

    def run(self, interval: float) -> None:
        """Keep Redis current until :meth:`stop`: write the flags again when it lost them."""
        while not self.stopping.is_set():
            self.redis_holds_flags = self.store.refresh()
            self.served = self.served or self.redis_holds_flags
            self.stopping.wait(interval)

    def stop(self) -> None:
        self.stopping.set()


def run_relay(arguments: argparse.Namespace, out: IO[str]) -> int:
    """``relay``: poll Unleash, keep Redis current, until SIGTERM or SIGINT."""
    _log_to_stderr()
    token = arguments.token
    if not token:
        raise CliError(
            f"a client API token is needed: set ${TOKEN_VARIABLE} (or --token)", EXIT_USAGE, "usage"
        )
    redis_url = arguments.redis_url
    if not redis_url or urlsplit(redis_url).scheme not in REDIS_SCHEMES:
        raise CliError(
            f"a Redis URL is needed (redis://, rediss:// or unix://): set ${REDIS_VARIABLE} "
            "(or --redis-url)",
            EXIT_USAGE,
            "usage",
        )
    try:
        store = RedisCache(
            redis_url,
            app_name=arguments.app_name,
            environment=arguments.environment,
            project=arguments.project,
            token=token,
            namespace=arguments.namespace,
            ttl=arguments.ttl,
        )
    except ValueError as error:  # what redis-py refuses in the URL (a port that is no number)
        message = f"the Redis URL {redact_url(redis_url)} is not usable: {error}"
        raise CliError(message, EXIT_USAGE, "usage") from None
    _check_credentials(store)
    relay_box: list[Relay] = []
    client = UnleashClient(
        url=arguments.url,
        app_name=arguments.app_name,
        environment=arguments.environment,
        custom_headers={"Authorization": token},
        project_name=arguments.project,
        refresh_interval=arguments.interval,
        request_timeout=arguments.timeout or DEFAULT_TIMEOUT,
        disable_metrics=True,  # the relay evaluates no flag
        cache=store,
        event_callback=lambda event: relay_box[0].fetched(event) if relay_box else None,
    )
    relay = Relay(client, store)
    relay_box.append(relay)
    health = None
    try:
        client.initialize_client()
        fetch = client.fetch_status
        if fetch.state == "rejected":
            reason = f"Unleash at {display_url(arguments.url)} refuses the relay: {fetch.problem}"
            raise CliError(redact(reason, token), EXIT_NETWORK, "network")
        if arguments.health_port is not None:
            health = _serve_health(relay, arguments.health_host, arguments.health_port)
        _on_signals(relay.stop)
        LOGGER.info(
            "Unleash relay: polling %s every %gs into Redis %s at %s%s",
            display_url(arguments.url),
            arguments.interval,
            redact_url(redis_url),
            store.key,
            f"; health on http://{arguments.health_host}:{health.server_port}/healthz"
            if health is not None
            else "",
        )
        relay.run(arguments.interval)
        LOGGER.info("Unleash relay: stopping")
    finally:
        if health is not None:
            health.shutdown()
            health.server_close()
        client.destroy()  # the store keeps what Redis holds: the readers use it
    return EXIT_OK


def _check_credentials(store: RedisCache) -> None:
    """Exit now when Redis refuses the credentials; an unreachable Redis is only reported
    (it may come up after the relay) and retried with backoff."""
    import redis

    try:
        store.client.ping()
    except (redis.AuthenticationError, redis.exceptions.NoPermissionError) as error:
        raise CliError(
            f"Redis at {store!r} refuses the credentials: {type(error).__name__}",
            EXIT_USAGE,
            "usage",
        ) from None
    except redis.ResponseError as error:
        if "NOAUTH" in str(error) or "WRONGPASS" in str(error):
            raise CliError(
                f"Redis at {store!r} refuses the credentials", EXIT_USAGE, "usage"
            ) from None
    except redis.RedisError:
        pass  # unreachable: the store logs it on first use and retries


def _serve_health(relay: Relay, host: str, port: int) -> ThreadingHTTPServer:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/healthz", "/health"):
                self.send_error(404)
                return
            status = relay.status()
            body = json.dumps(status).encode()
            self.send_response(200 if status["status"] != "starting" else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per state change, not per probe

    try:
        server = ThreadingHTTPServer((host, port), Health)
    except OSError as error:
        raise CliError(
            f"cannot serve health on {host}:{port}: {error.strerror or error}", EXIT_USAGE, "usage"
        ) from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="unleash-relay-health", daemon=True).start()
    return server


def _on_signals(stop: Callable[[], None]) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, frame: stop())


def _log_to_stderr() -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(handler)
    if LOGGER.getEffectiveLevel() > logging.INFO:
        LOGGER.setLevel(logging.INFO)


def add_relay_options(relay: argparse.ArgumentParser) -> None:
    """The ``relay`` command's options beside the server ones (--url, --token...)."""
    relay.add_argument(
        "--redis-url",
        default=os.environ.get(REDIS_VARIABLE),
        metavar="URL",
        help=f"redis://[:PASSWORD@]HOST:PORT/DB, rediss:// for TLS (default: ${REDIS_VARIABLE}; "
        "prefer the variable, a command-line argument is visible to other users)",
    )
    relay.add_argument(
        "--app-name",
        default=DEFAULT_APP_NAME,
        help="the appName of the readers: part of the Redis key they read "
        f"(default {DEFAULT_APP_NAME})",
    )
    relay.add_argument(
        "--environment",
        default="default",
        help="the environment the readers pass: part of the Redis key (default 'default')",
    )
    relay.add_argument(
        "--namespace", default="unleash-lite", help="the Redis key's first part (unleash-lite)"
    )
    relay.add_argument(
        "--interval",
        type=positive_seconds,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"how often to poll Unleash and check Redis (default {DEFAULT_INTERVAL:g})",
    )
    relay.add_argument(
        "--ttl",
        type=positive_seconds,
        metavar="SECONDS",
        help="let the flags expire from Redis this long after the relay last wrote or "
        "checked them (default: never)",
    )
    relay.add_argument(
        "--health-port", type=int, metavar="PORT", help="serve GET /healthz on this port"
    )
    relay.add_argument(
        "--health-host", default="127.0.0.1", help="the health endpoint's address (127.0.0.1)"
    )
