"""The example Flask app (``examples/flask_surveys``) against the real server: switching its
delete flag on and off in the Admin API shows and hides the Delete buttons and opens and
closes the delete route (404 while off), within one refresh interval.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from examples.flask_surveys.app import create_app, unleash
from tests.test_flask_surveys_example import create, listed

from .admin import AdminApi
from .polling import wait_for
from .server import UnleashServer

REFRESH_INTERVAL = 1.0


def propagation_deadline(server: UnleashServer) -> float:
    """One refresh interval, plus the server's own delay (0.1 s with fast jobs, 1 s stock),
    plus slack for a loaded CI machine."""
    return REFRESH_INTERVAL + (0.1 if server.fast_jobs else 1.0) + 1.5


def test_delete_buttons_and_route_follow_the_flag(
    request: pytest.FixtureRequest,
    unleash_server: UnleashServer,
    admin: AdminApi,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    # The tutorial's flag name made unique per run (tests.integration.cleanup knows the prefix).
    flag = f"delete_survey_flag_{uuid.uuid4().hex[:8]}"
    admin.create_flag(flag, description="Delete surveys (examples/flask_surveys)")
    request.addfinalizer(lambda: admin.delete_flag(flag))  # a failure here hides no other
    deadline = propagation_deadline(unleash_server)
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "SURVEYS_DELETE_FLAG": flag,
            "UNLEASH_URL": unleash_server.api_url,
            "UNLEASH_API_TOKEN": unleash_server.client_token,
            "UNLEASH_APP_NAME": unique_name("app"),
            "UNLEASH_REFRESH_INTERVAL": REFRESH_INTERVAL,
            "UNLEASH_METRICS_INTERVAL": 1,
            "UNLEASH_CACHE_DIRECTORY": str(tmp_path / "unleash-cache"),
            "UNLEASH_CLIENT_KWARGS": {"request_timeout": 5},
        }
    )
    try:
        client = app.extensions["unleash"].client
        assert not client.config.offline
        wait_for(lambda: flag in client.feature_definitions(), timeout=deadline, what="flag known")
        browser = app.test_client()
        create(browser, "Lunch")
        create(browser, "Offsite")

        # Created disabled: no buttons, and the route refuses as if it did not exist.
        assert listed(browser) == (["Offsite", "Lunch"], [])
        assert browser.post("/surveys/1/delete").status_code == 404

        admin.enable(flag)
        _, elapsed_on = wait_for(
            lambda: listed(browser)[1] == [2, 1], timeout=deadline, what="Delete buttons"
        )
        record_property("enable -> Delete buttons", round(elapsed_on, 3))
        assert browser.post("/surveys/1/delete").status_code == 302
        assert listed(browser) == (["Offsite"], [2])

        admin.disable(flag)
        _, elapsed_off = wait_for(
            lambda: listed(browser)[1] == [], timeout=deadline, what="no Delete buttons"
        )
        record_property("disable -> no Delete buttons", round(elapsed_off, 3))
        assert browser.post("/surveys/2/delete").status_code == 404
        assert listed(browser) == (["Offsite"], [])
        print(
            f"\n[measured] enable -> buttons {elapsed_on:.2f}s, "
            f"disable -> no buttons {elapsed_off:.2f}s"
        )
    finally:
        unleash.destroy(app)
