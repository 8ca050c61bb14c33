"""``unleash-lite eval`` (one flag) and ``unleash-lite explain`` (every flag): the answer
for a context, and why."""

from __future__ import annotations

import argparse
import difflib
import sys
from typing import IO

from .. import Reason
from ..context import Context
from .errors import EXIT_OK, EXIT_PROBLEMS, EXIT_UNKNOWN_FLAG
from .render import count, describe, explanation_data, explanation_text, flag_line, json_text
from .sources import flag_source


def run_eval(arguments: argparse.Namespace, out: IO[str]) -> int:
    """``eval FLAG``: one flag's answer and reason."""
    context: Context = arguments.context
    with flag_source(arguments) as (client, origin):
        result = client.explain(arguments.flag, context)
        known_names = sorted(client.feature_definitions())
    known = result.reason is not Reason.UNKNOWN_FLAG
    if arguments.json:
        data = {**explanation_data(result), "context": context, "source": origin}
        print(json_text(data), file=out)
    elif known:
        print(explanation_text(result), file=out)
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
        print(json_text(data), file=out)
        return EXIT_OK
    print(f"{count(len(results), 'flag')} from {origin}; context: {describe(context)}", file=out)
    for result in results:
        print(flag_line(result, reason=True), file=out)
    return EXIT_OK
