"""Django settings for tests/django, configured when pytest collects this folder (so
pytest-django stays idle for the rest of the suite), and fixtures that give each test a
fresh client."""

from __future__ import annotations

from collections.abc import Iterator

import django
import pytest
from django.conf import settings

from tests.django.flags import FLAGS

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-django-not-secret",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "unleash_lite.django",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "unleash_lite.django.middleware.UnleashMiddleware",
        ],
        ROOT_URLCONF="tests.django.urls",
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
            },
            {
                "BACKEND": "django.template.backends.jinja2.Jinja2",
                "NAME": "jinja2",
                "OPTIONS": {"environment": "unleash_lite.django.jinja2.environment"},
            },
        ],
        USE_TZ=True,
        UNLEASH={"app_name": "tests-django", "bootstrap": FLAGS},
    )
    django.setup()


@pytest.fixture(autouse=True)
def _fresh_client() -> Iterator[None]:
    """Each test starts with no client and leaves none behind."""
    from unleash_lite.django import close_client

    close_client()
    yield
    close_client()
