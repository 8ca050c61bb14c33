"""``manage.py unleash list|eval|explain``, and ``admin`` against a fake server's Admin API
(the actions themselves run against real servers in tests/integration/test_admin_cli.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from tests.support.helpers import Ran
from tests.support.server import FakeUnleashServer, status
from tests.support.server import body as answer_with_body
from unleash_lite.cli.admin import EXIT_NOT_FOUND
from unleash_lite.cli.errors import EXIT_OK, EXIT_USAGE


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("unleash", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_list() -> None:
    lines = run("list").splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "PROJECT", "EMPTY", "CONTEXT"]
    rows = {line.split()[0]: line.split()[-1] for line in lines[1:]}
    assert rows["on"] == "on"
    assert rows["off"] == "off"
    assert rows["user-42"] == "off"


def test_list_as_json() -> None:
    flags = json.loads(run("list", "--json"))["flags"]
    assert {"name": "on", "type": "release", "project": "default", "enabled": True} in flags


def test_eval_with_a_context() -> None:
    text = run("eval", "user-42", "-c", "userId=42")
    assert text.splitlines()[0] == "user-42: on"
    assert 'context: {"userId": "42"}' in text
    data = json.loads(run("eval", "pro-plan", "--context", "plan=pro", "--json"))
    assert (data["enabled"], data["context"]) == (True, {"properties": {"plan": "pro"}})


def test_eval_of_an_unknown_flag_exits_3() -> None:
    with pytest.raises(CommandError, match="unknown flag 'nope'") as raised:
        run("eval", "nope")
    assert raised.value.returncode == 3


def test_explain() -> None:
    text = run("explain", "-c", "userId=42")
    assert text.splitlines()[0] == "7 flags; context: userId=42"
    assert "  ON  user-42 (strategy_matched)" in text
    data = json.loads(run("explain", "--json"))
    assert [flag["flag"] for flag in data["flags"]][:2] == ["colors", "from-10-0-0-7"]


def test_a_context_item_that_is_not_key_value_is_a_usage_error() -> None:
    with pytest.raises(CommandError, match="KEY=VALUE"):
        run("eval", "on", "-c", "userId")


@override_settings(UNLEASH={"app_name": "empty"})
def test_list_exits_1_when_the_client_holds_no_flags() -> None:
    with pytest.raises(CommandError, match="no flags") as raised:
        run("list")
    assert raised.value.returncode == 1


@override_settings(UNLEASH={"app_name": "x", "urll": ""})
def test_a_broken_setting_is_reported_by_name() -> None:
    with pytest.raises(Exception, match="unknown key 'urll'; did you mean 'url'"):
        run("list")


# -- admin -----------------------------------------------------------------------------------

# Shaped like an Unleash admin token, so that it is recognisable wherever it might leak.
ADMIN_TOKEN = "*:*.d1a960c0ffee5e5a1c0ffee5e5a1c0ff"
SEARCH_ANSWER = {
    "features": [
        {
            "name": "new-checkout",
            "project": "default",
            "type": "release",
            "stale": False,
            "archivedAt": None,
            "lastSeenAt": None,
            "environments": [{"name": "production", "enabled": True}],
        }
    ],
    "total": 1,
}


@pytest.fixture
def admin_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUnleashServer]:
    """A fake server whose Admin API answers the flag search, and the admin token in the
    environment (the variable the command reads)."""
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.delenv("UNLEASH_URL", raising=False)
    with FakeUnleashServer() as fake:
        fake.admin.always(answer_with_body(json.dumps(SEARCH_ANSWER)))
        with override_settings(UNLEASH={"app_name": "admin-tests", "url": fake.url}):
            yield fake


def run_admin(*args: str) -> Ran:
    """``manage.py unleash admin ARGS``: its exit code (a failure exits with the admin
    command's code) and what it wrote on the command's streams."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("unleash", "admin", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    return Ran(code, out.getvalue(), err.getvalue())


def test_admin_lists_the_flags_of_the_settings_server(admin_server: FakeUnleashServer) -> None:
    ran = run_admin("list", "--json")
    assert ran.code == EXIT_OK, ran
    assert [flag["name"] for flag in json.loads(ran.out)["flags"]] == ["new-checkout"]
    (search,) = admin_server.recorded("/admin/search/features")
    assert search.header("Authorization") == ADMIN_TOKEN
    assert admin_server.feature_gets() == []  # no client was created for it
    text = run_admin("list")
    assert text.code == EXIT_OK
    assert "new-checkout" in text.out and ADMIN_TOKEN not in text.out + text.err


def test_admin_url_option_wins_over_the_settings(admin_server: FakeUnleashServer) -> None:
    with FakeUnleashServer() as other:
        other.admin.always(status(404, b'{"message": "no such flag"}'))
        ran = run_admin("--url", other.url, "show", "nope")
    assert ran.code == EXIT_NOT_FOUND
    assert ran.err.startswith("manage.py unleash admin show: no such flag")
    assert admin_server.recorded("/admin/") == []


def test_admin_help_and_usage_errors_are_the_admin_commands(
    admin_server: FakeUnleashServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_admin("--help").code == EXIT_OK
    assert "usage: manage.py unleash admin" in capsys.readouterr().out
    refused = run_admin("list", "--token", ADMIN_TOKEN)
    assert refused.code == EXIT_USAGE
    assert ADMIN_TOKEN not in capsys.readouterr().err + refused.out + refused.err
    assert admin_server.recorded("/admin/") == []


@override_settings(UNLEASH={"app_name": "offline", "bootstrap": {"features": []}})
def test_admin_without_a_server_url_asks_for_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.delenv("UNLEASH_URL", raising=False)
    assert run_admin("list").code == EXIT_USAGE
    assert "--url is required" in capsys.readouterr().err
