"""The package version: the one place it is written (``pyproject.toml`` reads it from here,
so the installed distribution's metadata and ``unleash_lite.__version__`` agree)."""

__version__ = "0.1.0"
