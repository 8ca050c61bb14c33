"""``settings.UNLEASH``: the client's keyword arguments and the integration's own keys, read
and checked in one place (the system checks, the middleware and the client all call
:func:`read_settings`)."""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..client import UnleashClient

SETTING = "UNLEASH"
DEFAULT_SESSION_KEY = "unleash_session_id"

#: Every ``UnleashClient`` keyword: each may be a key of ``settings.UNLEASH``.
CLIENT_KEYWORDS = frozenset(
    name for name in inspect.signature(UnleashClient.__init__).parameters if name != "self"
)
#: The integration's own keys of ``settings.UNLEASH`` (see docs/django.md).
OWN_KEYS = frozenset(
    {"api_token", "session_key", "user_id", "context_providers", "trusted_proxy_count"}
)

RequestFunction = Callable[[Any], Any]


@dataclass(frozen=True)
class DjangoOptions:
    """How the integration builds each request's context."""

    session_key: str | None = DEFAULT_SESSION_KEY
    user_id: RequestFunction | None = None  # request -> user id; None: request.user's pk
    context_providers: tuple[RequestFunction, ...] = ()  # request -> mapping of fields
    trusted_proxy_count: int = 0  # X-Forwarded-For entries written by your own proxies


@dataclass(frozen=True)
class UnleashSettings:
    """``settings.UNLEASH`` read: the client's keyword arguments and the options."""

    client_options: dict[str, Any]
    options: DjangoOptions


def read_settings() -> UnleashSettings:
    """``settings.UNLEASH`` read and checked. Raises ``ImproperlyConfigured`` naming the key
    for a missing or unusable setting and for unknown keys (the client's own keywords are
    checked again, by the client, when it is created)."""
    value = getattr(settings, SETTING, None)
    if value is None:
        raise ImproperlyConfigured(
            "settings.UNLEASH is missing: set it to a dict of UnleashClient keyword arguments, "
            'e.g. UNLEASH = {"url": "https://unleash.example.com/api", "app_name": "shop", '
            '"api_token": os.environ["UNLEASH_API_TOKEN"]}'
        )
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(f"settings.UNLEASH must be a dict, not {type(value).__name__}")
    for key in value:
        if key not in CLIENT_KEYWORDS and key not in OWN_KEYS:
            raise ImproperlyConfigured(_unknown_key_message(key))
    client_options = {key: item for key, item in value.items() if key in CLIENT_KEYWORDS}
    client_options.setdefault("url", "")
    client_options.setdefault("app_name", _default_app_name())
    for key in ("url", "app_name"):
        if not isinstance(client_options[key], str):
            raise ImproperlyConfigured(f'settings.UNLEASH["{key}"] must be a string')
    token = value.get("api_token")
    if token is not None:
        if not isinstance(token, str) or not token:
            raise ImproperlyConfigured('settings.UNLEASH["api_token"] must be a non-empty string')
        headers = dict(client_options.get("custom_headers") or {})
        if any(str(name).lower() == "authorization" for name in headers):
            raise ImproperlyConfigured(
                'settings.UNLEASH has both "api_token" and an Authorization header in '
                '"custom_headers"; keep one'
            )
        headers["Authorization"] = token
        client_options["custom_headers"] = headers
    return UnleashSettings(client_options, _options(value))


def _options(value: Mapping[str, Any]) -> DjangoOptions:
    session_key = value.get("session_key", DEFAULT_SESSION_KEY)
    if session_key is not None and not isinstance(session_key, str):
        raise ImproperlyConfigured('settings.UNLEASH["session_key"] must be a string or None')
    proxies = value.get("trusted_proxy_count", 0)
    if isinstance(proxies, bool) or not isinstance(proxies, int) or proxies < 0:
        raise ImproperlyConfigured(
            'settings.UNLEASH["trusted_proxy_count"] must be a whole number >= 0: how many '
            "proxies of yours add to X-Forwarded-For (0: use the connection's address)"
        )
    user_id = value.get("user_id")
    providers = value.get("context_providers") or ()
    if isinstance(providers, (str, bytes)) or not isinstance(providers, Sequence):
        raise ImproperlyConfigured(
            'settings.UNLEASH["context_providers"] must be a list of functions or dotted paths'
        )
    return DjangoOptions(
        session_key=session_key or None,
        user_id=None if user_id is None else _function("user_id", user_id),
        context_providers=tuple(_function("context_providers", item) for item in providers),
        trusted_proxy_count=proxies,
    )


def _function(key: str, value: Any) -> RequestFunction:
    """A function of the request given as itself or as a dotted path."""
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as error:
            raise ImproperlyConfigured(
                f'settings.UNLEASH["{key}"]: cannot import {value!r} ({error})'
            ) from None
    if not callable(value):
        raise ImproperlyConfigured(
            f'settings.UNLEASH["{key}"] must be a function of the request or its dotted path, '
            f"not {value!r}"
        )
    function: RequestFunction = value
    return function


def _unknown_key_message(key: Any) -> str:
    known = sorted(CLIENT_KEYWORDS | OWN_KEYS)
    guesses = difflib.get_close_matches(str(key), known, n=3)
    hint = f"; did you mean {', '.join(map(repr, guesses))}?" if guesses else ""
    return (
        f"settings.UNLEASH has an unknown key {key!r}{hint} (known: the UnleashClient "
        f"keywords and {', '.join(sorted(OWN_KEYS))})"
    )


def _default_app_name() -> str:
    """The project's package (``shop`` for ``shop.settings``), else ``django``."""
    module = getattr(settings, "SETTINGS_MODULE", None) or os.environ.get(
        "DJANGO_SETTINGS_MODULE", ""
    )
    return module.partition(".")[0] or "django"
