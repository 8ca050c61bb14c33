"""``FlagLoader``: every source of flags (bootstrap, cache entry, fetched body) on one path."""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.doubles import DictCache
from tests.support.helpers import messages
from tests.support.payloads import body_of, feature, payload
from tests.support.sync import Installs, names
from unleash_lite.cache import ETAG, FEATURES_URL
from unleash_lite.engine import Snapshot
from unleash_lite.sync import loader as loader_module
from unleash_lite.sync.loader import FlagLoader

FIRST = payload(feature("a"))
SECOND = payload(feature("a"), feature("b"))


def loader_of(cache: Any = None) -> tuple[FlagLoader, Installs]:
    installs = Installs()
    return FlagLoader(cache, installs), installs


@pytest.mark.parametrize(
    "entry", [body_of(FIRST), body_of(FIRST).encode(), FIRST], ids=["str", "bytes", "dict"]
)
def test_a_cache_entry_installs_whatever_form_it_is_kept_in(entry: Any) -> None:
    loader, installs = loader_of()
    assert loader.install_entry(entry) is None
    assert installs.applied == [names(FIRST)]


def test_a_dict_entry_is_copied() -> None:
    entry = json.loads(body_of(FIRST))
    loader, installs = loader_of()
    loader.install_entry(entry)
    entry["features"][0]["enabled"] = False
    assert installs.snapshot.is_enabled("a", {}) is True


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("{broken", "JSONDecodeError"),
        (["a", "list"], "type list: not JSON text or a dict"),
        (12, "type int: not JSON text or a dict"),
        ({"features": [1, 2]}, "no object with a name"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_an_unusable_entry_is_refused_with_the_reason(entry: Any, why: str) -> None:
    loader, installs = loader_of()
    problem = loader.install_entry(entry)
    assert problem is not None and why in problem
    assert installs.applied == []


def test_start_prefers_the_bootstrap_to_the_cache() -> None:
    loader, installs = loader_of(DictCache({FEATURES_URL: body_of(SECOND), ETAG: '"e"'}))
    loader.start(FIRST)
    assert installs.applied == [names(FIRST)]
    assert loader.bootstrapped and loader.etag is None


def test_an_unusable_bootstrap_is_logged_and_the_cache_used(
        caplog: pytest.LogCaptureFixture) -> None:
    loader, installs = loader_of(DictCache({FEATURES_URL: body_of(SECOND), ETAG: '"e"'}))
    loader.start('{"features": 5}')
    assert installs.applied == [names(SECOND)]
    assert not loader.bootstrapped and loader.etag == '"e"'
    (error,) = messages(caplog.records, logging.ERROR)
    assert "Ignoring the bootstrap" in error


def test_a_bootstrapped_cache_counts_as_a_bootstrap_and_its_etag_is_not_kept() -> None:
    cache = DictCache({FEATURES_URL: FIRST, ETAG: '"user-made"'}, bootstrapped=True)
    loader, installs = loader_of(cache)
    loader.start(None)
    assert installs.applied == [names(FIRST)]
    assert loader.bootstrapped and loader.etag is None


def test_an_unreadable_or_unusable_cache_at_start_is_one_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    class Down(DictCache):
        def get(self, key: str, default: Any | None = None) -> Any:
            raise ConnectionError("backend down")

    for cache, said in [(Down(), "cannot be read (backend down)"),
                        (DictCache({FEATURES_URL: "{broken"}), "unusable flags payload")]:
        caplog.clear()
        loader, installs = loader_of(cache)
        loader.start(None)
        assert installs.applied == [] and not loader.bootstrapped
        (warning,) = messages(caplog.records, logging.WARNING)
        assert said in warning


def test_reading_the_cache_again_skips_flags_already_installed() -> None:
    cache = DictCache({FEATURES_URL: body_of(FIRST), ETAG: b'"e1"'})
    loader, installs = loader_of(cache)
    loader.start(None)
    assert loader.etag == '"e1"'  # a cache that keeps bytes (Redis) gives a usable ETag
    assert loader.read_cache() is None
    assert installs.applied == [names(FIRST)]
    cache.entries.update({FEATURES_URL: body_of(SECOND), ETAG: '"e2"'})
    assert loader.read_cache() is None
    assert installs.applied == [names(FIRST), names(SECOND)]


def test_an_unusable_entry_is_reported_once_per_etag() -> None:
    cache = DictCache({FEATURES_URL: "{broken", ETAG: '"bad"'})
    loader, _ = loader_of(cache)
    assert loader.read_cache() is not None
    assert loader.read_cache() is None  # already reported


def test_a_fetched_body_is_installed_cached_and_announced_only_when_usable() -> None:
    cache = DictCache()
    fetched: list[str] = []
    installs = Installs()
    loader = FlagLoader(cache, installs, fetched.append)
    assert loader.install_fetched(body_of(FIRST), '"e1"') is None
    assert loader.install_fetched("{broken", '"e2"') is not None
    assert installs.applied == [names(FIRST)] and fetched == [body_of(FIRST)]
    assert cache.mset_calls == [{FEATURES_URL: body_of(FIRST), ETAG: '"e1"'}]
    assert loader.etag == '"e1"'


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.usefixtures("collector_on")
def test_the_collector_is_paused_during_the_compile_and_on_again_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    compiling: list[bool] = []
    swapping: list[bool] = []
    apply = Snapshot.apply

    def watched(self: Snapshot, data: Any, owned: bool = False) -> Snapshot:
        compiling.append(gc.isenabled())
        return apply(self, data, owned)

    monkeypatch.setattr(Snapshot, "apply", watched)
    loader, installs = loader_of()

    def swap(update: Any) -> Snapshot:
        swapping.append(gc.isenabled())  # the client's side, around the compile
        return installs(update)

    loader.swap = swap
    loader.install(FIRST)
    assert compiling == [False] and swapping == [True] and gc.isenabled()
    assert installs.applied == [names(FIRST)]


# -- parsing large payloads in pieces ------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)
TOP_LEVEL = st.dictionaries(st.text(max_size=8), JSON_VALUES | st.lists(JSON_VALUES), max_size=5)


def parsed_in_pieces(text: str) -> Any:
    """``parse_json`` as it parses a large text, whatever the length of this one."""
    with mock.patch.object(loader_module, "PIECEWISE_FROM", 0):
        return loader_module.parse_json(text)


def outcome(parse: Any, text: str) -> Any:
    try:
        return ("value", parse(text))
    except (ValueError, RecursionError) as error:
        return ("error", type(error), str(error))


@given(TOP_LEVEL, st.sampled_from([None, 0, 2]), st.sampled_from([(",", ":"), (", ", " : ")]))
def test_parsing_in_pieces_gives_what_json_loads_gives(
    value: dict[str, Any], indent: int | None, separators: tuple[str, str]
) -> None:
    text = json.dumps(value, indent=indent, separators=separators)
    assert parsed_in_pieces(text) == json.loads(text)


@given(TOP_LEVEL, st.data())
def test_a_broken_text_fails_in_pieces_as_json_loads_fails(value: dict[str, Any],
                                                           data: st.DataObject) -> None:
    text = json.dumps(value)
    cut = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.sampled_from(["", ",", "]", "}", "[", "x", '"', " ", "\ufeff"]))
    broken = text[:cut] + junk + text[cut + 1:]
    assert outcome(parsed_in_pieces, broken) == outcome(json.loads, broken)


@pytest.mark.parametrize("text", [
    "{}", " { } ", '{"a": []}', '{"a": [ ]}', '{"a": [1,]}', '{"a": [1 2]}', '{"a": 1,}',
    '{"a": 1}{', '{"a": NaN, "b": [Infinity]}', '{"a": [1], "a": 2}', "[1, 2]", '"text"',
    "\ufeff{}", '{"features": [' + "[" * 100_000 + "]}", "",
])
def test_parsing_in_pieces_at_the_edges(text: str) -> None:
    assert outcome(parsed_in_pieces, text) == outcome(json.loads, text)


def test_a_large_payload_is_parsed_in_pieces_and_a_small_one_at_once() -> None:
    flags = payload(*(feature(f"flag-{index}") for index in range(3_000)))
    text = body_of(flags)
    assert len(text) > loader_module.PIECEWISE_FROM
    with mock.patch.object(loader_module, "_object_in_pieces",
                           wraps=loader_module._object_in_pieces) as pieces:
        assert loader_module.parse_json(text) == flags
        assert loader_module.parse_json(body_of(FIRST)) == FIRST
    assert pieces.call_count == 1
