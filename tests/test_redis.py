"""``RedisCache`` (unleash_lite.redis) against a real ``redis-server`` on 127.0.0.1: the
payload and its ETag as one value, the key of a flag set, refused values, Redis going away
and coming back, the TTL, and the reader role (``fetch_toggles=False``) end to end with a
writing client and a fake Unleash server. The server is Debian's redis-server, started by
``tests/processes/harness.redis_server`` (missing: skipped locally, a failure with CI=true).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.processes.harness import RedisProcess
from tests.support.clients import new_client
from tests.support.helpers import free_port, messages, wait_for
from tests.support.payloads import body_of, etag_of, feature, payload
from tests.support.server import PAYLOAD_A, PAYLOAD_B, TOKEN, FakeUnleashServer
from unleash_lite import AsyncUnleashClient
from unleash_lite.cache import ETAG, FEATURES_URL, FileCache
from unleash_lite.redis import VERSION_SUFFIX, RedisCache, redis_key


@pytest.fixture(scope="module")
def redis_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    process = RedisProcess(tmp_path_factory.mktemp("redis"))
    process.start()
    yield process
    process.stop()


@pytest.fixture
def redis_url(redis_process: RedisProcess) -> Iterator[str]:
    """The module's Redis, running and empty."""
    if not redis_process.running:  # a test stopped it and failed before restarting
        redis_process.start()
    connection = redis.Redis.from_url(redis_process.url)
    connection.flushall()
    connection.close()
    yield redis_process.url


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def cache(url: str, **options: Any) -> RedisCache:
    settings: dict[str, Any] = {"app_name": "app", "token": TOKEN, "retry_min": 0.0}
    settings.update(options)
    return RedisCache(url, **settings)


def stored(raw: redis.Redis, key: str) -> dict[str, Any]:
    value = raw.get(key)
    assert isinstance(value, bytes)
    entries = json.loads(value)
    assert isinstance(entries, dict)
    return entries


# -- the key and the settings -----------------------------------------------------------------


def test_the_key_covers_what_selects_the_flag_set_and_never_shows_the_token() -> None:
    base = redis_key("app", "production", "default", TOKEN)
    assert base.startswith("unleash-lite:app:production:")
    assert TOKEN not in base and "s3cr3t" not in base
    others = {
        redis_key("other", "production", "default", TOKEN),
        redis_key("app", "development", "default", TOKEN),
        redis_key("app", "production", "billing", TOKEN),
        redis_key("app", "production", "default", TOKEN + "x"),
        redis_key("app", "production", "default", TOKEN, namespace="fleet"),
    }
    assert base not in others and len(others) == 5
    assert redis_key("app", project=["b", "a"]) == redis_key("app", project=("a", "b"))


def test_the_password_shows_neither_in_repr_nor_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens: every try fails
    secret = "pa55-w0rd-9e1c"
    for store in (
        cache(f"redis://user:{secret}@127.0.0.1:{port}/0"),
        cache(f"redis://127.0.0.1:{port}/0", password=secret),
    ):
        with caplog.at_level(logging.DEBUG, logger="unleash_lite"):
            store.reload()
            store.mset({FEATURES_URL: "{}", ETAG: "x"})
            store.refresh()
        assert store.state == "unreachable"
        assert secret not in repr(store) and secret not in str(store.last_error)
        store.destroy()
    assert caplog.records and not [r for r in caplog.records if secret in r.getMessage()]


def test_a_url_or_a_client_is_required_and_a_ttl_is_positive(raw: redis.Redis) -> None:
    with pytest.raises(ValueError, match="url or a client"):
        RedisCache(app_name="app")
    with pytest.raises(ValueError, match="url or a client"):
        RedisCache("redis://127.0.0.1:1/0", client=raw, app_name="app")
    with pytest.raises(ValueError, match="ttl"):
        RedisCache(client=raw, app_name="app", ttl=0)


# -- one value: the payload with its ETag ---------------------------------------------------------


def test_payload_and_etag_are_one_value_with_a_version_written_together(
    redis_url: str, raw: redis.Redis
) -> None:
    writer = cache(redis_url)
    writer.mset({FEATURES_URL: body_of(PAYLOAD_A), ETAG: etag_of(PAYLOAD_A)})
    assert stored(raw, writer.key) == {FEATURES_URL: body_of(PAYLOAD_A), ETAG: etag_of(PAYLOAD_A)}
    assert raw.get(writer.key + VERSION_SUFFIX)
    reader = cache(redis_url)
    assert reader.get(FEATURES_URL) == body_of(PAYLOAD_A)
    assert reader.get(ETAG) == etag_of(PAYLOAD_A)
    assert reader.exists(ETAG) and not reader.exists("other")
    writer.set(ETAG, "new")  # one entry: the value is written whole again
    assert stored(raw, writer.key)[FEATURES_URL] == body_of(PAYLOAD_A)
    reader.reload()
    assert reader.get(ETAG) == "new"
    writer.destroy()
    reader.destroy()


def test_a_ready_client_is_used_and_not_closed_and_destroy_keeps_the_shared_value(
    raw: redis.Redis,
) -> None:
    store = RedisCache(client=raw, app_name="app", token=TOKEN)
    store.mset({FEATURES_URL: "{}", ETAG: "e"})
    assert "127.0.0.1" in repr(store)
    store.destroy()
    assert store.get(ETAG) is None  # forgotten here...
    assert raw.exists(store.key) == 1  # ...but other processes still read it
    store.clear()
    assert raw.exists(store.key, store.key + VERSION_SUFFIX) == 0


def test_writers_and_readers_at_once_never_see_a_torn_pair(redis_url: str) -> None:
    pairs = [
        (body_of(payload(feature(f"flag-{n}"))), etag_of(payload(feature(f"flag-{n}"))))
        for n in range(20)
    ]
    expected = dict((etag, body) for body, etag in pairs)
    stop = threading.Event()
    seen: list[tuple[Any, Any]] = []
    torn: list[tuple[Any, Any]] = []

    def write(offset: int) -> None:
        writer = cache(redis_url)
        n = offset
        while not stop.is_set():
            body, etag = pairs[n % len(pairs)]
            writer.mset({FEATURES_URL: body, ETAG: etag})
            n += 3
        writer.destroy()

    def read() -> None:
        reader = cache(redis_url)
        while not stop.is_set():
            reader.reload()
            pair = (reader.get(FEATURES_URL), reader.get(ETAG))
            if pair[0] is not None:
                seen.append(pair)
                if expected.get(pair[1]) != pair[0]:
                    torn.append(pair)
        reader.destroy()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len({etag for _, etag in seen}) >= 10, timeout=30, message="many values")
    stop.set()
    for thread in threads:
        thread.join(10)
    assert torn == []


# -- refused values ---------------------------------------------------------------------------


def test_an_oversized_value_is_refused_once_and_the_last_entries_stay(
    redis_url: str, raw: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    writer, reader = cache(redis_url), cache(redis_url, max_bytes=2000)
    writer.mset({FEATURES_URL: body_of(PAYLOAD_A), ETAG: "a"})
    assert reader.get(ETAG) == "a"
    big = {FEATURES_URL: body_of(payload(*(feature(f"f{n}") for n in range(40)))), ETAG: "b"}
    writer.mset(big)
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        for _ in range(3):
            reader.reload()
    assert reader.get(ETAG) == "a"
    warned = messages(caplog.records, logging.WARNING)
    assert len(warned) == 1 and "over max_bytes (2000 bytes)" in warned[0]
    # A writer with the limit refuses to write more, with one warning, and keeps the entries.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        reader.mset(big)
        reader.mset(big)
    assert stored(raw, reader.key)[ETAG] == "b"  # not overwritten by the refused write
    assert reader.get(ETAG) == "b"
    warned = messages(caplog.records, logging.WARNING)
    assert len(warned) == 1 and "does not write" in warned[0]
    writer.destroy()
    reader.destroy()


@pytest.mark.parametrize(
    "value, problem",
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "does not hold a JSON object"),
    ],
)
def test_a_corrupt_value_is_refused_once_and_the_last_entries_stay(
    redis_url: str,
    raw: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    value: bytes,
    problem: str,
) -> None:
    writer, reader = cache(redis_url), cache(redis_url)
    writer.mset({FEATURES_URL: body_of(PAYLOAD_A), ETAG: "a"})
    assert reader.get(ETAG) == "a"
    raw.set(writer.key, value)
    raw.set(writer.key + VERSION_SUFFIX, "corrupt")
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        for _ in range(3):
            reader.reload()
    assert reader.get(ETAG) == "a"
    warned = messages(caplog.records, logging.WARNING)
    assert len(warned) == 1 and problem in warned[0]
    writer.destroy()
    reader.destroy()


def test_another_type_under_the_key_is_refused(
    redis_url: str, raw: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    reader = cache(redis_url)
    raw.rpush(reader.key, "x")
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        reader.reload()
        reader.reload()
    assert reader.get(ETAG) is None and reader.state == "ok"
    assert len(messages(caplog.records, logging.WARNING)) == 1
    reader.destroy()


# -- Redis going away ---------------------------------------------------------------------------


def test_redis_down_keeps_the_entries_logs_each_change_once_and_recovers(
    redis_process: RedisProcess, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    writer, reader = cache(redis_url), cache(redis_url, socket_timeout=1)
    writer.mset({FEATURES_URL: body_of(PAYLOAD_A), ETAG: "a"})
    assert reader.get(ETAG) == "a"
    with caplog.at_level(logging.INFO, logger="unleash_lite"):
        redis_process.stop()
        for _ in range(3):
            reader.reload()
        writer.mset({FEATURES_URL: body_of(PAYLOAD_B), ETAG: "b"})  # kept, pending
        assert not writer.refresh()
        assert reader.get(ETAG) == "a" and reader.state == "unreachable"
        redis_process.start()  # empty: no persistence
        reader.reload()
        assert reader.state == "ok" and reader.get(ETAG) == "a"  # nothing there yet
        assert writer.refresh()  # writes what it missed
        reader.reload()
    assert reader.get(ETAG) == "b"
    lines = [m for m in messages(caplog.records) if "Redis" in m]
    assert len([m for m in lines if "unreachable" in m]) == 2  # reader and writer, once each
    assert len([m for m in lines if "answers again" in m]) == 2
    writer.destroy()
    reader.destroy()


def test_a_writer_writes_again_what_a_restarted_redis_lost(
    redis_url: str, raw: redis.Redis
) -> None:
    writer = cache(redis_url)
    writer.mset({FEATURES_URL: body_of(PAYLOAD_A), ETAG: "a"})
    assert writer.refresh()  # present: nothing to do
    raw.flushall()  # what a restart without persistence leaves
    assert writer.refresh()
    assert stored(raw, writer.key)[ETAG] == "a"
    other = cache(redis_url)  # another writer's newer value is left alone
    other.mset({FEATURES_URL: body_of(PAYLOAD_B), ETAG: "b"})
    assert writer.refresh()
    assert stored(raw, writer.key)[ETAG] == "b"
    writer.destroy()
    other.destroy()


def test_a_process_started_while_redis_is_down_starts_from_the_fallback_copy(
    redis_process: RedisProcess, redis_url: str, tmp_path: Path
) -> None:
    writer = cache(redis_url)
    writer.mset({FEATURES_URL: body_of(PAYLOAD_A), ETAG: "a"})
    first = cache(redis_url, fallback=FileCache("copy", tmp_path))
    assert first.get(ETAG) == "a"  # read from Redis, copied to the file
    writer.mset({FEATURES_URL: body_of(PAYLOAD_B), ETAG: "b"})
    first.reload()
    first.destroy()
    redis_process.stop()
    try:
        reader = new_client(
            f"http://127.0.0.1:{free_port()}/api",
            cache=cache(redis_url, fallback=FileCache("copy", tmp_path)),
            disable_metrics=True,
        )
        try:
            assert reader.is_enabled("only-b")  # from the copy: Redis and Unleash are down
        finally:
            reader.destroy()
        without = cache(redis_url)
        assert without.get(ETAG) is None  # no fallback: nothing
        without.destroy()
    finally:
        redis_process.start()
    writer.destroy()


def test_no_try_before_the_backoff_allows_it(redis_process: RedisProcess, redis_url: str) -> None:
    writer = cache(redis_url)
    reader = cache(redis_url, retry_min=3600)
    writer.mset({FEATURES_URL: body_of(PAYLOAD_A), ETAG: "a"})
    assert reader.get(ETAG) == "a"
    redis_process.stop()
    reader.reload()
    assert reader.state == "unreachable"
    redis_process.start()
    writer.mset({FEATURES_URL: body_of(PAYLOAD_B), ETAG: "b"})
    reader.reload()  # within the hour of backoff: not tried
    assert reader.state == "unreachable" and reader.get(ETAG) == "a"
    writer.destroy()
    reader.destroy()


def test_the_ttl_is_set_with_the_value_and_renewed_by_refresh(
    redis_url: str, raw: redis.Redis
) -> None:
    writer = cache(redis_url, ttl=60)
    writer.mset({FEATURES_URL: "{}", ETAG: "a"})
    for key in (writer.key, writer.key + VERSION_SUFFIX):
        assert 0 < raw.pttl(key) <= 60_000
    raw.pexpire(writer.key, 5000)
    raw.pexpire(writer.key + VERSION_SUFFIX, 5000)
    assert writer.refresh()
    assert raw.pttl(writer.key) > 5000 and raw.pttl(writer.key + VERSION_SUFFIX) > 5000
    writer.destroy()


# -- the reader role, with clients -----------------------------------------------------------


def test_a_reader_installs_what_a_writing_client_fetched_and_never_asks_for_flags(
    redis_url: str, tmp_path: Path
) -> None:
    with FakeUnleashServer() as server:
        writer = new_client(server.url, cache=cache(redis_url), refresh_interval=0.2)
        reader = new_client(
            server.url,
            cache=cache(redis_url),
            refresh_interval=0.2,
            metrics_interval=0.2,
            instance_id="reader",
        )
        try:
            writer.initialize_client()
            reader.initialize_client(fetch_toggles=False)
            assert reader.is_ready() and reader.is_enabled("only-a")
            server.payload = PAYLOAD_B
            wait_for(lambda: reader.is_enabled("only-b"), timeout=10, message="the change")
            assert not reader.is_enabled("only-a")
            reader.is_enabled("shared")
            wait_for(
                lambda: any(
                    r.path.endswith("/client/metrics")
                    and r.header("unleash-instanceid") == "reader"
                    for r in server.requests
                ),
                timeout=10,
                message="the reader's metrics",
            )
            readers_gets = [
                r
                for r in server.requests
                if r.path.endswith("/client/features")
                and r.header("unleash-instanceid") == "reader"
            ]
            assert readers_gets == []
        finally:
            writer.destroy()
            reader.destroy()


def test_an_async_reader_refreshes_from_redis(redis_url: str) -> None:
    writer = cache(redis_url)
    writer.mset({FEATURES_URL: body_of(PAYLOAD_A), ETAG: "a"})
    down = f"http://127.0.0.1:{free_port()}/api"

    async def scenario() -> tuple[bool, bool]:
        reader = AsyncUnleashClient(
            down,
            "test-app",
            custom_headers={"Authorization": TOKEN},
            cache=cache(redis_url),
            refresh_interval=0.1,
            disable_metrics=True,
            disable_registration=True,
        )
        try:
            await reader.initialize_client(fetch_toggles=False)
            before = reader.is_enabled("only-a")
            writer.mset({FEATURES_URL: body_of(PAYLOAD_B), ETAG: "b"})
            for _ in range(200):  # the reader's next refresh, within 20 s
                if reader.is_enabled("only-b"):
                    break
                await asyncio.sleep(0.1)
            return before, reader.is_enabled("only-b")
        finally:
            await reader.destroy()

    assert asyncio.run(scenario()) == (True, True)
    writer.destroy()


def test_a_reader_started_with_unleash_down_answers_from_redis_at_once(
    redis_url: str,
) -> None:
    writer = cache(redis_url)
    writer.mset({FEATURES_URL: body_of(PAYLOAD_A), ETAG: etag_of(PAYLOAD_A)})
    down = f"http://127.0.0.1:{free_port()}/api"
    reader = new_client(down, cache=cache(redis_url), disable_metrics=True)
    try:
        assert reader.is_enabled("only-a")  # before initialize_client, from Redis
        reader.initialize_client(fetch_toggles=False)
        assert reader.is_ready() and reader.is_enabled("only-a")
    finally:
        reader.destroy()
        writer.destroy()
