"""The ``unleash-lite`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import resources
from typing import Any

from .client import UnleashClient
from .context import Context

EXAMPLE_FLAGS = "flags.json"

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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``unleash-lite``; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="unleash-lite", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="evaluate the bundled example flags offline")
    demo.add_argument("--bootstrap", help="a flags JSON file instead of the bundled example")
    arguments = parser.parse_args(argv)
    if arguments.command == "demo":
        return run_demo(arguments.bootstrap)
    return 2


def run_demo(bootstrap: str | None = None, out: Any = None) -> int:
    """Evaluate every flag of a bootstrap file for a few contexts and print why."""
    out = out or sys.stdout
    if bootstrap is None:
        source = resources.files("unleash_lite.examples").joinpath(EXAMPLE_FLAGS)
        bootstrap_text = source.read_text(encoding="utf-8")
        origin = f"bundled example ({EXAMPLE_FLAGS})"
    else:
        bootstrap_text, origin = bootstrap, bootstrap
    client = UnleashClient(
        url="",
        app_name="unleash-lite-demo",
        bootstrap=bootstrap_text,
        disable_metrics=True,
        disable_registration=True,
    )
    if not client.unleash_bootstrapped:
        print(
            f"unleash-lite: cannot load flags from {origin} (see the error above)", file=sys.stderr
        )
        return 1
    flags = sorted(client.feature_definitions())
    print(f"unleash_lite demo: {len(flags)} flags from {origin}, offline\n", file=out)
    for label, context in DEMO_CONTEXTS:
        shown = ", ".join(f"{k}={v}" for k, v in context.items() if k != "properties")
        shown += "".join(f", {k}={v}" for k, v in context.get("properties", {}).items())
        print(f"{label} ({shown})", file=out)
        for name in flags:
            result = client.explain(name, context)
            state = "ON " if result.enabled else "off"
            variant = result.variant["name"]
            variant_text = f" [{variant}]" if result.variant["enabled"] else ""
            print(f"  {state} {name}{variant_text}: {result.message}", file=out)
        print(file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
