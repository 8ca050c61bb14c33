"""``status_blueprint``: an opt-in endpoint that tells a front-end the answers of an
allow-list of flags for the current request."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Response, jsonify

from .state import current_extension

LOGGER = logging.getLogger("unleash_lite.flask")


def status_blueprint(
    *,
    flags: Iterable[str] | None = None,
    authorize: Callable[[], bool] | None = None,
    name: str = "unleash_status",
    url_prefix: str = "/unleash",
) -> Blueprint:
    """A blueprint serving ``GET {url_prefix}/status``: the answers for the current request
    of the flags in ``flags`` (and only those), for a front-end::

        {"flags": {"new-checkout": {"enabled": true, "variant": {"name": ..., "enabled": ...,
                                                              "payload": ...}}}}

    Both arguments are required: ``flags``, the allow-list of names it may reveal, and
    ``authorize``, a function called for each request that returns True to allow it (403
    otherwise; an exception counts as False). Answers are sent with ``Cache-Control:
    no-store``. Raises ``ValueError`` / ``TypeError`` when either is missing or unusable.
    """
    if flags is None or isinstance(flags, (str, bytes)):
        raise ValueError(
            "status_blueprint needs flags=[...]: the allow-list of the flag names it may "
            "reveal to browsers (a list, not a single string)"
        )
    names = list(dict.fromkeys(flags))
    if not names or not all(isinstance(flag, str) and flag for flag in names):
        raise ValueError("status_blueprint needs flags=[...]: a non-empty list of flag names")
    if authorize is None or not callable(authorize):
        raise TypeError(
            "status_blueprint needs authorize=<function returning bool>, called for every "
            "request (e.g. lambda: current_user.is_authenticated); pass lambda: True to make "
            "the endpoint public on purpose"
        )
    allow = authorize
    blueprint = Blueprint(name, __name__, url_prefix=url_prefix)

    @blueprint.get("/status")
    def status() -> Response:
        try:
            allowed = allow() is True
        except Exception:
            LOGGER.warning("Unleash status: the authorize hook raised; refusing", exc_info=True)
            allowed = False
        if not allowed:
            return _no_store(jsonify(error="forbidden"), 403)
        extension = current_extension()
        if extension is None:
            LOGGER.error("Unleash status: Unleash is not set up on this app")
            return _no_store(jsonify(error="Unleash is not set up"), 503)
        answers: dict[str, Any] = {}
        for flag in names:
            variant = extension.get_variant(flag)  # one evaluation, counted once
            shown = {"name": variant.get("name"), "enabled": bool(variant.get("enabled"))}
            if "payload" in variant:
                shown["payload"] = variant["payload"]
            answers[flag] = {"enabled": bool(variant.get("feature_enabled")), "variant": shown}
        return _no_store(jsonify(flags=answers), 200)

    return blueprint


def _no_store(response: Response, status: int) -> Response:
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Cookie")
    return response
