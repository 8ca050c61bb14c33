"""Virtual environments of the SDKs under test, created once and cached.

The official SDKs share the package name ``UnleashClient``, so each gets its own environment;
unleash_lite gets one too (a regular, non-editable install of this checkout, reinstalled when
its sources change). They live in ``$UNLEASH_LITE_CACHE/bench-venvs`` (default
``~/.cache/unleash-lite/bench-venvs``), one directory per pinned requirement set and Python.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECKOUT = "<this checkout>"

# Exact pins: the newest 6.9.x and 5.11.1, plus the evaluation engine 6.9.1 runs on, and
# aiohttp, which both async clients (unleash_lite's and 6.9's) need to talk to a server.
AIOHTTP = "aiohttp==3.14.5"
OFFICIAL_6 = ("UnleashClient==6.9.1", "yggdrasil-engine==2.0.0", AIOHTTP)
OFFICIAL_5 = ("UnleashClient==5.11.1",)


@dataclass(frozen=True)
class Target:
    """One SDK under test and its environment."""

    key: str
    label: str
    requirements: tuple[str, ...]

    @property
    def venv(self) -> Path:
        python = f"py{sys.version_info.major}.{sys.version_info.minor}"
        return cache_root() / "bench-venvs" / f"{self.key}-{python}"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


TARGETS = (
    Target("unleash_lite", "unleash_lite", (CHECKOUT, AIOHTTP)),
    Target("official6", "UnleashClient 6.9", OFFICIAL_6),
    Target("official5", "UnleashClient 5.11", OFFICIAL_5),
)


def cache_root() -> Path:
    """The unleash-lite cache directory (shared with the test suite's spec download)."""
    override = os.environ.get("UNLEASH_LITE_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "unleash-lite"


def source_digest() -> str:
    """A digest of what an install of this checkout contains."""
    digest = hashlib.sha256()
    files = [REPO / "pyproject.toml", *sorted((REPO / "unleash_lite").rglob("*"))]
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _pip(python: Path, *arguments: str) -> None:
    command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    result = subprocess.run([*command, *arguments], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(arguments)} failed:\n{result.stderr[-4000:]}")


def _stamp(target: Target) -> dict[str, str]:
    stamp = {"python": sys.version.split()[0], "requirements": " ".join(target.requirements)}
    if target.key == "unleash_lite":
        stamp["source"] = source_digest()
    return stamp


def _install_checkout(python: Path) -> None:
    """Install this checkout from a copy, so the build leaves nothing in the work tree."""
    with tempfile.TemporaryDirectory(prefix="unleash-lite-build-") as scratch:
        copy = Path(scratch) / "src"
        copy.mkdir()
        shutil.copy2(REPO / "pyproject.toml", copy)
        for name in ("README.md", "LICENSE"):
            if (REPO / name).exists():
                shutil.copy2(REPO / name, copy)
        shutil.copytree(
            REPO / "unleash_lite",
            copy / "unleash_lite",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        if not (copy / "README.md").exists():
            (copy / "README.md").write_text("unleash-lite\n", encoding="utf-8")
        # --upgrade reinstalls the checkout; only-if-needed leaves satisfied dependencies be.
        _pip(
            python,
            "--no-build-isolation",
            "--upgrade",
            "--upgrade-strategy",
            "only-if-needed",
            str(copy),
        )


def ensure(target: Target, log: bool = True) -> Path:
    """Create or update the environment of ``target``; return its Python."""
    stamp_path = target.venv / "bench-stamp.json"
    wanted = _stamp(target)
    current: dict[str, str] = {}
    if stamp_path.exists() and target.python.exists():
        current = json.loads(stamp_path.read_text(encoding="utf-8"))
    if current == wanted:
        return target.python
    fresh = current.get("python") != wanted["python"] or (
        current.get("requirements") != wanted["requirements"]
    )
    if fresh:
        if log:
            print(f"creating {target.venv} ...", file=sys.stderr)
        shutil.rmtree(target.venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(target.venv)], check=True)
        if target.key == "unleash_lite":
            extra = [item for item in target.requirements if item != CHECKOUT]
            _pip(target.python, "setuptools>=68", "wheel", *extra)
            _install_checkout(target.python)
        else:
            _pip(target.python, *target.requirements)
    else:
        if log:
            print(f"reinstalling unleash_lite into {target.venv} ...", file=sys.stderr)
        _install_checkout(target.python)
    stamp_path.write_text(json.dumps(wanted), encoding="utf-8")
    return target.python
