"""Reading bootstrap flag definitions from a dict, a JSON string, bytes or a file."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from types import MappingProxyType

import pytest

from tests.support.payloads import delta, feature, feature_updated, payload
from unleash_lite.bootstrap import load_bootstrap, require_bootstrap

FLAGS = payload(feature("a"), feature("b", enabled=False))


def test_a_mapping_is_returned_as_it_is() -> None:
    assert load_bootstrap(FLAGS) is FLAGS
    proxy = MappingProxyType(FLAGS)
    assert load_bootstrap(proxy) is proxy
    ordered = OrderedDict(FLAGS)
    assert load_bootstrap(ordered) is ordered


@pytest.mark.parametrize(
    "text",
    [json.dumps(FLAGS), "  \n\t" + json.dumps(FLAGS), json.dumps(FLAGS, indent=2)],
)
def test_json_text(text: str) -> None:
    assert load_bootstrap(text) == FLAGS


def test_json_bytes() -> None:
    assert load_bootstrap(json.dumps(FLAGS).encode("utf-8")) == FLAGS


def test_delta_json_is_returned_unchanged() -> None:
    raw = delta(feature_updated(feature("c")))
    assert load_bootstrap(json.dumps(raw)) == raw


def test_file_paths_as_text_and_path_objects(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(FLAGS), encoding="utf-8")
    assert load_bootstrap(path) == FLAGS
    assert load_bootstrap(str(path)) == FLAGS
    assert load_bootstrap(str(path).encode()) == FLAGS


def test_a_file_with_unicode_names(tmp_path: Path) -> None:
    path = tmp_path / "flågs ünïcode.json"
    raw = payload(feature("blå-knapp"))
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    assert load_bootstrap(path) == raw


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{oops", "bootstrap string is not valid JSON"),
        ('{"a": 1,}', "bootstrap string is not valid JSON"),
        ("/definitely/not/here.json", "cannot read bootstrap file"),
        ("features.json", "cannot read bootstrap file"),
        ("", "cannot read bootstrap file"),
        ("[1, 2]", "cannot read bootstrap file"),  # not '{': read as a path
        (b"\xff\xfe", "codec can't decode"),
    ],
)
def test_invalid_sources_raise_value_error(source: str | bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_bootstrap(source)


def test_invalid_files_raise_value_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json is not valid JSON"):
        load_bootstrap(broken)

    listing = tmp_path / "list.json"
    listing.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="does not hold a JSON object"):
        load_bootstrap(listing)

    with pytest.raises(ValueError, match="cannot read bootstrap file"):
        load_bootstrap(tmp_path)  # a directory

    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'{"name": "bl\xe5"}')
    with pytest.raises(ValueError):
        load_bootstrap(latin1)


def test_loaded_payload_is_not_validated_here() -> None:
    # Shape checks belong to the engine (PayloadError); load_bootstrap only reads JSON.
    assert load_bootstrap('{"no": "features"}') == {"no": "features"}


def test_a_long_string_that_is_neither_json_nor_a_path_is_not_logged_whole() -> None:
    source = "[" + "1," * 50_000 + "1]"
    with pytest.raises(ValueError) as caught:
        load_bootstrap(source)
    assert len(str(caught.value)) < 400
    assert "(100003 characters)" in str(caught.value)


# -- require_bootstrap: what an offline client refuses ------------------------------------------


def test_require_bootstrap_returns_a_usable_payload(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(FLAGS), encoding="utf-8")
    assert require_bootstrap(path) == FLAGS
    assert require_bootstrap(FLAGS) is FLAGS
    raw = delta(feature_updated(feature("c")))
    assert require_bootstrap(json.dumps(raw)) == raw


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{oops", r"not a usable source \(bootstrap string is not valid JSON"),
        ("/definitely/not/here.json", r"not a usable source \(cannot read bootstrap file"),
        ('{"no": "features"}', r"not a usable flags payload \(payload has neither 'features'"),
        ({"features": "nope"}, r"not a usable flags payload \('features' is not a list\)"),
        ({"events": {}}, r"not a usable flags payload \(delta 'events' is not a list\)"),
    ],
)
def test_require_bootstrap_names_bootstrap_and_says_what_is_wrong(
    source: object, message: str
) -> None:
    with pytest.raises(ValueError, match=rf"^bootstrap is {message}.*only source of flags"):
        require_bootstrap(source)  # type: ignore[arg-type]


def test_require_bootstrap_refuses_nesting_too_deep_to_copy() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(5_000):
        node["x"] = node = {}
    with pytest.raises(ValueError, match=r"\(it nests too deeply\)"):
        require_bootstrap(payload(feature("a", extra=deep)))


def test_require_bootstrap_refuses_a_source_of_the_wrong_type() -> None:
    with pytest.raises(TypeError, match="bootstrap must be a dict, a JSON string or a path"):
        require_bootstrap([FLAGS])  # type: ignore[arg-type]
