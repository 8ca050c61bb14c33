"""Semantic version parsing and precedence (semver.org 2.0.0)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from unleash_lite.engine.semver import Version, parse_version


def parsed(text: str) -> Version:
    version = parse_version(text)
    assert version is not None, text
    return version


@pytest.mark.parametrize(
    ("text", "core"),
    [
        ("0.0.0", (0, 0, 0)),
        ("1.2.3", (1, 2, 3)),
        ("10.20.30", (10, 20, 30)),
        ("1.2.3-alpha", (1, 2, 3)),
        ("1.2.3-alpha.1", (1, 2, 3)),
        ("1.2.3-0.3.7", (1, 2, 3)),
        ("1.2.3-x.7.z.92", (1, 2, 3)),
        ("1.2.3-x-y-z.--", (1, 2, 3)),
        ("1.2.3+build.5", (1, 2, 3)),
        ("1.2.3-rc.1+build.2024-01-01", (1, 2, 3)),
        ("999999999.0.1", (999999999, 0, 1)),
    ],
)
def test_valid_versions_parse(text: str, core: tuple[int, int, int]) -> None:
    version = parsed(text)
    assert (version.major, version.minor, version.patch) == core
    assert version.is_release is ("-" not in text.split("+")[0])


@pytest.mark.parametrize(
    "text",
    [
        "v1.2.3",
        "V1.2.3",
        "1.2",
        "1",
        "1.2.3.4",
        "01.2.3",
        "1.02.3",
        "1.2.03",
        "1.2.3-",
        "1.2.3-01",  # numeric prerelease identifiers have no leading zeros
        "1.2.3-alpha..1",
        "1.2.3+",
        " 1.2.3",
        "1.2.3 ",
        "",
        "latest",
        "-1.2.3",
        "1.2.3-αβ",
        "18446744073709551616.0.0",  # beyond 64 bits, as in Rust's semver crate
        "1.18446744073709551616.0",
        "1.0.18446744073709551616",
        "1" * 5000 + ".0.0",
        "1\u0661.2.3",  # only ASCII digits (an Arabic-Indic one was read as 11)
        "1.\u0662.3",
        "1.2.3-\u0661",
    ],
)
def test_invalid_versions_do_not_parse(text: str) -> None:
    assert parse_version(text) is None


def test_precedence_follows_the_semver_example_chain() -> None:
    chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
    ]
    versions = [parsed(text) for text in chain]
    for lower, higher in pairwise(versions):
        assert lower < higher
    assert sorted(reversed(versions)) == versions


def test_components_up_to_64_bits() -> None:
    assert parsed("18446744073709551615.18446744073709551615.18446744073709551615") > parsed(
        "18446744073709551614.0.0"
    )


def test_numeric_prerelease_identifiers_of_any_size_compare_as_numbers() -> None:
    huge = "1" + "0" * 5000
    assert parsed(f"1.0.0-{huge}") > parsed("1.0.0-18446744073709551616")
    assert parsed(f"1.0.0-{huge}") < parsed("1.0.0-a")
    assert parsed("1.0.0-18446744073709551616") > parsed("1.0.0-9")


def test_numeric_parts_compare_as_numbers_not_text() -> None:
    assert parsed("1.10.0") > parsed("1.9.0")
    assert parsed("1.0.0-rc.10") > parsed("1.0.0-rc.9")
    assert parsed("1.0.0-1") < parsed("1.0.0-a")  # numeric identifiers sort first


def test_build_metadata_is_ignored_for_precedence() -> None:
    assert parsed("1.2.3+one") == parsed("1.2.3+two") == parsed("1.2.3")
    assert parsed("1.2.3-rc.1+x") == parsed("1.2.3-rc.1")
