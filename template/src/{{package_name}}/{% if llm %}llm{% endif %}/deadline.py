"""One deadline per request: every attempt, backoff sleep and fallback fits inside it."""

import time
from collections.abc import Callable

# Seconds from an arbitrary origin that never goes backwards, like `time.monotonic`.
Clock = Callable[[], float]


class Deadline:
    """The moment a request's upstream work must be done by.

    Created when the request reaches the gateway and passed down to every
    attempt, so a retry or a fallback can ask how much time is left instead of
    each layer starting a fresh timeout of its own.
    """

    __slots__ = ("_clock", "_ends_at", "seconds")

    def __init__(self, seconds: float, *, clock: Clock = time.monotonic) -> None:
        if seconds < 0:
            message = f"a deadline needs a non-negative number of seconds, not {seconds}"
            raise ValueError(message)
        self.seconds = seconds
        self._clock = clock
        self._ends_at = clock() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._ends_at - self._clock())

    def elapsed(self) -> float:
        """Seconds since the deadline was created."""
        return self.seconds - (self._ends_at - self._clock())

    @property
    def expired(self) -> bool:
        return self._clock() >= self._ends_at

    def __repr__(self) -> str:
        return f"Deadline(seconds={self.seconds}, remaining={self.remaining():.3f})"
