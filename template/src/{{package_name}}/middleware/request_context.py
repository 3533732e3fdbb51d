"""Request id, log context and the canonical log line: exactly one per request."""

import contextlib
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.trace import Tracer
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..auth.dependencies import PRINCIPAL_STATE
from ..auth.principal import Principal
from ..client_address import client_ip
from ..logging import get_logger
from ..metrics import HttpMetrics
from ..observability.tracing import end_server_span, start_server_span
from .unhandled_errors import SERVER_ERROR, UNHANDLED_ERROR, server_error_response

REQUEST_ID_HEADER = "x-request-id"
# Inbound ids are echoed into logs and responses: letters, digits and . _ : -
# only, so an id can neither forge log lines nor inject headers.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
SERVICE_UNAVAILABLE = 503
# Where a route or gate adds its own fields to the canonical log line.
LOG_FIELDS_STATE = "log_fields"
# Sends an unhandled error to error tracking with its tags; returns the event id.
ErrorReporter = Callable[[BaseException, Mapping[str, object]], str | None]


def accept_request_id(inbound: str | None) -> str:
    """Keep a caller's request id when it is safe, otherwise make a new one."""
    if inbound is not None and SAFE_REQUEST_ID.fullmatch(inbound):
        return inbound
    return uuid.uuid4().hex


def annotate_request_log(scope: Scope, **fields: object) -> None:
    """Add fields to this request's canonical log line (e.g. the LLM provider and cost).

    One line per request stays the rule: a gate annotates it rather than
    writing a line of its own. The middleware's own fields win a name clash.
    """
    scope.setdefault("state", {}).setdefault(LOG_FIELDS_STATE, {}).update(fields)


def current_trace_id() -> str | None:
    """The trace this code runs in, when tracing is on: it joins an error event to its trace."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def route_template(scope: Scope) -> str | None:
    """The matched route's path template (`/items/{item_id}`), never the raw path."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else None


class RequestContextMiddleware:
    """Bind a request id into the log context and write the canonical log line.

    The line carries request_id, method, route template, status, duration_ms,
    client address (see `client_address`) and bytes out. The structured stack
    of an unhandled exception goes on the same line: `UnhandledErrorMiddleware`
    (innermost) records it; an exception raised between the two is answered here.
    The same request is counted in `http_metrics`, traced as the server span
    of `tracer`, and its unhandled error sent to `report_error` (error
    tracking), here rather than in layers of their own: every layer costs each
    request its share of CPU.
    """

    def __init__(  # noqa: PLR0913 - keyword-only options, each with a default
        self,
        app: ASGIApp,
        *,
        expose_errors: bool = False,
        trusted_proxy_hops: int = 0,
        http_metrics: HttpMetrics | None = None,
        report_error: ErrorReporter | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.app = app
        self.expose_errors = expose_errors
        self.trusted_proxy_hops = trusted_proxy_hops
        self.http_metrics = http_metrics
        self.report_error = report_error
        self.tracer = tracer
        self.logger = get_logger("request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers = Headers(scope=scope)
        request_id = accept_request_id(headers.get(REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status: int | None = None
        bytes_out = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status, bytes_out
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            elif message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            await send(message)

        failure: Exception | None = None
        if self.http_metrics is not None:
            self.http_metrics.in_flight.inc()
        span = None if self.tracer is None else start_server_span(self.tracer, scope, headers)
        # The span is current while the request runs and while its line is written,
        # so client spans are its children and the line carries its ids.
        current = (
            contextlib.nullcontext()
            if span is None
            else trace.use_span(span, record_exception=False, set_status_on_exception=False)
        )
        with structlog.contextvars.bound_contextvars(request_id=request_id), current:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as error:  # noqa: BLE001 - the last line of defence for any bug
                failure = error
                if status is None:
                    response = server_error_response(scope, error, expose=self.expose_errors)
                    await response(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                if self.http_metrics is not None:
                    self.http_metrics.in_flight.dec()
                    self.http_metrics.observe(
                        scope["method"], route_template(scope), status, seconds
                    )
                failure = failure or scope["state"].get(UNHANDLED_ERROR)
                self._log(scope, status, seconds, bytes_out, failure)
                if span is not None:
                    end_server_span(
                        span,
                        method=scope["method"],
                        route=route_template(scope),
                        status=status,
                        failure=failure,
                    )

    def _log(
        self,
        scope: Scope,
        status: int | None,
        seconds: float,
        bytes_out: int,
        failure: Exception | None,
    ) -> None:
        client = client_ip(scope, self.trusted_proxy_hops)
        principal = scope["state"].get(PRINCIPAL_STATE)
        fields: dict[str, Any] = {
            **scope["state"].get(LOG_FIELDS_STATE, {}),
            "method": scope["method"],
            "route": route_template(scope),
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "client": str(client) if client else None,
            "bytes_out": bytes_out,
        }
        if isinstance(principal, Principal):
            fields["principal"] = principal.subject
            fields["tenant"] = principal.tenant_id
        if failure is not None:
            if self.report_error is not None:
                # The event id on the log line leads from the line to the event.
                fields["error_event_id"] = self.report_error(
                    failure,
                    {
                        "request_id": scope["state"]["request_id"],
                        "principal": fields.get("principal"),
                        "tenant": fields.get("tenant"),
                        "route": fields["route"],
                        "trace_id": current_trace_id(),
                    },
                )
            self.logger.error("request", exc_info=failure, **fields)
        elif status == SERVICE_UNAVAILABLE:
            # Expected while draining or when a dependency is down; its own
            # cause is logged where it happens.
            self.logger.warning("request", **fields)
        elif status is None or status >= SERVER_ERROR:
            self.logger.error("request", **fields)
        else:
            self.logger.info("request", **fields)
