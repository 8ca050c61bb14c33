"""FileCache: the official cache API over one atomically written JSON file."""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from tests.support.payloads import feature, payload
from unleash_lite import BaseCache, FileCache, MemoryCache, UnleashClient
from unleash_lite import cache as cache_module
from unleash_lite.cache import ETAG, FEATURES_URL

FLAGS = payload(feature("cached-on"), feature("cached-off", enabled=False))
URL = "https://flags.example.com/bootstrap.json"


def file_entries(cache: FileCache) -> Any:
    return json.loads(cache.path.read_text(encoding="utf-8"))


def unleash_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "unleash_lite" and record.levelno == logging.WARNING
    ]


def test_file_lives_in_the_given_directory(tmp_path: Path) -> None:
    cache = FileCache("my-app", directory=tmp_path)
    assert cache.path == tmp_path / "my-app.json"
    assert not cache.path.exists()  # nothing is written until something is stored
    assert "my-app.json" in repr(cache)


def test_unsafe_names_stay_inside_the_directory(tmp_path: Path) -> None:
    cache = FileCache("../../etc/passwd", directory=tmp_path / "cache")
    cache.set("k", "v")
    assert cache.path.parent == tmp_path / "cache"
    assert cache.path.exists()
    assert not (tmp_path / "etc").exists()
    assert FileCache("", directory=tmp_path).path.name == "unleash.json"


def test_default_directory_follows_xdg_cache_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert FileCache("app").path == tmp_path / "xdg" / "unleash-lite" / "app.json"


def test_set_get_exists_and_defaults(tmp_path: Path) -> None:
    cache = FileCache("app", directory=tmp_path)
    assert cache.get("missing") is None
    assert cache.get("missing", "fallback") == "fallback"
    assert not cache.exists("key")
    cache.set("key", {"nested": [1, 2, 3]})
    assert cache.exists("key")
    assert cache.get("key") == {"nested": [1, 2, 3]}
    cache.set("key", "replaced")
    assert cache.get("key") == "replaced"


def test_mset_stores_several_entries_in_one_write(tmp_path: Path) -> None:
    cache = FileCache("app", directory=tmp_path)
    cache.mset({"a": 1, "b": "two", "c": None})
    assert (cache.get("a"), cache.get("b")) == (1, "two")
    assert cache.exists("c")
    assert file_entries(cache) == {"a": 1, "b": "two", "c": None}


def test_entries_persist_for_the_next_cache_object(tmp_path: Path) -> None:
    FileCache("app", directory=tmp_path).mset({"etag": '"abc"', FEATURES_URL: "{}"})
    again = FileCache("app", directory=tmp_path)
    assert again.get("etag") == '"abc"'
    assert again.exists(FEATURES_URL)
    assert not FileCache("other", directory=tmp_path).exists("etag")


def test_reload_picks_up_what_another_process_wrote(tmp_path: Path) -> None:
    reader = FileCache("shared", directory=tmp_path)
    writer = FileCache("shared", directory=tmp_path)
    writer.set("k", "new")
    assert reader.get("k") is None
    reader.reload()
    assert reader.get("k") == "new"


def test_file_is_private_json_without_leftover_temporary_files(tmp_path: Path) -> None:
    cache = FileCache("app", directory=tmp_path / "made-for-us")
    for round_number in range(25):
        cache.set(f"key-{round_number}", "x" * round_number)
    assert sorted(p.name for p in cache.path.parent.iterdir()) == ["app.json"]
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.path.parent.stat().st_mode) == 0o700
    assert file_entries(cache) == {f"key-{n}": "x" * n for n in range(25)}


def test_a_failed_write_keeps_the_previous_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = FileCache("app", directory=tmp_path)
    cache.set("k", "old")

    def crash(source: Any, target: Any) -> None:
        raise OSError(5, "simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        cache.set("k", "new")
    monkeypatch.undo()
    assert file_entries(cache) == {"k": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.json"]
    assert cache.get("k") == "new"  # still answered from memory
    assert len(unleash_warnings(caplog)) == 1


def test_concurrent_writers_leave_a_valid_file(tmp_path: Path) -> None:
    cache = FileCache("app", directory=tmp_path)

    def write(worker: int) -> None:
        for n in range(20):
            cache.set(f"{worker}-{n}", n)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = file_entries(FileCache("app", directory=tmp_path))
    assert isinstance(entries, dict)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.json"]
    assert len(cache.path.read_bytes()) > 0


def test_concurrent_sets_leave_the_newest_entries_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = FileCache("app", directory=tmp_path)
    real_write = cache_module.write_json_atomic
    first_writing = threading.Event()
    second_written = threading.Event()
    calls = 0

    def write_in_order_forced(path: Path, data: Any, max_bytes: Any = None) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            first_writing.set()
            second_written.wait(timeout=2)  # the first writer is slow (a full disk, a GC...)
            real_write(path, data, max_bytes)
        else:
            real_write(path, data, max_bytes)
            second_written.set()

    monkeypatch.setattr(cache_module, "write_json_atomic", write_in_order_forced)
    slow = threading.Thread(target=cache.set, args=("a", 1))
    slow.start()
    assert first_writing.wait(timeout=5)
    cache.set("b", 2)
    slow.join()
    assert cache.get("a") == 1 and cache.get("b") == 2
    assert file_entries(cache) == {"a": 1, "b": 2}


def test_destroy_removes_only_its_own_file(tmp_path: Path) -> None:
    neighbour = tmp_path / "other-app.json"
    neighbour.write_text("{}", encoding="utf-8")
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("keep me", encoding="utf-8")
    other_cache = FileCache("other-process", directory=tmp_path)
    other_cache.set("k", "v")
    cache = FileCache("app", directory=tmp_path)
    cache.set("k", "v")

    cache.destroy()
    assert not cache.path.exists()
    assert tmp_path.is_dir()
    assert neighbour.read_text(encoding="utf-8") == "{}"
    assert unrelated.read_text(encoding="utf-8") == "keep me"
    assert other_cache.path.exists()
    assert not cache.exists("k")
    assert cache.get("k") is None
    cache.destroy()  # a second destroy is harmless
    assert tmp_path.is_dir()


def test_cache_is_usable_after_destroy(tmp_path: Path) -> None:
    cache = FileCache("app", directory=tmp_path)
    cache.set("a", 1)
    cache.destroy()
    cache.set("b", 2)
    assert file_entries(cache) == {"b": 2}


def test_unwritable_directory_degrades_to_memory_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The directory refuses new files (as a read-only directory would for a non-root user).
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    cache = FileCache("app", directory=tmp_path)
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        cache.bootstrap_from_dict(FLAGS)
        cache.set("etag", '"1"')
        cache.mset({"a": 1, "b": 2})
    assert cache.bootstrapped is True
    assert cache.get("etag") == '"1"' and cache.get("a") == 1
    assert json.loads(cache.get(FEATURES_URL)) == FLAGS
    warnings = unleash_warnings(caplog)
    assert len(warnings) == 1
    assert "cannot be written" in warnings[0]
    assert not cache.path.exists()
    assert UnleashClient(url="", app_name="t", cache=cache).is_enabled("cached-on") is True


def test_directory_blocked_by_a_file_degrades_to_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        cache = FileCache("app", directory=blocker / "cache")
        for n in range(5):
            cache.set(f"k{n}", n)
    assert cache.get("k4") == 4
    assert len([w for w in unleash_warnings(caplog) if "cannot be written" in w]) == 1
    cache.destroy()
    assert blocker.is_file()


@pytest.mark.parametrize("content", ["{ not json", "", "[1, 2]", '"text"', "\xff\xfe"])
def test_corrupt_file_is_ignored_with_a_warning(
    content: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "app.json").write_text(content, encoding="latin-1")
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        cache = FileCache("app", directory=tmp_path)
    assert not cache.exists(FEATURES_URL)
    assert len(unleash_warnings(caplog)) == 1
    cache.set("k", "v")
    assert file_entries(cache) == {"k": "v"}


def test_bootstrap_from_dict(tmp_path: Path) -> None:
    cache = FileCache("app", directory=tmp_path)
    assert cache.bootstrapped is False
    cache.bootstrap_from_dict(FLAGS)
    assert cache.bootstrapped is True
    assert json.loads(cache.get(FEATURES_URL)) == FLAGS
    assert json.loads(file_entries(cache)[FEATURES_URL]) == FLAGS


def test_bootstrap_from_file(tmp_path: Path) -> None:
    source = tmp_path / "flags.json"
    source.write_text(json.dumps(FLAGS), encoding="utf-8")
    for path in (source, str(source)):
        cache = FileCache("app", directory=tmp_path / "cache")
        cache.bootstrap_from_file(path)
        assert cache.bootstrapped is True
        assert json.loads(cache.get(FEATURES_URL)) == FLAGS


def test_bootstrap_from_a_missing_file_raises_and_stays_unbootstrapped(tmp_path: Path) -> None:
    cache = FileCache("app", directory=tmp_path)
    with pytest.raises(OSError):
        cache.bootstrap_from_file(tmp_path / "missing.json")
    assert cache.bootstrapped is False


@responses.activate
def test_bootstrap_from_url_sends_headers_and_stores_the_body(tmp_path: Path) -> None:
    responses.get(
        URL,
        json=FLAGS,
        match=[matchers.header_matcher({"Authorization": "secret"})],
    )
    cache = FileCache("app", directory=tmp_path)
    cache.bootstrap_from_url(URL, headers={"Authorization": "secret"}, request_timeout=4)
    assert cache.bootstrapped is True
    assert json.loads(cache.get(FEATURES_URL)) == FLAGS
    assert len(responses.calls) == 1
    assert responses.calls[0].request.method == "GET"


@responses.activate
def test_bootstrap_from_url_error_status_raises(tmp_path: Path) -> None:
    responses.get(URL, status=503)
    cache = FileCache("app", directory=tmp_path)
    with pytest.raises(requests.HTTPError):
        cache.bootstrap_from_url(URL)
    assert cache.bootstrapped is False
    assert not cache.exists(FEATURES_URL)


@pytest.mark.parametrize("how", ["dict", "file", "url"])
@responses.activate
def test_client_answers_from_a_bootstrapped_file_cache(how: str, tmp_path: Path) -> None:
    cache = FileCache("app", directory=tmp_path / "cache")
    if how == "dict":
        cache.bootstrap_from_dict(FLAGS)
    elif how == "file":
        source = tmp_path / "flags.json"
        source.write_text(json.dumps(FLAGS), encoding="utf-8")
        cache.bootstrap_from_file(source)
    else:
        responses.get(URL, json=FLAGS)
        cache.bootstrap_from_url(URL)
    client = UnleashClient(url="", app_name="tests", cache=cache)
    assert client.unleash_bootstrapped is True
    assert client.is_enabled("cached-on") is True
    assert client.is_enabled("cached-off") is False
    assert set(client.feature_definitions()) == {"cached-on", "cached-off"}


def test_base_cache_is_abstract() -> None:
    with pytest.raises(TypeError):
        BaseCache()  # type: ignore[abstract]

    class Partial(BaseCache):
        def set(self, key: str, value: Any) -> None:
            pass

    with pytest.raises(TypeError):
        Partial()  # type: ignore[abstract]


def test_a_complete_base_cache_subclass_works_with_the_client() -> None:
    class MemoryCache(BaseCache):
        def __init__(self) -> None:
            self.entries: dict[str, Any] = {}

        def set(self, key: str, value: Any) -> None:
            self.entries[key] = value

        def mset(self, data: Mapping[str, Any]) -> None:
            self.entries.update(data)

        def get(self, key: str, default: Any | None = None) -> Any:
            return self.entries.get(key, default)

        def exists(self, key: str) -> bool:
            return key in self.entries

        def destroy(self) -> None:
            self.entries.clear()

    memory = MemoryCache()
    assert memory.bootstrapped is False
    memory.set(FEATURES_URL, json.dumps(FLAGS))
    memory.bootstrapped = True
    assert UnleashClient(url="", app_name="t", cache=memory).is_enabled("cached-on") is True


# -- regressions from the reliability suite (tests/reliability) ---------------------------------


def test_a_cache_file_nested_too_deeply_is_ignored_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """json.loads raises RecursionError for it: FileCache() (and so UnleashClient()) raised."""
    (tmp_path / "app.json").write_text("[" * 100_000, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        cache = FileCache("app", directory=tmp_path)
    assert not cache.exists(FEATURES_URL)
    assert len(unleash_warnings(caplog)) == 1


def test_reload_of_an_unusable_file_keeps_the_entries_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A fetch_toggles=False reader re-reads the shared file every refresh_interval: a bad
    file used to log a warning every time and empty the cache."""
    cache = FileCache("app", directory=tmp_path)
    cache.set(FEATURES_URL, "good")
    cache.path.write_text("{ torn", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        for _ in range(5):
            cache.reload()
    assert cache.get(FEATURES_URL) == "good"
    assert len(unleash_warnings(caplog)) == 1
    FileCache("app", directory=tmp_path / "other").set("k", "v")
    cache.path.write_text(json.dumps({FEATURES_URL: "newer"}), encoding="utf-8")
    cache.reload()
    assert cache.get(FEATURES_URL) == "newer"


def test_a_file_over_max_bytes_is_refused_unread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "app.json"
    with open(path, "wb") as handle:
        handle.truncate(10 * 1024**3)  # sparse: reading it would take minutes
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        cache = FileCache("app", directory=tmp_path, max_bytes=1024)
    assert not cache.exists(FEATURES_URL)
    (warning,) = unleash_warnings(caplog)
    assert "over the limit of 1024" in warning and "max_payload_bytes" in warning


def test_entries_that_would_make_the_file_too_large_stay_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = FileCache("app", directory=tmp_path, max_bytes=100)
    cache.set("small", "x")
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        cache.set("big", "y" * 200)
        cache.set("bigger", "z" * 300)
    assert cache.get("big") == "y" * 200  # still answered from memory
    assert file_entries(cache) == {"small": "x"}  # the last file that fit
    (warning,) = unleash_warnings(caplog)
    assert "cannot be written" in warning and "over the limit of 100" in warning


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_at_the_cache_path_is_not_waited_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    os.mkfifo(tmp_path / "app.json")  # opening it to read would block until a writer came
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        cache = FileCache("app", directory=tmp_path)
    assert not cache.exists(FEATURES_URL)
    assert "not a regular file" in unleash_warnings(caplog)[0]


def test_memory_cache_keeps_entries_in_memory_only() -> None:
    memory = MemoryCache({ETAG: '"1"'})
    memory.mset({FEATURES_URL: json.dumps(FLAGS)})
    memory.set("other", 1)
    assert memory.exists(FEATURES_URL) and memory.get("other") == 1
    assert memory.get("missing", "default") == "default"
    client = UnleashClient("http://127.0.0.1:9/api", "memory", cache=memory)
    assert client.is_ready()
    memory.destroy()
    assert not memory.exists(FEATURES_URL)
    client.destroy()
