"""Backoff for a periodic call, and the one log line per change of its state."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import NamedTuple

from .outcome import Outcome, Result

LOGGER = logging.getLogger("unleash_lite")

MAX_MULTIPLIER = 10
MAX_RETRY_AFTER = 3600.0


class FetchStatus(NamedTuple):
    """How a client's flags fetch goes, as its one log line per change of state says it.

    ``state``: ``"ok"`` (the last call succeeded, or none failed yet), ``"unavailable"``
    (the server is down, overloaded or slow: backing off), ``"rejected"`` (401/403/404: the
    token or the URL is wrong) or ``"invalid"`` (the server's answer, or the cache, held no
    usable flags). ``problem``: that log line's text when not ok (no secret in it).
    ``since``: when the state last changed; ``None`` while it never has.
    """

    state: str
    problem: str | None = None
    since: datetime | None = None


class Backoff:
    """The delay before the next call, from the outcomes of the previous ones.

    Failures that may pass (429, 5xx, timeouts, connection errors) grow the interval by one
    step each, up to 10x; a ``Retry-After`` is honoured. A rejected token or a wrong URL
    (401, 403, 404) drops straight to the slowest rate but keeps trying, so fixing the token
    on the server needs no restart. Any success resets the interval. The state is logged
    once per change, never once per call.
    """

    def __init__(self, what: str, interval: float, companion: Backoff | None = None) -> None:
        self.what = what
        self.interval = interval
        # Another call to the same server (metrics beside the flags fetch): a rejection it has
        # already reported as an ERROR is logged here at DEBUG only, so one cause, one line.
        self.companion = companion
        self.failures = 0
        self.retry_after: float | None = None
        self.state = "ok"
        self.status = FetchStatus("ok")
        self._lock = threading.Lock()

    @property
    def delay(self) -> float:
        """Seconds until the next call."""
        multiplier = min(1 + self.failures, MAX_MULTIPLIER)
        delay = self.interval * multiplier
        if self.retry_after is not None:
            delay = max(delay, min(self.retry_after, MAX_RETRY_AFTER))
        return delay

    def after_fork(self) -> None:
        """A fresh lock in a forked child (the parent's may have been held at fork time)."""
        self._lock = threading.Lock()

    def record_problem(self, problem: str, state: str = "invalid", back_off: bool = False) -> None:
        """Note an unusable payload (or cache) without a call outcome to go with it.

        ``back_off``: also grow the interval one step, as for an unavailable server (for a
        problem that costs the server a full answer on every try, such as a payload over
        ``max_payload_bytes``). ``state`` names the problem, for the one log line per change.
        """
        with self._lock:
            if back_off:
                self.failures = min(self.failures + 1, MAX_MULTIPLIER - 1)
                self.retry_after = None
            later = f"; next try in {self.delay:g}s" if back_off else ""
            self._change(
                state,
                logging.WARNING,
                f"{self.what}: {problem}; keeping the last good flags{later}",
            )

    def record(self, outcome: Outcome, problem: str | None = None) -> None:
        """Take the outcome of a call (``problem``: a successful call with an unusable body)."""
        if problem is not None:
            self.record_problem(problem)
            return
        with self._lock:
            if outcome.ok:
                self.failures = 0
                self.retry_after = None
                if self.state != "ok":
                    self._change("ok", logging.INFO, f"{self.what}: the server answers again")
                return
            self.retry_after = outcome.retry_after
            if outcome.result is Result.REJECTED:
                self.failures = MAX_MULTIPLIER - 1
                self._change(
                    f"rejected-{outcome.status}",
                    logging.ERROR,
                    f"{self.what}: {outcome.detail}; retrying every "
                    f"{self.delay:g}s until it is fixed",
                )
                return
            self.failures = min(self.failures + 1, MAX_MULTIPLIER - 1)
            self._change(
                "unavailable",
                logging.WARNING,
                f"{self.what}: server unavailable ({outcome.detail}); backing off, "
                f"next try in {self.delay:g}s",
            )

    def _change(self, state: str, level: int, message: str) -> None:
        if state != self.state:
            self.state = state
            problem = None if state == "ok" else message.removeprefix(f"{self.what}: ")
            self.status = FetchStatus(_public_state(state), problem, datetime.now(UTC))
            if level == logging.ERROR and self.companion and self.companion.state == state:
                level = logging.DEBUG
            LOGGER.log(level, "Unleash %s", message)


def _public_state(state: str) -> str:
    if state in ("ok", "unavailable"):
        return state
    if state.startswith("rejected"):
        return "rejected"
    return "invalid"  # an unusable payload or cache, a refused size, a failed poll
