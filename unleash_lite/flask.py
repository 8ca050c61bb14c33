"""Flask integration: one client per app, a context built from each request, a view
decorator, Jinja globals, an opt-in status endpoint and ``flask unleash`` commands.

::

    from flask import Flask
    from unleash_lite.flask import Unleash, feature_required

    app = Flask(__name__)
    app.config.update(UNLEASH_URL="https://unleash.example.com/api", UNLEASH_API_TOKEN="...")
    unleash = Unleash(app)

    @app.get("/beta")
    @feature_required("beta-page")
    def beta() -> str:
        return "beta"

Install with ``pip install 'unleash-lite[flask]'``. See ``docs/flask.md``.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

try:
    import click
    from flask import (
        Blueprint,
        Flask,
        Response,
        abort,
        current_app,
        g,
        has_app_context,
        has_request_context,
        jsonify,
        redirect,
        request,
        session,
        url_for,
    )
    from flask.cli import AppGroup
    from werkzeug.exceptions import default_exceptions
    from werkzeug.wrappers import Response as BaseResponse
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "unleash_lite.flask needs Flask: pip install 'unleash-lite[flask]'"
    ) from error

from . import Context, UnleashClient

__all__ = [
    "CONFIG_KEYS",
    "DEFAULT_SESSION_KEY",
    "EXTENSION_KEY",
    "Unleash",
    "UnleashState",
    "client_options",
    "feature_required",
    "merge_contexts",
    "status_blueprint",
    "unleash_cli",
]

LOGGER = logging.getLogger("unleash_lite.flask")

EXTENSION_KEY = "unleash"  # app.extensions[EXTENSION_KEY] is the app's UnleashState
DEFAULT_SESSION_KEY = "unleash_session_id"
_G_CONTEXT = "_unleash_lite_context"  # the request's automatic context, cached on flask.g

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
}
#: Every ``app.config`` key the extension reads (others starting with ``UNLEASH_`` are
#: reported as likely typos).
CONFIG_KEYS = frozenset(
    {*_CLIENT_KEYWORDS, "UNLEASH_API_TOKEN", "UNLEASH_CLIENT_KWARGS", "UNLEASH_SESSION_KEY"}
)

ContextProvider = Callable[[], Mapping[str, Any] | None]
UserIdLoader = Callable[[], Any]
FallbackFunction = Callable[[str, Mapping[str, Any]], bool]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class UnleashState:
    """What ``app.extensions["unleash"]`` holds for an app: its client and its extension."""

    extension: Unleash
    client: UnleashClient


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
        unknown = sorted(
            key for key in app.config if key.startswith("UNLEASH_") and key not in CONFIG_KEYS
        )
        if unknown:
            LOGGER.warning(
                "Unleash: ignoring unknown config keys %s (known: %s)",
                ", ".join(unknown),
                ", ".join(sorted(CONFIG_KEYS)),
            )
        app.config.setdefault("UNLEASH_SESSION_KEY", DEFAULT_SESSION_KEY)
        client = self._client
        if client is None:
            client = UnleashClient(**client_options(app.config, app.name))
        if not client.is_initialized:
            client.initialize_client()  # no network at all when the URL is empty (offline)
        app.extensions[EXTENSION_KEY] = UnleashState(self, client)
        app.add_template_global(self._template_enabled, "feature_enabled")
        app.add_template_global(self._template_variant, "feature_variant")
        app.cli.add_command(unleash_cli)

    def destroy(self, app: Flask | None = None) -> None:
        """Stop the client of ``app`` (default: the current app, else the one given to the
        constructor): background jobs stop and the last metrics are sent.

        Call it when the app is done for good (a gunicorn ``worker_exit`` hook, the end of a
        test); never per request. The client keeps answering from the flags it last had.
        At interpreter exit nothing is needed: the client sends its last metrics by itself.
        """
        state = _state_of(app) if app is not None else self._state()
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
            automatic = self._automatic_context()
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

    def get_variant(
        self, feature_name: str, context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
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
            return _state_of(current_app)
        if self._app is not None:
            return _state_of(self._app)
        return None

    def _client_or_none(self) -> UnleashClient | None:
        state = self._state()
        if state is not None:
            return state.client
        if not has_app_context():
            return self._client
        return None

    def _automatic_context(self) -> dict[str, Any]:
        if not has_request_context():
            return self._build_context()  # a CLI command or a job: nothing to cache it on
        cached = g.get(_G_CONTEXT)
        if isinstance(cached, dict):
            return cached
        built = self._build_context()
        setattr(g, _G_CONTEXT, built)
        return built

    def _build_context(self) -> dict[str, Any]:
        context: dict[str, Any] = {}
        try:
            user_id = (self._user_id_loader or _flask_login_user_id)()
            if user_id is not None and user_id != "":
                context["userId"] = str(user_id)
        except Exception:
            LOGGER.debug("Unleash: the user id loader failed; no userId", exc_info=True)
        if has_request_context():
            try:
                session_id = _session_id()
                if session_id:
                    context["sessionId"] = session_id
            except Exception:
                LOGGER.debug("Unleash: no sessionId (the session failed)", exc_info=True)
            try:
                if request.remote_addr:
                    context["remoteAddress"] = request.remote_addr
            except Exception:
                LOGGER.debug("Unleash: no remoteAddress", exc_info=True)
        for provider in self._context_providers:
            try:
                fields = provider()
                if fields is None:
                    continue
                if not isinstance(fields, Mapping):
                    LOGGER.debug(
                        "Unleash: context provider %r returned a %s, not a mapping; skipped",
                        provider,
                        type(fields).__name__,
                    )
                    continue
                context = merge_contexts(context, fields)
            except Exception:
                LOGGER.debug(
                    "Unleash: context provider %r failed; skipped", provider, exc_info=True
                )
        return context

    def _template_enabled(
        self, feature_name: str, context: Mapping[str, Any] | None = None
    ) -> bool:
        return self.is_enabled(feature_name, context)

    def _template_variant(
        self, feature_name: str, context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.get_variant(feature_name, context)


# -- configuration --------------------------------------------------------------------------


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
    if keyword in ("disable_metrics", "disable_registration"):
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


# -- contexts -------------------------------------------------------------------------------


def merge_contexts(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base`` as a new dict; ``properties`` merge key by key."""
    merged = {**base, **extra}
    base_properties, extra_properties = base.get("properties"), extra.get("properties")
    if isinstance(base_properties, Mapping) and isinstance(extra_properties, Mapping):
        merged["properties"] = {**base_properties, **extra_properties}
    elif isinstance(merged.get("properties"), Mapping):
        merged["properties"] = dict(merged["properties"])
    return merged


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
    key = current_app.config.get("UNLEASH_SESSION_KEY", DEFAULT_SESSION_KEY)
    if not key or not current_app.secret_key:
        return None
    value = session.get(key)
    if isinstance(value, str) and value:
        return value
    value = uuid.uuid4().hex
    session[key] = value
    return value


def _state_of(app: Flask) -> UnleashState | None:
    state = app.extensions.get(EXTENSION_KEY)
    return state if isinstance(state, UnleashState) else None


def _log_missing(feature_name: str) -> None:
    LOGGER.warning(
        "Unleash is not set up for this app (call init_app); %r answers its default",
        feature_name,
    )


def _extension() -> Unleash | None:
    state = _state_of(current_app)
    return None if state is None else state.extension


# -- views ----------------------------------------------------------------------------------


def feature_required(
    feature_name: str, status: int = 404, *, redirect_to: str | None = None
) -> Callable[[F], F]:
    """Decorator: the view runs only when ``feature_name`` is on for the current request.

    Otherwise it answers ``abort(status)`` (404 by default: the page does not exist for this
    user), or, with ``redirect_to`` (an endpoint name, as for ``url_for``), a redirect there.
    Uses the app's :class:`Unleash` extension; on an app without one, the view is refused
    (fail closed). Works on sync and async views.
    """
    if status not in default_exceptions:
        raise ValueError(f"feature_required: {status} is not an HTTP error status abort() knows")

    def gate() -> BaseResponse | None:
        extension = _extension()
        if extension is None:
            LOGGER.error(
                "feature_required(%r): Unleash is not set up on this app; refusing the view",
                feature_name,
            )
        elif extension.is_enabled(feature_name):
            return None
        if redirect_to is not None:
            try:
                return redirect(url_for(redirect_to))
            except Exception:
                LOGGER.error(
                    "feature_required(%r): cannot build a URL for %r; answering %d",
                    feature_name,
                    redirect_to,
                    status,
                    exc_info=True,
                )
        abort(status)

    def decorator(view: F) -> F:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_gated(*args: Any, **kwargs: Any) -> Any:
                refusal = gate()
                if refusal is not None:
                    return refusal
                return await view(*args, **kwargs)

            return cast(F, async_gated)

        @functools.wraps(view)
        def gated(*args: Any, **kwargs: Any) -> Any:
            refusal = gate()
            if refusal is not None:
                return refusal
            return view(*args, **kwargs)

        return cast(F, gated)

    return decorator


def status_blueprint(
    *,
    flags: Iterable[str] | None = None,
    authorize: Callable[[], bool] | None = None,
    name: str = "unleash_status",
    url_prefix: str = "/unleash",
) -> Blueprint:
    """A blueprint serving ``GET {url_prefix}/status``: the answers for the current request
    of the flags in ``flags`` (and only those), for a front-end::

        {"flags": {"new-checkout": {"enabled": true, "variant": {"name": ..., "enabled": ...,
                                                              "payload": ...}}}}

    Both arguments are required: ``flags``, the allow-list of names it may reveal, and
    ``authorize``, a function called for each request that returns True to allow it (403
    otherwise; an exception counts as False). Answers are sent with ``Cache-Control:
    no-store``. Raises ``ValueError`` / ``TypeError`` when either is missing or unusable.
    """
    if flags is None or isinstance(flags, (str, bytes)):
        raise ValueError(
            "status_blueprint needs flags=[...]: the allow-list of the flag names it may "
            "reveal to browsers (a list, not a single string)"
        )
    names = list(dict.fromkeys(flags))
    if not names or not all(isinstance(flag, str) and flag for flag in names):
        raise ValueError("status_blueprint needs flags=[...]: a non-empty list of flag names")
    if authorize is None or not callable(authorize):
        raise TypeError(
            "status_blueprint needs authorize=<function returning bool>, called for every "
            "request (e.g. lambda: current_user.is_authenticated); pass lambda: True to make "
            "the endpoint public on purpose"
        )
    allow = authorize
    blueprint = Blueprint(name, __name__, url_prefix=url_prefix)

    @blueprint.get("/status")
    def status() -> Response:
        try:
            allowed = allow() is True
        except Exception:
            LOGGER.warning("Unleash status: the authorize hook raised; refusing", exc_info=True)
            allowed = False
        if not allowed:
            return _no_store(jsonify(error="forbidden"), 403)
        extension = _extension()
        if extension is None:
            LOGGER.error("Unleash status: Unleash is not set up on this app")
            return _no_store(jsonify(error="Unleash is not set up"), 503)
        answers: dict[str, Any] = {}
        for flag in names:
            variant = extension.get_variant(flag)  # one evaluation, counted once
            shown = {"name": variant.get("name"), "enabled": bool(variant.get("enabled"))}
            if "payload" in variant:
                shown["payload"] = variant["payload"]
            answers[flag] = {"enabled": bool(variant.get("feature_enabled")), "variant": shown}
        return _no_store(jsonify(flags=answers), 200)

    return blueprint


def _no_store(response: Response, status: int) -> Response:
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Cookie")
    return response


# -- command line ---------------------------------------------------------------------------

unleash_cli = AppGroup("unleash", help="Inspect the Unleash flags of this app.")


def _cli_client() -> UnleashClient:
    state = _state_of(current_app)
    if state is None:
        raise click.ClickException("Unleash is not set up on this app (call init_app)")
    if not state.client.is_ready():
        click.echo(
            "warning: the client holds no flags (no answer from the server, no bootstrap, "
            "no cache); every flag is unknown",
            err=True,
        )
    return state.client


@unleash_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(as_json: bool) -> None:
    """List the flags the client knows, with type, project and whether each is on for an
    empty context (exit status 1 when the client holds no flags at all)."""
    client = _cli_client()
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "type": definition.get("type"),
            "project": definition.get("project"),
            "enabled": client.explain(name, {}).enabled,  # explain() is not counted in metrics
        }
        for name, definition in sorted(client.feature_definitions().items())
    ]
    if as_json:
        click.echo(json.dumps({"flags": rows}, indent=2))
    elif not rows:
        click.echo("no flags")
    else:
        _print_table(rows)
    if not client.is_ready():
        click.get_current_context().exit(1)


def _print_table(rows: list[dict[str, Any]]) -> None:
    table: list[tuple[str, ...]] = [("NAME", "TYPE", "PROJECT", "EMPTY CONTEXT")] + [
        (row["name"], str(row["type"]), str(row["project"]), "on" if row["enabled"] else "off")
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
    for line in table:
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


def _properties(values: tuple[str, ...]) -> dict[str, str]:
    properties: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--prop")
        properties[key] = text
    return properties


@unleash_cli.command("eval")
@click.argument("flag")
@click.option("--user", "user_id", help="userId of the context.")
@click.option("--session", "session_id", help="sessionId of the context.")
@click.option(
    "--prop", "props", multiple=True, metavar="KEY=VALUE", help="A context property (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def eval_command(
    flag: str, user_id: str | None, session_id: str | None, props: tuple[str, ...], as_json: bool
) -> None:
    """Evaluate FLAG for a context and say why it is on or off (exit status 1 when FLAG is
    unknown)."""
    context = Context(user_id=user_id, session_id=session_id, properties=_properties(props))
    client = _cli_client()
    result = client.explain(flag, context)
    unknown = flag not in client.feature_definitions()
    if as_json:
        answer = {
            "flag": flag,
            "enabled": result.enabled,
            "variant": result.variant,
            "reason": str(result.reason),
            "message": result.message,
            "context": dict(context),
        }
        click.echo(json.dumps(answer, indent=2, default=str))
    else:
        variant = result.variant
        click.echo(f"{flag}: {'on' if result.enabled else 'off'}")
        click.echo(f"reason: {result.reason} ({result.message})")
        variant_text = str(variant.get("name"))
        if "payload" in variant:
            variant_text += f" (payload: {json.dumps(variant['payload'], default=str)})"
        click.echo(f"variant: {variant_text}")
        click.echo(f"context: {json.dumps(dict(context), default=str)}")
    if unknown:
        click.get_current_context().exit(1)
