"""The names the package root hands out (lazily) resolve, and the validation entry points
work from there."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import unleash_lite
from unleash_lite import CustomStrategy, Problem, UnleashClient, Variant, payload_format, validate

ROOT = Path(__file__).resolve().parent.parent


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


def test_get_variant_answers_a_typed_dict_that_mypy_checks(tmp_path: Path) -> None:
    """A misspelt key of a variant is a type error: ``get_variant`` is typed as
    :class:`~unleash_lite.Variant`."""
    client = UnleashClient(url="", app_name="t", bootstrap={"version": 2, "features": []})
    try:
        variant: Variant = client.get_variant("missing")
        assert variant == {"name": "disabled", "enabled": False, "feature_enabled": False}
    finally:
        client.destroy()
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        "from unleash_lite import UnleashClient\n"
        "\n"
        "\n"
        "def use(client: UnleashClient) -> None:\n"
        '    variant = client.get_variant("flag")\n'
        '    name: str = variant["name"]\n'
        '    enabled: bool = variant["enabled"] and variant["feature_enabled"]\n'
        '    print(name, enabled, variant.get("payload"))\n'
        '    print(variant["nmae"])\n',
        encoding="utf-8",
    )
    # The project's mypy settings (strict, the untyped dependencies); the package is found
    # on MYPYPATH, as mypy cannot see through an editable install's import hook.
    found = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--no-incremental", "--no-error-summary"),
            *("--config-file", str(ROOT / "pyproject.toml"), snippet.name),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(ROOT)},
    )
    errors = [line for line in found.stdout.splitlines() if ": error:" in line]
    assert errors == [
        'snippet.py:9: error: TypedDict "Variant" has no key "nmae"  [typeddict-item]'
    ], found.stdout + found.stderr


def test_help_documents_every_keyword_of_both_clients() -> None:
    import inspect

    from unleash_lite import AsyncUnleashClient, UnleashClient

    for client in (UnleashClient, AsyncUnleashClient):
        text = client.__doc__ or ""
        keywords = inspect.signature(client).parameters
        assert [name for name in keywords if f"\n    {name}: " not in text] == [], client.__name__
