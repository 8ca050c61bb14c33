"""``unleash-lite audit``: the flag names the code uses (read by :mod:`.audit_scan`, never
run) against a flag source (a flags file, the disk cache or a server), and what does not
match: names the source does not know, stale or archived flags still referenced, flags no
code references (cleanup candidates), and names the scan could not resolve."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

from .. import payload_format
from ..cache import FEATURES_URL, FileCache
from ..client import UnleashClient
from ..config import InstanceAllowType
from .admin import TOKEN_VARIABLE as ADMIN_TOKEN_VARIABLE
from .audit_scan import Dynamic, Reference, Scan, scan
from .errors import EXIT_DENIED, EXIT_FILE, EXIT_FINDINGS, EXIT_NETWORK, EXIT_OK, CliError
from .render import count, json_text
from .sources import APP_NAME, DEFAULT_TIMEOUT, display_url, fetch_client, offline_client, read_json

# What --fail-on can name, in the order the report shows them.
CATEGORIES = ("unknown", "archived", "stale", "potentially-stale", "unused", "dynamic")
DEFAULT_FAIL_ON = ("unknown",)
RATE_LIMIT_WAIT = 61.0  # seconds: unleash-server's search limit is 15 requests a minute
RATE_LIMIT_ATTEMPTS = 4
T = TypeVar("T")


@dataclass(frozen=True)
class KnownFlag:
    """A flag as the source knows it. A flags file, the cache and the client API tell the
    name, project and ``stale``; the Admin API also the rest."""

    name: str
    project: str | None = None
    stale: bool = False
    potentially_stale: bool = False
    archived: bool = False
    last_seen_at: str | None = None

    def data(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stale": self.stale,
            "potentially_stale": self.potentially_stale,
            "archived": self.archived,
            "last_seen_at": self.last_seen_at,
        }


def fail_on(text: str) -> tuple[str, ...]:
    """A ``--fail-on`` value: categories separated by commas, or ``none``."""
    words = tuple(word.strip() for word in text.split(",") if word.strip())
    if words == ("none",):
        return ()
    unknown = [word for word in words if word not in CATEGORIES]
    if unknown or not words:
        raise argparse.ArgumentTypeError(
            f"expected 'none' or some of {','.join(CATEGORIES)}, got {text!r}"
        )
    return words


# -- the flag sources --------------------------------------------------------------------


def flags_of_payload(payload: Any, origin: str) -> list[KnownFlag]:
    """The flags in a client API payload (full or delta: as a client holds them once it
    applied it) or in an Unleash admin export."""
    if payload_format(payload) == "export":
        features = payload.get("features")
        if not isinstance(features, list):
            raise CliError(f"{origin}: an admin export without a features list", EXIT_FILE, "file")
        return [_admin_flag(feature) for feature in features if isinstance(feature, Mapping)]
    client = offline_client(payload, origin)
    try:
        return _client_flags(client)
    finally:
        client.destroy()


def file_flags(path: str) -> tuple[list[KnownFlag], str]:
    origin = "stdin" if path == "-" else path
    return flags_of_payload(read_json(path), origin), origin


def cache_flags(path: str) -> tuple[list[KnownFlag], str]:
    """The flags of a client's disk cache: a cache file, or a directory of them (the most
    recently written one)."""
    location = Path(path)
    if location.is_dir():
        files = sorted(location.glob("*.json"), key=lambda file: file.stat().st_mtime)
        if not files:
            raise CliError(f"no cache file (*.json) in {path}", EXIT_FILE, "file")
        file = files[-1]
        origin = f"{file}" + (
            f" (the newest of {len(files)} cache files)" if len(files) > 1 else ""
        )
    elif location.is_file():
        file, origin = location, str(location)
    else:
        raise CliError(f"cannot read {path}: no such file or directory", EXIT_FILE, "file")
    client = UnleashClient(
        url="",
        app_name=APP_NAME,
        cache=FileCache(file.stem, directory=file.parent),
        disable_metrics=True,
        disable_registration=True,
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    try:
        if not client.is_ready():
            raise CliError(
                f"{origin} holds no usable flags (no {FEATURES_URL!r} entry a client can read)",
                EXIT_FILE,
                "file",
            )
        return _client_flags(client), origin
    finally:
        client.destroy()


def server_flags(
    url: str, token: str | None, admin_token: str | None, project: str | None, timeout: float
) -> tuple[list[KnownFlag], str]:
    """The flags of a server: through the Admin API when an admin token is given (stale,
    potentially stale, archived and last seen included), else through the client API."""
    origin = display_url(url) + (f" (project {project})" if project else "")
    if admin_token:
        from .admin_api import AdminClient, AdminError

        try:
            with AdminClient(url, admin_token, timeout) as admin:
                found = _rate_limited(lambda: admin.flags(project), AdminError)
                found += _rate_limited(lambda: admin.flags(project, archived=True), AdminError)
                lifetimes = _lifetimes(admin.request("GET", "/admin/feature-types"))
        except AdminError as error:
            denied = error.status in (401, 403)
            raise CliError(
                f"the Admin API of {display_url(url)}: {error.message}",
                EXIT_DENIED if denied else EXIT_NETWORK,
                "denied" if denied else "network",
            ) from None
        now = datetime.now(UTC)
        return [_admin_flag(flag, lifetimes, now) for flag in found], f"{origin}, Admin API"
    client = fetch_client(url, token, project, timeout)
    try:
        return _client_flags(client), origin
    finally:
        client.destroy()


def _client_flags(client: UnleashClient) -> list[KnownFlag]:
    return [
        KnownFlag(
            str(feature["name"]),
            project=feature.get("project"),
            stale=bool(feature.get("stale")),
        )
        for feature in client.export_payload()["features"]
    ]


def _rate_limited(call: Callable[[], T], error_type: type[Exception]) -> T:
    """``call()``, again after a wait when the server answers 429: unleash-server 8.x lets a
    client make 15 search requests a minute (one per 100 flags, archived ones apart)."""
    for attempt in range(RATE_LIMIT_ATTEMPTS):
        try:
            return call()
        except error_type as error:
            if getattr(error, "status", None) != 429 or attempt == RATE_LIMIT_ATTEMPTS - 1:
                raise
            print(
                f"unleash-lite audit: the server's search API is rate limited; waiting "
                f"{RATE_LIMIT_WAIT:g}s",
                file=sys.stderr,
            )
            time.sleep(RATE_LIMIT_WAIT)
    raise AssertionError("unreachable")


def _lifetimes(answer: Any) -> dict[str, int]:
    """Each flag type's expected lifetime in days (``/admin/feature-types``); a type with
    none (kill switches, permissions) is left out."""
    types = answer.get("types") if isinstance(answer, Mapping) else None
    return {
        str(kind["id"]): kind["lifetimeDays"]
        for kind in types or ()
        if isinstance(kind, Mapping) and isinstance(kind.get("lifetimeDays"), int)
    }


def _admin_flag(
    flag: Mapping[str, Any], lifetimes: Mapping[str, int] | None = None, now: datetime | None = None
) -> KnownFlag:
    """A flag of the Admin API's search answer (or of an admin export). Potentially stale, as
    Unleash marks it: not stale, and older than its type's expected lifetime (the search
    answer does not say it). Last seen: the latest of the flag's and its environments'."""
    stale = bool(flag.get("stale"))
    lifetime = (lifetimes or {}).get(str(flag.get("type")))
    created = _timestamp(flag.get("createdAt"))
    potentially_stale = bool(
        not stale
        and lifetime
        and created is not None
        and now is not None
        and now - created > timedelta(days=lifetime)
    )
    seen: dict[datetime, str] = {}
    environments = flag.get("environments") or ()
    for holder in (flag, *(e for e in environments if isinstance(e, Mapping))):
        when = _timestamp(holder.get("lastSeenAt"))
        if when is not None:
            seen[when] = str(holder["lastSeenAt"])
    return KnownFlag(
        str(flag.get("name")),
        project=flag.get("project"),
        stale=stale,
        potentially_stale=potentially_stale,
        archived=bool(flag.get("archivedAt") or flag.get("archived")),
        last_seen_at=seen[max(seen)] if seen else None,
    )


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- the report --------------------------------------------------------------------------


@dataclass
class Audit:
    """The scan set against the source."""

    scan: Scan
    known: dict[str, KnownFlag]
    origin: str

    def __post_init__(self) -> None:
        self.used = self.scan.by_name()
        active = sorted(name for name, flag in self.known.items() if not flag.archived)
        self.findings: dict[str, list[str]] = {
            "unknown": [name for name in self.used if name not in self.known],
            "archived": [n for n in self.used if n in self.known and self.known[n].archived],
            "stale": [n for n in self.used if n in self.known and self.known[n].stale],
            "potentially-stale": [
                n
                for n in self.used
                if n in self.known and self.known[n].potentially_stale and not self.known[n].stale
            ],
            "unused": [name for name in active if name not in self.used],
        }
        self.suggestions = {
            name: difflib.get_close_matches(name, active, n=3) for name in self.findings["unknown"]
        }

    def found(self, category: str) -> int:
        if category == "dynamic":
            return len(self.scan.dynamic)
        return len(self.findings[category])

    def failed_on(self, categories: Sequence[str]) -> list[str]:
        return [category for category in categories if self.found(category)]

    def data(self, categories: Sequence[str]) -> dict[str, Any]:
        """The ``--json`` document (its shape is described in docs/cli.md)."""
        return {
            "source": {"origin": self.origin, "flags": len(self.known)},
            "scanned": {
                "files": self.scan.files,
                "lines": self.scan.lines,
                "skipped": [{"path": path, "reason": why} for path, why in self.scan.skipped],
            },
            "flags": [
                {
                    "name": name,
                    "known": name in self.known,
                    **(self.known[name].data() if name in self.known else {}),
                    **(
                        {"did_you_mean": self.suggestions[name]} if name in self.suggestions else {}
                    ),
                    "references": [_reference_data(r) for r in references],
                }
                for name, references in self.used.items()
            ],
            **{category.replace("-", "_"): names for category, names in self.findings.items()},
            "unused_flags": [
                {"name": name, **self.known[name].data()} for name in self.findings["unused"]
            ],
            "dynamic": [_dynamic_data(entry) for entry in self.scan.dynamic],
            "fail_on": list(categories),
            "failed_on": self.failed_on(categories),
        }

    def text(self, every_flag: bool) -> str:
        scanned = self.scan
        lines = [
            f"{count(scanned.files, 'file')} ({count(scanned.lines, 'line')}) read: "
            f"{count(len(self.used), 'flag')} referenced in "
            f"{count(len(scanned.references), 'place')}, "
            f"{len(scanned.dynamic)} dynamic; source: {self.origin} "
            f"({count(len(self.known), 'flag')})"
        ]
        titles = {
            "unknown": "unknown flags (in the code, not in the source)",
            "archived": "archived flags still referenced",
            "stale": "stale flags still referenced",
            "potentially-stale": "potentially stale flags still referenced",
        }
        for category, title in titles.items():
            names = self.findings[category]
            if not names:
                continue
            lines += ["", f"{title}: {len(names)}"]
            for name in names:
                hint = ""
                if self.suggestions.get(name):
                    hint = f"  (did you mean {' or '.join(self.suggestions[name])}?)"
                seen = self.known[name].last_seen_at if name in self.known else None
                if seen:
                    hint += f"  (last seen {seen})"
                lines.append(f"  {name}{hint}")
                lines += [f"    {_place(r)}" for r in self.used[name]]
        unused = self.findings["unused"]
        if unused:
            lines += ["", f"cleanup candidates (in the source, referenced nowhere): {len(unused)}"]
            for name in unused:
                notes = [w for w, on in (("stale", self.known[name].stale),) if on]
                if self.known[name].last_seen_at:
                    notes.append(f"last seen {self.known[name].last_seen_at}")
                lines.append(f"  {name}" + (f"  ({', '.join(notes)})" if notes else ""))
            if scanned.dynamic:
                lines.append("  (a dynamic name below may still use one of them)")
        if scanned.dynamic:
            lines += [
                "",
                f"dynamic flag names (not resolved; check by hand): {len(scanned.dynamic)}",
            ]
            lines += [
                f"  {entry.path}:{entry.line}  {entry.shape}: {entry.expression}"
                for entry in scanned.dynamic
            ]
        if scanned.skipped:
            lines += ["", f"files not read: {len(scanned.skipped)}"]
            lines += [f"  {path}: {why}" for path, why in scanned.skipped]
        if every_flag:
            lines += ["", "every referenced flag:"]
            for name, references in self.used.items():
                lines.append(f"  {name}")
                lines += [f"    {_place(r)}" for r in references]
        return "\n".join(lines)


def _place(reference: Reference) -> str:
    via = f" via {reference.via}" if reference.via else ""
    return f"{reference.path}:{reference.line}  {reference.shape}{via}"


def _reference_data(reference: Reference) -> dict[str, Any]:
    return {
        "path": reference.path,
        "line": reference.line,
        "shape": reference.shape,
        "via": reference.via,
    }


def _dynamic_data(entry: Dynamic) -> dict[str, Any]:
    return {
        "path": entry.path,
        "line": entry.line,
        "shape": entry.shape,
        "expression": entry.expression,
    }


# -- the command -------------------------------------------------------------------------


def run_audit(arguments: argparse.Namespace, out: IO[str]) -> int:
    """``audit [PATHS]``: the report, and :data:`EXIT_FINDINGS` when it found something of
    a category ``--fail-on`` names."""
    try:
        scanned = scan(arguments.paths or ["."], exclude=arguments.exclude)
    except FileNotFoundError as error:
        raise CliError(
            f"cannot read {error.args[0]}: no such file or directory", EXIT_FILE, "file"
        ) from None
    if arguments.source is not None:
        flags, origin = file_flags(arguments.source)
    elif arguments.cache is not None:
        flags, origin = cache_flags(arguments.cache)
    else:
        flags, origin = server_flags(
            arguments.url,
            arguments.token,
            os.environ.get(ADMIN_TOKEN_VARIABLE) or None,
            arguments.project,
            arguments.timeout or DEFAULT_TIMEOUT,
        )
    audit = Audit(scanned, {flag.name: flag for flag in flags}, origin)
    categories: Sequence[str] = arguments.fail_on
    if arguments.json:
        print(json_text(audit.data(categories)), file=out)
    else:
        print(audit.text(arguments.all), file=out)
        failed = audit.failed_on(categories)
        if failed:
            print(
                f"\nfailing: found {', '.join(failed)} (--fail-on {','.join(categories)})", file=out
            )
    return EXIT_FINDINGS if audit.failed_on(categories) else EXIT_OK
