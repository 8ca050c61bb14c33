"""The ``Unleash`` extension: one client per app, and flag checks that get the current
request's context."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, current_app, g, has_app_context

from .. import Variant
from ..client import UnleashClient
from ..context import LazyContext, merge_contexts, reset_request_context, set_request_context
from .commands import unleash_cli
from .config import (
    CONFIG_KEYS,
    DEFAULT_SESSION_KEY,
    client_options,
    default_cookie_samesite,
    unknown_keys,
)
from .context import ContextProvider, UserIdLoader, automatic_context
from .state import EXTENSION_KEY, UnleashState, state_of
from .templates import add_template_globals

LOGGER = logging.getLogger("unleash_lite.flask")
_G_TOKEN = "_unleash_lite_request_context"  # the token to reset it with, on flask.g

FallbackFunction = Callable[[str, Mapping[str, Any]], bool]


class Unleash:
    """The Flask extension: ``Unleash(app)``, or ``Unleash()`` then ``init_app(app)`` in an
    app factory.

    ``init_app`` builds an :class:`~unleash_lite.UnleashClient` from ``app.config`` (or uses
    ``client`` when given), calls ``initialize_client()`` once and stores both in
    ``app.extensions["unleash"]``. Flag checks made through the extension get a context built
    from the current request: ``userId`` (``user_id_loader``, by default Flask-Login's current
    user), ``sessionId`` (a random id kept in the Flask session), ``remoteAddress``
    (``request.remote_addr``) and whatever the ``@context_provider`` functions add.

    Nothing here raises during request handling because of Unleash: a failing part of the
    context is left out (logged at DEBUG) and the client never raises.
    """

    def __init__(
        self,
        app: Flask | None = None,
        client: UnleashClient | None = None,
        *,
        user_id_loader: UserIdLoader | None = None,
    ) -> None:
        self._app = app
        self._client = client
        self._user_id_loader = user_id_loader
        self._context_providers: list[ContextProvider] = []
        if app is not None:
            self.init_app(app)

    # -- set-up ---------------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        """Create (or adopt) the app's client, initialize it once, and register the Jinja
        globals ``feature_enabled`` / ``feature_variant`` and the ``flask unleash`` commands.

        Raises ``RuntimeError`` when the app already has an Unleash extension, and
        ``ValueError`` / ``TypeError`` for unusable configuration values.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                f"Unleash is already set up on app {app.name!r}; call init_app once per app"
            )
        unknown = unknown_keys(app.config)
        if unknown:
            LOGGER.warning(
                "Unleash: ignoring unknown config keys %s (known: %s)",
                ", ".join(unknown),
                ", ".join(sorted(CONFIG_KEYS)),
            )
        app.config.setdefault("UNLEASH_SESSION_KEY", DEFAULT_SESSION_KEY)
        default_cookie_samesite(app.config)
        client = self._client
        if client is None:
            client = UnleashClient(**client_options(app.config, app.name))
        if not client.is_initialized:
            client.initialize_client()  # no network at all when the URL is empty (offline)
        app.extensions[EXTENSION_KEY] = UnleashState(self, client)
        add_template_globals(app, self)
        app.cli.add_command(unleash_cli)
        app.before_request(self._set_request_context)
        app.teardown_request(self._reset_request_context)

    def _set_request_context(self) -> None:
        """The request's context as the current request context (built on first read), for
        clients with ``use_request_context`` and code that reads it."""
        g.setdefault(_G_TOKEN, set_request_context(LazyContext(self.context)))

    def _reset_request_context(self, _error: BaseException | None) -> None:
        token = g.pop(_G_TOKEN, None)
        if token is not None:
            try:
                reset_request_context(token)
            except ValueError:  # set in another contextvars.Context (a copied one): it ends there
                LOGGER.debug("Unleash: the request context was set elsewhere", exc_info=True)

    def destroy(self, app: Flask | None = None) -> None:
        """Stop the client of ``app`` (default: the current app, else the one given to the
        constructor): background jobs stop and the last metrics are sent.

        Call it when the app is done for good (a gunicorn ``worker_exit`` hook, the end of a
        test); never per request. The client keeps answering from the flags it last had.
        At interpreter exit nothing is needed: the client sends its last metrics by itself.
        """
        state = state_of(app) if app is not None else self._state()
        if state is None:
            raise RuntimeError("Unleash is not set up on this app (call init_app first)")
        state.client.destroy()

    def user_id_loader(self, loader: UserIdLoader) -> UserIdLoader:
        """Decorator: ``loader()`` returns the ``userId`` for the current request, or None.

        Replaces the default (Flask-Login's ``current_user.get_id()`` for authenticated
        users). Exceptions it raises are logged at DEBUG and the context has no ``userId``.
        """
        self._user_id_loader = loader
        return loader

    def context_provider(self, provider: ContextProvider) -> ContextProvider:
        """Decorator: ``provider()`` returns context fields to add to every request's context
        (``{"properties": {"plan": "pro"}}``, ``{"sessionId": ...}``...), or None.

        Providers run in registration order, once per request (the context is cached on
        ``flask.g``); each merges over the automatic fields and the previous providers,
        ``properties`` key by key. A provider that raises is skipped (logged at DEBUG).
        """
        self._context_providers.append(provider)
        return provider

    # -- evaluation -----------------------------------------------------------------------

    @property
    def client(self) -> UnleashClient:
        """The :class:`~unleash_lite.UnleashClient` of the current app (or of the app or
        client given to the constructor, outside an app context)."""
        client = self._client_or_none()
        if client is None:
            raise RuntimeError(
                "Unleash is not set up for this app: call init_app(app), or use it inside "
                "an app context"
            )
        return client

    def context(self, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The context flag checks use now: the automatic one of the current request (or,
        outside a request, of the user id loader and providers), with ``context`` merged over
        it (``properties`` key by key). A new dict, yours to change. Never raises."""
        try:
            automatic = automatic_context(self._user_id_loader, self._context_providers)
        except Exception:  # e.g. flask.g unusable: continue with what the caller gave
            LOGGER.debug("Unleash: building the request context failed", exc_info=True)
            automatic = {}
        if context is not None and not isinstance(context, Mapping):
            LOGGER.debug("Unleash: ignoring a context of type %s", type(context).__name__)
            context = None
        return merge_contexts(automatic, context or {})

    def is_enabled(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None = None,
        fallback_function: FallbackFunction | None = None,
    ) -> bool:
        """``client.is_enabled`` with the request's context (``context`` merged over it).
        Never raises; without a client it answers ``fallback_function`` (else False)."""
        try:
            client = self._client_or_none()
            if client is not None:
                return client.is_enabled(feature_name, self.context(context), fallback_function)
            _log_missing(feature_name)
            if fallback_function is not None:
                return bool(fallback_function(feature_name, dict(context or {})))
        except Exception:
            LOGGER.debug("Unleash: is_enabled(%r) failed", feature_name, exc_info=True)
        return False

    def get_variant(self, feature_name: str, context: Mapping[str, Any] | None = None) -> Variant:
        """``client.get_variant`` with the request's context (``context`` merged over it).
        Never raises; without a client it answers the ``disabled`` variant."""
        try:
            client = self._client_or_none()
            if client is not None:
                return client.get_variant(feature_name, self.context(context))
            _log_missing(feature_name)
        except Exception:
            LOGGER.debug("Unleash: get_variant(%r) failed", feature_name, exc_info=True)
        return {"name": "disabled", "enabled": False, "feature_enabled": False}

    # -- internals ------------------------------------------------------------------------

    def _state(self) -> UnleashState | None:
        if has_app_context():
            return state_of(current_app)
        if self._app is not None:
            return state_of(self._app)
        return None

    def _client_or_none(self) -> UnleashClient | None:
        state = self._state()
        if state is not None:
            return state.client
        if not has_app_context():
            return self._client
        return None


def _log_missing(feature_name: str) -> None:
    LOGGER.warning(
        "Unleash is not set up for this app (call init_app); %r answers its default",
        feature_name,
    )
