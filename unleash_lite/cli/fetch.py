"""``unleash-lite fetch``: the flags of a server into a bootstrap file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO

from .._files import write_json_atomic
from .errors import EXIT_FILE, EXIT_OK, CliError
from .render import count, json_text
from .sources import DEFAULT_TIMEOUT, display_url, fetch_client


def run_fetch(arguments: argparse.Namespace, out: IO[str]) -> int:
    """``fetch``: the server's flags into a bootstrap file."""
    client = fetch_client(
        arguments.url, arguments.token, arguments.project, arguments.timeout or DEFAULT_TIMEOUT
    )
    try:
        payload = client.export_payload()
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
        print(json_text(data), file=out)
    else:
        print(
            f"wrote {count(flags, 'flag')} and {count(segments, 'segment')} from "
            f"{display_url(arguments.url)} to {path}",
            file=out,
        )
    return EXIT_OK
