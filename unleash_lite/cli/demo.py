"""``unleash-lite demo``: every flag of the bundled example (or a flags file) for a few
sample users, offline."""

from __future__ import annotations

import sys
from typing import Any

from ..client import UnleashClient
from ..context import Context
from .errors import EXIT_FILE, EXIT_OK
from .render import describe, flag_line
from .sources import EXAMPLE_FLAGS, bundled_text

DEMO_CONTEXTS: list[tuple[str, Context]] = [
    (
        "staff member in Norway",
        Context(user_id="17", email="ola@EXAMPLE.com", country="NO", appVersion="3.1.0"),
    ),
    (
        "customer in Sweden",
        Context(user_id="4242", email="kim@mail.se", country="SE", appVersion="2.9.9"),
    ),
    (
        "customer in Denmark",
        Context(user_id="31", email="ann@mail.dk", country="DK", appVersion="3.0.1"),
    ),
    ("anonymous visitor", Context(session_id="c0ffee")),
]


def run_demo(bootstrap: str | None = None, out: Any = None) -> int:
    """Evaluate every flag of a bootstrap file for a few contexts and print why."""
    out = out or sys.stdout
    if bootstrap is None:
        bootstrap_text = bundled_text()
        origin = f"bundled example ({EXAMPLE_FLAGS})"
    else:
        bootstrap_text, origin = bootstrap, bootstrap
    try:
        client = UnleashClient(
            url="",
            app_name="unleash-lite-demo",
            bootstrap=bootstrap_text,
            disable_metrics=True,
            disable_registration=True,
        )
    except (TypeError, ValueError) as error:  # offline, an unusable bootstrap is refused
        print(f"unleash-lite: cannot load flags from {origin}: {error}", file=sys.stderr)
        return EXIT_FILE
    if not client.unleash_bootstrapped:
        print(
            f"unleash-lite: cannot load flags from {origin} (see the error above)", file=sys.stderr
        )
        return EXIT_FILE
    flags = sorted(client.feature_definitions())
    print(f"unleash_lite demo: {len(flags)} flags from {origin}, offline\n", file=out)
    for label, context in DEMO_CONTEXTS:
        print(f"{label} ({describe(context)})", file=out)
        for name in flags:
            print(flag_line(client.explain(name, context), reason=False), file=out)
        print(file=out)
    return EXIT_OK
