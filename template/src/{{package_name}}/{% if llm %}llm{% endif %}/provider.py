"""The interface every provider implements, and what a gateway needs to know of one."""

from collections.abc import AsyncIterator
from typing import Protocol

from .messages import Completion, ModelRequest, StreamEvent


class Provider(Protocol):
    """One LLM API. Every failure is raised as `UpstreamError`, already classified.

    A provider makes exactly one attempt per call, bounded by the per-attempt
    timeouts (`LLM__TIMEOUT__*`); retries, breakers and fallback are the
    gateway's.
    """

    # The name of its settings section and of its label in logs and metrics.
    name: str

    async def complete(self, request: ModelRequest) -> Completion:
        """The whole answer to `request`."""
        ...

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """The answer as it is generated: `TextDelta`s, then exactly one `StreamEnd`.

        Closing the iterator early (the client went away) closes the upstream
        connection, which is how a provider learns to stop generating.
        """
        ...
