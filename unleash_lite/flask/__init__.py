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

try:
    import click  # noqa: F401  (checked here so a missing extra fails with one clear message)
    import flask  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "unleash_lite.flask needs Flask: pip install 'unleash-lite[flask]'"
    ) from error

from ..context import merge_contexts
from .commands import unleash_cli
from .config import CONFIG_KEYS, DEFAULT_SESSION_KEY, client_options
from .decorators import feature_required
from .extension import Unleash
from .state import EXTENSION_KEY, UnleashState
from .status import status_blueprint

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
