"""The ``unleash-lite`` command line: try flags, see why they answer as they do, fetch a
bootstrap file from a server, and check a flags file before it ships."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import json
import logging
import os
import re
import sys
import textwrap
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from ._files import write_json_atomic
from .cache import MemoryCache
from .client import UnleashClient
from .config import check_url
from .context import Context
from .engine import FlagState, PayloadError
from .engine.dates import instant_of
from .engine.explain import Explanation, Reason
from .engine.validate import (
    ERROR,
    WARNING,
    export_message,
    payload_format,
    validate,
)
from .version import __version__

EXAMPLE_FLAGS = "flags.json"
APP_NAME = "unleash-lite-cli"
TOKEN_VARIABLE = "UNLEASH_API_TOKEN"
DEFAULT_TIMEOUT = 10.0

EXIT_OK = 0
EXIT_PROBLEMS = 1  # validate found problems; eval --exit-code: the flag is off
EXIT_USAGE = 2  # a bad command line (argparse)
EXIT_UNKNOWN_FLAG = 3  # eval: the flag is not in the flag set
EXIT_FILE = 4  # a file cannot be read, parsed or written, or holds no usable flags
EXIT_NETWORK = 5  # the server cannot be reached, rejects the token, or answers garbage
EXIT_BROKEN_PIPE = 141  # stdout was closed early (``| head``), as a shell reports SIGPIPE

EXIT_CODES = f"""\
exit codes:
  {EXIT_OK}  success
  {EXIT_PROBLEMS}  validate found problems; eval --exit-code: the flag is off
  {EXIT_USAGE}  usage error
  {EXIT_UNKNOWN_FLAG}  eval: unknown flag
  {EXIT_FILE}  a file cannot be read, parsed or written, or holds no usable flags
  {EXIT_NETWORK}  the server cannot be reached, rejects the token, or sends no usable flags
"""

# Context keys that go to the top level of the context (with the typed Context's aliases);
# any other key is a property.
TOP_LEVEL_FIELDS = {
    "userId": "userId",
    "user_id": "userId",
    "sessionId": "sessionId",
    "session_id": "sessionId",
    "remoteAddress": "remoteAddress",
    "remote_address": "remoteAddress",
    "environment": "environment",
    "appName": "appName",
    "app_name": "appName",
    "currentTime": "currentTime",
    "current_time": "currentTime",
}
PROPERTY_PREFIX = "properties."

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


class CliError(Exception):
    """A failure the command reports in one line, with its exit code."""

    def __init__(self, message: str, exit_code: int, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.kind = kind  # "file" or "network", the --json error's "kind"


# -- the command line -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``unleash-lite`` argument parser and its subcommands."""
    parser = argparse.ArgumentParser(
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
    _context_option(evaluate)
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
    _context_option(explain)
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
        choices=[ERROR, WARNING],
        default=WARNING,
        help=f"exit {EXIT_PROBLEMS} on errors only, or on errors and warnings (the default)",
    )
    _json_option(check)
    return parser


def _context_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        type=_context_item,
        metavar="KEY=VALUE",
        help="a context field (repeatable): userId, sessionId, remoteAddress, environment, "
        "appName, currentTime (or user_id, session_id...) go to the top level, any other key "
        "(or properties.KEY) is a property",
    )


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
        type=_http_url,
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
        type=_positive_seconds,
        metavar="SECONDS",
        help=f"how long to wait for the server (default {DEFAULT_TIMEOUT:g})",
    )


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print JSON (see docs/cli.md for the shape)"
    )


def _context_item(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    key = key.strip()
    if not separator or not key or key == PROPERTY_PREFIX.rstrip(".") or key == PROPERTY_PREFIX:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _http_url(text: str) -> str:
    if urlsplit(text).scheme not in ("http", "https") or not urlsplit(text).netloc:
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    try:
        check_url(text)  # what UnleashClient would refuse (a query string, a bad port...)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return seconds


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
    if arguments.command == "demo":
        return run_demo(arguments.bootstrap)
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
        if arguments.command == "fetch":
            return run_fetch(arguments, out)
        return run_validate(arguments, out)
    except CliError as error:
        if arguments.json:
            _print_json({"error": {"kind": error.kind, "message": error.message}}, out)
        else:
            print(f"unleash-lite {arguments.command}: {error.message}", file=sys.stderr)
        return error.exit_code


def build_context(items: Sequence[tuple[str, str]]) -> Context:
    """A context from ``KEY=VALUE`` pairs: standard fields (camelCase or snake_case) at the
    top level, ``properties.KEY`` and any other key as properties. The last value wins."""
    fields: dict[str, str] = {}
    properties: dict[str, str] = {}
    for key, value in items:
        if key.startswith(PROPERTY_PREFIX):
            properties[key[len(PROPERTY_PREFIX) :]] = value
        elif key in TOP_LEVEL_FIELDS:
            fields[TOP_LEVEL_FIELDS[key]] = value
        else:
            properties[key] = value
    moment = fields.get("currentTime")
    if moment is not None and instant_of(moment) is None:
        raise ValueError(
            f"currentTime {moment!r} is not a date and time with an offset, such as "
            "2024-06-01T12:00:00Z"
        )
    return Context(
        user_id=fields.get("userId"),
        session_id=fields.get("sessionId"),
        remote_address=fields.get("remoteAddress"),
        environment=fields.get("environment"),
        app_name=fields.get("appName"),
        current_time=moment,
        properties=properties or None,
    )


# -- where the flags come from ----------------------------------------------------------------


@contextlib.contextmanager
def flag_source(arguments: argparse.Namespace) -> Iterator[tuple[UnleashClient, str]]:
    """A ready client holding the flags the arguments name, and where they came from."""
    if arguments.url is not None:
        client = fetch_client(
            arguments.url, arguments.token, arguments.project, arguments.timeout or DEFAULT_TIMEOUT
        )
        origin = f"{display_url(arguments.url)}" + (
            f" (project {arguments.project})" if arguments.project else ""
        )
    else:
        if arguments.bootstrap is not None:
            payload = read_json(arguments.bootstrap)
            origin = "stdin" if arguments.bootstrap == "-" else arguments.bootstrap
        else:
            payload = json.loads(_bundled_text())
            origin = f"bundled example ({EXAMPLE_FLAGS})"
        client = offline_client(payload, origin)
    try:
        yield client, origin
    finally:
        client.destroy()


def offline_client(payload: Any, origin: str) -> UnleashClient:
    """A client answering from ``payload`` alone; :class:`CliError` when it holds no flags."""
    if payload_format(payload) == "export":
        raise CliError(f"{origin}: {export_message(payload)}", EXIT_FILE, "file")
    client = UnleashClient(
        url="", app_name=APP_NAME, disable_metrics=True, disable_registration=True
    )
    try:
        client.apply_payload(payload, owned=True)
    except PayloadError as error:
        client.destroy()
        raise CliError(f"{origin} is not a flags payload: {error}", EXIT_FILE, "file") from None
    return client


def fetch_client(url: str, token: str | None, project: str | None, timeout: float) -> UnleashClient:
    """An initialized client holding the flags the server sent; :class:`CliError` with the
    reason (never the token) when it sent none."""
    captured = _CapturedLog()
    logger = logging.getLogger("unleash_lite")
    logger.addHandler(captured)  # the client's log lines, not printed: we print one of ours
    try:
        client = UnleashClient(
            url=url,
            app_name=APP_NAME,
            custom_headers={"Authorization": token} if token else {},
            disable_metrics=True,
            disable_registration=True,
            cache=MemoryCache(),
            request_timeout=timeout,
            project_name=project,
        )
        client.initialize_client()
        if not client.is_ready():
            client.destroy()
            reason = fetch_failure(captured.messages(), timeout)
            message = f"cannot fetch the flags from {display_url(url)}: {reason}"
            raise CliError(redact(message, token), EXIT_NETWORK, "network")
    finally:
        logger.removeHandler(captured)
    return client


class _CapturedLog(logging.Handler):
    """Keeps the client's warnings and errors so the CLI can say what went wrong."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._messages: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self._messages.append(record.getMessage())

    def messages(self) -> list[str]:
        with self._guard:
            return list(self._messages)


def fetch_failure(messages: Sequence[str], timeout: float) -> str:
    """The reason the first fetch failed, from the client's log line about it."""
    for message in reversed(messages):
        _, found, reason = message.partition("flags fetch: ")
        if found:
            reason = re.split(r"; (?:retrying every|backing off|keeping the last good)", reason)[0]
            unavailable = re.fullmatch(r"server unavailable \(((?:connection|timed).*)\)", reason)
            if unavailable:  # "connection failed (...)" or "timed out" says it all
                reason = unavailable[1]
            return reason.replace(
                "the Authorization header in custom_headers", f"--token or ${TOKEN_VARIABLE}"
            )
    return f"no usable answer within {timeout:g}s"


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` masked."""
    return text.replace(secret, "***") if secret else text


def display_url(url: str) -> str:
    """A URL without any user name or password it holds."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def read_json(path: str) -> Any:
    """The JSON in a file (``-``: stdin); :class:`CliError` when unreadable or not JSON."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(
            f"cannot read {path}: {error.strerror or error}", EXIT_FILE, "file"
        ) from None
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text", EXIT_FILE, "file") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise CliError(f"{path} is not valid JSON: {error}", EXIT_FILE, "file") from None


def _bundled_text() -> str:
    return resources.files("unleash_lite.examples").joinpath(EXAMPLE_FLAGS).read_text("utf-8")


# -- eval and explain -------------------------------------------------------------------------


def run_eval(arguments: argparse.Namespace, out: IO[str]) -> int:
    """``eval FLAG``: one flag's answer and reason."""
    context: Context = arguments.context
    with flag_source(arguments) as (client, origin):
        result = client.explain(arguments.flag, context)
        known_names = sorted(client.feature_definitions())
    known = result.reason is not Reason.UNKNOWN_FLAG
    if arguments.json:
        _print_json({**explanation_data(result), "context": context, "source": origin}, out)
    elif known:
        print_explanation(result, out)
    if not known:
        if not arguments.json:
            guesses = difflib.get_close_matches(arguments.flag, known_names, n=3)
            hint = f"; did you mean {', '.join(map(repr, guesses))}?" if guesses else ""
            print(
                f"unleash-lite eval: unknown flag {arguments.flag!r} "
                f"({len(known_names)} flags in {origin}){hint}",
                file=sys.stderr,
            )
        return EXIT_UNKNOWN_FLAG
    if arguments.exit_code and not result.enabled:
        return EXIT_PROBLEMS
    return EXIT_OK


def run_explain(arguments: argparse.Namespace, out: IO[str]) -> int:
    """``explain``: every flag's answer and reason."""
    context: Context = arguments.context
    with flag_source(arguments) as (client, origin):
        results = [client.explain(name, context) for name in sorted(client.feature_definitions())]
    if arguments.json:
        data = {
            "source": origin,
            "context": context,
            "flags": [explanation_data(result) for result in results],
        }
        _print_json(data, out)
        return EXIT_OK
    print(f"{_count(len(results), 'flag')} from {origin}; context: {describe(context)}", file=out)
    for result in results:
        state = "ON " if result.enabled else "off"
        variant = f" [{result.variant['name']}]" if result.variant["enabled"] else ""
        print(
            f"  {state} {result.feature_name}{variant} ({result.reason}): {result.message}",
            file=out,
        )
    return EXIT_OK


def explanation_data(result: Explanation) -> dict[str, Any]:
    """An explanation as JSON-ready data (the ``--json`` shape of one flag)."""
    return {
        "flag": result.feature_name,
        "known": result.reason is not Reason.UNKNOWN_FLAG,
        "enabled": result.enabled,
        "variant": result.variant,
        "reason": str(result.reason),
        "message": result.message,
        "strategy": dataclasses.asdict(result.strategy) if result.strategy else None,
        "strategies": [dataclasses.asdict(trace) for trace in result.strategies],
    }


def print_explanation(result: Explanation, out: IO[str]) -> None:
    """One flag's answer in a few aligned lines."""
    variant = result.variant
    shown = f" (variant {variant['name']})" if variant["enabled"] else ""
    print(f"{result.feature_name}: {'ON' if result.enabled else 'off'}{shown}", file=out)
    print(f"  reason:  {result.reason}", file=out)
    print(f"  detail:  {result.message}", file=out)
    payload = variant.get("payload")
    if isinstance(payload, Mapping):
        print(f"  payload: {payload.get('type')} {payload.get('value')}", file=out)


def describe(context: Mapping[str, Any]) -> str:
    """``userId=17, country=NO``: a context on one line."""
    pairs = [(key, value) for key, value in context.items() if key != "properties"]
    pairs += list(context.get("properties", {}).items())
    return ", ".join(f"{key}={value}" for key, value in pairs) or "(empty)"


# -- fetch ------------------------------------------------------------------------------------


def run_fetch(arguments: argparse.Namespace, out: IO[str]) -> int:
    """``fetch``: the server's flags into a bootstrap file."""
    client = fetch_client(
        arguments.url, arguments.token, arguments.project, arguments.timeout or DEFAULT_TIMEOUT
    )
    try:
        payload = client.snapshot.state.to_payload()
    finally:
        client.destroy()
    path = Path(arguments.output)
    try:
        write_json_atomic(path, payload)
    except OSError as error:
        raise CliError(
            f"cannot write {path}: {error.strerror or error}", EXIT_FILE, "file"
        ) from None
    flags, segments = len(payload["features"]), len(payload["segments"])
    if arguments.json:
        data = {
            "file": str(path),
            "url": display_url(arguments.url),
            "project": arguments.project,
            "flags": flags,
            "segments": segments,
        }
        _print_json(data, out)
    else:
        print(
            f"wrote {_count(flags, 'flag')} and {_count(segments, 'segment')} from "
            f"{display_url(arguments.url)} to {path}",
            file=out,
        )
    return EXIT_OK


# -- validate ---------------------------------------------------------------------------------


def run_validate(arguments: argparse.Namespace, out: IO[str]) -> int:
    """``validate FILE``: every problem, with its flag and field."""
    payload = read_json(arguments.file)
    problems = validate(payload, arguments.custom_strategy)
    kind = payload_format(payload)
    flags = segments = 0
    if kind in ("full", "delta"):
        with contextlib.suppress(PayloadError):
            state = FlagState().apply(payload)
            flags, segments = len(state.features), len(state.segments)
    errors = sum(problem.severity == ERROR for problem in problems)
    warnings = len(problems) - errors
    failing = errors if arguments.fail_on == ERROR else len(problems)
    name = "stdin" if arguments.file == "-" else arguments.file
    if arguments.json:
        data = {
            "file": name,
            "format": kind,
            "flags": flags,
            "segments": segments,
            "errors": errors,
            "warnings": warnings,
            "problems": [problem.as_dict() for problem in problems],
        }
        _print_json(data, out)
    else:
        for problem in problems:
            print(f"{problem.severity}: {problem}", file=out)
        found = (
            f"{_count(errors, 'error')}, {_count(warnings, 'warning')}"
            if problems
            else "no problems"
        )
        print(f"{name}: {_count(flags, 'flag')}, {_count(segments, 'segment')}: {found}", file=out)
    return EXIT_PROBLEMS if failing else EXIT_OK


# -- demo -------------------------------------------------------------------------------------


def run_demo(bootstrap: str | None = None, out: Any = None) -> int:
    """Evaluate every flag of a bootstrap file for a few contexts and print why."""
    out = out or sys.stdout
    if bootstrap is None:
        bootstrap_text = _bundled_text()
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
            result = client.explain(name, context)
            state = "ON " if result.enabled else "off"
            variant = result.variant["name"]
            variant_text = f" [{variant}]" if result.variant["enabled"] else ""
            print(f"  {state} {name}{variant_text}: {result.message}", file=out)
        print(file=out)
    return EXIT_OK


# -- output -----------------------------------------------------------------------------------


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=88)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _print_json(data: Any, out: IO[str]) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default), file=out)


if __name__ == "__main__":
    sys.exit(main())
