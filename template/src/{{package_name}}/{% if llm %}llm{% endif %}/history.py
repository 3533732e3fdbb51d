"""Fitting a conversation into the history budget: trim, summarise, or drop the oldest turns.

Pure and deterministic apart from the summariser, which the caller provides
(the economy model, through the resilient gateway).
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from ..logging import get_logger
from .messages import Message
from .settings import HistorySettings
from .tokens import TokenCounter

_logger = get_logger("llm.gateway")

Summariser = Callable[[Sequence[Message]], Awaitable[str]]
"""Condenses older turns into a short text (at most `summary_max_tokens` of output)."""

# Tells the model (and anyone reading a transcript) that this is no user's message.
SUMMARY_LABEL: Final = (
    "Summary of the earlier part of this conversation, condensed by the service "
    "to fit the model's context:\n"
)


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """What to send, and what was done to get there."""

    messages: tuple[Message, ...]
    # Non-system messages of the input not sent as they were: trimmed, dropped or
    # replaced by the summary.
    dropped: int
    summarised: bool


async def fit_history(
    messages: Sequence[Message],
    *,
    settings: HistorySettings,
    counter: TokenCounter,
    summarise: Summariser,
) -> HistoryResult:
    """Fit `messages` into `settings.max_tokens`, keeping what matters most.

    1. System messages are always kept, first, in their order.
    2. Non-system messages are trimmed to the last `max_messages`.
    3. Still over `max_tokens`: the most recent turns that fit stay, with room
       for a summary; the older ones are summarised, and the summary is sent as a
       system message after the original ones. When the summariser fails, or its
       summary cannot fit even beside the last message alone, the older turns
       are dropped instead.

    The last message (the user's question) is always kept. The result fits
    `max_tokens` whenever the system messages and the last message do.
    """
    system = [message for message in messages if message.role == "system"]
    conversation = [message for message in messages if message.role != "system"]
    kept = conversation[-settings.max_messages :]
    trimmed = len(conversation) - len(kept)
    if not kept:
        return HistoryResult(tuple(system), trimmed, summarised=False)

    # Counts are additive (see TokenCounter): each message is counted once.
    base = counter.count_messages(())
    fixed = base + sum([await _cost(counter, message, base) for message in system])
    costs = [await _cost(counter, message, base) for message in kept]
    if fixed + sum(costs) <= settings.max_tokens:
        return HistoryResult((*system, *kept), trimmed, summarised=False)

    label_cost = await _cost(counter, Message("system", SUMMARY_LABEL), base)
    room = settings.max_tokens - fixed - label_cost - settings.summary_max_tokens
    split = _split(costs, room)
    # Nothing to summarise, or no room for a summary even beside the last message.
    if split > 0 and fixed + costs[-1] < settings.max_tokens:
        summary = await _summary(kept[:split], summarise)
        if summary is not None:
            message = Message("system", SUMMARY_LABEL + summary)
            # Measured, not trusted: another tokenizer, or a model that ignored
            # its limit, can make the summary longer than the room kept for it.
            # Then more of the older recent turns make way; never the last one.
            room = settings.max_tokens - fixed - await _cost(counter, message, base)
            recent = max(split, _split(costs, room))
            if sum(costs[recent:]) <= room:
                return HistoryResult(
                    (*system, message, *kept[recent:]), trimmed + recent, summarised=True
                )
            _logger.warning("history summary too long; older turns dropped", older_messages=split)

    split = _split(costs, settings.max_tokens - fixed)
    return HistoryResult((*system, *kept[split:]), trimmed + split, summarised=False)


async def _cost(counter: TokenCounter, message: Message, base: int) -> int:
    return await counter.count_messages_async((message,)) - base


def _split(costs: Sequence[int], room: int) -> int:
    """Where the most recent messages that fit in `room` start; the last one always stays."""
    start = len(costs) - 1
    total = costs[start]
    while start > 0 and total + costs[start - 1] <= room:
        start -= 1
        total += costs[start]
    return start


async def _summary(older: Sequence[Message], summarise: Summariser) -> str | None:
    try:
        summary = (await summarise(older)).strip()
    except Exception as error:  # noqa: BLE001 - whatever went wrong, truncation still answers
        # The error's type only: its message may quote the conversation.
        _logger.warning(
            "history summary failed; older turns dropped",
            older_messages=len(older),
            error=type(error).__name__,
        )
        return None
    if not summary:
        _logger.warning("history summary was empty; older turns dropped", older_messages=len(older))
        return None
    return summary
