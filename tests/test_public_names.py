"""The names the package root hands out (lazily) resolve, and the validation entry points
work from there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import unleash_lite
from unleash_lite import CustomStrategy, Problem, UnleashClient, payload_format, validate


def test_every_root_name_resolves_and_is_listed() -> None:
    assert sorted(unleash_lite.__all__) == sorted([*unleash_lite._HOMES, "__version__"])
    for name in unleash_lite.__all__:
        assert getattr(unleash_lite, name) is not None


def test_validate_and_payload_format_from_the_root() -> None:
    good = {"version": 2, "features": [{"name": "a", "enabled": True, "strategies": []}]}
    assert payload_format(good) == "full"
    assert payload_format({"events": []}) == "delta"
    assert payload_format({"features": [], "featureStrategies": []}) == "export"
    assert payload_format([]) == "invalid"
    assert validate(good) == []
    mine = {"features": [{"name": "a", "enabled": True, "strategies": [{"name": "mine"}]}]}
    (problem,) = validate(mine)
    assert isinstance(problem, Problem)
    assert (problem.flag, problem.path, problem.severity) == ("a", "strategies[0].name", "error")
    assert validate(mine, ["mine"]) == []


def test_a_custom_strategy_is_typed_by_the_public_protocol() -> None:
    class Mine:
        def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
            return context.get("userId") == parameters.get("user")

    strategies: dict[str, CustomStrategy] = {"mine": Mine()}
    flags = {
        "version": 2,
        "features": [
            {
                "name": "a",
                "enabled": True,
                "strategies": [{"name": "mine", "parameters": {"user": "1"}}],
            }
        ],
    }
    client = UnleashClient(url="", app_name="t", custom_strategies=strategies, bootstrap=flags)
    try:
        assert client.is_enabled("a", {"userId": "1"})
        assert not client.is_enabled("a", {"userId": "2"})
    finally:
        client.destroy()
