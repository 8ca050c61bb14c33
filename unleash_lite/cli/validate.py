"""``unleash-lite validate``: every problem of a flags file, with its flag and field."""

from __future__ import annotations

import argparse
from typing import IO

from .. import payload_format, validate
from .errors import EXIT_OK, EXIT_PROBLEMS
from .render import count, json_text
from .sources import flag_counts, read_json


def run_validate(arguments: argparse.Namespace, out: IO[str]) -> int:
    """``validate FILE``: every problem, with its flag and field."""
    payload = read_json(arguments.file)
    problems = validate(payload, arguments.custom_strategy)
    kind = payload_format(payload)
    flags, segments = flag_counts(payload)
    errors = sum(problem.severity == "error" for problem in problems)
    warnings = len(problems) - errors
    failing = errors if arguments.fail_on == "error" else len(problems)
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
        print(json_text(data), file=out)
    else:
        for problem in problems:
            print(f"{problem.severity}: {problem}", file=out)
        found = (
            f"{count(errors, 'error')}, {count(warnings, 'warning')}" if problems else "no problems"
        )
        print(f"{name}: {count(flags, 'flag')}, {count(segments, 'segment')}: {found}", file=out)
    return EXIT_PROBLEMS if failing else EXIT_OK
