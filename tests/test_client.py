"""UnleashClient: the official constructor surface, bootstrap, hostile inputs, fallbacks,
explanations and the typed Context. Every client here is offline (``url=""``) or never
initialised, so no test touches the network."""

from __future__ import annotations

import json
import logging
import math
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from tests.support.doubles import DictCache
from tests.support.payloads import (
    bucket,
    constraint,
    delta,
    dependency,
    expected_variant,
    feature,
    feature_updated,
    hydration,
    override,
    payload,
    rollout,
    segment,
    strategy,
    variant,
)
from unleash_lite import (
    Context,
    FileCache,
    InstanceAllowType,
    PayloadError,
    Reason,
    Snapshot,
    UnleashClient,
)
from unleash_lite.engine import disabled_variant

REPO = Path(__file__).resolve().parent.parent
VARIANT_KEYS = {"name", "enabled", "feature_enabled"}
PAYLOAD = {"type": "string", "value": "hello"}

FLAGS = payload(
    feature("on"),
    feature("off", enabled=False),
    feature("experiment", type="experiment", project="web"),
    feature("rollout", [rollout(50, "userId", "grp")]),
    feature("random-rollout", [rollout(50, "random")]),
    feature(
        "constraints",
        [
            strategy(
                constraints=[
                    constraint("country", "IN", ["NO"]),
                    constraint("email", "STR_ENDS_WITH", ["@example.com"], case_insensitive=True),
                    constraint("age", "NUM_GTE", value="18"),
                    constraint("currentTime", "DATE_AFTER", value="2000-01-01T00:00:00Z"),
                    constraint("appVersion", "SEMVER_GTE", value="1.0.0"),
                    constraint("email", "REGEX", value="^[[:alpha:]]+@"),
                    constraint("remoteAddress", "IN_CIDR", ["10.0.0.0/8"]),
                ]
            )
        ],
    ),
    feature("segmented", [strategy(segments=[1])]),
    feature(
        "variants",
        variants=[
            variant("a", 50, payload=PAYLOAD),
            variant("b", 50, overrides=[override("userId", "vip")]),
        ],
    ),
    feature(
        "strategy-variants",
        [rollout(100, "sessionId", "sv", variants=[variant("x", 1), variant("y", 1)])],
    ),
    feature("child", dependencies=[dependency("rollout")]),
    feature("custom", [strategy("tenantCheck", {"tenants": "acme"})]),
    feature("hosts", [strategy("applicationHostname", {"hostNames": "web-7"})]),
    segments=[segment(1, constraint("plan", "IN", ["pro"]))],
)

MATCHING = {
    "userId": "1",
    "sessionId": "s1",
    "remoteAddress": "10.1.1.1",
    "currentTime": datetime(2024, 6, 1, tzinfo=UTC),
    "properties": {
        "country": "NO",
        "email": "Ola@EXAMPLE.com",
        "age": 30,
        "appVersion": "2.0.0",
        "plan": "pro",
        "tenant": "acme",
    },
}


class TenantCheck:
    def __init__(self) -> None:
        self.contexts: list[Mapping[str, Any]] = []

    def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        self.contexts.append(context)
        tenant = (context.get("properties") or {}).get("tenant")
        return tenant in str(parameters.get("tenants", "")).split(",")


def offline(bootstrap: Any = FLAGS, **kwargs: Any) -> UnleashClient:
    return UnleashClient(url="", app_name="tests", bootstrap=bootstrap, **kwargs)


# -- construction -----------------------------------------------------------------------------


def test_accepts_every_official_constructor_keyword(tmp_path: Path) -> None:
    # Constructed only: never initialised, so nothing is fetched and no scheduler starts.
    events: list[Any] = []
    cache = FileCache("kwargs", directory=tmp_path)
    client = UnleashClient(
        url="http://127.0.0.1:9/api/",
        app_name="my-app",
        environment="staging",
        instance_id="instance-1",
        refresh_interval=5,
        refresh_jitter=1,
        metrics_interval=30,
        metrics_jitter=2,
        disable_metrics=True,
        disable_registration=True,
        custom_headers={"Authorization": "token"},
        custom_options={"verify": False},
        request_timeout=3,
        request_retries=1,
        custom_strategies={"tenantCheck": TenantCheck()},
        cache_directory=str(tmp_path),
        project_name="web",
        verbose_log_level=10,
        cache=cache,
        scheduler=BackgroundScheduler(),
        scheduler_executor="default",
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
        event_callback=events.append,
    )
    config = client.config
    assert config.url == "http://127.0.0.1:9/api/"
    assert config.api_url == "http://127.0.0.1:9/api"
    assert config.offline is False
    assert (config.app_name, config.environment, config.instance_id) == (
        "my-app",
        "staging",
        "instance-1",
    )
    assert (config.refresh_interval, config.refresh_jitter) == (5, 1)
    assert (config.metrics_interval, config.metrics_jitter) == (30, 2)
    assert config.disable_metrics is True and config.disable_registration is True
    assert config.custom_headers == {"Authorization": "token"}
    assert config.custom_options == {"verify": False}
    assert (config.request_timeout, config.request_retries) == (3, 1)
    assert config.cache_directory == str(tmp_path)
    assert config.project_name == "web"
    assert config.verbose_log_level == 10
    assert config.event_callback is not None
    assert client.cache is cache
    assert set(client.custom_strategies) == {"tenantCheck"}
    assert client.is_initialized is False
    assert client.unleash_bootstrapped is False
    assert client.feature_definitions() == {}
    assert client.is_enabled("anything") is False


def test_positional_url_and_app_name_and_defaults() -> None:
    client = UnleashClient("", "app")
    assert client.config.offline is True
    assert client.config.environment == "default"
    assert client.config.instance_id  # generated
    assert client.feature_definitions() == {}
    assert client.is_enabled("anything") is False
    assert "app" in repr(client) and "flags=0" in repr(client)


def test_instance_ids_are_unique_by_default() -> None:
    assert UnleashClient("", "a").config.instance_id != UnleashClient("", "a").config.instance_id


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "", "app_name": ""},
        {"url": None, "app_name": "a"},
        {"url": "", "app_name": "a", "refresh_interval": 0},
        {"url": "", "app_name": "a", "metrics_interval": -1},
        {"url": "", "app_name": "a", "request_timeout": 0},
    ],
)
def test_invalid_configuration_is_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        UnleashClient(**kwargs)


# -- bootstrap --------------------------------------------------------------------------------


def write_flags(path: Path, raw: Any = FLAGS) -> Path:
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


@pytest.mark.parametrize("form", ["dict", "json", "json-padded", "bytes", "str-path", "path"])
def test_bootstrap_forms(form: str, tmp_path: Path) -> None:
    file = write_flags(tmp_path / "flags.json")
    source: Any = {
        "dict": FLAGS,
        "json": json.dumps(FLAGS),
        "json-padded": "\n  " + json.dumps(FLAGS),
        "bytes": json.dumps(FLAGS).encode(),
        "str-path": str(file),
        "path": file,
    }[form]
    client = offline(source)
    assert client.unleash_bootstrapped is True
    assert set(client.feature_definitions()) == {f["name"] for f in FLAGS["features"]}
    assert client.is_enabled("on") is True
    assert client.is_enabled("off") is False


def test_bootstrap_in_delta_format(tmp_path: Path) -> None:
    raw = delta(hydration(feature("a"), feature("b")), feature_updated(feature("b", enabled=False)))
    for source in (raw, json.dumps(raw), write_flags(tmp_path / "delta.json", raw)):
        client = offline(source)
        assert client.unleash_bootstrapped is True
        assert client.is_enabled("a") is True
        assert client.is_enabled("b") is False


INVALID_BOOTSTRAPS: list[Any] = [
    "{not json",
    '{"features": "nope"}',
    '{"hello": "world"}',
    "[1, 2, 3]",
    "/no/such/dir/flags.json",
    "",
    b"\xff\xfe{",
    {"features": {"a": 1}},
    {"something": "else"},
    {"events": "not a list"},
]


@pytest.mark.parametrize("source", INVALID_BOOTSTRAPS)
def test_an_offline_client_refuses_an_unusable_bootstrap(source: Any) -> None:
    # Offline the bootstrap is the only source of flags: every flag would answer its default.
    with pytest.raises(ValueError, match=r"^bootstrap is not a usable .*only source of flags"):
        offline(source)


@pytest.mark.parametrize("source", INVALID_BOOTSTRAPS)
def test_a_client_with_a_server_logs_an_unusable_bootstrap_and_does_not_raise(
    source: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="unleash_lite"):
        client = UnleashClient(
            url="http://127.0.0.1:9/api",
            app_name="tests",
            custom_headers={"Authorization": "token"},
            cache_directory=str(tmp_path),
            bootstrap=source,
        )
    assert client.unleash_bootstrapped is False
    assert client.feature_definitions() == {}
    assert client.is_enabled("on") is False
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "bootstrap" in errors[0].getMessage()


def test_invalid_bootstrap_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{ half", encoding="utf-8")
    not_utf8 = tmp_path / "latin1.json"
    not_utf8.write_bytes(b'{"features": ["\xe6"]}')
    array = write_flags(tmp_path / "array.json", [FLAGS])
    missing = tmp_path / "missing.json"
    for source, detail in (
        (broken, r"broken\.json is not valid JSON"),
        (not_utf8, "codec can't decode"),
        (array, r"array\.json does not hold a JSON object"),
        (tmp_path, "cannot read bootstrap file"),
        (str(missing), "cannot read bootstrap file .*missing.json"),
    ):
        with pytest.raises(ValueError, match=detail):
            offline(source)


def test_an_offline_bootstrap_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(TypeError, match="bootstrap must be a dict, a JSON string or a path"):
        offline([feature("a")])


# -- evaluation -------------------------------------------------------------------------------


def test_evaluates_like_the_engine() -> None:
    client = offline(custom_strategies={"tenantCheck": TenantCheck()})
    assert client.is_enabled("on") is True
    assert client.is_enabled("off") is False
    assert client.is_enabled("constraints", MATCHING) is True
    assert client.is_enabled("constraints", {**MATCHING, "remoteAddress": "11.0.0.1"}) is False
    assert client.is_enabled("segmented", {"properties": {"plan": "pro"}}) is True
    assert client.is_enabled("segmented", {"properties": {"plan": "free"}}) is False
    assert client.is_enabled("custom", MATCHING) is True
    for user in ("1", "2", "3", "alice", "bob"):
        expected = bucket("grp", user) <= 50
        assert client.is_enabled("rollout", {"userId": user}) is expected
        assert client.is_enabled("child", {"userId": user}) is expected


def test_get_variant_results() -> None:
    client = offline()
    for user in ("1", "2", "3", "4"):
        result = client.get_variant("variants", {"userId": user})
        wanted = expected_variant("variants", user, [("a", 50), ("b", 50)])
        assert result["name"] == wanted
        assert result["enabled"] is True and result["feature_enabled"] is True
        assert ("payload" in result) is (wanted == "a")
    assert client.get_variant("variants", {"userId": "vip"})["name"] == "b"
    assert client.get_variant("off") == disabled_variant(False)
    assert client.get_variant("on") == disabled_variant(True)
    assert client.get_variant("unknown") == disabled_variant(False)
    session = client.get_variant("strategy-variants", {"sessionId": "abc"})
    assert session["name"] == expected_variant("sv", "abc", [("x", 1), ("y", 1)])


def test_get_variant_answers_are_independent_copies() -> None:
    client = offline()
    weights = [("a", 50), ("b", 50)]
    user = next(u for u in map(str, range(100)) if expected_variant("variants", u, weights) == "a")
    first = client.get_variant("variants", {"userId": user})
    assert first["payload"] == PAYLOAD
    first["name"] = "changed"
    first["payload"]["value"] = "changed"
    second = client.get_variant("variants", {"userId": user})
    assert second == {"name": "a", "payload": PAYLOAD, "enabled": True, "feature_enabled": True}


def test_custom_strategy_receives_the_clients_static_context() -> None:
    tenant_check = TenantCheck()
    client = UnleashClient(
        url="",
        app_name="shop",
        environment="production",
        bootstrap=FLAGS,
        custom_strategies={"tenantCheck": tenant_check},
    )
    assert client.is_enabled("custom", {"userId": "1", "properties": {"tenant": "acme"}})
    assert not client.is_enabled("custom", {"userId": "1", "properties": {"tenant": "other"}})
    seen = tenant_check.contexts[0]
    assert seen["appName"] == "shop"
    assert seen["environment"] == "production"
    assert seen["userId"] == "1"


def test_unregistered_custom_strategy_is_off() -> None:
    assert offline().is_enabled("custom", MATCHING) is False


def test_static_app_name_and_environment_feed_constraints() -> None:
    flags = payload(
        feature("prod-only", [strategy(constraints=[constraint("environment", "IN", ["prod"])])]),
        feature("shop-only", [strategy(constraints=[constraint("appName", "IN", ["shop"])])]),
    )
    client = UnleashClient(url="", app_name="shop", environment="prod", bootstrap=flags)
    assert client.is_enabled("prod-only") is True
    assert client.is_enabled("shop-only") is True
    assert client.is_enabled("prod-only", {"environment": "dev"}) is False
    other = UnleashClient(url="", app_name="web", environment="dev", bootstrap=flags)
    assert other.is_enabled("prod-only") is False
    assert other.is_enabled("shop-only") is False


def test_application_hostname_uses_this_hosts_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "WEB-7")
    assert offline().is_enabled("hosts") is True
    monkeypatch.setattr(socket, "gethostname", lambda: "db-1")
    assert offline().is_enabled("hosts") is False


# -- hostile input ----------------------------------------------------------------------------


class Weird:
    def __str__(self) -> str:
        return "weird"


HOSTILE_CONTEXTS: list[Any] = [
    None,
    [],
    ["userId", "1"],
    "userId=1",
    42,
    3.5,
    True,
    b"bytes",
    Weird(),
    {1: "one", None: "none", (1, 2): "tuple", 2.5: [1]},
    {"userId": None, "sessionId": None, "properties": None},
    {"userId": ["nested", {"list": [1, 2]}]},
    {"userId": {"deep": {"er": {"still": [None]}}}},
    {"userId": 10**30, "sessionId": -0.0, "remoteAddress": 12345},
    {"userId": math.nan, "properties": {"age": math.inf}},
    {"userId": "x" * 1_000_000, "properties": {"email": "@" * 100_000}},
    {
        "userId": "\U0001f3f3\ufe0f\u200d\U0001f308\x00\u200b\ufeff\uffff\U0001d518\U0001d52b",
        "properties": {"country": "\uff2e\u030aO", "email": "\u202eevil\u202c@example.com"},
    },
    {"properties": "country=NO"},
    {"properties": ["NO"]},
    {"properties": {1: 2, None: 3, "country": ["NO"], "age": {"n": 1}}},
    {"currentTime": datetime.now(), "properties": {"appVersion": b"1.0.0"}},
    {"currentTime": "garbage", "remoteAddress": "::1%eth0"},
    {"currentTime": 1_700_000_000, "remoteAddress": "999.1.1.1"},
    {"userId": uuid.uuid4(), "sessionId": uuid.uuid4()},
    {"userId": Weird(), "properties": {"email": Weird()}},
    {"appName": None, "environment": 5},
    Context(user_id="1", country="NO"),
]
HOSTILE_NAMES: list[Any] = [None, 1, 1.5, ["list"], {"a": 1}, {"set"}, b"on", "", "x" * 100_000]


@pytest.mark.parametrize("context", HOSTILE_CONTEXTS, ids=lambda c: type(c).__name__)
def test_is_enabled_and_get_variant_never_raise_for_hostile_contexts(context: Any) -> None:
    client = offline(custom_strategies={"tenantCheck": TenantCheck()})
    for name in [*client.feature_definitions(), "unknown"]:
        assert client.is_enabled(name, context) in (True, False)
        result = client.get_variant(name, context)
        assert isinstance(result, dict) and set(result) >= VARIANT_KEYS
        explanation = client.explain(name, context)
        assert explanation.enabled in (True, False)
    assert client.is_enabled("on", context) is True
    assert client.is_enabled("off", context) is False


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: type(n).__name__)
def test_is_enabled_and_get_variant_never_raise_for_hostile_names(name: Any) -> None:
    client = offline()
    assert client.is_enabled(name, MATCHING) is False
    assert client.get_variant(name, MATCHING) == disabled_variant(False)
    assert client.explain(name, MATCHING).enabled is False
    assert client.is_enabled(name, MATCHING, fallback_function=lambda n, c: True) is True


def test_lone_surrogate_user_id_does_not_crash_the_process() -> None:
    script = """
import json
from unleash_lite import UnleashClient
flags = {"features": [
    {"name": "r", "enabled": True, "strategies": [
        {"name": "flexibleRollout", "parameters": {"rollout": "100", "stickiness": "userId"}}]},
    {"name": "v", "enabled": True, "strategies": [],
     "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]},
]}
client = UnleashClient(url="", app_name="x", bootstrap=flags)
context = json.loads('{"userId": "\\\\ud800"}')
print(client.is_enabled("r", context), client.get_variant("v", context)["enabled"])
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-500:]}"
    assert done.stdout.split() == ["True", "True"]


# -- fallback ---------------------------------------------------------------------------------


def test_fallback_is_used_for_unknown_flags_with_name_and_enriched_context() -> None:
    """As the official SDK: the fallback sees the static fields, ``currentTime`` and the
    custom fields gathered under ``properties``; the caller's dict is left as it was."""
    client = offline()
    calls: list[tuple[str, Any]] = []

    def fallback(name: str, context: Mapping[str, Any]) -> bool:
        calls.append((name, context))
        return True

    context = {"userId": "1", "plan": "pro", "properties": {"region": "eu"}}
    assert client.is_enabled("unknown", context, fallback_function=fallback) is True
    ((name, seen),) = calls
    assert name == "unknown"
    assert datetime.fromisoformat(seen.pop("currentTime")).tzinfo is not None
    assert seen == {
        "appName": client.config.app_name,
        "environment": "default",
        "userId": "1",
        "properties": {"plan": "pro", "region": "eu"},
    }
    assert context == {"userId": "1", "plan": "pro", "properties": {"region": "eu"}}
    at = datetime(2026, 1, 2, tzinfo=UTC)
    assert client.is_enabled("unknown", {"currentTime": at}, fallback_function=fallback)
    assert calls[-1][1]["currentTime"] is at  # a time the caller gave is kept
    assert client.is_enabled("unknown", None, fallback_function=fallback) is True
    assert set(calls[-1][1]) == {"appName", "environment", "currentTime", "properties"}


def test_fallback_is_not_used_for_known_flags() -> None:
    client = offline()
    calls: list[str] = []

    def fallback(name: str, context: Mapping[str, Any]) -> bool:
        calls.append(name)
        return True

    assert client.is_enabled("off", {}, fallback_function=fallback) is False
    assert client.is_enabled("on", {}, fallback_function=fallback) is True
    assert calls == []


def test_fallback_answer_is_read_as_a_bool() -> None:
    client = offline()
    assert client.is_enabled("unknown", fallback_function=lambda n, c: "yes") is True
    assert client.is_enabled("unknown", fallback_function=lambda n, c: 0) is False
    assert client.is_enabled("unknown", fallback_function=lambda n, c: None) is False


def test_raising_fallback_answers_false() -> None:
    def broken(name: str, context: Mapping[str, Any]) -> bool:
        raise RuntimeError("fallback bug")

    client = offline()
    assert client.is_enabled("unknown", {}, fallback_function=broken) is False
    explanation = client.explain("unknown", {}, fallback_function=broken)
    assert explanation.reason is Reason.FALLBACK
    assert explanation.enabled is False


def test_fallback_that_is_not_callable_answers_false() -> None:
    client = offline()
    assert client.is_enabled("unknown", {}, fallback_function="nope") is False  # type: ignore[arg-type]


# -- flag state -------------------------------------------------------------------------------


def test_feature_definitions_shape() -> None:
    definitions = offline().feature_definitions()
    assert definitions["on"] == {"type": "release", "project": "default"}
    assert definitions["experiment"] == {"type": "experiment", "project": "web"}
    assert definitions["off"] == {"type": "release", "project": "default"}
    bare = offline({"features": [{"name": "bare"}]}).feature_definitions()
    assert bare == {"bare": {"type": "release", "project": "default"}}
    assert all(set(value) == {"type", "project"} for value in definitions.values())


def test_apply_payload_swaps_the_snapshot() -> None:
    client = offline()
    before = client.snapshot
    assert isinstance(before, Snapshot)
    assert client.is_enabled("experiment", {"userId": "1"}) in (True, False)  # compiles it
    returned = client.apply_payload(delta(feature_updated(feature("on", enabled=False))))
    assert client.snapshot is returned
    assert client.is_enabled("on") is False
    assert before.is_enabled("on", {}) is True
    assert client.snapshot.features["experiment"] is before.features["experiment"]


def test_apply_payload_rejects_non_payloads_and_keeps_flags() -> None:
    client = offline()
    before = client.snapshot
    for bad in (None, [], "features", {"nothing": 1}, {"features": None}):
        with pytest.raises(PayloadError):
            client.apply_payload(bad)
    assert client.snapshot is before


def test_readers_see_whole_snapshots_while_a_writer_swaps() -> None:
    first = payload(feature("stable"), feature("flip", enabled=True))
    second = payload(feature("stable"), feature("flip", enabled=False))
    client = offline(first)
    problems: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            if client.is_enabled("stable", {"userId": "1"}) is not True:
                problems.append("stable flag flickered")
            if client.is_enabled("flip") not in (True, False):
                problems.append("non-bool answer")

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for round_number in range(200):
        client.apply_payload(second if round_number % 2 else first)
    stop.set()
    for reader in readers:
        reader.join()
    assert problems == []


# -- explain ----------------------------------------------------------------------------------


def test_explain_reasons() -> None:
    client = offline(
        {
            **FLAGS,
            "features": [
                *FLAGS["features"],
                feature("broken", [strategy(segments=[42])]),
                feature("no-strategies", []),
            ],
        }
    )
    assert client.explain("unknown").reason is Reason.UNKNOWN_FLAG
    assert client.explain("off").reason is Reason.DISABLED
    assert client.explain("broken").reason is Reason.INVALID_DEFINITION
    assert client.explain("no-strategies").reason is Reason.NO_STRATEGIES

    loser = next(u for u in (f"u{n}" for n in range(500)) if bucket("grp", u) > 50)
    unmet = client.explain("child", {"userId": loser})
    assert unmet.reason is Reason.DEPENDENCY_UNMET and "'rollout'" in unmet.message

    winner = next(u for u in (f"u{n}" for n in range(500)) if bucket("grp", u) <= 50)
    matched = client.explain("rollout", {"userId": winner})
    assert matched.reason is Reason.STRATEGY_MATCHED
    assert matched.strategy is not None
    assert (matched.strategy.bucket, matched.strategy.rollout) == (bucket("grp", winner), 50)

    failed = client.explain("constraints", {**MATCHING, "properties": {"country": "DK"}})
    assert failed.reason is Reason.NO_STRATEGY_MATCHED
    assert failed.strategies[0].seen_value == "DK"
    assert "'DK'" in failed.message


def test_explain_with_a_fallback() -> None:
    client = offline()
    result = client.explain("unknown", {"userId": "1"}, fallback_function=lambda n, c: True)
    assert result.reason is Reason.FALLBACK
    assert result.enabled is True
    assert "True" in result.message
    known = client.explain("off", {}, fallback_function=lambda n, c: True)
    assert known.reason is Reason.DISABLED


def test_explain_never_raises_for_an_unhashable_name() -> None:
    result = offline().explain(["not", "hashable"])  # type: ignore[arg-type]
    assert result.enabled is False
    assert result.reason is Reason.INVALID_DEFINITION


# -- typed Context ----------------------------------------------------------------------------


def test_typed_context_equals_the_dict_form_and_evaluates_the_same() -> None:
    moment = datetime(2024, 6, 1, 12, tzinfo=UTC)
    typed = Context(
        user_id="1",
        session_id="s1",
        remote_address="10.1.1.1",
        current_time=moment,
        properties={"country": "NO", "plan": "pro", "tenant": "acme"},
        email="Ola@EXAMPLE.com",
        age=30,
        appVersion="2.0.0",
    )
    plain = {
        "userId": "1",
        "sessionId": "s1",
        "remoteAddress": "10.1.1.1",
        "currentTime": moment,
        "properties": {
            "country": "NO",
            "plan": "pro",
            "tenant": "acme",
            "email": "Ola@EXAMPLE.com",
            "age": 30,
            "appVersion": "2.0.0",
        },
    }
    assert typed == plain
    client = offline(custom_strategies={"tenantCheck": TenantCheck()})
    for name in client.feature_definitions():
        if name == "random-rollout":
            continue
        assert client.is_enabled(name, typed) is client.is_enabled(name, plain), name
        assert client.get_variant(name, typed) == client.get_variant(name, plain), name
        assert client.explain(name, typed) == client.explain(name, plain), name
    assert client.is_enabled("constraints", typed) is True


# -- caches -----------------------------------------------------------------------------------


def test_client_starts_from_a_bootstrapped_file_cache(tmp_path: Path) -> None:
    cache = FileCache("app", directory=tmp_path)
    cache.bootstrap_from_dict(FLAGS)
    client = UnleashClient(url="", app_name="tests", cache=cache)
    assert client.unleash_bootstrapped is True
    assert client.is_enabled("on") is True
    assert set(client.feature_definitions()) == {f["name"] for f in FLAGS["features"]}


def test_bootstrap_argument_wins_over_the_cache(tmp_path: Path) -> None:
    cache = FileCache("app", directory=tmp_path)
    cache.bootstrap_from_dict(payload(feature("from-cache")))
    client = offline(payload(feature("from-argument")), cache=cache)
    assert list(client.feature_definitions()) == ["from-argument"]


def test_client_starts_from_a_custom_cache_holding_a_dict() -> None:
    client = UnleashClient(
        url="",
        app_name="tests",
        cache=DictCache({"/client/features": payload(feature("x"))}, bootstrapped=True),
    )
    assert client.is_enabled("x") is True


@pytest.mark.parametrize("stored", ["{broken", "[]", {"features": "no"}, b"\xff", 42])
def test_unusable_flags_in_the_cache_are_ignored_with_a_warning(
    stored: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cache = DictCache({"/client/features": stored}, bootstrapped=True)
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        client = UnleashClient(url="", app_name="tests", cache=cache)
    assert client.unleash_bootstrapped is False
    assert client.feature_definitions() == {}
    assert any("cache" in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


def test_a_bootstrapped_cache_without_flags_leaves_the_client_empty() -> None:
    client = UnleashClient(url="", app_name="tests", cache=DictCache({}, bootstrapped=True))
    assert client.unleash_bootstrapped is False
    assert client.feature_definitions() == {}


def test_flags_kept_in_a_cache_from_an_earlier_fetch_are_used_at_start() -> None:
    cache = DictCache({"/client/features": json.dumps(payload(feature("kept")))}, False)
    client = UnleashClient(url="", app_name="tests", cache=cache)
    assert client.is_enabled("kept") is True
    assert client.unleash_bootstrapped is False


def test_destroying_a_client_twice_keeps_counting_its_duplicates(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = offline(instance_id="twice")
    second = offline(instance_id="twice")  # a duplicate, warned about; stays alive
    first.destroy()
    first.destroy()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        third = offline(instance_id="twice")
    assert any("already have" in record.getMessage() for record in caplog.records)
    second.destroy()
    third.destroy()
