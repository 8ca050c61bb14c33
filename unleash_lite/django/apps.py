"""The ``unleash_lite.django`` app: ``INSTALLED_APPS += ["unleash_lite.django"]``."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed


class UnleashConfig(AppConfig):
    """Registers the system checks, the ``unleash`` template tags and management command.
    Creates no client: that happens on first use (see ``registry.get_client``)."""

    name = "unleash_lite.django"
    label = "unleash_lite"
    verbose_name = "Unleash"

    def ready(self) -> None:
        from .checks import check_middleware, check_settings
        from .registry import settings_changed

        checks.register(check_settings, "unleash")
        checks.register(check_middleware, "unleash")
        setting_changed.connect(settings_changed, dispatch_uid="unleash_lite.django.settings")
