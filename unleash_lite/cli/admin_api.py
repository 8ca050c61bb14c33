"""A small client for the Unleash Admin API (unleash-server 7.x and 8.x, checked against
7.5.1 and 8.2.0): the flags of a project with their state per environment (archived ones
too), one flag in detail, switching a flag on or off in an environment, and setting the
percentage of its flexibleRollout strategy.

It serves ``unleash-lite admin`` and ``flask unleash admin``, and is meant for any other
command that administers flags. It holds no command-line logic: every failure is an
:class:`AdminError` carrying the HTTP status (``None`` when there was no usable answer) and
a message that never contains the token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import quote

from .sources import display_url, redact

if TYPE_CHECKING:
    import requests

FLEXIBLE_ROLLOUT = "flexibleRollout"
DEFAULT_TIMEOUT = 10.0
SEARCH_PAGE = 100  # flags per request to the search API


class AdminError(Exception):
    """An Admin API call failed: ``status`` is the HTTP status, or ``None`` when the server
    could not be reached or did not answer with JSON; ``message`` says why (without the
    token)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RolloutError(AdminError):
    """``set_rollout`` cannot tell which strategy to change: the flag has several
    flexibleRollout strategies in the environment, or only strategies of other kinds."""


@dataclass(frozen=True)
class RolloutChange:
    """What :func:`set_rollout` did."""

    strategy: dict[str, Any]  # the flexibleRollout strategy as the server now holds it
    previous: int | None  # its rollout before, None when it was created
    others: tuple[str, ...]  # the names of the environment's other enabled strategies

    @property
    def created(self) -> bool:
        return self.previous is None


class _TokenAuth:
    """Sets the Authorization header (a requests auth handler)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._token
        return request

    def __repr__(self) -> str:
        return "_TokenAuth(***)"


def _segment(value: str) -> str:
    return quote(value, safe="")


class AdminClient:
    """The Admin API of one server, with one admin token (a personal access token or an
    admin API token). ``url`` is the API URL, ending with ``/api``."""

    def __init__(self, url: str, token: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        import requests  # the network stack, loaded by the commands that use it

        self.url = url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        # As an auth handler, not a plain header: requests would replace a header with the
        # user name and password of the URL, or with a ~/.netrc entry for the host.
        self._session.auth = _TokenAuth(token)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Any:
        """Call ``{url}{path}`` and return the decoded JSON answer (None when empty)."""
        import requests

        where = f"{method} {display_url(self.url)}{path}"
        try:
            response = self._session.request(
                method, f"{self.url}{path}", json=body, params=params, timeout=self.timeout
            )
        except requests.Timeout:
            raise AdminError(f"no answer within {self.timeout:g}s (for {where})") from None
        except requests.RequestException as error:
            raise AdminError(f"connection failed ({type(error).__name__}) for {where}") from None
        if not response.ok:
            reason = _server_message(response) or response.reason or "no reason given"
            raise AdminError(
                self._redact(f"{reason} (HTTP {response.status_code} for {where})"),
                response.status_code,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise AdminError(
                f"the answer to {where} is not JSON: check that the url ends with /api"
            ) from None

    def _redact(self, text: str) -> str:
        return redact(text, self._token)

    # ------------------------------------------------------------------ reading

    def projects(self) -> list[dict[str, Any]]:
        """Every project: ``{"id", "name", ...}``."""
        answer = _expect(self.request("GET", "/admin/projects"), dict, "/admin/projects")
        return _expect(answer.get("projects"), list, "/admin/projects")

    def flags(self, project: str | None = None, archived: bool = False) -> list[dict[str, Any]]:
        """The flags of ``project`` (of every project when None), the archived ones when
        ``archived``, sorted by name, through the search API: each has ``name``,
        ``project``, ``type``, ``stale``, ``lastSeenAt``, ``archivedAt`` and
        ``environments`` (``[{"name", "enabled", "hasStrategies", ...}]``).

        An unknown project raises a 404 :class:`AdminError` (the search API itself answers
        it with no flags)."""
        params: dict[str, str | int] = {"limit": SEARCH_PAGE, "sortBy": "name"}
        if project is not None:
            params["project"] = f"IS:{project}"
        if archived:
            params["archived"] = "IS:true"  # 8.x also reads lifecycle=IS:archived; 7.x not
        found: list[dict[str, Any]] = []
        while True:
            path = "/admin/search/features"
            page = _expect(
                self.request("GET", path, params={**params, "offset": len(found)}), dict, path
            )
            features = _expect(page.get("features"), list, path)
            total = page.get("total")
            found.extend(features)
            if not features or not isinstance(total, int) or len(found) >= total:
                break
        if not found and project is not None:
            self._check_project(project)
        return sorted(found, key=lambda flag: str(flag.get("name")))

    def _check_project(self, project: str) -> None:
        if all(entry.get("id") != project for entry in self.projects()):
            raise AdminError(f"there is no project {project!r}", 404)

    def flag(self, project: str, name: str) -> dict[str, Any]:
        """One flag, with its environments and their strategies."""
        path = _flag_path(project, name)
        return _expect(self.request("GET", path), dict, path)

    def environment(self, project: str, name: str, environment: str) -> dict[str, Any]:
        """The flag in one environment: ``{"name", "environment", "enabled", "strategies"}``."""
        path = _environment_path(project, name, environment)
        return _expect(self.request("GET", path), dict, path)

    def strategies(self, project: str, name: str, environment: str) -> list[dict[str, Any]]:
        """The flag's strategies in the environment, in their order."""
        path = f"{_environment_path(project, name, environment)}/strategies"
        return _expect(self.request("GET", path), list, path)

    # ----------------------------------------------------------------- changing

    def set_enabled(self, project: str, name: str, environment: str, enabled: bool) -> None:
        """Turn the flag on or off in the environment. Turned on with no enabled strategy,
        the server (7.5.1, 8.2.0) gives it a flexibleRollout of 100% (on for everyone)."""
        action = "on" if enabled else "off"
        self.request("POST", f"{_environment_path(project, name, environment)}/{action}")

    def add_strategy(
        self, project: str, name: str, environment: str, strategy: Mapping[str, Any]
    ) -> dict[str, Any]:
        path = f"{_environment_path(project, name, environment)}/strategies"
        return _expect(self.request("POST", path, dict(strategy)), dict, path)

    def patch_strategy(
        self,
        project: str,
        name: str,
        environment: str,
        strategy_id: str,
        operations: Sequence[Mapping[str, Any]],
    ) -> dict[str, Any]:
        """Apply JSON-patch ``operations`` to one strategy (what they leave alone stays)."""
        path = f"{_environment_path(project, name, environment)}/strategies/{_segment(strategy_id)}"
        return _expect(self.request("PATCH", path, [dict(op) for op in operations]), dict, path)


def set_rollout(
    admin: AdminClient,
    project: str,
    name: str,
    environment: str,
    percent: int,
    strategy_id: str | None = None,
) -> RolloutChange:
    """Set the rollout percentage of the flag's flexibleRollout strategy in the environment.

    Disabled strategies do not count (the server does not send them to SDKs), except one
    named by ``strategy_id``:

    * With ``strategy_id``: that strategy, which must be a flexibleRollout.
    * Else the environment's one enabled flexibleRollout strategy; only its ``rollout``
      changes. Other enabled strategies are left as they are; they are named in
      :attr:`RolloutChange.others`, since a flag is on when any strategy matches.
    * With no enabled strategy, a flexibleRollout is created (stickiness ``default``,
      group id the flag's name).
    * Several enabled flexibleRollout strategies, or enabled strategies of other kinds
      only: a :class:`RolloutError` saying so; nothing is changed.

    The environment is not switched on or off.
    """
    if not 0 <= percent <= 100:
        raise ValueError(f"a rollout is a percentage from 0 to 100, not {percent}")
    strategies = admin.strategies(project, name, environment)
    active = [s for s in strategies if not s.get("disabled")]
    if strategy_id is not None:
        chosen = [s for s in strategies if s.get("id") == strategy_id]
        if not chosen:
            raise AdminError(
                f"flag {name!r} has no strategy {strategy_id!r} in {environment!r}", 404
            )
        if chosen[0].get("name") != FLEXIBLE_ROLLOUT:
            raise RolloutError(
                f"strategy {strategy_id!r} of {name!r} is a {chosen[0].get('name')} strategy, "
                f"not a {FLEXIBLE_ROLLOUT}: it has no rollout percentage"
            )
    else:
        chosen = [s for s in active if s.get("name") == FLEXIBLE_ROLLOUT]
        if len(chosen) > 1:
            listed = ", ".join(describe_strategy(s) for s in chosen)
            raise RolloutError(
                f"flag {name!r} has {len(chosen)} {FLEXIBLE_ROLLOUT} strategies in "
                f"{environment!r} ({listed}); name the one to change with --strategy ID"
            )
        if not chosen and active:
            listed = ", ".join(describe_strategy(s) for s in active)
            raise RolloutError(
                f"flag {name!r} has no {FLEXIBLE_ROLLOUT} strategy in {environment!r}, only "
                f"{listed}; a rollout added beside them would not limit who they let in (a "
                "flag is on when any strategy matches): change them in Unleash first"
            )
    others = tuple(str(s.get("name")) for s in active if s not in chosen)
    if not chosen:
        created = admin.add_strategy(
            project,
            name,
            environment,
            {
                "name": FLEXIBLE_ROLLOUT,
                "parameters": {"rollout": str(percent), "stickiness": "default", "groupId": name},
                "constraints": [],
            },
        )
        return RolloutChange(created, None, others)
    strategy = chosen[0]
    operation = "replace" if "rollout" in (strategy.get("parameters") or {}) else "add"
    updated = admin.patch_strategy(
        project,
        name,
        environment,
        str(strategy["id"]),
        [{"op": operation, "path": "/parameters/rollout", "value": str(percent)}],
    )
    return RolloutChange(updated, rollout_of(strategy), others)


def rollout_of(strategy: Mapping[str, Any]) -> int:
    """The rollout percentage of a flexibleRollout strategy (0 when missing or not a whole
    number, as an SDK reads it: that strategy matches nobody)."""
    text = str((strategy.get("parameters") or {}).get("rollout", ""))
    return int(text) if text.isdigit() else 0


def describe_strategy(strategy: Mapping[str, Any]) -> str:
    """``flexibleRollout 25% id=... (2 constraints, disabled)``: a strategy in one line."""
    text = str(strategy.get("name"))
    if strategy.get("name") == FLEXIBLE_ROLLOUT:
        text += f" {rollout_of(strategy)}%"
    if strategy.get("title"):
        text += f" {strategy['title']!r}"
    text += f" id={strategy.get('id')}"
    notes = []
    for field, word in (("constraints", "constraint"), ("segments", "segment")):
        count = len(strategy.get(field) or [])
        if count:
            notes.append(f"{count} {word}{'s' if count != 1 else ''}")
    if strategy.get("disabled"):
        notes.append("disabled")
    return f"{text} ({', '.join(notes)})" if notes else text


@overload
def _expect(data: Any, kind: type[dict[Any, Any]], path: str) -> dict[str, Any]: ...
@overload
def _expect(data: Any, kind: type[list[Any]], path: str) -> list[dict[str, Any]]: ...
def _expect(data: Any, kind: type[Any], path: str) -> Any:
    """``data`` when it is a ``kind`` (a list: of JSON objects); else an :class:`AdminError`
    (a server, or a proxy, answering something else than the Admin API)."""
    fits = isinstance(data, kind) and (
        kind is not list or all(isinstance(item, dict) for item in data)
    )
    if not fits:
        raise AdminError(f"unexpected answer to {path}: not what the Unleash Admin API sends")
    return data


def _server_message(response: requests.Response) -> str:
    """The ``message`` of an Unleash error answer, or ""."""
    try:
        data = response.json()
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return message if isinstance(message, str) else ""


def _flag_path(project: str, name: str) -> str:
    return f"/admin/projects/{_segment(project)}/features/{_segment(name)}"


def _environment_path(project: str, name: str, environment: str) -> str:
    return f"{_flag_path(project, name)}/environments/{_segment(environment)}"
