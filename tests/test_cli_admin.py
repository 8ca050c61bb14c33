"""``unleash-lite admin`` and ``flask unleash admin`` without a real Unleash server: the
arguments, where the admin token comes from and that it is never printed, and how each
kind of failure is reported (the fake server answers the Admin API routes as scripted).
The actions themselves run against the real servers in tests/integration/test_admin_cli.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.support.helpers import Ran, free_port
from tests.support.server import FakeUnleashServer, status
from tests.support.server import body as answer_with_body
from unleash_lite.cli import main
from unleash_lite.cli.admin import EXIT_NOT_FOUND, admin_main
from unleash_lite.cli.errors import (
    EXIT_DENIED,
    EXIT_FILE,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
)
from unleash_lite.flask import Unleash

# Shaped like an Unleash admin token, so that it is recognisable wherever it might leak.
TOKEN = "*:*.5e5a1c0ffee5e5a1c0ffee5e5a1c0ffee"
OTHER_TOKEN = "*:*.0badbadbadbadbadbadbadbadbadbad0"

SEARCH_ANSWER = {
    "features": [
        {
            "name": "new-checkout",
            "project": "default",
            "type": "release",
            "stale": True,
            "archivedAt": None,
            "lastSeenAt": None,
            "environments": [
                {"name": "development", "enabled": True},
                {"name": "production", "enabled": False},
            ],
        }
    ],
    "total": 1,
}


@pytest.fixture(autouse=True)
def no_admin_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables the command reads, unset unless a test sets them."""
    monkeypatch.delenv("UNLEASH_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("UNLEASH_URL", raising=False)


@pytest.fixture
def server() -> Iterator[FakeUnleashServer]:
    """A fake server that answers 401 to any other token than TOKEN, quoting it back."""
    with FakeUnleashServer(token=TOKEN, echo_token=True) as fake:
        yield fake


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    try:
        code = main(["admin", *argv])
    except SystemExit as stop:  # argparse's usage errors and --help
        code = int(stop.code or 0)
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


# ------------------------------------------------------------------------------ arguments


def test_help_names_every_action_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    done = run(capsys, "--help")
    assert done.code == EXIT_OK
    for word in ("list", "show", "enable", "disable", "rollout", "UNLEASH_ADMIN_TOKEN"):
        assert word in done.out
    assert "exit codes:" in done.out and "401" in done.out


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        ([], "name an action"),
        (["list"], "--url is required"),
        (["--url", "http://127.0.0.1:9/api", "list"], "no admin token"),
        (["--url", "http://127.0.0.1:9/api", "enable", "x"], "--environment"),
        (["--url", "http://127.0.0.1:9/api", "rollout", "x", "101", "-e", "dev"], "0 to 100"),
        (["--url", "http://127.0.0.1:9/api", "rollout", "x", "half", "-e", "dev"], "0 to 100"),
        (["--url", "http://127.0.0.1:9/api", "rollout", "x", "-5", "-e", "dev"], ""),
        (["--url", "http://127.0.0.1:9/api", "list", "--timeout", "0"], "positive"),
        (["--url", "http://127.0.0.1:9/api", "frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    done = run(capsys, *argv)
    assert done.code == EXIT_USAGE
    assert complaint in done.err
    assert done.out == ""


@pytest.mark.parametrize("spelling", [["--token", TOKEN], [f"--token={TOKEN}"]])
@pytest.mark.parametrize("where", ["before", "after"])
def test_a_token_on_the_command_line_is_refused_without_being_echoed(
    spelling: list[str], where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--url", "http://127.0.0.1:9/api"]
    argv = [*url, *spelling, "list"] if where == "before" else [*url, "list", *spelling]
    done = run(capsys, *argv)
    assert done.code == EXIT_USAGE
    assert "--token is refused" in done.err
    assert "UNLEASH_ADMIN_TOKEN" in done.err
    assert TOKEN not in done.text


@pytest.mark.parametrize("typo", [["--tokne", TOKEN], [f"--tokne={TOKEN}"], [TOKEN]])
def test_a_mistyped_option_does_not_echo_the_token_after_it(
    typo: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    done = run(capsys, "--url", "http://127.0.0.1:9/api", "list", *typo)
    assert done.code == EXIT_USAGE
    assert "unrecognized arguments" in done.err
    assert TOKEN not in done.text


def test_the_percentage_may_end_with_a_percent_sign(
    server: FakeUnleashServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", TOKEN)
    done = run(capsys, "--url", server.url, "rollout", "checkout", "25%", "-e", "production")
    # The fake knows no flag: the command got as far as asking for its strategies.
    assert done.code == EXIT_NOT_FOUND
    [asked] = server.recorded("/strategies", "GET")
    assert asked.path == (
        "/api/admin/projects/default/features/checkout/environments/production/strategies"
    )


# --------------------------------------------------------------------------------- token


def test_the_token_comes_from_the_environment_variable(
    server: FakeUnleashServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server.admin.always(answer_with_body(json.dumps(SEARCH_ANSWER)))
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("UNLEASH_URL", server.url)
    done = run(capsys, "list")
    assert done.code == EXIT_OK, done.err
    header, row = done.out.splitlines()
    assert header.split() == ["NAME", "PROJECT", "TYPE", "development", "production"]
    assert row.split() == ["new-checkout", "default", "release", "(stale)", "ON", "off"]
    [request] = server.recorded("/admin/search/features")
    assert request.header("Authorization") == TOKEN
    assert "project=IS%3Adefault" in request.path
    assert TOKEN not in done.text


def test_the_token_file_wins_over_the_variable_and_only_its_first_line_counts(
    server: FakeUnleashServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.admin.always(answer_with_body(json.dumps(SEARCH_ANSWER)))
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", OTHER_TOKEN)
    token_file = tmp_path / "token"
    token_file.write_text(f"  {TOKEN}  \nsecond line\n", encoding="utf-8")
    token_file.chmod(0o600)
    done = run(capsys, "--url", server.url, "--token-file", str(token_file), "list", "--json")
    assert done.code == EXIT_OK, done.err
    assert done.err == ""  # no warning about a private file
    assert server.recorded("/admin/search/features")[0].header("Authorization") == TOKEN
    listed = json.loads(done.out)
    assert listed["flags"][0]["environments"] == {"development": True, "production": False}


def test_a_token_file_others_can_read_is_used_with_a_warning(
    server: FakeUnleashServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.admin.always(answer_with_body(json.dumps(SEARCH_ANSWER)))
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    token_file.chmod(0o644)
    done = run(capsys, "--url", server.url, "--token-file", str(token_file), "list")
    assert done.code == EXIT_OK
    assert "readable by other users" in done.err
    assert TOKEN not in done.text


def test_the_token_file_may_be_standard_input(server: FakeUnleashServer) -> None:
    server.admin.always(answer_with_body(json.dumps(SEARCH_ANSWER)))
    result = subprocess.run(
        [sys.executable, "-m", "unleash_lite.cli", "admin", "--token-file", "-", "list"],
        input=TOKEN + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "UNLEASH_URL": server.url},
        check=False,
    )
    assert result.returncode == EXIT_OK, result.stderr
    assert "new-checkout" in result.stdout
    assert server.recorded("/admin/search/features")[0].header("Authorization") == TOKEN


@pytest.mark.parametrize(
    ("content", "complaint"), [(None, "cannot read"), ("", "holds no token"), ("\n\n", "no token")]
)
def test_a_token_file_that_gives_no_token_exits_4(
    content: str | None, complaint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content, encoding="utf-8")
        token_file.chmod(0o600)
    done = run(capsys, "--url", "http://127.0.0.1:9/api", "--token-file", str(token_file), "list")
    assert done.code == EXIT_FILE
    assert complaint in done.err


@pytest.mark.parametrize("as_json", [False, True])
def test_a_rejected_token_is_never_printed_even_when_the_server_quotes_it(
    server: FakeUnleashServer,
    as_json: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", OTHER_TOKEN)
    done = run(capsys, "--url", server.url, "show", "checkout", *(["--json"] if as_json else []))
    assert done.code == EXIT_DENIED
    assert server.recorded()[0].header("Authorization") == OTHER_TOKEN  # the fake quoted it
    assert OTHER_TOKEN not in done.text
    assert "0badbad" not in done.text
    if as_json:
        error = json.loads(done.out)["error"]
        assert (error["kind"], error["status"]) == ("denied", 401)
        assert "Invalid token ***" in error["message"]
    else:
        assert "HTTP 401" in done.err and "check the admin token" in done.err


# ------------------------------------------------------------------------------ failures


@pytest.mark.parametrize(
    ("reply", "code", "kind", "words"),
    [
        (status(403, b'{"message": "no permission"}'), EXIT_DENIED, "denied", "no permission"),
        (
            status(404, b'{"message": "There\'s no feature named \\"checkout\\""}'),
            EXIT_NOT_FOUND,
            "not_found",
            "no feature named",
        ),
        (status(500, b"oops", content_type="text/plain"), EXIT_NETWORK, "network", "HTTP 500"),
        (
            answer_with_body("<html>the admin UI</html>", "text/html"),
            EXIT_NETWORK,
            "network",
            "/api",
        ),
        (status(400, b'{"message": "bad rollout"}'), EXIT_REFUSED, "refused", "bad rollout"),
    ],
)
def test_each_failure_has_its_exit_code_and_kind(
    server: FakeUnleashServer,
    reply: object,
    code: int,
    kind: str,
    words: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.admin.always(reply)  # type: ignore[arg-type]
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", TOKEN)
    done = run(capsys, "--url", server.url, "--json", "enable", "checkout", "-e", "production")
    assert done.code == code
    error = json.loads(done.out)["error"]
    assert error["kind"] == kind
    assert words in error["message"]
    assert TOKEN not in done.text
    # Nothing was switched: the command stopped at the first failing read.
    assert server.recorded("/on", "POST") == []


def test_a_server_that_cannot_be_reached_exits_5(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", TOKEN)
    url = f"http://127.0.0.1:{free_port()}/api"
    done = run(capsys, "--url", url, "list")
    assert done.code == EXIT_NETWORK
    assert "connection failed" in done.err
    assert TOKEN not in done.text


def test_a_password_in_the_url_is_not_shown(
    server: FakeUnleashServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server.admin.always(status(404, b'{"message": "nope"}'))
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", TOKEN)
    url = server.url.replace("127.0.0.1", "user:hunter2@127.0.0.1")
    done = run(capsys, "--url", url, "show", "checkout")
    assert done.code == EXIT_NOT_FOUND
    assert "hunter2" not in done.text
    assert "127.0.0.1" in done.err


# --------------------------------------------------------------------------------- flask


def test_flask_unleash_admin_is_the_same_command_on_the_apps_server(
    server: FakeUnleashServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.admin.always(answer_with_body(json.dumps(SEARCH_ANSWER)))
    app = Flask("admin-tests")
    app.config.update(UNLEASH_URL=server.url, UNLEASH_API_TOKEN=TOKEN, UNLEASH_DISABLE_METRICS=True)
    Unleash(app)
    try:
        monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", TOKEN)
        runner = app.test_cli_runner()
        listed = runner.invoke(args=["unleash", "admin", "list", "--json"])
        assert listed.exit_code == EXIT_OK, listed.output
        assert json.loads(listed.output)["flags"][0]["name"] == "new-checkout"
        assert server.recorded("/admin/search/features")[0].header("Authorization") == TOKEN

        helped = runner.invoke(args=["unleash", "admin", "--help"])
        assert helped.exit_code == EXIT_OK
        assert "usage: flask unleash admin" in helped.output

        refused = runner.invoke(args=["unleash", "admin", "list", "--token", OTHER_TOKEN])
        assert refused.exit_code == EXIT_USAGE
        assert OTHER_TOKEN not in refused.output
    finally:
        app.extensions["unleash"].client.destroy()


def test_admin_main_takes_a_default_url(
    server: FakeUnleashServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server.admin.always(status(404, b'{"message": "nope"}'))
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("UNLEASH_URL", "http://127.0.0.1:9/api")  # the default wins over it
    code = admin_main(["show", "x"], prog="manage.py unleash admin", default_url=server.url)
    assert code == EXIT_NOT_FOUND
    assert capsys.readouterr().err.startswith("manage.py unleash admin show: nope")


def test_list_reads_every_page_of_the_search_api(
    server: FakeUnleashServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = SEARCH_ANSWER["features"][0]  # type: ignore[index]
    pages = [
        {"features": [{**flag, "name": "b"}, {**flag, "name": "c"}], "total": 3},
        {"features": [{**flag, "name": "a"}], "total": 3},
    ]
    server.admin.then(*(answer_with_body(json.dumps(page)) for page in pages))
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", TOKEN)
    done = run(capsys, "--url", server.url, "list", "--all-projects", "--json")
    assert done.code == EXIT_OK, done.err
    assert [row["name"] for row in done.json()["flags"]] == ["a", "b", "c"]
    offsets = [
        r.path.split("offset=")[1].split("&")[0] for r in server.recorded("/search/features")
    ]
    assert offsets == ["0", "2"]
    assert all("project=" not in r.path for r in server.recorded("/search/features"))


def test_the_offline_commands_do_not_load_the_network_stack() -> None:
    """``admin`` loads requests when it runs; the parser that registers it does not."""
    script = "import sys, unleash_lite.cli.parser; print('requests' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize("answer", ['{"flags": []}', "[1, 2]", '{"features": [1], "total": 1}'])
def test_json_that_is_not_the_admin_apis_exits_5(
    answer: str,
    server: FakeUnleashServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.admin.always(answer_with_body(answer))
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", TOKEN)
    done = run(capsys, "--url", server.url, "list")
    assert done.code == EXIT_NETWORK
    assert "unexpected answer to /admin/search/features" in done.err
