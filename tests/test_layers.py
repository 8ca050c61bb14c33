"""The import rules between the layers of unleash_lite (docs/design.md), checked on the source.

Every module of the package is parsed with ``ast``; every ``import`` and ``from ... import``
in it, at any depth (functions and ``TYPE_CHECKING`` blocks included), is resolved to the
``unleash_lite`` module it names.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PACKAGE = "unleash_lite"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# The integrations: each is a module or a package, and anything added later under its name
# (unleash_lite/openfeature/... included) is held to the same rule.
INTEGRATIONS = (
    "flask",
    "cli",
    "openfeature",
    "testing",
    "pytest_plugin",
    "celery",
    "django",
    "asgi",
    "redis",
)
# The public API beyond the integrations themselves (one may use another: the pytest plugin
# hands out FakeUnleash, flask unleash renders with the CLI's renderer).
PUBLIC_MODULES = (
    "client",
    "async_client",
    "context",
    "cache",
    "events",
    "config",
    "errors",
    "bootstrap",
    "impact_metrics",
    "hooks",
    "version",
)
# The clients: what the sync layer serves and must not import.
CLIENTS = ("core", "client", "async_client")
# Private helpers at the package root with no flag logic, shared by the packages.
SHARED_HELPERS = ("_lazy", "_files")


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    names: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


MODULES = module_names()


def imports_of(name: str) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every unleash_lite module that module ``name`` imports; a name
    imported from a package counts as its submodule when there is one of that name."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            yield node.lineno, source
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:
                    yield node.lineno, f"{source}.{alias.name}"


def within(module: str, *tops: str) -> bool:
    """Whether ``module`` is one of ``unleash_lite.<top>`` or under one of them."""
    return any(
        module == f"{PACKAGE}.{top}" or module.startswith(f"{PACKAGE}.{top}.") for top in tops
    )


def ours(module: str) -> bool:
    return module == PACKAGE or module.startswith(f"{PACKAGE}.")


def layer(*tops: str) -> list[str]:
    found = [name for name in MODULES if within(name, *tops)]
    assert found, f"no modules under {tops}: the test no longer sees the layer"
    return found


def violations(modules: list[str], allowed: Callable[[str], bool]) -> list[str]:
    """``file:line imports module`` for each import of ours that ``allowed`` refuses."""
    return [
        f"{MODULES[name].relative_to(ROOT.parent)}:{line} imports {imported}"
        for name in modules
        for line, imported in imports_of(name)
        if ours(imported) and not allowed(imported)
    ]


def test_the_engine_imports_nothing_outside_the_engine() -> None:
    assert violations(layer("engine"), lambda module: within(module, "engine")) == []


def test_the_sync_layer_imports_neither_the_client_nor_the_integrations() -> None:
    # The package root is refused too: it hands out the client.
    def allowed(module: str) -> bool:
        return module != PACKAGE and not within(module, *CLIENTS, *INTEGRATIONS)

    assert violations(layer("sync"), allowed) == []


@pytest.mark.parametrize("integration", INTEGRATIONS)
def test_an_integration_uses_only_the_public_api(integration: str) -> None:
    def allowed(module: str) -> bool:
        return module == PACKAGE or within(module, *INTEGRATIONS, *PUBLIC_MODULES, *SHARED_HELPERS)

    assert violations(layer(integration), allowed) == []


def test_the_checker_sees_every_kind_of_import() -> None:
    def imported(name: str) -> set[str]:
        return {module for _, module in imports_of(name) if ours(module)}

    assert imported(f"{PACKAGE}.cli.__main__") == {f"{PACKAGE}.cli.parser"}  # from .parser
    assert f"{PACKAGE}.flask.extension" in imported(f"{PACKAGE}.flask")  # a package's own
    assert f"{PACKAGE}.testing" in imported(f"{PACKAGE}.pytest_plugin")  # inside a function
    assert f"{PACKAGE}.client" in imported(f"{PACKAGE}.flask.state")  # under TYPE_CHECKING
    assert f"{PACKAGE}.engine.snapshot" in imported(f"{PACKAGE}.engine")  # from .snapshot


def test_an_offline_client_loads_no_network_stack() -> None:
    """``requests``/``urllib3`` (about 50 ms to import), asyncio, aiohttp, APScheduler, the
    sync layer's protocol and scheduling, the cache's file helpers and the event types are
    imported by the clients that use them, not by an offline client without an event
    callback, a test double or ``import unleash_lite``."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from unleash_lite import UnleashClient\n"
        "from unleash_lite.testing import FakeUnleash\n"
        "client = UnleashClient('', 'offline', bootstrap={'version': 2, 'features': []})\n"
        "client.is_enabled('a'); client.get_variant('a'); client.evaluate('a')\n"
        "fake = FakeUnleash(); fake.enable('a'); fake.is_enabled('a')\n"
        "heavy = ('requests', 'urllib3', 'asyncio', 'aiohttp', 'apscheduler', 'email',\n"
        "         'platformdirs', 'tempfile', 'unleash_lite.sync.http',\n"
        "         'unleash_lite.sync.synchronizer', 'unleash_lite.sync.steps',\n"
        "         'unleash_lite.events', 'unleash_lite.sync.events')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]", result.stderr
