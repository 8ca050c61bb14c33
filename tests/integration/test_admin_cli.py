"""``unleash-lite admin`` (and ``flask unleash admin``, ``manage.py unleash admin``) against
the real server: each change is checked through the suite's own Admin API helper
(tests/integration/admin.py, written independently of the command's client) and, for
enable, disable and rollout, through the answers of an SDK client of each kind.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.processes.harness import ROOT, child_env
from tests.support.helpers import Ran
from unleash_lite.cli import main
from unleash_lite.cli.errors import (
    EXIT_DENIED,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNKNOWN_FLAG,
)
from unleash_lite.flask import Unleash

from .admin import AdminApi
from .conftest import ClientFactory
from .polling import wait_for
from .server import UnleashServer

ENV = "development"  # the environment of the suite's client token
USERS = [str(number) for number in range(40)]


Cli = Callable[..., Ran]


@pytest.fixture
def cli(
    unleash_server: UnleashServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    """Run ``unleash-lite admin ...`` in this process against the suite's server, with its
    admin token in ``$UNLEASH_ADMIN_TOKEN`` (``token=`` sets another)."""

    def run(*argv: str, token: str | None = None) -> Ran:
        monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", token or unleash_server.admin_token)
        try:
            code = main(["admin", "--url", unleash_server.api_url, *argv])
        except SystemExit as stop:
            code = int(stop.code or 0)
        captured = capsys.readouterr()
        for secret in (unleash_server.admin_token, unleash_server.client_token):
            assert secret not in captured.out + captured.err
        return Ran(code, captured.out, captured.err)

    yield run


def environment_of(admin: AdminApi, flag: str, name: str = ENV) -> dict[str, Any]:
    """The flag in one environment, as the test helper reads it."""
    environments = admin.get_flag(flag)["environments"]
    return dict(next(env for env in environments if env["name"] == name))


def answers(client: Any, flag: str) -> list[bool]:
    return [client.is_enabled(flag, {"userId": user}) for user in USERS]


def test_enable_and_disable_reach_the_server_and_a_client(
    cli: Cli, admin: AdminApi, make_client: ClientFactory, flag_name: str
) -> None:
    admin.create_flag(flag_name)
    client = make_client()
    client.initialize_client()
    wait_for(lambda: flag_name in client.feature_definitions(), timeout=10, what="flag known")
    assert not client.is_enabled(flag_name, {"userId": "1"})

    enabled = cli("enable", flag_name, "-e", ENV, "--json")
    assert enabled.code == EXIT_OK, enabled.err
    report = enabled.json()
    assert (report["enabled"], report["was_enabled"]) == (True, False)
    # With no strategy, the server gives the flag a flexibleRollout of 100%.
    [added] = report["strategies_added"]
    assert (added["name"], added["parameters"]["rollout"]) == ("flexibleRollout", "100")
    state = environment_of(admin, flag_name)
    assert state["enabled"] is True
    assert [s["id"] for s in state["strategies"]] == [added["id"]]
    assert not environment_of(admin, flag_name, "production")["enabled"]
    wait_for(lambda: all(answers(client, flag_name)), timeout=10, what="on in the client")

    again = cli("enable", flag_name, "-e", ENV)
    assert again.code == EXIT_OK
    assert again.out.startswith(f"{flag_name}: ON in {ENV} (it already was)")

    disabled = cli("disable", flag_name, "-e", ENV)
    assert disabled.code == EXIT_OK, disabled.err
    assert disabled.out.strip() == f"{flag_name}: off in {ENV} (was ON)"
    assert environment_of(admin, flag_name)["enabled"] is False
    wait_for(lambda: not any(answers(client, flag_name)), timeout=10, what="off in the client")


def test_rollout_changes_the_flexible_rollout_and_the_client_follows(
    cli: Cli, admin: AdminApi, make_client: ClientFactory, flag_name: str
) -> None:
    admin.create_flag(flag_name)
    admin.enable(flag_name)  # the server adds flexibleRollout 100%
    [strategy] = admin.strategies(flag_name)
    client = make_client()
    client.initialize_client()
    wait_for(lambda: all(answers(client, flag_name)), timeout=10, what="on for everyone")

    ran = cli("rollout", flag_name, "0", "-e", ENV, "--json")
    assert ran.code == EXIT_OK, ran.err
    report = ran.json()
    assert (report["previous_rollout"], report["rollout"], report["created"]) == (100, 0, False)
    assert report["strategy"]["id"] == strategy["id"]
    [after] = admin.strategies(flag_name)
    assert after["id"] == strategy["id"]
    assert after["parameters"] == {**strategy["parameters"], "rollout": "0"}
    wait_for(lambda: not any(answers(client, flag_name)), timeout=10, what="off for everyone")

    ran = cli("rollout", flag_name, "50%", "-e", ENV)
    assert ran.code == EXIT_OK, ran.err
    assert ran.out.startswith(f"{flag_name}: rollout 50% in {ENV} (was 0%")
    assert admin.strategies(flag_name)[0]["parameters"]["rollout"] == "50"
    # The client and the server's own evaluation (the playground) agree, user by user.
    expected = [admin.evaluate(flag_name, {"appName": "cli", "userId": user})[0] for user in USERS]
    assert 0 < sum(expected) < len(USERS)
    wait_for(lambda: answers(client, flag_name) == expected, timeout=10, what="50% in client")


def test_rollout_creates_a_strategy_when_there_is_none_and_leaves_the_switch(
    cli: Cli, admin: AdminApi, flag_name: str
) -> None:
    admin.create_flag(flag_name)
    ran = cli("rollout", flag_name, "30", "-e", ENV)
    assert ran.code == EXIT_OK, ran.err
    assert "new flexibleRollout strategy" in ran.out
    assert f"the flag is off in {ENV}" in ran.out
    [created] = admin.strategies(flag_name)
    assert created["name"] == "flexibleRollout"
    assert created["parameters"] == {"rollout": "30", "stickiness": "default", "groupId": flag_name}
    assert environment_of(admin, flag_name)["enabled"] is False


def test_rollout_with_several_flexible_rollouts_needs_the_strategy_id(
    cli: Cli, admin: AdminApi, flag_name: str
) -> None:
    admin.create_flag(flag_name)
    rollout = {"rollout": "10", "stickiness": "default", "groupId": flag_name}
    first = admin.add_strategy(flag_name, "flexibleRollout", parameters=rollout)
    constraint = {"contextName": "userId", "operator": "IN", "values": ["7"]}
    second = admin.add_strategy(
        flag_name, "flexibleRollout", parameters=rollout, constraints=[constraint]
    )

    refused = cli("rollout", flag_name, "60", "-e", ENV, "--json")
    assert refused.code == EXIT_REFUSED
    error = refused.json()["error"]
    assert error["kind"] == "refused"
    assert first["id"] in error["message"] and second["id"] in error["message"]
    assert "--strategy" in error["message"]
    assert [s["parameters"]["rollout"] for s in admin.strategies(flag_name)] == ["10", "10"]

    chosen = cli("rollout", flag_name, "60", "-e", ENV, "--strategy", second["id"])
    assert chosen.code == EXIT_OK, chosen.err
    by_id = {s["id"]: s["parameters"]["rollout"] for s in admin.strategies(flag_name)}
    assert by_id == {first["id"]: "10", second["id"]: "60"}
    assert "other strategies (flexibleRollout) still apply" in chosen.out

    unknown = cli("rollout", flag_name, "60", "-e", ENV, "--strategy", "no-such-id")
    assert unknown.code == EXIT_UNKNOWN_FLAG


def test_rollout_leaves_disabled_strategies_alone_unless_named(
    cli: Cli, admin: AdminApi, flag_name: str
) -> None:
    admin.create_flag(flag_name)
    rollout = {"rollout": "10", "stickiness": "default", "groupId": flag_name}
    disabled = admin.add_strategy(flag_name, "flexibleRollout", parameters=rollout, disabled=True)

    created = cli("rollout", flag_name, "40", "-e", ENV, "--json")  # no enabled strategy
    assert created.code == EXIT_OK, created.err
    assert created.json()["created"] is True
    new_id = created.json()["strategy"]["id"]
    assert new_id != disabled["id"]

    changed = cli("rollout", flag_name, "70", "-e", ENV, "--json")  # the one enabled
    assert changed.code == EXIT_OK, changed.err
    assert (changed.json()["strategy"]["id"], changed.json()["previous_rollout"]) == (new_id, 40)
    by_id = {s["id"]: s["parameters"]["rollout"] for s in admin.strategies(flag_name)}
    assert by_id == {disabled["id"]: "10", new_id: "70"}

    named = cli("rollout", flag_name, "20", "-e", ENV, "--strategy", disabled["id"])
    assert named.code == EXIT_OK, named.err
    assert "this strategy is disabled" in named.out
    by_id = {s["id"]: s["parameters"]["rollout"] for s in admin.strategies(flag_name)}
    assert by_id == {disabled["id"]: "20", new_id: "70"}


def test_rollout_beside_other_kinds_of_strategy_is_refused(
    cli: Cli, admin: AdminApi, flag_name: str
) -> None:
    admin.create_flag(flag_name)
    default = admin.add_strategy(flag_name, "default")
    refused = cli("rollout", flag_name, "20", "-e", ENV)
    assert refused.code == EXIT_REFUSED
    assert "no flexibleRollout strategy" in refused.err
    assert "when any strategy matches" in refused.err
    assert [s["id"] for s in admin.strategies(flag_name)] == [default["id"]]

    by_id = cli("rollout", flag_name, "20", "-e", ENV, "--strategy", default["id"])
    assert by_id.code == EXIT_REFUSED
    assert "not a flexibleRollout" in by_id.err


def test_list_and_show_report_what_the_server_holds(
    cli: Cli, admin: AdminApi, unique_name: Callable[[str], str]
) -> None:
    on, off, archived = unique_name("on"), unique_name("off"), unique_name("archived")
    for name in (on, off, archived):
        admin.create_flag(name, flag_type="experiment" if name == off else "release")
    admin.enable(on)
    admin.archive_flag(archived)

    listed = cli("list", "--json")
    assert listed.code == EXIT_OK, listed.err
    rows = {row["name"]: row for row in listed.json()["flags"]}
    assert rows[on]["environments"] == {"development": True, "production": False}
    assert rows[off]["environments"] == {"development": False, "production": False}
    assert (rows[on]["type"], rows[off]["type"], rows[on]["project"]) == (
        "release",
        "experiment",
        "default",
    )
    assert archived not in rows

    table = cli("list", "-e", "production")
    assert table.out.splitlines()[0].split() == ["NAME", "PROJECT", "TYPE", "production"]
    assert any(line.split() == [on, "default", "release", "off"] for line in table.out.splitlines())

    gone = cli("list", "--archived", "--json")
    assert archived in {row["name"] for row in gone.json()["flags"]}
    assert on not in {row["name"] for row in gone.json()["flags"]}

    shown = cli("show", on, "--json")
    assert shown.code == EXIT_OK, shown.err
    detail = shown.json()
    development = next(env for env in detail["environments"] if env["name"] == ENV)
    assert development["enabled"] is True
    assert [s["id"] for s in development["strategies"]] == [s["id"] for s in admin.strategies(on)]
    text = cli("show", on).out
    assert text.splitlines()[0] == f"{on} (release, project default)"
    assert "flexibleRollout 100%" in text


def test_failures_from_the_real_server(
    cli: Cli, unleash_server: UnleashServer, admin: AdminApi, flag_name: str
) -> None:
    missing = cli("enable", flag_name, "-e", ENV)
    assert missing.code == EXIT_UNKNOWN_FLAG
    assert f'no feature named "{flag_name}"' in missing.err

    admin.create_flag(flag_name)
    no_environment = cli("enable", flag_name, "-e", "no-such-env")
    assert no_environment.code == EXIT_UNKNOWN_FLAG

    no_project = cli("list", "--project", "no-such-project")
    assert no_project.code == EXIT_UNKNOWN_FLAG
    assert "no project 'no-such-project'" in no_project.err

    client_token = cli("list", token=unleash_server.client_token)
    assert client_token.code == EXIT_DENIED
    assert "HTTP 403" in client_token.err

    wrong = cli("disable", flag_name, "-e", ENV, "--json", token="*:*.0123456789abcdef0123456789")
    assert wrong.code == EXIT_DENIED
    assert wrong.json()["error"]["status"] == 401

    without_api = cli("list", "--url", unleash_server.url)  # the last --url counts
    assert without_api.code == EXIT_NETWORK
    assert "check that the url ends with /api" in without_api.err


def test_flask_unleash_admin_uses_the_apps_server(
    unleash_server: UnleashServer,
    admin: AdminApi,
    flag_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin.create_flag(flag_name)
    app = Flask("admin-it")
    app.config.update(
        UNLEASH_URL=unleash_server.api_url,
        UNLEASH_API_TOKEN=unleash_server.client_token,
        UNLEASH_DISABLE_METRICS=True,
        UNLEASH_DISABLE_REGISTRATION=True,
    )
    Unleash(app)
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", unleash_server.admin_token)
    try:
        result = app.test_cli_runner().invoke(
            args=["unleash", "admin", "enable", flag_name, "-e", ENV]
        )
        assert result.exit_code == 0, result.output
        assert unleash_server.admin_token not in result.output
        assert environment_of(admin, flag_name)["enabled"] is True
    finally:
        app.extensions["unleash"].client.destroy()


def test_manage_py_unleash_admin_uses_the_projects_server(
    unleash_server: UnleashServer, admin: AdminApi, flag_name: str, tmp_path: Path
) -> None:
    """Through Django's own command line (``python -m django``, as ``manage.py``), with the
    test project's settings pointing ``UNLEASH["url"]`` at the server."""
    admin.create_flag(flag_name)
    env = child_env(
        DJANGO_SETTINGS_MODULE="tests.django.settings",
        TESTS_DJANGO_UNLEASH_URL=unleash_server.api_url,
        TESTS_DJANGO_CACHE_DIRECTORY=str(tmp_path),
        UNLEASH_ADMIN_TOKEN=unleash_server.admin_token,
    )
    env.pop("UNLEASH_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "django", "unleash", "admin", "enable", flag_name, "-e", ENV],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert unleash_server.admin_token not in result.stdout + result.stderr
    assert environment_of(admin, flag_name)["enabled"] is True
