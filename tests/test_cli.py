"""The ``unleash-lite`` command line: demo, eval, explain, fetch and validate."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import Ran, free_port
from tests.support.payloads import (
    bucket,
    constraint,
    dependency,
    expected_variant,
    feature,
    payload,
    strategy,
    variant,
)
from tests.support.server import FakeUnleashServer
from tests.support.server import body as answer_with_body
from unleash_lite import __version__
from unleash_lite.cli import (
    DEMO_CONTEXTS,
    build_context,
    display_url,
    fetch_failure,
    main,
    redact,
    run_demo,
)

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


# -- shared helpers for the commands beyond demo ----------------------------------------------

TOKEN = "client-token-that-must-never-show"
BUNDLED_PATH = str(resources.files("unleash_lite.examples").joinpath("flags.json"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err
    return Ran(code, captured.out, captured.err)


def write(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return str(path)


# -- eval -------------------------------------------------------------------------------------


def test_eval_prints_the_answer_the_variant_and_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    done = run(capsys, "eval", "pricing-page", "--context", "userId=17")
    assert done.code == 0
    chosen = expected_variant("pricing-page", "17", [("control", 500), ("annual-first", 500)])
    lines = done.out.splitlines()
    assert lines[0] == f"pricing-page: ON (variant {chosen})"
    assert lines[1] == "  reason:  strategy_matched"
    assert lines[2].startswith("  detail:  strategy #1 (default) matched")
    assert lines[3].startswith("  payload: json {")


@pytest.mark.parametrize("user", ["17", "4242", "31", "1", "99"])
def test_eval_answers_like_the_rollout_bucket(
    user: str, capsys: pytest.CaptureFixture[str]
) -> None:
    done = run(capsys, "eval", "new-checkout", "-c", f"userId={user}", "-c", "country=NO")
    assert done.code == 0
    in_rollout = bucket("new-checkout", user) <= 30
    assert done.out.splitlines()[0] == f"new-checkout: {'ON' if in_rollout else 'off'}"
    assert f"bucket {bucket('new-checkout', user)} " in done.out


def test_eval_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    done = run(capsys, "eval", "new-checkout", "-c", "userId=17", "-c", "country=NO", "--json")
    assert done.code == 0
    data = done.json()
    assert set(data) == {
        "flag",
        "known",
        "enabled",
        "variant",
        "reason",
        "message",
        "strategy",
        "strategies",
        "context",
        "source",
    }
    in_rollout = bucket("new-checkout", "17") <= 30
    assert data["flag"] == "new-checkout"
    assert data["known"] is True
    assert data["enabled"] is in_rollout
    assert data["variant"] == {"name": "disabled", "enabled": False, "feature_enabled": in_rollout}
    assert data["reason"] == ("strategy_matched" if in_rollout else "no_strategy_matched")
    assert data["context"] == {"userId": "17", "properties": {"country": "NO"}}
    assert data["source"] == "bundled example (flags.json)"
    trace = data["strategies"][0]
    assert trace == {
        "index": 0,
        "name": "flexibleRollout",
        "matched": in_rollout,
        "detail": trace["detail"],
        "failed_constraint": None,
        "seen_value": None,
        "bucket": bucket("new-checkout", "17"),
        "rollout": 30,
    }
    assert data["strategy"] == (trace if in_rollout else None)


def test_eval_json_reports_the_failing_constraint_and_the_value_seen(
    capsys: pytest.CaptureFixture[str],
) -> None:
    done = run(capsys, "eval", "mobile-app-v3-api", "-c", "appVersion=2.9.9", "--json")
    data = done.json()
    assert (done.code, data["enabled"], data["reason"]) == (0, False, "no_strategy_matched")
    assert data["strategies"][0]["failed_constraint"] == "appVersion SEMVER_GT [3.0.0]"
    assert data["strategies"][0]["seen_value"] == "2.9.9"


def test_eval_exit_code_option_maps_off_to_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "eval", "maintenance-banner", "--exit-code").code == 1
    assert run(capsys, "eval", "maintenance-banner").code == 0
    assert run(capsys, "eval", "pricing-page", "--exit-code").code == 0
    assert run(capsys, "eval", "nope", "--exit-code").code == 3


def test_eval_of_an_unknown_flag_exits_3_with_suggestions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    done = run(capsys, "eval", "new-chekout")
    assert (done.code, done.out) == (3, "")
    assert done.err == (
        "unleash-lite eval: unknown flag 'new-chekout' (6 flags in bundled example "
        "(flags.json)); did you mean 'new-checkout'?\n"
    )
    data = run(capsys, "eval", "new-chekout", "--json").json()
    assert (data["known"], data["enabled"], data["reason"]) == (False, False, "unknown_flag")
    assert main(["eval", "new-chekout", "--json"]) == 3


def test_eval_reads_a_bootstrap_file_and_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = payload(
        feature("norway", [strategy(constraints=[constraint("country", "IN", ["NO"])])])
    )
    path = write(tmp_path / "flags.json", flags)
    assert run(capsys, "eval", "norway", "--bootstrap", path, "-c", "country=NO").out.startswith(
        "norway: ON\n"
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(flags)))
    done = run(capsys, "eval", "norway", "--bootstrap", "-", "-c", "country=SE", "--json")
    assert (done.json()["enabled"], done.json()["source"]) == (False, "stdin")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read {path}: No such file or directory"),
        ("{not json", "{path} is not valid JSON: "),
        ("[1, 2]", "{path} is not a flags payload: expected a JSON object, got list"),
        ('{"flags": []}', "{path} is not a flags payload: payload has neither"),
        ('{"features": [], "featureStrategies": []}', "{path}: this is an Unleash admin export"),
    ],
)
def test_eval_with_an_unusable_file_exits_4(
    content: str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "flags.json"
    if content is not None:
        write(path, content)
    for command in (["eval", "x"], ["explain"]):
        done = run(capsys, *command, "--bootstrap", str(path))
        assert done.code == 4
        assert done.out == ""
        assert done.err.startswith(f"unleash-lite {command[0]}: " + message.format(path=path))
        data = run(capsys, *command, "--bootstrap", str(path), "--json").json()
        assert data["error"]["kind"] == "file"
        assert data["error"]["message"].startswith(message.format(path=path))


# -- contexts ---------------------------------------------------------------------------------


def test_context_keys_go_to_the_top_level_or_to_properties() -> None:
    context = build_context(
        [
            ("userId", "17"),
            ("session_id", "s1"),
            ("remote_address", "10.0.0.1"),
            ("environment", "production"),
            ("app_name", "shop"),
            ("currentTime", "2024-06-01T12:00:00Z"),
            ("country", "NO"),
            ("properties.userId", "from-properties"),
            ("properties.a=b", "c"),
            ("email", ""),
        ]
    )
    assert context == {
        "userId": "17",
        "sessionId": "s1",
        "remoteAddress": "10.0.0.1",
        "environment": "production",
        "appName": "shop",
        "currentTime": "2024-06-01T12:00:00Z",
        "properties": {"country": "NO", "userId": "from-properties", "a=b": "c", "email": ""},
    }
    assert build_context([("user_id", "1"), ("userId", "2")]) == {"userId": "2"}
    assert build_context([]) == {}


def test_the_context_reaches_the_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flags = payload(
        feature("by-user", [strategy("userWithId", {"userIds": "17"})]),
        feature(
            "by-time",
            [
                strategy(
                    constraints=[
                        constraint("currentTime", "DATE_AFTER", value="2030-01-01T00:00:00Z")
                    ]
                )
            ],
        ),
        feature("by-prop", [strategy(constraints=[constraint("tier", "IN", ["gold"])])]),
        feature("by-app", [strategy(constraints=[constraint("appName", "IN", ["shop"])])]),
    )
    path = write(tmp_path / "flags.json", flags)

    def enabled(flag: str, *context: str) -> bool:
        argv = ["eval", flag, "--bootstrap", path, "--json"]
        for item in context:
            argv += ["-c", item]
        return bool(run(capsys, *argv).json()["enabled"])

    assert enabled("by-user", "user_id=17") and not enabled("by-user", "properties.x=17")
    assert enabled("by-time", "current_time=2031-01-01T00:00:00Z")
    assert not enabled("by-time", "currentTime=2029-01-01T00:00:00+01:00")
    assert enabled("by-prop", "tier=gold") and enabled("by-prop", "properties.tier=gold")
    assert enabled("by-app", "appName=shop") and not enabled("by-app")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "f", "-c", "userId"], "expected KEY=VALUE, got 'userId'"),
        (["eval", "f", "-c", "=1"], "expected KEY=VALUE, got '=1'"),
        (["explain", "-c", "properties=1"], "expected KEY=VALUE, got 'properties=1'"),
        (["eval", "f", "-c", "currentTime=yesterday"], "currentTime 'yesterday' is not a date"),
        (["eval", "f", "--project", "p"], "--project and --timeout need --url"),
        (["explain", "--timeout", "3"], "--project and --timeout need --url"),
        (["eval", "f", "--url", "localhost:4242"], "expected an http:// or https:// URL"),
        (["eval", "f", "--url", "http://x:port/api"], "url has an invalid host or port"),
        (["fetch", "--url", "http://x/api?token=s3cr3t", "-o", "f"], "url must not have a query"),
        (["fetch", "--url", "http://x/api", "-o", "f", "--timeout", "0"], "positive number"),
        (["fetch", "--url", "http://x/api"], "the following arguments are required: -o"),
        (["eval", "f", "--bootstrap", "a", "--url", "http://x/api"], "not allowed with"),
        (["validate"], "the following arguments are required: FILE"),
        (["validate", "f", "--fail-on", "never"], "invalid choice: 'never'"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: unleash-lite" in err
    assert message in err
    assert "s3cr3t" not in err


def test_version_and_help_list_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert (exit_info.value.code, capsys.readouterr().out) == (0, f"unleash-lite {__version__}\n")
    for argv in (["--help"], ["eval", "--help"], ["validate", "--help"], ["fetch", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        assert "exit codes:" in out
        for code in ("0  success", "3  eval: unknown flag", "5  the server cannot be reached"):
            assert code in out


# -- explain ----------------------------------------------------------------------------------


def test_explain_lists_every_flag_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    done = run(capsys, "explain", "-c", "userId=31", "-c", "country=DK", "-c", "appVersion=3.0.1")
    assert done.code == 0
    header, *lines = done.out.splitlines()
    assert header == (
        "6 flags from bundled example (flags.json); context: userId=31, country=DK, "
        "appVersion=3.0.1"
    )
    line = re.compile(r"^  (ON |off) (\S+)(?: \[([^\]]+)\])? \(([a-z_]+)\): (.+)$")
    seen = {}
    for text in lines:
        match = line.match(text)
        assert match, text
        seen[match[2]] = (match[1] == "ON ", match[3], match[4], match[5])
    assert sorted(seen) == BUNDLED_NAMES
    assert seen["maintenance-banner"][:3] == (False, None, "disabled")
    assert seen["mobile-app-v3-api"][:3] == (True, None, "strategy_matched")
    assert seen["delete_survey_flag"][2] == "no_strategy_matched"
    expected = expected_variant("pricing-page", "31", [("control", 500), ("annual-first", 500)])
    assert seen["pricing-page"][:2] == (True, expected)
    in_rollout = bucket("new-checkout", "31") <= 30
    assert seen["express-shipping"][2] == ("strategy_matched" if in_rollout else "dependency_unmet")


def test_explain_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    data = run(capsys, "explain", "--json", "-c", "sessionId=s").json()
    assert set(data) == {"source", "context", "flags"}
    assert data["context"] == {"sessionId": "s"}
    assert [flag["flag"] for flag in data["flags"]] == BUNDLED_NAMES
    for flag in data["flags"]:
        assert set(flag) == {
            "flag",
            "known",
            "enabled",
            "variant",
            "reason",
            "message",
            "strategy",
            "strategies",
        }
        assert flag["known"] is True
    by_name = {flag["flag"]: flag for flag in data["flags"]}
    assert by_name["maintenance-banner"]["reason"] == "disabled"
    assert by_name["express-shipping"]["reason"] == "dependency_unmet"


def test_explain_an_empty_context(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "f.json", payload())
    done = run(capsys, "explain", "--bootstrap", path)
    assert (done.code, done.out) == (0, f"0 flags from {path}; context: (empty)\n")


# -- validate ---------------------------------------------------------------------------------


def test_validate_the_bundled_example(capsys: pytest.CaptureFixture[str]) -> None:
    done = run(capsys, "validate", BUNDLED_PATH)
    assert (done.code, done.out) == (0, f"{BUNDLED_PATH}: 6 flags, 1 segment: no problems\n")
    data = run(capsys, "validate", BUNDLED_PATH, "--json").json()
    assert data == {
        "file": BUNDLED_PATH,
        "format": "full",
        "flags": 6,
        "segments": 1,
        "errors": 0,
        "warnings": 0,
        "problems": [],
    }


BROKEN = payload(
    feature(
        "checkout",
        [
            strategy(),
            strategy(constraints=[constraint("email", "STR_LIKE", ["@example.com"])]),
        ],
    ),
    feature("child", dependencies=[dependency("ghost")]),
)


def test_validate_reports_each_problem_with_flag_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "flags.json", BROKEN)
    done = run(capsys, "validate", path)
    assert done.code == 1
    assert done.out.splitlines() == [
        'error: flag "checkout": strategies[1].constraints[0].operator: unknown operator '
        '"STR_LIKE"; the constraint never matches',
        'warning: flag "child": dependencies[0].feature: parent flag "ghost" is not defined; '
        "this flag is always off",
        f"{path}: 2 flags, 0 segments: 1 error, 1 warning",
    ]
    data = run(capsys, "validate", path, "--json").json()
    assert (data["errors"], data["warnings"], data["flags"]) == (1, 1, 2)
    assert data["problems"][0] == {
        "severity": "error",
        "flag": "checkout",
        "segment": None,
        "path": "strategies[1].constraints[0].operator",
        "message": 'unknown operator "STR_LIKE"; the constraint never matches',
    }


def test_validate_fail_on_and_custom_strategies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warnings_only = write(
        tmp_path / "w.json", payload(feature("child", dependencies=[dependency("ghost")]))
    )
    assert run(capsys, "validate", warnings_only).code == 1
    assert run(capsys, "validate", warnings_only, "--fail-on", "error").code == 0
    assert (
        run(capsys, "validate", write(tmp_path / "b.json", BROKEN), "--fail-on", "error").code == 1
    )
    custom = write(tmp_path / "c.json", payload(feature("f", [strategy("canary")])))
    assert run(capsys, "validate", custom).code == 1
    assert run(capsys, "validate", custom, "--custom-strategy", "canary").code == 0


def test_validate_an_admin_export_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = {"features": [{"name": "a"}], "featureStrategies": [], "tagTypes": []}
    done = run(capsys, "validate", write(tmp_path / "export.json", export))
    assert done.code == 1
    assert done.out.startswith("error: this is an Unleash admin export")
    assert "unleash-lite fetch --url" in done.out
    assert run(capsys, "validate", str(tmp_path / "export.json"), "--json").json()["format"] == (
        "export"
    )


def test_validate_a_delta_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "sys.stdin",
        io.StringIO(
            json.dumps(
                {
                    "events": [
                        {"type": "hydration", "features": [feature("a")], "segments": []},
                        {"type": "mystery"},
                    ]
                }
            )
        ),
    )
    done = run(capsys, "validate", "-")
    assert done.code == 1
    assert done.out.splitlines() == [
        'error: events[1].type: unknown event type "mystery"; ignored',
        "stdin: 1 flag, 0 segments: 1 error, 0 warnings",
    ]


def test_validate_an_unreadable_file_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = run(capsys, "validate", str(tmp_path / "nope.json"))
    assert (missing.code, missing.out) == (4, "")
    assert "cannot read" in missing.err
    bad = run(capsys, "validate", write(tmp_path / "bad.json", "{"), "--json")
    assert bad.code == 4
    assert bad.json()["error"]["kind"] == "file"
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{")
    assert run(capsys, "validate", str(binary)).code == 4


def test_validate_not_a_payload_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = run(capsys, "validate", write(tmp_path / "x.json", {"flags": []}))
    assert done.code == 1
    assert done.out.splitlines()[0] == (
        "error: not a flags payload: payload has neither 'features' nor 'events'"
    )


# -- fetch, against a real HTTP server on 127.0.0.1 -------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeUnleashServer]:
    """The fake Unleash server with the bundled flags, refusing any token but ``TOKEN``."""
    with FakeUnleashServer(payload=json.loads(json.dumps(BUNDLED)), token=TOKEN) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _private_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("UNLEASH_API_TOKEN", raising=False)
    return cache


def test_fetch_writes_the_servers_flags_atomically(
    server: FakeUnleashServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out" / "flags.json"
    done = run(capsys, "fetch", "--url", server.url, "--token", TOKEN, "-o", str(output))
    assert done.code == 0, done.err
    assert done.out == f"wrote 6 flags and 1 segment from {server.url} to {output}\n"
    written = json.loads(output.read_text(encoding="utf-8"))
    assert written == {"version": 2, **{k: BUNDLED[k] for k in ("features", "segments")}}
    assert output.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in output.parent.iterdir()) == ["flags.json"]  # no temp left
    assert not (tmp_path / "xdg-cache").exists()  # nothing in the user's cache directory
    request = server.requests[-1]
    assert request.path == "/api/client/features"
    assert request.header("Authorization") == TOKEN
    # The file is a bootstrap the other commands read.
    assert run(capsys, "validate", str(output)).code == 0
    assert run(capsys, "eval", "pricing-page", "--bootstrap", str(output)).code == 0


def test_fetch_json_project_and_token_from_the_environment(
    server: FakeUnleashServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNLEASH_API_TOKEN", TOKEN)
    server.payload["features"] = server.payload["features"][:2]
    output = tmp_path / "flags.json"
    output.write_text("old", encoding="utf-8")
    done = run(
        capsys, "fetch", "--url", server.url, "--project", "shop", "-o", str(output), "--json"
    )
    assert done.code == 0, done.out
    assert done.json() == {
        "file": str(output),
        "url": server.url,
        "project": "shop",
        "flags": 2,
        "segments": 1,
    }
    assert server.requests[-1].path == "/api/client/features?project=shop"
    assert len(json.loads(output.read_text(encoding="utf-8"))["features"]) == 2


@pytest.mark.parametrize(
    ("token", "url_suffix", "body", "reason"),
    [
        (
            "wrong",
            "/api",
            None,
            "HTTP 401 for /api/client/features (Invalid token): check the "
            "API token (--token or $UNLEASH_API_TOKEN) and that the url ends with /api",
        ),
        (None, "/api", None, "HTTP 401"),
        (TOKEN, "", None, "HTTP 404 for /client/features: check the url (it should end with /api)"),
        (TOKEN, "/api", "<html>maintenance</html>", "unusable flags payload (JSONDecodeError"),
        (TOKEN, "/api", '{"features": 5}', "unusable flags payload (PayloadError"),
    ],
)
def test_fetch_failures_exit_5_with_one_clear_line(
    token: str | None,
    url_suffix: str,
    body: str | None,
    reason: str,
    server: FakeUnleashServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if body is not None:
        server.features.always(answer_with_body(body))
    url = server.url.removesuffix("/api") + url_suffix
    output = tmp_path / "flags.json"
    argv = ["fetch", "--url", url, "-o", str(output)] + (["--token", token] if token else [])
    done = run(capsys, *argv)
    assert (done.code, done.out) == (5, "")
    assert done.err.count("\n") == 1
    assert done.err.startswith(f"unleash-lite fetch: cannot fetch the flags from {url}: {reason}")
    assert not output.exists()
    data = run(capsys, *argv, "--json").json()
    assert data["error"]["kind"] == "network"
    assert reason in data["error"]["message"]


def test_fetch_when_nothing_listens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    done = run(capsys, "fetch", "--url", url, "--token", TOKEN, "-o", str(tmp_path / "f.json"))
    assert done.code == 5
    assert done.err == (
        f"unleash-lite fetch: cannot fetch the flags from {url}: connection failed "
        "(ConnectionError)\n"
    )


def test_fetch_never_shows_the_token_even_when_the_server_echoes_it(
    server: FakeUnleashServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.echo_token = True
    wrong = TOKEN + "-wrong"
    done = run(capsys, "fetch", "--url", server.url, "--token", wrong, "-o", "f.json")
    assert done.code == 5
    assert "(Invalid token ***)" in done.err  # the server's message, with the token masked
    assert wrong not in done.err
    assert redact(f"bad token {TOKEN}", TOKEN) == "bad token ***"
    assert display_url("https://me:secret@unleash.example.com:8443/api") == (
        "https://unleash.example.com:8443/api"
    )
    assert display_url("http://[::1]:4242/api") == "http://[::1]:4242/api"


def test_fetch_to_an_unwritable_place_exits_4(
    server: FakeUnleashServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = run(capsys, "fetch", "--url", server.url, "--token", TOKEN, "-o", str(tmp_path))
    assert done.code == 4
    assert done.err.startswith(f"unleash-lite fetch: cannot write {tmp_path}: ")


def test_eval_and_explain_against_a_server(
    server: FakeUnleashServer, capsys: pytest.CaptureFixture[str]
) -> None:
    done = run(capsys, "eval", "pricing-page", "--url", server.url, "--token", TOKEN, "--json")
    assert (done.code, done.json()["enabled"], done.json()["source"]) == (0, True, server.url)
    explained = run(capsys, "explain", "--url", server.url, "--token", TOKEN, "--project", "p")
    assert explained.out.startswith(f"6 flags from {server.url} (project p); context: (empty)")
    refused = run(capsys, "eval", "pricing-page", "--url", server.url, "--token", "bad")
    assert refused.code == 5
    assert "HTTP 401" in refused.err


def test_the_fetch_reason_comes_from_the_clients_log_line() -> None:
    unavailable = "Unleash flags fetch: server unavailable (timed out); backing off, next try in 1s"
    assert fetch_failure([unavailable], 3) == "timed out"
    assert fetch_failure(["unrelated warning"], 3) == "no usable answer within 3s"


def test_the_console_script_validates_and_evaluates(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "unleash_lite.cli", "validate", BUNDLED_PATH, "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["flags"] == 6
    piped = subprocess.run(
        f"{sys.executable} -m unleash_lite.cli explain --json | head -c 10",
        shell=True,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (piped.stdout, piped.stderr) == ('{\n  "sourc', "")
