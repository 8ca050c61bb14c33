"""Fixtures shared by the sync tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import stopping_leftover_clients


@pytest.fixture(autouse=True)
def _no_client_outlives_its_test() -> Iterator[None]:
    """Stop any client a failing test left running, so no scheduler thread leaks."""
    with stopping_leftover_clients():
        yield
