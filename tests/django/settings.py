"""The Django settings of tests/django: configured by conftest.py in the test process, and
the settings module of the uWSGI workers of test_uwsgi.py (which point ``UNLEASH`` at a
fake server through ``TESTS_DJANGO_UNLEASH_URL``)."""

from __future__ import annotations

import os
from typing import Any

from tests.django.flags import FLAGS

DEBUG = False
SECRET_KEY = "tests-django-not-secret"
ALLOWED_HOSTS = ["testserver", "127.0.0.1"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "unleash_lite.django",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "unleash_lite.django.middleware.UnleashMiddleware",
]
ROOT_URLCONF = "tests.django.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "jinja2",
        "OPTIONS": {"environment": "unleash_lite.django.jinja2.environment"},
    },
]
USE_TZ = True
UNLEASH: dict[str, Any] = {"app_name": "tests-django", "bootstrap": FLAGS}
if os.environ.get("TESTS_DJANGO_UNLEASH_URL"):
    UNLEASH = {
        "app_name": "tests-django",
        "url": os.environ["TESTS_DJANGO_UNLEASH_URL"],
        "cache_directory": os.environ["TESTS_DJANGO_CACHE_DIRECTORY"],
        "refresh_interval": 0.5,
        "metrics_interval": 1,
    }
