"""``unleash-lite audit --url`` against the real server: flags made stale and archived through
the Admin API (the suite's own helper, tests/integration/admin.py), read back through the
Admin API with an admin token, and through the client API without one."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import Ran
from unleash_lite import UnleashClient
from unleash_lite.cli import main
from unleash_lite.cli.errors import EXIT_DENIED, EXIT_FINDINGS

from .admin import AdminApi
from .polling import wait_for
from .server import UnleashServer


def audit(
    capsys: pytest.CaptureFixture[str], server: UnleashServer, *argv: str
) -> tuple[Ran, dict[str, Any]]:
    code = main(["audit", *argv, "--url", server.api_url, "--json"])
    captured = capsys.readouterr()
    for secret in (server.admin_token, server.client_token):
        assert secret not in captured.out + captured.err
    return Ran(code, captured.out, captured.err), json.loads(captured.out)


@pytest.fixture
def flags(admin: AdminApi, unique_name: Callable[[str], str]) -> dict[str, str]:
    """Four flags of the default project: one in use, one stale, one archived, one unused."""
    names = {label: unique_name(label) for label in ("used", "stale", "archived", "unused")}
    for name in names.values():
        admin.create_flag(name)
    admin.request("PATCH", admin._feature_path(names["stale"]), [
        {"op": "replace", "path": "/stale", "value": True}
    ])  # fmt: skip
    admin.archive_flag(names["archived"])
    return names


@pytest.fixture
def code(tmp_path: Path, flags: dict[str, str]) -> str:
    """A module using the used, stale and archived flags, and a typo of the used one."""
    typo = flags["used"].replace("-used-", "-usde-")
    (tmp_path / "app.py").write_text(
        "\n".join(
            [
                f"USED = {flags['used']!r}",
                "def view(client):",
                "    client.is_enabled(USED)",
                f"    client.get_variant({flags['stale']!r})",
                f"    client.evaluate({flags['archived']!r})",
                f"    client.is_enabled({typo!r})",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return str(tmp_path)


def test_the_admin_api_tells_stale_archived_and_last_seen(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    unleash_server: UnleashServer,
    flags: dict[str, str],
    code: str,
) -> None:
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", unleash_server.admin_token)
    ran, data = audit(capsys, unleash_server, code, "--project", "default", "--fail-on", "stale")
    assert ran.code == EXIT_FINDINGS
    assert data["source"]["origin"] == f"{unleash_server.api_url} (project default), Admin API"
    typo = flags["used"].replace("-used-", "-usde-")
    assert data["unknown"] == [typo]
    assert data["stale"] == [flags["stale"]]
    assert data["archived"] == [flags["archived"]]
    assert flags["unused"] in data["unused"]
    assert {flags["used"], flags["stale"], flags["archived"]}.isdisjoint(data["unused"])
    by_name = {flag["name"]: flag for flag in data["flags"]}
    assert by_name[typo]["did_you_mean"][0] == flags["used"]
    used = by_name[flags["used"]]
    assert (used["known"], used["stale"], used["archived"], used["project"]) == (
        True,
        False,
        False,
        "default",
    )
    assert "last_seen_at" in used and "potentially_stale" in used
    assert [(r["line"], r["via"]) for r in used["references"]] == [(3, "USED")]


def test_last_seen_after_a_client_evaluated_the_flag(
    capsys: pytest.CaptureFixture[str],
    admin: AdminApi,
    monkeypatch: pytest.MonkeyPatch,
    unleash_server: UnleashServer,
    flags: dict[str, str],
    code: str,
    tmp_path: Path,
) -> None:
    client = UnleashClient(
        url=unleash_server.api_url,
        app_name=f"audit-{flags['used']}",
        custom_headers={"Authorization": unleash_server.client_token},
        cache_directory=str(tmp_path / "cache"),
        metrics_interval=1,
    )
    client.initialize_client()
    wait_for(lambda: flags["used"] in client.feature_definitions(), timeout=10, what="flag served")
    client.is_enabled(flags["used"])
    client.destroy()  # sends the counts
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", unleash_server.admin_token)

    def seen_by_the_server() -> bool:  # the suite's helper: not the rate-limited search API
        flag = admin.get_flag(flags["used"])
        return any(e.get("lastSeenAt") for e in [flag, *flag.get("environments", [])])

    wait_for(seen_by_the_server, timeout=90, interval=1, what="the server saw the flag")
    _, data = audit(capsys, unleash_server, code, "--project", "default")
    seen = next(f for f in data["flags"] if f["name"] == flags["used"])["last_seen_at"]
    assert datetime.fromisoformat(seen.replace("Z", "+00:00")).year >= 2024


def test_the_client_api_tells_stale_but_not_archived(
    capsys: pytest.CaptureFixture[str],
    unleash_server: UnleashServer,
    flags: dict[str, str],
    code: str,
) -> None:
    def listed() -> dict[str, Any] | None:
        _, data = audit(capsys, unleash_server, code, "--token", unleash_server.client_token)
        return data if flags["stale"] in data["stale"] else None

    # The client API may answer from its cache for a moment after the flags are created.
    data, _ = wait_for(
        listed,
        timeout=15,
        interval=0.5,
        what="the new flags in the client API",
    )
    typo = flags["used"].replace("-used-", "-usde-")
    assert sorted(data["unknown"]) == sorted([typo, flags["archived"]])  # archived: not sent
    assert data["archived"] == []


def test_a_rejected_admin_token(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    unleash_server: UnleashServer,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", "*:*.not-a-real-token-0123456789abcdef")
    ran, data = audit(capsys, unleash_server, str(tmp_path))
    assert ran.code == EXIT_DENIED
    assert data["error"]["kind"] == "denied"
