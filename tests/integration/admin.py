"""A thin client for the Unleash 7.x/8.x Admin API, for setting up test scenarios.

Routes are those of unleash-server 7.5.1's OpenAPI document (``/docs/openapi.json``),
unchanged in 8.2.0. Every method raises :class:`AdminApiError`, carrying the response
body, on a non-2xx answer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

JSON = Any
DEFAULT_ENVIRONMENT = "development"


class AdminApiError(RuntimeError):
    """The server answered an admin call with a non-2xx status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {body}")
        self.status = status
        self.body = body


def _segment(value: str | int) -> str:
    return quote(str(value), safe="")


@dataclass(frozen=True)
class ImpactSample:
    """One line of the server's impact metrics: ``suffix`` is "" for counters and
    gauges, "_bucket" (with an ``le`` label), "_sum" or "_count" for histograms."""

    suffix: str
    labels: dict[str, str]
    value: float


@dataclass
class ImpactMetric:
    """An impact metric as the server keeps it, under the name the SDK sent."""

    name: str
    type: str  # "counter", "gauge" or "histogram"
    help: str
    samples: list[ImpactSample] = field(default_factory=list)

    def value(self, suffix: str = "", **labels: str) -> float | None:
        """The value of the sample with exactly these labels (None when absent)."""
        for sample in self.samples:
            if sample.suffix == suffix and sample.labels == labels:
                return sample.value
        return None


# Labels the server adds to every sample (8.x; 7.x spells them unleash_origin and
# prefixes every label with unleash_).
_SERVER_LABELS = {"origin", "metric_type"}
_SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def parse_impact_metrics(text: str) -> dict[str, ImpactMetric]:
    """Read the Prometheus text of ``/internal-backstage/impact/metrics``.

    unleash-server 8.x names a metric as the SDK did (characters outside
    ``[a-zA-Z0-9_]`` become ``_``) and adds the labels ``origin`` and ``metric_type``;
    7.x names it ``unleash_<type>_<name>``, adds ``unleash_origin`` and prefixes the
    SDK's labels with ``unleash_``. Both come back as the SDK's name and labels.
    """
    metrics: dict[str, ImpactMetric] = {}
    helps: dict[str, str] = {}
    by_series: dict[str, ImpactMetric] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            series, _, help_text = line[len("# HELP ") :].partition(" ")
            helps[series] = help_text
        elif line.startswith("# TYPE "):
            series, _, kind = line[len("# TYPE ") :].partition(" ")
            name = series
            prefix = f"unleash_{kind}_"
            if name.startswith(prefix):  # 7.x
                name = name[len(prefix) :]
            metric = ImpactMetric(name, kind, helps.get(series, ""))
            metrics[name] = by_series[series] = metric
        elif line and not line.startswith("#"):
            match = _SAMPLE_LINE.match(line)
            if match is None:
                raise ValueError(f"not a Prometheus sample line: {line!r}")
            series, raw_labels, raw_value = match.groups()
            suffix = ""
            if series not in by_series:
                suffix = next(s for s in _HISTOGRAM_SUFFIXES if series.endswith(s))
                series = series.removesuffix(suffix)
            labels = {}
            for key, value in _LABEL.findall(raw_labels or ""):
                key = key.removeprefix("unleash_")
                if key not in _SERVER_LABELS:
                    labels[key] = value.replace('\\"', '"').replace("\\\\", "\\")
            by_series[series].samples.append(ImpactSample(suffix, labels, float(raw_value)))
    return metrics


class AdminApi:
    """Admin helpers bound to one server, token and project."""

    def __init__(
        self, api_url: str, admin_token: str, project: str = "default", timeout: float = 10.0
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.project = project
        self.timeout = timeout
        self.session = requests.Session()
        # Node closes idle keep-alive connections after 5 s; retry a request that met one.
        retry = Retry(total=2, connect=2, read=2, status=0, allowed_methods=None)
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.headers.update({"Authorization": admin_token, "Accept": "application/json"})

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path: str, body: JSON = None, **params: Any) -> JSON:
        """Call ``{api_url}{path}``; return the decoded JSON body, or None when empty."""
        response = self.session.request(
            method,
            f"{self.api_url}{path}",
            json=body,
            params=params or None,
            timeout=self.timeout,
        )
        if not response.ok:
            raise AdminApiError(method, path, response.status_code, response.text)
        if not response.content:
            return None
        if "json" not in response.headers.get("Content-Type", ""):
            return response.text
        return response.json()

    def _feature_path(self, name: str) -> str:
        return f"/admin/projects/{_segment(self.project)}/features/{_segment(name)}"

    def _environment_path(self, name: str, environment: str) -> str:
        return f"{self._feature_path(name)}/environments/{_segment(environment)}"

    # ----------------------------------------------------------------- flags

    def create_flag(
        self,
        name: str,
        *,
        flag_type: str = "release",
        impression_data: bool = False,
        description: str | None = None,
    ) -> JSON:
        body: dict[str, Any] = {"name": name, "type": flag_type, "impressionData": impression_data}
        if description is not None:
            body["description"] = description
        return self.request("POST", f"/admin/projects/{_segment(self.project)}/features", body)

    def get_flag(self, name: str) -> JSON:
        return self.request("GET", self._feature_path(name))

    def enable(self, name: str, environment: str = DEFAULT_ENVIRONMENT) -> None:
        self.request("POST", f"{self._environment_path(name, environment)}/on")

    def disable(self, name: str, environment: str = DEFAULT_ENVIRONMENT) -> None:
        self.request("POST", f"{self._environment_path(name, environment)}/off")

    def archive_flag(self, name: str) -> None:
        self.request("DELETE", self._feature_path(name))
        self._wait_for_lifecycle(name, lambda stages: "archived" in stages)

    def delete_flag(self, name: str) -> None:
        """Archive the flag, then delete it for good (the name can then be reused)."""
        self._wait_for_lifecycle(name, lambda stages: "initial" in stages)
        self.archive_flag(name)
        self.request("DELETE", f"/admin/archive/{_segment(name)}")

    def revive_flag(self, name: str) -> None:
        self.request("POST", f"/admin/archive/revive/{_segment(name)}")
        self._wait_for_lifecycle(name, lambda stages: stages == {"initial"})

    def lifecycle_stages(self, name: str) -> set[str]:
        """The flag's lifecycle stages (``initial``, ``archived``, ...)."""
        result = self.request("GET", f"{self._feature_path(name)}/lifecycle")
        return {entry["stage"] for entry in result}

    def _wait_for_lifecycle(
        self, name: str, settled: Callable[[set[str]], bool], timeout: float = 15.0
    ) -> None:
        """Wait until the server has handled the flag's last event.

        Unleash (7.5.1 and 8.2.0) writes lifecycle stages in listeners of the flag's
        events, which it announces up to a second later; a listener that runs after the
        flag was deleted violates a foreign key, and the unhandled rejection ends the
        server process. So a flag is deleted only once those writes are done.
        """
        deadline = time.monotonic() + timeout
        while not settled(stages := self.lifecycle_stages(name)):
            if time.monotonic() > deadline:
                raise AssertionError(f"lifecycle of {name} still {sorted(stages)} after {timeout}s")
            time.sleep(0.05)

    # ------------------------------------------------------------ strategies

    @staticmethod
    def _strategy_body(
        name: str,
        parameters: Mapping[str, str] | None,
        constraints: Iterable[Mapping[str, Any]] | None,
        segments: Iterable[int] | None,
        variants: Iterable[Mapping[str, Any]] | None,
        disabled: bool,
        title: str | None,
        sort_order: int | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": name,
            "parameters": dict(parameters or {}),
            "constraints": list(constraints or []),
            "segments": list(segments or []),
            "variants": list(variants or []),
            "disabled": disabled,
        }
        if title is not None:
            body["title"] = title
        if sort_order is not None:
            body["sortOrder"] = sort_order
        return body

    def add_strategy(
        self,
        flag: str,
        name: str = "default",
        *,
        environment: str = DEFAULT_ENVIRONMENT,
        parameters: Mapping[str, str] | None = None,
        constraints: Iterable[Mapping[str, Any]] | None = None,
        segments: Iterable[int] | None = None,
        variants: Iterable[Mapping[str, Any]] | None = None,
        disabled: bool = False,
        title: str | None = None,
        sort_order: int | None = None,
    ) -> JSON:
        """Add a strategy; returns it, including its ``id``.

        ``variants`` are strategy variants: ``{"name", "weight", "weightType",
        "stickiness", "payload"?}`` with weights out of 1000.
        """
        body = self._strategy_body(
            name, parameters, constraints, segments, variants, disabled, title, sort_order
        )
        return self.request("POST", f"{self._environment_path(flag, environment)}/strategies", body)

    def update_strategy(
        self,
        flag: str,
        strategy_id: str,
        name: str = "default",
        *,
        environment: str = DEFAULT_ENVIRONMENT,
        parameters: Mapping[str, str] | None = None,
        constraints: Iterable[Mapping[str, Any]] | None = None,
        segments: Iterable[int] | None = None,
        variants: Iterable[Mapping[str, Any]] | None = None,
        disabled: bool = False,
        title: str | None = None,
        sort_order: int | None = None,
    ) -> JSON:
        """Replace a strategy (PUT): fields left out are reset to their defaults."""
        body = self._strategy_body(
            name, parameters, constraints, segments, variants, disabled, title, sort_order
        )
        path = f"{self._environment_path(flag, environment)}/strategies/{_segment(strategy_id)}"
        return self.request("PUT", path, body)

    def delete_strategy(
        self, flag: str, strategy_id: str, environment: str = DEFAULT_ENVIRONMENT
    ) -> None:
        path = f"{self._environment_path(flag, environment)}/strategies/{_segment(strategy_id)}"
        self.request("DELETE", path)

    def strategies(self, flag: str, environment: str = DEFAULT_ENVIRONMENT) -> JSON:
        return self.request("GET", f"{self._environment_path(flag, environment)}/strategies")

    # -------------------------------------------------------------- variants

    def set_variants(
        self,
        flag: str,
        variants: Iterable[Mapping[str, Any]],
        environment: str = DEFAULT_ENVIRONMENT,
    ) -> JSON:
        """Overwrite the flag's feature-level ("environment") variants.

        Each variant: ``{"name", "weight", "weightType": "variable"|"fix",
        "stickiness", "payload"?, "overrides"?}``. Stock 7.x refuses these on
        flags that have none; scripts/unleash-server enables them.
        """
        path = f"{self._environment_path(flag, environment)}/variants"
        return self.request("PUT", path, list(variants))

    def patch_variants(
        self,
        flag: str,
        patches: Iterable[Mapping[str, Any]],
        environment: str = DEFAULT_ENVIRONMENT,
    ) -> JSON:
        """Apply JSON-patch operations to the flag's feature-level variants."""
        path = f"{self._environment_path(flag, environment)}/variants"
        return self.request("PATCH", path, list(patches))

    # -------------------------------------------------------------- segments

    def create_segment(
        self,
        name: str,
        constraints: Iterable[Mapping[str, Any]],
        description: str | None = None,
    ) -> JSON:
        """Create a global segment; returns it, including its numeric ``id``."""
        body: dict[str, Any] = {"name": name, "constraints": list(constraints)}
        if description is not None:
            body["description"] = description
        return self.request("POST", "/admin/segments", body)

    def update_segment(
        self,
        segment_id: int,
        name: str,
        constraints: Iterable[Mapping[str, Any]],
        description: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"name": name, "constraints": list(constraints)}
        if description is not None:
            body["description"] = description
        self.request("PUT", f"/admin/segments/{segment_id}", body)

    def delete_segment(self, segment_id: int) -> None:
        self.request("DELETE", f"/admin/segments/{segment_id}")

    # ---------------------------------------------------------- dependencies

    def add_dependency(
        self,
        child: str,
        parent: str,
        *,
        enabled: bool = True,
        variants: Iterable[str] | None = None,
    ) -> None:
        """Make ``child`` depend on ``parent`` being enabled (or disabled), optionally
        with one of ``variants``."""
        body: dict[str, Any] = {"feature": parent, "enabled": enabled}
        if variants is not None:
            body["variants"] = list(variants)
        self.request("POST", f"{self._feature_path(child)}/dependencies", body)

    def delete_dependency(self, child: str, parent: str) -> None:
        self.request("DELETE", f"{self._feature_path(child)}/dependencies/{_segment(parent)}")

    def delete_dependencies(self, child: str) -> None:
        self.request("DELETE", f"{self._feature_path(child)}/dependencies")

    # --------------------------------------------------------------- metrics

    def feature_usage(self, name: str) -> JSON:
        """``/client-metrics/features/{name}``: last hour's yes/no per environment
        and the apps that saw the flag. No variant counts."""
        return self.request("GET", f"/admin/client-metrics/features/{_segment(name)}")

    def raw_feature_metrics(self, name: str, hours_back: int = 1) -> list[dict[str, Any]]:
        """``/client-metrics/features/{name}/raw``: hourly buckets per app and
        environment, with yes/no and variant counts (empty hours are zero-filled)."""
        path = f"/admin/client-metrics/features/{_segment(name)}/raw"
        result = self.request("GET", path, hoursBack=hours_back)
        return list(result["data"])

    def metric_totals(
        self,
        name: str,
        *,
        app_name: str | None = None,
        environment: str | None = None,
        hours_back: int = 2,
    ) -> dict[str, Any]:
        """Sum the raw metrics of a flag: ``{"yes", "no", "variants": {name: n}}``.

        Two hours back by default: buckets are stamped with the start of their hour and
        the server keeps those with ``timestamp >= now() - hoursBack``, so with one hour
        the bucket of 10:00 vanishes at 11:00:01, while a test may still be waiting for it.
        """
        totals: dict[str, Any] = {"yes": 0, "no": 0, "variants": {}}
        for bucket in self.raw_feature_metrics(name, hours_back):
            if app_name is not None and bucket.get("appName") != app_name:
                continue
            if environment is not None and bucket.get("environment") != environment:
                continue
            totals["yes"] += bucket["yes"]
            totals["no"] += bucket["no"]
            for variant, count in (bucket.get("variants") or {}).items():
                totals["variants"][variant] = totals["variants"].get(variant, 0) + count
        return totals

    # -------------------------------------------------------- impact metrics

    def impact_metrics_text(self) -> str:
        """``GET /internal-backstage/impact/metrics`` (outside ``/api``, no token needed):
        the impact metrics SDKs sent in ``impactMetrics``, in Prometheus text format.

        This is where the open-source server shows them: one in-memory registry per
        server process (counters add up across apps, instances and environments; a
        restart empties it). 7.x keeps them only with the experimental flag
        ``impactMetrics`` on (scripts/unleash-server turns it on). The Admin API's
        impact-metrics charts are Enterprise-only and read an external Prometheus.
        """
        base_url = self.api_url.removesuffix("/api")
        response = self.session.get(
            f"{base_url}/internal-backstage/impact/metrics", timeout=self.timeout
        )
        if not response.ok:
            raise AdminApiError(
                "GET", "/internal-backstage/impact/metrics", response.status_code, response.text
            )
        return response.text

    def impact_metrics(self) -> dict[str, ImpactMetric]:
        """The server's impact metrics by the name the SDK gave them."""
        return parse_impact_metrics(self.impact_metrics_text())

    # ---------------------------------------------------------- applications

    def applications(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/admin/metrics/applications")["applications"])

    def application(self, app_name: str) -> JSON:
        return self.request("GET", f"/admin/metrics/applications/{_segment(app_name)}")

    def application_instances(
        self, app_name: str, environment: str = DEFAULT_ENVIRONMENT
    ) -> list[dict[str, Any]]:
        path = f"/admin/metrics/instances/{_segment(app_name)}/environment/{_segment(environment)}"
        return list(self.request("GET", path)["instances"])

    # ------------------------------------------------------------ playground

    def playground(
        self,
        context: Mapping[str, Any],
        environment: str = DEFAULT_ENVIRONMENT,
        projects: str | list[str] = "*",
    ) -> dict[str, dict[str, Any]]:
        """Evaluate every flag server-side; ``{flag: {"isEnabled", "variant", ...}}``.

        ``context`` is an SDK context and must contain ``appName``.
        """
        body = {"environment": environment, "projects": projects, "context": dict(context)}
        result = self.request("POST", "/admin/playground", body)
        return {feature["name"]: feature for feature in result["features"]}

    def evaluate(
        self, flag: str, context: Mapping[str, Any], environment: str = DEFAULT_ENVIRONMENT
    ) -> tuple[bool, dict[str, Any]]:
        """The server's ``(isEnabled, variant)`` for one flag and context."""
        feature = self.playground(context, environment)[flag]
        return bool(feature["isEnabled"]), dict(feature["variant"])

    def advanced_playground(
        self,
        context: Mapping[str, Any],
        environments: Iterable[str] = (DEFAULT_ENVIRONMENT,),
        projects: str | list[str] = "*",
    ) -> JSON:
        """Evaluate flags for every combination of the context's list values."""
        body = {
            "environments": list(environments),
            "projects": projects,
            "context": dict(context),
        }
        return self.request("POST", "/admin/playground/advanced", body)

    # ------------------------------------------------------------ api tokens

    def create_api_token(
        self,
        name: str,
        *,
        token_type: str = "backend",
        environment: str = DEFAULT_ENVIRONMENT,
        projects: Iterable[str] = ("*",),
        expires_at: str | None = None,
    ) -> str:
        """Create a backend (SDK) or frontend token; return its secret.

        The server always generates the secret: 7.5.1 strips a ``secret`` field from
        the request (``createApiToken`` schema, ``stripUnknown``).
        ``expires_at`` (ISO 8601) may lie in the past.
        """
        body: dict[str, Any] = {
            "tokenName": name,
            "type": token_type,
            "environment": environment,
            "projects": list(projects),
        }
        if expires_at is not None:
            body["expiresAt"] = expires_at
        return str(self.request("POST", "/admin/api-tokens", body)["secret"])

    def set_api_token_expiry(self, secret: str, expires_at: str) -> None:
        """Move a token's expiry (ISO 8601; the past expires it, the future renews it)."""
        self.request("PUT", f"/admin/api-tokens/{_segment(secret)}", {"expiresAt": expires_at})

    def delete_api_token(self, secret: str) -> None:
        self.request("DELETE", f"/admin/api-tokens/{_segment(secret)}")

    # ------------------------------------------------------- strategy types

    def strategy_type(self, name: str) -> JSON | None:
        """The strategy definition ``name`` (built-in or custom), or None if unknown."""
        try:
            return self.request("GET", f"/admin/strategies/{_segment(name)}")
        except AdminApiError as error:
            if error.status == 404:
                return None
            raise

    def ensure_strategy_type(self, name: str, parameters: Iterable[Mapping[str, Any]]) -> None:
        """Create a custom strategy type unless one by that name exists.

        7.x removed ``userWithId`` and the ``gradualRollout*`` types: flags can only
        use them once they exist again as custom strategy types.
        """
        if self.strategy_type(name) is not None:
            return
        body = {"name": name, "description": "unleash-lite tests", "parameters": list(parameters)}
        try:
            self.request("POST", "/admin/strategies", body)
        except AdminApiError as error:
            if error.status != 409:  # created concurrently
                raise
