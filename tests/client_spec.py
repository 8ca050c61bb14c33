"""The Unleash client specification, fetched once from the npm registry and cached.

The suite must fail (never skip) when the specification cannot be had, so every problem here
raises ``SpecificationUnavailable`` with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "@unleash/client-specification"
VERSION = "6.1.0"
EXPECTED_FILES = 22


class SpecificationUnavailable(RuntimeError):
    """The specification files could not be found or downloaded."""


def specification_dir() -> Path:
    """The directory holding the numbered specification JSON files (downloading if needed)."""
    override = os.environ.get("UNLEASH_SPEC_DIR")
    if override:
        return _checked(Path(override))
    cache_root = Path(
        os.environ.get("UNLEASH_LITE_CACHE") or Path.home() / ".cache" / "unleash-lite"
    )
    target = cache_root / f"client-specification-{VERSION}"
    if not (target / "index.json").is_file():
        _download(target)
    return _checked(target)


def load_specifications() -> list[tuple[str, dict[str, Any]]]:
    """Every specification file in index order, as (file name, parsed JSON)."""
    directory = specification_dir()
    names = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    return [(name, json.loads((directory / name).read_text(encoding="utf-8"))) for name in names]


def _checked(directory: Path) -> Path:
    index = directory / "index.json"
    if not index.is_file():
        raise SpecificationUnavailable(f"no index.json in {directory}")
    names = json.loads(index.read_text(encoding="utf-8"))
    missing = [name for name in names if not (directory / name).is_file()]
    if len(names) != EXPECTED_FILES or missing:
        raise SpecificationUnavailable(
            f"{directory}: expected {EXPECTED_FILES} files, index lists {len(names)}, "
            f"missing {missing}"
        )
    return directory


def _download(target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SpecificationUnavailable(
            f"npm is not installed, so {PACKAGE}@{VERSION} cannot be downloaded; install "
            "Node.js/npm or point UNLEASH_SPEC_DIR at the package's specifications folder"
        )
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run(
            [npm, "pack", f"{PACKAGE}@{VERSION}", "--silent", "--pack-destination", scratch],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise SpecificationUnavailable(
                f"npm pack {PACKAGE}@{VERSION} failed: {result.stderr.strip()[-2000:]}"
            )
        tarballs = list(Path(scratch).glob("*.tgz"))
        if not tarballs:
            raise SpecificationUnavailable("npm pack produced no tarball")
        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(unpacked, filter="data")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".spec-"))
        shutil.rmtree(staging)
        shutil.copytree(unpacked / "package" / "specifications", staging)
        try:
            staging.rename(target)
        except OSError:  # another run finished first
            shutil.rmtree(staging, ignore_errors=True)
