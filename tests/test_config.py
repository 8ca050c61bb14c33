"""Configuration checks at construction: credentials masked wherever a URL is shown,
misconfiguration refused with the keyword named, doubtful settings warned about once."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from unleash_lite import InstanceAllowType, UnleashClient
from unleash_lite.config import redact_url

TOKEN = "default:production.9f8e7d6c5b4a"
API = "https://unleash.example.com/api"


class Strategy:
    def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        return True


def client(url: str, tmp_path: Path, **options: Any) -> UnleashClient:
    """A client that is built only (never initialised: nothing touches the network)."""
    settings: dict[str, Any] = {
        "app_name": "config-tests",
        "cache_directory": str(tmp_path),
        "custom_headers": {"Authorization": TOKEN},
    }
    settings.update(options)
    return UnleashClient(url, **settings)


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
    (duplicate,) = [m for m in unleash_warnings(caplog) if "already exist" in m]
    shown = [repr(first), repr(first.config), repr(first.cache), duplicate]
    shown += [record.getMessage() for record in caplog.records]
    for text in shown:
        for secret in secrets:
            assert secret not in text, text
    for text in (repr(first), repr(first.config), duplicate):
        assert "https://***@unleash.example.com/api" in text
    assert first.config.url == url  # the requests themselves still carry the credentials
    with pytest.raises(RuntimeError) as blocked:
        client(url, tmp_path, instance_id="one", multiple_instance_mode=InstanceAllowType.BLOCK)
    assert all(secret not in str(blocked.value) for secret in secrets)
    for made in (first, second):
        made.destroy()


def test_urls_differing_only_in_credentials_are_not_duplicates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="unleash_lite"):
        one = client("https://one:pw@unleash.example.com/api", tmp_path, instance_id="same")
        two = client("https://two:pw@unleash.example.com/api", tmp_path, instance_id="same")
    assert not [m for m in unleash_warnings(caplog) if "already exist" in m]
    one.destroy()
    two.destroy()
