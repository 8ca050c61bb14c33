"""The distributions: the sdist and the wheel built from this tree (offline, with the build
tools of the test environment), what they hold and the metadata they declare, and the
version's one source."""

from __future__ import annotations

import ast
import email.message
import email.parser
import importlib.metadata
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trove_classifiers
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import unleash_lite

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PACKAGE = ROOT / "unleash_lite"
# What the sdist carries besides the package: everything the tests and docs need.
SDIST_TREES = ("benchmarks", "docs", "examples", "scripts", "tests")
SDIST_FILES = ("CHANGELOG.md", "LICENSE", "README.md", "pyproject.toml")


@dataclass(frozen=True)
class Built:
    sdist_files: frozenset[str]  # paths inside the sdist's top directory
    sdist_metadata: email.message.Message
    wheel_files: frozenset[str]
    wheel_metadata: email.message.Message


def _metadata(text: str) -> email.message.Message:
    return email.parser.Parser().parsestr(text)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The sdist of this tree and the wheel built from that sdist (``python -m build``
    without isolation: no index, no network)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    with tarfile.open(sdist) as archive:
        names = [member.name for member in archive.getmembers() if member.isfile()]
        top = f"unleash_lite-{unleash_lite.__version__}/"
        assert all(name.startswith(top) for name in names)
        pkg_info = archive.extractfile(top + "PKG-INFO")
        assert pkg_info is not None
        sdist_metadata = _metadata(pkg_info.read().decode())
    with zipfile.ZipFile(wheel) as archive:
        wheel_files = frozenset(archive.namelist())
        dist_info = f"unleash_lite-{unleash_lite.__version__}.dist-info/"
        wheel_metadata = _metadata(archive.read(dist_info + "METADATA").decode())
    yield Built(
        frozenset(name.removeprefix(top) for name in names),
        sdist_metadata,
        wheel_files,
        wheel_metadata,
    )


def _tree(directory: Path) -> set[str]:
    """The files under ``directory`` (relative to the project root) a distribution takes:
    no byte code."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in directory.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_installed_version_is_the_package_version() -> None:
    assert importlib.metadata.version("unleash-lite") == unleash_lite.__version__
    assert "version" not in PROJECT and PROJECT["dynamic"] == ["version"]


def test_the_sdist_holds_the_package_tests_docs_and_license(built: Built) -> None:
    expected = _tree(PACKAGE) | set(SDIST_FILES)
    for tree in SDIST_TREES:
        expected |= _tree(ROOT / tree)
    assert "tests/conftest.py" in expected and "docs/design.md" in expected
    assert expected <= built.sdist_files
    assert not {name for name in built.sdist_files if name.startswith((".venv/", ".ci/"))}


def test_the_wheel_holds_only_the_package(built: Built) -> None:
    dist_info = f"unleash_lite-{unleash_lite.__version__}.dist-info/"
    package = {name for name in built.wheel_files if not name.startswith(dist_info)}
    assert package == _tree(PACKAGE)
    assert {"unleash_lite/py.typed", "unleash_lite/examples/flags.json"} <= package
    assert dist_info + "licenses/LICENSE" in built.wheel_files


@pytest.mark.parametrize("which", ["sdist", "wheel"])
def test_the_metadata_declares_license_classifiers_and_requirements(
    built: Built, which: str
) -> None:
    metadata = built.sdist_metadata if which == "sdist" else built.wheel_metadata
    assert metadata["Name"] == "unleash-lite"
    assert metadata["Version"] == unleash_lite.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Requires-Python"] == ">=3.11"

    classifiers = metadata.get_all("Classifier", [])
    assert classifiers == PROJECT["classifiers"]
    assert set(classifiers) <= trove_classifiers.classifiers
    assert {
        "Typing :: Typed",
        "Framework :: Flask",
        "Framework :: Celery",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    } <= set(classifiers)
    assert not [c for c in classifiers if c.startswith("License ::")]  # License-Expression

    extras = PROJECT["optional-dependencies"]
    assert metadata.get_all("Provides-Extra", []) == list(extras)
    assert "test" not in extras  # a dependency group, not a feature of the package
    requirements = [Requirement(text) for text in metadata.get_all("Requires-Dist", [])]
    declared = [Requirement(text) for text in PROJECT["dependencies"]]
    for extra, texts in extras.items():
        for text in texts:
            requirement = Requirement(text)
            requirement.marker = Requirement(f'x; extra == "{extra}"').marker
            declared.append(requirement)
    assert sorted(map(str, requirements)) == sorted(map(str, declared))
    assert str(metadata.get_payload()).startswith("# unleash_lite")  # the README


def _imported_top_names() -> set[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_declared_dependency_is_imported() -> None:
    """A runtime requirement (extras included) is a distribution some module imports."""
    distributions = {
        canonicalize_name(distribution)
        for name in _imported_top_names()
        for distribution in importlib.metadata.packages_distributions().get(name, [])
    }
    texts = [*PROJECT["dependencies"]]
    for extra in PROJECT["optional-dependencies"].values():
        texts += extra
    unused = {canonicalize_name(Requirement(text).name) for text in texts} - distributions
    assert unused == set()
