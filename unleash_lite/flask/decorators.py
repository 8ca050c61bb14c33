"""``feature_required``: a view decorator that serves the view only when a flag is on."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import abort, redirect, url_for
from werkzeug.exceptions import default_exceptions
from werkzeug.wrappers import Response as BaseResponse

from .state import current_extension

LOGGER = logging.getLogger("unleash_lite.flask")

F = TypeVar("F", bound=Callable[..., Any])


def feature_required(
    feature_name: str, status: int = 404, *, redirect_to: str | None = None
) -> Callable[[F], F]:
    """Decorator: the view runs only when ``feature_name`` is on for the current request.

    Otherwise it answers ``abort(status)`` (404 by default: the page does not exist for this
    user), or, with ``redirect_to`` (an endpoint name, as for ``url_for``), a redirect there.
    Uses the app's :class:`Unleash` extension; on an app without one, the view is refused
    (fail closed). Works on sync and async views.
    """
    if status not in default_exceptions:
        raise ValueError(f"feature_required: {status} is not an HTTP error status abort() knows")

    def gate() -> BaseResponse | None:
        extension = current_extension()
        if extension is None:
            LOGGER.error(
                "feature_required(%r): Unleash is not set up on this app; refusing the view",
                feature_name,
            )
        elif extension.is_enabled(feature_name):
            return None
        if redirect_to is not None:
            try:
                return redirect(url_for(redirect_to))
            except Exception:
                LOGGER.error(
                    "feature_required(%r): cannot build a URL for %r; answering %d",
                    feature_name,
                    redirect_to,
                    status,
                    exc_info=True,
                )
        abort(status)

    def decorator(view: F) -> F:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_gated(*args: Any, **kwargs: Any) -> Any:
                refusal = gate()
                if refusal is not None:
                    return refusal
                return await view(*args, **kwargs)

            return cast(F, async_gated)

        @functools.wraps(view)
        def gated(*args: Any, **kwargs: Any) -> Any:
            refusal = gate()
            if refusal is not None:
                return refusal
            return view(*args, **kwargs)

        return cast(F, gated)

    return decorator
