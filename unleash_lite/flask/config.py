"""``UNLEASH_*`` settings of ``app.config`` turned into ``UnleashClient`` keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from ..config import SETTINGS_KEYWORDS, settings_client_options

DEFAULT_SESSION_KEY = "unleash_session_id"

#: Every ``app.config`` key the extension reads (others starting with ``UNLEASH_`` are
#: reported as likely typos).
CONFIG_KEYS = frozenset(
    {*SETTINGS_KEYWORDS, "UNLEASH_API_TOKEN", "UNLEASH_CLIENT_KWARGS", "UNLEASH_SESSION_KEY"}
)


def session_key(config: Mapping[str, Any]) -> str | None:
    """The Flask session key of the sticky ``sessionId``, or None when the app turned it off
    (``UNLEASH_SESSION_KEY`` set to None or "")."""
    key = config.get("UNLEASH_SESSION_KEY", DEFAULT_SESSION_KEY)
    return str(key) if key else None


def default_cookie_samesite(config: MutableMapping[str, Any]) -> None:
    """Make the session cookie ``SameSite=Lax`` when the app keeps a sticky ``sessionId``
    and left ``SESSION_COOKIE_SAMESITE`` at Flask's default (None: no attribute). The
    extension may be what starts a visitor's session (on the first flag check, signed in
    or not); Lax is what Chromium browsers assume for a cookie without the attribute. An
    app's own choice ("Strict", "Lax", or "None" for cross-site flows) is kept."""
    if session_key(config) is not None and config.get("SESSION_COOKIE_SAMESITE") is None:
        config["SESSION_COOKIE_SAMESITE"] = "Lax"


def unknown_keys(config: Mapping[str, Any]) -> list[str]:
    """The ``UNLEASH_*`` keys of ``config`` the extension does not read, sorted."""
    return sorted(key for key in config if key.startswith("UNLEASH_") and key not in CONFIG_KEYS)


def client_options(config: Mapping[str, Any], default_app_name: str) -> dict[str, Any]:
    """The ``UnleashClient`` keyword arguments ``app.config`` asks for (see docs/flask.md and
    :func:`unleash_lite.config.settings_client_options`)."""
    return settings_client_options(config, default_app_name)
