"""Client configuration: every keyword the official ``UnleashClient`` accepts, plus ours.

:class:`ClientConfig` checks each value when it is built and raises ``TypeError`` or
``ValueError`` naming the keyword, so a misconfigured client fails at start-up instead of
retrying forever or answering defaults.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import math
import numbers
import os
import re
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, TypedDict
from urllib.parse import unquote, urlsplit, urlunsplit

if TYPE_CHECKING:
    from .engine.strategies import CustomStrategy

DEFAULT_REFRESH_INTERVAL = 15
DEFAULT_METRICS_INTERVAL = 60
DEFAULT_REQUEST_TIMEOUT = 30
DEFAULT_REQUEST_RETRIES = 3
# Larger flag payloads (from the server or the disk cache) are refused; the last good flags stay.
DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
API_PATH_SUFFIX = "/api"
MASK = "***"

# Everything after the scheme up to the last "@": the user name and password. A pattern
# rather than urlsplit, so that URLs urlsplit misreads or refuses are masked too: no scheme
# ("user:pw@host/api"), a bad host ("http://u:pw@[::1/api"), an unencoded "/", "?" or "#" in
# the password. A URL with "@" only in its path or query is masked too much, never too little.
_USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?.*@", re.DOTALL)


class InstanceAllowType(Enum):
    """What to do when several clients share one configuration (official SDK option)."""

    BLOCK = 1
    WARN = 2
    SILENTLY_ALLOW = 3


def default_instance_id() -> str:
    """A readable instance id unique to this process: host name plus a random suffix."""
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def redact_url(url: str) -> str:
    """``url`` safe to log or show: a user name and password, every query value and a
    fragment are replaced by ``***`` (``https://***@host/api?token=***``)."""
    shown = _USERINFO.sub(lambda match: f"{match.group(1) or ''}{MASK}@", url, count=1)
    shown, hash_sign, _fragment = shown.partition("#")
    shown, question_mark, query = shown.partition("?")
    if question_mark:
        items = (
            name + "=" + MASK if equals else MASK
            for name, equals, _ in (item.partition("=") for item in query.split("&"))
        )
        shown += "?" + "&".join(items)
    return shown + (f"#{MASK}" if hash_sign else "")


@dataclass(frozen=True)
class ClientConfig:
    """Validated settings of one client (see ``docs/compatibility.md`` for each keyword)."""

    url: str
    app_name: str
    environment: str = "default"
    instance_id: str = field(default_factory=default_instance_id)
    refresh_interval: float = DEFAULT_REFRESH_INTERVAL
    refresh_jitter: float | None = None
    metrics_interval: float = DEFAULT_METRICS_INTERVAL
    metrics_jitter: float | None = None
    disable_metrics: bool = False
    disable_registration: bool = False
    custom_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    custom_options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    request_retries: int = DEFAULT_REQUEST_RETRIES
    cache_directory: str | None = None
    project_name: str | None = None
    verbose_log_level: int = 30
    event_callback: Callable[[Any], None] | None = None
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    # Names an integration built on this SDK (an OpenFeature provider, say); sent to the server
    # with the client's identity so it can count who uses which integration.
    sdk_flavor: str | None = None
    sdk_flavor_version: str | None = None
    # True when the user chose ``instance_id``: only then does it tell two clients apart in
    # the duplicate-client check (the generated default is unique to every client).
    instance_id_given: bool = False
    experimental_mode: Mapping[str, str] | None = None
    use_request_context: bool = False

    def __post_init__(self) -> None:
        mode = check_experimental_mode(self.experimental_mode)
        object.__setattr__(self, "experimental_mode", mode)  # a copy of the caller's dict
        for name in ("app_name", "environment", "instance_id"):
            _check_name(name, getattr(self, name))
        for name in ("project_name", "sdk_flavor", "sdk_flavor_version"):
            if getattr(self, name) is not None:
                _check_name(name, getattr(self, name), "or None")
        check_url(self.url)
        for name in ("refresh_interval", "metrics_interval", "request_timeout"):
            _check_number(name, getattr(self, name), "seconds")
        for name in ("refresh_jitter", "metrics_jitter"):
            if getattr(self, name) is not None:
                _check_number(name, getattr(self, name), "seconds", zero=True)
        _check_number("request_retries", self.request_retries, "retries", whole=True, zero=True)
        _check_number("max_payload_bytes", self.max_payload_bytes, "bytes", whole=True)
        for name in ("disable_metrics", "disable_registration"):
            value = getattr(self, name)
            if isinstance(value, str):  # "false" would count as true
                raise TypeError(f"{name} must be True or False, got {_describe(value)}")

    def __repr__(self) -> str:
        shown = (
            f"{item.name}={self.display_url if item.name == 'url' else getattr(self, item.name)!r}"
            for item in dataclasses.fields(self)
            if item.repr
        )
        return f"ClientConfig({', '.join(shown)})"

    @functools.cached_property
    def api_url(self) -> str:
        """The server's API base URL without a trailing slash, and without the user name
        and password the url may hold (:attr:`url_authorization` carries them)."""
        parts = urlsplit(self.url.rstrip("/"))
        if "@" not in parts.netloc:
            return self.url.rstrip("/")
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

    @functools.cached_property
    def url_authorization(self) -> str:
        """A Basic ``Authorization`` value from the user name and password in the url, for a
        server behind basic authentication; ``""`` when the url has none. Sent only when
        ``custom_headers`` has no Authorization header: a token given there always wins
        (requests would otherwise send the url's or ``~/.netrc``'s credentials instead of it,
        and aiohttp would refuse to send both). A secret: never show it."""
        parts = urlsplit(self.url)
        if parts.username is None and parts.password is None:
            return ""
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

    @property
    def display_url(self) -> str:
        """``url`` for logs, messages and ``repr()``: credentials masked (see
        :func:`redact_url`)."""
        return redact_url(self.url)

    @property
    def streaming(self) -> bool:
        """``experimental_mode={"type": "streaming"}``: flags arrive over server-sent events."""
        return (self.experimental_mode or {}).get("type") == "streaming"

    @property
    def delta_polling(self) -> bool:
        """``experimental_mode={"type": "polling", "format": "delta"}``: polls fetch deltas."""
        mode = self.experimental_mode or {}
        return mode.get("type") == "polling" and mode.get("format") == "delta"

    @property
    def offline(self) -> bool:
        """True when no server URL was given: flags come only from a bootstrap or cache."""
        return not self.url

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header's value (any case of the name), ``""`` without one.
        A secret: digest it, never show it."""
        for name, value in self.custom_headers.items():
            if isinstance(name, str) and name.lower() == "authorization":
                return str(value)
        return ""

    @property
    def sdk_metadata(self) -> dict[str, str]:
        """``sdkFlavor`` and ``sdkFlavorVersion`` for the registration and metrics bodies, each
        only when set (the official SDK sends them there)."""
        shown = {"sdkFlavor": self.sdk_flavor, "sdkFlavorVersion": self.sdk_flavor_version}
        return {key: value for key, value in shown.items() if value is not None}

    @property
    def instance_identifier(self) -> str:
        """What makes two clients duplicates: the same server URL, app name and token (and
        the same ``instance_id`` when the user chose one). Safe to show: URL credentials are
        masked and the token appears only as its ``project:environment`` part and a digest."""
        secrets = f"{self.url}\0{self.authorization}"
        digest = hashlib.sha256(secrets.encode()).hexdigest()[:12]
        shown = (
            f"url={self.display_url} appName={self.app_name} "
            f"apiKey={_token_scope(self.authorization)}#{digest}"
        )
        return f"{shown} instanceId={self.instance_id}" if self.instance_id_given else shown

    def warnings(self) -> list[str]:
        """What looks wrong but may be meant, one message each; the client logs them at
        start-up."""
        if self.offline:
            return []
        found = []
        if not urlsplit(self.api_url).path.endswith(API_PATH_SUFFIX):
            found.append(
                f"Unleash url {self.display_url} does not end with {API_PATH_SUFFIX}: the "
                f"client fetches {redact_url(self.api_url)}/client/features, and Unleash, "
                "Unleash Edge and the Unleash proxies serve the client API under /api "
                "(e.g. https://unleash.example.com/api); check the url if no flags arrive"
            )
        if not self.authorization.strip():
            found.append(
                f"Unleash client for {self.display_url} has no Authorization header in "
                "custom_headers: the server answers 401 unless it runs without "
                "authentication; pass custom_headers={'Authorization': '<client API token>'}"
            )
        return found


class StrategyError(TypeError, ValueError):
    """A ``custom_strategies`` entry that cannot be used. Both a ``TypeError`` (what it is) and
    a ``ValueError`` (what the official SDK raises for a strategy class), so either
    ``except`` catches it."""


def check_custom_strategies(strategies: Any) -> dict[str, CustomStrategy]:
    """``custom_strategies`` as a new dict, after checking that every value is an object
    with a callable ``apply(parameters, context)``; raises :class:`StrategyError` naming it."""
    if strategies is None:
        return {}
    if not isinstance(strategies, Mapping):
        raise StrategyError(
            "custom_strategies must be a dict of strategy name -> object with "
            f"apply(parameters, context), got {_describe(strategies)}"
        )
    for name, strategy in strategies.items():
        if not isinstance(name, str) or not name:
            raise StrategyError(
                f"custom_strategies keys are strategy names (strings), got {name!r}"
            )
        if isinstance(strategy, type):  # the 5.x SDK took classes; 6.x takes instances
            raise StrategyError(
                f"custom_strategies[{name!r}] is the class {strategy.__name__}; pass an "
                f"instance: {{{name!r}: {strategy.__name__}()}}"
            )
        if not callable(getattr(strategy, "apply", None)):
            raise StrategyError(
                f"custom_strategies[{name!r}] must have a method apply(parameters, context) "
                f"-> bool; {_describe(strategy)} has none"
            )
    return dict(strategies)


EXPERIMENTAL_MODES = {"streaming": ("",), "polling": ("", "full", "delta")}


class ExperimentalMode(TypedDict, total=False):
    """The shape of ``experimental_mode``: ``{"type": "streaming"}``, ``{"type": "polling"}``
    or ``{"type": "polling", "format": "delta"}`` (see docs/streaming.md)."""

    type: Literal["streaming", "polling"]
    format: Literal["full", "delta"]


def check_experimental_mode(mode: Any) -> dict[str, str] | None:
    """``experimental_mode`` as a new dict (``None`` stays ``None``: polling), after checking
    it is one of the official SDK's shapes (``{"type": "streaming"}``, ``{"type": "polling"}``)
    or the Node SDK's delta polling (``{"type": "polling", "format": "delta"}``); raises
    ``ValueError`` naming the keyword."""
    if mode is None:
        return None
    shapes = (
        'experimental_mode must be None, {"type": "polling"}, {"type": "streaming"} or '
        '{"type": "polling", "format": "delta"}'
    )
    if not isinstance(mode, Mapping):
        raise ValueError(f"{shapes}; got {_describe(mode)}")
    unknown = sorted(str(key) for key in mode if key not in ("type", "format"))
    if unknown:
        raise ValueError(f"{shapes}; got the unknown key(s) {', '.join(map(repr, unknown))}")
    kind = mode.get("type", "polling")
    formats = EXPERIMENTAL_MODES.get(kind) if isinstance(kind, str) else None
    if formats is None:
        raise ValueError(f"{shapes}; got type {_describe(kind)}")
    fmt = mode.get("format", "")
    if not isinstance(fmt, str) or fmt not in formats:
        raise ValueError(f"{shapes}; got format {_describe(fmt)} with type {kind!r}")
    return dict(mode)


def check_url(url: Any) -> None:
    """Raise ``ValueError`` naming ``url`` unless it is ``""`` (offline) or an http(s) URL
    with a host and no query string or fragment; the message masks credentials."""
    if not isinstance(url, str):
        raise ValueError(
            f"url must be a string (use '' to run offline from a bootstrap), got {_describe(url)}"
        )
    if not url:
        return
    shown = repr(redact_url(url))
    if any(character.isspace() or not character.isprintable() for character in url):
        raise ValueError(
            f"url must not contain spaces or control characters (a stray newline?), got {shown}"
        )
    if "://" not in url:
        raise ValueError(
            "url must start with http:// or https:// (e.g. https://unleash.example.com/api), "
            f"got {shown}"
        )
    try:
        parts = urlsplit(url)
        _ = parts.port  # parsing the port is the check
    except ValueError:  # its message may quote part of a password: not shown
        raise ValueError(f"url has an invalid host or port: {shown}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"url must start with http:// or https://, got {shown}")
    if not parts.hostname:
        raise ValueError(f"url has no host name: {shown}")
    if "?" in url or "#" in url:
        raise ValueError(
            "url must not have a query string or fragment: the client appends paths such as "
            f"/client/features to it (send credentials in custom_headers), got {shown}"
        )


def _token_scope(token: str) -> str:
    """The part of an Unleash API token that is not secret (``project:environment`` before
    the last ``.``), ``***`` for a token of another shape, ``none`` without one."""
    if not token:
        return "none"
    scope, dot, _secret = token.rpartition(".")
    return f"{scope}.***" if dot and ":" in scope and not any(c.isspace() for c in scope) else MASK


def _check_name(name: str, value: Any, alternative: str = "") -> None:
    if not isinstance(value, str) or not value:
        wanted = f"a non-empty string {alternative}".rstrip()
        raise ValueError(f"{name} must be {wanted}, got {_describe(value)}")


def _check_number(
    name: str, value: Any, unit: str, *, whole: bool = False, zero: bool = False
) -> None:
    """Raise ``TypeError`` unless ``value`` is a number (an integer with ``whole``; never a
    bool or a numeric string) and ``ValueError`` unless it is finite and positive (or 0 with
    ``zero``)."""
    kind = numbers.Integral if whole else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        wanted = "a whole number" if whole else "a number"
        hint = ""
        if isinstance(value, str) and _is_numeric(value):
            hint = f"; convert it first, e.g. {'int' if whole else 'float'}(value)"
        raise TypeError(f"{name} must be {wanted} of {unit}, got {_describe(value)}{hint}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        wanted = "zero or more" if zero else "more than zero"
        raise ValueError(f"{name} must be a finite number of {unit}, {wanted}; got {value!r}")


def _is_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _describe(value: Any) -> str:
    """``value`` for an error message: short, with its type when that is the problem."""
    if isinstance(value, str):
        return f"the string {value[:80]!r}"
    if isinstance(value, bool | int | float) or value is None:
        return f"{value!r} ({type(value).__name__})"
    return f"an object of type {type(value).__name__}"


# -- UNLEASH_* settings ---------------------------------------------------------------
# Flask's app.config and the ASGI integration's environment name the client keywords alike.

#: ``UNLEASH_*`` setting -> client keyword (see docs/flask.md and docs/fastapi.md).
SETTINGS_KEYWORDS: dict[str, str] = {
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


def settings_client_options(config: Mapping[str, Any], default_app_name: str) -> dict[str, Any]:
    """The client keyword arguments ``UNLEASH_*`` settings ask for: Flask's ``app.config``
    (docs/flask.md) or the environment (docs/fastapi.md).

    Unset keys (absent or None) keep the client's defaults; ``UNLEASH_URL`` defaults to ""
    (offline) and ``UNLEASH_APP_NAME`` to ``default_app_name``. Raises ``ValueError`` for
    unusable values and for a keyword set both by its own key and in ``UNLEASH_CLIENT_KWARGS``.
    """
    options: dict[str, Any] = {"url": "", "app_name": default_app_name}
    for key, keyword in SETTINGS_KEYWORDS.items():
        value = config.get(key)
        if value is not None:
            options[keyword] = _setting_value(key, keyword, value)
    extra = config.get("UNLEASH_CLIENT_KWARGS") or {}
    if not isinstance(extra, Mapping):
        raise TypeError("UNLEASH_CLIENT_KWARGS must be a dict of UnleashClient keyword arguments")
    for keyword in extra:
        for key, own_keyword in SETTINGS_KEYWORDS.items():
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


def _setting_value(key: str, keyword: str, value: Any) -> Any:
    if keyword in ("refresh_interval", "metrics_interval"):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be a number of seconds, not {value!r}") from None
    if keyword in ("disable_metrics", "disable_registration", "use_request_context"):
        return _setting_bool(key, value)
    if keyword == "bootstrap":
        if not isinstance(value, (Mapping, str, bytes, os.PathLike)):
            raise TypeError(f"{key} must be a dict, a JSON string or a file path")
        return value
    if keyword == "custom_strategies":
        if not isinstance(value, Mapping):
            raise TypeError(f"{key} must be a dict of strategy name -> strategy object")
        return value
    return str(value)


def _setting_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{key} must be true or false, not {value!r}")
