"""Measure the service core's per-request cost against a bare FastAPI app.

Runs inside a generated project's environment (see `run.py`): both apps serve
the same two endpoints, a GET of a small JSON document and a validated POST,
and are driven in-process through the ASGI interface, so the figures are the
cost of the middleware, error model and canonical log line, not of the
network. Rounds alternate between the two apps so drift hits both alike.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import import_module
from typing import Any, TextIO

from fastapi import FastAPI

Message = dict[str, Any]
ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

_LIFESPANS: set[asyncio.Task[None]] = set()
REQUESTS_PER_ROUND = 4000
CREATED = 201
OK = 200
ROUNDS = 7
BODY = json.dumps({"name": "widget", "quantity": 3, "tags": ["a", "b"]}).encode()


def baseline_app(package: str) -> FastAPI:
    """Serve the same routers and lifespan state, without the core's middleware."""
    health = import_module(f"{package}.health")
    examples = import_module(f"{package}.api.examples")
    # run.py renders auth=none: the routes' principal is the anonymous one.
    anonymous = import_module(f"{package}.auth.anonymous")
    auth_settings = import_module(f"{package}.auth.settings")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {
            "readiness": health.Readiness(checks=[], timeout_seconds=2.0),
            "item_store": examples.ItemStore(),
            "authenticator": anonymous.AnonymousAuthenticator(auth_settings.AuthSettings()),
        }

    app = FastAPI(lifespan=lifespan)
    app.include_router(health.router)
    app.include_router(examples.router)
    return app


def service_app(package: str, log_stream: TextIO | None = None) -> FastAPI:
    app_module = import_module(f"{package}.app")
    settings_module = import_module(f"{package}.settings")
    logging_module = import_module(f"{package}.logging")
    # Staging: every production behaviour that costs time per request (JSON
    # log line, redaction, headers) without production's demand for real
    # backing services, which the measured endpoints never touch. Explicit
    # values win over the environment; `_env_file=None` keeps the project's
    # .env (written by `copier copy`) out of the measurement.
    settings = settings_module.Settings(
        _env_file=None,
        app_env="staging",
        security={"secret_key": secrets.token_urlsafe(48)},
        log={"format": "json"},
    )
    app: FastAPI = app_module.create_app(settings)
    # JSON logging, written to memory: the canonical line's cost is real.
    logging_module.configure_logging(
        settings.log, production=True, stream=log_stream or io.StringIO()
    )
    return app


async def start_lifespan(app: ASGIApp) -> dict[str, Any]:
    state: dict[str, Any] = {}
    queue: asyncio.Queue[Message] = asyncio.Queue()
    started = asyncio.Event()
    await queue.put({"type": "lifespan.startup"})

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    async def run_lifespan() -> None:
        scope = {"type": "lifespan", "state": state, "asgi": {"version": "3.0"}}
        await app(scope, queue.get, send)

    # Kept referenced for the whole run: the lifespan lives as long as the app.
    _LIFESPANS.add(asyncio.get_running_loop().create_task(run_lifespan()))
    await started.wait()
    return state


async def call(app: ASGIApp, state: dict[str, Any], method: str, path: str, body: bytes) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": dict(state),
    }
    sent = False
    status = 0

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def one_round(app: ASGIApp, state: dict[str, Any]) -> float:
    started = time.perf_counter()
    for index in range(REQUESTS_PER_ROUND):
        if index % 2:
            status = await call(app, state, "POST", "/v1/items", BODY)
            assert status == CREATED, status
        else:
            status = await call(app, state, "GET", "/livez", b"")
            assert status == OK, status
    return (time.perf_counter() - started) / REQUESTS_PER_ROUND * 1e6


async def main(package: str) -> None:
    apps = {"bare FastAPI": baseline_app(package), "launchgate core": service_app(package)}
    states = {name: await start_lifespan(app) for name, app in apps.items()}
    for name, app in apps.items():  # warm-up: imports, caches, first-call costs
        await one_round(app, states[name])
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(ROUNDS):
        for name, app in apps.items():
            samples[name].append(await one_round(app, states[name]))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"median of {ROUNDS} rounds of {REQUESTS_PER_ROUND} in-process requests (GET and POST)")
    for name, median in medians.items():
        print(f"  {name:16s} {median:8.1f} us/request")
    ratio = medians["launchgate core"] / medians["bare FastAPI"]
    print(f"  {'ratio':16s} {ratio:8.2f}x")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
