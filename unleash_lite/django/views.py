"""``@flag_required`` for function views and ``FlagRequiredMixin`` for class-based views:
the view runs only when a flag is on for the request; otherwise 404, or a redirect."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from django.http import Http404, HttpRequest, HttpResponseBase
from django.shortcuts import redirect

from .flags import flags_for

V = TypeVar("V", bound=Callable[..., Any])


def flag_required(feature_name: str, *, redirect_to: str | None = None) -> Callable[[V], V]:
    """Decorator for a function view (sync or ``async def``): it runs only when
    ``feature_name`` is on for the request (``request.unleash``).

    Otherwise ``Http404`` (the page does not exist for this user), or, with ``redirect_to``
    (a URL, a path or a URL pattern name, as for ``django.shortcuts.redirect``), a redirect
    there. Without a usable client the flag is off: the view is refused (fail closed).
    """
    if not isinstance(feature_name, str) or not feature_name:
        raise TypeError("flag_required needs the flag's name, e.g. @flag_required('beta')")

    def decorator(view: V) -> V:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_gated(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                on = await flags_for(request).ais_enabled(feature_name)
                if not on:
                    return refusal(feature_name, redirect_to)
                return await view(request, *args, **kwargs)

            return cast(V, async_gated)

        @functools.wraps(view)
        def gated(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not flags_for(request).is_enabled(feature_name):
                return refusal(feature_name, redirect_to)
            return view(request, *args, **kwargs)

        return cast(V, gated)

    return decorator


def refusal(feature_name: str, redirect_to: str | None) -> HttpResponseBase:
    """What a gated view answers when its flag is off: a redirect, or ``Http404``."""
    if redirect_to is not None:
        return redirect(redirect_to)
    raise Http404(f"{feature_name} is off")


class FlagRequiredMixin:
    """For class-based views: ``flag_name`` must be on for the request, else 404 (or a
    redirect to ``flag_redirect_to``: a URL, a path or a URL pattern name). Put it first
    among the bases, before ``View`` or ``LoginRequiredMixin``'s peers it should precede::

        class BetaView(FlagRequiredMixin, TemplateView):
            flag_name = "beta-page"
            template_name = "beta.html"

    Works on async views (``async def get``) too.
    """

    flag_name: str = ""
    flag_redirect_to: str | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not self.flag_name:
            raise TypeError(f"{type(self).__name__} needs flag_name = '<the flag>'")
        parent = super().dispatch  # type: ignore[misc]
        if getattr(self, "view_is_async", False):

            async def gated() -> Any:
                on = await flags_for(request).ais_enabled(self.flag_name)
                if not on:
                    return refusal(self.flag_name, self.flag_redirect_to)
                return await parent(request, *args, **kwargs)

            return gated()
        if not flags_for(request).is_enabled(self.flag_name):
            return refusal(self.flag_name, self.flag_redirect_to)
        return parent(request, *args, **kwargs)
