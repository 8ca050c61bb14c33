"""Fixtures of the process tests: the executables they drive and a Redis broker of their
own. Every process they start runs in its own process group, killed whole at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import executable, redis_server


@pytest.fixture(scope="session")
def uwsgi() -> str:
    return executable("uwsgi", "pip install -e . --group test (it builds uWSGI with a C compiler)")


@pytest.fixture(scope="session")
def celery() -> str:
    return executable("celery", "pip install -e . --group test")


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path / "redis") as url:
        yield url
