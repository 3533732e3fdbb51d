"""What the gateway speaks: messages, requests to a model, and what comes back.

Provider modules translate these to and from their wire formats; nothing
outside them knows a provider's JSON.
"""

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


class Tier(StrEnum):
    """Which of a provider's two configured models a request is routed to."""

    STANDARD = "standard"
    ECONOMY = "economy"


@dataclass(frozen=True, slots=True)
class Prices:
    """What a model costs, per million tokens, in the cost cap's unit."""

    input_per_million: Decimal
    output_per_million: Decimal

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        million = Decimal(1_000_000)
        return (
            self.input_per_million * input_tokens + self.output_per_million * output_tokens
        ) / million


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One call to one model of one provider."""

    model: str
    messages: tuple[Message, ...]
    max_output_tokens: int


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a provider says it counted for a call."""

    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole answer of one provider."""

    text: str
    usage: Usage
    # The provider's own reason, normalised: stop, length, or what it said.
    finish_reason: str
    # The model that answered, as the provider names it.
    model: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    """The next piece of a streamed answer."""

    text: str


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last event of a streamed answer: usage is the provider's, when it sent it."""

    usage: Usage | None
    finish_reason: str
    model: str


StreamEvent = TextDelta | StreamEnd
