"""Every case of the Unleash client specification, against the engine and the client."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client_spec import load_specifications
from unleash_lite import UnleashClient
from unleash_lite.engine import compile_snapshot, disabled_variant

SPECIFICATIONS = load_specifications()


def _cases() -> list[Any]:
    cases = []
    for file_name, spec in SPECIFICATIONS:
        for kind in ("tests", "variantTests"):
            for case in spec.get(kind, []):
                cases.append(
                    pytest.param(spec["state"], kind, case, id=f"{file_name}:{case['description']}")
                )
    return cases


CASES = _cases()


def test_the_whole_specification_is_here() -> None:
    assert len(SPECIFICATIONS) == 22
    assert len(CASES) == 279


@pytest.mark.parametrize(("state", "kind", "case"), CASES)
def test_engine(state: dict[str, Any], kind: str, case: dict[str, Any]) -> None:
    snapshot = compile_snapshot(state)
    if kind == "tests":
        assert (
            bool(snapshot.is_enabled(case["toggleName"], case["context"])) is case["expectedResult"]
        )
    else:
        variant = snapshot.get_variant(case["toggleName"], case["context"])
        assert (variant or disabled_variant(False)) == case["expectedResult"]


@pytest.mark.parametrize(("state", "kind", "case"), CASES)
def test_client(state: dict[str, Any], kind: str, case: dict[str, Any]) -> None:
    client = UnleashClient(url="", app_name="spec", bootstrap=state, disable_metrics=True)
    if kind == "tests":
        assert client.is_enabled(case["toggleName"], case["context"]) is case["expectedResult"]
    else:
        assert client.get_variant(case["toggleName"], case["context"]) == case["expectedResult"]
