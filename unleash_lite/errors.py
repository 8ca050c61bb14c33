"""Exceptions a client raises, under the official SDK's names."""

from __future__ import annotations

from .config import StrategyError

__all__ = ["MultipleInstancesNotAllowedError", "StrategyError"]


class MultipleInstancesNotAllowedError(RuntimeError):
    """A second client for the same server, app name and token, with
    ``multiple_instance_mode=InstanceAllowType.BLOCK``."""
