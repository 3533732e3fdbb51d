"""Refuse request bodies over a size limit before the application parses them."""

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import PayloadTooLargeError, problem_body, problem_response


class _BodyTooLargeError(Exception):
    """Raised from `receive` when a streamed body crosses the limit."""


class BodyLimitMiddleware:
    """Answer 413 problem+json for bodies over `max_bytes`.

    A declared `Content-Length` over the limit is refused before a byte of the
    body is read. A chunked or under-declared body is counted as it streams;
    once it crosses the limit the application's own answer is replaced by the
    413, whatever the framework made of the interrupted read.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif self._declares_too_much(scope):
            await self._refuse(scope, receive, send)
        else:
            await self._stream_counted(scope, receive, send)

    def _declares_too_much(self, scope: Scope) -> bool:
        declared = Headers(scope=scope).get("content-length", "")
        return declared.isdigit() and int(declared) > self.max_bytes

    async def _stream_counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        exceeded = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded and not response_started:
                return  # the 413 below answers instead
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLargeError:
            if response_started:
                raise
        if exceeded and not response_started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLargeError(f"The request body is larger than {self.max_bytes} bytes.")
        state = scope.get("state", {})
        body = problem_body(
            status=error.status,
            title=error.title,
            detail=error.detail,
            problem_type=error.problem_type,
            instance=scope.get("path"),
            request_id=state.get("request_id"),
        )
        # Connection: close, because the rest of an unread body is still on the wire.
        await problem_response(body, {"Connection": "close"})(scope, receive, send)
