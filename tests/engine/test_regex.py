"""REGEX constraints: RE2 syntax, rejected Perl-only constructs, and linear-time matching."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.payloads import constraint, feature, snapshot_of, strategy
from unleash_lite.engine import StaticContext
from unleash_lite.engine.constraints import compile_constraint
from unleash_lite.engine.regex import InvalidPattern, compile_search


def regex_holds(pattern: str, text: object, *, case_insensitive: bool = False) -> bool:
    raw = constraint("email", "REGEX", value=pattern, case_insensitive=case_insensitive)
    return compile_constraint(raw, StaticContext()).check({"email": text})


def test_pattern_matches_anywhere_unless_anchored() -> None:
    assert compile_search("b+")("aaabbbccc")
    assert not compile_search("^b+")("aaabbbccc")
    assert compile_search("^a.*c$")("aaabbbccc")
    assert not compile_search("^a.*b$")("aaabbbccc")


def test_posix_character_classes() -> None:
    digits = compile_search("^[[:digit:]]+$")
    assert digits("0123456789")
    assert not digits("12a")
    assert compile_search("^[[:alpha:]][[:alnum:]_]*$")("user_42")
    assert not compile_search("^[[:upper:]]+$")("ABc")


def test_inline_flags_apply_from_where_they_appear() -> None:
    search = compile_search("^a(?i)b$")
    assert search("ab")
    assert search("aB")
    assert not search("Ab")  # the flag does not reach back over the leading 'a'


def test_scoped_inline_flag_group() -> None:
    search = compile_search("^(?i:hello) World$")
    assert search("HELLO World")
    assert not search("hello world")


def test_ignore_case_option() -> None:
    assert compile_search("^admin@", ignore_case=True)("ADMIN@example.com")
    assert not compile_search("^admin@")("ADMIN@example.com")


def test_unicode_aware_matching() -> None:
    assert compile_search(r"^\p{Greek}+$")("αβγ")
    assert compile_search("^.$")("é")  # one code point, two UTF-8 bytes
    assert compile_search("^CAFÉ$", ignore_case=True)("café")


@pytest.mark.parametrize(
    "pattern",
    [
        "foo(?=bar)",  # lookahead
        "foo(?!bar)",  # negative lookahead
        "(?<=@)example",  # lookbehind
        "(?<!@)example",  # negative lookbehind
        r"(a)\1",  # backreference
        "(unclosed",
        "[z-a]",
        "a{2,1}",
        "*leading",
    ],
)
def test_non_re2_patterns_are_rejected(pattern: str) -> None:
    with pytest.raises(InvalidPattern):
        compile_search(pattern)


def test_invalid_pattern_prints_nothing_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    for pattern in ("(?<=a)b", r"(a)\1", "(", "x{5,1}"):
        with pytest.raises(InvalidPattern):
            compile_search(pattern)
        compiled = compile_constraint(constraint("email", "REGEX", value=pattern), StaticContext())
        assert compiled.problem is not None
        assert not compiled.check({"email": "ab"})
    snapshot_of(feature("flag", [strategy(constraints=[constraint("x", "REGEX", value="(")])]))
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_nested_quantifiers_run_in_linear_time() -> None:
    # Catastrophic for a backtracking engine; RE2 answers in one linear pass. Only the answer
    # is asserted; timing targets live in benchmarks/, never in tests.
    search = compile_search("^(a+)+$")
    hostile = "a" * 100_000 + "!"
    started = time.perf_counter()
    assert search(hostile) is False
    elapsed = time.perf_counter() - started
    print(f"^(a+)+$ against {len(hostile)} characters: {elapsed * 1000:.1f} ms")
    assert search("a" * 100_000) is True


def test_hostile_pattern_through_a_flag() -> None:
    snapshot = snapshot_of(
        feature("flag", [strategy(constraints=[constraint("name", "REGEX", value="^(a|aa)+$")])])
    )
    assert snapshot.is_enabled("flag", {"name": "a" * 50_000 + "b"}) is False
    assert snapshot.is_enabled("flag", {"name": "a" * 50_000}) is True


def test_regex_constraint_values_and_flags() -> None:
    assert regex_holds(r"^\d{3}-\d{4}$", "555-1234")
    assert not regex_holds(r"^\d{3}-\d{4}$", "5551234")
    assert regex_holds("^ola@", "OLA@mail.no", case_insensitive=True)
    assert not regex_holds("^ola@", "OLA@mail.no")


def test_regex_pattern_may_come_from_values() -> None:
    raw = {"contextName": "email", "operator": "REGEX", "values": ["@example\\.com$"]}
    assert compile_constraint(raw, StaticContext()).check({"email": "a@example.com"})


def test_regex_inverted_and_missing_field() -> None:
    static = StaticContext()
    inverted = compile_constraint(constraint("email", "REGEX", value="^a", inverted=True), static)
    assert inverted.check({"email": "bob"})
    assert not inverted.check({"email": "alice"})
    assert inverted.check({})
    plain = compile_constraint(constraint("email", "REGEX", value=".*"), static)
    assert not plain.check({})


def test_regex_on_non_string_context_values() -> None:
    assert regex_holds("^4[0-9]$", 42)
    assert regex_holds("^true$", True)


def test_lone_surrogate_in_the_context_does_not_break_a_regex_constraint() -> None:
    snapshot = snapshot_of(
        feature("flag", [strategy(constraints=[constraint("name", "REGEX", value="^x")])])
    )
    hostile = json.loads('"\\ud800x"')
    assert snapshot.is_enabled("flag", {"name": hostile}) is False
