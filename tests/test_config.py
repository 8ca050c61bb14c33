"""Configuration checks at construction: credentials masked wherever a URL is shown,
misconfiguration refused with the keyword named, doubtful settings warned about once."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import new_client
from tests.support.payloads import feature, payload
from unleash_lite import InstanceAllowType, UnleashClient
from unleash_lite.config import (
    DEFAULT_REFRESH_INTERVAL,
    DEFAULT_REQUEST_RETRIES,
    DEFAULT_REQUEST_TIMEOUT,
    ClientConfig,
    redact_url,
)
from unleash_lite.errors import MultipleInstancesNotAllowedError

TOKEN = "default:production.9f8e7d6c5b4a"
API = "https://unleash.example.com/api"


class Strategy:
    def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        return True


def client(url: str, tmp_path: Path, **options: Any) -> UnleashClient:
    """A client that is built only (never initialised: nothing touches the network)."""
    settings: dict[str, Any] = {
        "app_name": "config-tests",
        "refresh_interval": DEFAULT_REFRESH_INTERVAL,
        "request_timeout": DEFAULT_REQUEST_TIMEOUT,
        "request_retries": DEFAULT_REQUEST_RETRIES,
    }
    return new_client(url, tmp_path, TOKEN, **{**settings, **options})


def unleash_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "unleash_lite" and record.levelno == logging.WARNING
    ]


# -- credentials in the URL -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://flags:pa55word@unleash.example.com/api", "https://***@unleash.example.com/api"),
        (
            "https://s3cr3t@unleash.example.com:8443/api/",
            "https://***@unleash.example.com:8443/api/",
        ),
        ("https://fl%40gs:p%3Ass@[::1]:4242/api", "https://***@[::1]:4242/api"),
        ("flags:pa55word@unleash.example.com/api", "***@unleash.example.com/api"),
        ("https://flags:pa#55@unleash.example.com/api", "https://***@unleash.example.com/api"),
        ("https://flags:pa/55@unleash.example.com/api", "https://***@unleash.example.com/api"),
        ("http://flags:pa55@[::1/api", "http://***@[::1/api"),
        ("https://unleash.example.com/api?token=abc&apikey=def", f"{API}?token=***&apikey=***"),
        ("https://unleash.example.com/api?abc", f"{API}?***"),
        ("https://unleash.example.com/api#abc", f"{API}#***"),
        (API, API),
        ("http://127.0.0.1:4242/api", "http://127.0.0.1:4242/api"),
        ("", ""),
    ],
)
def test_redact_url_masks_user_names_passwords_query_values_and_fragments(
    url: str, shown: str
) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("https://flags-user:pa55word@unleash.example.com/api", ["flags-user", "pa55word"]),
        ("https://s3cr3t-t0ken@unleash.example.com/api", ["s3cr3t-t0ken"]),  # user name only
    ],
)
def test_credentials_in_the_url_never_show_in_reprs_or_the_duplicate_warning(
    url: str, secrets: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = client(url, tmp_path, instance_id="one")
    second = client(url, tmp_path, instance_id="one")  # the same configuration: warned about
    (duplicate,) = [r.getMessage() for r in caplog.records if "already have" in r.getMessage()]
    shown = [repr(first), repr(first.config), repr(first.cache), duplicate]
    shown += [record.getMessage() for record in caplog.records]
    for text in shown:
        for secret in secrets:
            assert secret not in text, text
    for text in (repr(first), repr(first.config), duplicate):
        assert "https://***@unleash.example.com/api" in text
    assert first.config.url == url  # the requests themselves still carry the credentials
    with pytest.raises(MultipleInstancesNotAllowedError) as blocked:
        client(url, tmp_path, instance_id="one", multiple_instance_mode=InstanceAllowType.BLOCK)
    assert isinstance(blocked.value, RuntimeError)  # what unleash_lite raised before
    assert all(secret not in str(blocked.value) for secret in secrets)
    for made in (first, second):
        made.destroy()


def test_urls_differing_only_in_credentials_are_not_duplicates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        one = client("https://one:pw@unleash.example.com/api", tmp_path, instance_id="same")
        two = client("https://two:pw@unleash.example.com/api", tmp_path, instance_id="same")
    assert not [m for m in unleash_warnings(caplog) if "already have" in m]
    one.destroy()
    two.destroy()


# -- misconfiguration fails fast ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("unleash.example.com/api", "url must start with http:// or https://"),
        ("localhost:4242/api", "url must start with http:// or https://"),
        ("ftp://unleash.example.com/api", "url must start with http:// or https://"),
        ("http:///api", "url has no host name"),
        ("http://unleash.example.com:port/api", "url has an invalid host or port"),
        ("http://[::1/api", "url has an invalid host or port"),
        (f"{API}\n", "url must not contain spaces or control characters"),
        (f" {API}", "url must not contain spaces or control characters"),
        (f"{API}?token=s3cr3t", "url must not have a query string or fragment"),
        (f"{API}#s3cr3t", "url must not have a query string or fragment"),
        ("user:s3cr3t@unleash.example.com/api", "url must start with http:// or https://"),
        ("https://user:s3cr3t@unleash.example.com:port/api", "url has an invalid host or port"),
    ],
)
def test_an_unusable_url_is_refused_naming_url(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        client(url, tmp_path)
    assert "s3cr3t" not in str(refused.value)


@pytest.mark.parametrize(
    ("keyword", "value", "error", "message"),
    [
        (
            "refresh_interval",
            "15",
            TypeError,
            "refresh_interval must be a number of seconds, got the string '15'; convert it first",
        ),
        ("metrics_interval", "sixty", TypeError, "metrics_interval must be a number of seconds"),
        ("request_timeout", True, TypeError, r"request_timeout must be a number .*\(bool\)"),
        ("refresh_interval", None, TypeError, "refresh_interval must be a number"),
        ("refresh_interval", [15], TypeError, "refresh_interval must be a number"),
        ("refresh_jitter", "2", TypeError, "refresh_jitter must be a number of seconds"),
        ("metrics_jitter", False, TypeError, "metrics_jitter must be a number of seconds"),
        (
            "metrics_jitter",
            -1,
            ValueError,
            "metrics_jitter must be a finite number of seconds, zero or more",
        ),
        ("request_retries", "3", TypeError, r"request_retries must be a whole number .*int\("),
        ("request_retries", 2.5, TypeError, "request_retries must be a whole number of retries"),
        ("request_retries", -1, ValueError, "request_retries must be a finite number"),
        ("max_payload_bytes", "1000", TypeError, "max_payload_bytes must be a whole number"),
        ("max_payload_bytes", 1e6, TypeError, "max_payload_bytes must be a whole number"),
        ("max_payload_bytes", 0, ValueError, "max_payload_bytes must be a finite number of bytes"),
        ("refresh_interval", math.inf, ValueError, "refresh_interval must be a finite number"),
        ("request_timeout", math.nan, ValueError, "request_timeout must be a finite number"),
        (
            "refresh_interval",
            0,
            ValueError,
            "refresh_interval must be a finite number of seconds, more than zero",
        ),
        ("disable_metrics", "false", TypeError, "disable_metrics must be True or False"),
        ("environment", "", ValueError, "environment must be a non-empty string"),
        ("environment", None, ValueError, "environment must be a non-empty string"),
        ("project_name", "", ValueError, "project_name must be a non-empty string or None"),
    ],
)
def test_a_value_of_the_wrong_type_or_range_is_refused_naming_its_keyword(
    keyword: str, value: Any, error: type[Exception], message: str, tmp_path: Path
) -> None:
    with pytest.raises(error, match=message):
        client(API, tmp_path, **{keyword: value})


def test_numbers_of_either_kind_and_zero_where_it_makes_sense_are_accepted(
    tmp_path: Path,
) -> None:
    made = client(
        API,
        tmp_path,
        refresh_interval=0.05,
        metrics_interval=600,
        request_timeout=2.5,
        refresh_jitter=0,
        metrics_jitter=1.5,
        request_retries=0,
        max_payload_bytes=10**6,
    )
    assert (made.config.refresh_interval, made.config.request_retries) == (0.05, 0)


class Interval(float):
    """A float subclass (as numpy's float64 is): a number like any other."""


def test_number_subclasses_are_numbers(tmp_path: Path) -> None:
    assert client(API, tmp_path, refresh_interval=Interval(5)).config.refresh_interval == 5


@pytest.mark.parametrize(
    ("strategies", "message"),
    [
        ({"tenant": object()}, r"custom_strategies\['tenant'\] must have a method apply"),
        (
            {"tenant": Strategy},
            r"custom_strategies\['tenant'\] is the class Strategy; pass an "
            r"instance: \{'tenant': Strategy\(\)\}",
        ),
        ({"tenant": type("NotCallable", (), {"apply": "yes"})()}, "must have a method apply"),
        ({"tenant": lambda parameters, context: True}, "must have a method apply"),
        ({1: Strategy()}, "custom_strategies keys are strategy names"),
        ([Strategy()], "custom_strategies must be a dict"),
    ],
)
def test_a_custom_strategy_without_a_callable_apply_is_refused(
    strategies: Any, message: str, tmp_path: Path
) -> None:
    with pytest.raises(TypeError, match=message):
        client(API, tmp_path, custom_strategies=strategies)
    with pytest.raises(TypeError, match=message):
        UnleashClient("", "offline", custom_strategies=strategies)


# -- doubtful settings: one WARNING each ----------------------------------------------------------


@pytest.mark.parametrize(
    "url", [API, f"{API}/", "http://127.0.0.1:4242/api", "https://edge.example.com/proxy/api"]
)
def test_a_url_ending_in_api_with_a_token_logs_no_warning(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        client(url, tmp_path)
        client(url, tmp_path, custom_headers={"authorization": TOKEN})  # any case of the name
    assert unleash_warnings(caplog) == []


@pytest.mark.parametrize(
    "url",
    ["https://unleash.example.com", "https://unleash.example.com/", "https://x.example.com/apii"],
)
def test_a_url_not_ending_in_api_logs_one_warning_saying_what_to_check(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        client(url, tmp_path)
    (warning,) = unleash_warnings(caplog)
    assert "does not end with /api" in warning
    assert "Unleash Edge" in warning and "check the url" in warning


@pytest.mark.parametrize("headers", [None, {}, {"X-Other": "1"}, {"Authorization": " "}])
def test_a_client_with_a_url_but_no_token_logs_one_warning(
    headers: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        client(API, tmp_path, custom_headers=headers)
    (warning,) = unleash_warnings(caplog)
    assert "no Authorization header in custom_headers" in warning
    assert "custom_headers={'Authorization': '<client API token>'}" in warning


def test_an_offline_client_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        UnleashClient("", "offline", bootstrap=payload(feature("a")))
    assert unleash_warnings(caplog) == []


def test_client_config_checks_apply_when_it_is_built_directly() -> None:
    with pytest.raises(ValueError, match="url must start with http"):
        ClientConfig(url="unleash.example.com/api", app_name="direct")
    config = ClientConfig(url="https://u:pw@unleash.example.com", app_name="direct")
    warnings = config.warnings()  # no /api and no token; the client logs them, not the config
    assert len(warnings) == 2
    assert all("https://***@unleash.example.com" in w and "pw" not in w for w in warnings)


# -- the rest of the official 6.9.1 surface (issue 13) ------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        # Each of these makes the official 6.9.1 initialize_client() raise a ValueError
        # (requests' MissingSchema, InvalidSchema or InvalidURL); here the constructor does.
        "thisisnotavalidurl",
        "localhost:4242/api",
        "ftp://unleash.example.com/api",
        "mailto:flags@example.com",
        "http://",
        "http:///api",
        "http://unleash.example.com:99999/api",
        "http://unleash.example.com:abc/api",
        "http://[::1/api",
        "http://unleash example.com/api",
    ],
)
def test_every_url_the_official_sdk_refuses_is_refused_at_construction(url: str) -> None:
    with pytest.raises(ValueError, match=r"^url "):
        ClientConfig(url=url, app_name="urls")


def test_a_custom_strategy_class_raises_what_either_sdk_raises(tmp_path: Path) -> None:
    # The official SDK raises ValueError for a 5.x-style class, unleash_lite documents TypeError.
    for error in (ValueError, TypeError):
        with pytest.raises(error, match="pass an instance"):
            client(API, tmp_path, custom_strategies={"tenant": Strategy})


def test_sdk_flavor_is_sent_only_when_set() -> None:
    plain = ClientConfig(url=API, app_name="flavor")
    assert (plain.sdk_flavor, plain.sdk_flavor_version, plain.sdk_metadata) == (None, None, {})
    flavoured = ClientConfig(
        url=API, app_name="flavor", sdk_flavor="openfeature", sdk_flavor_version="1.2.3"
    )
    assert flavoured.sdk_metadata == {"sdkFlavor": "openfeature", "sdkFlavorVersion": "1.2.3"}
    named_only = ClientConfig(url=API, app_name="flavor", sdk_flavor="openfeature")
    assert named_only.sdk_metadata == {"sdkFlavor": "openfeature"}


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("sdk_flavor", ""),
        ("sdk_flavor", 7),
        ("sdk_flavor_version", ""),
        ("sdk_flavor_version", 1.2),
    ],
)
def test_an_sdk_flavor_that_is_not_a_name_is_refused_naming_its_keyword(
    keyword: str, value: Any
) -> None:
    with pytest.raises(ValueError, match=f"^{keyword} must be a non-empty string or None"):
        ClientConfig(url=API, app_name="flavor", **{keyword: value})


def identifier(**options: Any) -> str:
    settings: dict[str, Any] = {
        "url": API,
        "app_name": "dup",
        "custom_headers": {"Authorization": TOKEN},
    }
    return ClientConfig(**{**settings, **options}).instance_identifier


def test_clients_for_the_same_url_app_and_token_share_an_instance_identifier() -> None:
    # Generated instance ids differ per client: they must not hide a duplicate.
    assert identifier() == identifier()
    assert identifier(instance_id="a", instance_id_given=True) == identifier(
        instance_id="a", instance_id_given=True
    )


@pytest.mark.parametrize(
    "other",
    [
        {"url": "https://other.example.com/api"},
        {"url": "https://user:pw@unleash.example.com/api"},
        {"app_name": "other"},
        {"custom_headers": {"Authorization": "default:production.0000"}},
        {"custom_headers": {}},
        {"instance_id": "chosen", "instance_id_given": True},
    ],
)
def test_clients_differing_in_url_app_token_or_a_chosen_instance_id_are_not_duplicates(
    other: dict[str, Any],
) -> None:
    assert identifier(**other) != identifier()


def test_the_instance_identifier_shows_no_secret() -> None:
    shown = identifier(url="https://user:pa55word@unleash.example.com/api")
    assert shown.startswith("url=https://***@unleash.example.com/api appName=dup apiKey=")
    assert "default:production.***#" in shown
    for secret in ("9f8e7d6c5b4a", "pa55word", "user:"):
        assert secret not in shown
    assert "apiKey=***#" in identifier(custom_headers={"Authorization": "s3cr3t-no-scope"})
    assert "apiKey=none#" in identifier(custom_headers={})
