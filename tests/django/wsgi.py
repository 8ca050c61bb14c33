"""The WSGI application of test_uwsgi.py: tests/django's project, as a user's ``wsgi.py``
(with ``TESTS_DJANGO_CLIENT_AT_IMPORT`` set, the project also checks a flag at import, so
the client is created in the uWSGI master, before the fork)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django.settings")

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()

if os.environ.get("TESTS_DJANGO_CLIENT_AT_IMPORT"):
    from unleash_lite.django import get_client

    get_client().is_enabled("on")
