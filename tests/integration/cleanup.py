"""Remove what the integration tests left on a server of your own.

    UNLEASH_URL=... UNLEASH_ADMIN_TOKEN=... UNLEASH_CLIENT_TOKEN=... \\
        .venv/bin/python -m tests.integration.cleanup          # list what would go
    ... .venv/bin/python -m tests.integration.cleanup --yes    # delete it

Only names the suite makes are touched (see ``PREFIXES``): flags (archived, then deleted
for good), segments, API tokens and applications. The strategy types the parity tests add
when a 7.x server lacks them (``userWithId``, ``gradualRolloutUserId``,
``gradualRolloutSessionId``) are listed but kept: your own flags may use them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from urllib.parse import quote

from .admin import AdminApi, AdminApiError
from .server import existing_server_from_env

# it-<test>-<label>-<hex> (unique_name), parity-<label>-<hex> and the parity app, the
# tutorial flag.
PREFIXES = ("it-", "parity-", "unleash-lite-parity-", "delete_survey_flag_")
KEPT_STRATEGY_TYPES = ("userWithId", "gradualRolloutUserId", "gradualRolloutSessionId")


def ours(name: str) -> bool:
    return name.startswith(PREFIXES)


def delete_all(names: list[str], delete: Callable[[str], None], what: str) -> list[str]:
    """Delete each name; retry the refused ones (a parent flag goes after its children)."""
    pending: dict[str, AdminApiError | None] = dict.fromkeys(names)
    for _ in range(3):
        for name in list(pending):
            try:
                delete(name)
            except AdminApiError as error:
                pending[name] = error
            else:
                del pending[name]
                print(f"deleted {what} {name}")
        if not pending:
            break
    for name, refusal in pending.items():
        print(f"could not delete {what} {name}: {refusal}", file=sys.stderr)
    return list(pending)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--yes", action="store_true", help="delete (default: only list)")
    parser.add_argument("--project", default="default")
    args = parser.parse_args(argv)
    server = existing_server_from_env()
    if server is None:
        parser.error("set UNLEASH_URL, UNLEASH_ADMIN_TOKEN and UNLEASH_CLIENT_TOKEN")
    admin = AdminApi(server.api_url, server.admin_token, project=args.project)

    features = admin.request("GET", f"/admin/projects/{quote(args.project)}/features")
    flags = sorted(f["name"] for f in features["features"] if ours(f["name"]))
    segments = {s["name"]: s["id"] for s in admin.request("GET", "/admin/segments")["segments"]}
    segment_names = sorted(name for name in segments if ours(name))
    tokens = {
        t["tokenName"]: t["secret"] for t in admin.request("GET", "/admin/api-tokens")["tokens"]
    }
    token_names = sorted(name for name in tokens if ours(name))
    apps = sorted(a["appName"] for a in admin.applications() if ours(a["appName"]))
    kept = [name for name in KEPT_STRATEGY_TYPES if admin.strategy_type(name) is not None]

    print(f"{len(flags)} flags, {len(segment_names)} segments, {len(token_names)} API tokens, "
          f"{len(apps)} applications made by the suite on {server.url}")  # fmt: skip
    if kept:
        print(f"kept: strategy types {', '.join(kept)}")
    if not args.yes:
        for name in flags + segment_names + token_names + apps:
            print(f"  {name}")
        print("run again with --yes to delete them")
        return 0

    failed = delete_all(flags, admin.delete_flag, "flag")
    failed += delete_all(segment_names, lambda n: admin.delete_segment(segments[n]), "segment")
    failed += delete_all(token_names, lambda n: admin.delete_api_token(tokens[n]), "API token")
    failed += delete_all(
        apps,
        lambda n: admin.request("DELETE", f"/admin/metrics/applications/{quote(n, safe='')}"),
        "application",
    )
    admin.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
