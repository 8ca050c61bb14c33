"""``UnleashMiddleware``: ``request.unleash`` and the request context variable, for every
request, in sync (WSGI) and async (ASGI) stacks alike."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import FileResponse, HttpRequest, HttpResponseBase, StreamingHttpResponse

from ..context import reset_request_context, set_request_context
from .flags import flags_for
from .registry import unleash_settings

GetResponse = Callable[[HttpRequest], HttpResponseBase]
AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


class UnleashMiddleware:
    """Sets ``request.unleash`` (a :class:`~unleash_lite.django.RequestFlags`) and makes the
    request's context current (``unleash_lite.context.current_request_context()``) while the
    view runs and while a streaming response is sent; the previous context comes back after,
    also when the view raises.

    Place it after ``SessionMiddleware`` and ``AuthenticationMiddleware``. In a sync stack
    the context is built on the first flag check (a request that checks none loads no user
    and no session); in an async stack it is built before the view, in a thread, because the
    user and the session may need the database. ``settings.UNLEASH`` is read when the server
    loads the middleware: an unusable one stops the start with ``ImproperlyConfigured``.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse | AsyncGetResponse) -> None:
        unleash_settings()  # fail at start-up, naming the key, not at the first request
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self.__acall__(request)
        context = flags_for(request).context
        token = set_request_context(context)
        try:
            response: HttpResponseBase = self.get_response(request)  # type: ignore[assignment]
        finally:
            reset_request_context(token)
        return _keep_context_while_streaming(response, context)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        context = flags_for(request).context
        await sync_to_async(context.resolve)()  # now: the user and the session may need the DB
        token = set_request_context(context)
        try:
            response = await self.get_response(request)  # type: ignore[misc]
        finally:
            reset_request_context(token)
        return _keep_context_while_streaming(response, context)


def _keep_context_while_streaming(
    response: HttpResponseBase, context: Mapping[str, Any]
) -> HttpResponseBase:
    """A streaming response's body is produced after the middleware returned: make the
    context current around each chunk (files are left alone, to keep ``sendfile``)."""
    if isinstance(response, StreamingHttpResponse) and not isinstance(response, FileResponse):
        content = response.streaming_content
        if response.is_async:
            response.streaming_content = _async_chunks(content, context)
        else:
            response.streaming_content = _chunks(content, context)  # type: ignore[arg-type]
    return response


def _chunks(content: Iterable[Any], context: Mapping[str, Any]) -> Iterator[Any]:
    iterator = iter(content)
    while True:
        token = set_request_context(context)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            reset_request_context(token)
        yield chunk


async def _async_chunks(content: Any, context: Mapping[str, Any]) -> AsyncIterator[Any]:
    iterator = aiter(content)
    while True:
        token = set_request_context(context)
        try:
            chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        finally:
            reset_request_context(token)
        yield chunk
