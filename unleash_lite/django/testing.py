"""Test helpers in the style of django-waffle's ``override_flag``: force flags for a test,
as a decorator (of a test function, sync or async, or a ``TestCase`` class) or a context
manager, with Django's test runner or pytest-django. Built on ``client.override()``: other
flags keep their answers, overrides nest (the innermost wins)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from django.test.utils import TestContextDecorator

from ..client import OverrideValue
from .registry import get_client


class override_flags(TestContextDecorator):
    """``@override_flags({"new-checkout": True, "banner": "blue"})``: each value is
    ``True``/``False`` (on/off for everyone), a variant name (on, with that variant), or
    ``{"name": ..., "payload": {"type": ..., "value": ...}}``."""

    def __init__(self, flags: Mapping[str, OverrideValue]) -> None:
        self.flags = dict(flags)
        self._active: list[AbstractContextManager[Any]] = []
        super().__init__()

    def enable(self) -> Any:
        manager = get_client().override(self.flags)
        manager.__enter__()
        self._active.append(manager)

    def disable(self) -> None:
        self._active.pop().__exit__(None, None, None)


class override_flag(override_flags):
    """``@override_flag("new-checkout", active=True)`` (waffle's spelling), or
    ``override_flag("banner", variant="blue")`` to force a variant (on)."""

    def __init__(self, name: str, active: bool = True, *, variant: str | None = None) -> None:
        value: OverrideValue = variant if variant is not None and active else active
        super().__init__({name: value})
