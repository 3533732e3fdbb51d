"""The gateway: one request, the fallback chain, each provider retried and guarded by a breaker.

The chain for a tier is `LLM__PROVIDERS` in order, each with its model and
prices for that tier (a `Route`). For each route in turn: skip it at once
while its circuit breaker is open; otherwise call it, retrying transient
failures (`retry.py`), each attempt bounded by what is left of the request's
`Deadline`. A rejected request (4xx) is not retried but still tried on the
next provider, whose limits may differ. When the deadline runs out the chain
stops: there is no time left for anyone.

When every route failed the request fails as a whole: 502 when every
provider rejected it (retrying will not help), else 503 with a Retry-After
of when a provider is expected back.

A streamed answer falls back and retries only until its first text arrived;
after that a failure reaches the caller, whose client already holds part of
the answer. The whole stream, not only its start, fits in the deadline.
"""

import asyncio
import functools
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Protocol, Self

from ..logging import get_logger
from .breaker import BreakerCall, BreakerState, CircuitBreaker
from .deadline import Clock, Deadline
from .errors import (
    AllProvidersFailedError,
    FailureKind,
    ProviderFailure,
    UpstreamError,
    UpstreamRejectedError,
)
from .messages import (
    Completion,
    Message,
    ModelRequest,
    Prices,
    StreamEnd,
    StreamEvent,
    TextDelta,
    Tier,
)
from .provider import Provider
from .retry import GaveUpError, GiveUpReason, Retrier, Sleep
from .settings import LlmSettings

_logger = get_logger("llm.gateway")

# Outcomes of an attempt besides the `FailureKind` values (the observer's label values).
SUCCESS: Final = "success"
# The caller went away, or closed a stream early: no verdict on the provider.
CANCELLED: Final = "cancelled"
# The provider raised something other than UpstreamError: a bug, re-raised as it is.
ERROR: Final = "error"

# Retry-After when a failed provider gave no hint of when it will be back.
_UNKNOWN_WAIT_SECONDS: Final = 5.0


class GatewayObserver(Protocol):
    """What the metrics see of the gateway. Calls are synchronous and must not raise."""

    def attempt(self, provider: str, model: str, outcome: str, seconds: float) -> None:
        """One call to a provider ended (or a route was skipped: `breaker_open`, 0 seconds).

        `outcome` is `success`, `cancelled`, `error` or a `FailureKind` value.
        """

    def breaker_changed(self, provider: str, state: BreakerState) -> None:
        """A provider's circuit breaker changed state."""


class _NoObserver:
    def attempt(self, provider: str, model: str, outcome: str, seconds: float) -> None:
        pass

    def breaker_changed(self, provider: str, state: BreakerState) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Route:
    """One step of the fallback chain: a provider, the model it is asked for, its prices."""

    provider: str
    model: str
    prices: Prices


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole answer and how it was obtained."""

    completion: Completion
    route: Route
    # Calls made to the provider that answered, the successful one included.
    attempts: int
    # The providers tried before it, in order, and how each failed.
    failures: tuple[ProviderFailure, ...]
    # From the gateway's first step to the answer: retries and fallbacks included.
    latency_seconds: float


@dataclass(slots=True)
class _Tally:
    """What happened on one route: calls actually made and the last failure of one."""

    calls: int = 0
    last_error: UpstreamError | None = None


@dataclass(frozen=True, slots=True)
class _Opened:
    """A provider stream whose first event arrived."""

    events: AsyncIterator[StreamEvent]
    first: StreamEvent
    call: BreakerCall
    started: float


@dataclass(frozen=True, slots=True)
class _Success[T]:
    value: T
    route: Route
    attempts: int
    failures: tuple[ProviderFailure, ...]


@dataclass(slots=True)
class _Chain:
    """The failures so far of one request's walk along the chain."""

    failures: list[ProviderFailure] = field(default_factory=list)
    # Per failed route that is not the request's fault: seconds until it may work again.
    waits: list[float] = field(default_factory=list)


async def _aclose(events: AsyncIterator[StreamEvent]) -> None:
    """Close a provider's stream: that closes its connection, so the provider stops generating."""
    aclose: Callable[[], Awaitable[object]] | None = getattr(events, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except UpstreamError as error:
        # The stream is being abandoned anyway; its last words change nothing.
        _logger.info(
            "provider stream did not close cleanly", provider=error.provider, kind=error.kind.value
        )


class LlmGateway:
    """Completions through the fallback chain. One per app; safe for concurrent requests.

    Its circuit breakers live as long as it does: create it once, in the
    lifespan, not per request.
    """

    def __init__(
        self,
        settings: LlmSettings,
        providers: Mapping[str, Provider],
        *,
        observer: GatewayObserver | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        missing = [name for name in settings.providers if name not in providers]
        if missing:
            message = f"no provider object for {', '.join(missing)} of LLM__PROVIDERS"
            raise ValueError(message)
        self._settings = settings
        self._providers: dict[str, Provider] = {
            name: providers[name] for name in settings.providers
        }
        self._observer: GatewayObserver = observer or _NoObserver()
        self._clock = clock
        self._retrier = Retrier(settings.retry, sleep=sleep)
        self._breakers: dict[str, CircuitBreaker] = {
            name: CircuitBreaker(
                name, settings.breaker, clock=clock, on_change=self._observer.breaker_changed
            )
            for name in settings.providers
        }
        self._routes = {
            tier: tuple(
                Route(
                    name,
                    settings.models(name).model_for(tier),
                    settings.models(name).prices_for(tier),
                )
                for name in settings.providers
            )
            for tier in Tier
        }

    def routes(self, tier: Tier) -> tuple[Route, ...]:
        """The fallback chain for `tier`, in order: reserve the worst case of it."""
        return self._routes[tier]

    def breaker_states(self) -> dict[str, BreakerState]:
        """Each provider's breaker state now (for a gauge read at scrape time)."""
        return {name: breaker.state for name, breaker in self._breakers.items()}

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tier: Tier,
        max_output_tokens: int,
        deadline: Deadline,
    ) -> Answer:
        """The whole answer of the first route that gives one.

        Raises:
            UpstreamRejectedError: every provider rejected the request (502).
            AllProvidersFailedError: every provider failed or was skipped (503).
        """
        started = self._clock()
        success = await self._walk(
            tier,
            deadline,
            functools.partial(
                self._complete_once, messages=tuple(messages), limit=max_output_tokens
            ),
        )
        return Answer(
            success.value,
            success.route,
            success.attempts,
            success.failures,
            self._clock() - started,
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tier: Tier,
        max_output_tokens: int,
        deadline: Deadline,
    ) -> "AnswerStream":
        """The answer as it is generated; nothing is called until it is opened or iterated."""
        opener = functools.partial(
            self._walk,
            tier,
            deadline,
            functools.partial(self._open_once, messages=tuple(messages), limit=max_output_tokens),
        )
        progress = _Progress()
        return AnswerStream(self._relay(opener, deadline, progress), progress)

    async def _walk[T](
        self,
        tier: Tier,
        deadline: Deadline,
        attempt: Callable[[Route, _Tally, Deadline], Awaitable[T]],
    ) -> _Success[T]:
        chain = _Chain()
        for route in self.routes(tier):
            if deadline.expired:
                chain.failures.append(ProviderFailure(route.provider, FailureKind.DEADLINE, 0))
                chain.waits.append(_UNKNOWN_WAIT_SECONDS)
                break
            tally = _Tally()
            try:
                retried = await self._retrier.run(
                    functools.partial(attempt, route, tally, deadline), deadline
                )
            except GaveUpError as gave_up:
                error = tally.last_error or gave_up.error
                self._failed(
                    chain,
                    route,
                    ProviderFailure(route.provider, error.kind, tally.calls, error.status),
                    error,
                    gave_up.reason,
                )
                if error.kind is FailureKind.DEADLINE or deadline.expired:
                    break
                continue
            return _Success(retried.value, route, tally.calls, tuple(chain.failures))
        raise self._exhausted(chain)

    def _failed(
        self,
        chain: _Chain,
        route: Route,
        failure: ProviderFailure,
        error: UpstreamError,
        reason: GiveUpReason,
    ) -> None:
        chain.failures.append(failure)
        if failure.kind is FailureKind.BREAKER_OPEN and failure.attempts == 0:
            _logger.info("provider skipped", provider=route.provider, kind=failure.kind.value)
        else:
            _logger.warning(
                "provider failed",
                provider=route.provider,
                model=route.model,
                kind=failure.kind.value,
                status=failure.status,
                attempts=failure.attempts,
                gave_up=reason.value,
            )
        if failure.kind is FailureKind.REJECTED:
            return
        cooldown = self._breakers[route.provider].remaining_cooldown()
        if cooldown > 0:
            chain.waits.append(cooldown)
        elif error.retry_after is not None:
            chain.waits.append(error.retry_after)
        else:
            chain.waits.append(_UNKNOWN_WAIT_SECONDS)

    def _exhausted(self, chain: _Chain) -> AllProvidersFailedError | UpstreamRejectedError:
        failures = tuple(chain.failures)
        if failures and all(failure.kind is FailureKind.REJECTED for failure in failures):
            return UpstreamRejectedError(failures)
        # When the first provider may be back, never beyond a breaker's cooldown:
        # by then every breaker lets a trial through.
        longest = math.ceil(self._settings.breaker.cooldown_seconds)
        soonest = min(chain.waits, default=_UNKNOWN_WAIT_SECONDS)
        return AllProvidersFailedError(
            failures, retry_after=max(1, min(longest, math.ceil(soonest)))
        )

    def _admit(self, route: Route, deadline: Deadline) -> BreakerCall:
        """The breaker's leave to call `route`, or the UpstreamError that ends its attempts."""
        if deadline.expired:
            raise UpstreamError(FailureKind.DEADLINE, route.provider, "no time left for an attempt")
        call = self._breakers[route.provider].admit()
        if call is None:
            self._observer.attempt(route.provider, route.model, FailureKind.BREAKER_OPEN.value, 0.0)
            raise UpstreamError(FailureKind.BREAKER_OPEN, route.provider, "circuit breaker open")
        return call

    async def _complete_once(
        self,
        route: Route,
        tally: _Tally,
        deadline: Deadline,
        *,
        messages: tuple[Message, ...],
        limit: int,
    ) -> Completion:
        call = self._admit(route, deadline)
        tally.calls += 1
        started = self._clock()
        outcome = ERROR
        try:
            completion = await _within(
                deadline,
                route,
                self._providers[route.provider].complete(
                    ModelRequest(route.model, messages, limit)
                ),
            )
        except UpstreamError as error:
            tally.last_error = error
            call.failed(error.kind)
            outcome = error.kind.value
            raise
        except asyncio.CancelledError:
            outcome = CANCELLED
            raise
        else:
            call.succeeded()
            outcome = SUCCESS
            return completion
        finally:
            call.abandoned()
            self._observer.attempt(route.provider, route.model, outcome, self._clock() - started)

    async def _open_once(
        self,
        route: Route,
        tally: _Tally,
        deadline: Deadline,
        *,
        messages: tuple[Message, ...],
        limit: int,
    ) -> _Opened:
        call = self._admit(route, deadline)
        tally.calls += 1
        started = self._clock()
        events = self._providers[route.provider].stream(ModelRequest(route.model, messages, limit))
        outcome = ERROR
        try:
            first = await _next_event(deadline, route, events)
        except UpstreamError as error:
            tally.last_error = error
            call.failed(error.kind)
            outcome = error.kind.value
            raise
        except asyncio.CancelledError:
            outcome = CANCELLED
            raise
        else:
            # The attempt goes on while the stream is relayed; `_relay` ends it.
            outcome = SUCCESS
            return _Opened(events, first, call, started)
        finally:
            if outcome != SUCCESS:
                call.abandoned()
                self._observer.attempt(
                    route.provider, route.model, outcome, self._clock() - started
                )
                await _aclose(events)

    async def _relay(
        self,
        open_chain: Callable[[], Awaitable[_Success[_Opened]]],
        deadline: Deadline,
        progress: "_Progress",
    ) -> AsyncGenerator[TextDelta]:
        success = await open_chain()
        progress.route = route = success.route
        progress.attempts = success.attempts
        progress.failures = success.failures
        opened = success.value
        outcome = ERROR
        try:
            event = opened.first
            while isinstance(event, TextDelta):
                yield event
                event = await _next_event(deadline, route, opened.events)
            progress.end = event
            opened.call.succeeded()
            outcome = SUCCESS
        except UpstreamError as error:
            # Part of the answer is out already: no retry, no fallback.
            opened.call.failed(error.kind)
            outcome = error.kind.value
            _logger.warning(
                "provider stream failed",
                provider=route.provider,
                model=route.model,
                kind=error.kind.value,
                status=error.status,
            )
            raise
        except (GeneratorExit, asyncio.CancelledError):
            outcome = CANCELLED
            raise
        finally:
            opened.call.abandoned()
            self._observer.attempt(
                route.provider, route.model, outcome, self._clock() - opened.started
            )
            await _aclose(opened.events)


@dataclass(slots=True)
class _Progress:
    route: Route | None = None
    attempts: int = 0
    failures: tuple[ProviderFailure, ...] = ()
    end: StreamEnd | None = None


class AnswerStream:
    """A streamed answer: an async iterator of `TextDelta`s.

    Nothing is called until `open()` or the first iteration. `open()` walks
    the chain until a provider sent its first event, so a caller can still
    answer with an error status (503, 502) before it starts its own response;
    iterating opens it too.

    Close it (`aclose()`, or `async with`) when stopping early: that closes
    the provider's stream, and is no failure of the provider. Once the
    iterator is exhausted, `end` holds the provider's `StreamEnd` (usage).
    """

    def __init__(self, events: AsyncGenerator[TextDelta], progress: _Progress) -> None:
        self._events = events
        self._progress = progress
        self._opened = False
        self._pending: TextDelta | None = None

    @property
    def route(self) -> Route | None:
        """The route that answers, once opened."""
        return self._progress.route

    @property
    def attempts(self) -> int:
        """Calls made to the provider that answers, once opened."""
        return self._progress.attempts

    @property
    def failures(self) -> tuple[ProviderFailure, ...]:
        """The providers tried before the one that answers, and how each failed."""
        return self._progress.failures

    @property
    def end(self) -> StreamEnd | None:
        """The provider's last event, once the answer is complete; None before, or if cut short."""
        return self._progress.end

    async def open(self) -> None:
        """Find the provider that answers: it has sent its first event.

        Raises:
            UpstreamRejectedError: every provider rejected the request (502).
            AllProvidersFailedError: every provider failed or was skipped (503).
        """
        if self._opened:
            return
        self._opened = True
        self._pending = await anext(self._events, None)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> TextDelta:
        if not self._opened:
            await self.open()
        if self._pending is not None:
            delta, self._pending = self._pending, None
            return delta
        return await anext(self._events)

    async def aclose(self) -> None:
        """Stop: close the provider's stream. Safe to call more than once."""
        self._pending = None
        await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


async def _within[T](deadline: Deadline, route: Route, awaitable: Awaitable[T]) -> T:
    """`awaitable`, cut off when the deadline expires (an UpstreamError of kind DEADLINE)."""
    try:
        async with asyncio.timeout(deadline.remaining()) as scope:
            return await awaitable
    except TimeoutError as error:
        if not scope.expired():
            raise
        message = "the request's deadline expired during the attempt"
        raise UpstreamError(FailureKind.DEADLINE, route.provider, message) from error


async def _next_event(
    deadline: Deadline, route: Route, events: AsyncIterator[StreamEvent]
) -> StreamEvent:
    try:
        return await _within(deadline, route, anext(events))
    except StopAsyncIteration as error:
        message = "the stream ended without its end event"
        raise UpstreamError(FailureKind.MALFORMED, route.provider, message) from error
