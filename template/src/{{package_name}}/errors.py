"""One error model: every error response is RFC 9457 `application/problem+json`.

Raise a `ServiceError` subclass from any layer; the handlers registered by
`install_error_handlers` render it. Each body carries `type`, `title`,
`status`, `detail`, `instance` and the `request_id`; stack traces never
leave the process.
"""

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"
# Relative references (RFC 9457 section 3.1.1): resolved against the API's own
# origin, so a team can publish a page per type without changing any code.
PROBLEM_TYPE_PREFIX = "/problems/"
BLANK_TYPE = "about:blank"

JsonValue = str | int | float | bool | None | Sequence["JsonValue"] | Mapping[str, "JsonValue"]


class ServiceError(Exception):
    """Base of every error the service reports to clients on purpose.

    Subclasses set `status`, `title` and `slug`; instances add a `detail`
    that is safe to show to the caller, optional response headers and
    extension members.
    """

    status: ClassVar[int] = HTTPStatus.INTERNAL_SERVER_ERROR
    title: ClassVar[str] = "Internal Server Error"
    slug: ClassVar[str] = "internal-error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, JsonValue] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})
        super().__init__(self.detail)

    @property
    def problem_type(self) -> str:
        return f"{PROBLEM_TYPE_PREFIX}{self.slug}"


class BadRequestError(ServiceError):
    status = HTTPStatus.BAD_REQUEST
    title = "Bad Request"
    slug = "bad-request"


class UnauthorizedError(ServiceError):
    """Missing or bad credentials; always carries a `WWW-Authenticate` challenge."""

    status = HTTPStatus.UNAUTHORIZED
    title = "Unauthorized"
    slug = "unauthorized"

    def __init__(self, detail: str | None = None, *, challenge: str = "Bearer") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class ForbiddenError(ServiceError):
    status = HTTPStatus.FORBIDDEN
    title = "Forbidden"
    slug = "forbidden"


class NotFoundError(ServiceError):
    status = HTTPStatus.NOT_FOUND
    title = "Not Found"
    slug = "not-found"


class ConflictError(ServiceError):
    status = HTTPStatus.CONFLICT
    title = "Conflict"
    slug = "conflict"


class PayloadTooLargeError(ServiceError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    title = "Content Too Large"
    slug = "payload-too-large"


class TooManyRequestsError(ServiceError):
    """A limit was reached; `retry_after` seconds says when to try again."""

    status = HTTPStatus.TOO_MANY_REQUESTS
    title = "Too Many Requests"
    slug = "rate-limited"

    def __init__(
        self,
        detail: str | None = None,
        *,
        retry_after: int,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail, headers={**(headers or {}), "Retry-After": str(retry_after)})


class ServiceUnavailableError(ServiceError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    title = "Service Unavailable"
    slug = "unavailable"

    def __init__(
        self,
        detail: str | None = None,
        *,
        retry_after: int | None = None,
        extensions: Mapping[str, JsonValue] | None = None,
    ) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        super().__init__(detail, headers=headers, extensions=extensions)


def problem_body(  # noqa: PLR0913 - the RFC 9457 members, all keyword-only
    *,
    status: int,
    title: str,
    detail: str,
    problem_type: str = BLANK_TYPE,
    instance: str | None = None,
    request_id: str | None = None,
    extensions: Mapping[str, JsonValue] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = dict(extensions or {})
    # Standard members are written last so an extension can never override them.
    body.update(type=problem_type, title=title, status=status, detail=detail)
    if instance is not None:
        body["instance"] = instance
    if request_id is not None:
        body["request_id"] = request_id
    return body


def problem_response(body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        content=orjson.dumps(body),
        status_code=int(body["status"]),
        headers=dict(headers or {}),
        media_type=PROBLEM_JSON,
    )


def request_id_of(request: Request) -> str | None:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


def render_service_error(request: Request, error: ServiceError) -> Response:
    body = problem_body(
        status=error.status,
        title=error.title,
        detail=error.detail,
        problem_type=error.problem_type,
        instance=request.url.path,
        request_id=request_id_of(request),
        extensions=error.extensions,
    )
    return problem_response(body, error.headers)


def _pointer(location: Sequence[int | str]) -> dict[str, str]:
    """Say where a validation error is: a JSON pointer into the body, or a parameter."""
    source, *path = location or ("body",)
    escaped = [str(part).replace("~", "~0").replace("/", "~1") for part in path]
    if source == "body":
        return {"pointer": "#/" + "/".join(escaped) if escaped else "#"}
    name = ".".join(str(part) for part in path)
    return {"header" if source == "header" else "parameter": name}


def validation_errors(raw_errors: Sequence[Any]) -> list[dict[str, str]]:
    """RFC 9457 `errors` members from FastAPI's error list, without input values."""
    return [
        {
            "detail": str(error.get("msg", "invalid value")),
            # A body that is not JSON at all has no member to point at; its
            # location is a character offset, not a path.
            **(
                {"pointer": "#"}
                if error.get("type") == "json_invalid"
                else _pointer(error.get("loc", ()))
            ),
        }
        for error in raw_errors
    ]


async def _handle_service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)  # noqa: S101 - registered for ServiceError only
    return render_service_error(request, error)


async def _handle_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)  # noqa: S101 - registered for this type only
    body = problem_body(
        status=HTTPStatus.UNPROCESSABLE_ENTITY,
        title="Unprocessable Content",
        detail="The request is not valid; see `errors` for each problem.",
        problem_type=f"{PROBLEM_TYPE_PREFIX}validation-failed",
        instance=request.url.path,
        request_id=request_id_of(request),
        extensions={"errors": validation_errors(error.errors())},
    )
    return problem_response(body)


async def _handle_http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)  # noqa: S101 - registered for this type only
    try:
        phrase = HTTPStatus(error.status_code).phrase
    except ValueError:  # a status code outside the standard set
        phrase = "Error"
    detail = error.detail or phrase
    body = problem_body(
        status=error.status_code,
        title=phrase,
        detail=detail,
        instance=request.url.path,
        request_id=request_id_of(request),
    )
    return problem_response(body, error.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Render service, validation and routing errors as problem+json.

    Unhandled exceptions are rendered by `middleware.unhandled_errors`; the
    request-context middleware logs their stack on the canonical log line.
    """
    app.add_exception_handler(ServiceError, _handle_service_error)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
