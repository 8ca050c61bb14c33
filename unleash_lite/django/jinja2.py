"""Jinja2 helpers for Django's ``Jinja2`` template backend: ``feature_enabled(name)`` and
``feature_variant(name)``, the names the Flask integration gives its templates.

::

    TEMPLATES = [{
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "OPTIONS": {"environment": "unleash_lite.django.jinja2.environment"},
        ...
    }]

or, with an environment function of your own, ``env.globals.update(unleash_globals())``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from .. import Variant
from .flags import current_flags


@pass_context
def feature_enabled(
    template_context: Context, feature_name: str, context: Mapping[str, Any] | None = None
) -> bool:
    """Whether ``feature_name`` is on for the template's ``request`` (or the current request
    context), with ``context`` merged over it."""
    return current_flags(template_context.get("request")).is_enabled(feature_name, context)


@pass_context
def feature_variant(
    template_context: Context, feature_name: str, context: Mapping[str, Any] | None = None
) -> Variant:
    """The variant of ``feature_name`` for the template's ``request``."""
    return current_flags(template_context.get("request")).get_variant(feature_name, context)


def unleash_globals() -> dict[str, Any]:
    """The helpers, to add to an environment of yours: ``env.globals.update(...)``."""
    return {"feature_enabled": feature_enabled, "feature_variant": feature_variant}


def environment(**options: Any) -> Environment:
    """A Jinja2 ``Environment`` with the helpers, for the backend's ``environment`` option."""
    env = Environment(**options)
    env.globals.update(unleash_globals())
    return env
