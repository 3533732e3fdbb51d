"""Which model tier a request goes to: a small policy, in one place, with its reason.

| budget degraded | hint  | short: < economy_below_tokens, <= 2 messages | tier     | reason  |
|-----------------|-------|----------------------------------------------|----------|---------|
| yes             | any   | any                                          | economy  | budget  |
| no              | given | any                                          | the hint | hint    |
| no              | none  | yes                                          | economy  | simple  |
| no              | none  | no                                           | standard | complex |

The budget comes first: once the cost cap says the budget is nearly spent, no
caller can spend it faster by asking for the standard model.
"""

from dataclasses import dataclass
from typing import Final, Literal

from .messages import Tier
from .settings import RoutingSettings

RouteReason = Literal["budget", "hint", "simple", "complex"]

# A question with at most a system prompt beside it: no conversation to follow.
SIMPLE_MAX_MESSAGES: Final = 2


@dataclass(frozen=True, slots=True)
class RouteDecision:
    tier: Tier
    # For the request's log line: why this tier.
    reason: RouteReason


def choose_tier(
    *,
    hint: Tier | None,
    input_tokens: int,
    message_count: int,
    degraded: bool,
    settings: RoutingSettings,
) -> RouteDecision:
    """The tier of a request, by the table of this module's docstring."""
    if degraded:
        return RouteDecision(Tier.ECONOMY, "budget")
    if hint is not None:
        return RouteDecision(hint, "hint")
    if input_tokens < settings.economy_below_tokens and message_count <= SIMPLE_MAX_MESSAGES:
        return RouteDecision(Tier.ECONOMY, "simple")
    return RouteDecision(Tier.STANDARD, "complex")
