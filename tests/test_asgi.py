"""The FastAPI / Starlette integration, ``unleash_lite.asgi``: the lifespan, the pure ASGI
middleware (the request context variable, its reset, streaming, concurrency, the sticky
session cookie, the remote address) and the FastAPI dependencies, with overrides.

Apps run under FastAPI's ``TestClient`` (which runs the lifespan) or, where the test must
see the context variable in its own task, under httpx2's ``ASGITransport`` (which calls the
app in the caller's task, so a context left set would show)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx2
import pytest
from fastapi import BackgroundTasks, Depends, FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from tests.support.payloads import constraint, feature, payload, strategy, variant
from tests.support.server import TOKEN, FakeUnleashServer, silence
from unleash_lite import AsyncUnleashClient, Variant
from unleash_lite.asgi import (
    DEFAULT_SESSION_COOKIE,
    UnleashMiddleware,
    client_settings,
    flag_required,
    unleash_client,
    unleash_context,
    unleash_lifespan,
    user_id_from_header,
    variant_of,
)
from unleash_lite.context import current_request_context, request_context
from unleash_lite.testing import FakeUnleash

FLAGS = payload(
    feature("on"),
    feature("off", enabled=False),
    feature("user-42", [strategy(constraints=[constraint("userId", "IN", ["42"])])]),
    feature("colors", variants=[variant("blue", 1000, payload={"type": "string", "value": "sky"})]),
)
USER_HEADER = "X-User-Id"
Client = Annotated[AsyncUnleashClient, Depends(unleash_client)]
Fields = Annotated[dict[str, Any], Depends(unleash_context)]


def offline_client(**options: Any) -> AsyncUnleashClient:
    return AsyncUnleashClient(url="", app_name="asgi-tests", bootstrap=FLAGS, **options)


def fastapi_app(client: AsyncUnleashClient | None = None, **middleware: Any) -> FastAPI:
    """An app with an offline client, the middleware (user id from ``X-User-Id`` unless
    given) and routes showing the context and each dependency."""
    app = FastAPI(lifespan=unleash_lifespan(client=client or offline_client()))
    middleware.setdefault("user_id", user_id_from_header(USER_HEADER))
    app.add_middleware(UnleashMiddleware, **middleware)

    @app.get("/context")
    async def context(fields: Fields) -> dict[str, Any]:
        return {"dependency": fields, "variable": dict(current_request_context() or {})}

    @app.get("/current")
    def current() -> dict[str, Any]:  # a sync route: FastAPI runs it in a thread
        return dict(current_request_context() or {})

    @app.get("/nothing")
    async def nothing() -> dict[str, Any]:
        return {}

    @app.get("/for-42", dependencies=[Depends(flag_required("user-42"))])
    async def for_42() -> dict[str, str]:
        return {"page": "42"}

    @app.get("/forbidden", dependencies=[Depends(flag_required("off", status_code=403))])
    async def forbidden() -> dict[str, str]:
        return {"page": "off"}

    @app.get("/colors")
    async def colors(
        chosen: Annotated[Variant, Depends(variant_of("colors"))],
    ) -> dict[str, Any]:
        return dict(chosen)

    @app.get("/deep")
    async def deep(client: Client) -> dict[str, bool]:
        return {"user-42": deep_in_the_stack(client)}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return app


def deep_in_the_stack(client: AsyncUnleashClient) -> bool:
    """Code that never sees the request: the request context supplies the user."""
    return client.is_enabled("user-42")


@pytest.fixture
def app() -> FastAPI:
    return fastapi_app()


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:  # runs the lifespan
        yield client


def run(coroutine_function: Callable[[], Any]) -> Any:
    return asyncio.run(coroutine_function())


@asynccontextmanager
async def in_task(app: Any, **options: Any) -> AsyncIterator[httpx2.AsyncClient]:
    """An httpx client calling ``app`` in the caller's task (no lifespan run)."""
    transport = httpx2.ASGITransport(app=app, **options)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


# == the middleware: the request context variable ==============================================


def test_the_request_context_is_current_in_async_and_sync_routes_and_given_by_the_dependency(
    http: TestClient,
) -> None:
    shown = http.get("/context", headers={USER_HEADER: "42"}).json()
    assert (
        shown["dependency"]
        == shown["variable"]
        == {
            "userId": "42",
            "remoteAddress": "testclient",
        }
    )
    assert http.get("/current", headers={USER_HEADER: "7"}).json()["userId"] == "7"
    assert "userId" not in http.get("/current").json()  # no header, no user


def test_the_context_is_reset_after_each_request_also_when_the_route_raises() -> None:
    app = fastapi_app()

    async def scenario() -> list[Any]:
        seen = []
        async with in_task(app, raise_app_exceptions=False) as client:
            for path in ("/context", "/boom", "/nothing"):
                reply = await client.get(path, headers={USER_HEADER: "42"})
                seen.append((reply.status_code, current_request_context()))
            with request_context({"userId": "outer"}):
                await client.get("/boom", headers={USER_HEADER: "42"})
                seen.append(dict(current_request_context() or {}))
        return seen

    assert run(scenario) == [(200, None), (500, None), (200, None), {"userId": "outer"}]


def test_concurrent_requests_each_see_their_own_context() -> None:
    """All requests are in flight at once (a barrier holds each until every one arrived),
    and each reads its own user after the others set theirs."""
    count = 20
    barrier: asyncio.Barrier | None = None

    async def endpoint(request: Request) -> JSONResponse:
        before = dict(current_request_context() or {}).get("userId")
        assert barrier is not None
        await barrier.wait()
        after = dict(current_request_context() or {}).get("userId")
        return JSONResponse({"before": before, "after": after})

    app = UnleashMiddleware(
        Starlette(routes=[Route("/", endpoint)]), user_id=user_id_from_header(USER_HEADER)
    )

    async def scenario() -> list[dict[str, Any]]:
        nonlocal barrier
        barrier = asyncio.Barrier(count)
        async with in_task(app) as client:
            replies = await asyncio.gather(
                *(client.get("/", headers={USER_HEADER: f"u{n}"}) for n in range(count))
            )
        return [reply.json() for reply in replies]

    assert run(scenario) == [{"before": f"u{n}", "after": f"u{n}"} for n in range(count)]


def test_a_streaming_body_and_background_work_see_the_context() -> None:
    async def chunks() -> AsyncIterator[str]:
        for _ in range(3):
            await asyncio.sleep(0)
            yield str(dict(current_request_context() or {}).get("userId")) + ";"

    def sync_chunks() -> Iterator[str]:  # iterated in a thread by Starlette
        for _ in range(2):
            yield str(dict(current_request_context() or {}).get("userId")) + ";"

    app = FastAPI()
    app.add_middleware(UnleashMiddleware, user_id=user_id_from_header(USER_HEADER))

    @app.get("/async")
    async def streamed() -> StreamingResponse:
        return StreamingResponse(chunks())

    @app.get("/sync")
    async def streamed_sync() -> StreamingResponse:
        return StreamingResponse(sync_chunks())

    ran: list[Any] = []

    @app.get("/later")
    async def later(tasks: BackgroundTasks) -> None:
        tasks.add_task(lambda: ran.append(dict(current_request_context() or {}).get("userId")))

    with TestClient(app) as http:
        assert http.get("/async", headers={USER_HEADER: "s1"}).text == "s1;s1;s1;"
        assert http.get("/sync", headers={USER_HEADER: "s2"}).text == "s2;s2;"
        http.get("/later", headers={USER_HEADER: "s3"})
    assert ran == ["s3"]  # a background task runs after the response, still in the request


def test_a_websocket_gets_the_context() -> None:
    app = FastAPI()
    app.add_middleware(UnleashMiddleware, user_id=user_id_from_header(USER_HEADER))

    @app.websocket("/ws")
    async def ws(socket: WebSocket, fields: Fields) -> None:
        await socket.accept()
        await socket.send_json(
            {"dependency": fields, "variable": dict(current_request_context() or {})}
        )
        await socket.close()

    with TestClient(app) as http, http.websocket_connect("/ws", headers={USER_HEADER: "w"}) as s:
        shown = s.receive_json()
    assert shown["dependency"]["userId"] == shown["variable"]["userId"] == "w"


def test_the_context_is_built_only_when_read_and_once_per_request() -> None:
    calls: list[str] = []

    def user_id(connection: HTTPConnection) -> str:
        calls.append(connection.url.path)
        return "42"

    with TestClient(fastapi_app(user_id=user_id)) as http:
        http.get("/nothing")
        assert calls == []  # no flag checked: the loader never ran
        assert http.get("/for-42").status_code == 200  # the gate and the context share one build
        assert calls == ["/for-42"]


def test_the_default_user_is_starlettes_authenticated_user_in_a_plain_starlette_app() -> None:
    class HeaderAuth(AuthenticationBackend):
        async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, Any] | None:
            name = conn.headers.get("X-Login")
            return (AuthCredentials(["authenticated"]), SimpleUser(name)) if name else None

    async def flag(request: Request) -> PlainTextResponse:
        client: AsyncUnleashClient = request.app.state.unleash
        return PlainTextResponse(str(client.is_enabled("user-42")))  # the request's user

    app = Starlette(
        routes=[Route("/", flag)],
        middleware=[
            Middleware(AuthenticationMiddleware, backend=HeaderAuth()),
            Middleware(UnleashMiddleware),
        ],
        lifespan=unleash_lifespan(client=offline_client(use_request_context=True)),
    )
    with TestClient(app) as http:
        assert http.get("/", headers={"X-Login": "42"}).text == "True"
        assert http.get("/", headers={"X-Login": "7"}).text == "False"
        assert http.get("/").text == "False"  # anonymous: no userId


def test_a_failing_user_loader_or_provider_leaves_only_its_part_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def failing(connection: HTTPConnection) -> Any:
        raise LookupError("no user store")

    def plan(connection: HTTPConnection) -> Mapping[str, Any]:
        return {"properties": {"plan": connection.query_params.get("plan", "free")}}

    def broken(connection: HTTPConnection) -> Mapping[str, Any]:
        raise KeyError("broken")

    app = fastapi_app(user_id=failing, context_providers=[plan, broken])
    with caplog.at_level(logging.DEBUG, "unleash_lite.asgi"), TestClient(app) as http:
        shown = http.get("/context", params={"plan": "pro"}).json()["dependency"]
    assert shown == {"remoteAddress": "testclient", "properties": {"plan": "pro"}}
    assert any("user id failed" in record.getMessage() for record in caplog.records)


# == the middleware: sticky session id and remote address ======================================


def test_a_session_cookie_is_set_when_the_context_is_first_read_and_then_kept() -> None:
    with TestClient(fastapi_app(session_cookie=DEFAULT_SESSION_COOKIE)) as http:
        assert "set-cookie" not in http.get("/nothing").headers  # no flag checked: no cookie
        first = http.get("/context")
        cookie = first.headers["set-cookie"]
        session_id = first.json()["dependency"]["sessionId"]
        assert cookie.startswith(f"{DEFAULT_SESSION_COOKIE}={session_id};")
        assert {"HttpOnly", "SameSite=Lax", "Path=/"} <= {p.strip() for p in cookie.split(";")}
        assert "Secure" not in cookie  # plain http
        again = http.get("/context")  # TestClient sends the cookie back
        assert again.json()["dependency"]["sessionId"] == session_id
        assert "set-cookie" not in again.headers
    with TestClient(fastapi_app(session_cookie="sid"), base_url="https://testserver") as http:
        assert "; Secure" in http.get("/context").headers["set-cookie"]
        http.cookies.set("sid", "not a valid id!")
        assert http.get("/context").json()["dependency"]["sessionId"] != "not a valid id!"


def test_x_forwarded_for_is_used_only_as_far_as_trusted_proxies_wrote_it() -> None:
    def address(trusted: int, forwarded: str | None) -> Any:
        headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
        app = fastapi_app(trusted_proxy_count=trusted)

        async def scenario() -> Any:
            async with in_task(app, client=("10.0.0.1", 4321)) as client:
                reply = await client.get("/context", headers=headers)
                return reply.json()["dependency"].get("remoteAddress")

        return run(scenario)

    assert address(0, "6.6.6.6") == "10.0.0.1"  # no trusted proxy: the header is ignored
    assert address(1, "6.6.6.6, 203.0.113.9") == "203.0.113.9"  # what our proxy saw
    assert address(2, "6.6.6.6, 203.0.113.9, 10.0.0.2") == "203.0.113.9"
    assert address(2, "203.0.113.9") == "10.0.0.1"  # fewer entries than proxies
    assert address(1, "not-an-ip") == "10.0.0.1"
    assert address(1, None) == "10.0.0.1"


def test_the_middleware_refuses_unusable_options() -> None:
    app = Starlette()
    with pytest.raises(ValueError, match="trusted_proxy_count"):
        UnleashMiddleware(app, trusted_proxy_count=-1)
    with pytest.raises(ValueError, match="session_cookie"):
        UnleashMiddleware(app, session_cookie="a b")
    with pytest.raises(TypeError, match="user_id"):
        UnleashMiddleware(app, user_id="X-User-Id")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="context_providers"):
        UnleashMiddleware(app, context_providers=[{"plan": "pro"}])  # type: ignore[list-item]


# == the dependencies ==========================================================================


def test_flag_required_answers_404_or_the_given_status_when_the_flag_is_off(
    http: TestClient,
) -> None:
    assert http.get("/for-42", headers={USER_HEADER: "42"}).json() == {"page": "42"}
    refused = http.get("/for-42", headers={USER_HEADER: "7"})
    assert (refused.status_code, refused.json()) == (404, {"detail": "Not Found"})  # no flag name
    assert http.get("/forbidden").status_code == 403


def test_variant_of_gives_the_requests_variant(http: TestClient) -> None:
    shown = http.get("/colors").json()
    assert (shown["name"], shown["enabled"], shown["payload"]["value"]) == ("blue", True, "sky")


def test_use_request_context_lets_code_deep_in_the_stack_evaluate_for_the_user() -> None:
    with TestClient(fastapi_app(offline_client(use_request_context=True))) as http:
        assert http.get("/deep", headers={USER_HEADER: "42"}).json() == {"user-42": True}
        assert http.get("/deep", headers={USER_HEADER: "7"}).json() == {"user-42": False}


def test_the_dependencies_are_the_same_functions_for_the_same_arguments() -> None:
    assert flag_required("x") is flag_required("x")
    assert flag_required("x") is not flag_required("x", status_code=403)
    assert variant_of("x") is variant_of("x")
    with pytest.raises(TypeError, match="flag's name"):
        flag_required("")


def test_dependency_overrides_replace_the_client_the_context_or_one_gate() -> None:
    fake = FakeUnleash()
    fake.enable("off")
    fake.set_variant("colors", "green")
    app = fastapi_app()
    app.dependency_overrides[unleash_client] = lambda: fake
    with TestClient(app) as http:
        assert http.get("/forbidden").json() == {"page": "off"}  # off in FLAGS, on in the fake
        assert http.get("/colors").json()["name"] == "green"
    fake.destroy()
    app = fastapi_app()
    app.dependency_overrides[unleash_context] = lambda: {"userId": "42"}
    with TestClient(app) as http:
        assert http.get("/for-42").status_code == 200  # no header: the overridden context
    app = fastapi_app()
    app.dependency_overrides[flag_required("user-42")] = lambda: None
    with TestClient(app) as http:
        assert http.get("/for-42", headers={USER_HEADER: "7"}).status_code == 200


def test_without_the_middleware_the_context_dependency_reads_the_connection() -> None:
    app = FastAPI(lifespan=unleash_lifespan(client=offline_client()))

    @app.get("/")
    async def show(fields: Fields) -> dict[str, Any]:
        return fields

    with TestClient(app) as http:
        assert http.get("/").json() == {"remoteAddress": "testclient"}


def test_without_the_lifespan_the_client_dependency_fails_naming_it() -> None:
    app = FastAPI()

    @app.get("/", dependencies=[Depends(flag_required("on"))])
    async def gated() -> None:
        return None

    with (
        TestClient(app) as http,
        pytest.raises(RuntimeError, match=r"lifespan=unleash_lifespan"),
    ):
        http.get("/")


# == the lifespan ==============================================================================


def test_the_lifespan_starts_a_client_from_the_environment_and_destroy_sends_the_counts(
    server: FakeUnleashServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("UNLEASH_URL", server.url)
    monkeypatch.setenv("UNLEASH_API_TOKEN", TOKEN)
    monkeypatch.setenv("UNLEASH_APP_NAME", "from-env")
    monkeypatch.setenv("UNLEASH_METRICS_INTERVAL", "3600")  # only the shutdown sends
    monkeypatch.setenv("UNLEASH_CACHE_DIRECTORY", str(tmp_path))
    server.payload = FLAGS
    app = FastAPI(lifespan=unleash_lifespan(disable_registration=True))

    @app.get("/")
    async def index(client: Client) -> dict[str, Any]:
        return {"on": client.is_enabled("on"), "ready": client.is_ready()}

    with TestClient(app) as http:
        client = app.state.unleash
        assert isinstance(client, AsyncUnleashClient) and client.unleash_app_name == "from-env"
        assert [http.get("/").json() for _ in range(3)] == [{"on": True, "ready": True}] * 3
        assert server.metrics_posts() == []
    assert server.accepted_counts() == {("on", "yes"): 3}  # sent by destroy() at shutdown
    assert {r.header("Authorization") for r in server.feature_gets()} == {TOKEN}


def test_the_lifespan_runs_the_apps_own_inside_and_passes_its_state() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        client: AsyncUnleashClient = app.state.unleash
        events.append(f"own start, ready={client.is_ready()}")
        yield {"database": "db"}
        events.append(f"own stop, destroyed={client._closed}")

    app = FastAPI(lifespan=unleash_lifespan(own, client=offline_client()))

    @app.get("/")
    async def index(request: Request) -> dict[str, Any]:
        return {"database": request.state.database}

    with TestClient(app) as http:
        assert http.get("/").json() == {"database": "db"}
    assert events == ["own start, ready=True", "own stop, destroyed=False"]
    assert app.state.unleash._closed  # destroyed after the app's own lifespan ended


def test_the_app_starts_within_ready_timeout_when_the_server_does_not_answer(
    server: FakeUnleashServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    server.features.always(silence())
    lifespan = unleash_lifespan(
        url=server.url,
        app_name="slow",
        api_token=TOKEN,
        cache_directory=str(tmp_path),
        ready_timeout=0.2,
        disable_registration=True,
        disable_metrics=True,
    )
    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    async def index(client: Client) -> dict[str, bool]:
        return {"ready": client.is_ready(), "on": client.is_enabled("on")}

    with caplog.at_level(logging.WARNING, "unleash_lite.asgi"), TestClient(app) as http:
        assert http.get("/").json() == {"ready": False, "on": False}  # defaults meanwhile
    assert any("ready_timeout" in record.getMessage() for record in caplog.records)
    assert app.state.unleash._closed  # the pending start was cancelled, the client destroyed


def test_client_settings_keywords_win_over_the_environment() -> None:
    environ = {
        "UNLEASH_URL": "https://env.example/api",
        "UNLEASH_APP_NAME": "env-app",
        "UNLEASH_REFRESH_INTERVAL": "5",
        "UNLEASH_USE_REQUEST_CONTEXT": "true",
        "UNLEASH_API_TOKEN": "env-token",
        "UNLEASH_CLIENT_KWARGS": "ignored: not a setting of the environment",
        "PATH": "/usr/bin",
    }
    assert client_settings(environ, None, {"app_name": "code-app"}) == {
        "url": "https://env.example/api",
        "app_name": "code-app",
        "refresh_interval": 5.0,
        "use_request_context": True,
        "custom_headers": {"Authorization": "env-token"},
    }
    assert client_settings(environ, "code-token", {})["custom_headers"] == {
        "Authorization": "code-token"
    }
    own = {"custom_headers": {"authorization": "header-token"}}
    assert client_settings(environ, None, own)["custom_headers"] == own["custom_headers"]
    with pytest.raises(ValueError, match="both set"):
        client_settings({}, "code-token", own)
    assert client_settings({}, None, {}) == {"url": "", "app_name": "asgi"}  # offline
    with pytest.raises(ValueError, match="UNLEASH_REFRESH_INTERVAL"):
        client_settings({"UNLEASH_REFRESH_INTERVAL": "soon"}, None, {})


def test_a_client_factory_gives_each_start_of_the_app_its_own_client() -> None:
    made: list[AsyncUnleashClient] = []

    def factory() -> AsyncUnleashClient:
        made.append(offline_client())
        return made[-1]

    app = FastAPI(lifespan=unleash_lifespan(client=factory))
    for _ in range(2):  # as two tests sharing a module-level app
        with TestClient(app):
            assert app.state.unleash is made[-1] and made[-1].is_ready()
    assert len(made) == 2 and made[0] is not made[1]


def test_the_lifespan_refuses_unusable_arguments_and_settings() -> None:
    with pytest.raises(TypeError, match="either client= or"):
        unleash_lifespan(client=offline_client(), app_name="x")
    with pytest.raises(ValueError, match="ready_timeout"):
        unleash_lifespan(ready_timeout=-1)
    app = FastAPI(lifespan=unleash_lifespan(refresh_interval="often"))
    with pytest.raises(TypeError, match="refresh_interval"), TestClient(app):
        pass  # the app does not start
