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

Option ``--unleash-known-flags=FILE`` (or the ini option ``unleash_known_flags``): a flags
file (a bootstrap, ``unleash-lite fetch`` output or an admin export) naming every flag that
exists; the session fails when the code under test evaluated (``is_enabled``,
``get_variant``, ``evaluate``) a flag name the file does not have, through any client the
session creates (``FakeUnleash`` included), and the summary names each such flag, the closest
known name and the tests that evaluated it.

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
    from .hooks import EvaluationSeries
    from .testing import FakeUnleash

    Override = Callable[[UnleashClient, Mapping[str, OverrideValue]], UnleashClient]

MARKER = "unleash"
MARKER_KEYWORDS = ("enabled", "disabled", "variants", "enable_all", "disable_all", "bootstrap")
KNOWN_FLAGS_OPTION = "--unleash-known-flags"
KNOWN_FLAGS_INI = "unleash_known_flags"


def pytest_addoption(parser: pytest.Parser) -> None:
    help_text = (
        "a flags file (bootstrap, fetched or admin export): fail the session when the code "
        "under test evaluates a flag name it does not have"
    )
    parser.getgroup("unleash").addoption(
        KNOWN_FLAGS_OPTION, dest="unleash_known_flags", metavar="FILE", help=help_text
    )
    parser.addini(KNOWN_FLAGS_INI, f"{help_text} (relative to the rootdir)", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(enabled=[...], disabled=[...], variants={{flag: variant}}, "
        "enable_all=False, disable_all=False, bootstrap=None): set up the 'unleash' "
        "fixture (a FakeUnleash) for this test",
    )
    known_flags = config.getoption("unleash_known_flags", None)
    if not known_flags and config.getini(KNOWN_FLAGS_INI):
        known_flags = str(config.rootpath / str(config.getini(KNOWN_FLAGS_INI)))
    if known_flags:
        config.pluginmanager.register(KnownFlagsCheck(known_flags), "unleash-known-flags")


class KnownFlagsCheck:
    """The ``--unleash-known-flags`` check: a hook on every client the session creates
    records the names evaluated, and which test evaluated them."""

    def __init__(self, path: str) -> None:
        from .cli.audit import file_flags
        from .cli.errors import CliError

        try:
            flags, _ = file_flags(path)
        except CliError as error:
            raise pytest.UsageError(f"{KNOWN_FLAGS_OPTION}: {error.message}") from None
        self.path = path
        self.known = frozenset(flag.name for flag in flags if not flag.archived)
        self.unknown: dict[str, set[str]] = {}  # flag name -> the tests that evaluated it
        self._test = "(outside any test)"
        self._undo = contextlib.ExitStack()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from .hooks import Hook, add_global_hook, remove_global_hook

        check = self

        class Recorder(Hook):
            name = "unleash-known-flags"

            def before_evaluation(self, series: EvaluationSeries) -> None:
                if series.flag_name not in check.known:
                    check.unknown.setdefault(str(series.flag_name), set()).add(check._test)

        recorder = Recorder()
        add_global_hook(recorder)  # every client the session creates (FakeUnleash included)
        self._undo.callback(remove_global_hook, recorder)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        self._test = item.nodeid
        try:
            return (yield)
        finally:
            self._test = "(outside any test)"

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._undo.close()
        if self.unknown and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.unknown:
            return
        import difflib

        terminalreporter.section("unleash: unknown flags", red=True)
        terminalreporter.line(
            f"the code under test evaluated {len(self.unknown)} flag name(s) that "
            f"{self.path} does not have:"
        )
        for name in sorted(self.unknown):
            guesses = difflib.get_close_matches(name, sorted(self.known), n=3)
            hint = f" (did you mean {' or '.join(guesses)}?)" if guesses else ""
            terminalreporter.line(f"  {name}{hint}")
            for test in sorted(self.unknown[name]):
                terminalreporter.line(f"    {test}")


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
