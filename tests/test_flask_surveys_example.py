"""The example app ``examples/flask_surveys``, offline: its bundled flags.json, the Delete
buttons following ``delete_survey_flag`` and the delete route gated by it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from examples.flask_surveys.app import BOOTSTRAP_FILE, DELETE_FLAG, create_app, unleash
from tests.support.payloads import feature, payload
from tests.support.server import TOKEN, FakeUnleashServer
from unleash_lite import UnleashClient

MakeApp = Callable[..., Flask]
DELETE_FORM = re.compile(r'<form[^>]*action="/surveys/(\d+)/delete"[^>]*>\s*<button[^>]*>Delete<')


def flags(**states: bool) -> dict[str, Any]:
    """A bootstrap payload with each flag on or off for everyone."""
    return {
        "version": 2,
        "features": [
            {"name": name, "enabled": on, "strategies": [{"name": "default"}]}
            for name, on in states.items()
        ],
    }


@pytest.fixture
def make_app() -> Iterator[MakeApp]:
    """The example app offline, on an in-memory database, whatever the environment says."""
    apps: list[Flask] = []

    def make(overrides: Mapping[str, Any] | None = None) -> Flask:
        config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "UNLEASH_URL": ""}
        config.update(overrides or {})
        app = create_app(config)
        apps.append(app)
        return app

    yield make
    for app in apps:
        if client_of(app).is_initialized:  # a test may have done it
            unleash.destroy(app)


def client_of(app: Flask) -> UnleashClient:
    client = app.extensions["unleash"].client
    assert isinstance(client, UnleashClient)
    return client


def create(browser: FlaskClient, title: str, description: str = "") -> None:
    response = browser.post("/surveys/new", data={"title": title, "description": description})
    assert response.status_code == 302
    assert response.headers["Location"] == "/surveys"


def listed(browser: FlaskClient) -> tuple[list[str], list[int]]:
    """The survey titles on the list page and the ids that have a Delete button."""
    response = browser.get("/surveys")
    assert response.status_code == 200
    titles = re.findall(r"<strong>(.*?)</strong>", response.text)
    return titles, [int(survey_id) for survey_id in DELETE_FORM.findall(response.text)]


def test_offline_it_answers_from_the_bundled_flags_json(make_app: MakeApp) -> None:
    app = make_app()
    client = client_of(app)
    assert client.config.offline
    assert client.unleash_bootstrapped
    bundled = json.loads(Path(BOOTSTRAP_FILE).read_text(encoding="utf-8"))
    assert [feature["name"] for feature in bundled["features"]] == [DELETE_FLAG]
    assert set(client.feature_definitions()) == {DELETE_FLAG}
    assert client.is_enabled(DELETE_FLAG) is True


def test_create_and_list(make_app: MakeApp) -> None:
    browser = make_app().test_client()
    assert browser.get("/").headers["Location"] == "/surveys"
    assert "No surveys yet." in browser.get("/surveys").text
    assert browser.get("/surveys/new").status_code == 200
    create(browser, "Lunch", "Pizza or sushi?")
    create(browser, "Offsite")
    titles, _ = listed(browser)
    assert titles == ["Offsite", "Lunch"]  # newest first
    page = browser.get("/surveys").text
    assert "Pizza or sushi?" in page
    refused = browser.post("/surveys/new", data={"title": "   "})
    assert refused.status_code == 400
    assert "A survey needs a title." in refused.text
    assert listed(browser)[0] == ["Offsite", "Lunch"]


def test_flag_on_shows_delete_buttons_and_deletes(make_app: MakeApp) -> None:
    browser = make_app().test_client()
    create(browser, "Lunch")
    create(browser, "Offsite")
    titles, deletable = listed(browser)
    assert titles == ["Offsite", "Lunch"]
    assert deletable == [2, 1]
    response = browser.post("/surveys/1/delete")
    assert response.status_code == 302
    assert listed(browser) == (["Offsite"], [2])
    assert browser.post("/surveys/1/delete").status_code == 404  # already gone
    assert browser.get("/surveys/2/delete").status_code == 405  # deleting takes a POST


def test_flag_off_hides_the_buttons_and_the_route_is_404(make_app: MakeApp) -> None:
    browser = make_app({"UNLEASH_BOOTSTRAP": flags(delete_survey_flag=False)}).test_client()
    create(browser, "Lunch")
    assert listed(browser) == (["Lunch"], [])
    assert browser.post("/surveys/1/delete").status_code == 404
    assert listed(browser) == (["Lunch"], [])  # still there


def test_toggling_the_flag_changes_page_and_route_together(make_app: MakeApp) -> None:
    app = make_app()
    browser = app.test_client()
    create(browser, "Lunch")
    with client_of(app).override({DELETE_FLAG: False}):
        assert listed(browser) == (["Lunch"], [])
        assert browser.post("/surveys/1/delete").status_code == 404
    assert listed(browser) == (["Lunch"], [1])
    assert browser.post("/surveys/1/delete").status_code == 302
    assert listed(browser) == ([], [])


def test_the_flag_name_comes_from_the_config(make_app: MakeApp) -> None:
    app = make_app(
        {
            "SURVEYS_DELETE_FLAG": "delete_survey_flag_renamed",
            "UNLEASH_BOOTSTRAP": flags(delete_survey_flag=False, delete_survey_flag_renamed=True),
        }
    )
    browser = app.test_client()
    create(browser, "Lunch")
    assert listed(browser) == (["Lunch"], [1])
    assert browser.post("/surveys/1/delete").status_code == 302


def test_cli_lists_the_flag(make_app: MakeApp) -> None:
    result = make_app().test_cli_runner().invoke(args=["unleash", "list"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split() == [DELETE_FLAG, "release", "default", "on"]


def test_with_unleash_url_and_token_in_the_environment_it_follows_the_server(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    off = payload(feature(DELETE_FLAG, enabled=False))
    with FakeUnleashServer(payload=off) as server:
        monkeypatch.setenv("UNLEASH_URL", server.url)
        monkeypatch.setenv("UNLEASH_API_TOKEN", TOKEN)
        app = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "UNLEASH_CACHE_DIRECTORY": str(tmp_path),
                "UNLEASH_CLIENT_KWARGS": {"request_timeout": 2, "request_retries": 0},
            }
        )
        try:
            client = client_of(app)
            assert not client.config.offline
            assert not client.unleash_bootstrapped  # no bundled flags against a server
            assert server.feature_gets()[0].header("Authorization") == TOKEN
            browser = app.test_client()
            create(browser, "Lunch")
            assert listed(browser) == (["Lunch"], [])
            assert browser.post("/surveys/1/delete").status_code == 404
        finally:
            unleash.destroy(app)
