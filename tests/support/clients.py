"""The one way tests build an ``UnleashClient`` pointed at a fake server.

``new_client`` gives a client with test defaults: the token header, a cache directory of the
test's own, short timeouts, no retries, and intervals long enough that nothing runs in the
background unless a test asks for it. The ``make_client`` fixture (``tests/conftest.py``)
wraps it in a :class:`ClientFactory` that stops every client it made at the end of the test,
without a final metrics flush. A suite with other defaults overrides the fixture with
``make_client.with_defaults(...)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.doubles import StubScheduler
from tests.support.helpers import stop_without_flush
from tests.support.server import TOKEN
from unleash_lite import UnleashClient

DEFAULTS: dict[str, Any] = {
    "app_name": "test-app",
    "refresh_interval": 30,
    "metrics_interval": 60,
    "request_timeout": 2,
    "request_retries": 0,
}


def new_client(url: str, cache_directory: Path | str | None = None, token: str = TOKEN,
               **options: Any) -> UnleashClient:
    """A client for ``url`` with the test defaults; ``options`` override them. Without a
    ``cache_directory``, pass a ``cache`` (a ``DictCache``): the default directory is the
    user's own."""
    settings = client_settings(cache_directory, token, **options)
    return UnleashClient(url, settings.pop("app_name"), **settings)


def client_settings(cache_directory: Path | str | None = None, token: str = TOKEN,
                  **options: Any) -> dict[str, Any]:
    """The keywords of :func:`new_client` (``app_name`` included), for a client of any kind."""
    settings: dict[str, Any] = {**DEFAULTS, "custom_headers": {"Authorization": token}}
    if cache_directory is not None:
        settings["cache_directory"] = str(cache_directory)
    settings.update(options)
    return settings


class ClientFactory:
    """Builds clients with :func:`new_client` and remembers them, for :meth:`close`."""

    def __init__(self, cache_directory: Path, **defaults: Any) -> None:
        self.cache_directory = cache_directory
        self.defaults = defaults
        self.clients: list[UnleashClient] = []

    def __call__(self, url: str, app_name: str | None = None, **options: Any) -> UnleashClient:
        settings = {**self.defaults, **options}
        if app_name is not None:
            settings["app_name"] = app_name
        cache_directory = settings.pop("cache_directory", self.cache_directory)
        client = new_client(url, cache_directory, **settings)
        self.clients.append(client)
        return client

    def stubbed(self, url: str, app_name: str | None = None,
                **options: Any) -> tuple[UnleashClient, StubScheduler]:
        """A client on a :class:`StubScheduler` (nothing runs unless the test calls it), and
        that scheduler."""
        scheduler = StubScheduler()
        return self(url, app_name, scheduler=scheduler, **options), scheduler

    def with_defaults(self, **defaults: Any) -> ClientFactory:
        """This factory (the same clients, closed together) with other defaults."""
        self.defaults.update(defaults)
        return self

    def close(self) -> None:
        for client in reversed(self.clients):
            stop_without_flush(client)
            client.destroy()
