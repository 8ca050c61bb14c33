"""The ``unleash-lite`` command line: the argument parser, and ``main``, which runs the
command it names and turns failures into exit codes."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import textwrap
from collections.abc import Sequence

from ..version import __version__
from .admin import URL_VARIABLE, run_admin
from .admin import configure as configure_admin
from .arguments import RedactingParser, http_url, positive_seconds
from .audit import CATEGORIES, DEFAULT_FAIL_ON, fail_on, run_audit
from .context import add_context_option, build_context
from .demo import run_demo
from .errors import (
    EXIT_BROKEN_PIPE,
    EXIT_DENIED,
    EXIT_FILE,
    EXIT_FINDINGS,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_REFUSED,
    EXIT_UNKNOWN_FLAG,
    EXIT_USAGE,
    CliError,
)
from .evaluate import run_eval, run_explain
from .fetch import run_fetch
from .relay import add_relay_options, run_relay
from .render import json_text
from .sources import DEFAULT_TIMEOUT, TOKEN_VARIABLE
from .validate import run_validate

EXIT_CODES = f"""\
exit codes:
  {EXIT_OK}  success
  {EXIT_PROBLEMS}  validate found problems; eval --exit-code: the flag is off
  {EXIT_USAGE}  usage error
  {EXIT_UNKNOWN_FLAG}  eval: unknown flag
  {EXIT_FILE}  a file cannot be read, parsed or written, or holds no usable flags
  {EXIT_NETWORK}  the server cannot be reached, rejects the token, or sends no usable flags
  {EXIT_DENIED}  admin: the server rejects the admin token (401) or it may not do this (403)
  {EXIT_REFUSED}  admin: nothing changed (rollout cannot tell which strategy, or the server refused)
  {EXIT_FINDINGS}  audit: found flags of a kind --fail-on names (unknown names by default)
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``unleash-lite`` argument parser and its subcommands."""
    parser = RedactingParser(
        prog="unleash-lite",
        description=_wrap(
            "Try Unleash feature flags offline or against a server, see why each answers as "
            "it does, fetch a bootstrap file, and check a flags file before it ships."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"unleash-lite {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=_wrap(description),
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(parser=sub)
        return sub

    demo = command(
        "demo",
        "evaluate the bundled example flags offline",
        "Evaluate every flag of the bundled example (or a flags file) for a few sample users "
        "and print the answer and the reason for each.",
    )
    demo.add_argument("--bootstrap", help="a flags JSON file instead of the bundled example")

    evaluate = command(
        "eval",
        "evaluate one flag for a context and say why",
        "Evaluate one flag for a context and print the answer (on or off, variant) and why. "
        "Flags come from --bootstrap FILE, from a server (--url), or else from the bundled "
        "example. The exit code is 0 whatever the answer (see --exit-code).",
    )
    evaluate.add_argument("flag", metavar="FLAG", help="the flag's name")
    add_context_option(evaluate)
    _source_options(evaluate)
    evaluate.add_argument(
        "--exit-code",
        action="store_true",
        help=f"exit {EXIT_PROBLEMS} when the flag is off (0 when on), for shell conditions",
    )
    _json_option(evaluate)

    explain = command(
        "explain",
        "evaluate every flag for a context and say why",
        "Evaluate every flag for a context and print each answer and its reason. Flags come "
        "from --bootstrap FILE, from a server (--url), or else from the bundled example.",
    )
    add_context_option(explain)
    _source_options(explain)
    _json_option(explain)

    fetch = command(
        "fetch",
        "download the flags from a server into a bootstrap file",
        "Fetch the flags once from an Unleash server's client API and write them to a "
        "bootstrap file (atomically: readers see the old file or the new one).",
    )
    _server_options(fetch, url_required=True)
    fetch.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="the bootstrap file to write"
    )
    _json_option(fetch)

    check = command(
        "validate",
        "check a flags file and report each problem with its flag and field",
        "Check a bootstrap file (client API format, full or delta) and report every problem "
        "with its flag and field. An error is something the SDK rejects (the flag, strategy "
        "or constraint is turned off or the entry skipped); a warning is something it reads "
        "differently from what the file seems to say.",
    )
    check.add_argument("file", metavar="FILE", help="the flags JSON file ('-' for stdin)")
    check.add_argument(
        "--custom-strategy",
        action="append",
        default=[],
        metavar="NAME",
        help="a custom strategy your application registers (repeatable)",
    )
    check.add_argument(
        "--fail-on",
        choices=["error", "warning"],
        default="warning",
        help=f"exit {EXIT_PROBLEMS} on errors only, or on errors and warnings (the default)",
    )
    _json_option(check)

    audit = command(
        "audit",
        "find the flags the code uses; report unknown, stale and unused ones",
        "Read the Python files and templates under PATHS (not running them) for the flag "
        "names they use, and compare them with a flag source: names the source does not know "
        "(with the closest known name), stale or archived flags still referenced, flags no "
        "code references (cleanup candidates), and names the code computes (dynamic), each "
        "with its file and line. With --url and an admin token in "
        "$UNLEASH_ADMIN_TOKEN the Admin API also tells stale, potentially stale, archived "
        "and last seen.",
    )
    audit.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or directories to read (default: .)"
    )
    audit_sources = audit.add_argument_group("the flag source (one of)")
    audit_source = audit_sources.add_mutually_exclusive_group(required=True)
    audit_source.add_argument(
        "--source", metavar="FILE", help="a flags file: bootstrap, fetched, or admin export"
    )
    audit_source.add_argument(
        "--cache", metavar="PATH", help="a client's disk cache file, or its directory (newest)"
    )
    _server_options(audit_sources, url_required=False, url_group=audit_source)
    audit.add_argument(
        "--fail-on",
        type=fail_on,
        default=DEFAULT_FAIL_ON,
        metavar="KINDS",
        help=f"exit {EXIT_FINDINGS} when any of these is found: "
        f"{','.join(CATEGORIES)} (comma-separated), or none (default: unknown)",
    )
    audit.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files and directories matching this glob (repeatable)",
    )
    audit.add_argument(
        "--all", action="store_true", help="also list every referenced flag and its places"
    )
    _json_option(audit)

    relay = command(
        "relay",
        "keep a fleet's flags in Redis: poll a server and write them for readers",
        "Poll an Unleash server (or Edge) with the client's ETag and backoff, and keep its "
        "flags in Redis for readers (RedisCache with initialize_client(fetch_toggles=False)), "
        "until SIGTERM or SIGINT. See docs/fleet.md.",
    )
    _server_options(relay, url_required=True)
    add_relay_options(relay)
    relay.set_defaults(json=False)

    admin = commands.add_parser(
        "admin",
        help="list, show, enable or disable flags, set a rollout (Unleash Admin API)",
        allow_abbrev=False,
    )
    configure_admin(admin, os.environ.get(URL_VARIABLE) or None)
    return parser


def _source_options(parser: argparse.ArgumentParser) -> None:
    sources = parser.add_argument_group("where the flags come from (default: bundled example)")
    exclusive = sources.add_mutually_exclusive_group()
    exclusive.add_argument("--bootstrap", metavar="FILE", help="a flags JSON file ('-' for stdin)")
    _server_options(sources, url_required=False, url_group=exclusive)


def _server_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    url_required: bool,
    url_group: argparse._MutuallyExclusiveGroup | None = None,
) -> None:
    (url_group or parser).add_argument(
        "--url",
        required=url_required,
        type=http_url,
        help="the server's API URL, ending with /api (e.g. https://unleash.example.com/api)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_VARIABLE),
        help=f"a client API token (default: ${TOKEN_VARIABLE}; prefer the variable, a "
        "command-line argument is visible to other users of the machine)",
    )
    parser.add_argument("--project", help="fetch only this project's flags")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help=f"how long to wait for the server (default {DEFAULT_TIMEOUT:g})",
    )


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print JSON (see docs/cli.md for the shape)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``unleash-lite``; returns the process exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as a shell tool killed by SIGPIPE.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    arguments = build_parser().parse_args(argv)
    parser: argparse.ArgumentParser = arguments.parser
    if arguments.command == "admin":
        return run_admin(arguments, sys.stdout, sys.stderr)
    if arguments.command == "demo":
        return run_demo(arguments.bootstrap)
    if (
        arguments.command == "audit"
        and arguments.url is None
        and (arguments.project or arguments.timeout)
    ):
        parser.error("--project and --timeout need --url")
    if arguments.command in ("eval", "explain"):
        if arguments.url is None and (arguments.project or arguments.timeout):
            parser.error("--project and --timeout need --url")
        try:
            arguments.context = build_context(arguments.context)
        except ValueError as error:
            parser.error(str(error))
    out = sys.stdout
    try:
        if arguments.command == "eval":
            return run_eval(arguments, out)
        if arguments.command == "explain":
            return run_explain(arguments, out)
        if arguments.command == "audit":
            return run_audit(arguments, out)
        if arguments.command == "fetch":
            return run_fetch(arguments, out)
        if arguments.command == "relay":
            return run_relay(arguments, out)
        return run_validate(arguments, out)
    except CliError as error:
        if arguments.json:
            print(json_text({"error": {"kind": error.kind, "message": error.message}}), file=out)
        else:
            print(f"unleash-lite {arguments.command}: {error.message}", file=sys.stderr)
        return error.exit_code


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=88)
