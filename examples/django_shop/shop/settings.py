"""Settings of the example shop. Offline by default (flags from ``flags.json``); with
``UNLEASH_URL`` and ``UNLEASH_API_TOKEN`` set, it follows that Unleash server."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("SHOP_SECRET_KEY", "django-insecure-example-shop-only")
DEBUG = os.environ.get("SHOP_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "unleash_lite.django",
    "shop",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "unleash_lite.django.middleware.UnleashMiddleware",  # after sessions and auth
]

ROOT_URLCONF = "shop.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SHOP_DATABASE", str(BASE_DIR.parent / "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# Unleash: the UnleashClient keywords, plus api_token and the integration's own keys.
UNLEASH = {
    "app_name": "django-shop",
    "url": os.environ.get("UNLEASH_URL", ""),  # "": offline, from the bootstrap only
    "bootstrap": BASE_DIR / "flags.json",  # the flags until (or unless) a server answers
}
if os.environ.get("UNLEASH_API_TOKEN"):
    UNLEASH["api_token"] = os.environ["UNLEASH_API_TOKEN"]
if os.environ.get("UNLEASH_CACHE_DIRECTORY"):
    UNLEASH["cache_directory"] = os.environ["UNLEASH_CACHE_DIRECTORY"]
