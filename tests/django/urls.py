"""The views the Django tests request: each shows what the integration gave it."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.template import engines
from django.urls import path
from django.views import View

from unleash_lite.context import current_request_context
from unleash_lite.django import FlagRequiredMixin, flag_required


def _current() -> dict[str, Any] | None:
    context = current_request_context()
    return None if context is None else dict(context)


def context_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "context": dict(request.unleash.context),  # type: ignore[attr-defined]
            "current": _current(),
            "user-42": request.unleash.is_enabled("user-42"),  # type: ignore[attr-defined]
        }
    )


def worker_view(request: HttpRequest) -> JsonResponse:
    """Which process answered, and what it answers (``?hold=S``: after S seconds, so that
    concurrent requests reach different workers)."""
    time.sleep(float(request.GET.get("hold", "0")))
    on = request.unleash.is_enabled("on")  # type: ignore[attr-defined]
    return JsonResponse({"pid": os.getpid(), "on": on})


def untouched_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("no flag checked")


async def async_context_view(request: HttpRequest) -> JsonResponse:
    flags = request.unleash  # type: ignore[attr-defined]
    await asyncio.sleep(0)
    return JsonResponse(
        {
            "context": dict(flags.context),
            "current": _current(),
            "signed-in": await flags.ais_enabled("signed-in"),
            "colors": (await flags.aget_variant("colors"))["name"],
            "reason": str((await flags.aevaluate("user-42")).reason),
        }
    )


def failing_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the view failed")


def streaming_view(request: HttpRequest) -> StreamingHttpResponse:
    def chunks() -> Iterator[str]:
        for _ in range(3):
            yield str((_current() or {}).get("userId")) + ";"

    return StreamingHttpResponse(chunks())


async def async_streaming_view(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> AsyncIterator[str]:
        for _ in range(3):
            await asyncio.sleep(0)
            yield str((_current() or {}).get("userId")) + ";"

    return StreamingHttpResponse(chunks())


@flag_required("on")
def gated_on(request: HttpRequest) -> HttpResponse:
    return HttpResponse("on page")


@flag_required("off")
def gated_off(request: HttpRequest) -> HttpResponse:
    return HttpResponse("off page")


@flag_required("off", redirect_to="gated-on")
def gated_off_redirect(request: HttpRequest) -> HttpResponse:
    return HttpResponse("off page")


@flag_required("signed-in")
async def gated_async(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async members page")


class MembersView(FlagRequiredMixin, View):
    flag_name = "signed-in"

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("members page")


class RedirectingView(FlagRequiredMixin, View):
    flag_name = "off"
    flag_redirect_to = "/somewhere/"

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("never")


class AsyncMembersView(FlagRequiredMixin, View):
    flag_name = "signed-in"

    async def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("async members page")


def template_view(request: HttpRequest) -> HttpResponse:
    engine = engines[request.GET.get("engine", "django")]
    source = request.GET["source"]
    return HttpResponse(engine.from_string(source).render({"name": "on"}, request))


urlpatterns = [
    path("context/", context_view),
    path("untouched/", untouched_view),
    path("worker/", worker_view),
    path("async-context/", async_context_view),
    path("failing/", failing_view),
    path("streaming/", streaming_view),
    path("async-streaming/", async_streaming_view),
    path("gated/on/", gated_on, name="gated-on"),
    path("gated/off/", gated_off),
    path("gated/off-redirect/", gated_off_redirect),
    path("gated/async/", gated_async),
    path("members/", MembersView.as_view()),
    path("members/redirecting/", RedirectingView.as_view()),
    path("members/async/", AsyncMembersView.as_view()),
    path("template/", template_view),
]
