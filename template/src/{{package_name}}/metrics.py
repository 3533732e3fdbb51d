"""The request instruments: what every HTTP request adds to the app's registry.

`create_app` makes one registry and every gate counts on it (the guardrails'
decisions, the LLM gateway's calls, tokens and cost), so each app and each
test counts on its own and nothing is registered at import time. The
request-context middleware records each request here;
`observability/prometheus.py` serves the registry as `/metrics`.

Requests are counted by method, route template and status class. Each label
has a bounded set of values whatever clients send (an unknown method is
`other`, a path that no route matches is `unmatched`), so the number of
series stays bounded too.
"""

from dataclasses import dataclass
from typing import Final, Self

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED: Final = "unmatched"
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
