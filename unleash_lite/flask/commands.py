"""The ``flask unleash`` commands: ``list`` the flags the app's client knows, ``eval`` one,
and ``admin``, which is ``unleash-lite admin`` with the app's ``UNLEASH_URL`` as its default
server."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from ..cli.admin import admin_main
from ..cli.errors import EXIT_UNKNOWN_FLAG
from ..cli.render import answer_data, answer_text, json_text, table_text
from ..client import UnleashClient
from ..context import Context
from .state import state_of

unleash_cli = AppGroup(
    "unleash", help="Inspect the Unleash flags of this app; administer them on its server."
)


def _cli_client() -> UnleashClient:
    state = state_of(current_app)
    if state is None:
        raise click.ClickException("Unleash is not set up on this app (call init_app)")
    if not state.client.is_ready():
        click.echo(
            "warning: the client holds no flags (no answer from the server, no bootstrap, "
            "no cache); every flag is unknown",
            err=True,
        )
    return state.client


@unleash_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(as_json: bool) -> None:
    """List the flags the client knows, with type, project and whether each is on for an
    empty context (exit status 1 when the client holds no flags at all)."""
    client = _cli_client()
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "type": definition.get("type"),
            "project": definition.get("project"),
            "enabled": client.explain(name, {}).enabled,  # explain() is not counted in metrics
        }
        for name, definition in sorted(client.feature_definitions().items())
    ]
    if as_json:
        click.echo(json_text({"flags": rows}))
    elif not rows:
        click.echo("no flags")
    else:
        header = ("NAME", "TYPE", "PROJECT", "EMPTY CONTEXT")
        cells = [
            (row["name"], str(row["type"]), str(row["project"]), "on" if row["enabled"] else "off")
            for row in rows
        ]
        click.echo(table_text([header, *cells]))
    if not client.is_ready():
        click.get_current_context().exit(1)


def _properties(values: tuple[str, ...]) -> dict[str, str]:
    properties: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--prop")
        properties[key] = text
    return properties


@unleash_cli.command("eval")
@click.argument("flag")
@click.option("--user", "user_id", help="userId of the context.")
@click.option("--session", "session_id", help="sessionId of the context.")
@click.option(
    "--prop", "props", multiple=True, metavar="KEY=VALUE", help="A context property (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def eval_command(
    flag: str, user_id: str | None, session_id: str | None, props: tuple[str, ...], as_json: bool
) -> None:
    """Evaluate FLAG for a context and say why it is on or off (exit status 3 when FLAG is
    unknown, as ``unleash-lite eval``)."""
    context = Context(user_id=user_id, session_id=session_id, properties=_properties(props))
    client = _cli_client()
    result = client.explain(flag, context)
    unknown = flag not in client.feature_definitions()
    if as_json:
        click.echo(json_text({**answer_data(result), "context": dict(context)}))
    else:
        click.echo(answer_text(result, context))
    if unknown:
        click.get_current_context().exit(EXIT_UNKNOWN_FLAG)


@unleash_cli.command(
    "admin",
    add_help_option=False,  # ``--help`` is the admin command's own
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("words", nargs=-1, type=click.UNPROCESSED)
def admin_command(words: tuple[str, ...]) -> None:
    """Administer flags on the app's Unleash server (Admin API): list, show, enable,
    disable, rollout. Same options as ``unleash-lite admin`` (see --help); the server is
    the app's UNLEASH_URL unless --url is given; the admin token comes from
    $UNLEASH_ADMIN_TOKEN or --token-file."""
    url = current_app.config.get("UNLEASH_URL") or None
    code = admin_main(list(words), prog="flask unleash admin", default_url=url)
    click.get_current_context().exit(code)
