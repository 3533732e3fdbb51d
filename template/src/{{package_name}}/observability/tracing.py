"""Traces: OpenTelemetry spans for every request and the calls it makes, sent over OTLP.

Tracing is on when `TRACING__ENDPOINT` (or the standard `OTEL_EXPORTER_OTLP_ENDPOINT`)
names a collector. Each app owns its tracer provider, made by `create_app`;
nothing is set process-wide, so apps (and tests) never see each other's spans.

- The request-context middleware opens the server span of each request, from
  a caller's W3C `traceparent` when there is one; every log line written while
  a span is current carries its trace and span ids (`logging.add_trace_ids`).
- Client spans come from the instrumentation of the clients the app owns: the
  LLM gateway's aiohttp session (which also sends `traceparent` upstream), the
  SQLAlchemy engine and the Redis client. Each is instrumented per object, never
  by patching the library for the whole process.
- With tracing off, none of this exists: no span is made and no client is wrapped.
"""

from __future__ import annotations

import contextlib
import traceback
from typing import TYPE_CHECKING, ClassVar, Final
from urllib.parse import unquote

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import Field, HttpUrl, SecretStr, field_validator

from ..gates import GateSettings
from ..redaction import redact_text

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

INSTRUMENTATION_NAME: Final = "launchgate.server"
SERVER_ERROR: Final = 500
# A header name as HTTP allows it (RFC 9110 token).
_HEADER_NAME: Final = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


class TracingSettings(GateSettings):
    """Traces: OpenTelemetry spans of every request, exported over OTLP/HTTP."""

    endpoint: HttpUrl | None = Field(
        default=None,
        description="Base URL of an OTLP/HTTP collector; spans go to <endpoint>/v1/traces. "
        "Unset: tracing is off.",
        examples=["http://otel-collector:4318"],
    )
    headers: SecretStr | None = Field(
        default=None,
        description="Headers sent with every export, as name=value pairs separated by "
        "commas (values percent-encoded), e.g. a hosted backend's API key.",
    )
    sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of new traces recorded (0 to 1). A caller's traceparent decides "
        "for the traces it starts.",
    )
    export_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Time limit of one export to the collector."
    )

    # The names the OpenTelemetry SDKs and collectors' documentation use.
    conventional_variables: ClassVar[dict[str, str]] = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "endpoint",
        "OTEL_EXPORTER_OTLP_HEADERS": "headers",
    }

    @field_validator("headers")
    @classmethod
    def _parses(cls, headers: SecretStr | None) -> SecretStr | None:
        if headers is not None:
            # Raises without the value: it holds credentials.
            parse_headers(headers.get_secret_value())
        return headers

    def traces_url(self) -> str | None:
        if self.endpoint is None:
            return None
        return f"{str(self.endpoint).rstrip('/')}/v1/traces"


def parse_headers(text: str) -> dict[str, str]:
    """`name=value,name2=value2` (OTEL_EXPORTER_OTLP_HEADERS' format) as a dict.

    Raises:
        ValueError: naming the position of a malformed pair, never its content.
    """
    headers: dict[str, str] = {}
    for position, pair in enumerate(text.split(","), start=1):
        if not pair.strip():
            continue
        name, separator, value = pair.partition("=")
        name = name.strip().lower()
        if not separator or not name or not set(name) <= _HEADER_NAME:
            message = f"pair {position} must be name=value with a valid header name"
            raise ValueError(message)
        headers[name] = unquote(value.strip())
    return headers


class Tracing:
    """The app's tracer provider, and the tracers and hooks made from it."""

    def __init__(self, provider: TracerProvider, exporter: SpanExporter, *, batch: bool) -> None:
        self.provider = provider
        self._exporter = exporter
        self._batch = batch

    @classmethod
    def create(
        cls,
        settings: TracingSettings,
        *,
        resource: Mapping[str, str],
        exporter: SpanExporter | None = None,
    ) -> Tracing | None:
        """Tracing for one app, or None when it is off.

        `exporter` replaces the OTLP exporter (tests pass an in-memory one); it
        turns tracing on and exports each span as it ends.
        """
        url = settings.traces_url()
        if exporter is None and url is None:
            return None
        provider = TracerProvider(
            resource=Resource.create(dict(resource)),
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
        )
        if exporter is not None:
            return cls(provider, exporter, batch=False)
        # Imported here: the exporter pulls in protobuf and requests, needed only
        # when spans are sent somewhere.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        headers = settings.headers
        otlp = OTLPSpanExporter(
            endpoint=url,
            headers=parse_headers(headers.get_secret_value()) if headers else None,
            timeout=settings.export_timeout_seconds,
        )
        return cls(provider, otlp, batch=True)

    @contextlib.contextmanager
    def exporting(self) -> Iterator[None]:
        """Export spans for the life of the app; on exit, send what is left and stop.

        Batching runs in a thread of its own, started here (by the lifespan, in
        each worker process) and not when the app is built.
        """
        processor = (
            BatchSpanProcessor(self._exporter)
            if self._batch
            else SimpleSpanProcessor(self._exporter)
        )
        self.provider.add_span_processor(processor)
        try:
            yield
        finally:
            self.provider.shutdown()

    def tracer(self) -> Tracer:
        return self.provider.get_tracer(INSTRUMENTATION_NAME)


def start_server_span(
    tracer: Tracer, scope: Mapping[str, object], headers: Mapping[str, str]
) -> Span:
    """The server span of a request, child of the caller's `traceparent` when it sent one."""
    # Imported here: `propagate` reads its configuration on first import.
    from opentelemetry.propagate import extract  # noqa: PLC0415

    method = str(scope["method"])
    return tracer.start_span(
        method,
        context=extract(headers),
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": method,
            "url.path": str(scope["path"]),
            "url.scheme": str(scope.get("scheme", "http")),
            "network.protocol.version": str(scope.get("http_version", "1.1")),
        },
    )


def end_server_span(
    span: Span,
    *,
    method: str,
    route: str | None,
    status: int | None,
    failure: BaseException | None,
) -> None:
    """Name the span by its route template, record the outcome, and end it.

    An exception is recorded by hand, through the log redaction: the SDK's own
    `record_exception` would copy its message and stack as they are.
    """
    if route is not None:
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if failure is not None:
        span.add_event(
            "exception",
            {
                "exception.type": type(failure).__qualname__,
                "exception.message": redact_text(str(failure)),
                "exception.stacktrace": redact_text("".join(traceback.format_exception(failure))),
            },
        )
    if failure is not None or status is None or status >= SERVER_ERROR:
        span.set_status(Status(StatusCode.ERROR, type(failure).__qualname__ if failure else None))
    span.end()
