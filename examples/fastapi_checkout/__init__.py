"""A FastAPI service using ``AsyncUnleashClient`` (see README.md)."""
