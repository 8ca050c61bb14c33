"""Scenario 6: a wrong token or a wrong URL. The client says so once, at ERROR level, never
shows the token, keeps answering from its bootstrap (or defaults), polls at the slowest
rate (10x ``refresh_interval``), and recovers by itself once the server accepts the token.

How unleash-server 7.5.1 treats tokens (dist/lib/services/api-token-service.js):

* The Admin API cannot create a token with a chosen secret: ``POST /admin/api-tokens``
  strips a ``secret`` field and the server generates one. So the exact secret a client
  already uses can never *become* valid through the API.
* The server answers from an in-memory list of active tokens, reloaded from the database
  every 60 s (every 0.5 s with the suite's fast jobs); a token created through the API is
  added to it at once. Only a secret missing from that list is looked up in the database,
  and one that is unknown or expired is then not looked up again for 5 minutes (the
  "negative cache"). The negative cache does not block recovery: once the token is
  active in the database, the next reload of the list makes it valid.
* The closest real-world path with the same secret is therefore an *expired* token that
  an admin renews: ``test_renewed_token_recovers_without_restart`` does exactly that
  (and its first, rejected request puts the secret into the negative cache).

Wrong URLs: Unleash answers 404 only under ``/api/client/`` (e.g. ``url=.../api/client``).
With a backend token most other paths (``/apii/...``, ``/client/...`` for a URL without
``/api``, ``/api/v2/...``) are a 403 "invalid token: expected a different token type for
this endpoint", and some (``/unleash/api/...``) get the admin UI's HTML page with a 200.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests

from unleash_lite import UnleashClient
from unleash_lite.sync.outcome import Outcome
from unleash_lite.sync.steps import Steps

from .admin import AdminApi
from .conftest import ClientFactory
from .polling import wait_for
from .server import UnleashServer

REFRESH_INTERVAL = 0.2
SLOWEST_DELAY = 10 * REFRESH_INTERVAL
BOOTSTRAP_FLAG = "bootstrapped-flag"
BOOTSTRAP = {
    "version": 2,
    "features": [
        {
            "name": BOOTSTRAP_FLAG,
            "enabled": True,
            "strategies": [{"name": "default", "parameters": {}}],
            "variants": [
                {"name": "from-bootstrap", "weight": 1000, "stickiness": "default",
                 "payload": {"type": "string", "value": "offline"}},
            ],
        }
    ],
}  # fmt: skip


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def token_refresh_delay(server: UnleashServer) -> float:
    """How long until the server's list of active tokens picks up a database change."""
    return 5.0 if server.fast_jobs else 75.0


def fetch_times(client: UnleashClient) -> list[tuple[float, Outcome]]:
    """Record when each feature fetch happened and how it went (internal API)."""
    assert client._sync is not None
    api = client._sync.calls  # the protocol's fetch, as steps
    fetch = api.fetch_features
    calls: list[tuple[float, Outcome]] = []

    def recording(etag: str | None, retries: int | None = None) -> Steps[Outcome]:
        outcome = yield from fetch(etag, retries)
        calls.append((time.monotonic(), outcome))
        return outcome

    api.fetch_features = recording  # type: ignore[method-assign]
    return calls


def sdk_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "unleash_lite"]


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in sdk_records(caplog) if r.levelno >= logging.ERROR]


def assert_secret_never_logged(caplog: pytest.LogCaptureFixture, secret: str) -> None:
    """Neither the whole token nor its random part is in any record, of any logger."""
    random_part = secret.split(".", 1)[-1]
    for record in caplog.records:
        if "/api/admin/" in str(record.args):
            continue  # this test's own Admin API calls (the token's URL holds its secret)
        text = " ".join(
            str(part)
            for part in (record.getMessage(), record.msg, record.args, record.exc_text)
            if part
        )
        assert secret not in text, record
        assert random_part not in text, record


def assert_answers_from_bootstrap(client: UnleashClient) -> None:
    assert client.is_ready()
    assert client.is_enabled(BOOTSTRAP_FLAG, {"userId": "1"}) is True
    assert client.get_variant(BOOTSTRAP_FLAG, {"userId": "1"})["payload"] == {
        "type": "string",
        "value": "offline",
    }
    assert client.is_enabled("not-in-the-bootstrap") is False
    assert client.is_enabled("not-in-the-bootstrap", fallback_function=lambda *_: True) is True


def wait_for_rejections(
    calls: list[tuple[float, Outcome]], count: int
) -> list[tuple[float, Outcome]]:
    """Wait for ``count`` rejected fetches (the first, then one every SLOWEST_DELAY)."""
    rejected, _ = wait_for(
        lambda: calls if len(calls) >= count else None,
        timeout=count * SLOWEST_DELAY + 5,
        what=f"{count} fetches",
    )
    return rejected


def assert_slowest_rate(client: UnleashClient, calls: list[tuple[float, Outcome]]) -> None:
    assert client._sync is not None
    assert client._sync.features_backoff.delay == pytest.approx(SLOWEST_DELAY)
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(calls)]
    assert gaps and all(gap >= SLOWEST_DELAY * 0.9 for gap in gaps), gaps


# ------------------------------------------------------------------------ wrong token


def test_wrong_token_logs_one_error_and_answers_from_bootstrap(
    unleash_server: UnleashServer,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = f"*:development.{secrets.token_hex(24)}"
    client = make_client(
        custom_headers={"Authorization": wrong},
        refresh_interval=REFRESH_INTERVAL,
        bootstrap=BOOTSTRAP,
        disable_metrics=True,
    )
    calls = fetch_times(client)
    client.initialize_client()

    rejected = wait_for_rejections(calls, 3)
    assert {outcome.status for _, outcome in rejected} == {401}
    assert_answers_from_bootstrap(client)
    assert_slowest_rate(client, rejected)
    [error] = errors(caplog)  # one line, not one per poll
    assert "401" in error and "token" in error and "Authorization" in error, error
    assert_secret_never_logged(caplog, wrong)


def test_wrong_token_with_metrics_still_logs_one_error(
    unleash_server: UnleashServer,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = f"*:development.{secrets.token_hex(24)}"
    client = make_client(
        custom_headers={"Authorization": wrong},
        refresh_interval=REFRESH_INTERVAL,
        metrics_interval=REFRESH_INTERVAL,
        bootstrap=BOOTSTRAP,
    )
    calls = fetch_times(client)
    client.initialize_client()
    for user in range(10):  # an application using its flags: there are metrics to send
        client.is_enabled(BOOTSTRAP_FLAG, {"userId": str(user)})

    wait_for_rejections(calls, 3)
    assert_secret_never_logged(caplog, wrong)
    assert len(errors(caplog)) == 1, errors(caplog)


def test_renewed_token_recovers_without_restart(
    unleash_server: UnleashServer,
    admin: AdminApi,
    make_client: ClientFactory,
    flag_name: str,
    unique_name: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
    record_property: Callable[[str, object], None],
) -> None:
    caplog.set_level(logging.DEBUG)
    admin.create_flag(flag_name)
    admin.add_strategy(flag_name, "default")
    admin.enable(flag_name)
    now = datetime.now(UTC)
    # Created already expired. The server adds a new token to its in-memory list even so;
    # it is refused once the list is reloaded from the database.
    secret = admin.create_api_token(unique_name("token"), expires_at=iso(now - timedelta(days=1)))
    features_url = f"{unleash_server.api_url}/client/features"

    def refused() -> bool:
        response = requests.get(features_url, headers={"Authorization": secret}, timeout=10)
        return response.status_code == 401

    wait_for(refused, timeout=token_refresh_delay(unleash_server), what="expired token refused")

    client = make_client(
        custom_headers={"Authorization": secret},
        refresh_interval=REFRESH_INTERVAL,
        bootstrap=BOOTSTRAP,
        disable_metrics=True,
    )
    calls = fetch_times(client)
    client.initialize_client()
    wait_for_rejections(calls, 1)
    assert calls[0][1].status == 401
    assert client.is_enabled(flag_name) is False  # unknown to the bootstrap
    assert_answers_from_bootstrap(client)
    sync = client._sync
    assert sync is not None
    assert sync.features_backoff.delay == pytest.approx(SLOWEST_DELAY)

    admin.set_api_token_expiry(secret, iso(now + timedelta(days=1)))
    # (The flags are swapped in just before the poll records its outcome: wait for both.)
    _, elapsed = wait_for(
        lambda: client.is_enabled(flag_name) and sync.features_backoff.state == "ok",
        timeout=token_refresh_delay(unleash_server) + SLOWEST_DELAY + 2,
        what="recovery with the renewed token",
    )
    record_property("token renewed -> flags served", round(elapsed, 3))
    assert sync.features_backoff.delay == pytest.approx(REFRESH_INTERVAL)
    # The server's flags replace the bootstrap.
    assert client.is_enabled(BOOTSTRAP_FLAG) is False
    [error] = errors(caplog)
    assert "401" in error
    recovered = [r.getMessage() for r in sdk_records(caplog) if "answers again" in r.getMessage()]
    assert len(recovered) == 1, recovered
    assert_secret_never_logged(caplog, secret)


# -------------------------------------------------------------------------- wrong URL


def test_url_with_a_404_logs_one_error_naming_the_url(
    unleash_server: UnleashServer,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_url = f"{unleash_server.api_url}/client"  # the client path pasted as the URL
    client = make_client(
        url=wrong_url, refresh_interval=REFRESH_INTERVAL, bootstrap=BOOTSTRAP, disable_metrics=True
    )
    calls = fetch_times(client)
    client.initialize_client()

    rejected = wait_for_rejections(calls, 3)
    assert {outcome.status for _, outcome in rejected} == {404}
    assert_answers_from_bootstrap(client)
    assert_slowest_rate(client, rejected)
    [error] = errors(caplog)
    assert "404" in error and "/api/client/client/features" in error, error
    assert_secret_never_logged(caplog, unleash_server.client_token)


def test_url_without_api_prefix_is_retried_at_the_slowest_rate(
    unleash_server: UnleashServer,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(
        url=f"{unleash_server.url}/apii",
        refresh_interval=REFRESH_INTERVAL,
        bootstrap=BOOTSTRAP,
        disable_metrics=True,
    )
    calls = fetch_times(client)
    client.initialize_client()

    rejected = wait_for_rejections(calls, 3)
    # Not a 404: Unleash refuses a backend token outside /api/client with a 403.
    assert {outcome.status for _, outcome in rejected} == {403}
    assert_answers_from_bootstrap(client)
    assert_slowest_rate(client, rejected)
    assert len(errors(caplog)) == 1, errors(caplog)
    assert_secret_never_logged(caplog, unleash_server.client_token)


def test_url_without_api_prefix_error_names_the_url(
    unleash_server: UnleashServer,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(
        url=f"{unleash_server.url}/apii", refresh_interval=REFRESH_INTERVAL, disable_metrics=True
    )
    calls = fetch_times(client)
    client.initialize_client()
    wait_for_rejections(calls, 1)
    [error] = errors(caplog)
    assert "/apii/client/features" in error, error


def test_url_answered_with_the_admin_ui_logs_one_warning(
    unleash_server: UnleashServer,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A wrong path prefix outside /api (here /unleash/api) gets Unleash's admin UI: an
    HTML page with a 200. The client keeps its bootstrap and says so once, as a WARNING
    (docs/production.md: "200 with an HTML page"), and keeps polling at its normal rate."""
    caplog.set_level(logging.DEBUG)
    client = make_client(
        url=f"{unleash_server.url}/unleash/api",
        refresh_interval=REFRESH_INTERVAL,
        bootstrap=BOOTSTRAP,
        disable_metrics=True,
    )
    calls = fetch_times(client)
    client.initialize_client()

    wait_for(lambda: len(calls) >= 3, timeout=5, what="3 fetches")
    assert all(o.status == 200 and "<html" in o.body.lower() for _, o in calls)
    assert_answers_from_bootstrap(client)
    assert not errors(caplog)
    warnings = [r.getMessage() for r in sdk_records(caplog) if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unusable flags payload" in warnings[0], warnings
    assert_secret_never_logged(caplog, unleash_server.client_token)
