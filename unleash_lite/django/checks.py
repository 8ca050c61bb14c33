"""System checks (``manage.py check``, and before ``runserver``, ``migrate``, ``test``...):
``settings.UNLEASH`` usable, the middleware installed, and in an order where it can see the
session and the user."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured

from .settings import read_settings

MIDDLEWARE_PATHS = (
    "unleash_lite.django.middleware.UnleashMiddleware",
    "unleash_lite.django.UnleashMiddleware",
)
SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``unleash.E001``: ``settings.UNLEASH`` is missing or unusable."""
    try:
        read_settings()
    except ImproperlyConfigured as error:
        return [
            Error(
                str(error),
                hint="See docs/django.md for the keys of settings.UNLEASH.",
                id="unleash.E001",
            )
        ]
    return []


def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``unleash.W001``: the middleware is missing; ``W002``: it runs before the session or
    authentication middleware; ``W003``/``W004``: the context cannot get its ``sessionId``
    or ``userId`` because the middleware providing them is missing."""
    middleware = [str(path) for path in getattr(settings, "MIDDLEWARE", None) or []]
    ours = [index for index, path in enumerate(middleware) if path in MIDDLEWARE_PATHS]
    if not ours:
        return [
            Warning(
                "UnleashMiddleware is not in settings.MIDDLEWARE: request.unleash is made on "
                "demand, but the request context variable is never set, so code that calls "
                "the client without a context gets no user.",
                hint=f'Add "{MIDDLEWARE_PATHS[0]}" after the session and authentication '
                "middleware.",
                id="unleash.W001",
            )
        ]
    messages: list[CheckMessage] = []
    try:
        options = read_settings().options
    except ImproperlyConfigured:
        return []  # unleash.E001 says why
    needed = []
    if options.session_key:
        needed.append((SESSION_MIDDLEWARE, "sessionId", "unleash.W003"))
    if options.user_id is None:
        needed.append((AUTH_MIDDLEWARE, "userId", "unleash.W004"))
    for path, field, missing_id in needed:
        if path not in middleware:
            messages.append(
                Warning(
                    f"{path} is not in settings.MIDDLEWARE: the Unleash context has no {field}.",
                    hint=(
                        'Add it, or set settings.UNLEASH["session_key"] = None to go without.'
                        if field == "sessionId"
                        else 'Add it, or set settings.UNLEASH["user_id"] to a function of the '
                        "request."
                    ),
                    id=missing_id,
                )
            )
        elif middleware.index(path) > ours[0]:
            messages.append(
                Warning(
                    f"UnleashMiddleware comes before {path} in settings.MIDDLEWARE: "
                    f"the request's {field} is not known yet when the context is built.",
                    hint=f"Move {MIDDLEWARE_PATHS[0]} after it.",
                    id="unleash.W002",
                )
            )
    return messages
