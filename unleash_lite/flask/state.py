"""What an app's ``app.extensions["unleash"]`` holds, and how the other modules find it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from ..client import UnleashClient
    from .extension import Unleash

EXTENSION_KEY = "unleash"  # app.extensions[EXTENSION_KEY] is the app's UnleashState


@dataclass(frozen=True)
class UnleashState:
    """What ``app.extensions["unleash"]`` holds for an app: its client and its extension."""

    extension: Unleash
    client: UnleashClient


def state_of(app: Flask) -> UnleashState | None:
    """The Unleash state of ``app``, or None when ``init_app`` did not run on it."""
    state = app.extensions.get(EXTENSION_KEY)
    return state if isinstance(state, UnleashState) else None


def current_extension() -> Unleash | None:
    """The :class:`~unleash_lite.flask.Unleash` extension of the current app, if any."""
    state = state_of(current_app)
    return None if state is None else state.extension
