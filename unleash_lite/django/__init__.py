"""Django integration: one client per process from ``settings.UNLEASH``, created on first
use; a middleware giving each request ``request.unleash`` and the request context variable;
``@flag_required`` and ``FlagRequiredMixin``; the ``{% flag %}`` and ``{% flag_variant %}``
template tags and Jinja2 helpers; ``manage.py unleash``; system checks; and
``override_flag`` for tests.

::

    INSTALLED_APPS = [..., "unleash_lite.django"]
    MIDDLEWARE = [..., "unleash_lite.django.middleware.UnleashMiddleware"]  # after auth
    UNLEASH = {
        "url": "https://unleash.example.com/api",
        "app_name": "shop",
        "api_token": os.environ["UNLEASH_API_TOKEN"],
    }

Install with ``pip install 'unleash-lite[django]'``. See ``docs/django.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

try:
    import django  # noqa: F401  (checked here so a missing extra fails with one clear message)
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "unleash_lite.django needs Django: pip install 'unleash-lite[django]'"
    ) from error

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .flags import RequestFlags, current_flags, flags_for
    from .middleware import UnleashMiddleware
    from .registry import close_client, get_client
    from .settings import DEFAULT_SESSION_KEY
    from .testing import override_flag, override_flags
    from .views import FlagRequiredMixin, flag_required

# Names are imported on first use: INSTALLED_APPS imports this package while the app
# registry is still loading, when nothing heavier should be.
_HOMES = {
    "DEFAULT_SESSION_KEY": ".settings",
    "FlagRequiredMixin": ".views",
    "RequestFlags": ".flags",
    "UnleashMiddleware": ".middleware",
    "close_client": ".registry",
    "current_flags": ".flags",
    "flag_required": ".views",
    "flags_for": ".flags",
    "get_client": ".registry",
    "override_flag": ".testing",
    "override_flags": ".testing",
}

__all__ = [
    "DEFAULT_SESSION_KEY",
    "FlagRequiredMixin",
    "RequestFlags",
    "UnleashMiddleware",
    "close_client",
    "current_flags",
    "flag_required",
    "flags_for",
    "get_client",
    "override_flag",
    "override_flags",
]

__getattr__, __dir__ = lazy_names(__name__, _HOMES)
