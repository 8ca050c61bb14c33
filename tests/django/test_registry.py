"""One client per process: created on first use (by no ``manage.py`` command that does not
use it), once under concurrent first requests, usable in a forked worker, stopped by
``close_client`` and replaced when ``settings.UNLEASH`` changes."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from tests.forking import run_in_child
from tests.support.server import FakeUnleashServer, serve_payload, slow
from unleash_lite import UnleashClient
from unleash_lite.django import close_client, get_client, registry


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FakeUnleashServer]:
    """A fake Unleash server, and settings.UNLEASH pointing at it."""
    with FakeUnleashServer() as server:
        settings = {
            "url": server.url,
            "app_name": "tests-django",
            "cache_directory": str(tmp_path),
            "disable_metrics": True,
            "refresh_interval": 3600,  # the first fetch only
        }
        with override_settings(UNLEASH=settings):
            yield server
            close_client()


def test_the_first_use_creates_and_initializes_the_client(served: FakeUnleashServer) -> None:
    assert served.feature_gets() == []
    client = get_client()
    assert client.is_initialized and client.is_ready()
    assert len(served.feature_gets()) == 1
    assert get_client() is client


def test_concurrent_first_uses_create_one_client(served: FakeUnleashServer) -> None:
    served.features.then(slow(0.2, serve_payload()))  # a first fetch others have to wait for
    barrier = threading.Barrier(16)
    clients: list[UnleashClient] = []

    def first_use() -> None:
        barrier.wait()
        clients.append(get_client())

    threads = [threading.Thread(target=first_use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(clients) == 16 and len({id(client) for client in clients}) == 1
    assert len(served.feature_gets()) == 1  # one client initialized


def test_a_forked_worker_uses_its_client_even_when_the_fork_came_mid_creation(
    served: FakeUnleashServer,
) -> None:
    client = get_client()
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:  # a thread of the parent creating a client as it forks
        with registry._lock:
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    holding.wait(10)
    try:

        def worker() -> dict[str, Any]:
            close_client()  # needs the registry's lock: a deadlock without a fresh one
            child_client = get_client()
            new = child_client is not client
            return {"pid": os.getpid(), "ready": child_client.is_ready(), "new": new}

        report = run_in_child(worker)
    finally:
        release.set()
        holder.join()
    assert report["pid"] != os.getpid()
    assert report["ready"] and report["new"]


def test_close_client_stops_it_and_the_next_use_makes_a_new_one(
    served: FakeUnleashServer,
) -> None:
    first = get_client()
    close_client()
    assert get_client() is not first


def test_a_new_setting_gets_a_new_client() -> None:
    first = get_client()
    assert first.config.app_name == "tests-django"
    with override_settings(UNLEASH={"app_name": "other"}):
        assert get_client().config.app_name == "other"
    assert get_client() is not first
    assert get_client().config.app_name == "tests-django"
