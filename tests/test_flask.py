"""The Flask integration, ``unleash_lite.flask``: configuration, per-request contexts, the
view decorator, Jinja globals, the status blueprint and the ``flask unleash`` commands."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, Request, Response, jsonify, render_template_string, session
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from flask_login import LoginManager, UserMixin, login_user
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix

from tests.forking import run_in_child
from tests.support.helpers import free_port
from tests.support.payloads import constraint, feature, payload, rollout, strategy, variant
from tests.support.server import TOKEN, FakeUnleashServer
from unleash_lite import Context, UnleashClient
from unleash_lite.context import current_request_context
from unleash_lite.flask import (
    DEFAULT_SESSION_KEY,
    Unleash,
    UnleashState,
    feature_required,
    status_blueprint,
)

BLUE = {"type": "string", "value": "sky"}
FLAGS: dict[str, Any] = {
    "version": 2,
    "features": [
        feature("on"),
        feature("off", enabled=False),
        feature("user-42", [strategy(constraints=[constraint("userId", "IN", ["42"])])]),
        feature(
            "from-10-0-0-7",
            [strategy(constraints=[constraint("remoteAddress", "IN", ["10.0.0.7"])])],
        ),
        feature("pro-plan", [strategy(constraints=[constraint("plan", "IN", ["pro"])])]),
        feature("colors", variants=[variant("blue", 1000, payload=BLUE)]),
        feature("custom", [strategy("always")]),
        feature("secret", project="internal"),
    ],
}

MakeApp = Callable[..., tuple[Flask, Unleash]]


class Always:
    """A custom strategy that is always on."""

    def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        return True


@pytest.fixture
def make_app() -> Iterator[MakeApp]:
    """Apps set up with the extension, offline on ``FLAGS`` unless ``config`` says otherwise.

    Each has ``/context`` (the context flag checks use) and ``/flag/<name>``.
    """
    apps: list[Flask] = []

    def make(
        config: Mapping[str, Any] | None = None,
        extension: Unleash | None = None,
        **options: Any,
    ) -> tuple[Flask, Unleash]:
        app = Flask("flask-tests")
        app.config.update(SECRET_KEY="not-a-secret", UNLEASH_URL="", UNLEASH_BOOTSTRAP=FLAGS)
        app.config.update(config or {})
        unleash = extension or Unleash(**options)
        unleash.init_app(app)
        apps.append(app)

        @app.get("/context")
        def context() -> Any:
            return jsonify(unleash.context())

        @app.get("/flag/<name>")
        def flag(name: str) -> Any:
            return jsonify(enabled=unleash.is_enabled(name), variant=unleash.get_variant(name))

        return app, unleash

    yield make
    for app in apps:
        state = app.extensions.get("unleash")
        if isinstance(state, UnleashState) and state.client.is_initialized:
            state.client.destroy()  # once: a test may have done it, or share one client


def client_of(app: Flask) -> UnleashClient:
    state = app.extensions["unleash"]
    assert isinstance(state, UnleashState)
    return state.client


def context_of(client: FlaskClient, **request_options: Any) -> dict[str, Any]:
    response = client.get("/context", **request_options)
    assert response.status_code == 200
    return dict(response.get_json())


def enabled(client: FlaskClient, name: str, **request_options: Any) -> bool:
    response = client.get(f"/flag/{name}", **request_options)
    assert response.status_code == 200
    return bool(response.get_json()["enabled"])


# -- configuration ---------------------------------------------------------------------------


def test_every_config_key_reaches_the_client(make_app: MakeApp, tmp_path: Path) -> None:
    app, unleash = make_app(
        {
            "UNLEASH_APP_NAME": "shop",
            "UNLEASH_ENVIRONMENT": "staging",
            "UNLEASH_INSTANCE_ID": "web-1",
            "UNLEASH_REFRESH_INTERVAL": "5",  # as from an environment variable
            "UNLEASH_METRICS_INTERVAL": 7,
            "UNLEASH_DISABLE_METRICS": "true",
            "UNLEASH_DISABLE_REGISTRATION": "yes",
            "UNLEASH_CACHE_DIRECTORY": str(tmp_path),
            "UNLEASH_PROJECT_NAME": "web",
            "UNLEASH_USE_REQUEST_CONTEXT": "on",
            "UNLEASH_API_TOKEN": TOKEN,
            "UNLEASH_CUSTOM_STRATEGIES": {"always": Always()},
            "UNLEASH_CLIENT_KWARGS": {"request_timeout": 3, "custom_headers": {"X-Team": "a"}},
        }
    )
    config = client_of(app).config
    assert config.url == ""
    assert config.app_name == "shop"
    assert config.environment == "staging"
    assert config.instance_id == "web-1"
    assert config.refresh_interval == 5.0
    assert config.metrics_interval == 7.0
    assert config.disable_metrics is True
    assert config.disable_registration is True
    assert config.cache_directory == str(tmp_path)
    assert config.project_name == "web"
    assert config.use_request_context is True
    assert config.request_timeout == 3
    assert dict(config.custom_headers) == {"X-Team": "a", "Authorization": TOKEN}
    with app.app_context():
        assert unleash.is_enabled("custom") is True  # the custom strategy is wired in


def test_defaults_run_offline_under_the_app_name(make_app: MakeApp) -> None:
    app, _ = make_app()
    config = client_of(app).config
    assert config.offline is True
    assert config.app_name == app.name == "flask-tests"
    assert config.environment == "default"
    assert "Authorization" not in config.custom_headers
    assert app.config["UNLEASH_SESSION_KEY"] == DEFAULT_SESSION_KEY
    assert client_of(app).is_initialized


def test_url_and_token_fetch_the_flags_at_init(make_app: MakeApp, tmp_path: Path) -> None:
    with FakeUnleashServer(payload=payload(feature("from-server"))) as server:
        app, unleash = make_app(
            {
                "UNLEASH_URL": server.url,
                "UNLEASH_API_TOKEN": TOKEN,
                "UNLEASH_BOOTSTRAP": None,
                "UNLEASH_CACHE_DIRECTORY": str(tmp_path),
                "UNLEASH_CLIENT_KWARGS": {"request_timeout": 2, "request_retries": 0},
            }
        )
        # initialize_client() ran in init_app: the first fetch is done when it returns.
        assert enabled(app.test_client(), "from-server") is True
        gets = server.feature_gets()
        assert len(gets) == 1
        assert gets[0].header("Authorization") == TOKEN
        assert gets[0].header("UNLEASH-APPNAME") == "flask-tests"
        unleash.destroy(app)


@pytest.mark.parametrize(
    ("config", "error", "words"),
    [
        (
            {"UNLEASH_URL": "", "UNLEASH_CLIENT_KWARGS": {"url": "http://x/api"}},
            ValueError,
            "UNLEASH_URL",
        ),
        (
            {
                "UNLEASH_API_TOKEN": "t",
                "UNLEASH_CLIENT_KWARGS": {"custom_headers": {"authorization": "u"}},
            },
            ValueError,
            "UNLEASH_API_TOKEN",
        ),
        ({"UNLEASH_REFRESH_INTERVAL": "soon"}, ValueError, "UNLEASH_REFRESH_INTERVAL"),
        ({"UNLEASH_DISABLE_METRICS": "maybe"}, ValueError, "UNLEASH_DISABLE_METRICS"),
        ({"UNLEASH_CLIENT_KWARGS": ["url"]}, TypeError, "UNLEASH_CLIENT_KWARGS"),
        ({"UNLEASH_BOOTSTRAP": 42}, TypeError, "UNLEASH_BOOTSTRAP"),
        ({"UNLEASH_CUSTOM_STRATEGIES": [Always()]}, TypeError, "UNLEASH_CUSTOM_STRATEGIES"),
    ],
)
def test_unusable_config_fails_at_init_naming_the_key(
    make_app: MakeApp, config: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        make_app(config)


def test_url_may_come_from_client_kwargs_alone() -> None:
    app = Flask("kwargs-only")
    app.config["UNLEASH_CLIENT_KWARGS"] = {"url": "", "bootstrap": FLAGS}
    unleash = Unleash(app)
    assert unleash.client.is_enabled("on") is True
    unleash.destroy()


def test_unknown_unleash_keys_are_reported(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="unleash_lite.flask"):
        make_app({"UNLEASH_REFRESH_INTERVALL": 5})
    assert any("UNLEASH_REFRESH_INTERVALL" in record.getMessage() for record in caplog.records)


def test_init_app_twice_on_one_app_raises(make_app: MakeApp) -> None:
    app, unleash = make_app()
    with pytest.raises(RuntimeError, match="already set up"):
        unleash.init_app(app)


def test_a_given_client_is_used_and_initialized_once(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    client = UnleashClient(url="", app_name="given", bootstrap=FLAGS)
    assert not client.is_initialized
    extension = Unleash(client=client)
    with caplog.at_level(logging.WARNING):
        first, _ = make_app(extension=extension)
        second, _ = make_app(extension=extension)
    assert client.is_initialized
    assert first.extensions["unleash"].client is client
    assert second.extensions["unleash"].client is client
    assert not [r for r in caplog.records if "already initialized" in r.getMessage()]


def test_one_extension_serves_apps_of_a_factory_each_with_its_client(make_app: MakeApp) -> None:
    extension = Unleash()
    everything_off = {"version": 2, "features": [feature("on", enabled=False)]}
    first, _ = make_app(extension=extension)
    second, _ = make_app({"UNLEASH_BOOTSTRAP": everything_off}, extension=extension)
    assert first.extensions["unleash"].client is not second.extensions["unleash"].client
    assert enabled(first.test_client(), "on") is True
    assert enabled(second.test_client(), "on") is False
    with second.app_context():
        assert extension.client is second.extensions["unleash"].client


def test_requests_do_not_stop_the_client_destroy_does(make_app: MakeApp) -> None:
    app, unleash = make_app()
    client = client_of(app)
    for _ in range(3):
        assert enabled(app.test_client(), "on")
    assert client.is_initialized  # teardown_appcontext runs per request: not a stop signal
    with app.app_context():
        unleash.destroy()
    assert not client.is_initialized
    assert enabled(app.test_client(), "on")  # still answers from the flags it has


def test_destroy_without_set_up_raises() -> None:
    with pytest.raises(RuntimeError, match="not set up"):
        Unleash().destroy(Flask("bare"))


def test_bootstrap_from_a_json_string_or_a_path_with_no_network(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def no_network(self: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
        calls.append(url)
        raise AssertionError("offline must not use the network")

    monkeypatch.setattr(requests.Session, "request", no_network)
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(FLAGS), encoding="utf-8")
    for source in (json.dumps(FLAGS), str(path), path):
        app, unleash = make_app({"UNLEASH_BOOTSTRAP": source})
        assert client_of(app).unleash_bootstrapped
        assert enabled(app.test_client(), "on") is True
        assert enabled(app.test_client(), "off") is False
        unleash.destroy(app)
    assert calls == []


def test_an_app_loaded_before_a_fork_keeps_following_the_server_in_the_child(
    make_app: MakeApp, tmp_path: Path
) -> None:
    with FakeUnleashServer(payload=payload(feature("late", enabled=False))) as server:
        app, _ = make_app(
            {
                "UNLEASH_URL": server.url,
                "UNLEASH_BOOTSTRAP": None,
                "UNLEASH_REFRESH_INTERVAL": 0.2,
                "UNLEASH_DISABLE_METRICS": True,
                "UNLEASH_CACHE_DIRECTORY": str(tmp_path),
                "UNLEASH_CLIENT_KWARGS": {"request_timeout": 2, "request_retries": 0},
            }
        )
        assert enabled(app.test_client(), "late") is False
        admin = f"http://127.0.0.1:{server.port}/_admin/payload"

        def worker() -> dict[str, Any]:
            on = payload(feature("late", enabled=True))
            requests.put(admin, json=on, timeout=5).raise_for_status()
            deadline = time.monotonic() + 10
            while not enabled(app.test_client(), "late"):
                if time.monotonic() > deadline:
                    return {"error": "the child never saw the change"}
                time.sleep(0.05)
            return {"pid": os.getpid()}

        report = run_in_child(worker)
        assert report["pid"] != os.getpid()


def test_a_server_that_is_down_delays_start_up_and_breaks_nothing(
    make_app: MakeApp, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens on it
    started = time.monotonic()
    app, _ = make_app(
        {
            "UNLEASH_URL": f"http://127.0.0.1:{port}/api",
            "UNLEASH_CACHE_DIRECTORY": str(tmp_path),
            "UNLEASH_CLIENT_KWARGS": {"request_timeout": 1, "request_retries": 0},
        }
    )
    assert time.monotonic() - started < 5
    browser = app.test_client()
    assert enabled(browser, "on") is True  # from the bootstrap
    assert enabled(browser, "off") is False
    assert context_of(browser)["sessionId"]


def test_destroying_an_app_twice_keeps_duplicate_detection(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    same_instance = {"UNLEASH_INSTANCE_ID": "web-1", "UNLEASH_APP_NAME": "duplicates"}
    first, unleash = make_app(same_instance)
    make_app(same_instance)  # a duplicate, warned about; stays alive
    unleash.destroy(first)
    unleash.destroy(first)  # e.g. a test's own destroy, then its fixture's
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        make_app(same_instance)  # the second one is still alive: a duplicate again
    assert any("already have" in record.getMessage() for record in caplog.records)


# -- the per-request context -----------------------------------------------------------------


def test_user_id_from_a_loader_given_to_the_constructor(make_app: MakeApp) -> None:
    app, _ = make_app(user_id_loader=lambda: 42)
    assert context_of(app.test_client())["userId"] == "42"
    assert enabled(app.test_client(), "user-42") is True


def test_user_id_loader_decorator_replaces_the_default(make_app: MakeApp) -> None:
    app, unleash = make_app()
    current: dict[str, str | None] = {"user": "7"}

    @unleash.user_id_loader
    def load() -> str | None:
        return current["user"]

    assert context_of(app.test_client())["userId"] == "7"
    current["user"] = "42"
    assert enabled(app.test_client(), "user-42") is True
    current["user"] = None
    assert "userId" not in context_of(app.test_client())


class User(UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def test_user_id_from_flask_login_for_authenticated_users(make_app: MakeApp) -> None:
    app, _ = make_app()
    login_manager = LoginManager(app)
    login_manager.user_loader(User)

    @app.get("/login/<user_id>")
    def login(user_id: str) -> str:
        login_user(User(user_id))
        return "ok"

    browser = app.test_client()
    assert "userId" not in context_of(browser)  # anonymous
    assert enabled(browser, "user-42") is False
    assert browser.get("/login/42").status_code == 200
    assert context_of(browser)["userId"] == "42"
    assert enabled(browser, "user-42") is True
    assert "userId" not in context_of(app.test_client())  # another browser


def test_session_id_is_sticky_per_browser_and_differs_between_browsers(
    make_app: MakeApp,
) -> None:
    app, _ = make_app({"UNLEASH_SESSION_KEY": "flag_sid"})
    browser, other = app.test_client(), app.test_client()
    first = context_of(browser)["sessionId"]
    assert len(first) == 32
    assert context_of(browser)["sessionId"] == first
    assert context_of(browser)["sessionId"] == first
    assert context_of(other)["sessionId"] not in ("", first)
    with browser.session_transaction() as session:
        assert session["flag_sid"] == first


def test_no_session_id_without_a_secret_key_or_with_the_key_unset(make_app: MakeApp) -> None:
    app, _ = make_app({"SECRET_KEY": None})
    response = app.test_client().get("/context")
    assert "sessionId" not in response.get_json()
    assert "Set-Cookie" not in response.headers
    app, _ = make_app({"UNLEASH_SESSION_KEY": None})
    assert "sessionId" not in context_of(app.test_client())


def test_no_cookie_is_set_by_requests_that_check_no_flag(make_app: MakeApp) -> None:
    app, _ = make_app()

    @app.get("/plain")
    def plain() -> str:
        return "no flags here"

    assert "Set-Cookie" not in app.test_client().get("/plain").headers


def _secret_key_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "unleash_lite.flask"
        and record.levelno == logging.WARNING
        and "SECRET_KEY" in record.getMessage()
    ]


def test_sticky_sessions_without_a_secret_key_warn_once_per_app(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "unleash_lite")
    app, _ = make_app({"SECRET_KEY": None})
    assert _secret_key_warnings(caplog) == []  # nothing at init: the key may come later
    browser = app.test_client()
    for _ in range(3):
        assert "sessionId" not in context_of(browser)
        assert enabled(browser, "on") is True
    (warning,) = _secret_key_warnings(caplog)
    assert "'flask-tests'" in warning.getMessage()
    assert "UNLEASH_SESSION_KEY = None" in warning.getMessage()
    other, _ = make_app({"SECRET_KEY": None})
    context_of(other.test_client())
    context_of(other.test_client())
    assert len(_secret_key_warnings(caplog)) == 2  # one for each app


def test_no_warning_when_sessions_are_turned_off_or_the_key_is_set(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "unleash_lite")
    for config in ({"SECRET_KEY": None, "UNLEASH_SESSION_KEY": None}, {}):
        app, _ = make_app(config)
        context_of(app.test_client())
        context_of(app.test_client())
    assert _secret_key_warnings(caplog) == []


def test_the_session_cookie_is_samesite_lax_unless_the_app_chose(make_app: MakeApp) -> None:
    app, _ = make_app()
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    cookie = app.test_client().get("/context").headers["Set-Cookie"]
    assert cookie.startswith("session=") and "SameSite=Lax" in cookie
    for chosen in ("Strict", "None"):
        app, _ = make_app({"SESSION_COOKIE_SAMESITE": chosen, "SESSION_COOKIE_SECURE": True})
        cookie = app.test_client().get("/context").headers["Set-Cookie"]
        assert f"SameSite={chosen}" in cookie and "Secure" in cookie
    app, _ = make_app({"UNLEASH_SESSION_KEY": None})  # the extension sets no cookie
    assert app.config["SESSION_COOKIE_SAMESITE"] is None


def test_a_rollout_sticky_on_session_id_keeps_its_answer_when_visitors_log_in(
    make_app: MakeApp,
) -> None:
    """With ``default`` stickiness a rollout hashes the userId once there is one, so a
    visitor's answer may change on logging in; with ``sessionId`` stickiness it never does
    (what docs/flask.md shows)."""
    flags = payload(
        feature("by-default", [rollout(50)]), feature("by-session", [rollout(50, "sessionId")])
    )
    app, _ = make_app({"UNLEASH_BOOTSTRAP": flags}, user_id_loader=lambda: session.get("user"))
    changed = {"by-default": 0, "by-session": 0}
    visitors = 200
    for number in range(visitors):
        browser = app.test_client()
        with browser.session_transaction() as stored:
            stored[DEFAULT_SESSION_KEY] = f"visitor-{number}"
        anonymous = {name: enabled(browser, name) for name in changed}
        with browser.session_transaction() as stored:
            stored["user"] = f"user-{number}"  # logged in, same browser session
        assert context_of(browser)["userId"] == f"user-{number}"
        for name, answer in anonymous.items():
            changed[name] += enabled(browser, name) != answer
    assert changed["by-session"] == 0
    assert visitors / 4 < changed["by-default"] < visitors * 3 / 4, changed


def test_remote_address_is_the_peer_and_forwarded_headers_are_ignored(make_app: MakeApp) -> None:
    app, _ = make_app()
    peer = {"environ_base": {"REMOTE_ADDR": "10.0.0.7"}}
    assert context_of(app.test_client(), **peer)["remoteAddress"] == "10.0.0.7"
    assert enabled(app.test_client(), "from-10-0-0-7", **peer) is True
    spoofed: dict[str, Any] = {
        "environ_base": {"REMOTE_ADDR": "192.0.2.1"},
        "headers": {"X-Forwarded-For": "10.0.0.7"},
    }
    assert context_of(app.test_client(), **spoofed)["remoteAddress"] == "192.0.2.1"
    assert enabled(app.test_client(), "from-10-0-0-7", **spoofed) is False


def test_behind_a_proxy_proxyfix_makes_the_forwarded_address_count(make_app: MakeApp) -> None:
    app, _ = make_app()
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    via_proxy: dict[str, Any] = {
        "environ_base": {"REMOTE_ADDR": "192.0.2.1"},
        "headers": {"X-Forwarded-For": "203.0.113.5, 10.0.0.7"},
    }
    # x_for=1: one proxy of ours, so only the address it added (the last one) is trusted.
    assert context_of(app.test_client(), **via_proxy)["remoteAddress"] == "10.0.0.7"
    assert enabled(app.test_client(), "from-10-0-0-7", **via_proxy) is True


def test_the_context_is_built_once_per_request(make_app: MakeApp) -> None:
    calls: list[int] = []

    def load() -> str:
        calls.append(1)
        return "42"

    app, unleash = make_app(user_id_loader=load)

    @app.get("/many")
    def many() -> Any:
        return jsonify([unleash.is_enabled("user-42") for _ in range(5)])

    assert app.test_client().get("/many").get_json() == [True] * 5
    assert len(calls) == 1
    app.test_client().get("/many")
    assert len(calls) == 2


def test_context_providers_add_fields_and_explicit_context_merges_over_all(
    make_app: MakeApp,
) -> None:
    app, unleash = make_app(user_id_loader=lambda: "1")

    @unleash.context_provider
    def plan() -> dict[str, Any]:
        return {"properties": {"plan": "free", "region": "eu"}}

    @unleash.context_provider
    def nothing() -> None:
        return None

    @unleash.context_provider
    def later() -> dict[str, Any]:
        return {"properties": {"region": "no"}, "environment": "from-provider"}

    with app.test_request_context(environ_base={"REMOTE_ADDR": "10.0.0.1"}):
        automatic = unleash.context()
        assert automatic["userId"] == "1"
        assert automatic["remoteAddress"] == "10.0.0.1"
        assert automatic["properties"] == {"plan": "free", "region": "no"}
        assert automatic["environment"] == "from-provider"
        assert unleash.is_enabled("pro-plan") is False
        explicit = {"userId": "42", "properties": {"plan": "pro"}}
        merged = unleash.context(explicit)
        assert merged["userId"] == "42"
        assert merged["properties"] == {"plan": "pro", "region": "no"}
        assert merged["remoteAddress"] == "10.0.0.1"
        assert unleash.is_enabled("pro-plan", explicit) is True
        assert unleash.is_enabled("user-42", Context(user_id="42")) is True
        assert unleash.is_enabled("user-42") is False
        merged["properties"]["plan"] = "changed"  # a copy: the request's context is intact
        assert unleash.context()["properties"]["plan"] == "free"


def test_failing_context_parts_are_left_out_and_logged_at_debug(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_loader() -> str:
        raise LookupError("user database down")

    app, unleash = make_app(user_id_loader=broken_loader)

    @unleash.context_provider
    def broken() -> dict[str, Any]:
        raise KeyError("provider bug")

    @unleash.context_provider
    def wrong_type() -> Any:
        return ["not", "a", "mapping"]

    @unleash.context_provider
    def works() -> dict[str, Any]:
        return {"properties": {"plan": "pro"}}

    with caplog.at_level(logging.DEBUG, logger="unleash_lite.flask"):
        browser = app.test_client()
        context = context_of(browser, environ_base={"REMOTE_ADDR": "10.0.0.7"})
        assert enabled(browser, "pro-plan") is True
        assert enabled(browser, "on") is True
    assert "userId" not in context
    assert context["remoteAddress"] == "10.0.0.7"
    assert context["properties"] == {"plan": "pro"}
    failures = [r for r in caplog.records if r.name == "unleash_lite.flask"]
    assert failures and all(r.levelno == logging.DEBUG for r in failures)
    assert any(r.exc_info and "user database down" in str(r.exc_info[1]) for r in failures)
    assert any(r.exc_info and "provider bug" in str(r.exc_info[1]) for r in failures)


def test_a_broken_session_leaves_out_only_the_session_id(make_app: MakeApp) -> None:
    app, _ = make_app()

    class ExplodingSession(dict[str, Any]):
        def get(self, *args: Any) -> Any:
            raise RuntimeError("session store down")

    class ExplodingInterface(SecureCookieSessionInterface):
        def open_session(self, app: Flask, request: Request) -> Any:
            return ExplodingSession()

        def save_session(self, app: Flask, session: Any, response: Response) -> None:
            pass

    app.session_interface = ExplodingInterface()
    context = context_of(app.test_client(), environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert "sessionId" not in context
    assert context["remoteAddress"] == "10.0.0.7"


def test_a_non_mapping_explicit_context_is_ignored(make_app: MakeApp) -> None:
    app, unleash = make_app(user_id_loader=lambda: "42")
    with app.test_request_context():
        assert unleash.is_enabled("user-42", "userId=1") is True  # type: ignore[arg-type]


def test_outside_a_request_the_loader_and_providers_still_apply(make_app: MakeApp) -> None:
    app, unleash = make_app(user_id_loader=lambda: "42")
    with app.app_context():
        assert unleash.context() == {"userId": "42"}
        assert unleash.is_enabled("user-42") is True


def test_unleash_app_works_without_any_context() -> None:
    app = Flask("direct")
    app.config.update(UNLEASH_BOOTSTRAP=FLAGS)
    unleash = Unleash(app)
    assert unleash.client is app.extensions["unleash"].client
    assert unleash.is_enabled("on") is True
    assert unleash.get_variant("colors")["name"] == "blue"
    unleash.destroy()
    assert not unleash.client.is_initialized


def test_without_set_up_answers_defaults_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unleash = Unleash()
    app = Flask("not-set-up")
    with caplog.at_level(logging.WARNING, logger="unleash_lite.flask"), app.test_request_context():
        assert unleash.is_enabled("on") is False
        assert unleash.is_enabled("on", fallback_function=lambda name, context: True) is True
        assert unleash.get_variant("colors") == {
            "name": "disabled",
            "enabled": False,
            "feature_enabled": False,
        }
        with pytest.raises(RuntimeError, match="init_app"):
            _ = unleash.client
    assert any("not set up" in record.getMessage() for record in caplog.records)


def test_fallback_function_answers_for_unknown_flags(make_app: MakeApp) -> None:
    app, unleash = make_app(user_id_loader=lambda: "42")
    seen: list[tuple[str, Mapping[str, Any]]] = []

    def fallback(name: str, context: Mapping[str, Any]) -> bool:
        seen.append((name, context))
        return True

    with app.test_request_context():
        assert unleash.is_enabled("unknown", fallback_function=fallback) is True
        assert unleash.is_enabled("off", fallback_function=fallback) is False
    assert [(name, context.get("userId")) for name, context in seen] == [("unknown", "42")]


def test_client_override_forces_answers_in_the_host_apps_tests(make_app: MakeApp) -> None:
    app, _ = make_app()
    with client_of(app).override({"on": False, "colors": {"name": "red", "payload": BLUE}}):
        assert enabled(app.test_client(), "on") is False
        response = app.test_client().get("/flag/colors")
        assert response.get_json()["variant"]["name"] == "red"
    assert enabled(app.test_client(), "on") is True


# -- the view decorator ----------------------------------------------------------------------


def gated_app(make_app: MakeApp, **config: Any) -> Flask:
    app, _ = make_app(config)

    @app.get("/beta")
    @feature_required("on")
    def beta() -> str:
        return "beta"

    @app.get("/hidden")
    @feature_required("off")
    def hidden() -> str:
        return "hidden"

    @app.get("/forbidden")
    @feature_required("off", status=403)
    def forbidden() -> str:
        return "forbidden"

    @app.get("/moved")
    @feature_required("off", redirect_to="beta")
    def moved() -> str:
        return "moved"

    @app.get("/moved-nowhere")
    @feature_required("off", redirect_to="no-such-endpoint")
    def moved_nowhere() -> str:
        return "moved"

    return app


def test_feature_required_runs_the_view_only_when_the_flag_is_on(make_app: MakeApp) -> None:
    browser = gated_app(make_app).test_client()
    response = browser.get("/beta")
    assert (response.status_code, response.text) == (200, "beta")
    assert browser.get("/hidden").status_code == 404
    assert browser.get("/forbidden").status_code == 403
    moved = browser.get("/moved")
    assert moved.status_code == 302
    assert moved.headers["Location"] == "/beta"


def test_feature_required_with_an_unknown_redirect_endpoint_refuses(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    browser = gated_app(make_app).test_client()
    with caplog.at_level(logging.ERROR, logger="unleash_lite.flask"):
        assert browser.get("/moved-nowhere").status_code == 404
    assert any("no-such-endpoint" in record.getMessage() for record in caplog.records)


def test_feature_required_follows_the_request_context(make_app: MakeApp) -> None:
    user = {"id": "1"}
    app, _ = make_app(user_id_loader=lambda: user["id"])

    @app.get("/staff")
    @feature_required("user-42")
    def staff() -> str:
        return "staff"

    assert app.test_client().get("/staff").status_code == 404
    user["id"] = "42"
    assert app.test_client().get("/staff").status_code == 200


def test_feature_required_keeps_the_view_name_and_checks_its_status() -> None:
    @feature_required("on")
    def report() -> str:
        """The report."""
        return "report"

    assert (report.__name__, report.__doc__) == ("report", "The report.")
    with pytest.raises(ValueError, match="299"):
        feature_required("on", status=299)


def test_feature_required_on_an_app_without_unleash_fails_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Flask("no-unleash")

    @app.get("/beta")
    @feature_required("on")
    def beta() -> str:
        return "beta"

    with caplog.at_level(logging.ERROR, logger="unleash_lite.flask"):
        assert app.test_client().get("/beta").status_code == 404
    assert any("not set up" in record.getMessage() for record in caplog.records)


def test_feature_required_on_async_views(make_app: MakeApp) -> None:
    app, _ = make_app()

    @feature_required("on")
    async def open_view() -> str:
        return "open"

    @feature_required("off")
    async def closed_view() -> str:
        return "closed"

    with app.test_request_context():
        assert asyncio.run(open_view()) == "open"
        with pytest.raises(NotFound):
            asyncio.run(closed_view())


# -- Jinja -----------------------------------------------------------------------------------


def test_jinja_globals(make_app: MakeApp) -> None:
    app, _ = make_app(user_id_loader=lambda: "42")
    template = (
        "{{ feature_enabled('on') }} {{ feature_enabled('off') }} "
        "{{ feature_enabled('user-42') }} "
        "{{ feature_enabled('pro-plan', {'properties': {'plan': 'pro'}}) }} "
        "{% set v = feature_variant('colors') %}{{ v.name }}:{{ v.payload.value }} "
        "{{ feature_variant('off').name }}"
    )
    with app.test_request_context():
        assert render_template_string(template) == "True False True True blue:sky disabled"


# -- the status blueprint --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "error", "words"),
    [
        ({"authorize": lambda: True}, ValueError, "allow-list"),
        ({"flags": [], "authorize": lambda: True}, ValueError, "non-empty"),
        ({"flags": "on", "authorize": lambda: True}, ValueError, "not a single string"),
        ({"flags": ["on", 3], "authorize": lambda: True}, ValueError, "flag names"),
        ({"flags": ["on"]}, TypeError, "authorize"),
        ({"flags": ["on"], "authorize": True}, TypeError, "authorize"),
    ],
)
def test_status_blueprint_refuses_to_exist_without_allow_list_and_auth(
    arguments: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        status_blueprint(**arguments)


def status_app(make_app: MakeApp, authorize: Callable[[], Any], **options: Any) -> Flask:
    app, _ = make_app(user_id_loader=lambda: "42")
    app.register_blueprint(
        status_blueprint(
            flags=["on", "off", "user-42", "colors", "never-defined"], authorize=authorize
        ),
        **options,
    )
    return app


@pytest.mark.parametrize("answer", [False, None, "yes", 1])
def test_status_is_403_unless_authorize_returns_true(make_app: MakeApp, answer: Any) -> None:
    response = status_app(make_app, lambda: answer).test_client().get("/unleash/status")
    assert response.status_code == 403
    assert response.get_json() == {"error": "forbidden"}
    assert response.headers["Cache-Control"] == "no-store"


def test_status_is_403_when_authorize_raises(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> bool:
        raise RuntimeError("auth backend down")

    with caplog.at_level(logging.WARNING, logger="unleash_lite.flask"):
        response = status_app(make_app, explode).test_client().get("/unleash/status")
    assert response.status_code == 403
    assert any("authorize" in record.getMessage() for record in caplog.records)


def test_status_answers_only_allow_listed_flags_for_the_request(make_app: MakeApp) -> None:
    response = status_app(make_app, lambda: True).test_client().get("/unleash/status")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Cookie" in response.headers["Vary"]
    disabled = {"name": "disabled", "enabled": False}
    assert response.get_json() == {
        "flags": {
            "on": {"enabled": True, "variant": disabled},
            "off": {"enabled": False, "variant": disabled},
            "user-42": {"enabled": True, "variant": disabled},  # userId from the loader
            "colors": {
                "enabled": True,
                "variant": {"name": "blue", "enabled": True, "payload": BLUE},
            },
            "never-defined": {"enabled": False, "variant": disabled},
        }
    }


def test_status_url_prefix_is_the_apps_choice(make_app: MakeApp) -> None:
    browser = status_app(make_app, lambda: True, url_prefix="/api/flags").test_client()
    assert browser.get("/api/flags/status").status_code == 200
    assert browser.get("/unleash/status").status_code == 404


# -- the command line ------------------------------------------------------------------------


def test_cli_list(make_app: MakeApp) -> None:
    app, _ = make_app()
    result = app.test_cli_runner().invoke(args=["unleash", "list"])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines()]
    assert lines[0] == ["NAME", "TYPE", "PROJECT", "EMPTY", "CONTEXT"]
    rows = {line[0]: line[1:] for line in lines[1:]}
    assert rows["on"] == ["release", "default", "on"]
    assert rows["off"] == ["release", "default", "off"]
    assert rows["user-42"] == ["release", "default", "off"]  # no userId in an empty context
    assert rows["secret"] == ["release", "internal", "on"]
    assert set(rows) == {f["name"] for f in FLAGS["features"]}


def test_cli_list_json(make_app: MakeApp) -> None:
    app, _ = make_app()
    result = app.test_cli_runner().invoke(args=["unleash", "list", "--json"])
    assert result.exit_code == 0, result.output
    flags = {row["name"]: row for row in json.loads(result.output)["flags"]}
    assert flags["on"] == {"name": "on", "type": "release", "project": "default", "enabled": True}
    assert flags["off"]["enabled"] is False


def test_cli_list_without_flags_says_so_and_fails(make_app: MakeApp) -> None:
    app, _ = make_app({"UNLEASH_BOOTSTRAP": None})
    result = app.test_cli_runner().invoke(args=["unleash", "list"])
    assert result.exit_code == 1
    assert "no flags" in result.output
    assert "holds no flags" in result.stderr


def test_cli_eval_explains_the_answer(make_app: MakeApp) -> None:
    app, _ = make_app()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["unleash", "eval", "user-42", "--user", "42"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "user-42: on"
    assert lines[1].startswith("reason: strategy_matched (")
    assert lines[2] == "variant: disabled"
    assert json.loads(lines[3].removeprefix("context: ")) == {"userId": "42"}
    result = runner.invoke(args=["unleash", "eval", "user-42", "--user", "7"])
    assert result.exit_code == 0, result.output
    off, reason = result.output.splitlines()[:2]
    assert off == "user-42: off"
    assert reason.startswith("reason: no_strategy_matched (")
    assert "userId" in reason  # the failing constraint is named


def test_cli_eval_properties_and_json(make_app: MakeApp) -> None:
    app, _ = make_app()
    args = ["unleash", "eval", "pro-plan", "--prop", "plan=pro", "--prop", "note=a=b", "--json"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["flag"] == "pro-plan"
    assert answer["enabled"] is True
    assert answer["reason"] == "strategy_matched"
    assert answer["context"] == {"properties": {"plan": "pro", "note": "a=b"}}
    assert answer["variant"]["name"] == "disabled"
    result = app.test_cli_runner().invoke(args=["unleash", "eval", "colors", "--session", "s1"])
    assert 'variant: blue (payload: {"type": "string", "value": "sky"})' in result.output


def test_cli_eval_unknown_flag_and_bad_property(make_app: MakeApp) -> None:
    app, _ = make_app()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["unleash", "eval", "nope"])
    assert result.exit_code == 3  # as unleash-lite eval and manage.py unleash eval
    assert result.output.startswith("nope: off\nreason: unknown_flag")
    result = runner.invoke(args=["unleash", "eval", "on", "--prop", "plan"])
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.output


# -- the request context ---------------------------------------------------------------------


def test_code_that_never_sees_the_request_evaluates_with_its_context(make_app: MakeApp) -> None:
    """With UNLEASH_USE_REQUEST_CONTEXT, a plain ``client.is_enabled("x")`` deep in a call
    stack gets the request's userId; the context is current only during the request."""
    app, _ = make_app({"UNLEASH_USE_REQUEST_CONTEXT": True}, user_id_loader=lambda: "42")
    client = client_of(app)

    def deep_in_the_stack() -> bool:
        return client.is_enabled("user-42")

    @app.get("/deep")
    def deep() -> Any:
        return jsonify(
            enabled=deep_in_the_stack(),
            current=dict(current_request_context() or {}),
            overridden=client.is_enabled("user-42", {"userId": "43"}),
        )

    answer = app.test_client().get("/deep").get_json()
    assert answer["enabled"] is True
    assert answer["current"]["userId"] == "42"
    assert answer["overridden"] is False  # the context given wins over the request's
    assert current_request_context() is None
    assert client.is_enabled("user-42") is False  # outside a request: no userId


def test_the_request_context_is_reset_when_the_view_raises(make_app: MakeApp) -> None:
    app, _ = make_app(user_id_loader=lambda: "42")
    seen: list[Any] = []

    @app.get("/boom")
    def boom() -> Any:
        seen.append(dict(current_request_context() or {}))
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert app.test_client().get("/boom").status_code == 500
    assert seen[0]["userId"] == "42"
    assert current_request_context() is None
