"""``unleash_lite._files`` and ``FileCache`` on disk: atomic, private, shared by processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import time
from pathlib import Path
from typing import Any

import platformdirs
import pytest
from platformdirs.macos import MacOS
from platformdirs.unix import Unix

from unleash_lite import FileCache, UnleashClient
from unleash_lite._files import (
    PRIVATE_DIRECTORY,
    PRIVATE_FILE,
    default_cache_directory,
    read_json,
    write_json_atomic,
)
from unleash_lite.cache import ETAG, FEATURES_URL

WRITERS, READERS, WRITES_EACH = 4, 2, 200
URL = "https://unleash.example.com/api"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# -- write_json_atomic / read_json ---------------------------------------------------------------


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    data = {"a": [1, 2, {"b": None}], "ü": "ünïcödé", "n": 1.5}
    write_json_atomic(path, data)
    assert read_json(path) == data
    assert json.loads(path.read_text(encoding="utf-8")) == data
    assert leftovers(tmp_path) == []


def test_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    write_json_atomic(path, {"x": 1})
    assert stat.S_IMODE(path.stat().st_mode) == PRIVATE_FILE == 0o600
    path.chmod(0o644)
    write_json_atomic(path, {"x": 2})  # a rewrite is private again
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_missing_parent_directories_are_created_private(tmp_path: Path) -> None:
    old_umask = os.umask(0)
    try:
        path = tmp_path / "a" / "b" / "data.json"
        write_json_atomic(path, [])
    finally:
        os.umask(old_umask)
    assert read_json(path) == []
    assert stat.S_IMODE(path.parent.stat().st_mode) == PRIVATE_DIRECTORY == 0o700


def test_a_failed_replace_keeps_the_old_file_and_leaves_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.json"
    write_json_atomic(path, {"version": 1})

    def broken_replace(source: Any, target: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_json_atomic(path, {"version": 2})
    monkeypatch.undo()
    assert read_json(path) == {"version": 1}
    assert leftovers(tmp_path) == []


def test_an_interrupted_write_keeps_the_old_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.json"
    write_json_atomic(path, {"version": 1})

    def interrupted(descriptor: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(path, {"version": 2})
    monkeypatch.undo()
    assert read_json(path) == {"version": 1}
    assert leftovers(tmp_path) == []


def test_unserialisable_data_raises_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    with pytest.raises(TypeError):
        write_json_atomic(path, {"x": object()})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [b"", b"{", b'{"a": 1', b"\xff\xfe", b"nul\x00l"])
def test_read_json_raises_value_error_on_corrupt_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "data.json"
    path.write_bytes(content)
    with pytest.raises(ValueError):
        read_json(path)


def test_read_json_raises_os_error_on_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("platform", "under_home"),
    [(Unix, Path(".cache")), (MacOS, Path("Library", "Caches"))],
    ids=["linux", "macos"],
)
def test_the_default_cache_directory_is_the_platforms_own(
    platform: type[Any], under_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(platformdirs, "PlatformDirs", platform)  # as on that platform
    expected = tmp_path / "home" / under_home / "unleash-lite"
    assert default_cache_directory() == expected
    assert FileCache("app").path == expected / "app.json"
    client = UnleashClient(URL, "app", custom_headers={"Authorization": "token"})
    assert isinstance(client.cache, FileCache) and client.cache.path.parent == expected
    assert not (tmp_path / "home").exists()  # nothing is written before flags arrive


def test_xdg_cache_home_and_an_explicit_directory_win_on_every_platform(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(platformdirs, "PlatformDirs", MacOS)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_directory() == tmp_path / "xdg" / "unleash-lite"
    explicit = tmp_path / "explicit"
    assert FileCache("app", directory=explicit).path == explicit / "app.json"
    client = UnleashClient(
        URL, "app", custom_headers={"Authorization": "token"}, cache_directory=str(explicit)
    )
    assert isinstance(client.cache, FileCache) and client.cache.path.parent == explicit


# -- FileCache on disk ---------------------------------------------------------------------------


def test_file_cache_persists_across_instances(tmp_path: Path) -> None:
    first = FileCache("app-1", directory=tmp_path)
    first.mset({FEATURES_URL: '{"version": 2, "features": []}', ETAG: '"e"'})
    second = FileCache("app-1", directory=tmp_path)
    assert second.get(FEATURES_URL) == '{"version": 2, "features": []}'
    assert second.get(ETAG) == '"e"'
    assert second.exists(ETAG) and not second.exists("nope")
    assert first.path == second.path == tmp_path / "app-1.json"


def test_file_cache_names_are_made_safe(tmp_path: Path) -> None:
    cache = FileCache("../../etc/passwd app", directory=tmp_path)
    assert cache.path.parent == tmp_path
    cache.set("k", "v")
    assert [p.name for p in tmp_path.iterdir()] == [cache.path.name]


def test_file_cache_reload_sees_another_writer(tmp_path: Path) -> None:
    reader = FileCache("shared", directory=tmp_path)
    assert reader.get("k") is None
    FileCache("shared", directory=tmp_path).set("k", "v2")
    assert reader.get("k") is None  # a snapshot until reloaded
    reader.reload()
    assert reader.get("k") == "v2"


def test_file_cache_destroy_removes_only_its_own_file(tmp_path: Path) -> None:
    mine = FileCache("mine", directory=tmp_path)
    theirs = FileCache("theirs", directory=tmp_path)
    mine.set("k", 1)
    theirs.set("k", 2)
    mine.destroy()
    assert not mine.path.exists() and mine.get("k") is None
    assert theirs.path.exists() and tmp_path.is_dir()
    mine.destroy()  # twice is fine


def test_file_cache_bootstrap_from_dict_and_file(tmp_path: Path) -> None:
    flags = {"version": 2, "features": [{"name": "f", "enabled": True, "strategies": []}]}
    cache = FileCache("boot", directory=tmp_path)
    cache.bootstrap_from_dict(flags)
    assert cache.bootstrapped and json.loads(cache.get(FEATURES_URL)) == flags
    source = tmp_path / "flags.json"
    source.write_text(json.dumps(flags), encoding="utf-8")
    other = FileCache("boot-2", directory=tmp_path)
    other.bootstrap_from_file(source)
    assert json.loads(other.get(FEATURES_URL)) == flags


# -- several processes sharing one cache file ------------------------------------------------------


def _payload(writer: int, step: int) -> dict[str, Any]:
    # big enough that a torn write could not look complete
    return {"writer": writer, "step": step,
            "features": [{"name": f"flag-{writer}-{n}", "enabled": bool((step + n) % 2),
                          "strategies": [{"name": "default", "parameters": {}}]}
                         for n in range(40)]}


def _is_written(data: Any) -> bool:
    if not isinstance(data, dict) or set(data) != {FEATURES_URL, ETAG}:
        return False
    entry = json.loads(data[FEATURES_URL])
    writer, step = entry["writer"], entry["step"]
    return bool(entry == _payload(writer, step) and data[ETAG] == f'"{writer}-{step}"')


def _writer(directory: str, writer: int, start: Any) -> None:
    start.wait(30)
    cache = FileCache("shared", directory=directory)
    for step in range(WRITES_EACH):
        cache.mset({FEATURES_URL: json.dumps(_payload(writer, step)),
                    ETAG: f'"{writer}-{step}"'})


def _reader(directory: str, start: Any, done: Any, results: Any) -> None:
    start.wait(30)
    path = Path(directory) / "shared.json"
    reads, bad = 0, []
    cache = FileCache("shared", directory=directory)
    deadline = time.monotonic() + 60
    while not done.is_set() and time.monotonic() < deadline:
        try:
            data = read_json(path)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as error:
            bad.append(f"{type(error).__name__}: {error}")
            continue
        reads += 1
        if not _is_written(data):
            bad.append(f"unexpected content: {str(data)[:120]}")
        cache.reload()  # the cache's own reader must never warn or lose its entries
        if cache.get(FEATURES_URL) is None:
            bad.append("FileCache.reload() saw no entries")
    results.put((reads, bad[:5], len(bad)))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_processes_sharing_a_cache_file_never_see_a_torn_write(
        tmp_path: Path, method: str) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    context = multiprocessing.get_context(method)
    start, done = context.Event(), context.Event()
    results = context.Queue()
    first = FileCache("shared", directory=tmp_path)
    first.mset({FEATURES_URL: json.dumps(_payload(0, 0)), ETAG: '"0-0"'})
    writers = [context.Process(target=_writer, args=(str(tmp_path), index, start))
               for index in range(WRITERS)]
    readers = [context.Process(target=_reader, args=(str(tmp_path), start, done, results))
               for _ in range(READERS)]
    processes = writers + readers
    try:
        for process in processes:
            process.start()
        start.set()
        for process in writers:
            process.join(60)
            assert process.exitcode == 0
        done.set()
        outcomes = [results.get(timeout=30) for _ in readers]
        for process in readers:
            process.join(30)
            assert process.exitcode == 0
    finally:
        done.set()
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(5)
    for reads, examples, bad_count in outcomes:
        assert bad_count == 0, examples
        assert reads > 0
    assert _is_written(read_json(tmp_path / "shared.json"))
    final = json.loads(read_json(tmp_path / "shared.json")[FEATURES_URL])
    assert final["step"] == WRITES_EACH - 1  # the file holds some writer's last write
    assert [p.name for p in tmp_path.iterdir()] == ["shared.json"]  # no temporary files
