"""``unleash-lite admin``: list flags with their state per environment, show one, switch
one on or off in an environment, set its rollout percentage; through the Unleash Admin API
(:mod:`unleash_lite.cli.admin_api`).

The admin token comes from ``$UNLEASH_ADMIN_TOKEN`` or ``--token-file``, never from the
command line (where shell history and the process list would keep it), and is never
printed. :func:`admin_main` runs the same command for ``flask unleash admin``.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from .admin_api import AdminClient, AdminError, RolloutError, describe_strategy, set_rollout
from .arguments import RedactingParser, http_url, mask_tokens, positive_seconds
from .errors import (
    EXIT_DENIED,
    EXIT_FILE,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNKNOWN_FLAG,
    EXIT_USAGE,
    CliError,
)
from .render import json_text, table_text
from .sources import redact

TOKEN_VARIABLE = "UNLEASH_ADMIN_TOKEN"
URL_VARIABLE = "UNLEASH_URL"
DEFAULT_PROJECT = "default"

EXIT_NOT_FOUND = EXIT_UNKNOWN_FLAG  # 3: no such flag, project, environment or strategy

EXIT_CODES = f"""\
exit codes:
  {EXIT_OK}  success
  {EXIT_USAGE}  usage error (also: no admin token)
  {EXIT_NOT_FOUND}  the server has no such flag, project, environment or strategy (404)
  {EXIT_FILE}  the token file cannot be read or is empty
  {EXIT_NETWORK}  the server cannot be reached, fails (5xx), or answers something else than
     the Admin API (not JSON: is the url missing /api?)
  {EXIT_DENIED}  the server rejects the token (401) or it may not do this (403)
  {EXIT_REFUSED}  nothing changed: rollout cannot tell which strategy to change, or the
     server refused the change (another 4xx)
"""


def configure(parser: argparse.ArgumentParser, default_url: str | None) -> None:
    """Add the admin options and subcommands to ``parser``."""
    parser.description = _wrap(
        "Administer flags on an Unleash server through its Admin API: list them with their "
        "state per environment, show one, enable or disable one in an environment, set its "
        f"rollout percentage. The admin token comes from ${TOKEN_VARIABLE} or --token-file."
    )
    parser.epilog = EXIT_CODES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.set_defaults(parser=parser, admin_command=None)
    _common_options(parser, default_url)
    commands = parser.add_subparsers(
        dest="admin_command", metavar="ACTION", parser_class=RedactingParser
    )

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=_wrap(help_text[0].upper() + help_text[1:] + "."),
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            allow_abbrev=False,
        )
        sub.set_defaults(parser=sub)
        _common_options(sub, default_url, on_action=True)
        return sub

    listing = action("list", "list the flags of a project with their state in each environment")
    listing.add_argument(
        "-e",
        "--environment",
        action="append",
        metavar="ENV",
        help="show only this environment (repeatable)",
    )
    listing.add_argument(
        "--all-projects", action="store_true", help="every project's flags, not one project's"
    )
    listing.add_argument("--archived", action="store_true", help="the archived flags instead")

    show = action("show", "show one flag: its state and strategies in each environment")
    show.add_argument("flag", metavar="FLAG")

    for name, verb in (("enable", "on"), ("disable", "off")):
        change = action(name, f"turn a flag {verb} in one environment")
        change.add_argument("flag", metavar="FLAG")
        _environment_option(change)

    rollout = action(
        "rollout",
        "set the rollout percentage of a flag's flexibleRollout strategy in one environment "
        "(created when the flag has no enabled strategy there; with several, name one with "
        "--strategy; refused when the flag has only enabled strategies of other kinds; "
        "disabled strategies do not count); the flag is not switched on or off",
    )
    rollout.add_argument("flag", metavar="FLAG")
    rollout.add_argument("percent", metavar="PERCENT", type=_percent, help="0 to 100")
    _environment_option(rollout)
    rollout.add_argument(
        "--strategy", metavar="ID", help="the id of the flexibleRollout strategy to change"
    )


def _common_options(
    parser: argparse.ArgumentParser, default_url: str | None, on_action: bool = False
) -> None:
    """Options accepted before or after the action (``admin --json list`` and ``admin list
    --json``); on an action their default is SUPPRESS, so one given before it stays."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if on_action else value

    parser.add_argument(
        "--url",
        type=http_url,
        default=default(default_url),
        help=f"the server's API URL, ending with /api (default: ${URL_VARIABLE})",
    )
    parser.add_argument(
        "--token-file",
        default=default(None),
        metavar="FILE",
        help=f"read the admin token from FILE ('-': stdin) instead of ${TOKEN_VARIABLE}",
    )
    parser.add_argument(
        "--token",
        default=default(None),
        metavar="REFUSED",
        help=f"refused: a token on the command line lands in shell history; use "
        f"${TOKEN_VARIABLE} or --token-file",
    )
    parser.add_argument(
        "-p",
        "--project",
        default=default(DEFAULT_PROJECT),
        help=f"the flag's project (default {DEFAULT_PROJECT})",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=default(10.0),
        metavar="SECONDS",
        help="how long to wait for each answer (default 10)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print JSON (see docs/cli.md for the shape)",
    )


def _environment_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-e", "--environment", required=True, metavar="ENV", help="the environment to change"
    )


def _percent(text: str) -> int:
    digits = text.strip().removesuffix("%")
    if not digits.isdigit() or int(digits) > 100:
        raise argparse.ArgumentTypeError(f"expected a whole percentage from 0 to 100, got {text!r}")
    return int(digits)


def build_admin_parser(prog: str, default_url: str | None) -> argparse.ArgumentParser:
    """A stand-alone ``admin`` parser, for ``flask unleash admin`` and the like."""
    parser = RedactingParser(prog=prog, allow_abbrev=False)
    configure(parser, default_url)
    return parser


def admin_main(
    argv: Sequence[str],
    prog: str,
    default_url: str | None = None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    """Run ``admin`` with ``argv`` (the words after ``admin``); returns the exit code.
    ``default_url`` stands where ``--url`` is not given (else ``$UNLEASH_URL``)."""
    parser = build_admin_parser(prog, default_url or os.environ.get(URL_VARIABLE) or None)
    try:
        arguments = parser.parse_args(argv)
        return run_admin(arguments, out or sys.stdout, err or sys.stderr)
    except SystemExit as stop:  # --help, or a usage error argparse reported
        return int(stop.code or 0)


class _Failure(CliError):
    """A :class:`CliError` with the HTTP status that caused it, for ``--json``."""

    def __init__(self, message: str, exit_code: int, kind: str, status: int | None = None):
        super().__init__(message, exit_code, kind)
        self.status = status


def run_admin(arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """``admin ACTION``: check the arguments, read the token, do it, report."""
    parser: argparse.ArgumentParser = arguments.parser
    if arguments.admin_command is None:
        parser.error("name an action: list, show, enable, disable or rollout")
    if arguments.token is not None:
        parser.error(
            f"--token is refused: a token on the command line lands in shell history and is "
            f"visible to other users; set ${TOKEN_VARIABLE} or use --token-file"
        )
    if not arguments.url:
        parser.error(f"--url is required (or set ${URL_VARIABLE})")
    token: str | None = None
    try:
        token = _read_token(arguments.token_file, parser, err)
        with AdminClient(arguments.url, token, arguments.timeout) as admin:
            return _ACTIONS[arguments.admin_command](admin, arguments, out)
    except AdminError as error:
        failure = _failure(error)
    except _Failure as error:
        failure = error
    message = mask_tokens(redact(failure.message, token))
    if arguments.json:
        data = {"kind": failure.kind, "message": message, "status": failure.status}
        print(json_text({"error": data}), file=out)
    else:
        print(f"{parser.prog}: {message}", file=err)
    return failure.exit_code


def _read_token(token_file: str | None, parser: argparse.ArgumentParser, err: IO[str]) -> str:
    if token_file is None:
        token = os.environ.get(TOKEN_VARIABLE, "").strip()
        if not token:
            parser.error(f"no admin token: set ${TOKEN_VARIABLE} or use --token-file FILE")
        return token
    try:
        if token_file == "-":
            text = sys.stdin.readline()
        else:
            path = Path(token_file)
            if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                print(
                    f"warning: {token_file} is readable by other users (chmod 600 it)",
                    file=err,
                )
            text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise _Failure(
            f"cannot read the token file {token_file}: {error.strerror or error}", EXIT_FILE, "file"
        ) from None
    except UnicodeDecodeError:
        raise _Failure(
            f"the token file {token_file} is not UTF-8 text", EXIT_FILE, "file"
        ) from None
    lines = text.strip().splitlines()
    if not lines or not lines[0].strip():
        raise _Failure(f"the token file {token_file} holds no token", EXIT_FILE, "file")
    return lines[0].strip()


def _failure(error: AdminError) -> _Failure:
    status = error.status
    if isinstance(error, RolloutError):
        return _Failure(error.message, EXIT_REFUSED, "refused")
    if status is None or status >= 500:
        return _Failure(error.message, EXIT_NETWORK, "network", status)
    if status == 401:
        hint = f"; check the admin token (${TOKEN_VARIABLE} or --token-file)"
        return _Failure(error.message + hint, EXIT_DENIED, "denied", status)
    if status == 403:
        hint = "; the token may not do this (a client or frontend token is no admin token)"
        return _Failure(error.message + hint, EXIT_DENIED, "denied", status)
    if status == 404:
        return _Failure(error.message, EXIT_NOT_FOUND, "not_found", status)
    return _Failure(error.message, EXIT_REFUSED, "refused", status)


# ---------------------------------------------------------------------------- actions


def _list(admin: AdminClient, arguments: argparse.Namespace, out: IO[str]) -> int:
    project = None if arguments.all_projects else arguments.project
    flags = admin.flags(project, archived=arguments.archived)
    wanted = arguments.environment
    rows = [_flag_row(flag, wanted) for flag in flags]
    if arguments.json:
        print(
            json_text({"project": project, "archived": arguments.archived, "flags": rows}), file=out
        )
        return EXIT_OK
    if not rows:
        where = "any project" if project is None else f"project {project}"
        print(f"no {'archived ' if arguments.archived else ''}flags in {where}", file=out)
        return EXIT_OK
    environments = wanted or _environment_names(rows)
    header = ("NAME", "PROJECT", "TYPE", *environments)
    cells = [
        (
            str(row["name"]),
            str(row["project"]),
            str(row["type"]) + (" (stale)" if row["stale"] else ""),
            *(_state(row["environments"].get(env)) for env in environments),
        )
        for row in rows
    ]
    print(table_text([header, *cells]), file=out)
    return EXIT_OK


def _flag_row(flag: dict[str, Any], wanted: list[str] | None) -> dict[str, Any]:
    states = {
        str(env.get("name")): bool(env.get("enabled"))
        for env in flag.get("environments") or []
        if wanted is None or env.get("name") in wanted
    }
    return {
        "name": flag.get("name"),
        "project": flag.get("project"),
        "type": flag.get("type"),
        "stale": bool(flag.get("stale")),
        "archived_at": flag.get("archivedAt"),
        "last_seen_at": flag.get("lastSeenAt"),
        "environments": states,
    }


def _environment_names(rows: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for row in rows:
        names.extend(name for name in row["environments"] if name not in names)
    return names


def _state(enabled: bool | None) -> str:
    return "-" if enabled is None else "ON" if enabled else "off"


def _show(admin: AdminClient, arguments: argparse.Namespace, out: IO[str]) -> int:
    flag = admin.flag(arguments.project, arguments.flag)
    environments = [
        {
            "name": env.get("name"),
            "enabled": bool(env.get("enabled")),
            "strategies": [_strategy_data(s) for s in env.get("strategies") or []],
        }
        for env in flag.get("environments") or []
    ]
    data = {
        "name": flag.get("name", arguments.flag),
        "project": flag.get("project"),
        "type": flag.get("type"),
        "stale": bool(flag.get("stale")),
        "archived": bool(flag.get("archived")),
        "environments": environments,
    }
    if arguments.json:
        print(json_text(data), file=out)
        return EXIT_OK
    notes = [str(data["type"]), f"project {data['project']}"]
    notes += [word for word in ("stale", "archived") if data[word]]
    lines = [f"{data['name']} ({', '.join(notes)})"]
    for env in environments:
        strategies = env["strategies"]
        state = "ON" if env["enabled"] else "off"
        lines.append(f"  {env['name']}: {state}" + ("" if strategies else " (no strategies)"))
        lines += [f"    #{number} {describe_strategy(s)}" for number, s in enumerate(strategies, 1)]
    print("\n".join(lines), file=out)
    return EXIT_OK


def _strategy_data(strategy: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": strategy.get("id"),
        "name": strategy.get("name"),
        "title": strategy.get("title"),
        "disabled": bool(strategy.get("disabled")),
        "parameters": strategy.get("parameters") or {},
        "constraints": strategy.get("constraints") or [],
        "segments": strategy.get("segments") or [],
    }


def _switch(admin: AdminClient, arguments: argparse.Namespace, out: IO[str]) -> int:
    enabled = arguments.admin_command == "enable"
    project, name, environment = arguments.project, arguments.flag, arguments.environment
    before = admin.environment(project, name, environment)
    admin.set_enabled(project, name, environment, enabled)
    after = admin.environment(project, name, environment)
    known = {s.get("id") for s in before.get("strategies") or []}
    added = [s for s in after.get("strategies") or [] if s.get("id") not in known]
    if arguments.json:
        data = {
            "flag": name,
            "project": project,
            "environment": environment,
            "enabled": bool(after.get("enabled")),
            "was_enabled": bool(before.get("enabled")),
            "strategies_added": [_strategy_data(s) for s in added],
        }
        print(json_text(data), file=out)
        return EXIT_OK
    state = "ON" if after.get("enabled") else "off"
    line = f"{name}: {state} in {environment}"
    if bool(before.get("enabled")) == bool(after.get("enabled")):
        line += " (it already was)"
    else:
        line += f" (was {'ON' if before.get('enabled') else 'off'})"
    print(line, file=out)
    for strategy in added:
        print(f"  the server added a strategy: {describe_strategy(strategy)}", file=out)

    return EXIT_OK


def _rollout(admin: AdminClient, arguments: argparse.Namespace, out: IO[str]) -> int:
    project, name, environment = arguments.project, arguments.flag, arguments.environment
    change = set_rollout(admin, project, name, environment, arguments.percent, arguments.strategy)
    enabled = bool(admin.environment(project, name, environment).get("enabled"))
    if arguments.json:
        data = {
            "flag": name,
            "project": project,
            "environment": environment,
            "rollout": arguments.percent,
            "previous_rollout": change.previous,
            "created": change.created,
            "strategy": _strategy_data(change.strategy),
            "other_strategies": list(change.others),
            "environment_enabled": enabled,
        }
        print(json_text(data), file=out)
        return EXIT_OK
    was = "new flexibleRollout strategy" if change.previous is None else f"was {change.previous}%"
    print(
        f"{name}: rollout {arguments.percent}% in {environment} ({was}, "
        f"strategy id={change.strategy.get('id')})",
        file=out,
    )
    if change.others:
        print(
            f"  note: its other strategies ({', '.join(change.others)}) still apply: the flag "
            "is on when any strategy matches",
            file=out,
        )
    if change.strategy.get("disabled"):
        print("  note: this strategy is disabled: SDKs do not see it", file=out)
    if not enabled:
        print(
            f"  note: the flag is off in {environment}: the rollout applies once it is enabled",
            file=out,
        )
    return EXIT_OK


_ACTIONS = {
    "list": _list,
    "show": _show,
    "enable": _switch,
    "disable": _switch,
    "rollout": _rollout,
}


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=88)
