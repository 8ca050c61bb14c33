"""Flag evaluations in Sentry error reports: a hook for ``hooks=[...]``.

Needs the ``sentry-sdk`` package (``pip install 'unleash-lite[sentry]'``)::

    import sentry_sdk
    from unleash_lite import UnleashClient
    from unleash_lite.sentry import SentryHook

    sentry_sdk.init(dsn=...)
    client = UnleashClient(URL, "shop", hooks=[SentryHook()])

Every ``is_enabled``, ``get_variant`` and ``evaluate`` records the flag's name and its
on/off answer with ``sentry_sdk.feature_flags.add_feature_flag``, as sentry-sdk's own
Unleash and LaunchDarkly integrations do: the flags go into the feature-flag buffer of the
current isolation scope (one per request under Sentry's web integrations; the last 100
flags, the newest answer of each) and an error event captured afterwards carries them in
its ``flags`` context (Sentry shows them as "Feature Flags"); the current span gets a
``flag.evaluation.<name>`` attribute too.

Why a hook and no ``Integration`` class: sentry-sdk's Unleash integration patches the
official ``UnleashClient`` class, which leaves unleash_lite's clients out, and its
LaunchDarkly integration adds a hook to a running client; unleash_lite's clients take their
hooks when they are built, so that is where this one goes. Without ``sentry_sdk.init`` the
buffer fills and nothing is sent.
"""

from __future__ import annotations

from typing import Any

try:
    from sentry_sdk.feature_flags import add_feature_flag
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "unleash_lite.sentry needs the sentry-sdk package: pip install 'unleash-lite[sentry]'"
    ) from error

from .hooks import EvaluationResult, EvaluationSeries, Hook

__all__ = ["SentryHook"]


class SentryHook(Hook):
    """Records every evaluation's flag and on/off answer in Sentry's feature-flag buffer."""

    name = "sentry"

    def after_evaluation(
        self, series: EvaluationSeries, data: Any, result: EvaluationResult
    ) -> None:
        add_feature_flag(series.flag_name, result.enabled)
