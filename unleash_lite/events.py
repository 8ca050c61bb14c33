"""Events passed to ``event_callback``, shaped like the official SDK's ``UnleashClient.events``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID


class UnleashEventType(Enum):
    """What kind of event was triggered."""

    FEATURE_FLAG = "feature_flag"
    VARIANT = "variant"
    FETCHED = "fetched"
    READY = "ready"


@dataclass
class BaseEvent:
    """Fields every event has."""

    event_type: UnleashEventType
    event_id: UUID


@dataclass
class UnleashEvent(BaseEvent):
    """An impression: a flag or variant evaluated for a flag with ``impressionData``.

    Beyond the official SDK's fields: ``timestamp``, when the evaluation happened (aware,
    UTC), and ``reason``, why it answered so (an :class:`~unleash_lite.Reason` value) where
    that is known without a second walk: always after ``evaluate()``; ``"disabled"`` for a
    flag that is off; otherwise ``None``.
    """

    context: dict[str, Any]
    enabled: bool
    feature_name: str
    variant: str | None = ""
    timestamp: datetime | None = None
    reason: str | None = None


@dataclass
class UnleashReadyEvent(BaseEvent):
    """The client has flags for the first time (from the server, the disk cache or bootstrap)."""


@dataclass
class UnleashFetchedEvent(BaseEvent):
    """A new flags payload arrived from the server (not sent on 304 Not Modified)."""

    raw_features: str

    @property
    def features(self) -> list[dict[str, Any]]:
        """The payload's feature definitions."""
        parsed = json.loads(self.raw_features)
        features = parsed.get("features", []) if isinstance(parsed, dict) else []
        return features if isinstance(features, list) else []
