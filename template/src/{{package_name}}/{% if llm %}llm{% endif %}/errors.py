"""Upstream failures, classified once, where they happen.

Retries, the circuit breaker and the fallback chain all decide by
`FailureKind`, never by looking at status codes or exception types again.
"""

from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from typing import Final

from ..errors import PayloadTooLargeError, ServiceError, ServiceUnavailableError


class FailureKind(StrEnum):
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    # 429: the provider's rate limit or capacity.
    RATE_LIMITED = "rate_limited"
    # 408 and 5xx.
    SERVER = "server"
    # Other 4xx: the request itself is at fault (or the key is); retrying cannot help.
    REJECTED = "rejected"
    # 2xx with a body that is not what the API promises.
    MALFORMED = "malformed"
    # Not called at all: the provider's circuit breaker is open.
    BREAKER_OPEN = "breaker_open"
    # Not called (again): the request's deadline had no room left.
    DEADLINE = "deadline"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE

    @property
    def counts_against_provider(self) -> bool:
        """Whether the provider's circuit breaker counts this as the provider's failure."""
        return self in _PROVIDER_FAULTS


_RETRYABLE: Final = frozenset(
    {FailureKind.TIMEOUT, FailureKind.CONNECTION, FailureKind.RATE_LIMITED, FailureKind.SERVER}
)
_PROVIDER_FAULTS: Final = _RETRYABLE | {FailureKind.MALFORMED}


def kind_of_status(status: int) -> FailureKind:
    """The kind of failure an HTTP status (not 2xx) of a provider is."""
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        return FailureKind.RATE_LIMITED
    if status == HTTPStatus.REQUEST_TIMEOUT or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return FailureKind.SERVER
    return FailureKind.REJECTED


class UpstreamError(Exception):
    """One failed call to one provider.

    The message is for the log: it names the provider and what went wrong,
    never the API key or the prompt.
    """

    def __init__(
        self,
        kind: FailureKind,
        provider: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{provider}: {message}")
        self.kind = kind
        self.provider = provider
        self.status = status
        # Seconds the provider asked us to wait (Retry-After), when it said.
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind.retryable


@dataclass(frozen=True, slots=True)
class ProviderFailure:
    """How one provider of the chain failed a request: for the log line and the metrics."""

    provider: str
    kind: FailureKind
    attempts: int
    status: int | None = None

    def describe(self) -> str:
        status = f" {self.status}" if self.status is not None else ""
        return f"{self.provider}: {self.kind.value}{status} after {self.attempts} attempt(s)"


class AllProvidersFailedError(ServiceUnavailableError):
    """Every provider of the chain failed: 503 with Retry-After; the detail names none of them."""

    slug = "upstream-unavailable"
    title = "Upstream Unavailable"

    def __init__(self, failures: tuple[ProviderFailure, ...], *, retry_after: int) -> None:
        super().__init__(
            "The language model providers are unavailable right now; retry later.",
            retry_after=retry_after,
        )
        self.failures = failures


class UpstreamRejectedError(ServiceError):
    """Every provider refused the request itself (4xx): 502, and retrying will not help."""

    status = HTTPStatus.BAD_GATEWAY
    title = "Upstream Rejected the Request"
    slug = "upstream-rejected"

    def __init__(self, failures: tuple[ProviderFailure, ...]) -> None:
        super().__init__("The language model provider refused this request.")
        self.failures = failures


class PromptTooLargeError(PayloadTooLargeError):
    """The messages exceed `LLM__MAX_INPUT_TOKENS`: refused before any upstream call."""

    slug = "prompt-too-large"
    title = "Prompt Too Large"

    def __init__(self, tokens: int, limit: int) -> None:
        super().__init__(
            f"The messages count {tokens} tokens; at most {limit} are accepted.",
            extensions={"input_tokens": tokens, "max_input_tokens": limit},
        )
