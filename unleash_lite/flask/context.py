"""The evaluation context of the current request: user id, session id, remote address and
the app's context providers, built once per request and cached on ``flask.g``."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flask import Flask, current_app, g, has_request_context, request, session

from ..context import merge_provided, request_fields, sticky_session_id
from .config import session_key

LOGGER = logging.getLogger("unleash_lite.flask")

_G_CONTEXT = "_unleash_lite_context"  # the request's automatic context, cached on flask.g

ContextProvider = Callable[[], Mapping[str, Any] | None]
UserIdLoader = Callable[[], Any]


def automatic_context(
    user_id_loader: UserIdLoader | None, providers: Sequence[ContextProvider]
) -> dict[str, Any]:
    """The automatic context of the current request (built on first use, then cached on
    ``flask.g``); outside a request, built afresh each time."""
    if not has_request_context():
        return build_context(user_id_loader, providers)  # a CLI command or a job: no g
    cached = g.get(_G_CONTEXT)
    if isinstance(cached, dict):
        return cached
    built = build_context(user_id_loader, providers)
    setattr(g, _G_CONTEXT, built)
    return built


def build_context(
    user_id_loader: UserIdLoader | None, providers: Sequence[ContextProvider]
) -> dict[str, Any]:
    """``userId``, ``sessionId`` and ``remoteAddress`` of the current request, with each
    provider's fields merged over them in order. A part that fails is left out."""
    in_request = has_request_context()
    context = request_fields(
        user_id_loader or _flask_login_user_id,
        _session_id if in_request else None,
        (lambda: request.remote_addr) if in_request else None,
        LOGGER,
    )
    return merge_provided(context, providers, LOGGER)


def _flask_login_user_id() -> str | None:
    """The default user id loader: Flask-Login's authenticated ``current_user``, if the app
    uses Flask-Login (has a ``login_manager``)."""
    if not has_request_context() or getattr(current_app, "login_manager", None) is None:
        return None
    from flask_login import current_user

    if not current_user.is_authenticated:
        return None
    user_id = current_user.get_id()
    return None if user_id is None else str(user_id)


def _session_id() -> str | None:
    """A random id kept in the Flask session (made on first use; needs a secret key)."""
    key = session_key(current_app.config)
    if key is None:
        return None
    if not current_app.secret_key:
        _warn_no_secret_key(current_app._get_current_object())  # type: ignore[attr-defined]
        return None
    return sticky_session_id(session, key)


_WARNED_NO_SECRET_KEY: weakref.WeakSet[Flask] = weakref.WeakSet()


def _warn_no_secret_key(app: Flask) -> None:
    """Once per app: sticky sessions are on, but without a secret key there is no session."""
    if app in _WARNED_NO_SECRET_KEY:
        return
    _WARNED_NO_SECRET_KEY.add(app)
    LOGGER.warning(
        "Unleash: app %r has no SECRET_KEY, so flag checks get no sessionId (a visitor "
        "without a userId may get another rollout answer on every request); set "
        "SECRET_KEY, or UNLEASH_SESSION_KEY = None to do without a sessionId",
        app.name,
    )
