"""The evaluation context ``--context KEY=VALUE`` options describe."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..context import Context, is_context_time

# Context keys that go to the top level of the context (with the typed Context's aliases);
# any other key is a property.
TOP_LEVEL_FIELDS = {
    "userId": "userId",
    "user_id": "userId",
    "sessionId": "sessionId",
    "session_id": "sessionId",
    "remoteAddress": "remoteAddress",
    "remote_address": "remoteAddress",
    "environment": "environment",
    "appName": "appName",
    "app_name": "appName",
    "currentTime": "currentTime",
    "current_time": "currentTime",
}
PROPERTY_PREFIX = "properties."


def build_context(items: Sequence[tuple[str, str]]) -> Context:
    """A context from ``KEY=VALUE`` pairs: standard fields (camelCase or snake_case) at the
    top level, ``properties.KEY`` and any other key as properties. The last value wins."""
    fields: dict[str, str] = {}
    properties: dict[str, str] = {}
    for key, value in items:
        if key.startswith(PROPERTY_PREFIX):
            properties[key[len(PROPERTY_PREFIX) :]] = value
        elif key in TOP_LEVEL_FIELDS:
            fields[TOP_LEVEL_FIELDS[key]] = value
        else:
            properties[key] = value
    moment = fields.get("currentTime")
    if moment is not None and not is_context_time(moment):
        raise ValueError(
            f"currentTime {moment!r} is not a date and time with an offset, such as "
            "2024-06-01T12:00:00Z"
        )
    return Context(
        user_id=fields.get("userId"),
        session_id=fields.get("sessionId"),
        remote_address=fields.get("remoteAddress"),
        environment=fields.get("environment"),
        app_name=fields.get("appName"),
        current_time=moment,
        properties=properties or None,
    )


def add_context_option(parser: argparse.ArgumentParser) -> None:
    """``-c/--context KEY=VALUE`` (repeatable), read by :func:`context_item`: the option of
    ``unleash-lite eval/explain`` and ``manage.py unleash eval/explain``."""
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        type=context_item,
        metavar="KEY=VALUE",
        help="a context field (repeatable): userId, sessionId, remoteAddress, environment, "
        "appName, currentTime (or user_id, session_id...) go to the top level, any other key "
        "(or properties.KEY) is a property",
    )


def context_item(text: str) -> tuple[str, str]:
    """One ``KEY=VALUE`` of ``--context``: the key trimmed, the value as given."""
    key, separator, value = text.partition("=")
    key = key.strip()
    if not separator or not key or key == PROPERTY_PREFIX.rstrip(".") or key == PROPERTY_PREFIX:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value
