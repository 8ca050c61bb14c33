"""unleash_lite: a fast, production-safe, drop-in server-side Python SDK for Unleash."""

from .cache import BaseCache, FileCache
from .client import UnleashClient
from .config import InstanceAllowType
from .context import Context
from .engine import PayloadError, Snapshot
from .engine.explain import Explanation, Reason, StrategyTrace
from .events import (
    BaseEvent,
    UnleashEvent,
    UnleashEventType,
    UnleashFetchedEvent,
    UnleashReadyEvent,
)
from .version import __version__

__all__ = [
    "BaseCache",
    "BaseEvent",
    "Context",
    "Explanation",
    "FileCache",
    "InstanceAllowType",
    "PayloadError",
    "Reason",
    "Snapshot",
    "StrategyTrace",
    "UnleashClient",
    "UnleashEvent",
    "UnleashEventType",
    "UnleashFetchedEvent",
    "UnleashReadyEvent",
    "__version__",
]
