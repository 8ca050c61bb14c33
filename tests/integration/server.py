"""Start and stop the throwaway Unleash server used by the integration tests.

The real work is done by ``scripts/unleash-server``; this module only runs it and
parses its JSON. Set ``UNLEASH_URL`` (the ``/api`` URL), ``UNLEASH_ADMIN_TOKEN``
and ``UNLEASH_CLIENT_TOKEN`` to use an existing server instead: then nothing is
started or stopped.

``scripts/unleash-server`` can run each of SERVER_VERSIONS; the suite runs every
test on each (see conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "unleash-server"
# A cold start includes `npm install` (about half a minute on a warm npm cache).
START_TIMEOUT_S = 600
STOP_TIMEOUT_S = 60
# scripts/unleash-server exits with this when node/npm or PostgreSQL are missing.
EXIT_MISSING_PREREQUISITE = 3

# The unleash-server versions the suite runs against (scripts/unleash-server SERVER_NODE).
SERVER_VERSIONS = ("7.5.1", "8.2.0")

EXISTING_SERVER_ENV = ("UNLEASH_URL", "UNLEASH_ADMIN_TOKEN", "UNLEASH_CLIENT_TOKEN")


class ServerStartError(RuntimeError):
    """scripts/unleash-server could not start a server."""

    def __init__(self, message: str, missing_prerequisite: bool = False) -> None:
        super().__init__(message)
        self.missing_prerequisite = missing_prerequisite


@dataclass(frozen=True)
class UnleashServer:
    """Where the server is and how to talk to it."""

    url: str  # e.g. http://127.0.0.1:4242
    api_url: str  # url + "/api"
    admin_token: str
    client_token: str  # a backend token for the "development" environment
    state_dir: str | None = None  # None for a server we did not start
    # True when scripts/unleash-server sped up Unleash's background jobs (metrics,
    # registrations, revision polling); None when unknown (an existing server).
    fast_jobs: bool | None = None
    # The unleash-server version started (e.g. "8.2.0"); None for an existing server.
    version: str | None = None

    @property
    def started_here(self) -> bool:
        return self.state_dir is not None

    @property
    def major(self) -> int | None:
        """The major version of a server we started (None for an existing one)."""
        return int(self.version.split(".")[0]) if self.version else None


def existing_server_from_env() -> UnleashServer | None:
    """The server named by UNLEASH_URL & co, or None if those are not all set."""
    values = [os.environ.get(name, "") for name in EXISTING_SERVER_ENV]
    if not any(values):
        return None
    missing = [name for name, value in zip(EXISTING_SERVER_ENV, values, strict=True) if not value]
    if missing:
        raise ServerStartError(f"set all of {', '.join(EXISTING_SERVER_ENV)}; missing {missing}")
    api_url, admin_token, client_token = values
    api_url = api_url.rstrip("/")
    base_url = api_url.removesuffix("/api")
    return UnleashServer(base_url, api_url, admin_token, client_token)


def start_server(version: str = SERVER_VERSIONS[0]) -> UnleashServer:
    """Run ``scripts/unleash-server start --version VERSION`` and describe the server."""
    try:
        result = subprocess.run(
            # --no-record: a `scripts/unleash-server stop` run by hand (no --state-dir,
            # so "the last started") must not stop a server a test run is using.
            [sys.executable, str(SCRIPT), "start", "--version", version, "--no-record"],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ServerStartError(
            f"scripts/unleash-server start did not finish in {START_TIMEOUT_S}s: {error.stderr!r}"
        ) from error
    if result.returncode != 0:
        raise ServerStartError(
            f"scripts/unleash-server start exited with {result.returncode}:\n"
            f"{result.stderr.strip()}",
            missing_prerequisite=result.returncode == EXIT_MISSING_PREREQUISITE,
        )
    description = json.loads(result.stdout.strip().splitlines()[-1])
    return UnleashServer(
        url=description["url"],
        api_url=description["api_url"],
        admin_token=description["admin_token"],
        client_token=description["client_token"],
        state_dir=description["state_dir"],
        fast_jobs=description.get("fast_jobs"),
        version=description["unleash_version"],
    )


def _run_script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def stop_node(server: UnleashServer) -> None:
    """Kill the server's Unleash process (an outage); PostgreSQL and the data stay.

    Only for a server started by start_server().
    """
    if not server.started_here:
        raise ServerStartError("cannot stop a server this suite did not start")
    result = _run_script("stop-node", "--state-dir", str(server.state_dir), timeout=STOP_TIMEOUT_S)
    if result.returncode != 0:
        raise ServerStartError(f"stop-node exited with {result.returncode}: {result.stderr}")


def start_node(server: UnleashServer) -> None:
    """Restart Unleash after stop_node(): same URL, port, data and tokens."""
    if not server.started_here:
        raise ServerStartError("cannot restart a server this suite did not start")
    result = _run_script(
        "start-node", "--state-dir", str(server.state_dir), timeout=START_TIMEOUT_S
    )
    if result.returncode != 0:
        raise ServerStartError(f"start-node exited with {result.returncode}: {result.stderr}")


def stop_server(server: UnleashServer, keep_logs: bool = False) -> None:
    """Stop a server started by start_server(); a no-op for an existing one."""
    if not server.started_here:
        return
    command = [sys.executable, str(SCRIPT), "stop", "--state-dir", str(server.state_dir)]
    if keep_logs:
        command.append("--keep-logs")
    subprocess.run(command, check=True, timeout=STOP_TIMEOUT_S, stdin=subprocess.DEVNULL)
