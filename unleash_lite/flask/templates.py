"""The Jinja globals ``feature_enabled`` and ``feature_variant``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask

if TYPE_CHECKING:
    from .. import Variant
    from .extension import Unleash


def add_template_globals(app: Flask, extension: Unleash) -> None:
    """Make ``feature_enabled(name, context=None)`` and ``feature_variant(name,
    context=None)`` available to every template of ``app``, answering through
    ``extension`` (the request's context, never raising)."""

    def feature_enabled(feature_name: str, context: Mapping[str, Any] | None = None) -> bool:
        return extension.is_enabled(feature_name, context)

    def feature_variant(feature_name: str, context: Mapping[str, Any] | None = None) -> Variant:
        return extension.get_variant(feature_name, context)

    app.add_template_global(feature_enabled, "feature_enabled")
    app.add_template_global(feature_variant, "feature_variant")
