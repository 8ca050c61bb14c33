"""``UNLEASH_*`` settings of ``app.config`` turned into ``UnleashClient`` keyword arguments."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

DEFAULT_SESSION_KEY = "unleash_session_id"

# app.config key -> UnleashClient keyword.
_CLIENT_KEYWORDS: dict[str, str] = {
    "UNLEASH_URL": "url",
    "UNLEASH_APP_NAME": "app_name",
    "UNLEASH_ENVIRONMENT": "environment",
    "UNLEASH_INSTANCE_ID": "instance_id",
    "UNLEASH_REFRESH_INTERVAL": "refresh_interval",
    "UNLEASH_METRICS_INTERVAL": "metrics_interval",
    "UNLEASH_DISABLE_METRICS": "disable_metrics",
    "UNLEASH_DISABLE_REGISTRATION": "disable_registration",
    "UNLEASH_CACHE_DIRECTORY": "cache_directory",
    "UNLEASH_BOOTSTRAP": "bootstrap",
    "UNLEASH_CUSTOM_STRATEGIES": "custom_strategies",
    "UNLEASH_PROJECT_NAME": "project_name",
    "UNLEASH_USE_REQUEST_CONTEXT": "use_request_context",
}
#: Every ``app.config`` key the extension reads (others starting with ``UNLEASH_`` are
#: reported as likely typos).
CONFIG_KEYS = frozenset(
    {*_CLIENT_KEYWORDS, "UNLEASH_API_TOKEN", "UNLEASH_CLIENT_KWARGS", "UNLEASH_SESSION_KEY"}
)


def unknown_keys(config: Mapping[str, Any]) -> list[str]:
    """The ``UNLEASH_*`` keys of ``config`` the extension does not read, sorted."""
    return sorted(key for key in config if key.startswith("UNLEASH_") and key not in CONFIG_KEYS)


def client_options(config: Mapping[str, Any], default_app_name: str) -> dict[str, Any]:
    """The ``UnleashClient`` keyword arguments ``app.config`` asks for (see docs/flask.md).

    Unset keys (absent or None) keep the client's defaults; ``UNLEASH_URL`` defaults to ""
    (offline) and ``UNLEASH_APP_NAME`` to the Flask app's name. Raises ``ValueError`` for
    unusable values and for a keyword set both by its own key and in ``UNLEASH_CLIENT_KWARGS``.
    """
    options: dict[str, Any] = {"url": "", "app_name": default_app_name}
    for key, keyword in _CLIENT_KEYWORDS.items():
        value = config.get(key)
        if value is not None:
            options[keyword] = _convert(key, keyword, value)
    extra = config.get("UNLEASH_CLIENT_KWARGS") or {}
    if not isinstance(extra, Mapping):
        raise TypeError("UNLEASH_CLIENT_KWARGS must be a dict of UnleashClient keyword arguments")
    for keyword in extra:
        for key, own_keyword in _CLIENT_KEYWORDS.items():
            if own_keyword == keyword and config.get(key) is not None:
                raise ValueError(
                    f"{key} and UNLEASH_CLIENT_KWARGS[{keyword!r}] are both set; keep one"
                )
    options.update(extra)
    token = config.get("UNLEASH_API_TOKEN")
    if token:
        headers = dict(options.get("custom_headers") or {})
        if any(name.lower() == "authorization" for name in headers):
            raise ValueError(
                "UNLEASH_API_TOKEN and an Authorization header in UNLEASH_CLIENT_KWARGS"
                "['custom_headers'] are both set; keep one"
            )
        headers["Authorization"] = str(token)
        options["custom_headers"] = headers
    return options


def _convert(key: str, keyword: str, value: Any) -> Any:
    if keyword in ("refresh_interval", "metrics_interval"):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be a number of seconds, not {value!r}") from None
    if keyword in ("disable_metrics", "disable_registration", "use_request_context"):
        return _as_bool(key, value)
    if keyword == "bootstrap":
        if not isinstance(value, (Mapping, str, bytes, os.PathLike)):
            raise TypeError(f"{key} must be a dict, a JSON string or a file path")
        return value
    if keyword == "custom_strategies":
        if not isinstance(value, Mapping):
            raise TypeError(f"{key} must be a dict of strategy name -> strategy object")
        return value
    return str(value)


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{key} must be true or false, not {value!r}")
