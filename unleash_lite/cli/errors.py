"""Exit codes of ``unleash-lite`` and the error a command reports in one line."""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEMS = 1  # validate found problems; eval --exit-code: the flag is off
EXIT_USAGE = 2  # a bad command line (argparse)
EXIT_UNKNOWN_FLAG = 3  # eval: the flag is not in the flag set
EXIT_FILE = 4  # a file cannot be read, parsed or written, or holds no usable flags
EXIT_NETWORK = 5  # the server cannot be reached, rejects the token, or answers garbage
EXIT_DENIED = 6  # admin: the server rejects the admin token (401) or it may not do this (403)
EXIT_REFUSED = 7  # admin: nothing changed (rollout cannot tell which strategy, or another 4xx)
EXIT_FINDINGS = 8  # audit: found flags of a kind --fail-on names (unknown, stale...)
EXIT_BROKEN_PIPE = 141  # stdout was closed early (``| head``), as a shell reports SIGPIPE


class CliError(Exception):
    """A failure the command reports in one line, with its exit code."""

    def __init__(self, message: str, exit_code: int, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.kind = (
            kind  # --json "kind": "file", "network"; admin: "not_found", "denied", "refused"
        )
