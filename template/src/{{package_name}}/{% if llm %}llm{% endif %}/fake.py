"""A provider without a network, for development, tests and demos; production refuses it.

Its answer is a function of the request alone: the last user message, echoed
after a fixed preamble, one token per word. The same request always gets the
same text, usage and finish reason.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Final

from .messages import Completion, ModelRequest, StreamEnd, StreamEvent, TextDelta, Usage
from .settings import FakeProviderSettings

PREAMBLE: Final = ("Fake", "answer", "to:")


class FakeProvider:
    name = "fake"

    def __init__(self, settings: FakeProviderSettings) -> None:
        self._latency = settings.latency_seconds

    async def complete(self, request: ModelRequest) -> Completion:
        words, usage, finish_reason = _answer(request)
        await asyncio.sleep(self._latency)
        return Completion(
            text=" ".join(words), usage=usage, finish_reason=finish_reason, model=request.model
        )

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        words, usage, finish_reason = _answer(request)
        # The latency is spread over the words, as a real stream's would be.
        pause = self._latency / max(1, len(words))
        for index, word in enumerate(words):
            await asyncio.sleep(pause)
            yield TextDelta(word if index == 0 else f" {word}")
        yield StreamEnd(usage=usage, finish_reason=finish_reason, model=request.model)


def count_tokens(text: str) -> int:
    """The fake provider's tokenizer: one token per word."""
    return len(text.split())


def _answer(request: ModelRequest) -> tuple[list[str], Usage, str]:
    last_user = next(
        (message.content for message in reversed(request.messages) if message.role == "user"), ""
    )
    words = [*PREAMBLE, *last_user.split()]
    finish_reason = "stop"
    if len(words) > request.max_output_tokens:
        words = words[: request.max_output_tokens]
        finish_reason = "length"
    # One token per word of each message, and one per message for its role.
    input_tokens = sum(count_tokens(message.content) + 1 for message in request.messages)
    return words, Usage(input_tokens=input_tokens, output_tokens=len(words)), finish_reason
