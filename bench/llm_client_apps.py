"""The apps `llm_clients.py` serves: an upstream that answers after a delay, and forwarders.

Each forwarder is the least a gateway does: one FastAPI route that relays the
request body to the upstream with one shared client, opened by the lifespan,
and returns the upstream's JSON. Only the HTTP client differs between them.
"""

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response

DELAY_SECONDS = float(os.environ.get("BENCH_UPSTREAM_DELAY", "0.1"))
# A chat completion as an OpenAI-compatible provider answers one.
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "bench-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The answer is 42."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 25, "completion_tokens": 6, "total_tokens": 31},
    }
).encode()
CONNECTIONS = 128  # more than the load's 64 clients: the pool never queues
TIMEOUT_SECONDS = 10.0

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def upstream(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer any request with a fixed completion after the delay, as a raw ASGI app."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await asyncio.sleep(DELAY_SECONDS)
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": COMPLETION})


def _upstream_url() -> str:
    return os.environ["BENCH_UPSTREAM_URL"]


async def livez() -> dict[str, str]:
    """Answer once the forwarder serves: the benchmark waits for it."""
    return {"status": "ok"}


def aiohttp_forwarder() -> FastAPI:
    import aiohttp  # noqa: PLC0415 - each forwarder imports only its own client

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=CONNECTIONS)
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            app.state.session = session
            yield

    app = FastAPI(lifespan=lifespan)

    async def chat(request: Request) -> Response:
        session: aiohttp.ClientSession = request.app.state.session
        body = await request.body()
        headers = {"Content-Type": "application/json"}
        async with session.post(_upstream_url(), data=body, headers=headers) as answer:
            content = await answer.read()
            return Response(content, status_code=answer.status, media_type="application/json")

    app.add_api_route("/v1/chat", chat, methods=["POST"])
    app.add_api_route("/livez", livez)
    return app


def _httpx_like_forwarder(module_name: str) -> FastAPI:
    module = __import__(module_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limits = module.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        async with module.AsyncClient(limits=limits, timeout=TIMEOUT_SECONDS) as client:
            app.state.client = client
            yield

    app = FastAPI(lifespan=lifespan)

    async def chat(request: Request) -> Response:
        body = await request.body()
        headers = {"Content-Type": "application/json"}
        answer = await request.app.state.client.post(_upstream_url(), content=body, headers=headers)
        return Response(
            answer.content, status_code=answer.status_code, media_type="application/json"
        )

    app.add_api_route("/v1/chat", chat, methods=["POST"])
    app.add_api_route("/livez", livez)
    return app


def httpx_forwarder() -> FastAPI:
    return _httpx_like_forwarder("httpx")


def httpx2_forwarder() -> FastAPI:
    return _httpx_like_forwarder("httpx2")
