"""Retries of one provider: transient failures only, with backoff, inside the deadline.

A failure is retried when its kind is retryable (timeouts, connection errors,
429, 5xx), up to `max_attempts` attempts, with exponential backoff and full
jitter between `backoff_initial_seconds` and `backoff_max_seconds`. A
provider's Retry-After is waited for when it is at most
`retry_after_cap_seconds`; a longer one gives up on the provider at once, so
the fallback chain can move on instead of holding the request. No sleep ever
runs past the deadline: when the next wait does not fit in the time left,
retrying stops.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_random_exponential,
)

from .deadline import Deadline
from .errors import UpstreamError
from .settings import RetrySettings

Sleep = Callable[[float], Awaitable[None]]


class GiveUpReason(StrEnum):
    # The failure is not transient (or not the provider's to retry): rejected, deadline, ...
    NOT_RETRYABLE = "not_retryable"
    ATTEMPTS = "attempts"
    # The provider asked for a longer wait than `retry_after_cap_seconds`.
    RETRY_AFTER = "retry_after"
    # The next wait does not fit in what is left of the deadline.
    DEADLINE = "deadline"


@dataclass(frozen=True, slots=True)
class Retried[T]:
    value: T
    attempts: int


class GaveUpError(Exception):
    """Retrying one provider ended without an answer: the last failure and why it stopped."""

    def __init__(self, error: UpstreamError, attempts: int, reason: GiveUpReason) -> None:
        super().__init__(f"{error} (gave up after {attempts} attempt(s): {reason.value})")
        self.error = error
        self.attempts = attempts
        self.reason = reason


def _retryable(error: BaseException) -> bool:
    return isinstance(error, UpstreamError) and error.retryable


def _failure(retry_state: RetryCallState) -> UpstreamError:
    outcome = retry_state.outcome
    error = outcome.exception() if outcome is not None else None
    if not isinstance(error, UpstreamError):  # pragma: no cover - only retryable errors get here
        message = "a retry decision needs the UpstreamError that caused it"
        raise TypeError(message)
    return error


class Retrier:
    """Runs one provider's attempts. One per gateway; safe for concurrent requests."""

    def __init__(self, settings: RetrySettings, *, sleep: Sleep = asyncio.sleep) -> None:
        self._settings = settings
        self._sleep = sleep
        # Full jitter: the n-th wait is uniform between the initial wait and
        # initial * 2**n (at most the max), so clients that failed together
        # do not come back together.
        self._backoff = wait_random_exponential(
            multiplier=2 * settings.backoff_initial_seconds,
            min=settings.backoff_initial_seconds,
            max=settings.backoff_max_seconds,
        )

    def wait(self, retry_state: RetryCallState) -> float:
        """Seconds to wait before the next attempt: the backoff, or longer if the provider asks."""
        if not self._settings.backoff:
            return 0.0
        backoff = float(self._backoff(retry_state))
        retry_after = _failure(retry_state).retry_after
        if retry_after is None or retry_after > self._settings.retry_after_cap_seconds:
            return backoff
        return max(backoff, retry_after)

    def give_up_reason(
        self, retry_state: RetryCallState, deadline: Deadline
    ) -> GiveUpReason | None:
        """Why the attempt just failed must be the last one, or None to retry."""
        if retry_state.attempt_number >= self._settings.max_attempts:
            return GiveUpReason.ATTEMPTS
        retry_after = _failure(retry_state).retry_after
        if retry_after is not None and retry_after > self._settings.retry_after_cap_seconds:
            return GiveUpReason.RETRY_AFTER
        # The sleep must leave room for the attempt after it, so equal does not fit.
        if retry_state.upcoming_sleep >= deadline.remaining():
            return GiveUpReason.DEADLINE
        return None

    async def run[T](self, attempt: Callable[[], Awaitable[T]], deadline: Deadline) -> Retried[T]:
        """Call `attempt` until it returns or retrying stops.

        Raises:
            GaveUpError: an `UpstreamError` ended the attempts; it carries that
                error, how many attempts were made and why they stopped.

        Anything else `attempt` raises (cancellation included) propagates untouched.
        """
        reason: GiveUpReason | None = None

        def stop(retry_state: RetryCallState) -> bool:
            nonlocal reason
            reason = self.give_up_reason(retry_state, deadline)
            return reason is not None

        retrying = AsyncRetrying(
            sleep=self._sleep,
            stop=stop,
            wait=self.wait,
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt_manager in retrying:
                with attempt_manager:
                    attempts += 1
                    value = await attempt()
        except UpstreamError as error:
            raise GaveUpError(error, attempts, reason or GiveUpReason.NOT_RETRYABLE) from error
        return Retried(value, attempts)
