"""The sync layer's process-wide effects: the garbage collector paused during a compile,
and what clients do when their process forks or ends.

A forked child must not use its parent's threads, locks or connections, must not report its
parent's counts again, and should deliver its own last counts when it ends. Three ways in:

* Python's at-fork hook (``os.fork``: gunicorn, Celery's prefork pool, ``multiprocessing``);
* a check of the process id on the slow path of evaluation, for forks made without Python's
  at-fork handling (uWSGI forks its workers from C);
* ``multiprocessing``'s own finalizers (and billiard's, Celery's fork of it), which run in
  a child before it leaves through ``os._exit``, where ``atexit`` never runs.

A child starts no thread when it is forked: clients start their background work on their
first use in the child, so a fork in the middle of the child's own set-up (Celery
configuring logging, say) never races a thread of ours.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import weakref
from collections.abc import Iterator
from typing import Any, Protocol

LOGGER = logging.getLogger("unleash_lite")

# Modules whose Process._bootstrap runs after-fork callbacks and then exit finalizers.
_PROCESS_UTIL_MODULES = ("multiprocessing.util", "billiard.util")
EXIT_FINALIZER_PRIORITY = 10  # before the pools' own finalizers (priority 0 and below)


class ForkAware(Protocol):
    """What a client provides to be carried across forks."""

    def _after_fork_in_child(self) -> None:
        """Drop the parent's threads, locks, connections and unsent counts."""

    def _flush_at_exit(self) -> None:
        """Send the last counts, within a short bound."""


_clients: weakref.WeakSet[Any] = weakref.WeakSet()
_pid = os.getpid()  # the process the clients' state belongs to
# The register_after_fork functions already given our exit finalizer (inherited by children;
# billiard.util re-exports multiprocessing.util's, so one registration serves both).
_armed: list[Any] = []
_pauses_to_undo = 0  # collector_paused() blocks running that turned the collector off


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector out of a compilation.

    Compiling allocates tens of closures and cells per flag and nothing cyclic to free; left
    on, the collector runs hundreds of passes over the growing heap and takes most of the
    time (about three quarters of a 10,000-flag load).
    """
    global _pauses_to_undo
    was_enabled = gc.isenabled()
    gc.disable()
    if was_enabled:
        _pauses_to_undo += 1
    try:
        yield
    finally:
        if was_enabled:
            _pauses_to_undo -= 1
            gc.enable()


def resume_collector_after_fork() -> None:
    """In a child forked during a paused compile, turn the collector back on: the compile
    that would have done it does not exist in the child."""
    global _pauses_to_undo
    if _pauses_to_undo:
        _pauses_to_undo = 0
        gc.enable()


def watch(client: ForkAware) -> None:
    """Carry ``client`` across forks from now on."""
    _clients.add(client)


def forget(client: ForkAware) -> None:
    """Stop carrying ``client`` (it was destroyed)."""
    _clients.discard(client)


def check_pid() -> None:
    """Adopt this process if it was forked without Python's at-fork hook (uWSGI): cheap
    enough for the slow path of evaluation, which every name takes once after a fork."""
    if os.getpid() != _pid:
        _in_child()


def under_uwsgi_master() -> bool:
    """True while a uWSGI master loads the application it will fork into workers (the
    default, without ``lazy-apps``): a thread of ours running then could hold the GIL at
    the moment of the fork, and every worker would wait for it forever."""
    uwsgi = sys.modules.get("uwsgi")
    if uwsgi is None:
        return False
    try:
        return bool(uwsgi.worker_id() == 0)
    except Exception:
        return False


def _in_child() -> None:
    global _pid
    if os.getpid() == _pid:
        return  # already adopted (the at-fork hook and the pid check both fire)
    _pid = os.getpid()
    resume_collector_after_fork()  # in case the fork came in the middle of a payload install
    for client in list(_clients):
        try:
            client._after_fork_in_child()
        except Exception:
            LOGGER.warning("Unleash client could not adopt the forked process", exc_info=True)
    for name in _PROCESS_UTIL_MODULES:
        util = sys.modules.get(name)
        register = getattr(util, "register_after_fork", None)
        if register is not None and not any(register is armed for armed in _armed):
            # Called by Process._bootstrap after it has cleared the parent's finalizers, in
            # this child and in every child forked from it later.
            register(_Token, _exit_finalizer(util))
            _armed.append(register)


class _Token:
    """A weak-referenceable key for the after-fork registries."""


def _exit_finalizer(util: Any) -> Any:
    def arm(_: object) -> None:
        util.Finalize(None, _flush_all_at_exit, exitpriority=EXIT_FINALIZER_PRIORITY)

    return arm


def _flush_all_at_exit() -> None:
    for client in list(_clients):
        try:
            client._flush_at_exit()
        except Exception:
            LOGGER.debug("Unleash exit flush failed", exc_info=True)


os.register_at_fork(after_in_child=_in_child)
