"""The ``unleash-lite`` command line: try flags, see why they answer as they do, fetch a
bootstrap file from a server, and check a flags file before it ships.

``main`` is the console script's entry point. Names are imported on first use (PEP 562), so
``flask unleash``, which shares :mod:`unleash_lite.cli.render`, does not load the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .context import build_context
    from .demo import DEMO_CONTEXTS, run_demo
    from .errors import CliError
    from .evaluate import run_eval, run_explain
    from .fetch import run_fetch
    from .parser import build_parser, main
    from .sources import (
        display_url,
        fetch_client,
        fetch_failure,
        flag_source,
        offline_client,
        read_json,
        redact,
    )
    from .validate import run_validate

_HOMES = {
    "build_context": ".context",
    "DEMO_CONTEXTS": ".demo",
    "run_demo": ".demo",
    "CliError": ".errors",
    "run_eval": ".evaluate",
    "run_explain": ".evaluate",
    "run_fetch": ".fetch",
    "build_parser": ".parser",
    "main": ".parser",
    "display_url": ".sources",
    "fetch_client": ".sources",
    "fetch_failure": ".sources",
    "flag_source": ".sources",
    "offline_client": ".sources",
    "read_json": ".sources",
    "redact": ".sources",
    "run_validate": ".validate",
}

__all__ = [
    "DEMO_CONTEXTS",
    "CliError",
    "build_context",
    "build_parser",
    "display_url",
    "fetch_client",
    "fetch_failure",
    "flag_source",
    "main",
    "offline_client",
    "read_json",
    "redact",
    "run_demo",
    "run_eval",
    "run_explain",
    "run_fetch",
    "run_validate",
]


__getattr__, __dir__ = lazy_names(__name__, _HOMES)
