"""What the guardrails do when their store cannot be reached.

Every gate reports a failed store call to `StoreFailures`, which counts it,
logs it at most once per interval per gate (a Redis outage must not turn
into one log line per request), and remembers it for /readyz. The gate then
applies its own policy: fail open (let the request through) or fail closed
(`GuardrailUnavailableError`, a 503 with `Retry-After`).
"""

import time
from collections.abc import Callable

from ..errors import ServiceUnavailableError
from ..logging import get_logger
from .metrics import GuardrailMetrics
from .store import StoreUnavailableError

RETRY_AFTER_SECONDS = 5


class GuardrailUnavailableError(ServiceUnavailableError):
    slug = "guardrail-unavailable"

    def __init__(self, gate: str) -> None:
        message = f"The {gate.replace('_', ' ')} check is unavailable; try again shortly."
        super().__init__(message, retry_after=RETRY_AFTER_SECONDS)


class StoreFailures:
    """Counts, throttles the logging of, and remembers store failures.

    Args:
        metrics: where failures are counted.
        log_interval_seconds: at most one log line per gate per interval.
        clock: monotonic seconds; tests pass their own.
    """

    def __init__(
        self,
        metrics: GuardrailMetrics,
        *,
        log_interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._interval = log_interval_seconds
        self._clock = clock
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._logger = get_logger("guardrails")

    def record(self, gate: str, error: StoreUnavailableError) -> None:
        self._metrics.store_failures.labels(gate=gate).inc()
        now = self._clock()
        last = self._last_logged.get(gate)
        if last is not None and now - last < self._interval:
            self._suppressed[gate] = self._suppressed.get(gate, 0) + 1
            return
        self._last_logged[gate] = now
        self._logger.error(
            "guardrail store unavailable",
            gate=gate,
            error=str(error),
            suppressed=self._suppressed.pop(gate, 0),
        )
