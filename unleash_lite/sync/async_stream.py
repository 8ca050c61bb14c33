"""The async client's streaming connection: one asyncio task driving
:class:`~.streaming.StreamingState`.

The counterpart of :mod:`.stream_thread`, with the same state machine and the same
:func:`~.streaming.connection_steps`, performed by :func:`~.steps.drive_async`: the request
and every read are awaited, and each install (parsing, compiling, the cache write) runs in
the loop's default executor, so the loop never waits on the stream. The connection is made
on a transport of its own (a connection held open for minutes must not hold one of the
pollers'). :meth:`AsyncStream.stop` cancels the task: the steps are closed where they
wait, which closes the answer, then the transport's session is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..config import ClientConfig
from .http import ApiCalls
from .loader import FlagLoader
from .steps import AsyncTransport, drive_async
from .streaming import STREAMING_PATH, Mode, StreamingState, connection_steps

LOGGER = logging.getLogger("unleash_lite")


class AsyncStream:
    """Keeps a client's streaming connection, as a task on the running event loop."""

    def __init__(
        self,
        config: ClientConfig,
        calls: ApiCalls,
        loader: FlagLoader,
        transport: AsyncTransport | None = None,
    ) -> None:
        self.config = config
        self.calls = calls
        self._own_transport = transport is None
        if transport is None:
            from .aiohttp_transport import AiohttpTransport  # the [async] extra

            # streaming=True: no deadline on the whole call, only on each read
            transport = AiohttpTransport(calls.transport_options, streaming=True)
        self.transport: AsyncTransport = transport
        self.state = StreamingState(
            loader.install_delta,
            describe=config.display_url + STREAMING_PATH,
            max_event_bytes=config.max_payload_bytes,
            on_change=self._changed,
        )
        self.settled = asyncio.Event()  # a first state arrived, or it polls instead
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def streaming(self) -> bool:
        """True while the task runs and the flags come from the stream (the poll task then
        skips its polls)."""
        task = self._task
        return task is not None and not task.done() and self.state.mode is Mode.STREAMING

    @property
    def connected(self) -> bool:
        """True once the current connection delivered the server's full state."""
        return self.state.connected

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The streaming task, if started (for tests and diagnostics)."""
        return self._task

    def start(self) -> None:
        """Start the task on the running loop unless it runs."""
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"unleash-lite-stream-{self.config.app_name}"
        )

    async def wait_settled(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the stream's first state (or its fallback)."""
        if timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.settled.wait(), timeout)

    async def stop(self) -> None:
        """End the stream at once, wherever it is (the answer is closed), and close the
        transport's connections if they are the stream's own."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(task, return_exceptions=True)  # a crash is not ours to raise
        if self._own_transport:
            await self.transport.close()

    # -- the task --------------------------------------------------------------------------

    def _changed(self, state: StreamingState) -> None:
        # On the loop: the state changes in the steps of this task and of the poll task.
        if state.connected or state.mode is Mode.POLLING:
            self.settled.set()
        if state.mode is Mode.STREAMING:
            self._wake.set()  # back from polling (a poll answer asked for it): connect

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before the wait is decided: a later wake-up ends it
            wait = self.state.next_wait()
            if wait != 0.0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            if self.state.connect_now():
                await drive_async(connection_steps(self.state, self.calls), self.transport)
