"""UnleashClient.override(): fixed answers inside a with block, for tests of host apps."""

from __future__ import annotations

import pytest

from unleash_lite import Reason, UnleashClient

PAYLOAD = {
    "version": 2,
    "features": [
        {"name": "off", "enabled": False, "strategies": [{"name": "default"}]},
        {"name": "on", "enabled": True, "strategies": [{"name": "default"}]},
    ],
}


@pytest.fixture
def client() -> UnleashClient:
    return UnleashClient(url="", app_name="override-tests", bootstrap=PAYLOAD)


def test_override_forces_answers_and_restores_them(client: UnleashClient) -> None:
    with client.override({"off": True, "on": False, "unknown": True}):
        assert client.is_enabled("off") is True
        assert client.is_enabled("on") is False
        assert client.is_enabled("unknown") is True
    assert client.is_enabled("off") is False
    assert client.is_enabled("on") is True
    assert client.is_enabled("unknown") is False
    assert "unknown" not in client.feature_definitions()


def test_variant_overrides_by_name_and_with_payload(client: UnleashClient) -> None:
    payload = {"type": "json", "value": '{"n": 1}'}
    with client.override({"on": "blue", "new": {"name": "green", "payload": payload}}):
        assert client.get_variant("on", {"userId": "1"}) == {
            "name": "blue",
            "enabled": True,
            "feature_enabled": True,
        }
        assert client.get_variant("new") == {
            "name": "green",
            "payload": payload,
            "enabled": True,
            "feature_enabled": True,
        }
    assert client.get_variant("on")["name"] == "disabled"


def test_overrides_nest_innermost_wins(client: UnleashClient) -> None:
    with client.override({"off": True}):
        with client.override({"off": False}):
            assert client.is_enabled("off") is False
        assert client.is_enabled("off") is True


def test_overrides_survive_a_refresh(client: UnleashClient) -> None:
    with client.override({"off": True}):
        client.apply_payload(
            {"version": 2, "features": [{"name": "off", "enabled": False, "strategies": []}]}
        )
        assert client.is_enabled("off") is True
        assert client.is_enabled("on") is False  # gone from the new payload
    assert client.is_enabled("off") is False


def test_overrides_are_restored_when_the_block_raises(client: UnleashClient) -> None:
    with pytest.raises(RuntimeError), client.override({"off": True}):
        raise RuntimeError("test failure")
    assert client.is_enabled("off") is False


def test_explain_says_overridden(client: UnleashClient) -> None:
    with client.override({"off": True}):
        result = client.explain("off")
    assert (result.enabled, result.reason) == (True, Reason.OVERRIDDEN)
    assert client.explain("off").reason is Reason.DISABLED


def test_overridden_checks_are_counted(client: UnleashClient) -> None:
    with client.override({"off": True}):
        client.is_enabled("off")
        client.is_enabled("off")
    client.is_enabled("off")
    counts = client.metrics.totals()["off"]
    assert (counts["yes"], counts["no"]) == (2, 1)


def test_a_variant_without_a_name_is_refused(client: UnleashClient) -> None:
    with pytest.raises(ValueError, match="needs a 'name'"), client.override({"x": {"payload": 1}}):
        pass
