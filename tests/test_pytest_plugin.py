"""The pytest plugin: the ``unleash`` fixture and marker and the ``unleash_override`` fixture,
run in inner pytest sessions (pytester) as a user's test suite would run them."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import unleash_lite.pytest_plugin
from unleash_lite.testing import FakeUnleash

pytest_plugins = ["pytester"]

PLUGIN = "unleash_lite.pytest_plugin"
EXAMPLE_FLAGS = Path(unleash_lite.__file__).parent / "examples" / "flags.json"
DOCS = Path(__file__).resolve().parent.parent / "docs"


def _installed() -> bool:
    return any(e.value == PLUGIN for e in entry_points(group="pytest11"))


# Inner sessions load the plugin through its entry point when the package is installed (as
# for users); from a bare checkout they are given it explicitly. Hypothesis's plugin, which
# has nothing to do here, would cost each inner session half a second; pytest-django's would
# find the Django settings tests/django configured in this process and set up Django's test
# environment a second time.
PLUGIN_ARGS = (
    "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:django", "--strict-markers"
)  # fmt: skip
if not _installed():
    PLUGIN_ARGS += ("-p", PLUGIN)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*PLUGIN_ARGS, *args)


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    points = [e for e in entry_points(group="pytest11") if e.name == "unleash_lite"]
    assert [e.value for e in points] == [PLUGIN]


def test_the_unleash_fixture_is_this_sessions_too(unleash: FakeUnleash) -> None:
    assert isinstance(unleash, FakeUnleash)
    assert unleash.evaluations == []
    unleash.enable("x")
    assert unleash.is_enabled("x")


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.unleash(enabled=*): set up the 'unleash' fixture*"])
    assert result.ret == 0


def test_the_fixture_and_marker_in_a_users_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import pytest
        from unleash_lite.testing import FakeUnleash

        def checkout_page(client, user_id):
            if client.is_enabled("new-checkout", {{"userId": user_id}}):
                return client.get_variant("pricing", {{"userId": user_id}})["name"]
            return "old"

        def test_plain_fixture(unleash):
            assert isinstance(unleash, FakeUnleash)
            assert checkout_page(unleash, "1") == "old"
            unleash.enable("new-checkout")
            assert checkout_page(unleash, "1") == "disabled"
            assert unleash.was_checked("new-checkout", {{"userId": "1"}})

        def test_each_test_gets_a_fresh_fake(unleash):
            assert unleash.evaluations == []
            assert not unleash.is_enabled("new-checkout")

        @pytest.mark.unleash(enabled=["new-checkout"], variants={{"pricing": "annual"}})
        def test_marker(unleash):
            assert checkout_page(unleash, "1") == "annual"
            assert unleash.checked_flags == {{"new-checkout", "pricing"}}

        @pytest.mark.unleash(enabled="a", disabled=("b",), variants={{
            "c": {{"name": "blue", "payload": {{"type": "number", "value": "3"}}}}}})
        def test_marker_values(unleash):
            assert unleash.is_enabled("a") and not unleash.is_enabled("b")
            assert unleash.get_variant("c")["payload"] == {{"type": "number", "value": "3"}}

        @pytest.mark.unleash(enable_all=True, disabled=["legacy"])
        def test_enable_all(unleash):
            assert unleash.is_enabled("anything") and not unleash.is_enabled("legacy")

        @pytest.mark.unleash(bootstrap={str(EXAMPLE_FLAGS)!r}, enabled=["maintenance-banner"])
        def test_bootstrap(unleash):
            assert unleash.is_enabled("maintenance-banner")
            assert unleash.is_enabled("mobile-app-v3-api", {{"appVersion": "3.1.0"}})
            assert not unleash.is_enabled("mobile-app-v3-api", {{"appVersion": "2.0.0"}})

        @pytest.mark.unleash(enabled=["a", "b"])
        class TestClassMarker:
            def test_inherits(self, unleash):
                assert unleash.is_enabled("a") and unleash.is_enabled("b")

            @pytest.mark.unleash(disabled=["b"])
            def test_closest_marker_wins(self, unleash):
                assert unleash.is_enabled("a") and not unleash.is_enabled("b")
        """
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=8)


def test_a_module_marker_applies_to_every_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.unleash(enabled=["everywhere"])

        def test_one(unleash):
            assert unleash.is_enabled("everywhere")

        @pytest.mark.unleash(disabled=["everywhere"])
        def test_two(unleash):
            assert not unleash.is_enabled("everywhere")
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_a_failing_expectation_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.unleash(disabled=["new-checkout"])
        def test_expects_the_wrong_answer(unleash):
            assert unleash.is_enabled("new-checkout")

        def test_expects_a_check_that_never_happened(unleash):
            unleash.is_enabled("other")
            assert unleash.was_checked("new-checkout")
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*assert False*"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('"new-checkout"', "*takes keyword arguments only*"),
        ("enable=['x']", "*unknown keyword(s) enable;*"),
        ("variants=['x']", "*variants= is a dict*"),
        ("variants={'x': {'payload': 'p'}}", "*variant name must be a non-empty string*"),
    ],
)
def test_a_wrong_marker_is_a_setup_error(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.unleash({marker})
        def test_it(unleash):
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_unleash_override_forces_a_real_client_until_the_test_ends(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from unleash_lite import UnleashClient

        client = UnleashClient(url="", app_name="app", bootstrap={"version": 2, "features": [
            {"name": "on", "enabled": True, "strategies": [{"name": "default"}]}]})

        def test_override(unleash_override):
            assert unleash_override(client, {"on": False, "new": "blue"}) is client
            unleash_override(client, {"extra": True})
            assert not client.is_enabled("on")
            assert client.get_variant("new")["name"] == "blue"
            assert client.is_enabled("extra")

        def test_restored_after_the_test():
            assert client.is_enabled("on")
            assert not client.is_enabled("new") and not client.is_enabled("extra")
        """
    )
    run(pytester, "-p", "no:randomly").assert_outcomes(passed=2)


def docs_test_files() -> list[tuple[str, str]]:
    """The test files shown in docs/testing.md: python blocks opening with ``# test_*.py``."""
    text = (DOCS / "testing.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n# (test_\w+)\.py\n(.*?)```", text, re.DOTALL)


@pytest.mark.parametrize(("name", "source"), docs_test_files())
def test_the_docs_test_files_pass(pytester: pytest.Pytester, name: str, source: str) -> None:
    pytester.makepyfile(**{name: source})
    result = run(pytester)
    assert result.ret == 0
    assert result.parseoutcomes()["passed"] == source.count("def test_")


def test_the_entry_point_loads_in_a_fresh_process(pytester: pytest.Pytester) -> None:
    if not _installed():
        pytest.skip("the package is not installed, so it has no entry point")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.unleash(enabled=["x"])
        def test_it(unleash):
            assert unleash.is_enabled("x")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1)


def test_the_plugin_imports_only_pytest_at_module_level() -> None:
    tree = ast.parse(Path(unleash_lite.pytest_plugin.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in tree.body:  # module level only; TYPE_CHECKING blocks are `if` statements
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported == {"__future__", "contextlib", "collections.abc", "typing", "pytest"}


def test_loading_the_plugin_does_not_import_the_sdk() -> None:
    script = (
        f"import sys, {PLUGIN}; "
        "print(sorted(m for m in ('requests', 'apscheduler', 'unleash_lite.client') "
        "if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    assert output.strip() == "[]"


# -- --unleash-known-flags ---------------------------------------------------------------

KNOWN = '{"version": 2, "features": [{"name": "new-checkout", "enabled": true, "strategies": []}]}'
CODE_UNDER_TEST = """
    import asyncio
    from unleash_lite import AsyncUnleashClient, UnleashClient
    from unleash_lite.testing import FakeUnleash

    def checkout(client):
        return client.is_enabled("new-chekout")  # the typo the option is for

    def test_known_name_with_the_fixture(unleash):
        unleash.enable("new-checkout")
        assert unleash.is_enabled("new-checkout")

    def test_typo_through_a_fake_of_the_test():
        assert not checkout(FakeUnleash())

    def test_typo_through_a_real_client():
        client = UnleashClient(url="", app_name="t", bootstrap={"version": 2, "features": []})
        client.get_variant("beta-banner")
        client.evaluate("new-checkout")
        client.destroy()

    async def check_async(client):
        return client.is_enabled("async-only")

    def test_typo_through_an_async_client():
        client = AsyncUnleashClient(url="", app_name="t", bootstrap={"version": 2, "features": []})
        assert not asyncio.run(check_async(client))
        asyncio.run(client.destroy())
"""


def test_known_flags_fail_the_session_on_an_unknown_name(pytester: pytest.Pytester) -> None:
    pytester.makefile(".json", flags=KNOWN)
    pytester.makepyfile(CODE_UNDER_TEST)
    result = run(pytester, "--unleash-known-flags=flags.json")
    result.assert_outcomes(passed=4)  # every test passes; the session fails
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*unleash: unknown flags*",
            "the code under test evaluated 3 flag name(s) that flags.json does not have:",
            "  async-only",
            "    test_known_flags_fail_the_session_on_an_unknown_name.py::"
            "test_typo_through_an_async_client",
            "  beta-banner",
            "    test_known_flags_fail_the_session_on_an_unknown_name.py::"
            "test_typo_through_a_real_client",
            "  new-chekout (did you mean new-checkout?)",
            "    test_known_flags_fail_the_session_on_an_unknown_name.py::"
            "test_typo_through_a_fake_of_the_test",
        ]
    )


def test_known_flags_from_the_ini_file_and_a_clean_session(pytester: pytest.Pytester) -> None:
    pytester.makefile(".json", flags=KNOWN)
    pytester.makeini("[pytest]\nunleash_known_flags = flags.json\n")
    pytester.makepyfile(
        """
        def test_known(unleash):
            assert not unleash.is_enabled("new-checkout")
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "unknown flags" not in result.stdout.str()
    pytester.makepyfile(test_more="def test_typo(unleash):\n    unleash.is_enabled('x')\n")
    assert run(pytester).ret == pytest.ExitCode.TESTS_FAILED


def test_without_the_option_clients_get_no_hook(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from unleash_lite.testing import FakeUnleash

        def test_no_hooks():
            fake = FakeUnleash()
            assert "is_enabled" not in vars(fake)  # no hook wrapper on the instance
            assert not fake.is_enabled("anything")
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK


def test_the_known_flags_check_is_undone_when_the_session_ends(pytester: pytest.Pytester) -> None:
    from unleash_lite import AsyncUnleashClient, UnleashClient

    before = (UnleashClient.__init__, AsyncUnleashClient.__init__)
    pytester.makefile(".json", flags=KNOWN)
    pytester.makepyfile("def test_nothing():\n    pass\n")
    run(pytester, "--unleash-known-flags=flags.json").assert_outcomes(passed=1)
    assert (UnleashClient.__init__, AsyncUnleashClient.__init__) == before


def test_an_unusable_known_flags_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".json", flags="{")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run(pytester, "--unleash-known-flags=flags.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--unleash-known-flags: flags.json is not valid JSON*"])
