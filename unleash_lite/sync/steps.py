"""I/O as values, so the sync and the async client share every protocol rule.

What to send to Unleash, how long to wait, how much of an answer to read, how to classify
it, when to retry, and what to do with the flags and metrics is written once, as generators
that *yield* the I/O they need (:class:`Send`, :class:`Read`, :class:`Pause`,
:class:`Offload`) and receive its result. :func:`drive` performs those steps with blocking
calls on the client's thread; :func:`drive_async` performs the same steps on an asyncio
event loop, without ever blocking it. A transport failure is thrown into the generator at
the step that failed: a :class:`~.transport.TransportError`, or whatever an
:class:`Offload` function raised.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from .transport import Reply, Transport

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Send:
    """Send one request; the result is the answer, unread (a transport's ``Reply``)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: float


@dataclass(frozen=True, slots=True)
class Read:
    """Read up to ``size`` bytes of ``reply``'s body; the result is the bytes (``b""`` at
    its end)."""

    reply: Any  # a Reply of the transport driving the steps
    size: int


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait ``seconds``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Offload:
    """Run ``function(*args)``, CPU or file work (parsing and compiling flags, writing the
    cache): inline on a blocking driver, in the event loop's executor on an async one.
    The result is the function's."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()


Step = Send | Read | Pause | Offload
# A protocol operation: yields steps, is sent each step's result, returns a T.
Steps = Generator[Step, Any, T]


class AsyncReply(Protocol):
    """An answer whose body has not been read yet, read without blocking."""

    @property
    def status(self) -> int:
        """The HTTP status code."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The headers, looked up case-insensitively."""

    @property
    def length_remaining(self) -> int | None:
        """Bytes of the body not read yet when its length is known, else ``None``."""

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of the (decompressed) body; ``b""`` at its end. Raises
        :class:`~.transport.TransportError`."""

    def release(self) -> None:
        """The body was read to its end: the connection may serve another request."""

    def close(self) -> None:
        """Done with the answer (a connection whose body was not read to the end is dropped)."""


class AsyncTransport(Protocol):
    """Sends one request on the running event loop and returns the answer unread."""

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> AsyncReply:
        """As :meth:`.transport.Transport.send`, awaited."""

    async def close(self) -> None:
        """Close pooled connections."""


def drive(steps: Steps[T], transport: Transport) -> T:
    """Run ``steps`` to their end with blocking I/O on ``transport``; their result."""
    result: Any = None
    failure: Exception | None = None
    while True:
        try:
            step = steps.send(result) if failure is None else steps.throw(failure)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        result, failure = None, None
        try:
            if isinstance(step, Send):
                result = transport.send(
                    step.method, step.url, step.headers, step.body, step.timeout
                )
            elif isinstance(step, Read):
                reply: Reply = step.reply
                result = reply.read(step.size)
            elif isinstance(step, Pause):
                time.sleep(step.seconds)
            else:
                result = step.function(*step.args)
        except Exception as error:
            failure = error


async def drive_async(steps: Steps[T], transport: AsyncTransport) -> T:
    """Run ``steps`` to their end on the running event loop, never blocking it: requests
    and reads are awaited, :class:`Offload` work runs in the loop's default executor."""
    result: Any = None
    failure: Exception | None = None
    try:
        while True:
            try:
                step = steps.send(result) if failure is None else steps.throw(failure)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            result, failure = None, None
            try:
                result = await _perform(step, transport)
            except Exception as error:  # not a cancellation: that ends the steps
                failure = error
    finally:
        steps.close()  # cancelled mid-way: run the generator's clean-up (close the answer)


def _perform(step: Step, transport: AsyncTransport) -> Awaitable[Any]:
    import asyncio  # here: a sync client never loads asyncio (about 10 ms)

    if isinstance(step, Send):
        return transport.send(step.method, step.url, step.headers, step.body, step.timeout)
    if isinstance(step, Read):
        reply: AsyncReply = step.reply
        return reply.read(step.size)
    if isinstance(step, Pause):
        return asyncio.sleep(step.seconds)
    return asyncio.get_running_loop().run_in_executor(None, step.function, *step.args)
