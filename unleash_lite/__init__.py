"""unleash_lite: a fast, production-safe, drop-in server-side Python SDK for Unleash.

Names are imported on first use (PEP 562), so importing a submodule such as the pytest
plugin does not load the client, requests or APScheduler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_names
from .version import __version__

if TYPE_CHECKING:
    from .async_client import AsyncUnleashClient
    from .cache import BaseCache, FileCache, MemoryCache
    from .client import UnleashClient
    from .config import ExperimentalMode, InstanceAllowType
    from .context import Context
    from .engine import CustomStrategy, PayloadError, Snapshot, Variant
    from .engine.explain import EvaluationDetail, Explanation, Reason, StrategyTrace
    from .engine.validate import Problem, payload_format, validate
    from .errors import MultipleInstancesNotAllowedError
    from .events import (
        BaseEvent,
        UnleashEvent,
        UnleashEventType,
        UnleashFetchedEvent,
        UnleashReadyEvent,
    )
    from .hooks import EvaluationResult, EvaluationSeries, Hook
    from .impact_metrics import ImpactMetrics, MetricFlagContext
    from .sync.backoff import FetchStatus

_HOMES = {
    "AsyncUnleashClient": ".async_client",
    "MultipleInstancesNotAllowedError": ".errors",
    "BaseCache": ".cache",
    "FileCache": ".cache",
    "FetchStatus": ".sync.backoff",
    "MemoryCache": ".cache",
    "UnleashClient": ".client",
    "InstanceAllowType": ".config",
    "ExperimentalMode": ".config",
    "Context": ".context",
    "CustomStrategy": ".engine",
    "PayloadError": ".engine",
    "Snapshot": ".engine",
    "Variant": ".engine",
    "EvaluationDetail": ".engine.explain",
    "Explanation": ".engine.explain",
    "Reason": ".engine.explain",
    "StrategyTrace": ".engine.explain",
    "Problem": ".engine.validate",
    "payload_format": ".engine.validate",
    "validate": ".engine.validate",
    "BaseEvent": ".events",
    "UnleashEvent": ".events",
    "UnleashEventType": ".events",
    "UnleashFetchedEvent": ".events",
    "UnleashReadyEvent": ".events",
    "EvaluationResult": ".hooks",
    "EvaluationSeries": ".hooks",
    "Hook": ".hooks",
    "ImpactMetrics": ".impact_metrics",
    "MetricFlagContext": ".impact_metrics",
}

__all__ = [
    "AsyncUnleashClient",
    "BaseCache",
    "BaseEvent",
    "Context",
    "CustomStrategy",
    "EvaluationDetail",
    "EvaluationResult",
    "EvaluationSeries",
    "ExperimentalMode",
    "Explanation",
    "FetchStatus",
    "FileCache",
    "Hook",
    "ImpactMetrics",
    "InstanceAllowType",
    "MemoryCache",
    "MetricFlagContext",
    "MultipleInstancesNotAllowedError",
    "PayloadError",
    "Problem",
    "Reason",
    "Snapshot",
    "StrategyTrace",
    "UnleashClient",
    "UnleashEvent",
    "UnleashEventType",
    "UnleashFetchedEvent",
    "UnleashReadyEvent",
    "Variant",
    "__version__",
    "payload_format",
    "validate",
]


__getattr__, __dir__ = lazy_names(__name__, _HOMES)
