"""The unleash_lite pytest plugin, registered through the ``pytest11`` entry point.

Fixtures:

* ``unleash``: a fresh :class:`~unleash_lite.testing.FakeUnleash` for each test, set up by
  any ``@pytest.mark.unleash(...)`` marker on the test, its class or its module.
* ``unleash_override``: ``unleash_override(client, {"flag": True})`` forces flags on a real
  :class:`~unleash_lite.UnleashClient` (``client.override``) until the test ends.

Marker keywords: ``enabled`` and ``disabled`` (flag names), ``variants`` (flag name to a
variant name or ``{"name": ..., "payload": ...}``), ``enable_all`` / ``disable_all``
(``True``), and ``bootstrap`` (real definitions, as ``FakeUnleash(bootstrap=...)``). Markers
closer to the test are applied last, so a test's marker wins over its class's.

This module imports only pytest when pytest starts; the SDK is imported by the fixtures, when
a test uses them, so installing unleash_lite costs nothing to test runs that don't.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .client import OverrideValue, UnleashClient
    from .testing import FakeUnleash

    Override = Callable[[UnleashClient, Mapping[str, OverrideValue]], UnleashClient]

MARKER = "unleash"
MARKER_KEYWORDS = ("enabled", "disabled", "variants", "enable_all", "disable_all", "bootstrap")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(enabled=[...], disabled=[...], variants={{flag: variant}}, "
        "enable_all=False, disable_all=False, bootstrap=None): set up the 'unleash' "
        "fixture (a FakeUnleash) for this test",
    )


@pytest.fixture
def unleash(request: pytest.FixtureRequest) -> Iterator[FakeUnleash]:
    """A :class:`~unleash_lite.testing.FakeUnleash` set up by the test's ``unleash`` markers."""
    from .testing import FakeUnleash

    markers = list(request.node.iter_markers(MARKER))  # the closest first
    for marker in markers:
        _check_marker(marker)
    bootstrap = next((m.kwargs["bootstrap"] for m in markers if "bootstrap" in m.kwargs), None)
    fake = FakeUnleash(bootstrap=bootstrap)
    for marker in reversed(markers):
        _apply_marker(fake, marker.kwargs)
    yield fake
    fake.destroy()


@pytest.fixture
def unleash_override() -> Iterator[Override]:
    """``unleash_override(client, flags)``: ``client.override(flags)`` until the test ends.

    For apps that hold a real :class:`~unleash_lite.UnleashClient`; returns the client.
    """
    with contextlib.ExitStack() as stack:

        def override(client: UnleashClient, flags: Mapping[str, OverrideValue]) -> UnleashClient:
            return stack.enter_context(client.override(flags))

        yield override


def _check_marker(marker: pytest.Mark) -> None:
    if marker.args:
        pytest.fail(
            f"@pytest.mark.{MARKER} takes keyword arguments only "
            f"({', '.join(MARKER_KEYWORDS)}), got {marker.args!r}",
            pytrace=False,
        )
    unknown = sorted(set(marker.kwargs) - set(MARKER_KEYWORDS))
    if unknown:
        pytest.fail(
            f"@pytest.mark.{MARKER} got unknown keyword(s) {', '.join(unknown)}; "
            f"it takes {', '.join(MARKER_KEYWORDS)}",
            pytrace=False,
        )


def _apply_marker(fake: FakeUnleash, options: Mapping[str, Any]) -> None:
    if options.get("enable_all"):
        fake.enable_all()
    if options.get("disable_all"):
        fake.disable_all()
    enabled = _flag_names(options.get("enabled", ()))
    if enabled:
        fake.enable(*enabled)
    disabled = _flag_names(options.get("disabled", ()))
    if disabled:
        fake.disable(*disabled)
    variants = options.get("variants", {})
    if not isinstance(variants, Mapping):
        pytest.fail(f"@pytest.mark.{MARKER}: variants= is a dict, not {variants!r}", pytrace=False)
    for name, variant in variants.items():
        if isinstance(variant, Mapping):
            fake.set_variant(name, variant.get("name", ""), variant.get("payload"))
        else:
            fake.set_variant(name, variant)


def _flag_names(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
