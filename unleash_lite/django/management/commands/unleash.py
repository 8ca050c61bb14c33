"""``manage.py unleash list|eval|explain|admin``: the flags this project's client sees, one
flag's answer for a context, and every flag's answer with its reason, rendered by the
``unleash-lite`` command line's renderer, as ``flask unleash`` is; and ``admin``, which is
``unleash-lite admin`` with ``settings.UNLEASH["url"]`` as its default server."""

from __future__ import annotations

import argparse
import io
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from ....cli.admin import admin_main
from ....cli.context import add_context_option, build_context
from ....cli.errors import EXIT_UNKNOWN_FLAG
from ....cli.render import (
    answer_data,
    answer_text,
    count,
    describe,
    explanation_data,
    flag_line,
    json_text,
    table_text,
)
from ....client import UnleashClient
from ....context import Context
from ...registry import close_client, get_client
from ...settings import read_settings


class _Written(io.TextIOBase):
    """A text stream writing through a command's ``OutputWrapper`` as it is given (the
    wrapper would end every ``write`` with a newline of its own)."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self._wrapper = wrapper

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._wrapper.write(text, ending="")
        return len(text)


class Command(BaseCommand):
    help = (
        "Inspect the Unleash flags of this project: list, eval FLAG, explain; administer "
        "them on its server: admin ACTION (see admin --help)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="{list,eval,explain,admin}")
        actions.required = True
        listing = actions.add_parser(
            "list",
            help="the flags the client knows, with type, project and whether each is on for "
            "an empty context (exit status 1 when the client holds no flags)",
        )
        evaluation = actions.add_parser(
            "eval", help="one flag's answer for a context, and why (exit status 3: unknown flag)"
        )
        evaluation.add_argument("flag", metavar="FLAG")
        explanation = actions.add_parser("explain", help="every flag's answer and reason")
        for sub in (evaluation, explanation):
            add_context_option(sub)
        for sub in (listing, evaluation, explanation):
            sub.add_argument("--json", action="store_true", help="print JSON")
        admin = actions.add_parser(
            "admin",
            # Every word after ``admin`` is the admin command's, ``--help`` included: this
            # parser knows no option at all (argparse's REMAINDER alone would refuse an
            # option it does not know as the first word: ``admin --url ...``).
            add_help=False,
            prefix_chars="\0",
            help="administer flags on the server (Admin API): list, show, enable, disable, "
            'rollout; the server is settings.UNLEASH["url"] unless --url is given; the admin '
            "token comes from $UNLEASH_ADMIN_TOKEN or --token-file",
        )
        admin.add_argument("words", nargs=argparse.REMAINDER)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "admin":
            self._admin(options["words"])
            return
        try:
            context = build_context(options.get("context") or [])
        except ValueError as error:
            raise CommandError(str(error), returncode=2) from None
        client = get_client()
        try:
            if not client.is_ready():
                self.stderr.write(
                    "warning: the client holds no flags (no answer from the server, no "
                    "bootstrap, no cache); every flag is unknown"
                )
            action = options["action"]
            if action == "list":
                self._list(client, options["json"])
            elif action == "eval":
                self._eval(client, options["flag"], context, options["json"])
            else:
                self._explain(client, context, options["json"])
        finally:
            close_client()  # stop the background work now; the next use starts anew

    def _list(self, client: UnleashClient, as_json: bool) -> None:
        rows: list[dict[str, Any]] = [
            {
                "name": name,
                "type": definition.get("type"),
                "project": definition.get("project"),
                "enabled": client.explain(name, {}).enabled,  # not counted in metrics
            }
            for name, definition in sorted(client.feature_definitions().items())
        ]
        if as_json:
            self.stdout.write(json_text({"flags": rows}))
        elif not rows:
            self.stdout.write("no flags")
        else:
            header = ("NAME", "TYPE", "PROJECT", "EMPTY CONTEXT")
            cells = [
                (name, str(kind), str(project), "on" if enabled else "off")
                for name, kind, project, enabled in (row.values() for row in rows)
            ]
            self.stdout.write(table_text([header, *cells]))
        if not client.is_ready():
            raise CommandError("the client holds no flags", returncode=1)

    def _eval(self, client: UnleashClient, flag: str, context: Context, as_json: bool) -> None:
        result = client.explain(flag, context)
        if as_json:
            self.stdout.write(json_text({**answer_data(result), "context": dict(context)}))
        else:
            self.stdout.write(answer_text(result, context))
        if not result.known:
            raise CommandError(f"unknown flag {flag!r}", returncode=EXIT_UNKNOWN_FLAG)

    def _explain(self, client: UnleashClient, context: Context, as_json: bool) -> None:
        results = [client.explain(name, context) for name in sorted(client.feature_definitions())]
        if as_json:
            data = {"context": dict(context), "flags": [explanation_data(r) for r in results]}
            self.stdout.write(json_text(data))
            return
        self.stdout.write(f"{count(len(results), 'flag')}; context: {describe(context)}")
        for result in results:
            self.stdout.write(flag_line(result, reason=True))

    def _admin(self, words: list[str]) -> None:
        """``unleash-lite admin`` on the project's server; no client is created. A failure
        exits with the admin command's code, its message already written."""
        url = read_settings().client_options["url"] or None  # "": offline, no server
        code = admin_main(
            words,
            prog="manage.py unleash admin",
            default_url=url,
            out=cast(IO[str], _Written(self.stdout)),
            err=cast(IO[str], _Written(self.stderr)),
        )
        if code:
            raise SystemExit(code)
