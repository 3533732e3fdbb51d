"""Prometheus metrics: the app's registry, the HTTP request metrics and `/metrics`.

`create_app` makes one registry and every gate counts on it (the guardrails'
decisions, the LLM gateway's calls, tokens and cost), so each app and each
test counts on its own and nothing is registered at import time.

Requests are counted by method, route template and status class. Each label
has a bounded set of values whatever clients send (an unknown method is
`other`, a path that no route matches is `unmatched`), so the number of
series stays bounded too.

With several worker processes, `PROMETHEUS_MULTIPROC_DIR` is set (the server
sets it when `SERVER__WORKERS` is above 1): prometheus_client then keeps every
value in files there, and `/metrics` answers the sum over every worker,
whichever worker the scrape reaches.
"""

import hmac
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Self

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from pydantic import Field, SecretStr, field_validator
from starlette.responses import Response

from .errors import UnauthorizedError
from .gates import GateSettings, Refusal

MULTIPROCESS_DIRECTORY: Final = "PROMETHEUS_MULTIPROC_DIR"
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED: Final = "unmatched"
TOKEN_MIN_LENGTH: Final = 32
# Request durations, in seconds: fine below the 2.5 s objective, coarse above it.
DURATION_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


class MetricsSettings(GateSettings):
    """GET /metrics in Prometheus's text format."""

    enabled: bool = Field(default=True, description="Off: no /metrics route.")
    token: SecretStr | None = Field(
        default=None,
        description="Bearer token a scrape must send (Authorization: Bearer <token>). "
        f"At least {TOKEN_MIN_LENGTH} characters; required in production.",
    )

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < TOKEN_MIN_LENGTH:
            message = f"must be at least {TOKEN_MIN_LENGTH} characters"
            raise ValueError(message)
        return token

    def production_refusals(self) -> Iterator[Refusal]:
        if self.enabled and self.token is None:
            yield Refusal(
                "token",
                "is required in production, or anyone who reaches the service reads its "
                "metrics; set METRICS__TOKEN, or METRICS__ENABLED=false",
            )


@dataclass(frozen=True, slots=True)
class HttpMetrics:
    """What every request adds: its count, its duration, and the requests in flight."""

    registry: CollectorRegistry
    requests: Counter
    duration: Histogram
    in_flight: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Self:
        return cls(
            registry=registry,
            requests=Counter(
                "http_requests",
                "Requests answered, by method, route template and status class (2xx, ...).",
                ["method", "route", "status"],
                registry=registry,
            ),
            duration=Histogram(
                "http_request_duration_seconds",
                "Time from the request's arrival to its last byte, by method and route.",
                ["method", "route"],
                buckets=DURATION_BUCKETS,
                registry=registry,
            ),
            in_flight=Gauge(
                "http_requests_in_flight",
                "Requests being answered now.",
                registry=registry,
                multiprocess_mode="livesum",
            ),
        )

    def observe(self, method: str, route: str | None, status: int | None, seconds: float) -> None:
        """Count one answered request (`status` None: no response was started)."""
        method = method if method in METHODS else "other"
        route = route or UNMATCHED
        self.requests.labels(method, route, status_class(status)).inc()
        self.duration.labels(method, route).observe(seconds)


def status_class(status: int | None) -> str:
    """`2xx` for 204; `none` when the client went away before any response."""
    return "none" if status is None else f"{status // 100}xx"


def exposition(registry: CollectorRegistry) -> bytes:
    """The text format of `registry`, or of every worker's values in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_DIRECTORY):
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        return generate_latest(combined)
    return generate_latest(registry)


def forget_this_process() -> None:
    """In multiprocess mode, drop this worker's live gauges (requests in flight) as it stops."""
    if os.environ.get(MULTIPROCESS_DIRECTORY):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def authorised(request: Request, token: SecretStr | None) -> bool:
    """Whether the request carries the bearer token (any request, when none is set)."""
    if token is None:
        return True
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    # Compared in constant time, so the answer's timing gives nothing away.
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.encode(), expected)


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus's text format: every metric of this app (of every worker)."""
    settings: MetricsSettings = request.state.settings.metrics
    if not authorised(request, settings.token):
        detail = "Send the metrics token as Authorization: Bearer <METRICS__TOKEN>."
        raise UnauthorizedError(detail)
    registry: CollectorRegistry = request.state.metrics_registry
    return Response(exposition(registry), media_type=CONTENT_TYPE_LATEST)
