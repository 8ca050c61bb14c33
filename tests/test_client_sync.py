"""``UnleashClient`` with the sync layer: start-up, disk cache, fork, threads.

Runs against ``FakeUnleashServer``, a real HTTP server on 127.0.0.1 (no ``responses``), so the
requests, the scheduler threads and the fork are the real ones. The tests taking
``make_either`` run for both clients (``kind``: ``UnleashClient`` and ``AsyncUnleashClient``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.forking import run_in_child
from tests.support.clients import ClientFactory
from tests.support.doubles import DictCache
from tests.support.helpers import free_port, frequent_thread_switches, messages, wait_for
from tests.support.kinds import DrivenFactory
from tests.support.payloads import body_of, etag_of, feature, payload, variants
from tests.support.server import TOKEN, FakeUnleashServer, hang, serve_payload, status
from unleash_lite import BaseCache, FileCache, UnleashClient, UnleashEventType
from unleash_lite._files import read_json, write_json_atomic
from unleash_lite.cache import ETAG, FEATURES_URL
from unleash_lite.sync.scheduler import ThreadRunner

FLAGS = payload(feature("alpha"), feature("beta", enabled=False),
                feature("gamma", variants=variants("one")))
OTHER = payload(feature("from-cache"))
BOOT = payload(feature("from-bootstrap"))


@pytest.fixture
def server(server: FakeUnleashServer) -> FakeUnleashServer:
    server.payload = FLAGS
    return server


@pytest.fixture
def make_client(make_client: ClientFactory) -> ClientFactory:
    return make_client.with_defaults(app_name="shop")


@pytest.fixture
def make_either(make_driven: DrivenFactory) -> DrivenFactory:
    return make_driven.with_defaults(app_name="shop")


def unreachable_url() -> str:
    return f"http://127.0.0.1:{free_port()}/api"


def warnings_about(records: list[logging.LogRecord], *words: str) -> list[str]:
    return [m for m in messages(records, logging.WARNING) if all(w in m for w in words)]


# -- start-up ------------------------------------------------------------------------------------


def test_initialize_client_returns_with_the_flags_ready(
        server: FakeUnleashServer, make_either: DrivenFactory) -> None:
    client = make_either(server.url)
    assert not client.is_ready() and not client.is_enabled("alpha")
    client.initialize_client()
    assert client.is_ready() and client.is_initialized
    assert client.is_enabled("alpha") and not client.is_enabled("beta")
    assert client.get_variant("gamma")["name"] == "one"
    assert len(server.feature_gets()) == 1


def test_initialize_client_with_a_hanging_server_returns_after_the_timeout(
        server: FakeUnleashServer, make_either: DrivenFactory) -> None:
    release = threading.Event()
    server.features.always(hang(release, serve_payload()))  # waits for release (or the end)
    client = make_either(server.url, request_timeout=0.3)
    started = time.monotonic()
    client.initialize_client()
    elapsed = time.monotonic() - started
    assert elapsed < 3  # about request_timeout (0.3 s), far less than the 10 s hang
    assert len(server.feature_gets()) == 1
    assert not client.is_ready()
    assert client.is_enabled("alpha") is False
    assert client.is_enabled("alpha", fallback_function=lambda name, ctx: True) is True
    assert client.get_variant("gamma") == {"name": "disabled", "enabled": False,
                                           "feature_enabled": False}
    release.set()


NO_FLAGS = "has no flags yet"


def test_one_warning_when_the_first_fetch_fails_and_nothing_else_has_flags(
        server: FakeUnleashServer, make_either: DrivenFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    server.features.always(status(503, b"{}"))
    client = make_either(server.url, refresh_interval=0.05)
    client.initialize_client()
    assert len(warnings_about(caplog.records, NO_FLAGS)) == 1
    server.features.always(serve_payload())
    assert client.wait_until_ready(10)
    assert len(warnings_about(caplog.records, NO_FLAGS)) == 1


@pytest.mark.parametrize("source", ["fetch", "bootstrap", "cache"])
def test_no_such_warning_when_flags_are_there(
        server: FakeUnleashServer, make_either: DrivenFactory,
        caplog: pytest.LogCaptureFixture, source: str) -> None:
    if source != "fetch":
        server.features.always(status(503, b"{}"))
    options: dict[str, Any] = {}
    if source == "bootstrap":
        options["bootstrap"] = BOOT
    if source == "cache":
        options["cache"] = DictCache({FEATURES_URL: body_of(OTHER), ETAG: '"c"'})
    client = make_either(server.url, **options)
    client.initialize_client()
    assert client.is_ready()
    assert warnings_about(caplog.records, NO_FLAGS) == []


def test_a_second_initialize_client_warns_and_does_nothing(
        server: FakeUnleashServer, make_client: Callable[..., UnleashClient],
        caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(server.url)
    client.initialize_client()
    assert client._sync is not None
    runner = client._sync.runner
    assert isinstance(runner, ThreadRunner)
    thread, interval = runner.thread, runner.interval("poll")
    with pytest.warns(UserWarning, match="already initialized"):  # as 6.9.1: warnings.warn
        client.initialize_client()
    assert client._sync.runner is runner and runner.thread is thread
    assert runner.interval("poll") == interval
    assert len(server.feature_gets()) == 1


def test_context_manager_initializes_and_destroys(
        server: FakeUnleashServer, tmp_path: Path) -> None:
    with UnleashClient(server.url, "ctx", custom_headers={"Authorization": TOKEN},
                       cache_directory=str(tmp_path), request_timeout=2) as client:
        assert client.is_initialized
        assert client.is_enabled("alpha")
        assert client._sync is not None
        assert client._sync.runner.running
    assert not client.is_initialized
    assert not client._sync.runner.running
    (post,) = server.metrics_posts()  # destroy flushed the one count
    assert post.body["bucket"]["toggles"] == {"alpha": {"yes": 1, "no": 0, "variants": {}}}


def test_initialize_client_again_after_destroy_keeps_polling(
        server: FakeUnleashServer, make_client: Callable[..., UnleashClient]) -> None:
    client = make_client(server.url, refresh_interval=0.05)
    client.initialize_client()
    client.destroy()
    client.initialize_client()
    assert client.is_initialized
    server.payload = payload(feature("after-restart"))
    wait_for(lambda: client.is_enabled("after-restart"), timeout=2,
             message="polling to resume after a restart")


def test_wait_until_ready(server: FakeUnleashServer,
                          make_either: DrivenFactory) -> None:
    server.features.always(status(503, b"{}"))
    client = make_either(server.url, refresh_interval=0.05)
    client.initialize_client()
    assert not client.wait_until_ready(0.05)
    server.features.always(serve_payload())
    assert client.wait_until_ready(10)
    assert client.is_enabled("alpha")


def test_wait_until_ready_in_another_thread(
        server: FakeUnleashServer, make_client: Callable[..., UnleashClient]) -> None:
    client = make_client(server.url)
    answers: list[bool] = []
    waiter = threading.Thread(target=lambda: answers.append(client.wait_until_ready(10)))
    waiter.start()
    client.initialize_client()
    waiter.join(10)
    assert answers == [True]


# -- the disk cache ------------------------------------------------------------------------------


def test_a_fetch_writes_the_cache_file(server: FakeUnleashServer, tmp_path: Path,
                                       make_either: DrivenFactory) -> None:
    client = make_either(server.url, app_name="my app/1")
    client.initialize_client()
    assert isinstance(client.cache, FileCache)
    path = client.cache.path
    assert path.parent == tmp_path / "cache"
    # app, environment, then a digest of the url, project, environment and token
    assert re.fullmatch(r"my_app_1-default-[0-9a-f]{16}\.json", path.name)
    stored = read_json(path)
    assert json.loads(stored[FEATURES_URL]) == FLAGS
    assert stored[ETAG] == etag_of(FLAGS)  # the ETag the server sent
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left
    client.destroy()
    assert path.exists()  # destroy keeps the cache: other processes may use it


@pytest.mark.parametrize("production", [
    {"environment": "production"},
    {"custom_headers": {"Authorization": "default:production.a-different-token"}},
], ids=["environment", "token"])
def test_clients_for_another_flag_set_never_read_each_others_cache_file(
        production: dict[str, Any], server: FakeUnleashServer, tmp_path: Path,
        make_client: Callable[..., UnleashClient]) -> None:
    url = server.url
    development = make_client(url, environment="development")
    development.initialize_client()
    assert development.is_enabled("alpha")
    assert isinstance(development.cache, FileCache) and development.cache.path.exists()
    development.destroy()
    server.stop()  # Unleash is down from here on
    # The same app, URL and cache directory; only the environment (or only the token) differs.
    other = make_client(url, **{"environment": "development", **production})
    assert isinstance(other.cache, FileCache)
    assert other.cache.path.parent == development.cache.path.parent
    assert other.cache.path != development.cache.path
    other.initialize_client()  # the server is down: nothing to answer from
    assert not other.is_ready() and not other.is_enabled("alpha")
    assert not other.cache.path.exists()
    again = make_client(url, environment="development")  # the control
    assert again.is_enabled("alpha") and again.cache.path == development.cache.path
    names = [path.name for path in (tmp_path / "cache").iterdir()]
    assert not [name for name in names if "token" in name or TOKEN in name]


def test_a_new_client_answers_from_the_cache_while_the_server_is_down(
        tmp_path: Path, make_either: DrivenFactory) -> None:
    with FakeUnleashServer(payload=FLAGS) as fake:
        url = fake.url
        first = make_either(url)
        first.initialize_client()
        first.destroy()
    # same url, app and directory; the server is gone
    second = make_either(url)
    if second.kind == "sync":  # at construction; the async client reads it off the loop
        assert second.is_ready()
        assert second.is_enabled("alpha") and second.get_variant("gamma")["name"] == "one"
    second.initialize_client()  # the fetch fails (connection refused): flags stay
    assert second.is_ready()
    assert second.is_enabled("alpha") and second.get_variant("gamma")["name"] == "one"
    assert second._sync is not None
    assert second._sync.features_backoff.failures == 1


def test_cached_etag_makes_the_first_fetch_conditional(
        server: FakeUnleashServer, make_either: DrivenFactory) -> None:
    events: list[Any] = []
    make_either(server.url).initialize_client()
    client = make_either(server.url, event_callback=events.append)
    client.initialize_client()
    first_get, second_get = server.feature_gets()
    assert first_get.header("If-None-Match") is None
    assert second_get.header("If-None-Match") == etag_of(FLAGS)  # answered 304
    assert client.is_enabled("alpha")
    assert client._events is not None and client._events.drain(5)
    assert [e.event_type for e in events] == [UnleashEventType.READY]  # 304: no FETCHED


def test_start_up_order_is_bootstrap_then_cache_then_nothing(
        make_client: Callable[..., UnleashClient]) -> None:
    url = unreachable_url()
    probe = make_client(url)
    assert isinstance(probe.cache, FileCache)
    probe.destroy()  # only its cache path is needed: the next client is not a duplicate
    write_json_atomic(probe.cache.path, {FEATURES_URL: body_of(OTHER), ETAG: '"c1"'})

    booted = make_client(url, bootstrap=BOOT)
    assert booted.is_enabled("from-bootstrap") and not booted.is_enabled("from-cache")
    assert booted.unleash_bootstrapped

    cached = make_client(url)
    assert cached.is_enabled("from-cache") and not cached.is_enabled("from-bootstrap")
    assert cached.is_ready() and not cached.unleash_bootstrapped

    empty = make_client(unreachable_url())
    assert not empty.is_ready() and empty.feature_definitions() == {}


def test_a_broken_bootstrap_falls_back_to_the_cache(
        make_client: Callable[..., UnleashClient], caplog: pytest.LogCaptureFixture) -> None:
    url = unreachable_url()
    probe = make_client(url)
    assert isinstance(probe.cache, FileCache)
    probe.destroy()  # only its cache path is needed: the next client is not a duplicate
    write_json_atomic(probe.cache.path, {FEATURES_URL: body_of(OTHER), ETAG: '"c1"'})
    client = make_client(url, bootstrap="{not json")
    assert client.is_enabled("from-cache")
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1


@pytest.mark.parametrize("content", [
    '{"/client/features": "{\\"version\\": 2, \\"features\\": [{\\"name\\"',  # truncated
    "\x00\x00\x00garbage",
    "[1, 2, 3]",
    '{"/client/features": "{not json}", "etag": "x"}',
    '{"/client/features": "[]", "etag": "x"}',
])
def test_a_corrupt_cache_file_is_ignored_with_one_warning(
        content: str, make_client: Callable[..., UnleashClient],
        caplog: pytest.LogCaptureFixture) -> None:
    url = unreachable_url()
    probe = make_client(url)
    assert isinstance(probe.cache, FileCache)
    probe.destroy()
    probe.cache.path.parent.mkdir(parents=True, exist_ok=True)
    probe.cache.path.write_text(content, encoding="utf-8")
    caplog.clear()
    client = make_client(url)
    assert not client.is_ready()
    assert client.feature_definitions() == {}
    assert len(messages(caplog.records, logging.WARNING)) == 1, caplog.records


def test_a_corrupt_cache_file_is_replaced_by_the_next_fetch(
        server: FakeUnleashServer, make_client: Callable[..., UnleashClient]) -> None:
    probe = make_client(server.url)
    assert isinstance(probe.cache, FileCache)
    probe.destroy()
    probe.cache.path.parent.mkdir(parents=True, exist_ok=True)
    probe.cache.path.write_text('{"/client/features": "{', encoding="utf-8")
    client = make_client(server.url)
    client.initialize_client()
    assert client.is_enabled("alpha")
    assert json.loads(read_json(probe.cache.path)[FEATURES_URL]) == FLAGS


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="chmod does not stop root from writing")
def test_an_unwritable_cache_directory_degrades_to_memory(
        server: FakeUnleashServer, tmp_path: Path, make_client: Callable[..., UnleashClient],
        caplog: pytest.LogCaptureFixture) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        client = make_client(server.url, cache_directory=str(locked), refresh_interval=0.05)
        client.initialize_client()
        assert client.is_enabled("alpha")
        server.payload = payload(feature("next"))
        wait_for(lambda: client.is_enabled("next"))
        assert len(warnings_about(caplog.records, "cannot be written")) == 1
        assert len(messages(caplog.records, logging.WARNING)) == 1
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_a_cache_directory_that_is_a_file_degrades_to_memory_with_one_warning(
        server: FakeUnleashServer, tmp_path: Path, make_client: Callable[..., UnleashClient],
        caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    client = make_client(server.url, cache_directory=str(blocker / "cache"),
                         refresh_interval=0.05)
    client.initialize_client()
    assert client.is_enabled("alpha")
    server.payload = payload(feature("next"))
    wait_for(lambda: client.is_enabled("next"))
    assert len(messages(caplog.records, logging.WARNING)) == 1, messages(caplog.records)


def test_a_cache_directory_that_is_a_file_still_serves_flags(
        server: FakeUnleashServer, tmp_path: Path, make_client: Callable[..., UnleashClient],
        caplog: pytest.LogCaptureFixture) -> None:
    """The part of the above that holds today: memory-only, one 'cannot be written'."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    client = make_client(server.url, cache_directory=str(blocker), refresh_interval=0.05)
    client.initialize_client()
    assert client.is_enabled("alpha")
    server.payload = payload(feature("next"))
    wait_for(lambda: client.is_enabled("next"))
    assert len(warnings_about(caplog.records, "cannot be written")) == 1
    assert blocker.read_text() == "x"


def test_apps_urls_and_projects_never_share_a_cache_file(
        make_client: Callable[..., UnleashClient]) -> None:
    url, other_url = "http://unleash-a.test/api", "http://unleash-b.test/api"
    clients = [
        make_client(url, "app-1"),
        make_client(url, "app-2"),
        make_client(other_url, "app-1"),
        make_client(url, "app-1", project_name="billing"),
        make_client(url, "app-1", project_name="search"),
    ]
    paths = [c.cache.path for c in clients if isinstance(c.cache, FileCache)]
    assert len(paths) == 5 and len(set(paths)) == 5
    again = make_client(url + "/", "app-1")  # the same server, spelled with a slash
    assert isinstance(again.cache, FileCache) and again.cache.path == paths[0]
    assert all(p.name.startswith(c.config.app_name) for p, c in zip(paths, clients,
                                                                        strict=True))


def test_a_user_cache_is_honoured(server: FakeUnleashServer,
                                  make_either: DrivenFactory) -> None:
    cache = DictCache()
    client = make_either(server.url, cache=cache)
    assert client.cache is cache
    client.initialize_client()
    assert client.is_enabled("alpha")
    (stored,) = cache.mset_calls
    features = stored[FEATURES_URL]
    assert (json.loads(features) if isinstance(features, str) else features) == FLAGS
    assert stored[ETAG] == etag_of(FLAGS)
    # no file cache was made next to it
    assert not Path(client.config.cache_directory or "").exists()


class BrokenCache(DictCache):
    """A user cache whose backend is down (say, Redis): every call raises."""

    def get(self, key: str, default: Any | None = None) -> Any:
        raise ConnectionError("cache backend down")

    def mset(self, data: Any) -> None:
        self.mset_calls.append(dict(data))
        raise ConnectionError("cache backend down")


def test_a_failing_user_cache_does_not_stop_the_client(
        server: FakeUnleashServer, make_either: DrivenFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    events: list[Any] = []
    cache = BrokenCache()
    client = make_either(server.url, cache=cache, event_callback=events.append)
    assert not client.is_ready()
    client.initialize_client()
    assert len(warnings_about(caplog.records, "cannot be read")) == 1
    assert client.is_enabled("alpha")
    assert len(cache.mset_calls) == 1
    assert len(warnings_about(caplog.records, "could not write the flags")) == 1
    assert client._sync is not None
    server.payload = payload(feature("next"))
    client.poll()  # the poller goes on
    assert client.is_enabled("next")
    assert client._events is not None and client._events.drain(5)
    assert [e.event_type for e in events] == [UnleashEventType.READY,
                                              UnleashEventType.FETCHED,
                                              UnleashEventType.FETCHED]


def test_a_bootstrapped_user_cache_is_used_before_the_server(
        server: FakeUnleashServer, make_either: DrivenFactory) -> None:
    cache = DictCache({FEATURES_URL: body_of(BOOT)}, bootstrapped=True)
    server.features.always(status(503, b"{}"))
    client = make_either(server.url, cache=cache)
    if client.kind == "sync":  # at construction; the async client reads it off the loop
        assert client.is_ready() and client.unleash_bootstrapped
    client.initialize_client()
    assert client.is_ready() and client.unleash_bootstrapped
    assert client.is_enabled("from-bootstrap")
    server.features.always(serve_payload())
    assert client._sync is not None
    client.poll()
    assert client.is_enabled("alpha") and not client.is_enabled("from-bootstrap")
    assert json.loads(cache.mset_calls[-1][FEATURES_URL]) == FLAGS
    # a bootstrapped cache's contents are not a server answer: the first fetch is unconditional
    assert server.feature_gets()[0].header("If-None-Match") is None


def test_a_file_cache_bootstrapped_by_hand(server: FakeUnleashServer, tmp_path: Path,
                                           make_client: Callable[..., UnleashClient]) -> None:
    cache = FileCache("hand", directory=tmp_path / "hand")
    cache.bootstrap_from_dict(BOOT)
    client = make_client(server.url, cache=cache)
    assert client.is_enabled("from-bootstrap")
    assert isinstance(cache, BaseCache)


def test_fetch_toggles_false_rereads_the_cache_another_client_writes(
        server: FakeUnleashServer, make_either: DrivenFactory) -> None:
    writer = make_either(server.url, refresh_interval=0.05)
    writer.initialize_client()
    reader = make_either(server.url, refresh_interval=0.05)
    reader.initialize_client(fetch_toggles=False)
    assert reader.is_enabled("alpha")
    server.payload = payload(feature("fresh"))
    wait_for(lambda: reader.is_enabled("fresh"), message="the reader to see the new cache")
    assert not reader.is_enabled("alpha")
    assert writer._sync is not None and reader._sync is not None
    reader_connection = reader._sync.calls.connection_id
    assert [g for g in server.feature_gets()
            if g.header("unleash-connection-id") == reader_connection] == []


# -- threads -------------------------------------------------------------------------------------


def test_snapshot_swaps_under_threads_give_answers_of_one_payload() -> None:
    # In A and in B, "child" is on, but only with a parent and child from the same payload:
    # a torn read (child of A with parent of B, or the reverse) answers False.
    payload_a = payload(
        feature("parent", enabled=True),
        feature("child", dependencies=[{"feature": "parent", "enabled": True}]),
        feature("flag", variants=variants("from-a")),
        feature("only-a"),
    )
    payload_b = payload(
        feature("parent", enabled=False),
        feature("child", dependencies=[{"feature": "parent", "enabled": False}]),
        feature("flag", variants=variants("from-b")),
        feature("only-b"),
    )
    client = UnleashClient("", "swap", bootstrap=payload_a, disable_metrics=True)
    stop = threading.Event()
    errors: list[BaseException] = []
    wrong: list[Any] = []
    swaps = [0]
    names_a = {f["name"] for f in payload_a["features"]}
    names_b = {f["name"] for f in payload_b["features"]}

    def swapper() -> None:
        try:
            while not stop.is_set():
                client.apply_payload(payload_b if swaps[0] % 2 == 0 else payload_a)
                swaps[0] += 1
                time.sleep(0.001)
        except BaseException as error:
            errors.append(error)

    def reader() -> None:
        try:
            while not stop.is_set():
                if not client.is_enabled("child"):
                    wrong.append("child off")
                variant = client.get_variant("flag", {"userId": "7"})
                if variant["name"] not in ("from-a", "from-b") or not variant["enabled"]:
                    wrong.append(variant)
                names = set(client.snapshot.features)
                if names not in (names_a, names_b):
                    wrong.append(names)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    swapping = threading.Thread(target=swapper)
    with frequent_thread_switches():
        for thread in (*threads, swapping):
            thread.start()
        time.sleep(1.0)
        # under a loaded machine the swapper may get few turns: give it up to 5 s more
        deadline = time.monotonic() + 5
        while swaps[0] < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for thread in (*threads, swapping):
            thread.join(10)
    assert not errors
    assert wrong == []
    assert swaps[0] >= 20


# -- fork ----------------------------------------------------------------------------------------


def test_a_forked_child_keeps_polling_with_its_own_connection(
        server: FakeUnleashServer, make_client: Callable[..., UnleashClient]) -> None:
    server.payload = payload(feature("parent-flag"), feature("child-flag", enabled=False))
    client = make_client(server.url, app_name="forked", refresh_interval=0.2,
                         metrics_interval=60)
    client.initialize_client()
    assert client._sync is not None
    for _ in range(6):
        assert client.is_enabled("parent-flag")  # counted before the fork, never sent
    parent_connection = client._sync.api.connection_id
    admin = f"http://127.0.0.1:{server.port}/_admin/payload"

    def child() -> dict[str, Any]:
        assert client._sync is not None
        # nothing of ours runs in a child until its first use of the client
        before_use = [t.name for t in threading.enumerate() if t.name.startswith("unleash")]
        new = payload(feature("parent-flag"), feature("child-flag", enabled=True))
        requests.put(admin, json=new, timeout=5).raise_for_status()
        wait_for(lambda: client.is_enabled("child-flag"), timeout=10,
                 message="the child to see the new payload")
        for _ in range(3):
            client.is_enabled("parent-flag")
        client.flush_metrics()
        return {"connection": client._sync.api.connection_id,
                "scheduler_running": bool(client._sync.runner.running),
                "before_use": before_use,
                "threads": [t.name for t in threading.enumerate()]}

    report = run_in_child(child)
    assert report["before_use"] == []
    assert report["scheduler_running"]
    child_connection = report["connection"]
    assert child_connection != parent_connection

    def by(connection: str, records: list[Any]) -> list[Any]:
        return [r for r in records if r.header("unleash-connection-id") == connection]

    child_gets = by(child_connection, server.feature_gets())
    assert child_gets, "the child never polled"
    assert by(child_connection, server.recorded("/client/register", "POST"))
    child_posts = by(child_connection, server.metrics_posts())
    assert len(child_posts) == 1
    assert child_posts[0].body["connectionId"] == child_connection
    toggles = child_posts[0].body["bucket"]["toggles"]
    assert toggles["parent-flag"] == {"yes": 3, "no": 0, "variants": {}}  # not 9
    assert toggles["child-flag"]["yes"] == 1  # the check that saw the change
    # the parent still holds (and sends) its own counts, exactly once
    client.flush_metrics()
    parent_posts = by(parent_connection, server.metrics_posts())
    assert len(parent_posts) == 1
    assert parent_posts[0].body["bucket"]["toggles"] == {
        "parent-flag": {"yes": 6, "no": 0, "variants": {}}}
    # and the parent's own poller saw the change too
    wait_for(lambda: client.is_enabled("child-flag"))


def test_a_forked_child_of_an_uninitialized_client_answers_from_its_flags(
        tmp_path: Path) -> None:
    client = UnleashClient("", "offline-fork", bootstrap=FLAGS)
    client.is_enabled("alpha")

    def child() -> dict[str, Any]:
        inherited = client.metrics.collect()  # the parent's count is not the child's
        enabled = client.is_enabled("alpha")
        own = client.metrics.collect()
        return {"inherited": inherited is not None, "alpha": enabled,
                "own": own.toggles if own is not None else None}

    assert run_in_child(child) == {
        "inherited": False, "alpha": True,
        "own": {"alpha": {"yes": 1, "no": 0, "variants": {}}}}
    assert client.metrics.totals()["alpha"]["yes"] == 1


def test_with_an_application_scheduler_initialize_client_works_again_in_the_child(
        server: FakeUnleashServer, make_client: Callable[..., UnleashClient],
        caplog: pytest.LogCaptureFixture) -> None:
    """The child cannot use the parent's scheduler thread; the docs tell the application to
    call initialize_client() in the child, which used to answer "already initialized"."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler()
    client = make_client(server.url, scheduler=scheduler, disable_registration=True)
    client.initialize_client()

    def child() -> dict[str, Any]:
        assert client._sync is not None
        warned = [r.getMessage() for r in caplog.records if "custom scheduler" in r.getMessage()]
        initialized_after_fork = client.is_initialized
        client.initialize_client()
        return {"warned": len(warned), "initialized_after_fork": initialized_after_fork,
                "initialized": client.is_initialized, "active": client._sync.active,
                "jobs": sorted(job.id.rsplit("-", 1)[1] for job in scheduler.get_jobs())}

    try:
        assert run_in_child(child) == {"warned": 1, "initialized_after_fork": False,
                                       "initialized": True, "active": True,
                                       "jobs": ["metrics", "poll"]}
    finally:
        client.destroy()
        scheduler.shutdown(wait=False)


def test_event_drain_in_a_forked_child_returns_at_once() -> None:
    client = UnleashClient("", "fork-events", bootstrap=FLAGS, event_callback=lambda e: None)
    assert client._events is not None and client._events.drain(5)

    def child() -> dict[str, Any]:
        assert client._events is not None
        return {"drained": client._events.drain(0.5)}

    assert run_in_child(child) == {"drained": True}


@pytest.mark.parametrize("lock", ["backoff", "file-cache"])
def test_a_fork_while_the_poller_holds_a_lock_does_not_deadlock_the_child(
        server: FakeUnleashServer, make_client: Callable[..., UnleashClient], lock: str) -> None:
    client = make_client(server.url, refresh_interval=30)
    client.initialize_client()
    sync = client._sync
    assert sync is not None and isinstance(client.cache, FileCache)
    held_lock = sync.features_backoff._lock if lock == "backoff" else client.cache._lock
    held, release = threading.Event(), threading.Event()

    def scheduler_thread_inside() -> None:
        # what a poll on a scheduler thread does for a moment: Backoff.record, or
        # FileCache.mset writing and fsyncing the file
        with held_lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=scheduler_thread_inside, daemon=True)
    holder.start()
    assert held.wait(5)
    server.payload = payload(feature("changed"))  # so the child's poll writes the cache

    def child() -> dict[str, Any]:
        poller = threading.Thread(target=sync.poll, daemon=True)
        poller.start()
        poller.join(2)
        return {"poll_finished": not poller.is_alive()}

    try:
        report = run_in_child(child)
    finally:
        release.set()
        holder.join(5)
    assert report == {"poll_finished": True}


def test_destroy_right_after_initialize_leaves_no_crashed_scheduler_thread(
        server: FakeUnleashServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replays, step by step, an interleaving that happened by itself in a run of this file:
    the scheduler thread picks up the registration just as destroy() stops the scheduler."""
    from apscheduler.executors.base import BaseExecutor
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.base import STATE_STOPPED

    crashes: list[str] = []
    monkeypatch.setattr(threading, "excepthook",
                        lambda args: crashes.append(f"{args.thread}: {args.exc_value!r}"))
    jobs_removed, processing = threading.Event(), threading.Event()
    process_jobs, submit = BackgroundScheduler._process_jobs, BaseExecutor.submit_job

    def process_after_destroy_began(self: Any) -> Any:
        jobs_removed.wait(5)  # the scheduler thread is slow to get to the registration
        return process_jobs(self)

    def submit_as_shutdown_begins(self: Any, job: Any, run_times: Any) -> Any:
        if job.id.endswith("-register"):
            processing.set()
            scheduler = self._scheduler
            wait_for(lambda: scheduler.state == STATE_STOPPED, timeout=5)
        return submit(self, job, run_times)

    class Jobs(dict):  # type: ignore[type-arg]
        def clear(self) -> None:  # Synchronizer.stop() has removed the periodic jobs
            super().clear()
            jobs_removed.set()
            processing.wait(1)

    monkeypatch.setattr(BackgroundScheduler, "_process_jobs", process_after_destroy_began)
    monkeypatch.setattr(BaseExecutor, "submit_job", submit_as_shutdown_begins)
    client = UnleashClient(server.url, "quick", custom_headers={"Authorization": TOKEN},
                           cache_directory=str(tmp_path), request_timeout=2,
                           disable_metrics=True)
    assert client._sync is not None
    client._sync._jobs = Jobs()
    client.initialize_client()
    client.destroy()
    assert crashes == []
