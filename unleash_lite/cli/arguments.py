"""What the ``unleash-lite`` commands share in reading their arguments: the parser class
that keeps tokens out of usage errors, and the checks of a URL and a timeout."""

from __future__ import annotations

import argparse
import re
from typing import NoReturn
from urllib.parse import urlsplit

from ..config import check_url

# Words shaped like Unleash tokens ("project:env.hex", "*:*.hex", "user:hex").
_TOKEN_SHAPED = re.compile(r"[\w*-]+:[\w*.-]*[0-9a-f]{16,}")


def mask_tokens(text: str) -> str:
    """``text`` with every token-shaped word masked (``***``)."""
    return _TOKEN_SHAPED.sub("***", text)


class RedactingParser(argparse.ArgumentParser):
    """An argument parser whose usage errors never quote a token-shaped word: argparse
    quotes unrecognized arguments, and a mistyped option may be followed by a token."""

    def error(self, message: str) -> NoReturn:
        super().error(mask_tokens(message))


def http_url(text: str) -> str:
    """An ``--url``: http(s), and nothing an ``UnleashClient`` would refuse."""
    if urlsplit(text).scheme not in ("http", "https") or not urlsplit(text).netloc:
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    try:
        check_url(text)  # what UnleashClient would refuse (a query string, a bad port...)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def positive_seconds(text: str) -> float:
    """A ``--timeout``: a positive number of seconds."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return seconds
