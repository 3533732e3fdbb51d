"""A circuit breaker per provider and process: a provider that keeps failing is skipped.

CLOSED lets every call through and watches their outcomes. It opens after
`consecutive_failures` failures in a row, or when `failure_ratio` of the last
`window` calls failed (judged only once `window` calls were seen, so three
calls after a restart cannot open it). OPEN refuses every call for
`cooldown_seconds`, then turns HALF_OPEN: exactly one trial call at a time
goes through; its success closes the breaker, its failure opens it again
for a fresh cooldown.

What counts: only failures whose `FailureKind.counts_against_provider` is
true (timeouts, connection errors, 429, 5xx, malformed answers). The others
are no verdict at all, neither success nor failure, and do not enter the
window:

- REJECTED (another 4xx) says the request, or the key, is at fault. Counted
  as a failure, one client's bad requests would open the breaker for every
  client; counted as a success, a stream of bad requests would dilute the
  ratio and hide a provider that fails everything else. A HALF_OPEN trial
  that ends REJECTED frees the trial for the next call.
- DEADLINE: the request ran out of time, which may have been spent on other
  providers before this one was called.
- A call that was cancelled (the client went away, a stream closed early).

A call admitted under one state whose outcome arrives after the breaker moved
on (it opened, or closed again) is ignored: the breaker has already decided
on fresher evidence.

The breaker is not thread-safe and needs no lock: it lives on one event loop.
"""

import time
from collections import deque
from collections.abc import Callable
from enum import StrEnum

from ..logging import get_logger
from .errors import FailureKind
from .settings import BreakerSettings

_logger = get_logger("llm.breaker")

Clock = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "closed"
    # Trying one call to find out whether the provider is back.
    HALF_OPEN = "half_open"
    OPEN = "open"


# Told of every change of state: the provider's name and the new state.
BreakerListener = Callable[[str, BreakerState], None]


class _Verdict(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    NONE = "none"


class BreakerCall:
    """One call the breaker let through: report how it ended, once.

    Later reports of the same call are ignored, so `abandoned()` in a
    `finally` after `succeeded()` or `failed()` is always safe.
    """

    __slots__ = ("_settle", "_settled", "generation", "trial")

    def __init__(
        self,
        settle: Callable[["BreakerCall", _Verdict], None],
        generation: int,
        *,
        trial: bool,
    ) -> None:
        self._settle = settle
        self._settled = False
        # Which state of the breaker admitted the call (a new one begins at each change).
        self.generation = generation
        # The HALF_OPEN trial: its outcome decides whether the breaker closes.
        self.trial = trial

    @property
    def settled(self) -> bool:
        return self._settled

    def succeeded(self) -> None:
        self._report(_Verdict.SUCCESS)

    def failed(self, kind: FailureKind) -> None:
        """The call failed with `kind`: a failure only if it is the provider's fault."""
        self._report(_Verdict.FAILURE if kind.counts_against_provider else _Verdict.NONE)

    def abandoned(self) -> None:
        """The call ended with no verdict on the provider: cancelled, rejected, out of time."""
        self._report(_Verdict.NONE)

    def _report(self, verdict: _Verdict) -> None:
        if not self._settled:
            self._settled = True
            self._settle(self, verdict)


class CircuitBreaker:
    """The breaker of one provider. See the module's docstring for the rules."""

    def __init__(
        self,
        provider: str,
        settings: BreakerSettings,
        *,
        clock: Clock = time.monotonic,
        on_change: BreakerListener | None = None,
    ) -> None:
        self.provider = provider
        self._settings = settings
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._opened_at = 0.0
        self._consecutive = 0
        # True for each failed call of the last `window` calls with a verdict.
        self._window: deque[bool] = deque(maxlen=settings.window)
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        """The state now; reading it turns an OPEN breaker whose cooldown is over HALF_OPEN."""
        if self._state is BreakerState.OPEN and self.remaining_cooldown() == 0:
            self._change(BreakerState.HALF_OPEN)
        return self._state

    def remaining_cooldown(self) -> float:
        """Seconds until an OPEN breaker lets a trial through; 0 in any other state."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._settings.cooldown_seconds - self._clock())

    def admit(self) -> BreakerCall | None:
        """Let a call through (report its end on the returned call), or refuse it: None."""
        state = self.state
        if state is BreakerState.CLOSED:
            return BreakerCall(self._settle, self._generation, trial=False)
        if state is BreakerState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return BreakerCall(self._settle, self._generation, trial=True)
        return None

    def _settle(self, call: BreakerCall, verdict: _Verdict) -> None:
        if call.generation != self._generation:
            return
        if call.trial:
            self._trial_running = False
            if verdict is _Verdict.SUCCESS:
                self._change(BreakerState.CLOSED)
            elif verdict is _Verdict.FAILURE:
                self._open()
            return
        if verdict is _Verdict.NONE:
            return
        failed = verdict is _Verdict.FAILURE
        self._window.append(failed)
        self._consecutive = self._consecutive + 1 if failed else 0
        if failed and (
            self._consecutive >= self._settings.consecutive_failures or self._ratio_exceeded()
        ):
            self._open()

    def _ratio_exceeded(self) -> bool:
        window = self._window
        if len(window) < self._settings.window:
            return False
        return sum(window) >= self._settings.failure_ratio * len(window)

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._change(BreakerState.OPEN)

    def _change(self, state: BreakerState) -> None:
        # Every change starts from a clean slate and a new generation, so
        # outcomes of calls admitted before it are ignored.
        self._state = state
        self._generation += 1
        self._consecutive = 0
        self._window.clear()
        self._trial_running = False
        log = _logger.warning if state is BreakerState.OPEN else _logger.info
        log("breaker changed", provider=self.provider, state=state.value)
        if self._on_change is not None:
            self._on_change(self.provider, state)
