"""The process's one client, created on first use from ``settings.UNLEASH``.

Not in ``AppConfig.ready()``: that runs for every ``manage.py`` command (``migrate``,
``collectstatic``...), which must not start a client. Creation is guarded by a lock, so
concurrent first requests in a threaded server create one client; a forked process (a
gunicorn or uWSGI worker) gets a fresh lock, and a client created before the fork restarts
its background work by itself in the child (see docs/production.md). At interpreter exit the
client's own exit hook sends its last counts (within 2 s).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..client import UnleashClient
from .settings import UnleashSettings, read_settings

LOGGER = logging.getLogger("unleash_lite.django")

_lock = threading.Lock()
_settings: UnleashSettings | None = None
_client: UnleashClient | None = None
_failure_logged = False


def unleash_settings() -> UnleashSettings:
    """``settings.UNLEASH`` read once (again after it changes, e.g. ``override_settings``).
    Raises ``ImproperlyConfigured`` when it is unusable."""
    global _settings
    current = _settings
    if current is None:
        current = _settings = read_settings()
    return current


def get_client() -> UnleashClient:
    """The process's :class:`~unleash_lite.UnleashClient`, created and initialized on first
    call (with a URL, that first call fetches the flags, bounded by ``request_timeout``).
    Raises ``ImproperlyConfigured`` when ``settings.UNLEASH`` is unusable."""
    global _client
    client = _client
    if client is not None:
        return client
    with _lock:
        if _client is None:
            options = unleash_settings().client_options
            try:
                client = UnleashClient(**options)
            except (TypeError, ValueError) as error:
                raise ImproperlyConfigured(f"settings.UNLEASH: {error}") from error
            client.initialize_client()  # offline (url ""): no I/O beyond the bootstrap
            _client = client
        return _client


def client_or_none() -> UnleashClient | None:
    """:func:`get_client`, or ``None`` (logged once as an error) when ``settings.UNLEASH``
    is unusable: what the request helpers, tags and decorators use, so that a flag check
    never raises."""
    global _failure_logged
    try:
        return get_client()
    except ImproperlyConfigured as error:
        if not _failure_logged:
            _failure_logged = True
            LOGGER.error("Unleash is not usable (flags answer their defaults): %s", error)
        return None


def close_client() -> None:
    """Stop the client (background jobs stop, the last counts are sent) and forget it: the
    next use creates a new one. For a gunicorn ``worker_exit`` hook or the end of a test."""
    global _client, _settings, _failure_logged
    with _lock:
        client, _client = _client, None
        _settings = None
        _failure_logged = False
    if client is not None:
        client.destroy()


def settings_changed(*, setting: str, **_: Any) -> None:
    """``setting_changed`` receiver: a new ``settings.UNLEASH`` gets a new client."""
    if setting == "UNLEASH":
        close_client()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # the parent's may have been held by another thread


os.register_at_fork(after_in_child=_after_fork_in_child)
