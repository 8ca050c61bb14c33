"""Code far from the view: it gets the request's context from the context variable the
middleware sets, without being handed the request."""

from unleash_lite.context import current_request_context
from unleash_lite.django import get_client


def discount_percent() -> int:
    variant = get_client().get_variant("discount", current_request_context())
    payload = variant.get("payload") or {}
    return int(payload.get("value", 0)) if variant["enabled"] else 0
