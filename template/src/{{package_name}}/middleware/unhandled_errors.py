"""Turn an exception nobody handled into a 500 problem response."""

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import problem_body, problem_response

# Where the exception is left for the request-context middleware, which puts
# its stack on the request's canonical log line.
UNHANDLED_ERROR = "unhandled_error"
SERVER_ERROR = 500


class UnhandledErrorMiddleware:
    """Answer 500 problem+json for an unhandled exception, with no internal detail.

    It sits inside the security-headers and CORS middleware, so the 500 carries
    the same headers as every other response. The exception is not re-raised:
    it is recorded in the request state and logged once, on the canonical line.
    With `expose_errors` (development debug only) the detail names it.
    """

    def __init__(self, app: ASGIApp, *, expose_errors: bool = False) -> None:
        self.app = app
        self.expose_errors = expose_errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:  # noqa: BLE001 - the last line of defence for any bug
            state = scope.setdefault("state", {})
            state[UNHANDLED_ERROR] = error
            if response_started:
                # Too late for a 500: the server closes the half-sent response.
                return
            response = server_error_response(scope, error, expose=self.expose_errors)
            await response(scope, receive, send)


def server_error_response(scope: Scope, error: Exception, *, expose: bool) -> Response:
    """The 500 problem for `error`; it names the exception only when `expose` is set."""
    detail = "An unexpected error occurred. Quote the request_id when reporting it."
    if expose:
        detail = f"{type(error).__name__}: {error}"
    body = problem_body(
        status=SERVER_ERROR,
        title="Internal Server Error",
        detail=detail,
        problem_type="/problems/internal-error",
        instance=scope.get("path"),
        request_id=scope.get("state", {}).get("request_id"),
    )
    return problem_response(body)
