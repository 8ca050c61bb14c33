"""The ``unleash-lite demo`` command."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from tests.engine.payloads import (
    bucket,
    constraint,
    expected_variant,
    feature,
    payload,
    strategy,
    variant,
)
from unleash_lite.cli import DEMO_CONTEXTS, main, run_demo

REPO = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^  (ON |off) (\S+)(?: \[([^\]]+)\])?: (.+)$")
BUNDLED = json.loads(
    resources.files("unleash_lite.examples").joinpath("flags.json").read_text(encoding="utf-8")
)
BUNDLED_NAMES = sorted(f["name"] for f in BUNDLED["features"])


def parse(output: str) -> tuple[str, dict[str, dict[str, tuple[bool, str | None, str]]]]:
    """The header line and, per context label, each flag's (on, variant, message)."""
    header, *blocks = output.strip().split("\n\n")
    results: dict[str, dict[str, tuple[bool, str | None, str]]] = {}
    for block in blocks:
        title, *lines = block.splitlines()
        label = title.split(" (")[0]
        flags = {}
        for line in lines:
            match = LINE.match(line)
            assert match, f"unexpected line {line!r}"
            state, name, shown_variant, message = match.groups()
            flags[name] = (state == "ON ", shown_variant, message)
        results[label] = flags
    return header, results


def test_demo_prints_every_flag_for_every_context_with_a_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo"]) == 0
    header, results = parse(capsys.readouterr().out)
    assert header == (
        f"unleash_lite demo: {len(BUNDLED_NAMES)} flags from bundled example (flags.json), offline"
    )
    assert list(results) == [label for label, _ in DEMO_CONTEXTS]
    for label, flags in results.items():
        assert sorted(flags) == BUNDLED_NAMES, label
        for name, (_, _, message) in flags.items():
            assert len(message) > 10, (label, name)


def test_demo_answers_match_the_flag_rules(capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo"])
    _, results = parse(capsys.readouterr().out)
    staff, sweden, denmark, anonymous = (results[label] for label, _ in DEMO_CONTEXTS)

    for flags in results.values():
        assert flags["maintenance-banner"][0] is False
        assert "disabled" in flags["maintenance-banner"][2]
        assert flags["pricing-page"][0] is True

    # delete_survey_flag: the staff segment (email ends with @example.com, any case).
    assert staff["delete_survey_flag"][0] is True
    assert "bucket" in staff["delete_survey_flag"][2]
    for flags in (sweden, denmark, anonymous):
        assert flags["delete_survey_flag"][0] is False
        assert "STR_ENDS_WITH" in flags["delete_survey_flag"][2]

    # mobile-app-v3-api: appVersion > 3.0.0.
    assert staff["mobile-app-v3-api"][0] is True
    assert denmark["mobile-app-v3-api"][0] is True
    assert sweden["mobile-app-v3-api"][0] is False
    assert "'2.9.9'" in sweden["mobile-app-v3-api"][2]

    # new-checkout: Nordic countries, 30% by userId; express-shipping depends on it.
    for label, context in DEMO_CONTEXTS[:3]:
        in_rollout = bucket("new-checkout", context["userId"]) <= 30
        assert results[label]["new-checkout"][0] is in_rollout
        assert results[label]["express-shipping"][0] is in_rollout
        assert (
            f"bucket {bucket('new-checkout', context['userId'])}"
            in (results[label]["new-checkout"][2])
        )
    assert anonymous["new-checkout"][0] is False
    assert "parent flag 'new-checkout'" in anonymous["express-shipping"][2]

    # pricing-page: two variants of weight 500, sticky on userId for identified users.
    for label, context in DEMO_CONTEXTS[:3]:
        expected = expected_variant(
            "pricing-page", context["userId"], [("control", 500), ("annual-first", 500)]
        )
        assert results[label]["pricing-page"][1] == expected


def test_demo_with_a_bootstrap_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flags = payload(
        feature("everyone"),
        feature("norway-only", [strategy(constraints=[constraint("country", "IN", ["NO"])])]),
        feature("colour", variants=[variant("blue", 1)]),
    )
    path = tmp_path / "my flags.json"
    path.write_text(json.dumps(flags), encoding="utf-8")
    assert main(["demo", "--bootstrap", str(path)]) == 0
    header, results = parse(capsys.readouterr().out)
    assert header == f"unleash_lite demo: 3 flags from {path}, offline"
    assert list(results) == [label for label, _ in DEMO_CONTEXTS]
    for label, context in DEMO_CONTEXTS:
        flags_seen = results[label]
        assert sorted(flags_seen) == ["colour", "everyone", "norway-only"]
        assert flags_seen["everyone"][0] is True
        assert flags_seen["colour"][1] == "blue"
        in_norway = context.get("properties", {}).get("country") == "NO"
        assert flags_seen["norway-only"][0] is in_norway


def test_run_demo_writes_to_the_given_stream() -> None:
    out = io.StringIO()
    assert run_demo(out=out) == 0
    _, results = parse(out.getvalue())
    assert len(results) == len(DEMO_CONTEXTS)


@pytest.mark.parametrize("argv", [[], ["nope"], ["demo", "--unknown"]])
def test_bad_command_lines_exit_with_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage: unleash-lite" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    assert exit_info.value.code == 0
    assert "--bootstrap" in capsys.readouterr().out


def test_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "unleash_lite.cli", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("unleash_lite demo:")


def test_demo_with_an_unreadable_bootstrap_file_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--bootstrap", str(tmp_path / "missing.json")]) != 0
