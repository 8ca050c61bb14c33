"""Security: the API token stays secret, the disk cache is private and JSON only, and TLS
verification is on unless the user turns it off (with a warning when they do).

The token test runs the client through every fault class with every logger at DEBUG and
looks for the token everywhere it could leak: log records (messages, arguments, tracebacks),
``repr()`` of every object the client holds, exception messages, the disk cache, the
bodies the server received, events and Python warnings. A positive control checks that the
capture would have seen it: the token is in the Authorization headers the server received.
"""

from __future__ import annotations

import base64
import gc
import json
import logging
import os
import pickle
import re
import shutil
import stat
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import ClientFactory
from tests.support.helpers import full_text
from tests.support.kinds import DrivenFactory
from tests.support.server import (
    PAYLOAD_B,
    TOKEN,
    FakeUnleashServer,
    accept,
    body,
    enormous,
    reset,
    serve_payload,
    slow,
    status,
    truncated,
)
from unleash_lite import FileCache, InstanceAllowType, UnleashClient
from unleash_lite.config import DEFAULT_REQUEST_RETRIES, ClientConfig
from unleash_lite.sync.http import UnleashApi
from unleash_lite.sync.outcome import Result

from .conftest import Figures

SECRET = TOKEN.split(":", 1)[1]  # the part that matters, wherever it might be cut


def leaks(text: str) -> bool:
    return TOKEN in text or SECRET in text or SECRET[:16] in text


def test_the_token_never_leaks(
    make_client: ClientFactory,
    server: FakeUnleashServer,
    tmp_path: Path,
    figures: Figures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: ours, urllib3, requests, apscheduler
    events: list[Any] = []
    seen: list[str] = []  # every text a leak could hide in
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = make_client(
            server.url,
            "secret-app",
            request_retries=DEFAULT_REQUEST_RETRIES,  # retries log too: leave them on
            refresh_interval=0.05,
            metrics_interval=0.05,
            request_timeout=0.3,
            event_callback=events.append,
            max_payload_bytes=64 * 1024,
            custom_options={"verify": False},
        )
        client.initialize_client()  # the real scheduler: its own logs are captured too
        sync = client._sync
        assert sync is not None
        faults = [
            status(401, b'{"message": "invalid token"}'),
            status(403),
            status(404),
            status(429, headers={"Retry-After": "1"}),
            status(500),
            status(503),
            body("<html>login</html>", "text/html"),
            body("{nope"),
            reset(),
            truncated(b'{"features": []}'),
            slow(1.0, serve_payload()),
            enormous(10 * 1024 * 1024, announce=False),
        ]
        for fault in faults:
            server.features.always(fault)
            server.metrics.always(fault)
            server.register.always(fault)
            sync.poll()
            sync.send_metrics()
            client.is_enabled("shared", {"userId": TOKEN})  # even in a context it stays put
            client.get_variant("colour")
            seen.append(repr(sync.api.fetch_features(None)))
        server.features.always(serve_payload())
        server.metrics.always(accept())
        server.register.always(accept())
        server.payload = PAYLOAD_B
        sync.poll()
        sync.send_metrics()
        assert client.is_enabled("only-b")
        objects = [
            client,
            client.config,
            client.cache,
            sync,
            sync.api,
            sync.features_backoff,
            sync.metrics_backoff,
            client.metrics,
            client.snapshot,
            sync.api.transport,
            sync.api.transport.session,
            sync.loader,
            *events,
        ]
        seen.extend(repr(item) for item in objects)
        seen.extend(str(item) for item in objects)
        seen.extend(
            repr(vars(item))
            for item in objects
            if hasattr(item, "__dict__")
            and item is not client.config
            and item is not sync.api
            and item is not sync
        )  # these hold the headers, unprinted
        try:  # a second client in BLOCK mode raises: its message names the configuration
            UnleashClient(
                server.url,
                "secret-app",
                custom_headers={"Authorization": TOKEN},
                multiple_instance_mode=InstanceAllowType.BLOCK,
                cache_directory=str(tmp_path / "cache"),
            )
        except RuntimeError as error:
            seen.append(str(error))
        else:
            pytest.fail("BLOCK mode did not raise")
        client.destroy()
        server.go_down()  # connection refused, as the last fault
        sync.poll()
        sync.send_metrics()
        sync.register()
    seen.extend(full_text(record) for record in caplog.records)
    seen.extend(str(warning.message) for warning in caught)
    assert isinstance(client.cache, FileCache)
    seen.append(client.cache.path.read_text(encoding="utf-8"))
    received = server.requests
    seen.extend(json.dumps(r.body) for r in received if r.method == "POST")
    for text in seen:
        assert not leaks(text), text[:500]
    # the positive control: the token did travel, where it belongs
    assert all(r.header("Authorization") == TOKEN for r in received)
    assert len(caplog.records) > 50
    figures.add(
        "security",
        check="token in logs (DEBUG, all loggers), repr(), exceptions, "
        "cache file, metrics and registration bodies, events, warnings",
        result=f"absent from {len(seen)} texts, {len(caplog.records)} log records, "
        f"{sum(r.method == 'POST' for r in received)} bodies",
    )


# how each client's HTTP library refuses a header value with a line break in it
HEADER_REFUSED = {"sync": "InvalidHeader", "async": "ValueError"}


def test_a_token_requests_refuses_is_not_echoed(
    server: FakeUnleashServer, make_driven: DrivenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """requests (and aiohttp) put an invalid header's value in its exception message; the
    client only ever reports the exception's class."""
    caplog.set_level(logging.DEBUG)
    bad = TOKEN + "\r\nX-Injected: 1"
    client = make_driven.stubbed(server.url, "bad-token", token=bad, request_timeout=1)
    client.initialize_client()
    client.is_enabled("shared")
    client.send_metrics()
    assert server.requests == []  # nothing was sent, no header injected
    messages = [full_text(record) for record in caplog.records]
    assert any(HEADER_REFUSED[client.kind] in message for message in messages), messages
    for message in messages:
        assert not leaks(message), message
    client.destroy()


def test_a_redirect_to_another_host_does_not_carry_the_token(make_driven: DrivenFactory) -> None:
    with FakeUnleashServer() as elsewhere, FakeUnleashServer() as server:
        target = elsewhere.url.replace("127.0.0.1", "localhost") + "/client/features"
        server.features.always(status(302, headers={"Location": target}))
        client = make_driven.stubbed(server.url, "redirected", disable_metrics=True)
        client.initialize_client()
        assert client.is_enabled("only-a")  # the redirect was followed
        (followed,) = elsewhere.feature_gets()
        assert followed.header("Authorization") is None
        client.destroy()


def test_the_token_wins_over_credentials_in_the_url_or_netrc(
    make_driven: DrivenFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests puts the URL's user:password (or a ~/.netrc entry for the host) in the
    Authorization header in place of the one the client sets; aiohttp refuses to send both.
    The client's token goes out, and nothing else."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with FakeUnleashServer() as server:
        url = server.url.replace("http://", "http://url-user:url-password@")
        client = make_driven.stubbed(url, "credentials", disable_metrics=True)
        client.initialize_client()
        assert client.is_enabled("only-a")
        (fetched,) = server.feature_gets()
        assert fetched.header("Authorization") == TOKEN
        client.destroy()


def test_credentials_in_the_url_are_sent_as_basic_auth_when_no_token_is_given(
    make_driven: DrivenFactory,
) -> None:
    """For a server behind basic authentication: the url's user name and password (percent
    decoded), and no ``~/.netrc`` lookup."""
    with FakeUnleashServer() as server:
        url = server.url.replace("http://", "http://ops%40example.com:p%3Ass@")
        client = make_driven.stubbed(url, "basic", disable_metrics=True, custom_headers={})
        client.initialize_client()
        (fetched,) = server.feature_gets()
        expected = base64.b64encode(b"ops@example.com:p:ss").decode()
        assert fetched.header("Authorization") == f"Basic {expected}"
        assert "p%3Ass" not in repr(client) and "ops" not in repr(client)
        client.destroy()


# -- the disk cache --------------------------------------------------------------------------


@pytest.fixture
def umask() -> Iterator[Any]:
    previous = os.umask(0o022)

    def set_to(value: int) -> None:
        os.umask(value)

    yield set_to
    os.umask(previous)


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o002])
def test_the_client_creates_its_cache_directory_0700_and_files_0600(
    make_client: ClientFactory,
    server: FakeUnleashServer,
    tmp_path: Path,
    umask: Any,
    mask: int,
    figures: Figures,
) -> None:
    umask(mask)
    directory = tmp_path / "made" / "by-the-client"
    client, _ = make_client.stubbed(
        server.url, "private", cache_directory=directory, disable_metrics=True
    )
    client.initialize_client()
    assert isinstance(client.cache, FileCache)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(client.cache.path.stat().st_mode) == 0o600
    assert os.listdir(directory) == [client.cache.path.name]
    client.destroy()
    if mask == 0o022:
        figures.add(
            "security",
            check="cache directory created by the client / cache file",
            result="0700 / 0600 (whatever the umask)",
        )


def test_an_existing_cache_directory_keeps_its_mode(
    make_client: ClientFactory, server: FakeUnleashServer, tmp_path: Path, umask: Any
) -> None:
    """A directory the user made is theirs: its mode is not changed (the file is still
    0600)."""
    directory = tmp_path / "shared-by-the-team"
    directory.mkdir()
    directory.chmod(0o750)
    client, _ = make_client.stubbed(
        server.url, "private", cache_directory=directory, disable_metrics=True
    )
    client.initialize_client()
    assert isinstance(client.cache, FileCache)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o750
    assert stat.S_IMODE(client.cache.path.stat().st_mode) == 0o600
    client.destroy()


class _Trap:
    """Unpickling this creates a file: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.touch, (self.marker,))


def test_a_pickle_in_the_cache_is_never_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = "http://127.0.0.1:9/api"
    token = {"Authorization": TOKEN}
    probe = UnleashClient(
        url, "pickled", custom_headers=token, cache_directory=str(tmp_path / "cache")
    )
    assert isinstance(probe.cache, FileCache)
    marker = tmp_path / "unpickled"
    probe.cache.path.parent.mkdir(parents=True, exist_ok=True)
    probe.cache.path.write_bytes(pickle.dumps({"/client/features": _Trap(marker)}))
    caplog.clear()
    client = UnleashClient(
        url, "pickled", custom_headers=token, cache_directory=str(tmp_path / "cache")
    )
    assert not marker.exists()
    assert not client.is_ready()
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_the_package_has_no_unsafe_deserialiser() -> None:
    """Only ``json`` reads what comes from disk or the network: no pickle, shelve, dill, yaml,
    eval or exec anywhere in the package; ``marshal`` only copies in memory what it has just
    written itself (``marshal.loads(marshal.dumps(...))``)."""
    package = Path(__file__).resolve().parents[2] / "unleash_lite"
    forbidden = re.compile(
        r"^\s*(import|from)\s+(pickle|cPickle|_pickle|shelve|dill|yaml)\b"
        r"|(?<![\w.])(eval|exec)\(|pickle\.loads?\(|marshal\.loads?\((?!marshal\.dumps\()",
        re.MULTILINE,
    )
    for source in package.rglob("*.py"):
        found = forbidden.search(source.read_text(encoding="utf-8"))
        assert found is None, f"{source.name}: {found.group(0) if found else ''}"


# -- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def tls_warnings(records: list[logging.LogRecord]) -> list[str]:
    return [
        r.getMessage()
        for r in records
        if r.name == "unleash_lite" and "verification is OFF" in r.getMessage()
    ]


# how each client's transport names a certificate it refused
CERTIFICATE_REFUSED = {"sync": "SSLError", "async": "ClientConnectorCertificateError"}


def test_tls_verification_is_on_by_default(
    certificate: tuple[str, str],
    make_driven: DrivenFactory,
    caplog: pytest.LogCaptureFixture,
    figures: Figures,
) -> None:
    with FakeUnleashServer(tls=certificate) as server:
        client = make_driven.stubbed(server.url, "tls", disable_metrics=True)
        client.initialize_client()
        assert not client.is_ready()  # a self-signed certificate is refused
        (line,) = [r.getMessage() for r in caplog.records if "flags fetch" in r.getMessage()]
        assert CERTIFICATE_REFUSED[client.kind] in line
        if client.kind == "sync":
            outcome = client._sync.api.fetch_features(None)
            assert outcome.result is Result.UNAVAILABLE and "SSLError" in outcome.detail
        assert server.requests == []  # the token never left over an unverified channel
        assert tls_warnings(caplog.records) == []
        client.destroy()
    figures.add(
        "security",
        check=f"TLS, default options, self-signed server ({client.kind})",
        result=f"refused ({CERTIFICATE_REFUSED[client.kind]}), no request reached the server",
    )


def test_turning_verification_off_works_and_warns_once(
    certificate: tuple[str, str],
    make_driven: DrivenFactory,
    caplog: pytest.LogCaptureFixture,
    figures: Figures,
) -> None:
    with FakeUnleashServer(tls=certificate) as server:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning, per request
            client = make_driven.stubbed(
                server.url, "tls", custom_options={"verify": False}, disable_metrics=True
            )
            assert len(tls_warnings(caplog.records)) == 1  # at start-up, before any request
            client.initialize_client()
            for _ in range(3):
                client.poll()
        assert client.is_enabled("only-a")
        (line,) = tls_warnings(caplog.records)
        assert f"127.0.0.1:{server.port}" in line and not leaks(line)
        client.destroy()
    figures.add(
        "security",
        check=f"TLS with custom_options={{'verify': False}} ({client.kind})",
        result="works; 1 WARNING at start-up naming the host",
    )


def test_a_ca_bundle_verifies_without_a_warning(
    certificate: tuple[str, str], make_driven: DrivenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeUnleashServer(tls=certificate) as server:
        client = make_driven.stubbed(
            server.url, "tls", custom_options={"verify": certificate[0]}, disable_metrics=True
        )
        client.initialize_client()
        assert client.is_enabled("only-a")
        assert tls_warnings(caplog.records) == []
        client.destroy()


def test_the_api_defaults_verify_tls() -> None:
    api = UnleashApi(ClientConfig(url="https://unleash.example.com/api", app_name="x"))
    assert api.transport.session.verify is True
    assert "verify" not in api.calls.config.custom_options


def test_no_client_thread_is_left_behind() -> None:
    """(Run last in this file: every client above was destroyed.)"""
    gc.collect()
    names = [t.name for t in threading.enumerate()]
    assert not [n for n in names if n.startswith("unleash-lite-first-fetch")], names
