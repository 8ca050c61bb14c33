"""``UNLEASH_*`` settings of ``app.config`` turned into ``UnleashClient`` keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import SETTINGS_KEYWORDS, settings_client_options

DEFAULT_SESSION_KEY = "unleash_session_id"

#: Every ``app.config`` key the extension reads (others starting with ``UNLEASH_`` are
#: reported as likely typos).
CONFIG_KEYS = frozenset(
    {*SETTINGS_KEYWORDS, "UNLEASH_API_TOKEN", "UNLEASH_CLIENT_KWARGS", "UNLEASH_SESSION_KEY"}
)


def unknown_keys(config: Mapping[str, Any]) -> list[str]:
    """The ``UNLEASH_*`` keys of ``config`` the extension does not read, sorted."""
    return sorted(key for key in config if key.startswith("UNLEASH_") and key not in CONFIG_KEYS)


def client_options(config: Mapping[str, Any], default_app_name: str) -> dict[str, Any]:
    """The ``UnleashClient`` keyword arguments ``app.config`` asks for (see docs/flask.md and
    :func:`unleash_lite.config.settings_client_options`)."""
    return settings_client_options(config, default_app_name)
