"""Where the flags of a command come from: a file, stdin, a server or the bundled
example; and reading those safely (the token is never shown)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .. import PayloadError, payload_format, validate
from ..cache import MemoryCache
from ..client import UnleashClient
from .errors import EXIT_FILE, EXIT_NETWORK, CliError

EXAMPLE_FLAGS = "flags.json"
APP_NAME = "unleash-lite-cli"
TOKEN_VARIABLE = "UNLEASH_API_TOKEN"
DEFAULT_TIMEOUT = 10.0


@contextlib.contextmanager
def flag_source(arguments: argparse.Namespace) -> Iterator[tuple[UnleashClient, str]]:
    """A ready client holding the flags the arguments name, and where they came from."""
    if arguments.url is not None:
        client = fetch_client(
            arguments.url, arguments.token, arguments.project, arguments.timeout or DEFAULT_TIMEOUT
        )
        origin = f"{display_url(arguments.url)}" + (
            f" (project {arguments.project})" if arguments.project else ""
        )
    else:
        if arguments.bootstrap is not None:
            payload = read_json(arguments.bootstrap)
            origin = "stdin" if arguments.bootstrap == "-" else arguments.bootstrap
        else:
            payload = json.loads(bundled_text())
            origin = f"bundled example ({EXAMPLE_FLAGS})"
        client = offline_client(payload, origin)
    try:
        yield client, origin
    finally:
        client.destroy()


def offline_client(payload: Any, origin: str) -> UnleashClient:
    """A client answering from ``payload`` alone; :class:`CliError` when it holds no flags."""
    if payload_format(payload) == "export":
        # validate() says why an admin export is not flags, and what to get instead.
        raise CliError(f"{origin}: {validate(payload)[0].message}", EXIT_FILE, "file")
    client = _offline()
    try:
        client.apply_payload(payload, owned=True)
    except PayloadError as error:
        client.destroy()
        raise CliError(f"{origin} is not a flags payload: {error}", EXIT_FILE, "file") from None
    return client


def flag_counts(payload: Any) -> tuple[int, int]:
    """How many flags and segments a client holds once it applied ``payload`` (a full
    payload, or a delta to no flags); ``(0, 0)`` when it is not a flags payload."""
    if payload_format(payload) not in ("full", "delta"):
        return 0, 0
    client = _offline()
    try:
        client.apply_payload(payload)
        held = client.export_payload()
    except PayloadError:
        return 0, 0
    finally:
        client.destroy()
    return len(held["features"]), len(held["segments"])


def _offline() -> UnleashClient:
    return UnleashClient(url="", app_name=APP_NAME, disable_metrics=True, disable_registration=True)


def fetch_client(url: str, token: str | None, project: str | None, timeout: float) -> UnleashClient:
    """An initialized client holding the flags the server sent; :class:`CliError` with the
    reason (never the token) when it sent none."""
    captured = _CapturedLog()
    logger = logging.getLogger("unleash_lite")
    logger.addHandler(captured)  # the client's log lines, not printed: we print one of ours
    try:
        client = UnleashClient(
            url=url,
            app_name=APP_NAME,
            custom_headers={"Authorization": token} if token else {},
            disable_metrics=True,
            disable_registration=True,
            cache=MemoryCache(),
            request_timeout=timeout,
            project_name=project,
        )
        client.initialize_client()
        if not client.is_ready():
            client.destroy()
            reason = fetch_failure(captured.messages(), timeout)
            message = f"cannot fetch the flags from {display_url(url)}: {reason}"
            raise CliError(redact(message, token), EXIT_NETWORK, "network")
    finally:
        logger.removeHandler(captured)
    return client


class _CapturedLog(logging.Handler):
    """Keeps the client's warnings and errors so the CLI can say what went wrong."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._messages: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self._messages.append(record.getMessage())

    def messages(self) -> list[str]:
        with self._guard:
            return list(self._messages)


def fetch_failure(messages: Sequence[str], timeout: float) -> str:
    """The reason the first fetch failed, from the client's log line about it."""
    for message in reversed(messages):
        _, found, reason = message.partition("flags fetch: ")
        if found:
            reason = re.split(r"; (?:retrying every|backing off|keeping the last good)", reason)[0]
            unavailable = re.fullmatch(r"server unavailable \(((?:connection|timed).*)\)", reason)
            if unavailable:  # "connection failed (...)" or "timed out" says it all
                reason = unavailable[1]
            return reason.replace(
                "the Authorization header in custom_headers", f"--token or ${TOKEN_VARIABLE}"
            )
    return f"no usable answer within {timeout:g}s"


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` masked."""
    return text.replace(secret, "***") if secret else text


def display_url(url: str) -> str:
    """A URL without any user name or password it holds."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def read_json(path: str) -> Any:
    """The JSON in a file (``-``: stdin); :class:`CliError` when unreadable or not JSON."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(
            f"cannot read {path}: {error.strerror or error}", EXIT_FILE, "file"
        ) from None
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text", EXIT_FILE, "file") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise CliError(f"{path} is not valid JSON: {error}", EXIT_FILE, "file") from None


def bundled_text() -> str:
    return resources.files("unleash_lite.examples").joinpath(EXAMPLE_FLAGS).read_text("utf-8")
