"""The apps `llm_clients.py` and `llm_gateway.py` serve: an upstream with a delay, forwarders.

Each forwarder is the least a gateway does: one FastAPI route that relays the
request body to the upstream with one shared client, opened by the lifespan,
and returns the upstream's JSON. Only the HTTP client differs between them.
"""

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response

DELAY_SECONDS = float(os.environ.get("BENCH_UPSTREAM_DELAY", "0.1"))
COMPLETIONS_PATH = "/v1/chat/completions"
CONNECTIONS = 128  # more than the load's 64 clients: the pool never queues
TIMEOUT_SECONDS = 10.0

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _Upstream:
    """How many completions the upstream has answered, for `GET /calls`."""

    calls = 0


def completion(model: str) -> dict[str, Any]:
    """Build a chat completion as an OpenAI-compatible provider answers one."""
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The answer is 42."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 25, "completion_tokens": 6, "total_tokens": 31},
    }


def completion_chunks(model: str, *, usage: bool) -> list[dict[str, Any]]:
    """Build the completion's stream: the text, then the finish reason, then usage if asked."""
    whole = completion(model)
    head = {key: whole[key] for key in ("id", "created", "model")}
    head["object"] = "chat.completion.chunk"
    delta = {"role": "assistant", "content": whole["choices"][0]["message"]["content"]}
    chunks = [
        {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    if usage:
        chunks.append({**head, "choices": [], "usage": whole["usage"]})
    return chunks


def _is_chat_request(request: object) -> bool:
    """Whether `request` has the fields and types of the chat completions API."""
    if not isinstance(request, dict):
        return False
    model, messages = request.get("model"), request.get("messages")
    return (
        isinstance(model, str)
        and bool(model)
        and isinstance(messages, list)
        and bool(messages)
        and all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in messages
        )
        and isinstance(request.get("max_tokens", 1), int)
        and isinstance(request.get("stream", False), bool)
    )


async def _answer(send: Send, status: int, document: object) -> None:
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(document).encode()})


async def _stream(send: Send, chunks: list[dict[str, Any]]) -> None:
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for chunk in chunks:
        event = f"data: {json.dumps(chunk)}\n\n".encode()
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


async def upstream(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer chat completions after the delay, as a raw ASGI app.

    `POST /v1/chat/completions` with `{model, messages[, max_tokens, stream]}`
    gets a completion (streamed as server-sent events when `stream` is true);
    anything else is refused at once, 400 or 404, so a gateway that sends a
    malformed request fails the benchmark instead of being measured.
    `GET /livez` answers when the upstream serves, `GET /calls` how many
    completions it has answered.
    """
    if scope["type"] != "http":
        return
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    route = (scope["method"], scope["path"])
    if route == ("GET", "/livez"):
        await _answer(send, 200, {"status": "ok"})
        return
    if route == ("GET", "/calls"):
        await _answer(send, 200, {"calls": _Upstream.calls})
        return
    if route != ("POST", COMPLETIONS_PATH):
        await _answer(send, 404, {"error": {"message": "not found", "type": "not_found"}})
        return
    try:
        request = json.loads(b"".join(chunks))
    except ValueError:
        request = None
    if not _is_chat_request(request):
        error = {"message": "not a chat completions request", "type": "invalid_request_error"}
        await _answer(send, 400, {"error": error})
        return
    await asyncio.sleep(DELAY_SECONDS)
    _Upstream.calls += 1
    if request.get("stream", False):
        options = request.get("stream_options")
        usage = isinstance(options, dict) and options.get("include_usage") is True
        await _stream(send, completion_chunks(request["model"], usage=usage))
    else:
        await _answer(send, 200, completion(request["model"]))


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
