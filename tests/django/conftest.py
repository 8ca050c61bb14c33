"""Django settings for tests/django, configured when pytest collects this folder (so
pytest-django stays idle for the rest of the suite), and fixtures that give each test a
fresh client."""

from __future__ import annotations

from collections.abc import Iterator

import django
import pytest
from django.conf import settings

from tests.django import settings as test_settings

if not settings.configured:
    settings.configure(
        **{name: getattr(test_settings, name) for name in dir(test_settings) if name.isupper()}
    )
    django.setup()


@pytest.fixture(autouse=True)
def _fresh_client() -> Iterator[None]:
    """Each test starts with no client and leaves none behind."""
    from unleash_lite.django import close_client

    close_client()
    yield
    close_client()
